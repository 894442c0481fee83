// Shared state of the `hf3fs` command line. Each component adds its subcommands with a function
// `void AddXxxCommands(CLI::App& parent, CliContext& ctx)` (one command per file); apps/ only
// dispatches. A command's callback stores its exit status in ctx.exit_code.
#pragma once

#include <string>
#include <vector>

namespace hf3fs {

struct CliContext {
  // "section.key=value" from every --config.section.key=value argument, in order.
  std::vector<std::string> config_overrides;
  int exit_code = 0;
};

// Exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (message on stderr)
inline constexpr int kExitUsage = 2;    // bad arguments or config

}  // namespace hf3fs
