// `hf3fs local up|status|down`: a whole cluster on this machine under one directory.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "local/local_cluster.h"

namespace hf3fs::local {
namespace {

struct Args {
  Args() { o.meta = true; }  // `hf3fs local` clusters always have a meta server
  LocalClusterOptions o;
  bool detach = false;
  bool json = false;
};

std::string SelfBinary() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

Result<std::unique_ptr<LocalCluster>> OpenExisting(Args& a) {
  if (!std::filesystem::exists(std::filesystem::path(a.o.dir) / "cluster.json")) {
    return MakeStatus(StatusCode::kNotFound,
                      "{} holds no cluster: create one with `hf3fs local up --dir {}`", a.o.dir,
                      a.o.dir);
  }
  a.o.binary = SelfBinary();
  a.o.die_with_parent = false;
  return LocalCluster::Open(a.o);
}

int Fail(CliContext& ctx, const Status& st, bool json) {
  if (json) {
    std::cout << nlohmann::json{{"error", st.ToString()}}.dump() << std::endl;
  } else {
    std::cerr << "hf3fs local: " << st.ToString() << std::endl;
  }
  return ctx.exit_code = kExitFailure;
}

void PrintUp(const LocalCluster& c) {
  std::cout << "hf3fs local cluster in " << c.options().dir << "\n"
            << "  mgmtd:    " << c.mgmtd_address() << "  (export HF3FS_MGMTD=" << c.mgmtd_address()
            << ")\n";
  for (uint32_t i = 0; i < c.options().storage_nodes; ++i) {
    std::cout << "  storage" << i << ": " << c.storage_address(i) << "  node "
              << c.storage_node_id(i) << "\n";
  }
  if (c.options().meta) {
    std::cout << "  meta:     " << c.meta_address() << "  (" << c.options().meta_store << ")\n";
  }
  if (!c.mount_path().empty()) std::cout << "  mount:    " << c.mount_path() << "\n";
  std::cout << "  keys:     " << c.options().dir << "/keys  (export HF3FS_KEY_FILE="
            << c.key_path("admin.key") << " for hf3fs admin)\n"
            << "  logs:     " << c.options().dir << "/logs\n"
            << "  replicas: " << c.options().replicas << ", every chain SERVING\n";
}

void Up(CliContext& ctx, Args& a) {
  a.o.binary = SelfBinary();
  a.o.die_with_parent = !a.detach;
  auto c = LocalCluster::Open(a.o);
  if (!c.ok()) return (void)Fail(ctx, c.status(), a.json);
  // Block the stop signals before any child starts, so they are waited for below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (!a.detach) pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  Status st = (*c)->Up();
  if (!st.ok()) {
    (*c)->StopAll();
    return (void)Fail(ctx, st, a.json);
  }
  PrintUp(**c);
  if (a.detach) {
    (*c)->Detach();
    std::cout << "running in the background; stop with `hf3fs local down --dir " << a.o.dir << "`"
              << std::endl;
    ctx.exit_code = kExitOk;
    return;
  }
  std::cout << "press Ctrl-C to stop" << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "stopping..." << std::endl;
  (*c)->StopAll();
  ctx.exit_code = kExitOk;
}

}  // namespace

void AddLocalCommands(CLI::App& app, CliContext& ctx) {
  auto* local = app.add_subcommand(
      "local", "a whole cluster on this machine under one directory (evaluation, development)");
  local->require_subcommand(1);
  {
    auto a = std::make_shared<Args>();
    auto* cmd = local->add_subcommand(
        "up",
        "create (the first time) or restart the cluster in --dir: mgmtd, storage nodes, meta and "
        "(with --mount) the FUSE mount");
    cmd->add_option("--dir", a->o.dir, "the cluster's directory")->required();
    cmd->add_option("--storage-nodes", a->o.storage_nodes, "storage processes (first time only)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--replicas", a->o.replicas, "targets per chain (first time only)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    cmd->add_option("--targets-per-disk", a->o.targets_per_disk,
                    "targets on each storage node's disk (first time only)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    cmd->add_option("--meta-store", a->o.meta_store,
                    "where meta keeps the namespace: rocksdb (embedded) or postgres (a server "
                    "the cluster runs in DIR/postgres) (first time only)")
        ->check(CLI::IsMember({"rocksdb", "postgres"}))
        ->capture_default_str();
    cmd->add_option("--mount", a->o.mount,
                    "mount the file system here with FUSE (remembered for later `up`/`down`)");
    cmd->add_option("--durability", a->o.durability,
                    "window (default): acknowledged operations survive any process crash and a "
                    "power loss loses at most --durability-window of them unless fsync'd; strict: "
                    "every operation is flushed (remembered)")
        ->check(CLI::IsMember({"window", "strict"}));
    cmd->add_option("--durability-window", a->o.durability_window,
                    "longest time between flushes in window durability, e.g. 1s (remembered)");
    cmd->add_flag("--detach", a->detach, "return once the cluster is up, leaving it running");
    cmd->callback([a, &ctx] {
      a->o.dir = std::filesystem::absolute(a->o.dir).string();
      Up(ctx, *a);
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = local->add_subcommand("status", "the cluster's processes, ports and states");
    cmd->add_option("--dir", a->o.dir, "the cluster's directory")->required();
    cmd->add_flag("--json", a->json, "print one JSON object");
    cmd->callback([a, &ctx] {
      a->o.dir = std::filesystem::absolute(a->o.dir).string();
      auto c = OpenExisting(*a);
      if (!c.ok()) return (void)Fail(ctx, c.status(), a->json);
      nlohmann::json procs = nlohmann::json::array();
      for (const auto& p : (*c)->Processes()) {
        procs.push_back(
            {{"role", p.role},
             {"name", p.name},
             {"pid", p.pid},
             {"ports", p.ports},
             {"http", p.http_port ? nlohmann::json("127.0.0.1:" + std::to_string(p.http_port))
                                  : nlohmann::json(nullptr)},
             {"state", p.running ? "running" : "stopped"}});
      }
      nlohmann::json j = {{"mount", nullptr}, {"processes", procs}};
      if (!(*c)->mount_path().empty()) j["mount"] = (*c)->mount_path();
      if (a->json) {
        std::cout << j.dump() << std::endl;
      } else {
        for (const auto& p : procs) {
          std::cout << p["name"].get<std::string>() << "  " << p["state"].get<std::string>()
                    << "  pid " << p["pid"] << "  ports " << p["ports"].dump();
          if (!p["http"].is_null()) std::cout << "  http " << p["http"].get<std::string>();
          std::cout << "\n";
        }
      }
      ctx.exit_code = kExitOk;
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto name = std::make_shared<std::string>();
    auto* cmd = local->add_subcommand(
        "restart",
        "stop one process of a running cluster if it runs, then start it again in the background "
        "(e.g. a storage node after kill -9); the others keep running");
    cmd->add_option("--dir", a->o.dir, "the cluster's directory")->required();
    cmd->add_option("--name", *name, "mgmtd, storage<i>, postgres, meta or mount")->required();
    cmd->callback([a, name, &ctx] {
      a->o.dir = std::filesystem::absolute(a->o.dir).string();
      auto c = OpenExisting(*a);
      if (!c.ok()) return (void)Fail(ctx, c.status(), false);
      Status st = (*c)->Restart(*name);
      if (!st.ok()) return (void)Fail(ctx, st, false);
      (*c)->Detach();
      std::cout << "restarted " << *name << std::endl;
      ctx.exit_code = kExitOk;
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = local->add_subcommand("down", "stop every process of the cluster (data stays)");
    cmd->add_option("--dir", a->o.dir, "the cluster's directory")->required();
    cmd->callback([a, &ctx] {
      a->o.dir = std::filesystem::absolute(a->o.dir).string();
      auto c = OpenExisting(*a);
      if (!c.ok()) return (void)Fail(ctx, c.status(), false);
      (*c)->Down();
      for (const auto& p : (*c)->Processes()) {
        if (p.running) {
          return (void)Fail(
              ctx, MakeStatus(StatusCode::kTimeout, "{} (pid {}) did not stop", p.name, p.pid),
              false);
        }
      }
      std::cout << "stopped" << std::endl;
      ctx.exit_code = kExitOk;
    });
  }
}

}  // namespace hf3fs::local
