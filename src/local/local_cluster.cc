#include "local/local_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "common/logging.h"
#include "kv/postgres/pg_test_server.h"
#include "net/auth.h"

namespace hf3fs::local {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

int FreeLoopbackPort() {
  // Below the kernel's ephemeral range (32768+ on Linux), so an outgoing connection of another
  // process cannot take the port between this check and the server's bind; random, so clusters
  // started at the same moment (parallel tests) rarely pick the same one.
  static thread_local std::mt19937 rng(std::random_device{}() ^ getpid());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = 20000 + static_cast<int>(rng() % 12000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (ok) return port;
  }
  return 0;
}

// ---- Child ----

Child::Child(std::string name, std::vector<std::string> argv, std::string log_path,
             bool die_with_parent)
    : name_(std::move(name)),
      argv_(std::move(argv)),
      log_path_(std::move(log_path)),
      die_with_parent_(die_with_parent) {}

Child::~Child() {
  if (Running()) {
    Signal(SIGKILL);
    Wait(5s);
  }
}

Status Child::Start() {
  if (Running()) return Status::Ok();
  int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return MakeStatus(StatusCode::kIoError, "open {}: {}", log_path_, strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return MakeStatus(StatusCode::kIoError, "fork: {}", strerror(errno));
  }
  if (pid == 0) {
    // Credentials first: changing them clears the parent-death signal.
    if (run_as_ && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) {
      _exit(126);
    }
    if (die_with_parent_) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
    } else {
      setsid();
    }
    // A parent waiting for SIGINT/SIGTERM with sigwait blocks them; the child must not inherit
    // that.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> args;
    for (auto& a : argv_) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log);
  pid_ = pid;
  reaped_ = false;
  return Status::Ok();
}

bool Child::Running() {
  if (reaped_) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Child::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

int Child::Wait(Duration timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > end) return -1;
    std::this_thread::sleep_for(5ms);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

// ---- LocalCluster ----

Result<std::unique_ptr<LocalCluster>> LocalCluster::Open(LocalClusterOptions options) {
  if (options.dir.empty()) return Status(StatusCode::kInvalidArgument, "cluster dir is empty");
  if (options.replicas == 0 || options.replicas > options.storage_nodes) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "replicas ({}) must be between 1 and the number of storage nodes ({})",
                      options.replicas, options.storage_nodes);
  }
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "logs", ec);
  if (!ec) fs::create_directories(fs::path(options.dir) / "mgmtd", ec);
  if (!ec) fs::create_directories(fs::path(options.dir) / "run", ec);
  if (ec) return MakeStatus(StatusCode::kIoError, "create {}: {}", options.dir, ec.message());
  // Authentication is on: every process gets its key file from <dir>/keys (design 0011).
  if (!fs::exists(fs::path(options.dir) / "keys" / "server.keyring")) {
    HF3FS_TRY(net::WriteKeySet((fs::path(options.dir) / "keys").string()));
  }
  std::unique_ptr<LocalCluster> c(new LocalCluster(std::move(options)));
  if (fs::exists(fs::path(c->options_.dir) / "cluster.json")) {
    HF3FS_TRY(c->Load());
  } else {
    c->mgmtd_port_ = FreeLoopbackPort();
    for (uint32_t i = 0; i < c->options_.storage_nodes * 2; ++i) {
      c->storage_ports_.push_back(FreeLoopbackPort());
    }
  }
  if (c->meta_port_ == 0) {  // new, or created before meta was part of local clusters
    c->meta_port_ = FreeLoopbackPort();
    c->meta_http_port_ = FreeLoopbackPort();
    c->pg_port_ = FreeLoopbackPort();
  }
  if (c->mgmtd_http_port_ == 0) {  // new, or created before these had fixed ports
    c->mgmtd_http_port_ = FreeLoopbackPort();
    c->mount_http_port_ = FreeLoopbackPort();
  }
  if (c->options_.meta_store != "rocksdb" && c->options_.meta_store != "postgres") {
    return MakeStatus(StatusCode::kInvalidArgument, "meta store must be rocksdb or postgres, not {}",
                      c->options_.meta_store);
  }
  if (!c->options_.mount.empty()) {
    c->options_.mount = fs::absolute(c->options_.mount).string();
  }
  HF3FS_TRY(c->Save());
  c->storage_.resize(c->options_.storage_nodes);
  return c;
}

