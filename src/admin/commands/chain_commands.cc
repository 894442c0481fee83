// create-targets, list-targets, upload-chains, upload-chain-table, update-chain, rotate-lastsrv,
// set-preferred-order, shutdown-all-chains, list-chains, list-chain-tables.
#include <iostream>

#include "admin/admin_command.h"
#include "admin/commands/csv.h"

namespace hf3fs::admin {
namespace {

struct Args {
  AdminOptions o;
  std::string file;
  uint64_t target_id = 0;
  uint32_t node_id = 0, disk = 0, chain_id = 0, table_id = 0;
  std::string description;
  std::vector<uint64_t> ids;
  bool orphans = false, rotate = false, remove = false;
};

void PrintOk(const nlohmann::json&) { std::cout << "ok\n"; }

int Usage(CliContext& ctx, const Status& st) {
  std::cerr << "hf3fs admin: " << st.ToString() << "\n";
  return ctx.exit_code = kExitUsage;
}

std::string ChainLine(const nlohmann::json& c) {
  std::string out;
  for (auto& t : c["targets"]) {
    out += (out.empty() ? "" : " ") + t["target_id"].get<std::string>() + ":" +
           t["state"].get<std::string>();
  }
  return out;
}

void PrintChain(const nlohmann::json& j) {
  auto& c = j["chain"];
  std::cout << "chain " << c["chain_id"] << " version " << c["version"] << ": " << ChainLine(c)
            << "\n";
}

}  // namespace

void AddChainCommands(CLI::App& admin, CliContext& ctx) {
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "create-targets", "create targets from a CSV file (target_id,node_id,disk_index), or one "
                          "target with --target-id/--node-id/--disk");
    cmd->alias("create-target");
    cmd->add_option("--file", a->file, "CSV written by gen-placement (targets.csv)");
    cmd->add_option("--target-id", a->target_id, "target id");
    cmd->add_option("--node-id", a->node_id, "storage node id");
    cmd->add_option("--disk", a->disk, "disk index on the node");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::CreateTargetsReq req;
      if (!a->file.empty()) {
        auto rows = ReadCsv(a->file);
        if (!rows.ok()) return (void)Usage(ctx, rows.status());
        for (auto& r : *rows) {
          if (r.size() != 3) {
            return (void)Usage(ctx, Status(StatusCode::kInvalidArgument,
                                           "targets CSV rows are target_id,node_id,disk_index"));
          }
          auto* t = req.add_targets();
          t->set_target_id(r[0]);
          t->set_node_id(static_cast<uint32_t>(r[1]));
          t->set_disk_index(static_cast<uint32_t>(r[2]));
        }
      } else if (a->target_id && a->node_id) {
        auto* t = req.add_targets();
        t->set_target_id(a->target_id);
        t->set_node_id(a->node_id);
        t->set_disk_index(a->disk);
      } else {
        return (void)Usage(ctx, Status(StatusCode::kInvalidArgument,
                                       "give --file, or --target-id and --node-id"));
      }
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::CreateTargetsRsp>(mgmtd::MGMTD_CREATE_TARGETS, req), PrintOk);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("list-targets", "list targets with their states and space");
    cmd->add_flag("--orphans", a->orphans, "only targets that belong to no chain");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::ListTargetsReq req;
      req.set_orphans_only(a->orphans);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::ListTargetsRsp>(mgmtd::MGMTD_LIST_TARGETS, req),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& t : j["targets"]) {
              rows.push_back({t["target_id"].get<std::string>(), t["node_id"].dump(),
                              t["disk_index"].dump(), t["chain_id"].dump(),
                              t["public_state"].get<std::string>(),
                              t["local_state"].get<std::string>(),
                              t["used_bytes"].get<std::string>()});
            }
            PrintTable({"TARGET", "NODE", "DISK", "CHAIN", "PUBLIC", "LOCAL", "USED"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "upload-chains", "create chains from a CSV file (chain_id,target_id,target_id,...)");
    cmd->add_option("file", a->file, "CSV written by gen-placement (chains.csv)")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto rows = ReadCsv(a->file);
      if (!rows.ok()) return (void)Usage(ctx, rows.status());
      mgmtd::UploadChainsReq req;
      for (auto& r : *rows) {
        if (r.size() < 2) {
          return (void)Usage(ctx, Status(StatusCode::kInvalidArgument,
                                         "chain CSV rows are chain_id,target_id[,target_id...]"));
        }
        auto* c = req.add_chains();
        c->set_chain_id(static_cast<uint32_t>(r[0]));
        for (size_t i = 1; i < r.size(); ++i) c->add_targets()->set_target_id(r[i]);
      }
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::UploadChainsRsp>(mgmtd::MGMTD_UPLOAD_CHAINS, req), PrintOk);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "upload-chain-table", "store a new version of a chain table (one chain id per line)");
    cmd->add_option("table_id", a->table_id, "chain table id")->required();
    cmd->add_option("file", a->file, "file of chain ids (chain_table.csv)")->required();
    cmd->add_option("--description", a->description, "what the table is for");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto rows = ReadCsv(a->file);
      if (!rows.ok()) return (void)Usage(ctx, rows.status());
      mgmtd::UploadChainTableReq req;
      req.set_table_id(a->table_id);
      req.set_description(a->description);
      for (auto& r : *rows) {
        for (auto id : r) req.add_chain_ids(static_cast<uint32_t>(id));
      }
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::UploadChainTableRsp>(mgmtd::MGMTD_UPLOAD_CHAIN_TABLE, req),
          [](const nlohmann::json& j) { std::cout << "version " << j["version"] << "\n"; });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "update-chain", "add a target to a chain (it syncs, then serves) or remove one");
    cmd->add_option("chain_id", a->chain_id, "chain id")->required();
    cmd->add_option("target_id", a->target_id, "target id")->required();
    cmd->add_flag("--remove", a->remove, "remove the target instead of adding it");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::UpdateChainReq req;
      req.set_chain_id(a->chain_id);
      req.set_target_id(a->target_id);
      req.set_mode(a->remove ? mgmtd::CHAIN_REMOVE_TARGET : mgmtd::CHAIN_ADD_TARGET);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::UpdateChainRsp>(mgmtd::MGMTD_UPDATE_CHAIN, req), PrintChain);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "rotate-lastsrv",
        "give up waiting for a chain's LASTSRV target: promote an alive WAITING one (writes only "
        "the LASTSRV target had may be lost)");
    cmd->add_option("chain_id", a->chain_id, "chain id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::RotateLastSrvReq req;
      req.set_chain_id(a->chain_id);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::RotateLastSrvRsp>(mgmtd::MGMTD_ROTATE_LASTSRV, req), PrintChain);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("set-preferred-order",
                                     "set a chain's preferred target order (head first)");
    cmd->add_option("chain_id", a->chain_id, "chain id")->required();
    cmd->add_option("target_ids", a->ids, "targets, head first")->required();
    cmd->add_flag("--rotate", a->rotate, "reorder the serving targets now");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      mgmtd::SetPreferredOrderReq req;
      req.set_chain_id(a->chain_id);
      for (auto id : a->ids) req.add_target_ids(id);
      req.set_rotate_now(a->rotate);
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::SetPreferredOrderRsp>(mgmtd::MGMTD_SET_PREFERRED_ORDER, req),
          PrintChain);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "shutdown-all-chains",
        "for whole-cluster maintenance: mark every chain's serving targets as if all nodes stopped "
        "(the head keeps the chain's data as LASTSRV); chains recover as nodes return");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          CallFn<mgmtd::ShutdownAllChainsRsp>(mgmtd::MGMTD_SHUTDOWN_ALL_CHAINS,
                                              mgmtd::ShutdownAllChainsReq()),
          [](const nlohmann::json& j) { std::cout << j["chains"] << " chains shut down\n"; });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("list-chains", "list chains with their targets' states");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o, CallFn<mgmtd::ListChainsRsp>(mgmtd::MGMTD_LIST_CHAINS, mgmtd::ListChainsReq()),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& c : j["chains"]) {
              rows.push_back({c["chain_id"].dump(), c["version"].dump(), ChainLine(c)});
            }
            PrintTable({"CHAIN", "VERSION", "TARGETS (head first)"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("list-chain-tables", "list chain tables and their versions");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          CallFn<mgmtd::ListChainTablesRsp>(mgmtd::MGMTD_LIST_CHAIN_TABLES,
                                            mgmtd::ListChainTablesReq()),
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& t : j["tables"]) {
              rows.push_back({t["table_id"].dump(), t["version"].dump(),
                              std::to_string(t["chain_ids"].size()),
                              t["description"].get<std::string>()});
            }
            PrintTable({"TABLE", "VERSION", "CHAINS", "DESCRIPTION"}, rows);
          });
    });
  }
}

}  // namespace hf3fs::admin
