// ResyncWorker: the predecessor side of recovering a SYNCING replica (ARCHITECTURE.md 3.4,
// design 0006 "Resync").
//
// Every resync_interval it looks for local targets that are SERVING with a SYNCING successor and
// starts one resync per such successor (at most max_concurrent_resyncs at a time):
//   1. walk the successor's chunk metadata and the local target's together, ordered by chunk id;
//   2. for each chunk whose committed version, length or checksum differ (or that is missing on
//      the successor), under the local chunk lock: send the whole committed chunk as a committed
//      replace; for each chunk only the successor has: purge it;
//   3. send sync-done under the chain version the walk started with.
// A change of chain version, or any failed call, abandons the resync; the next round starts over.
// Client writes go on meanwhile (they take the same chunk locks and reach the successor as
// whole-chunk replaces).
//
// Start()/Stop() from one control thread; resyncs run as coroutines on `ctx`. Stop() waits for
// them.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <set>

#include "common/metrics.h"
#include "storage/service/storage_service.h"

namespace hf3fs::storage {

class ResyncWorker {
 public:
  ResyncWorker(StorageSection& config, TargetMap& targets, StorageService& service,
               net::RpcClient& rpc, boost::asio::io_context& ctx);
  ~ResyncWorker();

  void Start();
  void Stop();

  // Resyncs completed with sync-done (tests, metrics).
  uint64_t completed() const { return completed_->Value(); }

 private:
  awaitable<void> Loop();
  void MaybeStart(const LocalTarget& t);
  awaitable<Status> Resync(LocalTarget t, TargetId successor);
  // Makes the successor's copy of one chunk equal to the local committed one.
  awaitable<Status> SyncChunk(const LocalTarget& t, TargetId successor, const net::Address& addr,
                              const std::string& chunk_id, uint64_t* copied, uint64_t* purged);

  StorageSection& config_;
  TargetMap& targets_;
  StorageService& service_;
  net::RpcClient& rpc_;
  boost::asio::io_context& ctx_;
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::set<uint64_t> running_;  // successors being resynced
  std::atomic<int> active_{0};  // coroutines alive (the loop and each resync)
  std::atomic<bool> stopping_{false};
  metrics::Counter* completed_;
  metrics::Counter* chunks_copied_;
  metrics::Counter* chunks_purged_;
};

}  // namespace hf3fs::storage
