// Layout, maintenance and trash commands against a meta server: set-layout, get-layout,
// gc-status, statfs, fsck, trash-list, trash-restore.
#include <algorithm>
#include <iostream>

#include "admin/admin_command.h"
#include "admin/commands/meta_admin.h"

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

void AddFsck(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto* cmd = admin.add_subcommand(
      "fsck", "check the namespace's invariants (exit code 2 when problems are found)");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, &ctx] {
    bool problems = false;
    ctx.exit_code = RunMetaAdmin(
        *o, CallMeta<meta::FsckRsp>(meta::META_FSCK, meta::FsckReq()), [&problems](const json& j) {
          std::cout << "inodes " << j["inodes"].get<std::string>() << ", entries "
                    << j["entries"].get<std::string>() << ", gc queue "
                    << j["gc_entries"].get<std::string>() << "\n";
          for (const auto& p : j["problems"])
            std::cout << "problem: " << p.get<std::string>() << "\n";
          problems = !j["problems"].empty();
          if (!problems) std::cout << "clean\n";
        });
    if (ctx.exit_code == kExitOk && problems) ctx.exit_code = 2;
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
