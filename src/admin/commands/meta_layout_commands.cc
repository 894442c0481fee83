// Layout, maintenance and trash commands against a meta server: set-layout, get-layout,
// gc-status, statfs, fsck, trash-list, trash-restore.
#include <algorithm>
#include <map>
#include <iostream>

#include "admin/admin_command.h"
#include "admin/commands/meta_admin.h"
#include "client/mgmtd_client.h"
#include "client/routing_view.h"
#include "mgmtd.pb.h"
#include "storage.pb.h"

namespace hf3fs::admin {

namespace {

using nlohmann::json;

template <typename Rsp, typename Req>
MetaFn CallMeta(uint32_t method, Req req) {
  return [method, req](MetaCaller& c) -> net::awaitable<Result<json>> {
    auto r = co_await c.Call<Rsp>(method, req);
    if (!r.ok()) co_return r.status();
    co_return ToJson(*r);
  };
}

void AddSetLayout(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto layout = std::make_shared<meta::Layout>();
  auto table = std::make_shared<uint32_t>(0);
  auto chunk = std::make_shared<uint64_t>(1 << 20);
  auto stripe = std::make_shared<uint32_t>(1);
  auto* cmd = admin.add_subcommand("set-layout",
                                   "set a directory's default layout (or an empty file's layout)");
  cmd->add_option("path", *path, "path")->required();
  cmd->add_option("--chain-table", *table, "chain table id")->required();
  cmd->add_option("--chunk-size", *chunk, "chunk size in bytes")->capture_default_str();
  cmd->add_option("--stripe", *stripe, "chains per file")->capture_default_str();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, table, chunk, stripe, &ctx] {
    meta::SetAttrReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_follow(true);
    req.mutable_layout()->set_chain_table_id(*table);
    req.mutable_layout()->set_chunk_size(*chunk);
    req.mutable_layout()->set_stripe_size(*stripe);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::SetAttrRsp>(meta::META_SETATTR, req),
                                 [](const json&) { std::cout << "ok\n"; });
  });
}

void AddGetLayout(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto* cmd =
      admin.add_subcommand("get-layout", "show a file's layout or a directory's default layout");
  cmd->add_option("path", *path, "path")->required();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, &ctx] {
    meta::StatReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_follow(true);
    MetaFn fn = [req](MetaCaller& c) -> net::awaitable<Result<json>> {
      auto r = co_await c.Call<meta::StatRsp>(meta::META_STAT, req);
      if (!r.ok()) co_return r.status();
      bool dir = r->inode().type() == meta::INODE_DIRECTORY;
      co_return json{{"layout", ToJson(dir ? r->inode().default_layout() : r->inode().layout())},
                     {"default", dir}};
    };
    ctx.exit_code = RunMetaAdmin(*o, fn, [](const json& j) {
      std::cout << (j["default"].get<bool>() ? "default layout: " : "layout: ")
                << j["layout"].dump() << "\n";
    });
  });
}

void AddGcStatus(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto* cmd = admin.add_subcommand("gc-status", "how many removed inodes await deletion");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, &ctx] {
    ctx.exit_code = RunMetaAdmin(
        *o, CallMeta<meta::GcStatusRsp>(meta::META_GC_STATUS, meta::GcStatusReq()),
        [](const json& j) { std::cout << "queued: " << j["queued"].get<std::string>() << "\n"; });
  });
}

