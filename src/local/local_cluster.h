// LocalCluster: a whole hf3fs cluster on this machine under one directory — one mgmtd (embedded
// RocksDB store), N storage nodes, a meta server (embedded RocksDB, or a PostgreSQL server the
// cluster runs itself) and optionally a FUSE mount, each a child process with its own ports and
// log file. Used by integration and end-to-end tests, `hf3fs bench storage`, and `hf3fs local`.
//
// Layout of `dir`:
//   cluster.json            ports, node ids and shape, fixed when the cluster is first created
//   mgmtd/kv                mgmtd's store
//   meta/kv                 meta's store (RocksDB), or postgres/ (data directory and socket)
//   storage<i>/disk<d>      storage node i's disks
//   placement/              generated targets, chains and chain table
//   logs/<role>.log         each process's stdout and stderr (appended across restarts)
//
// Creating the cluster the first time bootstraps it (init-cluster, register nodes, targets, chains,
// chain table, through `hf3fs admin`); later starts reuse everything, so data survives restarts.
// Not thread-safe: one controlling thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/units.h"

namespace hf3fs::local {

struct LocalClusterOptions {
  std::string dir;
  std::string binary;  // path of the hf3fs binary
  uint32_t storage_nodes = 3;
  uint32_t replicas = 3;
  uint32_t disks_per_node = 1;
  uint32_t targets_per_disk = 4;
  uint32_t first_storage_node_id = 101;
  // Extra --config.* overrides for each role (e.g. faster failure detection in tests).
  std::vector<std::string> mgmtd_args;
  std::vector<std::string> storage_args;
  // Children are killed when this process dies (tests); off for a detached cluster.
  bool die_with_parent = true;
  // Metadata and mount (fixed when the cluster is first created, except `mount`).
  bool meta = false;                     // run a meta server (`hf3fs local` does)
  std::string meta_store = "rocksdb";    // "rocksdb" or "postgres"
  uint32_t meta_node_id = 50;
  uint64_t chunk_size = 1ull << 20;      // root directory's default layout
  std::string mount;                     // mount point; empty: no mount
  // Durability of meta's KV store and the storage nodes' chunk engines
  // (docs/design/0009-durability.md); empty: as last time (default "window", "1s").
  std::string durability;
  std::string durability_window;
  std::vector<std::string> meta_args;
  std::vector<std::string> mount_args;
};

// One child process.
class Child {
 public:
  Child(std::string name, std::vector<std::string> argv, std::string log_path,
        bool die_with_parent);
  ~Child();  // SIGKILL if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  Status Start();
  bool Running();
  void Signal(int sig);
  // Waits up to `timeout`; the exit code, 128 + signal, or -1 when still running.
  int Wait(Duration timeout);
  // Leaves the process running when this object goes away.
  void Detach() { reaped_ = true; }
  // Runs the program as this user (set before Start; the parent must be root).
  void RunAs(uid_t uid, gid_t gid) {
    run_as_ = true;
    uid_ = uid;
    gid_ = gid;
  }

 private:
  std::string name_;
  std::vector<std::string> argv_;
  std::string log_path_;
  bool die_with_parent_;
  pid_t pid_ = -1;
  bool reaped_ = true;
  int status_ = 0;
  bool run_as_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

class LocalCluster {
 public:
  // Loads <dir>/cluster.json, or creates the directory layout and picks free loopback ports.
  static Result<std::unique_ptr<LocalCluster>> Open(LocalClusterOptions options);
  ~LocalCluster();  // stops every process (SIGTERM, then SIGKILL after 10 s)

