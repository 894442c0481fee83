// libFuzzer target for the update and read bodies a storage node parses: UpdateReq as a client
// sends it to the head and as a replica receives it from its predecessor, and ReadIO, applied to a
// real chunk engine in a temporary directory through the storage service's own checking and
// applying step (storage/craq/apply.h).
//
// An input is a sequence of at most kMaxOps records, each
//   op (1 byte) | length (2 bytes, little endian) | body
// op % 4: 0 a client update at the head (validated as from a client, applied at the next version
// and committed, as the head does); 1 a forwarded update (validated as from a replica, applied at
// the version it names, committed when op & 4); 2 a read of committed bytes (ReadIO); 3 a commit of
// the version named by an UpdateReq's update_version. An update's attachment is made by the
// harness: for writes and replaces (and any type when op & 8) `length` bytes of a pattern
// (lengths over 256 KiB are taken modulo 256 KiB, so the attachment may disagree with `length`,
// as a hostile client's may); a checksum of 0 is replaced by the right one so writes get past the
// checksum check.
//
// Oracle: a byte model of every chunk that only head updates touched. Reads of such a chunk, and
// the whole chunk at the end, must equal the model; nothing may crash or trip a sanitizer. Every
// input uses a fresh target, purged afterwards.
//
// With HF3FS_FUZZ_EMIT_SEEDS=<dir> set, the binary writes seed inputs there and exits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chunk/chunk_engine.h"
#include "chunk/chunk_id.h"
#include "common/crc32c.h"
#include "records.h"
#include "storage.pb.h"
#include "storage/craq/apply.h"

namespace {

using namespace hf3fs;
using namespace hf3fs::storage;

constexpr size_t kMaxOps = 16;
constexpr uint32_t kMaxPayload = 256u << 10;

const bool kVerbose = std::getenv("HF3FS_FUZZ_VERBOSE") != nullptr;

chunk::ChunkEngine* engine = nullptr;
uint64_t next_target = 1;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_chunk_updates: %s\n", what.c_str());
  std::abort();
}

// Writes and replaces carry `length` bytes; other types none, unless `attach` (a malformed
// request).
std::vector<uint8_t> Payload(const UpdateReq& req, size_t record, bool attach) {
  bool carries = req.type() == UPDATE_WRITE || req.type() == UPDATE_REPLACE;
  uint32_t n = !carries && !attach           ? 0
               : req.length() <= kMaxPayload ? req.length()
                                             : req.length() % kMaxPayload;
  std::vector<uint8_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + record * 7 + 1);
  return v;
}

struct Model {
  // Chunks only head updates touched: their committed bytes (nullopt: removed or never created).
  std::map<std::string, std::optional<std::vector<uint8_t>>> known;
  std::map<std::string, bool> unknown;  // touched by a forward or a failed commit: not checked
  bool Tracks(const std::string& id) const { return !unknown.count(id); }
};

void ApplyToModel(Model& m, const UpdateReq& req, std::span<const uint8_t> payload) {
  auto& slot = m.known[req.chunk_id()];
  switch (req.type()) {
    case UPDATE_WRITE: {
      auto& bytes = slot ? *slot : slot.emplace();
      if (payload.empty()) break;  // an empty write creates the chunk but extends nothing
      size_t end = size_t{req.offset()} + payload.size();
      if (bytes.size() < end) bytes.resize(end, 0);
      std::copy(payload.begin(), payload.end(), bytes.begin() + req.offset());
      break;
    }
    case UPDATE_TRUNCATE: {
      auto& bytes = slot ? *slot : slot.emplace();
      bytes.resize(req.length(), 0);
      break;
    }
    case UPDATE_REMOVE:
      slot.reset();
      break;
    default:
      Fail("a client update of a replica-only type was applied");
  }
}

