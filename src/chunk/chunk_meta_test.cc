#include "chunk/chunk_meta.h"

#include <gtest/gtest.h>

#include "chunk/chunk_id.h"
#include "common/crc32c.h"

namespace hf3fs::chunk {
namespace {

TEST(ChunkId, FileChunksSortByIndexAndStayInsideTheFileRange) {
  ChunkId a = MakeChunkId(InodeId(5), 1);
  ChunkId b = MakeChunkId(InodeId(5), 256);
  ChunkId other = MakeChunkId(InodeId(6), 0);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_LT(a, b);  // big-endian: numeric order is byte order
  EXPECT_LT(b, other);
  auto [begin, end] = FileChunkRange(InodeId(5));
  EXPECT_LE(begin, a);
  EXPECT_LT(b, end);
  EXPECT_EQ(end, other);
  auto [from, to] = FileChunkRange(InodeId(5), 2);
  EXPECT_LT(a, from);
  EXPECT_LE(from, b);
  EXPECT_TRUE(FileChunkRange(InodeId(UINT64_MAX)).second.empty());
}

TEST(ChunkId, ParsesOnlyItsOwnShapeAndFormatsReadably) {
  auto parsed = ParseChunkId(MakeChunkId(InodeId(42), 3));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, InodeId(42));
  EXPECT_EQ(parsed->second, 3u);
  EXPECT_EQ(MakeChunkId(InodeId(42), 3).ToString(), "42:3");
  EXPECT_FALSE(ParseChunkId(ChunkId("abc")));
  EXPECT_EQ(ChunkId("ab").ToString(), "6162");
  EXPECT_FALSE(ChunkId().valid());
  EXPECT_FALSE(ChunkId(std::string(kMaxChunkIdBytes + 1, 'x')).valid());
  EXPECT_TRUE(ChunkId(std::string(kMaxChunkIdBytes, 'x')).valid());
}

TEST(SizeClass, ChunkSizesAreThePowersOfTwoFrom64KiBTo64MiB) {
  EXPECT_EQ(ChunkSizeLog2(64 << 10), 16);
  EXPECT_EQ(ChunkSizeLog2(64 << 20), 26);
  EXPECT_FALSE(ChunkSizeLog2(32 << 10));
  EXPECT_FALSE(ChunkSizeLog2(128 << 20));
  EXPECT_FALSE(ChunkSizeLog2(100000));
  EXPECT_FALSE(ChunkSizeLog2(0));
}

TEST(SizeClass, SlotFitsTheLengthAndGrowsByAtLeastFourTimesThenToTheChunkSize) {
  EXPECT_EQ(ClassForLength(0), 16);
  EXPECT_EQ(ClassForLength(1), 16);
  EXPECT_EQ(ClassForLength(64 << 10), 16);
  EXPECT_EQ(ClassForLength((64 << 10) + 1), 17);
  EXPECT_EQ(ClassForLength(1 << 20), 20);
  // Fresh chunk: smallest fitting class, capped at the chunk size.
  EXPECT_EQ(ChooseSlotClass(100 << 10, 26, 0), 17);
  EXPECT_EQ(ChooseSlotClass(100 << 10, 16, 0), 16);
  // Outgrowing a 64 KiB slot jumps to 256 KiB at least.
  EXPECT_EQ(ChooseSlotClass((64 << 10) + 1, 26, 16), 18);
  EXPECT_EQ(ChooseSlotClass(3 << 20, 26, 16), 22);
  EXPECT_EQ(ChooseSlotClass((64 << 10) + 1, 17, 16), 17);
  // A slot of 1 MiB or more that is outgrown goes straight to the chunk size.
  EXPECT_EQ(ChooseSlotClass((1 << 20) + 1, 26, 20), 26);
  EXPECT_EQ(ChooseSlotClass((1 << 20) + 1, 22, 20), 22);
  // Not outgrowing: the class follows the length (a rewrite may shrink the slot).
  EXPECT_EQ(ChooseSlotClass(4096, 26, 20), 16);
}

ChunkMeta SampleMeta() {
  ChunkMeta m;
  m.target = TargetId(9);
  m.chunk_id = MakeChunkId(InodeId(3), 4);
  m.chunk_size = 1 << 20;
  m.chain_version = ChainVersion(12);
  m.committed = VersionPart{5, 70000, 0xdeadbeef, SlotAddress{17, 33}, false};
  m.pending = VersionPart{6, 80000, 0x12345678, SlotAddress{17, 34}, false};
  return m;
}

TEST(ChunkRecord, RoundTripsEveryShape) {
  ChunkMeta both = SampleMeta();
  ChunkMeta committed_only = both;
  committed_only.pending.reset();
  ChunkMeta pending_only = both;
  pending_only.committed.reset();
  ChunkMeta removal = both;
  removal.pending = VersionPart{6, 0, 0, SlotAddress{}, true};
  ChunkMeta empty = both;
  empty.committed = VersionPart{5, 0, 0, SlotAddress{}, false};
  empty.pending.reset();
  ChunkMeta with_fallback = both;  // window durability: epochs and the durable fallback
  with_fallback.committed->epoch = 41;
  with_fallback.pending->epoch = 42;
  with_fallback.fallback = VersionPart{4, 60000, 0xabcdef01, SlotAddress{17, 40}, false};
  for (const ChunkMeta& m : {both, committed_only, pending_only, removal, empty, with_fallback}) {
    std::string rec = EncodeChunkRecord(m);
    ASSERT_EQ(rec.size(), kChunkRecordBytes);
    auto back = DecodeChunkRecord(rec, m.target, m.chunk_id);
    ASSERT_TRUE(back.ok()) << back.status() << " for " << ToString(m);
    EXPECT_EQ(*back, m);
  }
}

TEST(ChunkRecord, MatchesTheDocumentedBytes) {
  std::string rec = EncodeChunkRecord(SampleMeta());
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(rec[i]); };
  EXPECT_EQ(u8(0), 2);      // format version
  EXPECT_EQ(u8(1), 3);      // committed + pending
  EXPECT_EQ(u8(2), 20);     // 1 MiB chunk size
  EXPECT_EQ(u8(4), 12);     // chain version, little-endian
  EXPECT_EQ(u8(8), 5);      // committed version
  EXPECT_EQ(u8(16), 0x70);  // length 70000 = 0x11170, little-endian
  EXPECT_EQ(u8(17), 0x11);
  EXPECT_EQ(u8(18), 0x01);
  EXPECT_EQ(u8(20), 0xef);  // checksum, little-endian
  EXPECT_EQ(u8(24), 17);    // slot class
  EXPECT_EQ(u8(28), 33);    // slot index
  EXPECT_EQ(u8(32), 6);     // pending version
  uint32_t crc = 0;
  for (int i = 3; i >= 0; --i) crc = (crc << 8) | u8(96 + i);
  EXPECT_EQ(crc, Crc32c(rec.data(), 96));
  ChunkMeta f = SampleMeta();
  f.committed->epoch = 0x0102;
  f.fallback = VersionPart{4, 1, 2, SlotAddress{16, 7}, false};
  std::string rec2 = EncodeChunkRecord(f);
  EXPECT_EQ(static_cast<uint8_t>(rec2[1]), 11);  // committed + pending + fallback
  EXPECT_EQ(static_cast<uint8_t>(rec2[56]), 4);  // fallback version
  EXPECT_EQ(static_cast<uint8_t>(rec2[72]), 16);  // fallback slot class
  EXPECT_EQ(static_cast<uint8_t>(rec2[80]), 0x02);  // committed epoch, little-endian
  EXPECT_EQ(static_cast<uint8_t>(rec2[81]), 0x01);
}

