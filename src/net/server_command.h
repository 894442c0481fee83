// The command-line shape every server role shares:
//
//   hf3fs <role> [-c FILE] [--dump-default-config] [--config.<section>.<key>=<value> ...]
//
// A role supplies its config type (derived from ServerConfigBase) and a setup function that
// registers its services on the runtime and returns the role object (kept alive, and stopped,
// around the runtime). The process then serves until SIGTERM/SIGINT or the Core shutdown call.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

#include "common/cli.h"
#include "common/log_config.h"
#include "net/rpc_config.h"
#include "net/server_runtime.h"

namespace hf3fs::net {

// Root config of a server process: [log], [rpc], [server] plus the role's own sections.
struct ServerConfigBase : config::Section {
  ServerConfigBase(std::string doc, std::string default_listen, std::string default_http_listen)
      : Section(std::move(doc)),
        server(this, "server", std::move(default_listen), std::move(default_http_listen)) {}
  LogConfig log{this, "log", "logging"};
  RpcConfig rpc{this, "rpc", "RPC transport"};
  ServerSection server;
};

// What a role keeps running besides its RPC services. Start() runs after the RPC and HTTP
// servers listen; Stop() runs after a stop is requested, before the RPC server drains.
class ServerRole {
 public:
  virtual ~ServerRole() = default;
  virtual Status Start() { return Status::Ok(); }
  virtual void Stop() {}
};

struct ServerCommand {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<ServerConfigBase>()> make_config;
  std::function<Result<std::unique_ptr<ServerRole>>(ServerRuntime&, ServerConfigBase&)> setup;
  // The role its key file must prove (a mount is a client that also serves the core service).
  Role identity = Role::kServer;
};

// Adds the subcommand to `parent`.
void AddServerCommand(CLI::App& parent, CliContext& ctx, ServerCommand command);

// The body of a server command, callable from tests: loads `config_file` (may be empty), applies
// `overrides`, runs until a stop is requested. Returns an exit code; errors go to stderr.
int RunServer(const ServerCommand& command, const std::string& config_file,
              const std::vector<std::string>& overrides);

}  // namespace hf3fs::net
