#include "common/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

namespace hf3fs::config {
namespace {

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

Status WrongType(const toml::node& node, std::string_view expected) {
  return MakeStatus(StatusCode::kConfigInvalid, "expected {}, found {}", expected, TypeName(node));
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

template <typename Int>
Result<Int> IntFromString(std::string_view text, bool size) {
  if (size) {
    HF3FS_TRY_ASSIGN(uint64_t bytes, ParseSize(text));
    if (bytes > static_cast<uint64_t>(std::numeric_limits<Int>::max())) {
      return MakeStatus(StatusCode::kConfigInvalid, "{} does not fit", text);
    }
    return static_cast<Int>(bytes);
  }
  Int v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return MakeStatus(StatusCode::kConfigInvalid, "'{}' is not an integer in range", text);
  }
  return v;
}

template <typename Int>
Result<Int> IntFromToml(const toml::node& node, bool size) {
  if (size && node.is_string()) return IntFromString<Int>(node.as_string()->get(), true);
  if (!node.is_integer()) return WrongType(node, size ? "a size (\"64MiB\" or bytes)" : "an integer");
  int64_t v = node.as_integer()->get();
  if (v < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
      (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<Int>::max()))) {
    return MakeStatus(StatusCode::kConfigInvalid, "{} is out of range", v);
  }
  return static_cast<Int>(v);
}

template <typename Int>
std::string IntLiteral(Int v, bool size) {
  if (size) return QuoteString(FormatSize(static_cast<uint64_t>(v)));
  return std::to_string(v);
}

}  // namespace

// ---- ValueTraits specialisations ----

#define HF3FS_INT_TRAITS(Int)                                                          \
  template <>                                                                          \
  Result<Int> ValueTraits<Int>::FromToml(const toml::node& n, bool size) {             \
    return IntFromToml<Int>(n, size);                                                  \
  }                                                                                    \
  template <>                                                                          \
  Result<Int> ValueTraits<Int>::FromString(std::string_view t, bool size) {            \
    return IntFromString<Int>(t, size);                                                \
  }                                                                                    \
  template <>                                                                          \
  std::string ValueTraits<Int>::ToLiteral(const Int& v, bool size) {                   \
    return IntLiteral<Int>(v, size);                                                   \
  }
HF3FS_INT_TRAITS(int32_t)
HF3FS_INT_TRAITS(uint32_t)
HF3FS_INT_TRAITS(int64_t)
HF3FS_INT_TRAITS(uint64_t)
#undef HF3FS_INT_TRAITS

template <>
Result<bool> ValueTraits<bool>::FromToml(const toml::node& n, bool) {
  if (!n.is_boolean()) return WrongType(n, "true or false");
  return n.as_boolean()->get();
}
template <>
Result<bool> ValueTraits<bool>::FromString(std::string_view t, bool) {
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return MakeStatus(StatusCode::kConfigInvalid, "'{}' is not true or false", t);
}
template <>
std::string ValueTraits<bool>::ToLiteral(const bool& v, bool) {
  return v ? "true" : "false";
}

template <>
Result<double> ValueTraits<double>::FromToml(const toml::node& n, bool) {
  if (n.is_floating_point()) return n.as_floating_point()->get();
  if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
  return WrongType(n, "a number");
}
template <>
Result<double> ValueTraits<double>::FromString(std::string_view t, bool) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) {
    return MakeStatus(StatusCode::kConfigInvalid, "'{}' is not a number", t);
  }
  return v;
}
template <>
std::string ValueTraits<double>::ToLiteral(const double& v, bool) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEni") == std::string::npos) s += ".0";
  return s;
}

template <>
Result<std::string> ValueTraits<std::string>::FromToml(const toml::node& n, bool) {
  if (!n.is_string()) return WrongType(n, "a string");
  return std::string(n.as_string()->get());
}
template <>
Result<std::string> ValueTraits<std::string>::FromString(std::string_view t, bool) {
  return std::string(t);
}
template <>
std::string ValueTraits<std::string>::ToLiteral(const std::string& v, bool) {
  return QuoteString(v);
}

template <>
Result<Duration> ValueTraits<Duration>::FromToml(const toml::node& n, bool) {
  if (n.is_string()) return ParseDuration(n.as_string()->get());
  if (n.is_integer() && n.as_integer()->get() == 0) return Duration::zero();
  return WrongType(n, "a duration string such as \"5s\" or \"250ms\"");
}
template <>
Result<Duration> ValueTraits<Duration>::FromString(std::string_view t, bool) {
  return ParseDuration(t);
}
template <>
std::string ValueTraits<Duration>::ToLiteral(const Duration& v, bool) {
  return QuoteString(FormatDuration(v));
}

