#include "kv/postgres/pg_test_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "common/logging.h"

namespace hf3fs::kv::pg {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Waits for `pid` to exit; true when it did within `timeout`.
bool WaitExit(pid_t pid, std::chrono::milliseconds timeout, int* wstatus) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    pid_t r = waitpid(pid, wstatus, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

Result<std::string> FindPostgresBinDir() {
  if (const char* env = getenv("HF3FS_PG_BIN"); env != nullptr && *env != '\0')
    return std::string(env);
  std::error_code ec;
  int best = -1;
  std::string best_dir;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = atoi(e.path().filename().c_str());
    if (version > best && std::filesystem::exists(e.path() / "bin" / "initdb", ec)) {
      best = version;
      best_dir = (e.path() / "bin").string();
    }
  }
  if (best < 0) {
    return Status(StatusCode::kUnavailable,
                  "PostgreSQL server binaries not found under /usr/lib/postgresql (run "
                  "scripts/install-deps.sh) and HF3FS_PG_BIN is not set");
  }
  return best_dir;
}

Result<std::unique_ptr<PgTestServer>> PgTestServer::Start() {
  std::unique_ptr<PgTestServer> s(new PgTestServer());
  HF3FS_TRY_ASSIGN(s->bin_dir_, FindPostgresBinDir());
  char tmpl[] = "/tmp/hf3fs-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return MakeStatus(StatusCode::kIoError, "mkdtemp: {}", strerror(errno));
  }
  s->dir_ = tmpl;
  s->uid_ = getuid();
  s->gid_ = getgid();
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return Status(StatusCode::kUnavailable, "running as root but there is no 'postgres' user");
    }
    s->uid_ = pw->pw_uid;
    s->gid_ = pw->pw_gid;
    s->drop_privileges_ = true;
    if (chown(s->dir_.c_str(), s->uid_, s->gid_) != 0) {
      return MakeStatus(StatusCode::kIoError, "chown {}: {}", s->dir_, strerror(errno));
    }
  }
  std::random_device rd;
  s->port_ = 20000 + static_cast<int>(rd() % 40000);
  HF3FS_TRY(s->InitDb());
  HF3FS_TRY(s->StartServer());
  return s;
}

PgTestServer::~PgTestServer() {
  if (running()) {
    auto st = Stop();
    if (!st.ok()) HF3FS_LOG_WARN("kv.pg_test_server_stop_failed status=\"{}\"", st);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PgTestServer::conninfo() const {
  return fmt::format("host={} port={} user=hf3fs dbname=postgres", dir_, port_);
}

// Runs `args` (args[0] is the program) in dir_ as the server user, output appended to `log`.
static pid_t Spawn(const std::vector<std::string>& args, const std::string& log, bool drop,
                   uid_t uid, gid_t gid, const std::string& cwd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
      _exit(126);
    if (drop && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
    // After setuid, which clears it: stop with the thread that started us.
    if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent) _exit(126);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  return pid;
}

Status PgTestServer::InitDb() {
  std::vector<std::string> args = {
      bin_dir_ + "/initdb", "-D",       dir_ + "/data", "-A", "trust", "-U", "hf3fs", "-E", "UTF8",
      "--no-locale",        "--no-sync"};
  pid_t pid = Spawn(args, dir_ + "/initdb.log", drop_privileges_, uid_, gid_, dir_);
  if (pid < 0) return MakeStatus(StatusCode::kIoError, "spawn initdb: {}", strerror(errno));
  int wstatus = 0;
  if (!WaitExit(pid, 120s, &wstatus)) {
    kill(pid, SIGKILL);
    WaitExit(pid, 5s, &wstatus);
    return Status(StatusCode::kUnavailable, "initdb did not finish within 120 s");
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::ifstream in(dir_ + "/initdb.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return MakeStatus(StatusCode::kUnavailable, "initdb failed: {}", ss.str());
  }
  return Status::Ok();
}

Status PgTestServer::StartServer() {
  HF3FS_CHECK(!running());
  std::vector<std::string> args = {bin_dir_ + "/postgres",
                                   "-D",
                                   dir_ + "/data",
                                   "-k",
                                   dir_,
                                   "-p",
                                   std::to_string(port_),
                                   "-c",
                                   "listen_addresses=",
                                   "-c",
                                   "fsync=on",
                                   "-c",
                                   "max_connections=200",
                                   "-c",
                                   "shared_buffers=32MB",
                                   "-c",
                                   "max_pred_locks_per_transaction=256"};
  pid_ = Spawn(args, dir_ + "/server.log", drop_privileges_, uid_, gid_, dir_);
  if (pid_ < 0) return MakeStatus(StatusCode::kIoError, "spawn postgres: {}", strerror(errno));
  std::string ping = conninfo() + " connect_timeout=2";
  auto deadline = Clock::now() + 60s;
  while (PQping(ping.c_str()) != PQPING_OK) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return MakeStatus(StatusCode::kUnavailable, "postgres exited at start: {}", LogTail());
    }
    if (Clock::now() > deadline) {
      if (auto st = Stop(); !st.ok())
        HF3FS_LOG_WARN("kv.pg_test_server_stop_failed status=\"{}\"", st);
      return MakeStatus(StatusCode::kUnavailable, "postgres not ready within 60 s: {}", LogTail());
    }
    std::this_thread::sleep_for(10ms);
  }
  HF3FS_LOG_INFO("kv.pg_test_server_started dir={} pid={}", dir_, pid_);
  return Status::Ok();
}

Status PgTestServer::Stop() {
  if (!running()) return Status::Ok();
  int wstatus = 0;
  const std::pair<int, std::chrono::milliseconds> steps[] = {
      {SIGINT, 30s}, {SIGQUIT, 10s}, {SIGKILL, 10s}};
  for (const auto& [sig, wait] : steps) {
    kill(pid_, sig);
    if (WaitExit(pid_, wait, &wstatus)) {
      HF3FS_LOG_INFO("kv.pg_test_server_stopped dir={} pid={} signal={}", dir_, pid_, sig);
      pid_ = -1;
      return Status::Ok();
    }
  }
  return MakeStatus(StatusCode::kInternal, "postgres pid {} did not exit", pid_);
}

std::string PgTestServer::LogTail() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace hf3fs::kv::pg