TEST(ChunkRecord, ReadsFormatVersion1) {
  // The 60-byte records of format version 1: the same first 56 bytes, the checksum at 56.
  std::string v2 = EncodeChunkRecord(SampleMeta());
  std::string v1 = v2.substr(0, 56);
  v1[0] = 1;
  uint32_t crc = Crc32c(v1.data(), 56);
  for (int i = 0; i < 4; ++i) v1.push_back(static_cast<char>(crc >> (8 * i)));
  auto back = DecodeChunkRecord(v1, TargetId(9), SampleMeta().chunk_id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, SampleMeta());
}

TEST(DurableEpochRecord, RoundTripsAndRejectsCorruption) {
  DurableEpoch d{123456789, "0c5a3f1e-7d9b-4a43-9d1c-2f6f6b8a9e10"};
  std::string rec = EncodeDurableEpoch(d);
  auto back = DecodeDurableEpoch(rec);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, d);
  std::string bad = rec;
  bad[3] ^= 1;
  EXPECT_EQ(DecodeDurableEpoch(bad).status().code(), StatusCode::kDataCorruption);
  EXPECT_EQ(DecodeDurableEpoch(rec.substr(0, 5)).status().code(), StatusCode::kDataCorruption);
}

// Re-encodes the checksum after a mutation, so the decoder's other rules are what fires.
std::string Mutate(std::string rec, size_t at, uint8_t value) {
  rec[at] = static_cast<char>(value);
  uint32_t crc = Crc32c(rec.data(), 96);
  for (int i = 0; i < 4; ++i) rec[96 + i] = static_cast<char>(crc >> (8 * i));
  return rec;
}

