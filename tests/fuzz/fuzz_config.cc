// libFuzzer target for the config decoder: arbitrary TOML text into a config tree, then
// rendered and loaded back (a rendered config must always load).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/config.h"
#include "common/log_config.h"

namespace {

using namespace std::chrono_literals;

struct Inner : hf3fs::config::Section {
  using Section::Section;
  hf3fs::config::Item<uint64_t> bytes{this, "bytes", 4096, "a size", {.min = 1, .size = true}};
  hf3fs::config::Item<hf3fs::Duration> wait{this, "wait", 1s, "a duration"};
  hf3fs::config::Item<std::vector<std::string>> list{this, "list", {}, "strings"};
  hf3fs::config::Item<double> ratio{this, "ratio", 0.5, "ratio", {.min = 0.0, .max = 1.0}};
};

struct FuzzConfig : hf3fs::config::Section {
  hf3fs::LogConfig log{this, "log"};
  Inner inner{this, "inner"};
  hf3fs::config::Item<int32_t> count{this, "count", 1, "a count", {.hot = true}};
  hf3fs::config::Item<bool> flag{this, "flag", false, "a flag"};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  FuzzConfig cfg;
  if (cfg.LoadString(text).ok()) {
    auto rendered = cfg.Render(true);
    FuzzConfig again;
    if (!again.LoadString(rendered).ok()) std::abort();  // rendering must round-trip
    if (again.Render(false) != cfg.Render(false)) std::abort();
  }
  (void)cfg.HotUpdate(text);
  return 0;
}
