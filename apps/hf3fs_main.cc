// hf3fs: one binary, one subcommand per role or tool. This file only dispatches.
#include <CLI/CLI.hpp>
#include <iostream>

#include "admin/admin_command.h"
#include "bench/bench_command.h"
#include "common/cli.h"
#include "common/config.h"
#include "common/version.h"
#include "fuse/mount_command.h"
#include "local/local_command.h"
#include "meta/meta_server.h"
#include "mgmtd/mgmtd_server.h"
#include "storage/storage_server.h"

int main(int argc, char** argv) {
  // --config.section.key=value arguments are config overrides for whichever command runs.
  auto split = hf3fs::config::SplitConfigOverrides(argc, argv);
  hf3fs::CliContext ctx;
  ctx.config_overrides = split.overrides;

  CLI::App app{"hf3fs: a distributed file system for AI workloads", "hf3fs"};
  app.set_version_flag("--version", std::string("hf3fs ") + hf3fs::kVersion);
  app.require_subcommand(1);
  app.footer(
      "Run `hf3fs <command> --help` for a command's options. Server commands also take "
      "--config.<section>.<key>=<value> overrides.");
  hf3fs::mgmtd::AddMgmtdCommand(app, ctx);
  hf3fs::meta::AddMetaCommand(app, ctx);
  hf3fs::storage::AddStorageCommand(app, ctx);
  hf3fs::fuse::AddMountCommand(app, ctx);
  hf3fs::fuse::AddSyncCommand(app, ctx);
  hf3fs::admin::AddAdminCommands(app, ctx);
  hf3fs::bench::AddBenchCommands(app, ctx);
  hf3fs::local::AddLocalCommands(app, ctx);

  std::vector<std::string> args(split.rest.rbegin(), split.rest.rend() - 1);
  try {
    app.parse(std::move(args));
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return ctx.exit_code;
}