// With --mgmtd: lists every chunk on one serving replica of every chain and reports chunks whose
// inode meta does not have (chunks without inodes: a lost GC, or a failed create).
net::awaitable<Result<json>> ScanChunks(MetaCaller& c, const std::string& mgmtd_addr) {
  HF3FS_CO_TRY_ASSIGN(auto maddr, net::Address::Parse(mgmtd_addr));
  client::MgmtdClient mgmtd(c.rpc, {maddr});
  HF3FS_CO_TRY_ASSIGN(auto routing, co_await mgmtd.Call<mgmtd::GetRoutingInfoRsp>(
                                        mgmtd::MGMTD_GET_ROUTING_INFO, mgmtd::GetRoutingInfoReq()));
  client::RoutingView view(std::make_shared<mgmtd::RoutingInfo>(routing.info()));
  std::map<uint64_t, std::map<uint32_t, uint64_t>> chunks;  // inode -> chain -> chunk count
  uint64_t total = 0;
  for (const auto& chain : routing.info().chains()) {
    TargetId t = client::RoutingView::Head(chain);
    if (!t.valid()) {
      co_return MakeStatus(StatusCode::kUnavailable, "chain {} has no serving target",
                           chain.chain_id());
    }
    HF3FS_CO_TRY_ASSIGN(auto addr, view.TargetAddress(t));
    storage::ListChunkMetaReq req;
    req.set_target_id(t.value());
    req.set_limit(4096);
    for (;;) {
      HF3FS_CO_TRY_ASSIGN(auto rsp,
                          co_await c.rpc.Call<storage::ListChunkMetaRsp>(
                              addr, rpc::SERVICE_STORAGE, storage::STORAGE_LIST_CHUNK_META, req));
      for (const auto& m : rsp.metas()) {
        const std::string& id = m.chunk_id();
        if (id.size() != 16) continue;  // not a file chunk
        uint64_t inode = 0;
        for (int i = 0; i < 8; ++i) inode = (inode << 8) | static_cast<uint8_t>(id[i]);
        ++chunks[inode][chain.chain_id()];
        ++total;
      }
      if (!rsp.more()) break;
      req.set_begin(rsp.next());
    }
  }
  json orphans = json::array();
  std::vector<uint64_t> ids;
  for (const auto& [inode, _] : chunks) ids.push_back(inode);
  for (size_t i = 0; i < ids.size(); i += 512) {
    meta::BatchStatReq req;
    for (size_t k = i; k < std::min(ids.size(), i + 512); ++k) req.add_inode_ids(ids[k]);
    HF3FS_CO_TRY_ASSIGN(auto rsp, co_await c.Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, req));
    for (int k = 0; k < rsp.inodes_size(); ++k) {
      if (rsp.inodes(k).id() != 0) continue;
      uint64_t inode = req.inode_ids(k);
      for (const auto& [chain, n] : chunks[inode]) {
        orphans.push_back(json{{"inode", std::to_string(inode)}, {"chain", chain}, {"chunks", n}});
      }
    }
  }
  co_return json{{"chunks", std::to_string(total)}, {"orphan_chunks", orphans}};
}

void AddFsck(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto mgmtd = std::make_shared<std::string>();
  auto* cmd = admin.add_subcommand(
      "fsck",
      "check the namespace's invariants, and with --mgmtd also look for chunks without inodes "
      "(exit code 2 when problems are found)");
  AddMetaOptions(cmd, *o);
  cmd->add_option("--mgmtd", *mgmtd,
                  "mgmtd address: also scan one replica of every chain for chunks whose inode "
                  "does not exist");
  cmd->callback([o, mgmtd, &ctx] {
    auto problems = std::make_shared<bool>(false);
    std::string m = *mgmtd;
    MetaFn fn = [m, problems](MetaCaller& c) -> net::awaitable<Result<json>> {
      auto r = co_await c.Call<meta::FsckRsp>(meta::META_FSCK, meta::FsckReq());
      if (!r.ok()) co_return r.status();
      json j{{"inodes", std::to_string(r->inodes())},
             {"entries", std::to_string(r->entries())},
             {"gc_entries", std::to_string(r->gc_entries())},
             {"sessions", std::to_string(r->sessions())},
             {"problems", json::array()}};
      for (const auto& p : r->problems()) j["problems"].push_back(p);
      if (r->problems_total() > static_cast<uint64_t>(r->problems_size())) {
        j["problems"].push_back(
            fmt::format("... and {} more namespace problems (meta lists the "
                        "first {})",
                        r->problems_total() - r->problems_size(), r->problems_size()));
      }
      if (!m.empty()) {
        auto scan = co_await ScanChunks(c, m);
        if (!scan.ok()) co_return scan.status().WithContext("chunk scan");
        j["chunks"] = (*scan)["chunks"];
        j["orphan_chunks"] = (*scan)["orphan_chunks"];
        for (const auto& o : (*scan)["orphan_chunks"]) {
          j["problems"].push_back(fmt::format("{} chunks of inode {} on chain {} have no inode",
                                              o["chunks"].get<uint64_t>(),
                                              o["inode"].get<std::string>(),
                                              o["chain"].get<uint32_t>()));
        }
      }
      *problems = !j["problems"].empty();  // exit code 2, also with --json
      co_return j;
    };
    ctx.exit_code = RunMetaAdmin(*o, fn, [](const json& j) {
      std::cout << "inodes " << j["inodes"].get<std::string>() << ", entries "
                << j["entries"].get<std::string>() << ", gc queue "
                << j["gc_entries"].get<std::string>();
      if (j.contains("chunks")) std::cout << ", chunks " << j["chunks"].get<std::string>();
      std::cout << "\n";
      for (const auto& p : j["problems"]) std::cout << "problem: " << p.get<std::string>() << "\n";
      if (j["problems"].empty()) std::cout << "clean\n";
    });
    if (ctx.exit_code == kExitOk && *problems) ctx.exit_code = 2;
  });
}