LocalCluster::~LocalCluster() { StopAll(); }

Status LocalCluster::Load() {
  std::ifstream in(fs::path(options_.dir) / "cluster.json");
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("mgmtd_port")) {
    return MakeStatus(StatusCode::kDataCorruption, "{}/cluster.json is not valid", options_.dir);
  }
  mgmtd_port_ = j["mgmtd_port"];
  storage_ports_ = j["storage_ports"].get<std::vector<int>>();
  options_.storage_nodes = j["storage_nodes"];
  options_.replicas = j["replicas"];
  options_.disks_per_node = j["disks_per_node"];
  options_.targets_per_disk = j["targets_per_disk"];
  options_.first_storage_node_id = j["first_storage_node_id"];
  bootstrapped_ = j.value("bootstrapped", false);
  meta_port_ = j.value("meta_port", 0);
  meta_http_port_ = j.value("meta_http_port", 0);
  mgmtd_http_port_ = j.value("mgmtd_http_port", 0);
  mount_http_port_ = j.value("mount_http_port", 0);
  pg_port_ = j.value("postgres_port", 0);
  meta_registered_ = j.value("meta_registered", false);
  if (j.contains("meta_store")) options_.meta_store = j["meta_store"];
  options_.meta_node_id = j.value("meta_node_id", options_.meta_node_id);
  options_.chunk_size = j.value("chunk_size", options_.chunk_size);
  // The mount point and durability: the ones given now, else the last ones used.
  if (options_.mount.empty()) options_.mount = j.value("mount", "");
  if (options_.durability.empty()) options_.durability = j.value("durability", "");
  if (options_.durability_window.empty()) {
    options_.durability_window = j.value("durability_window", "");
  }
  return Status::Ok();
}

Status LocalCluster::Save() const {
  json j = {{"mgmtd_port", mgmtd_port_},
            {"storage_ports", storage_ports_},
            {"storage_nodes", options_.storage_nodes},
            {"replicas", options_.replicas},
            {"disks_per_node", options_.disks_per_node},
            {"targets_per_disk", options_.targets_per_disk},
            {"first_storage_node_id", options_.first_storage_node_id},
            {"bootstrapped", bootstrapped_},
            {"meta_port", meta_port_},
            {"meta_http_port", meta_http_port_},
            {"mgmtd_http_port", mgmtd_http_port_},
            {"mount_http_port", mount_http_port_},
            {"postgres_port", pg_port_},
            {"meta_registered", meta_registered_},
            {"meta_store", options_.meta_store},
            {"meta_node_id", options_.meta_node_id},
            {"chunk_size", options_.chunk_size},
            {"mount", options_.mount},
            {"durability", options_.durability},
            {"durability_window", options_.durability_window}};
  auto path = fs::path(options_.dir) / "cluster.json";
  std::ofstream out(path.string() + ".tmp");
  out << j.dump(2) << "\n";
  out.close();
  if (!out) return MakeStatus(StatusCode::kIoError, "write {}", path.string());
  std::error_code ec;
  fs::rename(path.string() + ".tmp", path, ec);
  if (ec) return MakeStatus(StatusCode::kIoError, "rename {}: {}", path.string(), ec.message());
  return Status::Ok();
}

std::string LocalCluster::mgmtd_address() const {
  return "127.0.0.1:" + std::to_string(mgmtd_port_);
}

std::string LocalCluster::meta_address() const { return "127.0.0.1:" + std::to_string(meta_port_); }

std::string LocalCluster::postgres_conninfo() const {
  return fmt::format("host={} port={} user=hf3fs dbname=postgres",
                     (fs::path(options_.dir) / "postgres").string(), pg_port_);
}

bool LocalCluster::IsMounted(const std::string& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mnt, type, rest;
  while (in >> dev >> mnt >> type && std::getline(in, rest)) {
    if (mnt == path && type.rfind("fuse", 0) == 0) return true;
  }
  return false;
}

std::string LocalCluster::storage_address(uint32_t i) const {
  return "127.0.0.1:" + std::to_string(storage_ports_[2 * i]);
}

std::string LocalCluster::key_path(const std::string& name) const {
  return (fs::path(options_.dir) / "keys" / name).string();
}

