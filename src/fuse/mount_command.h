// `hf3fs mount`: the FUSE client daemon.
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace hf3fs::fuse {

void AddMountCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::fuse
