// Process-wide logging on spdlog: one line per event, key=value fields.
//
// Line shape: `ts=2026-11-25T13:20:01.123456Z level=info tid=4242 src=conn.cc:88 <event> k=v ...`.
// Messages start with a short event name and continue with key=value pairs, e.g.
//   HF3FS_LOG_WARN("rpc.frame_rejected peer={} reason={}", peer, status);
// The level can change at run time (SetLevel; the `log.level` config item is hot-updatable and
// the Core service has set-log-level). Output goes to stderr, or to a size-rotated file.
// All functions are thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hf3fs::logging {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr
  uint64_t max_file_bytes = 64ull << 20;
  uint32_t max_files = 8;      // rotated files kept besides the current one
  bool also_stderr = false;    // with a file: also copy warnings and above to stderr
};

// (Re)configures the sinks. Safe to call while other threads log. kInvalidArgument for an unknown
// level; kIoError when the log file cannot be opened.
Status Init(const LogOptions& options);

// Changes the level at run time; kInvalidArgument for an unknown level name.
Status SetLevel(std::string_view level);
std::string GetLevel();

// The process logger (never null; logs to stderr at "info" until Init is called).
spdlog::logger* Logger();

// Flushes buffered file output (called on shutdown and from fatal paths).
void Flush();

}  // namespace hf3fs::logging

#define HF3FS_LOG_AT(lvl, ...) SPDLOG_LOGGER_CALL(::hf3fs::logging::Logger(), lvl, __VA_ARGS__)
#define HF3FS_LOG_TRACE(...) HF3FS_LOG_AT(spdlog::level::trace, __VA_ARGS__)
#define HF3FS_LOG_DEBUG(...) HF3FS_LOG_AT(spdlog::level::debug, __VA_ARGS__)
#define HF3FS_LOG_INFO(...) HF3FS_LOG_AT(spdlog::level::info, __VA_ARGS__)
#define HF3FS_LOG_WARN(...) HF3FS_LOG_AT(spdlog::level::warn, __VA_ARGS__)
#define HF3FS_LOG_ERROR(...) HF3FS_LOG_AT(spdlog::level::err, __VA_ARGS__)