std::string LocalCluster::log_path(const std::string& role) const {
  return (fs::path(options_.dir) / "logs" / (role + ".log")).string();
}

Status LocalCluster::StartMgmtd() {
  std::vector<std::string> argv = {
      options_.binary, "mgmtd", "--config.server.listen=" + mgmtd_address(),
      "--config.server.http_listen=127.0.0.1:" + std::to_string(mgmtd_http_port_),
      "--config.rpc.busy_poll=0s",
      // One machine: failures are detected in seconds, not the multi-host default of 10 s.
      "--config.mgmtd.heartbeat_timeout=3s", "--config.mgmtd.chain_update_interval=200ms",
      "--config.kv.rocksdb.path=" + (fs::path(options_.dir) / "mgmtd" / "kv").string(),
      "--config.rpc.key_file=" + key_path("server.keyring")};
  argv.insert(argv.end(), options_.mgmtd_args.begin(), options_.mgmtd_args.end());
  if (LivePid("mgmtd") != 0) {
    return MakeStatus(StatusCode::kAlreadyExists,
                      "mgmtd of {} is already running (pid {}): stop it with `hf3fs local down "
                      "--dir {}`",
                      options_.dir, LivePid("mgmtd"), options_.dir);
  }
  mgmtd_ = std::make_unique<Child>("mgmtd", argv, log_path("mgmtd"), options_.die_with_parent);
  HF3FS_TRY(mgmtd_->Start());
  WritePid(*mgmtd_);
  for (int i = 0; i < 500; ++i) {
    if (!mgmtd_->Running()) {
      return MakeStatus(StatusCode::kUnavailable, "mgmtd exited at start; see {}",
                        log_path("mgmtd"));
    }
    auto j = json::parse(Admin({"who-is-primary", "--json"}, 5s).out, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("is_primary", false)) return Status::Ok();
    std::this_thread::sleep_for(20ms);
  }
  return MakeStatus(StatusCode::kTimeout, "mgmtd did not become primary; see {}",
                    log_path("mgmtd"));
}

std::vector<std::string> LocalCluster::StorageArgv(uint32_t i) const {
  std::string disks;  // a comma-separated list, as --config overrides take lists
  for (uint32_t d = 0; d < options_.disks_per_node; ++d) {
    auto p =
        fs::path(options_.dir) / ("storage" + std::to_string(i)) / ("disk" + std::to_string(d));
    disks += (d ? "," : "") + p.string();
  }
  std::vector<std::string> argv = {
      options_.binary, "storage", "--config.server.listen=" + storage_address(i),
      "--config.server.http_listen=127.0.0.1:" + std::to_string(storage_ports_[2 * i + 1]),
      "--config.storage.node_id=" + std::to_string(storage_node_id(i)),
      "--config.storage.mgmtd=" + mgmtd_address(), "--config.storage.disks=" + disks,
      // Every process of the cluster shares this machine's cores: spinning for latency would
      // take CPU from the others (docs/benchmarks.md, "Storage service").
      "--config.rpc.busy_poll=0s", "--config.storage.heartbeat_interval=500ms",
      "--config.storage.routing_refresh_interval=200ms", "--config.storage.resync_interval=200ms",
      "--config.rpc.key_file=" + key_path("server.keyring")};
  if (!options_.durability.empty()) {
    argv.push_back("--config.chunk_engine.durability=" + options_.durability);
  }
  if (!options_.durability_window.empty()) {
    argv.push_back("--config.chunk_engine.durability_window=" + options_.durability_window);
  }
  argv.insert(argv.end(), options_.storage_args.begin(), options_.storage_args.end());
  return argv;
}

