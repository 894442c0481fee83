// Storage debugging and maintenance: space-info, target-info, chunk-meta, dump-chunk-meta,
// query-last-chunk, remove-chunks. Nodes are found through mgmtd's routing info; chain-level
// commands go through the storage client (head for removals, a SERVING replica for queries).
#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>
#include <fstream>
#include <iostream>

#include "admin/admin_command.h"
#include "chunk/chunk_id.h"
#include "client/storage_client.h"
#include "rpc.pb.h"
#include "storage.pb.h"

namespace hf3fs::admin {
namespace {

namespace asio = boost::asio;

struct Args {
  AdminOptions o;
  uint32_t node_id = 0, chain_id = 0, limit = 1024;
  uint64_t target_id = 0, inode = 0, from_index = 0;
  std::string chunk, out;
};

net::awaitable<Result<client::RoutingView>> Routing(client::MgmtdClient& m) {
  mgmtd::GetRoutingInfoReq req;
  auto r = co_await m.Call<mgmtd::GetRoutingInfoRsp>(mgmtd::MGMTD_GET_ROUTING_INFO, req);
  if (!r.ok()) co_return r.status();
  co_return client::RoutingView(std::make_shared<mgmtd::RoutingInfo>(r->info()));
}

// Calls one storage method on node `node` (or on the node of `target` when node is 0).
template <typename Rsp, typename Req>
net::awaitable<Result<Rsp>> CallNode(client::MgmtdClient& m, uint32_t node, uint64_t target,
                                     uint32_t method, const Req& req) {
  HF3FS_CO_TRY_ASSIGN(auto view, co_await Routing(m));
  auto addr = node != 0 ? view.NodeAddress(NodeId(node)) : view.TargetAddress(TargetId(target));
  if (!addr.ok()) co_return addr.status();
  co_return co_await m.rpc().Call<Rsp>(*addr, rpc::SERVICE_STORAGE, method, req);
}

Result<chunk::ChunkId> ParseChunk(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos) {
    return Status(StatusCode::kInvalidArgument, "--chunk must be INODE:INDEX, e.g. 4096:0");
  }
  try {
    return chunk::MakeChunkId(InodeId(std::stoull(text.substr(0, colon))),
                              std::stoull(text.substr(colon + 1)));
  } catch (const std::exception&) {
    return Status(StatusCode::kInvalidArgument, "--chunk must be INODE:INDEX, e.g. 4096:0");
  }
}

// A storage client over `m`'s RPC client, with routing fetched on demand.
template <typename Fn>
net::awaitable<Result<nlohmann::json>> WithStorageClient(client::MgmtdClient& m, Fn fn) {
  auto ex = co_await asio::this_coro::executor;
  auto& io = static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
  client::RoutingCache routing(m, io, std::chrono::seconds(1));
  HF3FS_CO_TRY(co_await routing.Refresh());
  client::StorageClientOptions opts;
  opts.timeout = std::chrono::seconds(30);
  client::StorageClient sc(m.rpc(), routing, 0, opts);
  co_return co_await fn(sc);
}

std::string Meta(const nlohmann::json& m) {
  auto part = [](const nlohmann::json& p) {
    if (p.is_null()) return std::string("-");
    return "v" + p.value("version", std::string("0")) + " len " +
           std::to_string(p.value("length", 0)) + " crc " + std::to_string(p.value("checksum", 0u));
  };
  return "committed " + part(m.value("committed", nlohmann::json())) + ", pending " +
         part(m.value("pending", nlohmann::json()));
}

}  // namespace