template <>
Result<std::vector<std::string>> ValueTraits<std::vector<std::string>>::FromToml(
    const toml::node& n, bool) {
  if (!n.is_array()) return WrongType(n, "an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *n.as_array()) {
    if (!e.is_string()) return WrongType(e, "a string (array element)");
    out.emplace_back(e.as_string()->get());
  }
  return out;
}
template <>
Result<std::vector<std::string>> ValueTraits<std::vector<std::string>>::FromString(
    std::string_view t, bool) {
  std::vector<std::string> out;
  while (!t.empty()) {
    auto comma = t.find(',');
    out.emplace_back(t.substr(0, comma));
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  return out;
}
template <>
std::string ValueTraits<std::vector<std::string>>::ToLiteral(const std::vector<std::string>& v,
                                                             bool) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += QuoteString(v[i]);
  }
  return out + "]";
}

// ---- ItemBase ----

ItemBase::ItemBase(Section* parent, std::string name, std::string doc, bool hot)
    : parent_(parent), name_(std::move(name)), doc_(std::move(doc)), hot_(hot) {
  HF3FS_CHECK(parent_ != nullptr);
  parent_->items_.push_back(this);
}

std::string ItemBase::Path() const {
  auto p = parent_->Path();
  return p.empty() ? name_ : p + "." + name_;
}

// ---- Section ----

Section::Section(std::string doc) : doc_(std::move(doc)) {}

Section::Section(Section* parent, std::string name, std::string doc)
    : parent_(parent), name_(std::move(name)), doc_(std::move(doc)) {
  HF3FS_CHECK(parent_ != nullptr);
  parent_->sections_.push_back(this);
}

std::string Section::Path() const {
  if (!parent_) return "";
  auto p = parent_->Path();
  return p.empty() ? name_ : p + "." + name_;
}

Section* Section::Root() {
  Section* s = this;
  while (s->parent_) s = s->parent_;
  return s;
}

void Section::ForEachItem(const std::function<void(ItemBase&)>& fn) {
  for (auto* item : items_) fn(*item);
  for (auto* sec : sections_) sec->ForEachItem(fn);
}

std::vector<std::string> Section::KnownKeys() const {
  std::vector<std::string> keys;
  for (auto* item : items_) keys.push_back(item->name());
  for (auto* sec : sections_) keys.push_back("[" + sec->name() + "]");
  return keys;
}

Status Section::StageTable(const toml::table& table) {
  for (const auto& [key, node] : table) {
    std::string_view k = key.str();
    bool found = false;
    for (auto* item : items_) {
      if (item->name() == k) {
        HF3FS_TRY(item->StageToml(node));
        found = true;
        break;
      }
    }
    if (found) continue;
    for (auto* sec : sections_) {
      if (sec->name() == k) {
        if (!node.is_table()) {
          return MakeStatus(StatusCode::kConfigInvalid, "{} must be a table ([{}])", sec->Path(),
                            sec->Path());
        }
        HF3FS_TRY(sec->StageTable(*node.as_table()));
        found = true;
        break;
      }
    }
    if (!found) {
      auto p = Path();
      return MakeStatus(StatusCode::kConfigUnknownKey,
                        "unknown configuration key '{}'; known keys{}: {}",
                        p.empty() ? std::string(k) : p + "." + std::string(k),
                        p.empty() ? "" : " in [" + p + "]", fmt::join(KnownKeys(), ", "));
    }
  }
  return Status::Ok();
}

Status Section::StagePath(std::string_view path, std::string_view value) {
  auto dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  if (dot == std::string_view::npos) {
    for (auto* item : items_) {
      if (item->name() == head) return item->StageString(value);
    }
  } else {
    for (auto* sec : sections_) {
      if (sec->name() == head) return sec->StagePath(path.substr(dot + 1), value);
    }
  }
  auto p = Path();
  return MakeStatus(StatusCode::kConfigUnknownKey,
                    "unknown configuration key '{}'; known keys{}: {}",
                    p.empty() ? std::string(head) : p + "." + std::string(head),
                    p.empty() ? "" : " in [" + p + "]", fmt::join(KnownKeys(), ", "));
}

Status Section::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return MakeStatus(StatusCode::kIoError, "cannot read config file '{}': {}", path,
                      std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadString(ss.str(), path);
}

Status Section::LoadString(std::string_view toml_text, std::string_view source) {
  Section* root = Root();
  std::lock_guard lock(root->update_mu_);
  toml::table table;
  try {
    table = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return MakeStatus(StatusCode::kConfigInvalid, "{}:{}:{}: {}", source,
                      e.source().begin.line, e.source().begin.column, e.description());
  }
  auto st = root->StageTable(table);
  if (!st.ok()) {
    root->ForEachItem([](ItemBase& i) { i.DiscardStaged(); });
    return st.WithContext(source);
  }
  root->ForEachItem([](ItemBase& i) { i.CommitStaged(); });
  return Status::Ok();
}

