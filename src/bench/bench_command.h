// `hf3fs bench ...`: built-in benchmarks.
#pragma once

#include <CLI/CLI.hpp>

#include "common/cli.h"

namespace hf3fs::bench {
void AddBenchCommands(CLI::App& app, CliContext& ctx);
}  // namespace hf3fs::bench
