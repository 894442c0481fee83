// The child of chunk_kill9_test: updates chunks of one engine forever, reporting each update's
// intent and acknowledgement on a pipe (kill9_protocol.h), until the parent kills it with SIGKILL.
//
// Usage: chunk_kill9_writer <engine dir> <pipe fd> <seed>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "chunk/chunk_engine.h"
#include "chunk/kill9_protocol.h"
#include "common/crc32c.h"

namespace hf3fs::chunk::testing {
namespace {

struct ChunkModel {
  std::vector<uint8_t> bytes;
  bool exists = false;
  uint64_t version = 0;  // commit version
};

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "chunk_kill9_writer: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::_Exit(2);
}

void Send(int fd, Kill9Record::Kind kind, int chunk, const ChunkModel& m, uint64_t seq) {
  Kill9Record r;
  r.kind = kind;
  r.exists = m.exists;
  r.chunk = static_cast<uint16_t>(chunk);
  r.version = m.version;
  r.checksum = m.exists ? Crc32c(m.bytes.data(), m.bytes.size()) : 0;
  r.length = static_cast<uint32_t>(m.bytes.size());
  r.seq = seq;
  if (::write(fd, &r, sizeof(r)) != sizeof(r)) std::_Exit(3);
}

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

int Run(const std::string& dir, int fd, uint64_t seed) {
  ChunkEngineOptions options;
  options.group_bytes = kKill9GroupBytes;
  options.groups_per_file = 4;
  options.io_piece_bytes = 1u << 20;
  auto opened = ChunkEngine::Open(dir, options);
  if (!opened.ok()) Die("open", opened.status());
  ChunkEngine& e = **opened;
  const TargetId target(1);
  std::vector<ChunkModel> models(kKill9Chunks);
  for (int i = 0; i < kKill9Chunks; ++i) {
    ChunkId id = MakeChunkId(InodeId(kKill9Inode), i);
    auto meta = e.GetMeta(target, id);
    if (!meta.ok() || !meta->committed) continue;
    auto full = e.ReadFull(target, id, ReadMode::kLastCommitted);
    if (!full.ok()) Die("read back", full.status());
    models[i] = ChunkModel{full->data, true, meta->commit_version()};
  }
  std::mt19937_64 rng(seed);
  for (uint64_t seq = 1;; ++seq) {
    int i = static_cast<int>(rng() % kKill9Chunks);
    ChunkId id = MakeChunkId(InodeId(kKill9Inode), i);
    uint32_t size = kKill9ChunkSizes[i % 4];
    const uint64_t version = models[i].version + 1;
    ChunkModel next = models[i];
    next.version = version;
    UpdateOptions o;
    o.update_version = version;
    int op = static_cast<int>(rng() % 10);
    Result<ChunkMeta> r = Status(StatusCode::kInternal, "no op");
    bool commit = true;
    if (op < 2 && next.bytes.size() > 1) {  // a small overwrite inside the bytes (journaled)
      uint32_t off = static_cast<uint32_t>(rng() % (next.bytes.size() - 1));
      uint32_t len =
          1 + static_cast<uint32_t>(rng() % std::min<uint64_t>(next.bytes.size() - off, 10000));
      auto data = RandomBytes(rng, len);
      std::copy(data.begin(), data.end(), next.bytes.begin() + off);
      Send(fd, Kill9Record::kIntent, i, next, seq);
      r = e.Write(target, id, size, off, data, o);
    } else if (op < 6) {  // write: append (often), overwrite, or past the end
      uint32_t off = (rng() % 2 == 0) ? static_cast<uint32_t>(next.bytes.size())
                                      : static_cast<uint32_t>(rng() % size);
      if (off >= size) off = static_cast<uint32_t>(rng() % size);
      uint32_t len = 1 + static_cast<uint32_t>(rng() % std::min<uint32_t>(size - off, 300000));
      auto data = RandomBytes(rng, len);
      if (next.bytes.size() < off + len) next.bytes.resize(off + len, 0);
      std::copy(data.begin(), data.end(), next.bytes.begin() + off);
      next.exists = true;
      Send(fd, Kill9Record::kIntent, i, next, seq);
      r = e.Write(target, id, size, off, data, o);
    } else if (op < 8) {  // truncate or extend
      next.bytes.resize(rng() % size, 0);
      next.exists = true;
      Send(fd, Kill9Record::kIntent, i, next, seq);
      r = e.Truncate(target, id, size, static_cast<uint32_t>(next.bytes.size()), o);
    } else if (op == 8 && models[i].exists) {  // remove
      next = ChunkModel{};
      Send(fd, Kill9Record::kIntent, i, next, seq);
      r = e.Remove(target, id, o);
    } else {  // whole-chunk replace, committed at once (as resync installs chunks)
      next.bytes = RandomBytes(rng, rng() % size);
      next.exists = true;
      Send(fd, Kill9Record::kIntent, i, next, seq);
      r = e.ReplaceFull(target, id, next.bytes, {size, version, true, {}, {}});
      commit = false;
    }
    if (!r.ok()) Die("update", r.status());
    if (commit) {
      auto c = e.Commit(target, id, version, {});
      if (!c.ok()) Die("commit", c.status());
    }
    models[i] = next;
    Send(fd, Kill9Record::kAck, i, next, seq);
  }
}

}  // namespace
}  // namespace hf3fs::chunk::testing

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <engine dir> <pipe fd> <seed>\n", argv[0]);
    return 1;
  }
  return hf3fs::chunk::testing::Run(argv[1], std::atoi(argv[2]),
                                    std::strtoull(argv[3], nullptr, 10));
}