Status Section::ApplyOverrides(const std::vector<std::string>& overrides) {
  Section* root = Root();
  std::lock_guard lock(root->update_mu_);
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    Status st = eq == std::string::npos
                    ? MakeStatus(StatusCode::kConfigInvalid,
                                 "override '{}' has no value: write --config.{}=VALUE", o, o)
                    : root->StagePath(std::string_view(o).substr(0, eq),
                                      std::string_view(o).substr(eq + 1));
    if (!st.ok()) {
      root->ForEachItem([](ItemBase& i) { i.DiscardStaged(); });
      return st.WithContext("--config." + o);
    }
  }
  root->ForEachItem([](ItemBase& i) { i.CommitStaged(); });
  return Status::Ok();
}

Status Section::HotUpdate(std::string_view toml_text) {
  Section* root = Root();
  std::lock_guard lock(root->update_mu_);
  toml::table table;
  try {
    table = toml::parse(toml_text, std::string_view("<hot update>"));
  } catch (const toml::parse_error& e) {
    return MakeStatus(StatusCode::kConfigInvalid, "hot update:{}:{}: {}", e.source().begin.line,
                      e.source().begin.column, e.description());
  }
  auto st = root->StageTable(table);
  std::vector<std::string> frozen;
  if (st.ok()) {
    root->ForEachItem([&](ItemBase& i) {
      if (!i.hot() && i.StagedDiffers()) frozen.push_back(i.Path());
    });
  }
  if (!st.ok() || !frozen.empty()) {
    root->ForEachItem([](ItemBase& i) { i.DiscardStaged(); });
    if (!st.ok()) return st;
    return MakeStatus(StatusCode::kConfigNotHotUpdatable,
                      "these keys need a restart to change: {}; edit the config file and restart "
                      "the process",
                      fmt::join(frozen, ", "));
  }
  root->ForEachItem([](ItemBase& i) { i.CommitStaged(); });
  return Status::Ok();
}

Status Section::HotUpdateKey(std::string_view path, std::string_view value) {
  Section* root = Root();
  std::lock_guard lock(root->update_mu_);
  auto st = root->StagePath(path, value);
  std::vector<std::string> frozen;
  root->ForEachItem([&](ItemBase& i) {
    if (!i.hot() && i.StagedDiffers()) frozen.push_back(i.Path());
  });
  if (!st.ok() || !frozen.empty()) {
    root->ForEachItem([](ItemBase& i) { i.DiscardStaged(); });
    if (!st.ok()) return st;
    return MakeStatus(StatusCode::kConfigNotHotUpdatable,
                      "{} needs a restart to change: edit the config file and restart the process",
                      path);
  }
  root->ForEachItem([](ItemBase& i) { i.CommitStaged(); });
  return Status::Ok();
}

void Section::RenderInto(std::string& out, bool with_docs) const {
  auto path = Path();
  if (!path.empty() && (!items_.empty() || sections_.empty())) {
    if (!out.empty()) out += "\n";
    if (with_docs && !doc_.empty()) out += "# " + doc_ + "\n";
    out += "[" + path + "]\n";
  } else if (path.empty() && with_docs && !doc_.empty()) {
    out += "# " + doc_ + "\n";
  }
  for (const auto* item : items_) {
    if (with_docs) {
      std::string meta = "default " + item->DefaultLiteral();
      auto c = item->Constraints();
      if (!c.empty()) meta += ", " + c;
      if (item->hot()) meta += ", hot-updatable";
      out += fmt::format("# {} ({})\n", item->doc(), meta);
    }
    out += item->name() + " = " + item->CurrentLiteral() + "\n";
  }
  for (const auto* sec : sections_) sec->RenderInto(out, with_docs);
}

std::string Section::Render(bool with_docs) const {
  std::string out;
  RenderInto(out, with_docs);
  return out;
}

SplitArgs SplitConfigOverrides(int argc, const char* const* argv) {
  SplitArgs out;
  constexpr std::string_view kPrefix = "--config.";
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i > 0 && a.starts_with(kPrefix)) {
      std::string o(a.substr(kPrefix.size()));
      if (o.find('=') == std::string::npos && i + 1 < argc) o += "=" + std::string(argv[++i]);
      out.overrides.push_back(std::move(o));
    } else {
      out.rest.emplace_back(a);
    }
  }
  return out;
}

}  // namespace hf3fs::config