Status LocalCluster::StartStorage(uint32_t i) {
  if (i >= storage_.size()) {
    return MakeStatus(StatusCode::kInvalidArgument, "no storage node {}", i);
  }
  std::string name = "storage" + std::to_string(i);
  if (storage_[i]) {
    // Our own child, e.g. just signalled: let it finish exiting before a new one takes its ports.
    if (storage_[i]->Wait(std::chrono::seconds(10)) == -1) {
      return MakeStatus(StatusCode::kAlreadyExists, "{} is still running", name);
    }
  } else if (pid_t pid = LivePid(name); pid != 0) {
    return MakeStatus(StatusCode::kAlreadyExists,
                      "{} of {} is already running (pid {}): stop it with `hf3fs local down "
                      "--dir {}`",
                      name, options_.dir, pid, options_.dir);
  }
  storage_[i] =
      std::make_unique<Child>("storage" + std::to_string(i), StorageArgv(i),
                              log_path("storage" + std::to_string(i)), options_.die_with_parent);
  HF3FS_TRY(storage_[i]->Start());
  WritePid(*storage_[i]);
  return Status::Ok();
}

void LocalCluster::SignalStorage(uint32_t i, int sig) {
  if (i < storage_.size() && storage_[i]) storage_[i]->Signal(sig);
}

int LocalCluster::StopStorage(uint32_t i, Duration timeout) {
  if (i >= storage_.size() || !storage_[i]) return -1;
  storage_[i]->Signal(SIGTERM);
  int rc = storage_[i]->Wait(timeout);
  if (rc == -1) {
    storage_[i]->Signal(SIGKILL);
    rc = storage_[i]->Wait(5s);
  }
  return rc;
}

bool LocalCluster::StorageRunning(uint32_t i) {
  return i < storage_.size() && storage_[i] && storage_[i]->Running();
}

void LocalCluster::Detach() {
  if (mgmtd_) mgmtd_->Detach();
  if (meta_) meta_->Detach();
  if (mount_) mount_->Detach();
  if (postgres_) postgres_->Detach();
  for (auto& c : storage_) {
    if (c) c->Detach();
  }
}

void LocalCluster::StopAll() {
  StopMount();
  StopMeta();
  if (postgres_ && postgres_->Running()) {
    postgres_->Signal(SIGINT);  // fast shutdown: checkpoint and exit
    if (postgres_->Wait(30s) == -1) {
      postgres_->Signal(SIGKILL);
      postgres_->Wait(5s);
    }
  }
  for (uint32_t i = 0; i < storage_.size(); ++i) {
    if (StorageRunning(i)) StopStorage(i);
  }
  if (mgmtd_ && mgmtd_->Running()) {
    mgmtd_->Signal(SIGTERM);
    if (mgmtd_->Wait(10s) == -1) {
      mgmtd_->Signal(SIGKILL);
      mgmtd_->Wait(5s);
    }
  }
}

std::string LocalCluster::PidPath(const std::string& name) const {
  return (fs::path(options_.dir) / "run" / (name + ".pid")).string();
}

void LocalCluster::WritePid(const Child& c) const {
  std::ofstream(PidPath(c.name())) << c.pid() << "\n";
}

pid_t LocalCluster::LivePid(const std::string& name) const {
  std::ifstream in(PidPath(name));
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0 || kill(pid, 0) != 0) return 0;
  // A reused pid belongs to another program: require our binary's command line naming this dir.
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  // (The mount's command line names its mount point, which may lie outside the directory.)
  const std::string& needle = name == "mount" ? options_.mount : options_.dir;
  if (needle.empty() || cmdline.find(needle) == std::string::npos) return 0;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string st;
  std::getline(stat, st);
  auto paren = st.rfind(')');
  if (paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'Z') return 0;
  return pid;
}

std::vector<LocalCluster::ProcessInfo> LocalCluster::Processes() const {
  std::vector<ProcessInfo> out;
  ProcessInfo m{"mgmtd", "mgmtd", 0, {mgmtd_port_, mgmtd_http_port_}, mgmtd_http_port_, false};
  m.pid = LivePid("mgmtd");
  m.running = m.pid != 0;
  out.push_back(m);
  for (uint32_t i = 0; i < options_.storage_nodes; ++i) {
    std::string name = "storage" + std::to_string(i);
    ProcessInfo p{"storage",
                  name,
                  LivePid(name),
                  {storage_ports_[2 * i], storage_ports_[2 * i + 1]},
                  storage_ports_[2 * i + 1],
                  false};
    p.running = p.pid != 0;
    out.push_back(p);
  }
  if (options_.meta_store == "postgres" && options_.meta) {
    ProcessInfo p{"postgres", "postgres", LivePid("postgres"), {pg_port_}, 0, false};
    p.running = p.pid != 0;
    out.push_back(p);
  }
  if (options_.meta) {
    ProcessInfo p{"meta",          "meta", LivePid("meta"), {meta_port_, meta_http_port_},
                  meta_http_port_, false};
    p.running = p.pid != 0;
    out.push_back(p);
  }
  if (!options_.mount.empty()) {
    ProcessInfo p{"mount", "mount", LivePid("mount"), {mount_http_port_}, mount_http_port_, false};
    p.running = p.pid != 0;
    out.push_back(p);
  }
  return out;
}

