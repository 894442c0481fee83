// Typed configuration: TOML files, defaults, units, validation, overrides, hot updates.
//
// A process's configuration is a tree of Sections holding typed Items. Items and sub-sections
// register with their parent when constructed, so a config is declared as plain members:
//
//   struct RpcConfig : config::Section {
//     using Section::Section;
//     config::Item<uint64_t> max_frame_bytes{this, "max_frame_bytes", 64 << 20,
//         "largest frame accepted", {.min = 4096, .max = 512ull << 20, .size = true}};
//     config::Item<Duration> connect_timeout{this, "connect_timeout", std::chrono::seconds(5),
//         "time allowed for a TCP connect", {.hot = true}};
//   };
//   struct ServerConfig : config::Section {
//     RpcConfig rpc{this, "rpc", "RPC transport"};
//   };
//
// Loading (LoadFile / LoadString / ApplyOverrides / HotUpdate) is all-or-nothing: every value is
// parsed and validated first, and only when all are valid are they applied. Keys that name no
// item or section are errors that carry the key's full path. HotUpdate applies only items marked
// hot; it refuses (kConfigNotHotUpdatable) a text that would change any other item.
//
// Thread safety: Item::Get() may be called from any thread at any time, also during a hot update.
// Loading functions serialize among themselves. Sections must outlive nothing that reads them and
// are neither copyable nor movable (items hold a pointer to their parent).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "common/units.h"

namespace toml {
inline namespace v3 {
class node;
class table;
}  // namespace v3
}  // namespace toml

namespace hf3fs::config {

class Section;

template <typename T>
struct ItemOptions {
  std::optional<T> min;
  std::optional<T> max;
  bool hot = false;                  // may change at run time through HotUpdate
  bool size = false;                 // uint64_t only: written as a byte size ("64MiB")
  std::vector<std::string> one_of;   // std::string only: the allowed values
};

class ItemBase {
 public:
  ItemBase(Section* parent, std::string name, std::string doc, bool hot);
  virtual ~ItemBase() = default;
  ItemBase(const ItemBase&) = delete;
  ItemBase& operator=(const ItemBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }
  bool hot() const { return hot_; }
  std::string Path() const;  // "rpc.max_frame_bytes"

  // Staging protocol used by Section; see the file comment.
  virtual Status StageToml(const toml::node& node) = 0;
  virtual Status StageString(std::string_view text) = 0;
  virtual bool StagedDiffers() const = 0;
  virtual void CommitStaged() = 0;
  virtual void DiscardStaged() = 0;

  virtual std::string CurrentLiteral() const = 0;  // the value as a TOML literal
  virtual std::string DefaultLiteral() const = 0;
  virtual std::string Constraints() const = 0;     // "min 4KiB, max 512MiB" or ""

 private:
  Section* parent_;
  std::string name_;
  std::string doc_;
  bool hot_;
};

// Value conversions per supported type; specialised in config.cc for bool, int32_t, uint32_t,
// int64_t, uint64_t, double, std::string, Duration and std::vector<std::string>.
template <typename T>
struct ValueTraits {
  static Result<T> FromToml(const toml::node& node, bool size);
  static Result<T> FromString(std::string_view text, bool size);
  static std::string ToLiteral(const T& value, bool size);
};

template <typename T>
class Item final : public ItemBase {
 public:
  Item(Section* parent, std::string name, T default_value, std::string doc,
       ItemOptions<T> options = {})
      : ItemBase(parent, std::move(name), std::move(doc), options.hot),
        default_(default_value),
        options_(std::move(options)) {
    auto st = Validate(default_value);
    HF3FS_CHECK_MSG(st.ok(), "default of {} is invalid: {}", this->name(), st.ToString());
    Store(default_value);
  }

  // Current value; thread-safe.
  T Get() const {
    if constexpr (kAtomic) {
      return atomic_value_.load(std::memory_order_acquire);
    } else {
      std::lock_guard lock(mu_);
      return value_;
    }
  }
  T operator()() const { return Get(); }

  // Sets the value programmatically (tests, derived settings); validates like a config file.
  Status Set(T value) {
    HF3FS_TRY(Validate(value));
    staged_ = std::move(value);
    CommitStaged();
    return Status::Ok();
  }

  // Called with the new value after every change (from the thread that applied it).
  void OnChange(std::function<void(const T&)> callback) {
    std::lock_guard lock(callbacks_mu_);
    callbacks_.push_back(std::move(callback));
  }

  Status StageToml(const toml::node& node) override {
    auto v = ValueTraits<T>::FromToml(node, options_.size);
    if (!v.ok()) return v.status().WithContext(Path());
    HF3FS_TRY(Validate(*v));
    staged_ = std::move(*v);
    return Status::Ok();
  }
  Status StageString(std::string_view text) override {
    auto v = ValueTraits<T>::FromString(text, options_.size);
    if (!v.ok()) return v.status().WithContext(Path());
    HF3FS_TRY(Validate(*v));
    staged_ = std::move(*v);
    return Status::Ok();
  }
  bool StagedDiffers() const override { return staged_.has_value() && !(*staged_ == Get()); }
  void CommitStaged() override {
    if (!staged_) return;
    T v = std::move(*staged_);
    staged_.reset();
    if (v == Get()) return;
    Store(v);
    std::vector<std::function<void(const T&)>> cbs;
    {
      std::lock_guard lock(callbacks_mu_);
      cbs = callbacks_;
    }
    for (auto& cb : cbs) cb(v);
  }
  void DiscardStaged() override { staged_.reset(); }

