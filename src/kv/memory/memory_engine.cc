#include "kv/memory/memory_engine.h"

#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "kv/kv_metrics.h"
#include "kv/occ/conflict_log.h"
#include "kv/occ/occ_transaction.h"

namespace hf3fs::kv {
namespace {

struct Version {
  uint64_t version;
  std::optional<std::string> value;  // nullopt: deleted at this version
};
using VersionList = std::vector<Version>;  // ascending versions
using Store = std::map<std::string, VersionList, std::less<>>;

// The value of `versions` as of `read_version`, or nullptr when absent.
const std::string* ValueAt(const VersionList& versions, uint64_t read_version) {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->version <= read_version) return it->value ? &*it->value : nullptr;
  }
  return nullptr;
}

// Walks the keys of `store` visible at `read_version` in [begin, end), holding the store's shared
// lock for its lifetime (a cursor lives within one GetRange call).
class MemoryCursor final : public occ::SnapshotCursor {
 public:
  MemoryCursor(std::shared_mutex& mu, const Store& store, uint64_t read_version,
               std::string_view begin, std::string_view end, bool reverse)
      : lock_(mu),
        store_(store),
        read_version_(read_version),
        begin_(begin),
        end_(end),
        reverse_(reverse) {
    if (!reverse_) {
      it_ = store_.lower_bound(begin_);
    } else {
      StepBackFrom(store_.lower_bound(end_));
    }
    Settle();
  }

  bool Valid() const override { return valid_; }
  std::string_view key() const override { return it_->first; }
  std::string_view value() const override { return *value_; }
  Status status() const override { return Status::Ok(); }

  void Next() override {
    if (!reverse_) {
      ++it_;
    } else {
      StepBackFrom(it_);
    }
    Settle();
  }

  void SkipTo(std::string_view bound) override {
    if (!valid_) return;
    if (!reverse_) {
      if (it_->first >= bound) return;
      it_ = store_.lower_bound(bound);
    } else {
      if (it_->first < bound) return;
      StepBackFrom(store_.lower_bound(bound));
    }
    Settle();
  }

 private:
  // Positions on the element before `pos`, if it is still >= begin.
  void StepBackFrom(Store::const_iterator pos) {
    if (pos == store_.begin()) {
      it_ = store_.end();
      return;
    }
    it_ = std::prev(pos);
    if (it_->first < begin_) it_ = store_.end();
  }

  // Moves in the iteration direction to the first key with a value at the read version.
  void Settle() {
    valid_ = false;
    while (it_ != store_.end()) {
      if (!reverse_ && it_->first >= end_) return;
      value_ = ValueAt(it_->second, read_version_);
      if (value_ != nullptr) {
        valid_ = true;
        return;
      }
      if (!reverse_) {
        ++it_;
      } else {
        StepBackFrom(it_);
      }
    }
  }

  std::shared_lock<std::shared_mutex> lock_;
  const Store& store_;
  const uint64_t read_version_;
  const std::string_view begin_;
  const std::string_view end_;
  const bool reverse_;
  Store::const_iterator it_;
  const std::string* value_ = nullptr;
  bool valid_ = false;
};

class MemoryEngine final : public Engine, public occ::OccBackend {
 public:
  explicit MemoryEngine(const MemoryEngineOptions& options)
      : log_(options.conflict_log_max_bytes), metrics_(&KvMetrics::For("memory")) {}
  ~MemoryEngine() override {
    HF3FS_CHECK_MSG(log_.readers() == 0, "memory engine destroyed with open transactions");
  }

  Result<std::unique_ptr<Transaction>> Begin(TxnOptions options) override {
    uint64_t read_version;
    {
      std::lock_guard lock(commit_mu_);
      read_version = log_.BeginRead();
    }
    return std::unique_ptr<Transaction>(std::make_unique<occ::OccTransaction>(
        options, read_version, std::make_unique<Snapshot>(this, read_version), this, metrics_));
  }

  std::string_view backend() const override { return "memory"; }
  Status Sync() override { return Status::Ok(); }  // nothing outlives the engine anyway