void LocalCluster::Down(Duration timeout) {
  StopAll();  // children of this process first (they are reaped here)
  auto procs = Processes();
  // Storage before mgmtd, as StopAll does.
  std::reverse(procs.begin(), procs.end());
  for (const auto& p : procs) {
    if (!p.running) continue;
    kill(p.pid, SIGTERM);
    auto end = std::chrono::steady_clock::now() + timeout;
    while (LivePid(p.name) != 0 && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(20ms);
    }
    if (LivePid(p.name) != 0) kill(p.pid, SIGKILL);
  }
  // A mount whose daemon was killed stays behind as a dead mount point ("transport endpoint is
  // not connected"): detach it.
  if (!options_.mount.empty() && IsMounted(options_.mount)) umount2(options_.mount.c_str(), MNT_DETACH);
}

Status LocalCluster::Restart(const std::string& name, Duration timeout) {
  bool known = name == "mgmtd" || (name == "meta" && options_.meta) ||
               (name == "postgres" && options_.meta && options_.meta_store == "postgres") ||
               (name == "mount" && !options_.mount.empty());
  uint32_t storage = 0;
  if (name.rfind("storage", 0) == 0 && name.size() > 7 &&
      name.find_first_not_of("0123456789", 7) == std::string::npos) {
    storage = static_cast<uint32_t>(std::stoul(name.substr(7)));
    known = storage < options_.storage_nodes;
  }
  if (!known) return MakeStatus(StatusCode::kInvalidArgument, "{} has no process {}", options_.dir, name);
  if (pid_t pid = LivePid(name); pid != 0) {
    kill(pid, name == "postgres" ? SIGINT : SIGTERM);
    auto end = std::chrono::steady_clock::now() + timeout;
    while (LivePid(name) != 0 && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(20ms);
    }
    if (LivePid(name) != 0) {
      kill(pid, SIGKILL);
      for (int i = 0; i < 250 && LivePid(name) != 0; ++i) std::this_thread::sleep_for(20ms);
    }
    if (LivePid(name) != 0) {
      return MakeStatus(StatusCode::kTimeout, "{} (pid {}) did not stop", name, pid);
    }
  }
  if (name == "mgmtd") return StartMgmtd();
  if (name == "meta") return StartMeta();
  if (name == "postgres") return StartPostgres();
  if (name == "mount") return StartMount();
  return StartStorage(storage);
}

LocalCluster::AdminResult LocalCluster::Admin(std::vector<std::string> args, Duration timeout) {
  std::vector<std::string> argv = {options_.binary, "admin"};
  argv.insert(argv.end(), args.begin(), args.end());
  // gen-placement runs locally and takes no mgmtd address.
  if (args.empty() || args[0] != "gen-placement") {
    argv.push_back("--mgmtd=" + mgmtd_address());
    argv.push_back("--key-file=" + key_path("admin.key"));
  }
  auto out_path = fs::path(options_.dir) / "logs" / ("admin." + std::to_string(getpid()) + ".out");
  AdminResult r;
  {
    Child c("admin", argv, out_path.string(), true);
    std::error_code ec;
    fs::remove(out_path, ec);
    if (!c.Start().ok()) return r;
    r.exit_code = c.Wait(timeout);
    if (r.exit_code == -1) c.Signal(SIGKILL);
  }
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  r.out = ss.str();
  return r;
}

