// libFuzzer target for the request bodies the meta service parses: every method's request, as
// the bytes a client sends, run against a namespace in the in-memory KV store.
//
// An input is a sequence of at most kMaxOps records, each
//   op (1 byte, a MetaMethod number; 0 runs a GC pass) | length (2 bytes, little endian) | body
// and each body is parsed as that method's request and run, as the service would after parsing
// it (the service's storage steps, truncating chunks and asking storage for lengths, are left
// out: they act on storage, not on the namespace). Every sequence starts from a fresh namespace
// holding /d (0777), /d/f, /l -> d and /q (a quota directory). Whatever the requests, nothing may
// crash and the namespace must pass fsck afterwards: a request that leaves it inconsistent is a
// finding like a crash.
//
// With HF3FS_FUZZ_EMIT_SEEDS=<dir> set, the binary writes well-formed seed inputs there and exits
// (tests/fuzz/corpus/meta_ops was made this way).
#include <fcntl.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "kv/memory/memory_engine.h"
#include "meta.pb.h"
#include "meta/background/gc.h"
#include "meta/fsck.h"
#include "meta/ops/ops.h"
#include "meta/quota.h"
#include "records.h"

namespace {

using namespace hf3fs;
using namespace hf3fs::meta;

constexpr size_t kMaxOps = 16;

struct World {
  std::unique_ptr<kv::Engine> engine = kv::OpenMemoryEngine();
  kv::RetryOptions retry{.max_attempts = 3};
  InodeAllocator inodes{*engine, retry};
  ChainAllocator chains;
  int64_t clock_ns = 1'700'000'000'000'000'000;
  uint64_t next_session = 1;
  OpContext ctx{*engine,
                retry,
                inodes,
                chains,
                {},
                [this] { return clock_ns += 1'000'000; },
                [this] { return next_session++; },
                RootLayout()};

  static Layout RootLayout() {
    Layout l;
    l.set_chain_table_id(1);
    l.set_chain_table_version(1);
    l.set_chunk_size(1 << 20);
    l.set_stripe_size(2);
    return l;
  }
};

UserInfo Root() { return UserInfo(); }

PathAt P(const char* path) {
  PathAt p;
  p.set_path(path);
  return p;
}

void Must(const Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "fuzz_meta_ops: setting up %s failed: %s\n", what, st.ToString().c_str());
    std::abort();
  }
}

void Populate(World& w) {
  Must(InitNamespace(w.ctx), "the root");
  MkdirReq d;
  *d.mutable_user() = Root();
  *d.mutable_path() = P("/d");
  d.set_mode(0777);
  Must(Mkdir(w.ctx, d).status(), "/d");
  CreateReq f;
  *f.mutable_user() = Root();
  *f.mutable_path() = P("/d/f");
  f.set_flags(O_CREAT | O_WRONLY);
  f.set_mode(0666);
  Must(Create(w.ctx, f).status(), "/d/f");
  SymlinkReq l;
  *l.mutable_user() = Root();
  *l.mutable_path() = P("/l");
  l.set_target("d");
  Must(Symlink(w.ctx, l).status(), "/l");
  d.mutable_path()->set_path("/q");
  Must(Mkdir(w.ctx, d).status(), "/q");
  SetQuotaReq q;
  *q.mutable_user() = Root();
  *q.mutable_path() = P("/q");
  q.set_max_inodes(4);
  q.set_max_bytes(1 << 20);
  Must(SetQuota(w.ctx, q).status(), "the quota of /q");
}

// HF3FS_FUZZ_VERBOSE=1: print every request and its outcome (to read a finding).
const bool kVerbose = std::getenv("HF3FS_FUZZ_VERBOSE") != nullptr;

template <typename Req, typename Fn>
void Run(World& w, std::span<const uint8_t> body, Fn fn) {
  Req req;
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
  auto r = fn(w.ctx, req);
  if (kVerbose) {
    std::fprintf(stderr, "%s { %s } -> %s\n", req.GetTypeName().c_str(),
                 req.ShortDebugString().c_str(),
                 r.ok() ? r->ShortDebugString().c_str() : r.status().ToString().c_str());
  }
}

