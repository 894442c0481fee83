// Namespace commands against a meta server: ls, stat, mkdir, rm, mv, set-layout, get-layout,
// gc-status, fsck.
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

void PrintOk(const json&) { std::cout << "ok\n"; }

// Every entry of a directory, page by page, with attributes.
MetaFn ListFn(meta::ReaddirReq req) {
  return [req](MetaCaller& c) mutable -> net::awaitable<Result<json>> {
    json entries = json::array();
    while (true) {
      auto r = co_await c.Call<meta::ReaddirRsp>(meta::META_READDIR, req);
      if (!r.ok()) co_return r.status();
      for (const auto& e : r->entries()) {
        entries.push_back(json{{"name", e.name()},
                               {"inode_id", std::to_string(e.inode_id())},
                               {"type", meta::InodeType_Name(e.type())},
                               {"inode", InodeJson(e.inode())}});
      }
      if (!r->has_more()) break;
      req.set_cursor(r->entries(r->entries_size() - 1).name());
    }
    co_return json{{"entries", entries}};
  };
}

void PrintEntries(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : j["entries"]) {
    const auto& i = e["inode"];
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", i["mode"].get<uint32_t>());
    rows.push_back({e["name"].get<std::string>(), e["type"].get<std::string>(),
                    e["inode_id"].get<std::string>(), mode,
                    std::to_string(i["uid"].get<uint32_t>()),
                    std::to_string(i["gid"].get<uint32_t>()), i["length"].get<std::string>()});
  }
  PrintTable({"NAME", "TYPE", "INODE", "MODE", "UID", "GID", "LENGTH"}, rows);
}

void AddLs(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>("/");
  auto* cmd = admin.add_subcommand("ls", "list a directory of the namespace");
  cmd->add_option("path", *path, "directory")->capture_default_str();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, &ctx] {
    meta::ReaddirReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_with_inodes(true);
    ctx.exit_code = RunMetaAdmin(*o, ListFn(req), PrintEntries);
  });
}

void AddStat(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto no_follow = std::make_shared<bool>(false);
  auto* cmd = admin.add_subcommand("stat", "show an inode of the namespace");
  cmd->add_option("path", *path, "path")->required();
  cmd->add_flag("--no-follow", *no_follow, "do not follow a final symlink");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, no_follow, &ctx] {
    meta::StatReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_follow(!*no_follow);
    MetaFn fn = [req](MetaCaller& c) -> net::awaitable<Result<json>> {
      auto r = co_await c.Call<meta::StatRsp>(meta::META_STAT, req);
      if (!r.ok()) co_return r.status();
      co_return json{{"inode", InodeJson(r->inode())}};
    };
    ctx.exit_code =
        RunMetaAdmin(*o, fn, [](const json& j) { std::cout << j["inode"].dump(2) << "\n"; });
  });
}

void AddMkdir(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto parents = std::make_shared<bool>(false);
  auto mode = std::make_shared<std::string>("0755");
  auto* cmd = admin.add_subcommand("mkdir", "create a directory");
  cmd->add_option("path", *path, "path")->required();
  cmd->add_flag("-p,--parents", *parents, "create missing parents; no error if it exists");
  cmd->add_option("--mode", *mode, "permission bits (octal)")->capture_default_str();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, parents, mode, &ctx] {
    meta::MkdirReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_mode(std::stoul(*mode, nullptr, 8));
    req.set_recursive(*parents);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::MkdirRsp>(meta::META_MKDIR, req), PrintOk);
  });
}

void AddRm(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto path = std::make_shared<std::string>();
  auto recursive = std::make_shared<bool>(false);
  auto dir = std::make_shared<bool>(false);
  auto trash = std::make_shared<bool>(false);
  auto* cmd = admin.add_subcommand("rm", "remove a file, an empty directory (-d) or a tree (-r)");
  cmd->add_flag("--trash", *trash, "move it to the trash instead (see trash-list)");
  cmd->add_option("path", *path, "path")->required();
  cmd->add_flag("-r,--recursive", *recursive, "remove a directory and everything below it");
  cmd->add_flag("-d,--dir", *dir, "remove an empty directory");
  AddMetaOptions(cmd, *o);
  cmd->callback([o, path, recursive, dir, trash, &ctx] {
    meta::RemoveReq req;
    *req.mutable_user() = o->User();
    *req.mutable_path() = MetaPath(*path);
    req.set_kind(*recursive ? meta::REMOVE_RECURSIVE
                            : (*dir ? meta::REMOVE_RMDIR : meta::REMOVE_UNLINK));
    req.set_to_trash(*trash);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::RemoveRsp>(meta::META_REMOVE, req), PrintOk);
  });
}

void AddMv(CLI::App& admin, CliContext& ctx) {
  auto o = std::make_shared<MetaOptions>();
  auto src = std::make_shared<std::string>();
  auto dst = std::make_shared<std::string>();
  auto* cmd = admin.add_subcommand("mv", "rename (move) a file or directory atomically");
  cmd->add_option("src", *src, "source path")->required();
  cmd->add_option("dst", *dst, "destination path")->required();
  AddMetaOptions(cmd, *o);
  cmd->callback([o, src, dst, &ctx] {
    meta::RenameReq req;
    *req.mutable_user() = o->User();
    *req.mutable_src() = MetaPath(*src);
    *req.mutable_dst() = MetaPath(*dst);
    ctx.exit_code = RunMetaAdmin(*o, CallMeta<meta::RenameRsp>(meta::META_RENAME, req), PrintOk);
  });
}

}  // namespace

void AddMetaLayoutCommands(CLI::App& admin, CliContext& ctx);

void AddMetaCommands(CLI::App& admin, CliContext& ctx) {
  AddLs(admin, ctx);
  AddStat(admin, ctx);
  AddMkdir(admin, ctx);
  AddRm(admin, ctx);
  AddMv(admin, ctx);
  AddMetaLayoutCommands(admin, ctx);
}

}  // namespace hf3fs::admin
