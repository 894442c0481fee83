#include "common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/check.h"

namespace hf3fs::metrics {
namespace {

bool ValidName(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return !n.starts_with("__");
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// `{a="1",b="2"}` with an optional extra label (histogram "le").
std::string FormatLabels(const Labels& labels, std::string_view extra_name = {},
                         std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + EscapeLabelValue(v) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  return out + "}";
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

std::vector<double> Exponential(double start, double factor, int n) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < n; ++i, v *= factor) out.push_back(v);
  return out;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  HF3FS_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The count is the +Inf bucket so the exposition stays self-consistent under concurrent writes.
  s.count = acc;
  return s;
}

const std::vector<double>& LatencyBucketsSeconds() {
  static const auto b = Exponential(10e-6, 2.0, 21);  // 10us .. ~10.5s
  return b;
}

const std::vector<double>& SizeBucketsBytes() {
  static const auto b = Exponential(512, 4.0, 10);  // 512B .. 128MiB
  return b;
}

CallbackHandle& CallbackHandle::operator=(CallbackHandle&& o) noexcept {
  if (this != &o) {
    Reset();
    registry_ = std::exchange(o.registry_, nullptr);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void CallbackHandle::Reset() {
  if (registry_) registry_->RemoveCallback(id_);
  registry_ = nullptr;
  id_ = 0;
}

Registry& Registry::Global() {
  static auto* r = new Registry();  // never destroyed: metrics may be touched during exit
  return *r;
}

Registry::Family& Registry::GetFamily(std::string_view name, std::string_view help, Type type,
                                      const Labels& labels) {
  HF3FS_CHECK_MSG(ValidName(name, true), "invalid metric name '{}'", name);
  for (const auto& [k, v] : labels) {
    HF3FS_CHECK_MSG(ValidName(k, false) && k != "le", "invalid label name '{}' on {}", k, name);
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help), type, {}, {}, {}, {}})
             .first;
  }
  HF3FS_CHECK_MSG(it->second.type == type, "metric {} registered with two types", name);
  return it->second;
}

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = GetFamily(name, help, Type::kCounter, labels);
  auto& p = f.counters[labels];
  if (!p) p = std::make_unique<Counter>();
  return p.get();
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = GetFamily(name, help, Type::kGauge, labels);
  auto& p = f.gauges[labels];
  if (!p) p = std::make_unique<Gauge>();
  return p.get();
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const Labels& labels, const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto& f = GetFamily(name, help, Type::kHistogram, labels);
  auto& p = f.histograms[labels];
  if (!p) p = std::make_unique<Histogram>(bounds);
  return p.get();
}

CallbackHandle Registry::AddCallback(std::string_view name, std::string_view help, Type type,
                                     const Labels& labels, std::function<double()> fn) {
  HF3FS_CHECK(type != Type::kHistogram);
  std::lock_guard lock(mu_);
  auto& f = GetFamily(name, help, type, labels);
  uint64_t id = next_callback_id_++;
  f.callbacks.emplace(id, std::make_pair(labels, std::move(fn)));
  callback_names_.emplace(id, std::string(name));
  return CallbackHandle(this, id);
}

void Registry::RemoveCallback(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = callback_names_.find(id);
  if (it == callback_names_.end()) return;
  auto fit = families_.find(it->second);
  if (fit != families_.end()) fit->second.callbacks.erase(id);
  callback_names_.erase(it);
}

std::string Registry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& [name, f] : families_) {
    if (f.counters.empty() && f.gauges.empty() && f.histograms.empty() && f.callbacks.empty()) {
      continue;
    }
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + TypeName(f.type) + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + FormatLabels(labels) + " " + std::to_string(c->Value()) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += name + FormatLabels(labels) + " " + FormatValue(g->Value()) + "\n";
    }
    // Callbacks may share a label set with each other (e.g. two servers in one test process);
    // Prometheus forbids duplicate series, so equal label sets are summed.
    std::map<Labels, double> cb_values;
    for (const auto& [id, cb] : f.callbacks) cb_values[cb.first] += cb.second();
    for (const auto& [labels, v] : cb_values) {
      out += name + FormatLabels(labels) + " " + FormatValue(v) + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      auto s = h->Take();
      for (size_t i = 0; i < s.bounds.size(); ++i) {
        out += name + "_bucket" + FormatLabels(labels, "le", FormatValue(s.bounds[i])) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      }
      out += name + "_bucket" + FormatLabels(labels, "le", "+Inf") + " " +
             std::to_string(s.cumulative.back()) + "\n";
      out += name + "_sum" + FormatLabels(labels) + " " + FormatValue(s.sum) + "\n";
      out += name + "_count" + FormatLabels(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

ScopedLatency::ScopedLatency(Histogram* h) : h_(h), start_ns_(NowNs()) {}
ScopedLatency::~ScopedLatency() {
  if (h_) h_->Observe(static_cast<double>(NowNs() - start_ns_) / 1e9);
}

}  // namespace hf3fs::metrics