TEST(JournalRecord, MatchesTheDocumentedBytesAndRejectsCorruption) {
  JournalRecord r;
  r.target = TargetId(0x0102030405060708ull);
  r.chunk_id = ChunkId(std::string("abc"));
  r.version = 9;
  r.epoch = 0x1122;
  r.slot = SlotAddress{20, 0x01020304};
  r.offset = 8192;
  r.blocks.assign(4096, 0x5a);
  std::string key = EncodeJournalKey(r.target, r.chunk_id, r.version, r.epoch);
  EXPECT_EQ(key, std::string("J\x01\x02\x03\x04\x05\x06\x07\x08\x03"
                             "abc\0\0\0\0\0\0\0\x09\0\0\0\0\0\0\x11\x22",
                             1 + 8 + 1 + 3 + 16));
  std::string value = EncodeJournalValue(r);
  ASSERT_EQ(value.size(), 32u + 4096 + 4);
  EXPECT_EQ(value[0], 1);                         // record version
  EXPECT_EQ(static_cast<uint8_t>(value[2]), 20);  // slot class
  EXPECT_EQ(value.substr(4, 4), std::string("\x04\x03\x02\x01"));
  EXPECT_EQ(value.substr(16, 4), std::string("\0\x20\0\0", 4));  // offset 8192 LE
  EXPECT_EQ(value.substr(20, 4), std::string("\0\x10\0\0", 4));  // 4096 LE
  auto back = DecodeJournalRecord(key, value);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  // Records of one chunk sort by version, and before the next chunk id.
  EXPECT_LT(EncodeJournalKey(r.target, r.chunk_id, 9, 99),
            EncodeJournalKey(r.target, r.chunk_id, 10, 1));
  EXPECT_LT(EncodeJournalKey(r.target, r.chunk_id, 99, 1),
            EncodeJournalKey(r.target, ChunkId(std::string("abcd")), 1, 1));
  auto corrupt = [&](std::string k, std::string v) {
    return DecodeJournalRecord(k, v).status().code() == StatusCode::kDataCorruption;
  };
  std::string flipped = value;
  flipped[100] ^= 1;
  EXPECT_TRUE(corrupt(key, flipped)) << "a flipped block byte must fail the CRC";
  EXPECT_TRUE(corrupt(key, value.substr(0, value.size() - 1)));
  EXPECT_TRUE(corrupt(EncodeJournalKey(r.target, r.chunk_id, 10, r.epoch), value));
  EXPECT_TRUE(corrupt(key.substr(0, key.size() - 1), value));
  JournalRecord unaligned = r;
  unaligned.offset = 100;
  EXPECT_TRUE(corrupt(key, EncodeJournalValue(unaligned)));
  JournalRecord past = r;
  past.offset = 1u << 20;  // past the end of a 1 MiB slot
  EXPECT_TRUE(corrupt(key, EncodeJournalValue(past)));
}

