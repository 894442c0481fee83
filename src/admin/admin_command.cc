#include "admin/admin_command.h"

#include <google/protobuf/util/json_util.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cstdlib>
#include <future>
#include <iostream>

#include "net/auth.h"
#include "net/io_context_pool.h"
#include "net/rpc_client.h"

namespace hf3fs::admin {

void AddCommonOptions(CLI::App* cmd, AdminOptions& o) {
  const char* env_mgmtd = std::getenv("HF3FS_MGMTD");
  const char* env_token = std::getenv("HF3FS_TOKEN");
  o.mgmtd = env_mgmtd ? env_mgmtd : "127.0.0.1:8000";
  o.token = env_token ? env_token : "";
  cmd->add_option("--mgmtd", o.mgmtd, "mgmtd addresses, comma-separated ($HF3FS_MGMTD)")
      ->capture_default_str();
  cmd->add_option("--token", o.token, "user token when the cluster requires one ($HF3FS_TOKEN)");
  cmd->add_option("--key-file", o.key_file,
                  "key file to authenticate with, e.g. the admin.key of `hf3fs admin keygen` "
                  "($HF3FS_KEY_FILE)");
  cmd->add_flag("--json", o.json, "print JSON");
}

nlohmann::json ToJson(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &s, opts);
  return nlohmann::json::parse(s, nullptr, false);
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(w[i] - r[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (auto& r : rows) line(r);
}

int RunAdmin(const AdminOptions& o, const AdminFn& fn, const PrintFn& print) {
  auto fail = [&](const Status& st) {
    if (o.json) {
      std::cout << nlohmann::json{{"error", st.ToString()}, {"code", StatusCodeLabel(st.code())}}
                       .dump()
                << std::endl;
    } else {
      std::cerr << "hf3fs admin: " << st.ToString() << std::endl;
    }
    return kExitFailure;
  };
  std::vector<net::Address> addrs;
  std::string_view rest = o.mgmtd;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto a = net::Address::Parse(rest.substr(0, comma));
    if (!a.ok()) return fail(a.status());
    addrs.push_back(*a);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (addrs.empty()) return fail(Status(StatusCode::kInvalidArgument, "--mgmtd is empty"));
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
    client::MgmtdClient mgmtd(rpc, addrs, o.token);
    std::promise<void> done;
    boost::asio::co_spawn(
        pool.Get(0),
        [&]() -> net::awaitable<void> {
          result = co_await fn(mgmtd);
          done.set_value();
        },
        boost::asio::detached);
    done.get_future().wait();
  }
  pool.Stop();
  if (!result.ok()) return fail(result.status());
  if (o.json) {
    std::cout << result->dump() << std::endl;
  } else {
    print(*result);
  }
  return kExitOk;
}

void AddAdminCommands(CLI::App& app, CliContext& ctx) {
  auto* admin = app.add_subcommand("admin", "administer a cluster (talks to the primary mgmtd)");
  admin->require_subcommand(1);
  AddNodeCommands(*admin, ctx);
  AddChainCommands(*admin, ctx);
  AddConfigCommands(*admin, ctx);
  AddUserCommands(*admin, ctx);
  AddPlacementCommand(*admin, ctx);
  AddStorageCommands(*admin, ctx);
  AddMetaCommands(*admin, ctx);

  // keygen: local, talks to no server.
  auto* keygen = admin->add_subcommand(
      "keygen",
      "make a new key set in DIR: server.keyring (for mgmtd, meta and storage), client.key (for "
      "mounts and client tools) and admin.key (for administrators), each mode 0600 "
      "(docs/design/0011-authentication.md)");
  auto dir = std::make_shared<std::string>();
  keygen->add_option("--dir", *dir, "directory to write the key files to (created 0700)")
      ->required();
  keygen->callback([dir, &ctx] {
    Status st = net::WriteKeySet(*dir);
    if (!st.ok()) {
      std::cerr << "hf3fs admin keygen: " << st.ToString() << std::endl;
      ctx.exit_code = kExitFailure;
      return;
    }
    std::cout << "wrote " << *dir << "/server.keyring, " << *dir << "/client.key and " << *dir
              << "/admin.key; give each process its file with rpc.key_file (servers, mounts) "
                 "or --key-file / $HF3FS_KEY_FILE (admin tools)"
              << std::endl;
  });
}

}  // namespace hf3fs::admin
