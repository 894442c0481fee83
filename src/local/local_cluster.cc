#include "local/local_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
  std::unique_ptr<LocalCluster> c(new LocalCluster(std::move(options)));
  if (fs::exists(fs::path(c->options_.dir) / "cluster.json")) {
    HF3FS_TRY(c->Load());
  } else {
    c->mgmtd_port_ = FreeLoopbackPort();
    for (uint32_t i = 0; i < c->options_.storage_nodes * 2; ++i) {
      c->storage_ports_.push_back(FreeLoopbackPort());
    }
    HF3FS_TRY(c->Save());
  }
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
            {"bootstrapped", bootstrapped_}};
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

std::string LocalCluster::storage_address(uint32_t i) const {
  return "127.0.0.1:" + std::to_string(storage_ports_[2 * i]);
}

std::string LocalCluster::log_path(const std::string& role) const {
  return (fs::path(options_.dir) / "logs" / (role + ".log")).string();
}

Status LocalCluster::StartMgmtd() {
  std::vector<std::string> argv = {
      options_.binary, "mgmtd", "--config.server.listen=" + mgmtd_address(),
      "--config.server.http_listen=127.0.0.1:0", "--config.rpc.busy_poll=0s",
      // One machine: failures are detected in seconds, not the multi-host default of 10 s.
      "--config.mgmtd.heartbeat_timeout=3s", "--config.mgmtd.chain_update_interval=200ms",
      "--config.kv.rocksdb.path=" + (fs::path(options_.dir) / "mgmtd" / "kv").string()};
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
      "--config.storage.routing_refresh_interval=200ms", "--config.storage.resync_interval=200ms"};
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
  for (auto& c : storage_) {
    if (c) c->Detach();
  }
}

void LocalCluster::StopAll() {
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
  if (cmdline.find(options_.dir) == std::string::npos) return 0;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string st;
  std::getline(stat, st);
  auto paren = st.rfind(')');
  if (paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'Z') return 0;
  return pid;
}

std::vector<LocalCluster::ProcessInfo> LocalCluster::Processes() const {
  std::vector<ProcessInfo> out;
  ProcessInfo m{"mgmtd", "mgmtd", 0, {mgmtd_port_}, false};
  m.pid = LivePid("mgmtd");
  m.running = m.pid != 0;
  out.push_back(m);
  for (uint32_t i = 0; i < options_.storage_nodes; ++i) {
    std::string name = "storage" + std::to_string(i);
    ProcessInfo p{
        "storage", name, LivePid(name), {storage_ports_[2 * i], storage_ports_[2 * i + 1]}, false};
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
}

LocalCluster::AdminResult LocalCluster::Admin(std::vector<std::string> args, Duration timeout) {
  std::vector<std::string> argv = {options_.binary, "admin"};
  argv.insert(argv.end(), args.begin(), args.end());
  // gen-placement runs locally and takes no mgmtd address.
  if (args.empty() || args[0] != "gen-placement") argv.push_back("--mgmtd=" + mgmtd_address());
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

Status LocalCluster::Up(Duration timeout) {
  HF3FS_TRY(StartMgmtd());
  if (!bootstrapped_) HF3FS_TRY(Bootstrap());
  for (uint32_t i = 0; i < options_.storage_nodes; ++i) HF3FS_TRY(StartStorage(i));
  return WaitHealthy(timeout);
}

Status LocalCluster::WaitHealthy(Duration timeout) {
  auto exited = [&]() -> Status {
    for (uint32_t i = 0; i < storage_.size(); ++i) {
      if (storage_[i] && !storage_[i]->Running()) {
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
