// gen-placement: balanced targets, chains and a chain table, written as files for create-targets,
// upload-chains and upload-chain-table. Runs locally; talks to no server.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "admin/admin_command.h"
#include "mgmtd/placement.h"

namespace hf3fs::admin {
namespace {
struct Args {
  uint32_t nodes = 3, disks = 1, tpd = 1, replicas = 3, first_node = 10001, first_chain = 1;
  std::vector<uint32_t> node_ids;
  std::string out = ".";
  bool json = false;
};
}  // namespace

void AddPlacementCommand(CLI::App& admin, CliContext& ctx) {
  auto a = std::make_shared<Args>();
  auto* cmd = admin.add_subcommand(
      "gen-placement",
      "generate balanced targets, chains and a chain table (every pair of nodes shares about the "
      "same number of chains) as targets.csv, chains.csv and chain_table.csv");
  cmd->add_option("--nodes", a->nodes, "storage nodes")->capture_default_str();
  cmd->add_option("--node-ids", a->node_ids, "explicit node ids (default: --first-node-id ...)");
  cmd->add_option("--first-node-id", a->first_node, "first node id")->capture_default_str();
  cmd->add_option("--disks", a->disks, "disks per node")->capture_default_str();
  cmd->add_option("--targets-per-disk", a->tpd, "targets per disk")->capture_default_str();
  cmd->add_option("--replicas", a->replicas, "replicas per chain")->capture_default_str();
  cmd->add_option("--first-chain-id", a->first_chain, "first chain id")->capture_default_str();
  cmd->add_option("--out", a->out, "directory for the files")->capture_default_str();
  cmd->add_flag("--json", a->json, "print a JSON summary");
  cmd->callback([a, &ctx] {
    mgmtd::PlacementRequest req;
    if (a->node_ids.empty()) {
      for (uint32_t i = 0; i < a->nodes; ++i) req.nodes.push_back(NodeId(a->first_node + i));
    } else {
      for (auto id : a->node_ids) req.nodes.push_back(NodeId(id));
    }
    req.disks_per_node = a->disks;
    req.targets_per_disk = a->tpd;
    req.replicas = a->replicas;
    req.first_chain_id = ChainId(a->first_chain);
    auto p = mgmtd::GeneratePlacement(req);
    if (!p.ok()) {
      std::cerr << "hf3fs admin gen-placement: " << p.status().ToString() << "\n";
      ctx.exit_code = kExitUsage;
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(a->out, ec);
    auto path = [&](const char* name) { return (std::filesystem::path(a->out) / name).string(); };
    std::ofstream targets(path("targets.csv")), chains(path("chains.csv")),
        table(path("chain_table.csv"));
    targets << "target_id,node_id,disk_index\n";
    for (auto& t : p->targets) targets << t.id << "," << t.node << "," << t.disk_index << "\n";
    chains << "chain_id,targets (head first)\n";
    table << "chain_id\n";
    for (auto& c : p->chains) {
      chains << c.id;
      for (auto t : c.targets) chains << "," << t;
      chains << "\n";
      table << c.id << "\n";
    }
    if (!targets || !chains || !table) {
      std::cerr << "hf3fs admin gen-placement: cannot write files in " << a->out << "\n";
      ctx.exit_code = kExitFailure;
      return;
    }
    nlohmann::json j{{"targets", p->targets.size()},
                     {"chains", p->chains.size()},
                     {"min_pair_chains", p->min_pair_chains},
                     {"max_pair_chains", p->max_pair_chains},
                     {"files", {path("targets.csv"), path("chains.csv"), path("chain_table.csv")}}};
    if (a->json) {
      std::cout << j.dump() << "\n";
    } else {
      std::cout << p->targets.size() << " targets, " << p->chains.size()
                << " chains; chains shared by a pair of nodes: min " << p->min_pair_chains
                << ", max " << p->max_pair_chains << "\nwrote " << path("targets.csv") << ", "
                << path("chains.csv") << ", " << path("chain_table.csv")
                << "\nnext: hf3fs admin create-targets --file " << path("targets.csv")
                << " && hf3fs admin upload-chains " << path("chains.csv")
                << " && hf3fs admin upload-chain-table 1 " << path("chain_table.csv") << "\n";
    }
    ctx.exit_code = kExitOk;
  });
}

}  // namespace hf3fs::admin
