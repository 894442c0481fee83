#include "common/logging.h"

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace hf3fs::logging {
namespace {

constexpr const char* kPattern = "ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l tid=%t src=%s:%# %v";

struct State {
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist;
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  // Created once and never destroyed, so logging from static destructors stays safe.
  static State* state = [] {
    auto* s = new State();
    s->dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    err->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        kPattern, spdlog::pattern_time_type::utc));
    s->dist->add_sink(err);
    s->logger = std::make_shared<spdlog::logger>("hf3fs", s->dist);
    s->logger->set_level(spdlog::level::info);
    s->logger->flush_on(spdlog::level::warn);
    return s;
  }();
  return *state;
}

Result<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  auto lvl = spdlog::level::from_str(std::string(name));
  // from_str maps unknown names to "off"; only accept "off" when asked for by name.
  if (lvl == spdlog::level::off && name != "off") {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "unknown log level '{}': use trace, debug, info, warn, error, critical or off",
                      name);
  }
  return lvl;
}

}  // namespace

Status Init(const LogOptions& options) {
  HF3FS_TRY_ASSIGN(auto level, ParseLevel(options.level));
  std::vector<spdlog::sink_ptr> sinks;
  if (options.file.empty()) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file, options.max_file_bytes, options.max_files));
    } catch (const spdlog::spdlog_ex& e) {
      return MakeStatus(StatusCode::kIoError, "cannot open log file '{}': {}", options.file,
                        e.what());
    }
    if (options.also_stderr) {
      auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      err->set_level(spdlog::level::warn);
      sinks.push_back(err);
    }
  }
  for (auto& s : sinks) {
    s->set_formatter(
        std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));
  }
  auto& st = GetState();
  st.dist->set_sinks(std::move(sinks));
  st.logger->set_level(level);
  return Status::Ok();
}

Status SetLevel(std::string_view level) {
  HF3FS_TRY_ASSIGN(auto lvl, ParseLevel(level));
  GetState().logger->set_level(lvl);
  return Status::Ok();
}

std::string GetLevel() {
  auto sv = spdlog::level::to_string_view(GetState().logger->level());
  return std::string(sv.data(), sv.size());
}

spdlog::logger* Logger() { return GetState().logger.get(); }

void Flush() { GetState().logger->flush(); }

}  // namespace hf3fs::logging
