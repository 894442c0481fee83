// The meta RPC service: each method runs its op (ops/ops.h) on the offload pool, so KV
// transactions never block an io thread.
//
// With storage access (SetStorage; docs/design/0005-meta.md, "Storage access") a few methods do
// storage work on the io thread (coroutines of the storage client) around their op:
//   - setattr with a length, create/open with O_TRUNC: PlanTruncate, then the chunks past the new
//     length are cut on storage, then the op commits the new length (a refused request, e.g.
//     EACCES, never reaches storage);
//   - close/sync with query_length: the length storage holds replaces the client's hint (it
//     raises the length only, and only under the truncate version read before the query);
//   - statfs: capacity from routing info.
// Without storage access these behave as the plain ops (statfs answers zeros). When storage
// access is expected (ExpectStorage) but not attached yet, the storage-dependent requests fail
// with kUnavailable (retryable) instead of skipping storage.
#pragma once

#include <atomic>

#include "meta/ops/ops.h"
#include "meta/storage_ops.h"
#include "net/offload_pool.h"
#include "net/service.h"

namespace hf3fs::meta {

class MetaService {
 public:
  // `ctx` and `pool` must outlive the registry the service is registered on.
  MetaService(OpContext& ctx, net::OffloadPool& pool) : ctx_(ctx), pool_(pool), inline_ctx_(ctx) {
    inline_ctx_.retry.max_attempts = 1;
  }
  void Register(net::ServiceRegistry& registry);

  // Runs short operations on the io thread that received them, one attempt, before falling back
  // to the offload pool (with retries) when that attempt fails retryably. Only for stores whose
  // calls take microseconds: the embedded ones in window durability, where a commit is a WAL
  // write(2) and no flush. Saves two thread hand-offs per request (docs/design/0009).
  void SetInline(bool on) { inline_ = on; }

  // Requests that need storage fail with kUnavailable until SetStorage is called.
  void ExpectStorage() { expect_storage_ = true; }
  // Attaches storage access; `storage` must outlive the registry.
  void SetStorage(StorageOps* storage) { storage_.store(storage); }

 private:
  template <typename Req, typename Rsp>
  void Add(net::ServiceRegistry& r, uint32_t method, std::string name,
           Result<Rsp> (*op)(OpContext&, const Req&), bool may_inline = true,
           net::Access access = net::kAnyRole);
  // Runs `op`: inline first when allowed (see SetInline), else or then on the pool.
  template <typename Req, typename Rsp>
  net::awaitable<Result<Rsp>> RunOp(Result<Rsp> (*op)(OpContext&, const Req&), const Req& req,
                                    bool may_inline);
  template <typename Req, typename Rsp, typename Prepare>
  void AddWithStorage(net::ServiceRegistry& r, uint32_t method, std::string name,
                      Result<Rsp> (*op)(OpContext&, const Req&), Prepare prepare);

  // Cuts the chunks `path` would lose when truncated to `new_length` (see PlanTruncate).
  net::awaitable<Status> CutChunks(StorageOps& storage, const UserInfo& user, const PathAt& path,
                                   bool follow, uint64_t new_length);
  // Replaces the length hint of a close/sync with query_length by the length storage holds.
  net::awaitable<Status> QueryLength(StorageOps& storage, CloseReq& req);
  // The storage access to use: null without it; kUnavailable while expected but not attached.
  Result<StorageOps*> Storage() const;

  OpContext& ctx_;
  net::OffloadPool& pool_;
  OpContext inline_ctx_;  // ctx_ with a single attempt per transaction
  bool inline_ = false;
  bool expect_storage_ = false;
  std::atomic<StorageOps*> storage_{nullptr};
};

}  // namespace hf3fs::meta
