// The input format of the request fuzzers (fuzz_meta_ops, fuzz_chunk_updates): a sequence of
// records, each
//   op (1 byte) | length (2 bytes, little endian) | body (length bytes; cut short at the input's
//   end)
// and the seed files they write when run with HF3FS_FUZZ_EMIT_SEEDS=<dir>.
#pragma once

#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace hf3fs::fuzz {

inline void AppendRecord(std::vector<uint8_t>& out, uint8_t op,
                         const google::protobuf::MessageLite& m) {
  std::string body = m.SerializeAsString();
  out.push_back(op);
  out.push_back(static_cast<uint8_t>(body.size()));
  out.push_back(static_cast<uint8_t>(body.size() >> 8));
  out.insert(out.end(), body.begin(), body.end());
}

// Calls fn(index, op, body) for each of the first `max_records` records of `in`.
template <typename Fn>
void ForEachRecord(std::span<const uint8_t> in, size_t max_records, Fn fn) {
  for (size_t i = 0; i < max_records && in.size() >= 3; ++i) {
    uint8_t op = in[0];
    size_t len = std::min<size_t>(in[1] | (size_t{in[2]} << 8), in.size() - 3);
    fn(i, op, in.subspan(3, len));
    in = in.subspan(3 + len);
  }
}

// Writes seed inputs as <dir>/seed-0, seed-1, ...
class SeedWriter {
 public:
  explicit SeedWriter(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }
  void Write(const std::vector<uint8_t>& input) {
    std::ofstream(dir_ / ("seed-" + std::to_string(count_++)), std::ios::binary)
        .write(reinterpret_cast<const char*>(input.data()),
               static_cast<std::streamsize>(input.size()));
  }
  ~SeedWriter() { std::fprintf(stderr, "wrote %d seeds to %s\n", count_, dir_.c_str()); }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

}  // namespace hf3fs::fuzz
