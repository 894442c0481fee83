// Administration ops: fsck of the whole namespace and the GC queue length (for `hf3fs admin fsck`
// and `hf3fs admin gc-status`).
#include "meta/background/gc.h"
#include "meta/fsck.h"
#include "meta/ops/ops.h"

namespace hf3fs::meta {

Result<FsckRsp> FsckOp(OpContext& ctx, const FsckReq&) {
  HF3FS_TRY_ASSIGN(auto report, Fsck(ctx.engine));
  FsckRsp rsp;
  rsp.set_inodes(report.inodes);
  rsp.set_entries(report.entries);
  rsp.set_gc_entries(report.gc_entries);
  rsp.set_sessions(report.sessions);
  // The reply lists a bounded number (a badly damaged namespace could name millions); the total
  // says how many there are.
  constexpr size_t kMaxListed = 1000;
  rsp.set_problems_total(report.problems.size());
  for (size_t i = 0; i < report.problems.size() && i < kMaxListed; ++i) {
    rsp.add_problems(std::move(report.problems[i]));
  }
  return rsp;
}

Result<GcStatusRsp> GcStatus(OpContext& ctx, const GcStatusReq&) {
  HF3FS_TRY_ASSIGN(uint64_t n, GcQueueLength(ctx));
  GcStatusRsp rsp;
  rsp.set_queued(n);
  return rsp;
}

}  // namespace hf3fs::meta
