// The hf3fs release version, reported by `hf3fs --version`, get-info and heartbeats.
#pragma once

namespace hf3fs {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace hf3fs