Status LocalCluster::Bootstrap() {
  auto run = [&](std::vector<std::string> args) -> Status {
    auto r = Admin(args);
    if (r.exit_code != 0) {
      std::string cmd;
      for (auto& a : args) cmd += a + " ";
      return MakeStatus(StatusCode::kInternal, "`hf3fs admin {}` failed ({}): {}", cmd, r.exit_code,
                        r.out);
    }
    return Status::Ok();
  };
  auto placement = (fs::path(options_.dir) / "placement").string();
  HF3FS_TRY(run({"init-cluster", "local"}));
  for (uint32_t i = 0; i < options_.storage_nodes; ++i) {
    HF3FS_TRY(run({"register-node", std::to_string(storage_node_id(i)), "storage"}));
  }
  HF3FS_TRY(run({"gen-placement", "--nodes", std::to_string(options_.storage_nodes),
                 "--first-node-id", std::to_string(options_.first_storage_node_id), "--disks",
                 std::to_string(options_.disks_per_node), "--targets-per-disk",
                 std::to_string(options_.targets_per_disk), "--replicas",
                 std::to_string(options_.replicas), "--out", placement}));
  HF3FS_TRY(run({"create-targets", "--file", placement + "/targets.csv"}));
  HF3FS_TRY(run({"upload-chains", placement + "/chains.csv"}));
  HF3FS_TRY(run({"upload-chain-table", "1", placement + "/chain_table.csv"}));
  bootstrapped_ = true;
  return Save();
}

Status LocalCluster::RegisterMeta() {
  if (meta_registered_) return Status::Ok();
  auto r = Admin({"register-node", std::to_string(options_.meta_node_id), "meta"});
  if (r.exit_code != 0 && r.out.find("already") == std::string::npos) {
    return MakeStatus(StatusCode::kInternal, "`hf3fs admin register-node {} meta` failed ({}): {}",
                      options_.meta_node_id, r.exit_code, r.out);
  }
  meta_registered_ = true;
  return Save();
}

Status LocalCluster::Up(Duration timeout) {
  HF3FS_TRY(StartMgmtd());
  if (!bootstrapped_) HF3FS_TRY(Bootstrap());
  for (uint32_t i = 0; i < options_.storage_nodes; ++i) HF3FS_TRY(StartStorage(i));
  HF3FS_TRY(WaitHealthy(timeout));
  if (options_.meta) {
    HF3FS_TRY(RegisterMeta());
    if (options_.meta_store == "postgres") HF3FS_TRY(StartPostgres());
    HF3FS_TRY(StartMeta());
  }
  if (!options_.mount.empty()) HF3FS_TRY(StartMount());
  return Status::Ok();
}

namespace {
// Waits until `ready` or the child exits or `timeout` passes.
Status WaitFor(Child& c, const std::string& what, const std::string& log, Duration timeout,
               const std::function<bool()>& ready) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return Status::Ok();
    if (!c.Running()) return MakeStatus(StatusCode::kUnavailable, "{} exited at start; see {}", what, log);
    std::this_thread::sleep_for(20ms);
  }
  return MakeStatus(StatusCode::kTimeout, "{} not ready after {} s; see {}", what,
                    std::chrono::duration_cast<std::chrono::seconds>(timeout).count(), log);
}

bool PortOpen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}
}  // namespace

