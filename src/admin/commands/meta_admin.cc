#include "admin/commands/meta_admin.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdlib>
#include <future>
#include <iostream>

#include "admin/admin_command.h"
#include "common/cli.h"
#include "net/io_context_pool.h"

namespace hf3fs::admin {

void AddMetaOptions(CLI::App* cmd, MetaOptions& o) {
  const char* env = std::getenv("HF3FS_META");
  o.meta = env ? env : "127.0.0.1:8100";
  cmd->add_option("--meta", o.meta, "meta server address ($HF3FS_META)")->capture_default_str();
  cmd->add_option("--uid", o.uid, "act as this uid (default root)");
  cmd->add_option("--gid", o.gid, "act as this gid (default root)");
  cmd->add_option("--key-file", o.key_file,
                  "key file to authenticate with, e.g. the admin.key of `hf3fs admin keygen` "
                  "($HF3FS_KEY_FILE)");
  cmd->add_flag("--json", o.json, "print JSON");
}

meta::PathAt MetaPath(const std::string& path) {
  meta::PathAt p;
  p.set_path(path);
  return p;
}

nlohmann::json InodeJson(const meta::Inode& inode) {
  auto j = ToJson(inode);
  j["name"] = inode.name();
  j["symlink_target"] = inode.symlink_target();
  return j;
}

int RunMetaAdmin(const MetaOptions& o, const MetaFn& fn,
                 const std::function<void(const nlohmann::json&)>& print) {
  auto fail = [&](const Status& st) {
    if (o.json) {
      std::cout
          << nlohmann::json{{"error", st.ToString()}, {"code", StatusCodeLabel(st.code())}}.dump()
          << std::endl;
    } else {
      std::cerr << "hf3fs admin: " << st.ToString() << std::endl;
    }
    return kExitFailure;
  };
  auto addr = net::Address::Parse(o.meta);
  if (!addr.ok()) return fail(addr.status());
  struct Cfg : config::Section {
    net::RpcConfig rpc{this, "rpc"};
  } cfg;
  (void)cfg.rpc.busy_poll.Set(Duration::zero());
  (void)cfg.rpc.connect_timeout.Set(std::chrono::seconds(2));
  if (auto k = net::LoadProcessKeyring(cfg.rpc, o.key_file); !k.ok()) return fail(k.status());
  net::IoContextPool pool(1, "admin");
  pool.Start();
  Result<nlohmann::json> result = Status(StatusCode::kInternal, "not run");
  {
    net::RpcClient rpc(pool, cfg.rpc);
    MetaCaller caller{rpc, *addr};
    std::promise<void> done;
    boost::asio::co_spawn(
        pool.Get(0),
        [&]() -> net::awaitable<void> {
          result = co_await fn(caller);
          done.set_value();
        },
        boost::asio::detached);
    done.get_future().wait();
  }
  pool.Stop();
  if (!result.ok()) return fail(result.status());
  if (o.json) {
    // Names are bytes: anything that is not UTF-8 prints as U+FFFD.
    std::cout << result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
  } else {
    print(*result);
  }
  return kExitOk;
}

}  // namespace hf3fs::admin