void RunOne(World& w, uint8_t op, std::span<const uint8_t> body) {
  switch (op) {
    case 0: {
      GcOptions o;
      o.delay = {};
      (void)RunGcOnce(w.ctx, o);
      break;
    }
    case META_STAT:
      Run<StatReq>(w, body, Stat);
      break;
    case META_BATCH_STAT:
      Run<BatchStatReq>(w, body, BatchStat);
      break;
    case META_BATCH_STAT_BY_PATH:
      Run<BatchStatByPathReq>(w, body, BatchStatByPath);
      break;
    case META_CREATE:
      Run<CreateReq>(w, body, Create);
      break;
    case META_OPEN:
      Run<OpenReq>(w, body, Open);
      break;
    case META_CLOSE:
      Run<CloseReq>(w, body, Close);
      break;
    case META_SYNC:
      Run<CloseReq>(w, body, Sync);
      break;
    case META_CLOSE_BATCH:
      Run<CloseBatchReq>(w, body, CloseBatch);
      break;
    case META_MKDIR:
      Run<MkdirReq>(w, body, Mkdir);
      break;
    case META_SYMLINK:
      Run<SymlinkReq>(w, body, Symlink);
      break;
    case META_READLINK:
      Run<ReadlinkReq>(w, body, Readlink);
      break;
    case META_MKNOD:
      Run<MknodReq>(w, body, Mknod);
      break;
    case META_LINK:
      Run<LinkReq>(w, body, Link);
      break;
    case META_REMOVE:
      Run<RemoveReq>(w, body, Remove);
      break;
    case META_RENAME:
      Run<RenameReq>(w, body, Rename);
      break;
    case META_READDIR:
      Run<ReaddirReq>(w, body, Readdir);
      break;
    case META_SETATTR:
      Run<SetAttrReq>(w, body, SetAttr);
      break;
    case META_GET_XATTR:
      Run<GetXattrReq>(w, body, GetXattr);
      break;
    case META_SET_XATTR:
      Run<SetXattrReq>(w, body, SetXattr);
      break;
    case META_LIST_XATTR:
      Run<ListXattrReq>(w, body, ListXattr);
      break;
    case META_REMOVE_XATTR:
      Run<RemoveXattrReq>(w, body, RemoveXattr);
      break;
    case META_GET_REAL_PATH:
      Run<GetRealPathReq>(w, body, GetRealPath);
      break;
    case META_FSCK:
      Run<FsckReq>(w, body, FsckOp);
      break;
    case META_GC_STATUS:
      Run<GcStatusReq>(w, body, GcStatus);
      break;
    case META_LIST_TRASH:
      Run<ListTrashReq>(w, body, ListTrash);
      break;
    case META_RESTORE_TRASH:
      Run<RestoreTrashReq>(w, body, RestoreTrash);
      break;
    case META_SET_QUOTA:
      Run<SetQuotaReq>(w, body, SetQuota);
      break;
    case META_GET_QUOTA:
      Run<GetQuotaReq>(w, body, GetQuota);
      break;
    case META_FLOCK:
      Run<FlockReq>(w, body, Flock);
      break;
    default:
      break;  // META_STATFS has an empty body and asks storage
  }
}

// ---- seeds ----

UserInfo Alice() {
  UserInfo u;
  u.set_uid(1000);
  u.set_gid(1000);
  return u;
}

