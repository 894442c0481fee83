#include "fuse/mount_command.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "client/fs_client.h"
#include "common/logging.h"
#include "fuse/fuse_fs.h"
#include "fuse/hf3fs_ioctl.h"
#include "fuse/usrbio_server.h"
#include "net/server_command.h"

namespace hf3fs::fuse {

namespace {

// Owns the client and the FUSE session for the life of the process. The mount is served until
// SIGTERM/SIGINT (then unmounted cleanly) or until someone unmounts it (then the process exits).
class MountRole : public net::ServerRole {
 public:
  MountRole(MountConfig& config, net::ServerRuntime& runtime)
      : config_(config), runtime_(runtime), pool_(config.mount.io_threads.Get(), "client") {}
  ~MountRole() override { Stop(); }

  Status Start() override {
    const auto& m = config_.mount;
    if (m.mountpoint.Get().empty()) {
      return Status(StatusCode::kConfigInvalid,
                    "no mount point: pass it as `hf3fs mount DIR` or mount.mountpoint");
    }
    struct stat s;
    if (::stat(m.mountpoint.Get().c_str(), &s) != 0 || !S_ISDIR(s.st_mode)) {
      return MakeStatus(StatusCode::kConfigInvalid, "mount point {} is not a directory",
                        m.mountpoint.Get());
    }
    client::FsClientOptions o;
    for (const auto& a : m.mgmtd.Get()) {
      HF3FS_TRY_ASSIGN(auto addr, net::Address::Parse(a));
      o.mgmtd.push_back(addr);
    }
    if (o.mgmtd.empty()) {
      return Status(StatusCode::kConfigInvalid,
                    "no mgmtd address: pass --mgmtd HOST:PORT or set mount.mgmtd");
    }
    for (const auto& a : m.meta.Get()) {
      HF3FS_TRY_ASSIGN(auto addr, net::Address::Parse(a));
      o.meta.push_back(addr);
    }
    o.description = "fuse " + m.mountpoint.Get();
    o.connect_timeout = m.connect_timeout.Get();
    pool_.Start();
    HF3FS_TRY_ASSIGN(client_, client::FsClient::Connect(pool_, config_.rpc, std::move(o)));
    fs_ = std::make_unique<FuseFs>(*client_, config_.mount);
    HF3FS_TRY(fs_->Mount());
    fs_->SetOnEnded([this] { runtime_.RequestStop("file system unmounted"); });
    fs_->Start();
    if (m.usrbio.Get()) {
      UsrbioOptions uo;
      uo.max_batches = m.usrbio_max_batches.Get();
      uo.group_bytes = m.usrbio_group_bytes.Get();
      usrbio_ = std::make_unique<UsrbioServer>(*fs_, uo);
      HF3FS_TRY(usrbio_->Start());
    }
    HF3FS_LOG_INFO("fuse.mounted mountpoint={} client_id={:x}", m.mountpoint.Get(),
                   client_->client_id());
    std::cout << "hf3fs mounted at " << m.mountpoint.Get() << std::endl;
    return Status::Ok();
  }

  void Stop() override {
    if (usrbio_) {
      usrbio_->Stop();  // while FUSE still serves: released handles it still held are finished
      usrbio_.reset();
    }
    if (fs_) {
      fs_->Exit();
      fs_.reset();
    }
    if (client_) {
      client_->Stop();
      client_.reset();
    }
    pool_.Stop();
  }

 private:
  MountConfig& config_;
  net::ServerRuntime& runtime_;
  net::IoContextPool pool_;
  std::unique_ptr<client::FsClient> client_;
  std::unique_ptr<FuseFs> fs_;
  std::unique_ptr<UsrbioServer> usrbio_;
};

}  // namespace

void AddMountCommand(CLI::App& app, CliContext& ctx) {
  net::ServerCommand command;
  command.name = "mount";
  command.description =
      "mount hf3fs with FUSE and serve it until SIGTERM/SIGINT or unmount (`hf3fs mount DIR "
      "--mgmtd HOST:PORT`)";
  command.make_config = [] { return std::make_unique<MountConfig>(); };
  command.identity = net::Role::kClient;
  command.setup = [](net::ServerRuntime& rt,
                     net::ServerConfigBase& base) -> Result<std::unique_ptr<net::ServerRole>> {
    auto& cfg = static_cast<MountConfig&>(base);
    return std::unique_ptr<net::ServerRole>(std::make_unique<MountRole>(cfg, rt));
  };
  net::AddServerCommand(app, ctx, std::move(command));
  auto* cmd = app.get_subcommand("mount");
  // Shorthands for the two settings every mount needs; they become config overrides.
  cmd->add_option_function<std::string>(
      "mountpoint",
      [&ctx](const std::string& v) { ctx.config_overrides.push_back("mount.mountpoint=" + v); },
      "where to mount (mount.mountpoint)");
  cmd->add_option_function<std::string>(
      "--mgmtd",
      [&ctx](const std::string& v) { ctx.config_overrides.push_back("mount.mgmtd=" + v); },
      "mgmtd addresses HOST:PORT[,HOST:PORT...] (mount.mgmtd)");
  cmd->add_flag_function(
      "--read-only",
      [&ctx](int64_t n) {
        if (n > 0) ctx.config_overrides.push_back("mount.read_only=true");
      },
      "mount read-only (mount.read_only)");
}

void AddSyncCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "sync",
      "make every write of an hf3fs mount and every metadata change power-safe (what syncfs(2) "
      "does on a local file system; Linux does not pass syncfs to FUSE file systems)");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("path", *paths, "a file or directory on each hf3fs mount to sync")->required();
  cmd->add_flag("--json", *json, "print one JSON object per path");
  cmd->callback([paths, json, &ctx] {
    for (const auto& path : *paths) {
      auto start = std::chrono::steady_clock::now();
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      int err = fd < 0 ? errno : 0;
      if (fd >= 0) {
        if (::ioctl(fd, HF3FS_IOC_SYNCFS) != 0) err = errno;
        ::close(fd);
      }
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::string what = err == ENOTTY ? "not on an hf3fs mount" : std::strerror(err);
      if (*json) {
        nlohmann::json j = {{"path", path}, {"ok", err == 0}, {"ms", ms}};
        if (err != 0) j["error"] = what;
        std::cout << j.dump() << std::endl;
      } else if (err != 0) {
        std::cerr << "hf3fs sync: " << path << ": " << what << std::endl;
      }
      if (err != 0) ctx.exit_code = 1;
    }
  });
}

}  // namespace hf3fs::fuse
