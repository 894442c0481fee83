// fsck: checks the namespace invariants of docs/design/0005-meta.md ("Failure model and
// invariants") over one consistent snapshot of the KV store, and reports every violation.
//
// Reads the whole namespace in one read-only transaction: meant for tests, `hf3fs admin fsck` on
// small and medium namespaces, and after crash tests. Changes nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kv/engine.h"

namespace hf3fs::meta {

struct FsckReport {
  uint64_t inodes = 0;
  uint64_t entries = 0;
  uint64_t gc_entries = 0;
  uint64_t sessions = 0;
  std::vector<std::string> problems;  // empty: clean
  bool clean() const { return problems.empty(); }
};

Result<FsckReport> Fsck(kv::Engine& engine);

}  // namespace hf3fs::meta