TEST(ChunkRecord, RejectsEveryMalformedShape) {
  ChunkMeta m = SampleMeta();
  std::string good = EncodeChunkRecord(m);
  auto bad = [&](const std::string& rec) {
    auto r = DecodeChunkRecord(rec, m.target, m.chunk_id);
    return !r.ok() && r.status().code() == StatusCode::kDataCorruption;
  };
  std::string flipped = good;
  flipped[10] ^= 1;
  EXPECT_TRUE(bad(flipped)) << "checksum";
  EXPECT_TRUE(bad(good.substr(0, 99))) << "size";
  EXPECT_TRUE(bad(Mutate(good, 0, 3))) << "version";
  EXPECT_TRUE(bad(Mutate(good, 1, 0x0a))) << "fallback without committed part";
  EXPECT_TRUE(bad(Mutate(good, 60, 1))) << "absent fallback part not zero";
  EXPECT_TRUE(bad(Mutate(good, 1, 0))) << "no part";
  EXPECT_TRUE(bad(Mutate(good, 1, 0x13))) << "unknown flag";
  EXPECT_TRUE(bad(Mutate(Mutate(good, 1, 1), 88, 1))) << "epoch of an absent pending part";
  EXPECT_TRUE(bad(Mutate(good, 1, 0x05))) << "removal without pending";
  EXPECT_TRUE(bad(Mutate(good, 2, 15))) << "chunk size below 64 KiB";
  EXPECT_TRUE(bad(Mutate(good, 2, 27))) << "chunk size above 64 MiB";
  EXPECT_TRUE(bad(Mutate(good, 3, 1))) << "reserved";
  EXPECT_TRUE(bad(Mutate(good, 24, 21))) << "slot class above chunk size";
  EXPECT_TRUE(bad(Mutate(good, 24, 15))) << "slot class below 64 KiB";
  EXPECT_TRUE(bad(Mutate(good, 24, 0))) << "length without slot";
  EXPECT_TRUE(bad(Mutate(good, 25, 2))) << "part reserved bit";
  EXPECT_TRUE(bad(Mutate(good, 26, 1))) << "part reserved byte";
  EXPECT_TRUE(bad(Mutate(good, 18, 0x10))) << "length over chunk size";
  EXPECT_TRUE(bad(Mutate(good, 32, 5))) << "pending not above committed";
  EXPECT_TRUE(bad(Mutate(Mutate(good, 8, 0), 9, 0))) << "committed version 0";
  EXPECT_TRUE(bad(Mutate(Mutate(good, 1, 1), 40, 1))) << "absent pending part not zero";
  EXPECT_TRUE(bad(Mutate(good, 1, 0x07))) << "removal with data";
  ChunkMeta small_slot = m;
  small_slot.pending.reset();
  small_slot.committed->slot.class_log2 = 16;  // 70000 bytes do not fit 64 KiB
  EXPECT_TRUE(bad(EncodeChunkRecord(small_slot))) << "length over slot";
}

TEST(ChunkKey, EncodesTargetBigEndianThenTheId) {
  std::string key = EncodeChunkKey(TargetId(0x0102), ChunkId("xy"));
  ASSERT_EQ(key.size(), 11u);
  EXPECT_EQ(key[0], 'M');
  EXPECT_EQ(key[7], 0x01);
  EXPECT_EQ(key[8], 0x02);
  EXPECT_EQ(key.substr(9), "xy");
  auto back = DecodeChunkKey(key);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->first, TargetId(0x0102));
  EXPECT_EQ(back->second, ChunkId("xy"));
  EXPECT_LT(key, TargetKeyEnd(TargetId(0x0102)));
  EXPECT_GE(key, TargetKeyBegin(TargetId(0x0102)));
  EXPECT_LT(TargetKeyBegin(TargetId(UINT64_MAX)), TargetKeyEnd(TargetId(UINT64_MAX)));
  EXPECT_FALSE(DecodeChunkKey("M1234567").ok());
  EXPECT_FALSE(DecodeChunkKey(std::string("L") + std::string(9, 'a')).ok());
}

TEST(LayoutRecord, RoundTripsAndRejectsCorruption) {
  Layout layout = MakeLayout(256 << 20, 16, 12345);
  EXPECT_EQ(layout.slots_per_group[ClassIndex(16)], 4096u);
  EXPECT_EQ(layout.slots_per_group[ClassIndex(26)], 4u);
  Layout tiny = MakeLayout(1 << 20, 2, 0);
  EXPECT_EQ(tiny.slots_per_group[ClassIndex(26)], 1u);  // a class larger than a group
  std::string rec = EncodeLayout(layout);
  ASSERT_EQ(rec.size(), kLayoutRecordBytes);
  auto back = DecodeLayout(rec);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, layout);
  std::string bad = rec;
  bad[20] ^= 1;
  EXPECT_EQ(DecodeLayout(bad).status().code(), StatusCode::kDataCorruption);
  EXPECT_EQ(DecodeLayout(rec.substr(1)).status().code(), StatusCode::kDataCorruption);
}

}  // namespace
}  // namespace hf3fs::chunk
