#include "net/rpc_client.h"

#include <algorithm>

#include "common/crc32c.h"
#include "common/logging.h"
#include "common/metrics.h"

namespace hf3fs::net {
namespace {

metrics::Counter* ClientCalls(StatusCode code) {
  static metrics::Counter* ok = metrics::Registry::Global().GetCounter(
      "hf3fs_rpc_client_calls_total", "RPC calls made, by outcome", {{"status", "Ok"}});
  if (code == StatusCode::kOk) return ok;
  return metrics::Registry::Global().GetCounter("hf3fs_rpc_client_calls_total",
                                                "RPC calls made, by outcome",
                                                {{"status", StatusCodeLabel(code)}});
}

}  // namespace

RpcClient::RpcClient(IoContextPool& pool, const RpcConfig& config, uint64_t client_id)
    : pool_(pool), config_(config), client_id_(client_id), keyring_(ProcessKeyring()) {}

void RpcClient::SetKeyring(std::shared_ptr<const Keyring> keyring) {
  std::lock_guard lock(mu_);
  keyring_ = std::move(keyring);
}

RpcClient::~RpcClient() { CloseAll(); }

Result<std::shared_ptr<Connection>> RpcClient::GetConnection(const Address& peer) {
  auto key = peer.ToString();
  std::lock_guard lock(mu_);
  Peer& p = peers_[key];
  if (p.conn && !p.conn->closed()) return p.conn;
  if (p.conn) {
    if (p.conn->ever_connected()) {
      p.failures = 0;
    } else {
      if (p.counted_failure != p.conn.get()) {
        p.counted_failure = p.conn.get();
        ++p.failures;
      }
      auto min = config_.reconnect_backoff_min.Get();
      auto max = config_.reconnect_backoff_max.Get();
      Duration backoff = min;
      for (uint32_t i = 1; i < p.failures && backoff < max; ++i) backoff *= 2;
      backoff = std::min(backoff, max);
      auto retry_at = p.conn->closed_at() + backoff;
      auto now = Clock::now();
      if (now < retry_at) {
        return MakeStatus(
            StatusCode::kRpcConnectFailed, "{} (next attempt in {}; is the server running?)",
            p.conn->close_status().message(),
            FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(retry_at - now)));
      }
    }
  }
  HF3FS_TRY_ASSIGN(auto ep, peer.ToEndpoint());
  auto conn = std::make_shared<Connection>(pool_.Next(), config_, nullptr, key);
  conn->SetKeyring(keyring_);
  conn->StartConnect(ep);
  p.conn = conn;
  return conn;
}

awaitable<Status> RpcClient::CallRaw(const Address& peer, uint32_t service_id,
                                     uint32_t method_id,
                                     const google::protobuf::MessageLite& request,
                                     google::protobuf::MessageLite* response,
                                     const CallOptions& opts) {
  auto conn = GetConnection(peer);
  if (!conn.ok()) {
    ClientCalls(conn.status().code())->Inc();
    co_return conn.status();
  }
  auto timeout = opts.timeout.count() > 0 ? opts.timeout : config_.default_timeout.Get();
  PendingCall call;
  call.request_id = (*conn)->NextRequestId();
  call.deadline = Clock::now() + timeout;
  call.response = response;
  call.recv_buffer = opts.recv_buffer;
  call.attachment_out = opts.attachment_out;
  rpc::Envelope env;
  env.set_request_id(call.request_id);
  env.set_service_id(service_id);
  env.set_method_id(method_id);
  env.set_client_id(client_id_);
  if (!opts.token.empty()) env.set_token(std::string(opts.token));
  env.set_timeout_us(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
  uint64_t att_len = 0;
  std::optional<uint32_t> crc;
  for (auto s : opts.attachment) {
    att_len += s.size();
    call.attachment.emplace_back(s.data(), s.size());
  }
  if (config_.attachment_checksum.Get() && att_len > 0) {
    uint32_t c = 0;
    for (auto s : opts.attachment) c = Crc32c(s.data(), s.size(), c);
    crc = c;
  }
  Status st = AppendFrame(call.head, env, &request, att_len, crc, config_.max_frame_bytes.Get());
  if (st.ok()) st = co_await (*conn)->Call(call);
  if (opts.attachment_bytes) *opts.attachment_bytes = call.attachment_bytes;
  ClientCalls(st.code())->Inc();
  co_return st;
}

void RpcClient::Disconnect(const Address& peer) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer.ToString());
  if (it != peers_.end() && it->second.conn) {
    it->second.conn->Close(Status(StatusCode::kRpcConnectionLost, "disconnected by the client"));
  }
}

void RpcClient::CloseAll() {
  std::lock_guard lock(mu_);
  for (auto& [k, p] : peers_) {
    if (p.conn) p.conn->Close(Status(StatusCode::kShuttingDown, "client closed"));
  }
  peers_.clear();
}

}  // namespace hf3fs::net
