// The [log] config section every hf3fs process carries, and its wiring to logging::Init.
#pragma once

#include "common/config.h"
#include "common/logging.h"

namespace hf3fs {

struct LogConfig : config::Section {
  using Section::Section;
  config::Item<std::string> level{
      this, "level", "info", "minimum level written",
      {.hot = true, .one_of = {"trace", "debug", "info", "warn", "error", "critical", "off"}}};
  config::Item<std::string> file{this, "file", "", "log file path; empty writes to stderr"};
  config::Item<uint64_t> max_file_bytes{this, "max_file_bytes", 64ull << 20,
                                        "size at which the log file rotates",
                                        {.min = 1ull << 16, .size = true}};
  config::Item<uint32_t> max_files{this, "max_files", 8, "rotated log files kept",
                                   {.min = 1, .max = 1000}};
  config::Item<bool> also_stderr{this, "also_stderr", true,
                                 "with a log file, also copy warnings and errors to stderr"};

  // Applies the section to the process logger and keeps `level` hot-updatable.
  Status Apply() {
    logging::LogOptions o;
    o.level = level.Get();
    o.file = file.Get();
    o.max_file_bytes = max_file_bytes.Get();
    o.max_files = max_files.Get();
    o.also_stderr = also_stderr.Get();
    HF3FS_TRY(logging::Init(o));
    if (!hooked_) {
      hooked_ = true;
      level.OnChange([](const std::string& l) {
        auto st = logging::SetLevel(l);
        if (st.ok()) HF3FS_LOG_INFO("log.level_changed level={}", l);
      });
    }
    return Status::Ok();
  }

 private:
  bool hooked_ = false;
};

}  // namespace hf3fs
