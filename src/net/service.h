// Server-side RPC dispatch: handlers registered by (service id, method id).
//
// Handlers are coroutines that run on the connection's io thread. They must not block: disk and
// other slow work goes through io_uring or an offload pool. A handler returns a Status; when it is
// ok the response message (and attachment, if any) is sent, otherwise only the status.
//
// Registration happens before the server starts; lookups afterwards are lock-free.
#pragma once

#include <google/protobuf/message_lite.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/io_buffer.h"
#include "common/metrics.h"
#include "common/status.h"
#include "net/auth.h"

namespace hf3fs::net {

using boost::asio::awaitable;

// Everything a handler sees of one request. Owned by the connection until the response is sent.
struct RequestContext {
  uint64_t request_id = 0;
  uint32_t service_id = 0;
  uint32_t method_id = 0;
  uint64_t client_id = 0;
  std::string token;  // the caller's user token, if it sent one
  // What the connection proved in its handshake (kNone: a server without authentication).
  Role role = Role::kNone;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::string peer;
  std::unique_ptr<google::protobuf::MessageLite> request;
  std::unique_ptr<google::protobuf::MessageLite> response;
  // The request's attachment bytes (storage owned by the connection, not zero-filled first).
  std::span<uint8_t> request_attachment;
  std::unique_ptr<uint8_t[]> request_attachment_storage;

  // Response attachment: sent from these spans (gathered, not copied). They must stay valid
  // until the response is written: point them into `response_buffer`, into the request
  // attachment, or into memory kept alive by `response_attachment_owner`.
  std::vector<std::span<const uint8_t>> response_attachment;
  std::shared_ptr<const void> response_attachment_owner;
  // 4 KiB-aligned and not zero-filled on resize: disk reads land in it directly.
  IoBuffer response_buffer;

  bool expired() const { return std::chrono::steady_clock::now() >= deadline; }
};

using MethodHandler = std::function<awaitable<Status>(RequestContext&)>;

struct MethodEntry {
  std::string service_name;
  std::string method_name;
  std::function<std::unique_ptr<google::protobuf::MessageLite>()> new_request;
  std::function<std::unique_ptr<google::protobuf::MessageLite>()> new_response;
  MethodHandler handler;
  Access access = kAnyRole;               // roles that may call it; checked before the handler runs
  metrics::Histogram* latency = nullptr;  // set by Register
  metrics::Counter* ok_count = nullptr;    // set by Register
};

class ServiceRegistry {
 public:
  // Registers one method; registering the same ids twice is a bug (HF3FS_CHECK).
  void Register(uint32_t service_id, uint32_t method_id, MethodEntry entry);

  // Typed registration. `fn(const Req&, Rsp&, RequestContext&) -> awaitable<Status>`; `fn` is kept
  // for the life of the registry (captures must stay valid that long). `access`: the roles that
  // may call it (docs/design/0011-authentication.md, "Authorization").
  template <typename Req, typename Rsp, typename Fn>
  void RegisterMethod(uint32_t service_id, uint32_t method_id, std::string service_name,
                      std::string method_name, Fn fn, Access access = kAnyRole) {
    MethodEntry e;
    e.access = access;
    e.service_name = std::move(service_name);
    e.method_name = std::move(method_name);
    e.new_request = [] { return std::make_unique<Req>(); };
    e.new_response = [] { return std::make_unique<Rsp>(); };
    e.handler = [fn = std::move(fn)](RequestContext& ctx) -> awaitable<Status> {
      co_return co_await fn(static_cast<const Req&>(*ctx.request),
                            static_cast<Rsp&>(*ctx.response), ctx);
    };
    Register(service_id, method_id, std::move(e));
  }

  // The entry, or kRpcUnknownService / kRpcUnknownMethod.
  Result<const MethodEntry*> Find(uint32_t service_id, uint32_t method_id) const;

 private:
  std::unordered_map<uint64_t, MethodEntry> methods_;
  std::unordered_map<uint32_t, std::string> services_;
};

}  // namespace hf3fs::net
