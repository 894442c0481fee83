// Metrics: counters, gauges and histograms with labels, rendered in Prometheus text format.
//
// Metrics live in a Registry (normally Registry::Global()). A metric is a family (name, help,
// type) with one child per label set; Get* returns a pointer to the child that stays valid for
// the life of the registry, so hot paths look a metric up once and keep the pointer:
//
//   static auto* calls = metrics::Registry::Global().GetCounter(
//       "hf3fs_rpc_server_requests_total", "RPC requests handled", {{"service", "core"}});
//   calls->Inc();
//
// Updates are lock-free atomics; lookups and rendering take a registry mutex. Names follow the
// Prometheus conventions that `promtool check metrics` enforces: hf3fs_<component>_<what>_<unit>,
// counters end in _total, durations are in seconds, sizes in bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hf3fs::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Inc(double d = 1) { v_.fetch_add(d, std::memory_order_relaxed); }
  void Dec(double d = 1) { v_.fetch_sub(d, std::memory_order_relaxed); }
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram over fixed upper bounds (plus +Inf).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Exponential latency buckets in seconds: 10 us .. ~10 s.
const std::vector<double>& LatencyBucketsSeconds();
// Exponential size buckets in bytes: 512 B .. 64 MiB.
const std::vector<double>& SizeBucketsBytes();

enum class Type { kCounter, kGauge, kHistogram };

class Registry;

// Removes a callback metric when destroyed.
class CallbackHandle {
 public:
  CallbackHandle() = default;
  CallbackHandle(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  CallbackHandle(CallbackHandle&& o) noexcept { *this = std::move(o); }
  CallbackHandle& operator=(CallbackHandle&& o) noexcept;
  ~CallbackHandle() { Reset(); }
  void Reset();

 private:
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  static Registry& Global();

  // Same (name, labels) returns the same child. A name used with two types, or an invalid name or
  // label name, is a bug (HF3FS_CHECK).
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help, const Labels& labels = {},
                          const std::vector<double>& bounds = LatencyBucketsSeconds());

  // A gauge or counter whose value is computed at scrape time (e.g. open connections). The
  // callback runs under the registry mutex, from the scraping thread; it must not call back into
  // the registry.
  [[nodiscard]] CallbackHandle AddCallback(std::string_view name, std::string_view help, Type type,
                                           const Labels& labels, std::function<double()> fn);

  // Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

 private:
  friend class CallbackHandle;
  struct Family {
    std::string help;
    Type type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::map<uint64_t, std::pair<Labels, std::function<double()>>> callbacks;
  };
  Family& GetFamily(std::string_view name, std::string_view help, Type type, const Labels& labels);
  void RemoveCallback(uint64_t id);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<uint64_t, std::string> callback_names_;
  uint64_t next_callback_id_ = 1;
};

// Observes the seconds between construction and destruction into a histogram.
class ScopedLatency {
 public:
  explicit ScopedLatency(Histogram* h);
  ~ScopedLatency();

 private:
  Histogram* h_;
  int64_t start_ns_;
};

}  // namespace hf3fs::metrics