void EmitSeeds(const char* dir) {
  fuzz::SeedWriter seeds(dir);

  for (const UserInfo& u : {Root(), Alice()}) {
    std::vector<uint8_t> in;
    CreateReq c;
    *c.mutable_user() = u;
    *c.mutable_path() = P("/d/g");
    c.set_flags(O_CREAT | O_RDWR);
    c.set_mode(0644);
    fuzz::AppendRecord(in, META_CREATE, c);
    MkdirReq m;
    *m.mutable_user() = u;
    *m.mutable_path() = P("/d/e/x");
    m.set_mode(0755);
    m.set_recursive(true);
    fuzz::AppendRecord(in, META_MKDIR, m);
    RenameReq r;
    *r.mutable_user() = u;
    *r.mutable_src() = P("/d/g");
    *r.mutable_dst() = P("/d/e/x/g");
    fuzz::AppendRecord(in, META_RENAME, r);
    LinkReq l;
    *l.mutable_user() = u;
    *l.mutable_old_path() = P("/d/f");
    *l.mutable_new_path() = P("/q/f2");
    fuzz::AppendRecord(in, META_LINK, l);
    SetXattrReq x;
    *x.mutable_user() = u;
    *x.mutable_path() = P("/l/f");
    x.set_name("user.k");
    x.set_value("v");
    fuzz::AppendRecord(in, META_SET_XATTR, x);
    SetAttrReq s;
    *s.mutable_user() = u;
    *s.mutable_path() = P("/d/f");
    s.set_length(12345);
    fuzz::AppendRecord(in, META_SETATTR, s);
    OpenReq o;
    *o.mutable_user() = u;
    *o.mutable_path() = P("/d/f");
    o.set_flags(O_WRONLY);
    fuzz::AppendRecord(in, META_OPEN, o);
    RemoveReq rm;
    *rm.mutable_user() = u;
    *rm.mutable_path() = P("/d");
    rm.set_kind(REMOVE_RECURSIVE);
    fuzz::AppendRecord(in, META_REMOVE, rm);
    ReaddirReq rd;
    *rd.mutable_user() = u;
    *rd.mutable_path() = P("/");
    fuzz::AppendRecord(in, META_READDIR, rd);
    fuzz::AppendRecord(in, 0, GcStatusReq());
    fuzz::AppendRecord(in, META_FSCK, FsckReq());
    seeds.Write(in);
  }
  {
    std::vector<uint8_t> in;
    CreateReq c;
    *c.mutable_user() = Alice();
    c.set_flags(O_CREAT | O_WRONLY);
    c.set_mode(0600);
    for (const char* p : {"/q/a", "/q/b", "/q/c", "/q/d", "/q/e"}) {
      *c.mutable_path() = P(p);
      fuzz::AppendRecord(in, META_CREATE, c);
    }
    GetQuotaReq g;
    *g.mutable_user() = Root();
    *g.mutable_path() = P("/q");
    fuzz::AppendRecord(in, META_GET_QUOTA, g);
    RemoveReq rm;
    *rm.mutable_user() = Root();
    *rm.mutable_path() = P("/q/a");
    fuzz::AppendRecord(in, META_REMOVE, rm);
    ListTrashReq t;
    *t.mutable_user() = Root();
    fuzz::AppendRecord(in, META_LIST_TRASH, t);
    seeds.Write(in);
  }
  {
    std::vector<uint8_t> in;
    StatReq st;
    *st.mutable_user() = Alice();
    *st.mutable_path() = P("/l/f");
    fuzz::AppendRecord(in, META_STAT, st);
    BatchStatByPathReq b;
    *b.mutable_user() = Alice();
    *b.add_paths() = P("/d/f");
    *b.add_paths() = P("/nope");
    fuzz::AppendRecord(in, META_BATCH_STAT_BY_PATH, b);
    ReadlinkReq rl;
    *rl.mutable_user() = Alice();
    *rl.mutable_path() = P("/l");
    fuzz::AppendRecord(in, META_READLINK, rl);
    GetRealPathReq rp;
    *rp.mutable_user() = Alice();
    *rp.mutable_path() = P("/l/f");
    fuzz::AppendRecord(in, META_GET_REAL_PATH, rp);
    MknodReq mk;
    *mk.mutable_user() = Alice();
    *mk.mutable_path() = P("/d/fifo");
    mk.set_type(INODE_FIFO);
    mk.set_mode(0644);
    fuzz::AppendRecord(in, META_MKNOD, mk);
    seeds.Write(in);
  }
  {
    std::vector<uint8_t> in;  // RENAME_EXCHANGE across directories and into a quota directory
    MkdirReq m;
    *m.mutable_user() = Alice();
    *m.mutable_path() = P("/d/sub");
    m.set_mode(0777);
    fuzz::AppendRecord(in, META_MKDIR, m);
    RenameReq x;
    *x.mutable_user() = Alice();
    *x.mutable_src() = P("/d/f");
    *x.mutable_dst() = P("/d/sub");
    x.set_exchange(true);
    fuzz::AppendRecord(in, META_RENAME, x);
    *x.mutable_src() = P("/d/f");
    *x.mutable_dst() = P("/q");
    fuzz::AppendRecord(in, META_RENAME, x);
    *x.mutable_user() = Root();
    *x.mutable_src() = P("/l");
    *x.mutable_dst() = P("/d/f/..");
    fuzz::AppendRecord(in, META_RENAME, x);
    seeds.Write(in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("HF3FS_FUZZ_EMIT_SEEDS")) {
    EmitSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World w;
  Populate(w);
  fuzz::ForEachRecord(
      {data, size}, kMaxOps,
      [&](size_t, uint8_t op, std::span<const uint8_t> body) { RunOne(w, op, body); });
  auto report = Fsck(*w.engine);
  if (!report.ok()) {
    std::fprintf(stderr, "fuzz_meta_ops: fsck failed: %s\n", report.status().ToString().c_str());
    std::abort();
  }
  if (!report->clean()) {
    for (const auto& p : report->problems) std::fprintf(stderr, "fsck problem: %s\n", p.c_str());
    std::abort();
  }
  return 0;
}