void AddStorageCommands(CLI::App& admin, CliContext& ctx) {
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("space-info",
                                     "per-disk capacity, free space and targets of "
                                     "a storage node");
    cmd->add_option("--node", a->node_id, "storage node id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          [a](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            auto r = co_await CallNode<storage::SpaceInfoRsp>(
                m, a->node_id, 0, storage::STORAGE_SPACE_INFO, storage::SpaceInfoReq());
            if (!r.ok()) co_return r.status();
            co_return ToJson(*r);
          },
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& d : j["disks"]) {
              rows.push_back({std::to_string(d.value("disk_index", 0)), d.value("path", ""),
                              d.value("capacity_bytes", "0"), d.value("free_bytes", "0"),
                              d.value("low_space", false) ? "yes" : "no",
                              d.value("failed", false) ? d.value("error", "failed") : "ok"});
            }
            PrintTable({"DISK", "PATH", "CAPACITY", "FREE", "LOW", "HEALTH"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand(
        "target-info", "a storage node's targets with the states it sees and reports");
    cmd->add_option("--node", a->node_id, "storage node id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          [a](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            auto r = co_await CallNode<storage::TargetInfoRsp>(
                m, a->node_id, 0, storage::STORAGE_TARGET_INFO, storage::TargetInfoReq());
            if (!r.ok()) co_return r.status();
            auto j = ToJson(*r);
            for (auto& t : j["targets"]) {
              t["public_state"] = mgmtd::PublicTargetState_Name(
                  static_cast<mgmtd::PublicTargetState>(t["public_state"].get<int>()));
              t["local_state"] = mgmtd::LocalTargetState_Name(
                  static_cast<mgmtd::LocalTargetState>(t["local_state"].get<int>()));
            }
            co_return j;
          },
          [](const nlohmann::json& j) {
            std::vector<std::vector<std::string>> rows;
            for (auto& t : j["targets"]) {
              rows.push_back({t.value("target_id", ""), std::to_string(t.value("chain_id", 0)),
                              std::to_string(t.value("chain_version", 0)),
                              t["public_state"].get<std::string>(),
                              t["local_state"].get<std::string>()});
            }
            PrintTable({"TARGET", "CHAIN", "VERSION", "PUBLIC", "LOCAL"}, rows);
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("chunk-meta", "one chunk's metadata on one target");
    cmd->add_option("--target", a->target_id, "target id")->required();
    cmd->add_option("--chunk", a->chunk, "chunk as INODE:INDEX")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      auto id = ParseChunk(a->chunk);
      if (!id.ok()) {
        std::cerr << "hf3fs admin: " << id.status().ToString() << "\n";
        ctx.exit_code = kExitUsage;
        return;
      }
      storage::GetChunkMetaReq req;
      req.set_target_id(a->target_id);
      req.set_chunk_id(id->bytes());
      ctx.exit_code = RunAdmin(
          a->o,
          [a, req](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            auto r = co_await CallNode<storage::GetChunkMetaRsp>(
                m, 0, a->target_id, storage::STORAGE_GET_CHUNK_META, req);
            if (!r.ok()) co_return r.status();
            co_return ToJson(*r);
          },
          [a](const nlohmann::json& j) {
            std::cout << "chunk " << a->chunk << " on target " << a->target_id << ": "
                      << Meta(j["meta"]) << "\n";
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd = admin.add_subcommand("dump-chunk-meta",
                                     "every chunk's metadata on one target, as JSON lines");
    cmd->add_option("--target", a->target_id, "target id")->required();
    cmd->add_option("--out", a->out, "write to this file instead of standard output");
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          [a](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            std::ofstream file;
            if (!a->out.empty()) file.open(a->out);
            std::ostream& os = a->out.empty() ? std::cout : file;
            storage::ListChunkMetaReq req;
            req.set_target_id(a->target_id);
            req.set_limit(4096);
            uint64_t n = 0;
            while (true) {
              auto r = co_await CallNode<storage::ListChunkMetaRsp>(
                  m, 0, a->target_id, storage::STORAGE_LIST_CHUNK_META, req);
              if (!r.ok()) co_return r.status();
              for (const auto& meta : r->metas()) {
                auto j = ToJson(meta);
                if (auto p = chunk::ParseChunkId(chunk::ChunkId(meta.chunk_id()))) {
                  j["chunk"] = fmt::format("{}:{}", p->first.value(), p->second);
                }
                if (!a->o.json) os << j.dump() << "\n";
                ++n;
              }
              if (!r->more()) break;
              req.set_begin(r->next());
            }
            if (!a->out.empty() && !file) {
              co_return MakeStatus(StatusCode::kIoError, "could not write {}", a->out);
            }
            co_return nlohmann::json{{"target_id", a->target_id}, {"chunks", n}};
          },
          [a](const nlohmann::json& j) {
            if (!a->out.empty())
              std::cout << j["chunks"] << " chunks written to " << a->out << "\n";
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd =
        admin.add_subcommand("query-last-chunk",
                             "the last chunk, chunk count and total length of a file's chunks on "
                             "one chain");
    cmd->add_option("--chain", a->chain_id, "chain id")->required();
    cmd->add_option("--inode", a->inode, "inode id")->required();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          [a](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            co_return co_await WithStorageClient(
                m, [a](client::StorageClient& sc) -> net::awaitable<Result<nlohmann::json>> {
                  auto [b, e] = chunk::FileChunkRange(InodeId(a->inode));
                  auto r = co_await sc.QueryLastChunk(ChainId(a->chain_id), b.bytes(), e.bytes());
                  if (!r.ok()) co_return r.status();
                  auto j = ToJson(*r);
                  if (r->has_last()) {
                    if (auto p = chunk::ParseChunkId(chunk::ChunkId(r->last().chunk_id()))) {
                      j["last_chunk"] = fmt::format("{}:{}", p->first.value(), p->second);
                    }
                  }
                  co_return j;
                });
          },
          [](const nlohmann::json& j) {
            std::cout << "chunks " << j["chunks"].get<std::string>() << ", total length "
                      << j["total_length"].get<std::string>() << ", last "
                      << j.value("last_chunk", std::string("none")) << "\n";
          });
    });
  }
  {
    auto a = std::make_shared<Args>();
    auto* cmd =
        admin.add_subcommand("remove-chunks",
                             "remove a file's chunks (from --from-index on) on one chain, through "
                             "its head");
    cmd->add_option("--chain", a->chain_id, "chain id")->required();
    cmd->add_option("--inode", a->inode, "inode id")->required();
    cmd->add_option("--from-index", a->from_index, "first chunk index to remove")
        ->capture_default_str();
    AddCommonOptions(cmd, a->o);
    cmd->callback([a, &ctx] {
      ctx.exit_code = RunAdmin(
          a->o,
          [a](client::MgmtdClient& m) -> net::awaitable<Result<nlohmann::json>> {
            co_return co_await WithStorageClient(
                m, [a](client::StorageClient& sc) -> net::awaitable<Result<nlohmann::json>> {
                  auto [b, e] = chunk::FileChunkRange(InodeId(a->inode), a->from_index);
                  std::string from = b.bytes();
                  uint64_t removed = 0;
                  while (true) {
                    auto r = co_await sc.RemoveChunks(ChainId(a->chain_id), from, e.bytes());
                    if (!r.ok()) co_return r.status();
                    removed += r->removed();
                    if (!r->more()) break;
                    from = r->next();
                  }
                  co_return nlohmann::json{{"removed", removed}};
                });
          },
          [](const nlohmann::json& j) { std::cout << "removed " << j["removed"] << " chunks\n"; });
    });
  }
}

}  // namespace hf3fs::admin
