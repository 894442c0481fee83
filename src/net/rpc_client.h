// Calls RPC methods on peers by address, over pooled connections.
//
// One connection per peer address, opened on first use. Calls are pipelined on it (any number in
// flight, responses in any order). When a connect fails, calls to that peer fail fast with the
// retryable kRpcConnectFailed until a backoff passes (doubling from rpc.reconnect_backoff_min to
// rpc.reconnect_backoff_max); the next call after it tries again. When an open connection drops,
// its pending calls fail with the retryable kRpcConnectionLost and the next call reconnects.
// Retrying is the caller's decision: the client never resends a request by itself.
//
// Thread-safe; calls may come from coroutines on any executor.
#pragma once

#include <google/protobuf/message_lite.h>

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/address.h"
#include "net/connection.h"
#include "net/io_context_pool.h"
#include "net/rpc_config.h"

namespace hf3fs::net {

struct CallOptions {
  Duration timeout{0};  // zero: rpc.default_timeout
  // User token sent in the envelope (clusters with authentication); the bytes must outlive the
  // call. A view, not a std::string: g++ 12 mishandles the destruction of a defaulted
  // `const CallOptions&` temporary whose members own heap memory across a coroutine suspension
  // (seen as "free(): invalid pointer"), so CallOptions holds only trivially relocatable members.
  std::string_view token;
  // Request attachment, sent straight from these buffers; they must stay valid until the call
  // returns.
  std::vector<std::span<const uint8_t>> attachment;
  // Where the response attachment goes: recv_buffer when it fits (else kRpcAttachmentTooLarge),
  // or *attachment_out when recv_buffer is empty. *attachment_bytes gets its size.
  std::span<uint8_t> recv_buffer;
  std::vector<uint8_t>* attachment_out = nullptr;
  size_t* attachment_bytes = nullptr;
};

class RpcClient {
 public:
  // `pool` (started) and `config` must outlive the client.
  RpcClient(IoContextPool& pool, const RpcConfig& config, uint64_t client_id = 0);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Sends `request` and parses the response into `*response`. Status codes: the handler's own,
  // kRpcConnectFailed, kRpcConnectionLost, kRpcTimeout, kRpcUnknownService/Method,
  // kRpcBadMessage, kRpcFrameTooLarge, kRpcAttachmentTooLarge.
  awaitable<Status> CallRaw(const Address& peer, uint32_t service_id, uint32_t method_id,
                            const google::protobuf::MessageLite& request,
                            google::protobuf::MessageLite* response, const CallOptions& opts = {});

  template <typename Rsp, typename Req>
  awaitable<Result<Rsp>> Call(const Address& peer, uint32_t service_id, uint32_t method_id,
                              const Req& request, const CallOptions& opts = {}) {
    Rsp response;
    Status st = co_await CallRaw(peer, service_id, method_id, request, &response, opts);
    if (!st.ok()) co_return st;
    co_return response;
  }

  // The key this client proves on new connections (default: the process keyring, when it holds
  // a secret). Applies to connections opened afterwards.
  void SetKeyring(std::shared_ptr<const Keyring> keyring);

  // Closes the connection to `peer` (pending calls fail with kRpcConnectionLost).
  void Disconnect(const Address& peer);
  void CloseAll();
  uint64_t client_id() const { return client_id_; }

 private:
  struct Peer {
    std::shared_ptr<Connection> conn;
    Connection* counted_failure = nullptr;  // the failed connection already counted
    uint32_t failures = 0;
  };
  Result<std::shared_ptr<Connection>> GetConnection(const Address& peer);

  IoContextPool& pool_;
  const RpcConfig& config_;
  const uint64_t client_id_;
  std::mutex mu_;
  std::shared_ptr<const Keyring> keyring_;
  std::unordered_map<std::string, Peer> peers_;
};

}  // namespace hf3fs::net