  std::string CurrentLiteral() const override {
    return ValueTraits<T>::ToLiteral(Get(), options_.size);
  }
  std::string DefaultLiteral() const override {
    return ValueTraits<T>::ToLiteral(default_, options_.size);
  }
  std::string Constraints() const override {
    std::string out;
    auto add = [&](std::string_view what, const std::string& v) {
      if (!out.empty()) out += ", ";
      out += std::string(what) + " " + v;
    };
    if (options_.min) add("min", ValueTraits<T>::ToLiteral(*options_.min, options_.size));
    if (options_.max) add("max", ValueTraits<T>::ToLiteral(*options_.max, options_.size));
    if constexpr (std::is_same_v<T, std::string>) {
      if (!options_.one_of.empty()) add("one of", fmt::format("{}", fmt::join(options_.one_of, "|")));
    }
    return out;
  }

 private:
  static constexpr bool kAtomic = std::is_trivially_copyable_v<T>;

  Status Validate(const T& v) const {
    if constexpr (!std::is_same_v<T, std::vector<std::string>> && !std::is_same_v<T, bool>) {
      if (options_.min && v < *options_.min) {
        return MakeStatus(StatusCode::kConfigInvalid, "{} = {} is below the minimum {}", Path(),
                          ValueTraits<T>::ToLiteral(v, options_.size),
                          ValueTraits<T>::ToLiteral(*options_.min, options_.size));
      }
      if (options_.max && *options_.max < v) {
        return MakeStatus(StatusCode::kConfigInvalid, "{} = {} is above the maximum {}", Path(),
                          ValueTraits<T>::ToLiteral(v, options_.size),
                          ValueTraits<T>::ToLiteral(*options_.max, options_.size));
      }
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!options_.one_of.empty()) {
        for (const auto& allowed : options_.one_of) {
          if (allowed == v) return Status::Ok();
        }
        return MakeStatus(StatusCode::kConfigInvalid, "{} = \"{}\" is not one of: {}", Path(), v,
                          fmt::join(options_.one_of, ", "));
      }
    }
    return Status::Ok();
  }

  void Store(const T& v) {
    if constexpr (kAtomic) {
      atomic_value_.store(v, std::memory_order_release);
    } else {
      std::lock_guard lock(mu_);
      value_ = v;
    }
  }

  const T default_;
  const ItemOptions<T> options_;
  std::optional<T> staged_;  // guarded by the root section's update mutex
  struct Empty {};
  std::conditional_t<kAtomic, std::atomic<T>, Empty> atomic_value_{};
  mutable std::mutex mu_;
  std::conditional_t<kAtomic, Empty, T> value_{};
  std::mutex callbacks_mu_;
  std::vector<std::function<void(const T&)>> callbacks_;
};

class Section {
 public:
  explicit Section(std::string doc = "");                         // a root
  Section(Section* parent, std::string name, std::string doc = "");  // a sub-section
  virtual ~Section() = default;
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;

  const std::string& name() const { return name_; }
  std::string Path() const;  // "" for the root, "server.rpc" for a nested section

  // Root-level operations (see the file comment). Errors: kConfigInvalid (syntax, type, range),
  // kConfigUnknownKey, kConfigNotHotUpdatable (HotUpdate only), kIoError (LoadFile).
  Status LoadFile(const std::string& path);
  Status LoadString(std::string_view toml_text, std::string_view source = "<string>");
  // Each override is "section.key=value" (the "--config." prefix already removed).
  Status ApplyOverrides(const std::vector<std::string>& overrides);
  Status HotUpdate(std::string_view toml_text);
  // Sets one hot-updatable key from text ("log.level", "debug").
  Status HotUpdateKey(std::string_view path, std::string_view value);

  // The current values as a TOML document; with_docs adds each item's doc, default and limits as
  // comments (the --dump-default-config output of a freshly constructed config).
  std::string Render(bool with_docs = true) const;

 private:
  friend class ItemBase;
  Section* Root();
  Status StageTable(const toml::table& table);
  Status StagePath(std::string_view path, std::string_view value);
  void ForEachItem(const std::function<void(ItemBase&)>& fn);
  void RenderInto(std::string& out, bool with_docs) const;
  std::vector<std::string> KnownKeys() const;

  Section* parent_ = nullptr;
  std::string name_;
  std::string doc_;
  std::vector<ItemBase*> items_;
  std::vector<Section*> sections_;
  std::mutex update_mu_;  // root only: serializes loads and hot updates
};

// Splits argv into config overrides ("--config.a.b=v" -> "a.b=v") and the remaining arguments.
// "--config.a.b v" (value as the next argument) is accepted too.
struct SplitArgs {
  std::vector<std::string> overrides;
  std::vector<std::string> rest;  // rest[0] is argv[0]
};
SplitArgs SplitConfigOverrides(int argc, const char* const* argv);

}  // namespace hf3fs::config
