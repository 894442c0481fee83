// `hf3fs mount`: the FUSE client daemon.
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace hf3fs::fuse {

void AddMountCommand(CLI::App& app, CliContext& ctx);
// `hf3fs sync PATH...`: syncfs(2) for hf3fs mounts (HF3FS_IOC_SYNCFS; Linux does not pass
// syncfs to FUSE servers), with --json.
void AddSyncCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::fuse
