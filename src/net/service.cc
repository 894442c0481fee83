#include "net/service.h"

namespace hf3fs::net {

void ServiceRegistry::Register(uint32_t service_id, uint32_t method_id, MethodEntry entry) {
  uint64_t key = uint64_t{service_id} << 32 | method_id;
  HF3FS_CHECK_MSG(!methods_.contains(key), "method {}.{} registered twice", service_id, method_id);
  entry.latency = metrics::Registry::Global().GetHistogram(
      "hf3fs_rpc_server_latency_seconds", "Time from a request's arrival to its response",
      {{"service", entry.service_name}, {"method", entry.method_name}});
  entry.ok_count = metrics::Registry::Global().GetCounter(
      "hf3fs_rpc_server_requests_total", "RPC requests handled, by outcome",
      {{"service", entry.service_name}, {"method", entry.method_name}, {"status", "Ok"}});
  services_.emplace(service_id, entry.service_name);
  methods_.emplace(key, std::move(entry));
}

Result<const MethodEntry*> ServiceRegistry::Find(uint32_t service_id, uint32_t method_id) const {
  auto it = methods_.find(uint64_t{service_id} << 32 | method_id);
  if (it != methods_.end()) return &it->second;
  if (!services_.contains(service_id)) {
    return MakeStatus(StatusCode::kRpcUnknownService, "no service with id {} on this server",
                      service_id);
  }
  return MakeStatus(StatusCode::kRpcUnknownMethod, "service {} has no method with id {}",
                    services_.at(service_id), method_id);
}

}  // namespace hf3fs::net