void HeadUpdate(Model& m, TargetId target, UpdateReq& req, size_t record, bool attach) {
  auto payload = Payload(req, record, attach);
  if (req.checksum() == 0) req.set_checksum(Crc32c(payload));
  if (!ValidateUpdate(req, payload.size(), /*from_client=*/true).ok()) return;
  chunk::ChunkId id(req.chunk_id());
  auto meta = engine->GetMeta(target, id);
  uint64_t version = meta.ok() ? meta->update_version() + 1 : 1;
  auto applied = ApplyLocal(*engine, target, req, payload, version, ChainVersion(1));
  if (kVerbose) {
    std::fprintf(stderr, "head %s v%lu -> %s\n", req.ShortDebugString().c_str(),
                 static_cast<unsigned long>(version),
                 applied.ok() ? "ok" : applied.status().ToString().c_str());
  }
  if (!applied.ok()) {
    // A refused update changes nothing; a chunk with a pending part is not the model's any more.
    auto after = engine->GetMeta(target, id);
    if (after.ok() && after->pending) m.unknown[req.chunk_id()] = true;
    return;
  }
  auto committed = engine->Commit(target, id, version, ChainVersion(1));
  if (!committed.ok()) {
    m.unknown[req.chunk_id()] = true;
    return;
  }
  if (m.Tracks(req.chunk_id())) ApplyToModel(m, req, payload);
}

void Forward(Model& m, TargetId target, UpdateReq& req, size_t record, bool commit, bool attach) {
  auto payload = Payload(req, record, attach);
  if (req.checksum() == 0) req.set_checksum(Crc32c(payload));
  if (!ValidateUpdate(req, payload.size(), /*from_client=*/false).ok()) return;
  m.unknown[req.chunk_id()] = true;
  auto applied = ApplyLocal(*engine, target, req, payload, req.update_version(), ChainVersion(1));
  if (applied.ok() && commit) {
    (void)engine->Commit(target, chunk::ChunkId(req.chunk_id()), req.update_version(),
                         ChainVersion(1));
  }
}

void CheckBytes(const Model& m, TargetId target, const std::string& id, uint32_t offset,
                uint32_t length) {
  if (!m.Tracks(id)) return;
  auto it = m.known.find(id);
  std::vector<uint8_t> out(std::min(length, kMaxPayload));
  auto r = engine->Read(target, chunk::ChunkId(id), offset, out, chunk::ReadMode::kCommitted);
  bool exists = it != m.known.end() && it->second.has_value();
  if (!exists) {
    if (r.ok() || r.status().code() != StatusCode::kChunkNotFound) {
      Fail("a chunk the model says does not exist reads as " +
           (r.ok() ? std::string("present") : r.status().ToString()));
    }
    return;
  }
  if (!r.ok()) {
    // Offsets past the chunk size are refused; anything else is a finding.
    if (r.status().code() == StatusCode::kInvalidArgument) return;
    Fail("read of a committed chunk failed: " + r.status().ToString());
  }
  const auto& bytes = *it->second;
  size_t have = offset < bytes.size() ? bytes.size() - offset : 0;
  if (r->bytes != std::min(have, out.size())) {
    Fail("read returned " + std::to_string(r->bytes) + " bytes, the model has " +
         std::to_string(std::min(have, out.size())));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    uint8_t want = i < have ? bytes[offset + i] : 0;
    if (out[i] != want) Fail("read differs from the model at offset " + std::to_string(offset + i));
  }
}

void CheckAll(const Model& m, TargetId target) {
  for (const auto& [id, bytes] : m.known) {
    if (!m.Tracks(id)) continue;
    auto full = engine->ReadFull(target, chunk::ChunkId(id), chunk::ReadMode::kCommitted);
    if (!bytes) {
      if (full.ok()) Fail("a removed chunk still reads");
      continue;
    }
    if (!full.ok()) Fail("whole-chunk read failed: " + full.status().ToString());
    if (full->data != *bytes) {
      Fail("whole chunk differs from the model (" + std::to_string(full->data.size()) + " vs " +
           std::to_string(bytes->size()) + " bytes)");
    }
  }
}

void Purge(TargetId target) {
  while (true) {
    auto page = engine->ListMeta(target, {}, {}, 1024);
    if (!page.ok()) Fail("listing the target: " + page.status().ToString());
    for (const auto& meta : page->metas) (void)engine->Purge(target, meta.chunk_id);
    if (!page->more) break;
  }
}

// ---- seeds ----