Status LocalCluster::StartPostgres() {
  if (LivePid("postgres") != 0) return Status::Ok();
  HF3FS_TRY_ASSIGN(auto bin, kv::pg::FindPostgresBinDir());
  auto dir = fs::path(options_.dir) / "postgres";
  std::error_code ec;
  fs::create_directories(dir, ec);
  bool as_postgres = geteuid() == 0;
  uid_t uid = 0;
  gid_t gid = 0;
  if (as_postgres) {
    // PostgreSQL refuses to run as root: the server runs as the `postgres` system user.
    const passwd* pw = getpwnam("postgres");
    if (!pw) return Status(StatusCode::kUnavailable, "no `postgres` user (install postgresql)");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (chown(dir.c_str(), uid, gid) != 0) {
      return MakeStatus(StatusCode::kIoError, "chown {}: {}", dir.string(), strerror(errno));
    }
    // It must be able to reach its directory.
    for (auto p = fs::path(options_.dir); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      struct ::stat st;
      if (::stat(p.c_str(), &st) == 0 && (st.st_mode & 0001) == 0) {
        ::chmod(p.c_str(), (st.st_mode & 07777) | 0711);
      }
    }
  }
  if (!fs::exists(dir / "data" / "PG_VERSION")) {
    Child init("initdb",
               {bin + "/initdb", "-D", (dir / "data").string(), "-A", "trust", "-U", "hf3fs", "-E",
                "UTF8"},
               log_path("postgres"), true);
    if (as_postgres) init.RunAs(uid, gid);
    HF3FS_TRY(init.Start());
    int rc = init.Wait(120s);
    if (rc != 0) {
      return MakeStatus(StatusCode::kUnavailable, "initdb failed ({}); see {}", rc,
                        log_path("postgres"));
    }
  }
  postgres_ = std::make_unique<Child>(
      "postgres",
      std::vector<std::string>{bin + "/postgres", "-D", (dir / "data").string(), "-k", dir.string(),
                               "-p", std::to_string(pg_port_), "-c", "listen_addresses=", "-c",
                               "max_connections=200", "-c", "shared_buffers=64MB", "-c",
                               "max_pred_locks_per_transaction=256", "-c",
                               "cluster_name=hf3fs-" + options_.dir},
      log_path("postgres"), options_.die_with_parent);
  if (as_postgres) postgres_->RunAs(uid, gid);
  HF3FS_TRY(postgres_->Start());
  WritePid(*postgres_);
  auto sock = dir / (".s.PGSQL." + std::to_string(pg_port_));
  return WaitFor(*postgres_, "postgres", log_path("postgres"), 60s,
                 [&] { return fs::exists(sock) && fs::exists(dir / "data" / "postmaster.pid"); });
}

Status LocalCluster::StartMeta() {
  if (LivePid("meta") != 0) {
    return MakeStatus(StatusCode::kAlreadyExists,
                      "meta of {} is already running (pid {}): stop it with `hf3fs local down "
                      "--dir {}`",
                      options_.dir, LivePid("meta"), options_.dir);
  }
  std::vector<std::string> argv = {
      options_.binary, "meta", "--config.server.listen=" + meta_address(),
      "--config.server.http_listen=127.0.0.1:" + std::to_string(meta_http_port_),
      "--config.rpc.busy_poll=0s", "--config.meta.mgmtd=" + mgmtd_address(),
      "--config.meta.node_id=" + std::to_string(options_.meta_node_id),
      "--config.meta.cluster_id=local", "--config.meta.heartbeat_interval=500ms",
      "--config.rpc.key_file=" + key_path("server.keyring"), "--config.meta.root_chain_table=1",
      "--config.meta.root_chunk_size=" + std::to_string(options_.chunk_size),
      // Spread each file over up to 16 chains (the table has storage_nodes * targets /
      // replicas of them), so one large file uses every node.
      "--config.meta.root_stripe=" +
          std::to_string(std::max<uint32_t>(
              1, std::min<uint32_t>(16, options_.storage_nodes * options_.disks_per_node *
                                            options_.targets_per_disk / options_.replicas)))};
  if (options_.meta_store == "postgres") {
    argv.push_back("--config.kv.backend=postgres");
    argv.push_back("--config.kv.postgres.conninfo=" + postgres_conninfo());
  } else {
    std::error_code ec;
    fs::create_directories(fs::path(options_.dir) / "meta", ec);
    argv.push_back("--config.kv.backend=rocksdb");
    argv.push_back("--config.kv.rocksdb.path=" + (fs::path(options_.dir) / "meta" / "kv").string());
  }
  if (!options_.durability.empty()) {
    argv.push_back("--config.kv.durability=" + options_.durability);
  }
  if (!options_.durability_window.empty()) {
    argv.push_back("--config.kv.durability_window=" + options_.durability_window);
  }
  argv.insert(argv.end(), options_.meta_args.begin(), options_.meta_args.end());
  meta_ = std::make_unique<Child>("meta", argv, log_path("meta"), options_.die_with_parent);
  HF3FS_TRY(meta_->Start());
  WritePid(*meta_);
  return WaitFor(*meta_, "meta", log_path("meta"), 60s, [&] { return PortOpen(meta_port_); });
}

