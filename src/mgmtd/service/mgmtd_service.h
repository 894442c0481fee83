// The mgmtd RPC service: each method runs its op (ops/ops.h) on the offload pool, so KV
// transactions never block an io thread. Admin methods check the caller's token first.
#pragma once

#include "mgmtd/ops/ops.h"
#include "net/offload_pool.h"
#include "net/service.h"

namespace hf3fs::mgmtd {

class MgmtdService {
 public:
  // `ctx` and `pool` must outlive the registry the service is registered on.
  MgmtdService(OpContext& ctx, net::OffloadPool& pool) : ctx_(ctx), pool_(pool) {}
  void Register(net::ServiceRegistry& registry);

 private:
  template <typename Req, typename Rsp>
  void Add(net::ServiceRegistry& r, uint32_t method, std::string name,
           Result<Rsp> (*op)(OpContext&, const Req&), bool admin,
           net::Access access = net::kAnyRole);

  OpContext& ctx_;
  net::OffloadPool& pool_;
};

}  // namespace hf3fs::mgmtd
