// The `hf3fs mgmtd` role: KV engine, offload pool, RPC service, and the primary's background loop
// (lease renewal, chain updates, client-session expiry). Stop() joins the loop.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/cli.h"
#include "common/metrics.h"
#include "kv/engine.h"
#include "mgmtd/mgmtd_config.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/service/mgmtd_service.h"
#include "net/server_command.h"

namespace hf3fs::mgmtd {

class MgmtdServer : public net::ServerRole {
 public:
  // Registers the service on `runtime`; the background loop starts in Start().
  MgmtdServer(MgmtdConfig& config, net::ServerRuntime& runtime, std::unique_ptr<kv::Engine> engine);
  ~MgmtdServer() override;

  Status Start() override;
  void Stop() override;

  OpContext& context() { return ctx_; }

 private:
  void Loop();

  MgmtdConfig& config_;
  net::ServerRuntime& runtime_;
  std::unique_ptr<kv::Engine> engine_;
  MgmtdState state_;
  OpContext ctx_;
  net::OffloadPool pool_;
  MgmtdService service_;
  std::thread loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<metrics::CallbackHandle> gauges_;
};

// Adds `hf3fs mgmtd`.
void AddMgmtdCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::mgmtd