Status LocalCluster::StartMount() {
  if (LivePid("mount") != 0) {
    return MakeStatus(StatusCode::kAlreadyExists, "the mount of {} is already running (pid {})",
                      options_.dir, LivePid("mount"));
  }
  std::error_code ec;
  if (IsMounted(options_.mount)) umount2(options_.mount.c_str(), MNT_DETACH);  // a dead one
  fs::create_directories(options_.mount, ec);
  std::vector<std::string> argv = {
      options_.binary,
      "mount",
      options_.mount,
      "--mgmtd",
      mgmtd_address(),
      "--config.mount.meta=" + meta_address(),
      "--config.rpc.busy_poll=0s",
      "--config.server.listen=127.0.0.1:0",
      "--config.server.http_listen=127.0.0.1:" + std::to_string(mount_http_port_),
      "--config.rpc.key_file=" + key_path("client.key")};
  argv.insert(argv.end(), options_.mount_args.begin(), options_.mount_args.end());
  mount_ = std::make_unique<Child>("mount", argv, log_path("mount"), options_.die_with_parent);
  HF3FS_TRY(mount_->Start());
  WritePid(*mount_);
  return WaitFor(*mount_, "mount", log_path("mount"), 60s,
                 [&] { return IsMounted(options_.mount); });
}

void LocalCluster::SignalMeta(int sig) {
  if (meta_) meta_->Signal(sig);
}

bool LocalCluster::MetaRunning() { return meta_ && meta_->Running(); }

int LocalCluster::StopMeta(Duration timeout) {
  if (!meta_ || !meta_->Running()) return -1;
  meta_->Signal(SIGTERM);
  int rc = meta_->Wait(timeout);
  if (rc == -1) {
    meta_->Signal(SIGKILL);
    rc = meta_->Wait(5s);
  }
  return rc;
}

int LocalCluster::StopMount(Duration timeout) {
  if (!mount_ || !mount_->Running()) return -1;
  mount_->Signal(SIGTERM);  // the daemon flushes and unmounts
  int rc = mount_->Wait(timeout);
  if (rc == -1) {
    mount_->Signal(SIGKILL);
    rc = mount_->Wait(5s);
  }
  if (IsMounted(options_.mount)) umount2(options_.mount.c_str(), MNT_DETACH);
  return rc;
}

Status LocalCluster::WaitHealthy(Duration timeout) {
  int port_retries = 0;
  auto exited = [&]() -> Status {
    for (uint32_t i = 0; i < storage_.size(); ++i) {
      if (storage_[i] && !storage_[i]->Running()) {
        // Ports are picked free but not held: another process (a parallel test's cluster) may
        // have taken one since. Move that node to new ports and start it again.
        std::ifstream in(log_path("storage" + std::to_string(i)));
        std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto tail = log.size() > 4096 ? log.substr(log.size() - 4096) : log;
        if (port_retries < 3 && tail.find("Address already in use") != std::string::npos) {
          ++port_retries;
          storage_ports_[2 * i] = FreeLoopbackPort();
          storage_ports_[2 * i + 1] = FreeLoopbackPort();
          HF3FS_TRY(Save());
          HF3FS_LOG_WARN("local.port_taken node=storage{} retry_with={}", i, storage_address(i));
          HF3FS_TRY(StartStorage(i));
          continue;
        }
        return MakeStatus(StatusCode::kUnavailable, "storage{} exited; see {}", i,
                          log_path("storage" + std::to_string(i)));
      }
    }
    return Status::Ok();
  };
  // Healthy: every target of every chain is SERVING and its node reports it UPTODATE (a freshly
  // uploaded chain is SERVING before any storage node has reported).
  auto end = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < end) {
    HF3FS_TRY(exited());
    auto r = Admin({"list-targets", "--json"}, 10s);
    auto j = json::parse(r.out, nullptr, false);
    if (r.exit_code == 0 && !j.is_discarded() && j.contains("targets")) {
      bool healthy = !j["targets"].empty();
      last.clear();
      for (const auto& t : j["targets"]) {
        std::string pub = t.value("public_state", ""), loc = t.value("local_state", "");
        if (t.value("chain_id", 0) == 0) continue;
        if (pub != "SERVING" || loc != "UPTODATE") healthy = false;
        last += t.value("target_id", "?") + ":" + pub + "/" + loc + " ";
      }
      if (healthy) return Status::Ok();
    }
    std::this_thread::sleep_for(100ms);
  }
  return MakeStatus(StatusCode::kTimeout, "targets not all SERVING/UPTODATE after {} ms: {}",
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count(), last);
}

}  // namespace hf3fs::local