  // Starts mgmtd and every storage node, bootstraps on first use, and waits until every chain
  // has all its targets SERVING (kTimeout otherwise).
  Status Up(Duration timeout = std::chrono::seconds(60));
  Status StartMgmtd();
  Status StartStorage(uint32_t i);
  Status StartMeta();
  Status StartMount();
  Status StartPostgres();
  void SignalMeta(int sig);
  int StopMeta(Duration timeout = std::chrono::seconds(10));
  int StopMount(Duration timeout = std::chrono::seconds(10));
  bool MetaRunning();
  // Sends `sig` to storage node i (SIGKILL for a crash).
  void SignalStorage(uint32_t i, int sig);
  // SIGTERM and wait; SIGKILL after `timeout`. Returns the exit code.
  int StopStorage(uint32_t i, Duration timeout = std::chrono::seconds(10));
  void StopAll();
  // Leaves every started process running when this object goes away (`hf3fs local up --detach`).
  void Detach();
  bool StorageRunning(uint32_t i);

  // What runs, from the pid files under <dir>/run (also processes started by another
  // invocation, e.g. `hf3fs local up --detach`).
  struct ProcessInfo {
    std::string role;        // "mgmtd", "meta", "storage", "mount" or "postgres"
    std::string name;        // "mgmtd", "storage0", ...
    pid_t pid = 0;           // 0: never started
    std::vector<int> ports;  // listening: RPC first (the mount serves none), then HTTP
    int http_port = 0;       // /metrics and /healthz; 0: none (postgres)
    bool running = false;
  };
  std::vector<ProcessInfo> Processes() const;
  // Stops every running process of the cluster (SIGTERM, SIGKILL after `timeout`), including
  // those another invocation started.
  void Down(Duration timeout = std::chrono::seconds(10));
  // Stops the process `name` ("mgmtd", "storage<i>", "postgres", "meta" or "mount") if it runs
  // (SIGTERM, SIGKILL after `timeout`), then starts it again; the rest of the cluster keeps
  // running (e.g. a storage node after a crash, or meta).
  Status Restart(const std::string& name, Duration timeout = std::chrono::seconds(10));

  // Every target in a chain is SERVING and reported UPTODATE by its node.
  Status WaitHealthy(Duration timeout);
  // `hf3fs admin <args> --mgmtd=...`: exit code and output.
  struct AdminResult {
    int exit_code = -1;
    std::string out;
  };
  AdminResult Admin(std::vector<std::string> args, Duration timeout = std::chrono::seconds(30));

  const LocalClusterOptions& options() const { return options_; }
  std::string mgmtd_address() const;
  std::string storage_address(uint32_t i) const;
  std::string meta_address() const;
  const std::string& mount_path() const { return options_.mount; }
  std::string postgres_conninfo() const;
  // Whether `path` is a mount point of an hf3fs FUSE mount right now.
  static bool IsMounted(const std::string& path);
  uint32_t storage_node_id(uint32_t i) const { return options_.first_storage_node_id + i; }
  std::string log_path(const std::string& role) const;
  // <dir>/keys/<name>: server.keyring, client.key, admin.key (docs/design/0011-authentication.md).
  std::string key_path(const std::string& name) const;

 private:
  explicit LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {}
  Status Load();
  Status Save() const;
  Status Bootstrap();
  Status RegisterMeta();
  std::vector<std::string> StorageArgv(uint32_t i) const;
  std::string PidPath(const std::string& name) const;
  void WritePid(const Child& c) const;
  // The pid in <dir>/run/<name>.pid if that process still runs this cluster, else 0.
  pid_t LivePid(const std::string& name) const;

  LocalClusterOptions options_;
  int mgmtd_port_ = 0;
  std::vector<int> storage_ports_;
  bool bootstrapped_ = false;
  std::unique_ptr<Child> mgmtd_;
  std::vector<std::unique_ptr<Child>> storage_;
  int meta_port_ = 0;
  int meta_http_port_ = 0;
  int mgmtd_http_port_ = 0;
  int mount_http_port_ = 0;
  int pg_port_ = 0;
  bool meta_registered_ = false;
  std::unique_ptr<Child> meta_;
  std::unique_ptr<Child> mount_;
  std::unique_ptr<Child> postgres_;
};

// A loopback TCP port that was free a moment ago.
int FreeLoopbackPort();

}  // namespace hf3fs::local
