#include "meta/layout.h"

#include <random>

namespace hf3fs::meta {

Status ValidateLayout(const Layout& layout) {
  if (layout.chain_table_id() == 0) return Status::Ok();
  uint64_t cs = layout.chunk_size();
  if (cs < kMinChunkSize || cs > kMaxChunkSize || (cs & (cs - 1)) != 0) {
    return MakeStatus(StatusCode::kMetaInvalid,
                      "chunk size {} is not a power of two in [64 KiB, 64 MiB]", cs);
  }
  if (layout.stripe_size() == 0 || layout.stripe_size() > kMaxStripe) {
    return MakeStatus(StatusCode::kMetaInvalid, "stripe {} is not in 1..{}", layout.stripe_size(),
                      kMaxStripe);
  }
  if (layout.chains_size() != 0 &&
      static_cast<uint32_t>(layout.chains_size()) != layout.stripe_size()) {
    return MakeStatus(StatusCode::kMetaInvalid, "explicit chain list of {} chains for stripe {}",
                      layout.chains_size(), layout.stripe_size());
  }
  return Status::Ok();
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {
// Uniform in [0, bound): reject draws from the incomplete last interval of 2^64.
uint64_t Below(uint64_t& state, uint64_t bound) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t r;
  do {
    r = SplitMix64(state);
  } while (r >= limit);
  return r % bound;
}
}  // namespace

std::vector<uint32_t> ShufflePermutation(uint64_t seed, uint32_t n) {
  std::vector<uint32_t> p(n);
  for (uint32_t i = 0; i < n; ++i) p[i] = i;
  uint64_t state = seed;
  for (uint32_t i = n; i > 1; --i) {
    uint64_t j = Below(state, i);
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

Result<uint32_t> ChainOfChunk(const Layout& layout, const std::vector<uint32_t>& table,
                              uint64_t chunk_index) {
  if (layout.chain_table_id() == 0 || layout.stripe_size() == 0) {
    return Status(StatusCode::kMetaInvalid, "the file has no layout");
  }
  uint32_t slot = static_cast<uint32_t>(chunk_index % layout.stripe_size());
  if (layout.chains_size() != 0) return layout.chains(static_cast<int>(slot));
  if (table.empty()) return Status(StatusCode::kMetaInvalid, "empty chain table");
  auto perm = ShufflePermutation(layout.seed(), layout.stripe_size());
  uint64_t idx = (uint64_t{layout.first_chain()} + perm[slot]) % table.size();
  return table[idx];
}

ChainAllocator::ChainAllocator() {
  std::random_device rd;
  cursor_ = (uint64_t{rd()} << 32) | rd();
  seed_state_ = (uint64_t{rd()} << 32) | rd();
}

Layout ChainAllocator::Instantiate(const Layout& tmpl) {
  Layout l = tmpl;
  if (tmpl.chain_table_id() == 0 || tmpl.chains_size() != 0) return l;
  uint64_t first = cursor_.fetch_add(tmpl.stripe_size());
  uint64_t s = seed_state_.fetch_add(1);
  l.set_first_chain(static_cast<uint32_t>(first));
  l.set_seed(SplitMix64(s));
  return l;
}

}  // namespace hf3fs::meta
