// `hf3fs local up|status|down` (local_command.cc).
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace hf3fs::local {
void AddLocalCommands(CLI::App& app, CliContext& ctx);
}  // namespace hf3fs::local