void EmitSeeds(const char* dir) {
  fuzz::SeedWriter seeds(dir);

  std::string id = chunk::MakeChunkId(InodeId(7), 0).bytes();
  UpdateReq w;
  w.set_chunk_id(id);
  w.set_chunk_size(64 << 10);
  w.set_type(UPDATE_WRITE);
  ReadIO r;
  r.set_chunk_id(id);
  {
    std::vector<uint8_t> in;  // appends, small overwrites (journaled), a truncate, reads
    for (auto [off, len] :
         {std::pair{0u, 16384u}, {4096u, 4096u}, {100u, 10u}, {16384u, 8192u}, {8192u, 4096u}}) {
      w.set_offset(off);
      w.set_length(len);
      fuzz::AppendRecord(in, 0, w);
    }
    UpdateReq t = w;
    t.set_type(UPDATE_TRUNCATE);
    t.set_offset(0);
    t.set_length(5000);
    fuzz::AppendRecord(in, 0, t);
    r.set_offset(0);
    r.set_length(65536);
    fuzz::AppendRecord(in, 2, r);
    w.set_offset(4096);
    w.set_length(512);
    fuzz::AppendRecord(in, 0, w);
    r.set_offset(4000);
    r.set_length(1000);
    fuzz::AppendRecord(in, 2, r);
    seeds.Write(in);
  }
  {
    std::vector<uint8_t> in;  // a replica's view: forwards, a replace, a purge, a remove
    UpdateReq f = w;
    f.set_offset(0);
    f.set_length(4096);
    f.set_from_target(3);
    f.set_update_version(1);
    fuzz::AppendRecord(in, 1 | 4, f);
    f.set_update_version(2);
    f.set_offset(1024);
    f.set_length(100);
    fuzz::AppendRecord(in, 1, f);
    UpdateReq c;
    c.set_chunk_id(id);
    c.set_update_version(2);
    fuzz::AppendRecord(in, 3, c);
    f.set_type(UPDATE_REPLACE);
    f.set_update_version(5);
    f.set_offset(0);
    f.set_length(20000);
    f.set_commit(true);
    fuzz::AppendRecord(in, 1, f);
    f.set_type(UPDATE_PURGE);
    f.set_length(0);
    fuzz::AppendRecord(in, 1, f);
    UpdateReq rm = w;
    rm.set_type(UPDATE_REMOVE);
    rm.set_length(0);
    fuzz::AppendRecord(in, 0, rm);
    seeds.Write(in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("HF3FS_FUZZ_EMIT_SEEDS")) {
    EmitSeeds(dir);
    std::exit(0);
  }
  char tmpl[] = "/tmp/hf3fs-fuzz-chunk-XXXXXX";
  if (!mkdtemp(tmpl)) Fail("mkdtemp failed");
  static std::string dir = tmpl;
  std::atexit([] { std::filesystem::remove_all(dir); });
  chunk::ChunkEngineOptions o;
  o.group_bytes = 4u << 20;
  auto e = chunk::ChunkEngine::Open(dir, o);
  if (!e.ok()) Fail("opening the engine in " + dir + ": " + e.status().ToString());
  engine = e->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TargetId target(next_target++);
  Model m;
  fuzz::ForEachRecord({data, size}, kMaxOps,
                      [&](size_t i, uint8_t op, std::span<const uint8_t> body) {
                        if (op % 4 == 2) {
                          ReadIO r;
                          if (!r.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
                          if (!chunk::ChunkId(r.chunk_id()).valid())
                            return;  // the service refuses it first
                          CheckBytes(m, target, r.chunk_id(), r.offset(), r.length());
                          return;
                        }
                        UpdateReq req;
                        if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
                        switch (op % 4) {
                          case 0:
                            HeadUpdate(m, target, req, i, op & 8);
                            break;
                          case 1:
                            Forward(m, target, req, i, op & 4, op & 8);
                            break;
                          default:
                            if (!chunk::ChunkId(req.chunk_id()).valid()) break;
                            m.unknown[req.chunk_id()] = true;
                            (void)engine->Commit(target, chunk::ChunkId(req.chunk_id()),
                                                 req.update_version(), ChainVersion(1));
                            break;
                        }
                      });
  CheckAll(m, target);
  Purge(target);
  return 0;
}
