// The Core service every hf3fs server runs (proto/core.proto): echo, get-config,
// hot-update-config, set-log-level, shutdown and get-info.
#pragma once

#include <functional>
#include <string>

#include "common/config.h"
#include "net/service.h"
#include "core.pb.h"

namespace hf3fs::net {

struct ServerInfo {
  std::string role;
  std::string version;
  uint64_t start_time_unix_ms = 0;
  std::string rpc_address;
  std::string http_address;
};

class CoreService {
 public:
  // `config_root` is the process's whole config (rendered by get-config, changed by
  // hot-update-config). `request_shutdown` is called (once per request) by the shutdown method;
  // it must only signal, since the server must still send the response.
  CoreService(config::Section* config_root, std::function<void(std::string)> request_shutdown,
              std::function<ServerInfo()> info);

  // Adds the methods to `registry`; the CoreService must outlive it.
  void Register(ServiceRegistry& registry);

 private:
  config::Section* config_root_;
  std::function<void(std::string)> request_shutdown_;
  std::function<ServerInfo()> info_;
};

}  // namespace hf3fs::net
