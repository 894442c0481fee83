#include "net/server_command.h"

#include <iostream>

#include "common/logging.h"

namespace hf3fs::net {

int RunServer(const ServerCommand& command, const std::string& config_file,
              const std::vector<std::string>& overrides) {
  auto cfg = command.make_config();
  if (!config_file.empty()) {
    auto st = cfg->LoadFile(config_file);
    if (!st.ok()) {
      std::cerr << "hf3fs " << command.name << ": " << st.ToString()
                << "\n(see `hf3fs " << command.name << " --dump-default-config`)\n";
      return kExitUsage;
    }
  }
  if (auto st = cfg->ApplyOverrides(overrides); !st.ok()) {
    std::cerr << "hf3fs " << command.name << ": " << st.ToString() << "\n";
    return kExitUsage;
  }
  // Authentication (docs/design/0011-authentication.md): the key file is this server's identity
  // for the connections it opens and the verifiers it checks on those it accepts.
  auto keyring = LoadProcessKeyring(cfg->rpc);
  if (!keyring.ok()) {
    std::cerr << "hf3fs " << command.name << ": " << keyring.status().ToString() << "\n";
    return kExitUsage;
  }
  bool auth = cfg->rpc.auth_required.Get();
  if (auth && (!*keyring || !(*keyring)->verifies_any() || !(*keyring)->secret() ||
               (*keyring)->secret()->first != command.identity)) {
    const char* file = command.identity == Role::kServer ? "server.keyring" : "client.key";
    std::cerr << "hf3fs " << command.name << ": rpc.auth_required is on but no "
              << RoleName(command.identity) << " key file is given. Make a key set with `hf3fs "
              << "admin keygen --dir DIR` and set rpc.key_file = DIR/" << file
              << " (or $HF3FS_KEY_FILE), or set rpc.auth_required = false to run without "
                 "authentication (anyone who reaches the port then controls the cluster).\n";
    return kExitUsage;
  }
  ServerRuntime runtime(command.name, *cfg, cfg->log, cfg->rpc, cfg->server);
  auto role = command.setup(runtime, *cfg);
  if (!role.ok()) {
    std::cerr << "hf3fs " << command.name << ": " << role.status().ToString() << "\n";
    return kExitFailure;
  }
  Status st = runtime.Start();
  if (st.ok()) st = (*role)->Start();
  if (!st.ok()) {
    std::cerr << "hf3fs " << command.name << ": cannot start: " << st.ToString() << "\n";
    (*role)->Stop();
    runtime.Stop();
    return kExitFailure;
  }
  if (!auth) {
    HF3FS_LOG_WARN(
        "server.auth_off role={} detail=\"rpc.auth_required = false: connections "
        "without a key are served with every right\"",
        command.name);
  }
  auto reason = runtime.WaitForStopRequest();
  HF3FS_LOG_INFO("server.stopping role={} reason=\"{}\"", command.name, reason);
  (*role)->Stop();
  runtime.Stop();
  return kExitOk;
}

void AddServerCommand(CLI::App& parent, CliContext& ctx, ServerCommand command) {
  auto* cmd = parent.add_subcommand(command.name, command.description);
  struct Args {
    std::string config_file;
    bool dump = false;
    ServerCommand command;
  };
  auto args = std::make_shared<Args>();
  args->command = std::move(command);
  cmd->add_option("-c,--config", args->config_file, "TOML config file")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--dump-default-config", args->dump,
                "print the default configuration (documented TOML) and exit");
  cmd->footer("Any config key can be overridden: --config.<section>.<key>=<value>, e.g. "
              "--config.log.level=debug. Stops gracefully on SIGTERM or SIGINT.");
  cmd->callback([&ctx, args] {
    if (args->dump) {
      std::cout << args->command.make_config()->Render(true);
      ctx.exit_code = kExitOk;
      return;
    }
    ctx.exit_code = RunServer(args->command, args->config_file, ctx.config_overrides);
  });
}

}  // namespace hf3fs::net
