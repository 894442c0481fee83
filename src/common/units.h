// Byte sizes and durations as people write them in config files and on the command line.
//
// Sizes: a number with an optional binary or decimal suffix: "4096", "64KiB", "1MiB", "2GiB",
// "1TiB", "10KB" (=10,000), "1M" / "1m" (=1 MiB, the shorthand fio uses), "1G".
// Durations: a number with a unit: "250us", "10ms", "5s", "2m", "1h", "1.5s"; "0" alone is zero.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hf3fs {

using Duration = std::chrono::nanoseconds;

Result<uint64_t> ParseSize(std::string_view text);
// Largest exact binary unit: 1048576 -> "1MiB", 1000 -> "1000".
std::string FormatSize(uint64_t bytes);

Result<Duration> ParseDuration(std::string_view text);
// Largest exact unit: 1500ms -> "1500ms", 2s -> "2s".
std::string FormatDuration(Duration d);

}  // namespace hf3fs
