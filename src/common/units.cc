#include "common/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace hf3fs {
namespace {

struct Unit {
  std::string_view suffix;
  double factor;
};

// Splits "64MiB" into the number (64) and the suffix ("MiB").
bool SplitNumber(std::string_view text, double* number, std::string_view* suffix) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  *suffix = text.substr(i);
  while (!suffix->empty() && suffix->front() == ' ') suffix->remove_prefix(1);
  return true;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  static constexpr Unit kUnits[] = {
      {"", 1},          {"B", 1},          {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
      {"GiB", 1ull << 30}, {"TiB", 1ull << 40}, {"K", 1ull << 10}, {"M", 1ull << 20},
      {"G", 1ull << 30}, {"T", 1ull << 40},   {"k", 1ull << 10},   {"m", 1ull << 20},
      {"g", 1ull << 30}, {"t", 1ull << 40},   {"KB", 1e3},         {"MB", 1e6},
      {"GB", 1e9},       {"TB", 1e12}};
  double number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix)) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "'{}' is not a size: write a number with an optional unit, e.g. 4096, "
                      "64KiB, 1MiB, 2GiB",
                      text);
  }
  for (const auto& u : kUnits) {
    if (u.suffix == suffix) {
      // Whole numbers are parsed exactly: a double loses integers above 2^53.
      std::string_view digits = text;
      while (!digits.empty() && std::isspace(static_cast<unsigned char>(digits.front()))) {
        digits.remove_prefix(1);
      }
      size_t n = 0;
      while (n < digits.size() &&
             (std::isdigit(static_cast<unsigned char>(digits[n])) || digits[n] == '.')) {
        ++n;
      }
      digits = digits.substr(0, n);
      if (digits.find('.') != std::string_view::npos) digits = {};
      uint64_t whole = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), whole);
      if (!digits.empty() && ec == std::errc() && ptr == digits.data() + digits.size() &&
          u.factor == std::floor(u.factor)) {
        uint64_t factor = static_cast<uint64_t>(u.factor);
        if (whole > UINT64_MAX / factor) {
          return MakeStatus(StatusCode::kOutOfRange, "size '{}' is too large", text);
        }
        return whole * factor;
      }
      double bytes = number * u.factor;
      if (bytes >= 1.8e19) {
        return MakeStatus(StatusCode::kOutOfRange, "size '{}' is too large", text);
      }
      if (bytes != std::floor(bytes)) {
        return MakeStatus(StatusCode::kInvalidArgument, "size '{}' is not a whole number of bytes",
                          text);
      }
      return static_cast<uint64_t>(bytes);
    }
  }
  return MakeStatus(StatusCode::kInvalidArgument,
                    "unknown size unit '{}' in '{}': use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB",
                    suffix, text);
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  if (bytes == 0) return "0";
  for (auto [factor, name] : kUnits) {
    if (bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
  }
  return std::to_string(bytes);
}

Result<Duration> ParseDuration(std::string_view text) {
  static constexpr Unit kUnits[] = {{"ns", 1},       {"us", 1e3},      {"ms", 1e6},
                                    {"s", 1e9},      {"m", 60e9},      {"min", 60e9},
                                    {"h", 3600e9},   {"d", 86400e9}};
  double number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix)) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "'{}' is not a duration: write a number with a unit, e.g. 250ms, 5s, 2m",
                      text);
  }
  if (suffix.empty()) {
    if (number == 0) return Duration::zero();
    return MakeStatus(StatusCode::kInvalidArgument,
                      "duration '{}' has no unit: write e.g. {}s or {}ms", text, number, number);
  }
  for (const auto& u : kUnits) {
    if (u.suffix == suffix) {
      double ns = number * u.factor;
      if (ns >= static_cast<double>(std::numeric_limits<int64_t>::max())) {
        return MakeStatus(StatusCode::kOutOfRange, "duration '{}' is too long", text);
      }
      return Duration(static_cast<int64_t>(ns));
    }
  }
  return MakeStatus(StatusCode::kInvalidArgument,
                    "unknown duration unit '{}' in '{}': use ns, us, ms, s, m, h or d", suffix,
                    text);
}

std::string FormatDuration(Duration d) {
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {86400'000'000'000, "d"}, {3600'000'000'000, "h"}, {60'000'000'000, "m"},
      {1'000'000'000, "s"},     {1'000'000, "ms"},       {1'000, "us"}};
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  for (auto [factor, name] : kUnits) {
    if (ns % factor == 0) return fmt::format("{}{}", ns / factor, name);
  }
  return fmt::format("{}ns", ns);
}

}  // namespace hf3fs