void AddTrashList(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto* cmd = admin.add_subcommand("trash-list", "list entries in the trash (root: everyone's)");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, &ctx] {
    meta::ListTrashReq req;
    *req.mutable_user() = o->User();
    MetaFn fn = [req](MetaCaller& c) -> net::awaitable<Result<json>> {
      auto r = co_await c.Call<meta::ListTrashRsp>(meta::META_LIST_TRASH, req);
      if (!r.ok()) co_return r.status();
      json entries = json::array();
      for (const auto& t : r->entries()) {
        entries.push_back(json{{"inode_id", std::to_string(t.inode_id())},
                               {"uid", t.uid()},
                               {"original_parent", std::to_string(t.original_parent())},
                               {"original_name", t.original_name()},
                               {"trash_name", t.trash_name()},
                               {"expires_ns", t.expires_ns()}});
      }
      co_return json{{"entries", entries}};
    };
    ctx.exit_code = RunMetaAdmin(*o, fn, [](const json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : j["entries"]) {
        rows.push_back({e["inode_id"].get<std::string>(), std::to_string(e["uid"].get<uint32_t>()),
                        e["original_name"].get<std::string>(), e["trash_name"].get<std::string>()});
      }
      PrintTable({"INODE", "UID", "NAME", "IN TRASH AS"}, rows);
    });
  });
}

void AddTrashRestore(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto inode = std::make_shared<uint64_t>(0);
  auto* cmd = admin.add_subcommand("trash-restore", "move an entry back from the trash");
  cmd->add_option("inode", *inode, "inode id (from trash-list)")->required();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, inode, &ctx] {
    meta::RestoreTrashReq req;
    *req.mutable_user() = o->User();
    req.set_inode_id(*inode);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::RestoreTrashRsp>(meta::META_RESTORE_TRASH, req),
                                 [](const json&) { std::cout << "restored\n"; });
  });
}

void AddSetQuota(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto bytes = std::make_shared<uint64_t>(0);
  auto inodes = std::make_shared<uint64_t>(0);
  auto* cmd = admin.add_subcommand(
      "set-quota", "set a directory's quota (a first quota needs an empty directory; 0: no limit)");
  cmd->add_option("path", *path, "directory")->required();
  cmd->add_option("--bytes", *bytes, "most bytes below it (0: unlimited)");
  cmd->add_option("--inodes", *inodes, "most inodes below it (0: unlimited)");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, bytes, inodes, &ctx] {
    meta::SetQuotaReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_max_bytes(*bytes);
    req.set_max_inodes(*inodes);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::SetQuotaRsp>(meta::META_SET_QUOTA, req),
                                 [](const json&) { std::cout << "ok\n"; });
  });
}

void AddGetQuota(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto* cmd = admin.add_subcommand("get-quota", "show a directory's quota and usage");
  cmd->add_option("path", *path, "directory")->required();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, &ctx] {
    meta::GetQuotaReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    ctx.exit_code =
        RunMetaAdmin(*o, CallMeta<meta::GetQuotaRsp>(meta::META_GET_QUOTA, req), [](const json& j) {
          if (!j["has_quota"].get<bool>()) {
            std::cout << "no quota\n";
            return;
          }
          std::cout << "bytes " << j["used_bytes"].get<std::string>() << " / "
                    << j["max_bytes"].get<std::string>() << ", inodes "
                    << j["used_inodes"].get<std::string>() << " / "
                    << j["max_inodes"].get<std::string>() << " (0: unlimited)\n";
        });
  });
}

void AddStatFs(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto* cmd = admin.add_subcommand(
      "statfs", "capacity of the file system (usable bytes after replication; zeros when the meta "
                "server has no storage access)");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, &ctx] {
    meta::StatFsReq req;
    *req.mutable_user() = o->User();
    MetaFn fn = [req](MetaCaller& c) -> net::awaitable<Result<json>> {
      auto r = co_await c.Call<meta::StatFsRsp>(meta::META_STATFS, req);
      if (!r.ok()) co_return r.status();
      // Numbers, not the strings of proto JSON, so scripts compare them directly.
      co_return json{{"total_bytes", r->total_bytes()},
                     {"free_bytes", r->free_bytes()},
                     {"used_bytes", r->total_bytes() - std::min(r->free_bytes(), r->total_bytes())},
                     {"used_inodes", r->used_inodes()}};
    };
    ctx.exit_code = RunMetaAdmin(*o, fn, [](const json& j) {
      std::cout << "total: " << j["total_bytes"].get<uint64_t>()
                << " bytes\nfree: " << j["free_bytes"].get<uint64_t>()
                << " bytes\nused: " << j["used_bytes"].get<uint64_t>() << " bytes\n";
    });
  });
}

}  // namespace

void AddMetaLayoutCommands(CLI::App& admin, CliContext& ctx) {
  AddSetLayout(admin, ctx);
  AddGetLayout(admin, ctx);
  AddGcStatus(admin, ctx);
  AddStatFs(admin, ctx);
  AddFsck(admin, ctx);
  AddTrashList(admin, ctx);
  AddTrashRestore(admin, ctx);
  AddSetQuota(admin, ctx);
  AddGetQuota(admin, ctx);
}

}  // namespace hf3fs::admin