  Status CommitWrites(uint64_t read_version, const occ::KeyRangeSet& reads,
                      const occ::WriteBuffer& writes) override {
    occ::KeyRangeSet write_set = writes.WriteSet();
    std::lock_guard lock(commit_mu_);
    uint64_t conflict_version = 0;
    HF3FS_TRY(log_.Validate(read_version, reads, &conflict_version));
    uint64_t version = log_.Append(std::move(write_set));
    {
      std::unique_lock data_lock(data_mu_);
      Apply(version, writes, log_.OldestReadVersion());
    }
    log_.Publish(version);
    return Status::Ok();
  }

  void EndTransaction(uint64_t read_version) override {
    std::lock_guard lock(commit_mu_);
    log_.EndRead(read_version);
  }

 private:
  class Snapshot final : public occ::SnapshotReader {
   public:
    Snapshot(MemoryEngine* engine, uint64_t read_version)
        : engine_(engine), read_version_(read_version) {}

    Result<std::optional<std::string>> Get(std::string_view key) override {
      std::shared_lock lock(engine_->data_mu_);
      auto it = engine_->data_.find(key);
      if (it == engine_->data_.end()) return std::optional<std::string>();
      const std::string* v = ValueAt(it->second, read_version_);
      return v ? std::optional<std::string>(*v) : std::optional<std::string>();
    }

    std::unique_ptr<occ::SnapshotCursor> Scan(std::string_view begin, std::string_view end,
                                              bool reverse) override {
      return std::make_unique<MemoryCursor>(engine_->data_mu_, engine_->data_, read_version_, begin,
                                            end, reverse);
    }

   private:
    MemoryEngine* engine_;
    uint64_t read_version_;
  };

  // Applies `writes` as `version`; `floor` is the oldest version any reader may still read.
  void Apply(uint64_t version, const occ::WriteBuffer& writes, uint64_t floor) {
    for (const auto& [begin, end] : writes.cleared()) {
      for (auto it = data_.lower_bound(begin); it != data_.end() && it->first < end; ++it) {
        if (it->second.back().value)
          AddVersion(it->first, it->second, version, std::nullopt, floor);
      }
    }
    for (const auto& [key, value] : writes.points()) {
      auto it = data_.find(key);
      if (it == data_.end()) {
        if (!value) continue;
        it = data_.emplace(key, VersionList{}).first;
      }
      AddVersion(it->first, it->second, version, value, floor);
    }
    DropDeletedKeys(floor);
  }

  void AddVersion(const std::string& key, VersionList& versions, uint64_t version,
                  const std::optional<std::string>& value, uint64_t floor) {
    // Versions older than the newest one at or below the floor are unreachable.
    size_t keep_from = 0;
    for (size_t i = versions.size(); i-- > 0;) {
      if (versions[i].version <= floor) {
        keep_from = i;
        break;
      }
    }
    versions.erase(versions.begin(), versions.begin() + static_cast<ptrdiff_t>(keep_from));
    versions.push_back(Version{version, value});
    if (!value) deleted_.emplace_back(version, key);
  }

  // Erases keys whose only remaining version is a deletion no reader can see past.
  void DropDeletedKeys(uint64_t floor) {
    while (!deleted_.empty() && deleted_.front().first <= floor) {
      auto it = data_.find(deleted_.front().second);
      if (it != data_.end() && !it->second.back().value && it->second.back().version <= floor) {
        data_.erase(it);
      }
      deleted_.pop_front();
    }
  }

  std::mutex commit_mu_;  // guards log_ and serializes commits
  occ::ConflictLog log_;
  std::shared_mutex data_mu_;  // guards data_ and deleted_: shared for reads, unique to apply
  Store data_;
  std::deque<std::pair<uint64_t, std::string>> deleted_;  // (version, key) of deletions
  const KvMetrics* metrics_;
};

}  // namespace

std::unique_ptr<Engine> OpenMemoryEngine(const MemoryEngineOptions& options) {
  return std::make_unique<MemoryEngine>(options);
}

}  // namespace hf3fs::kv
