// One framed RPC connection (docs/design/0001-rpc.md, docs/formats/rpc.md).
//
// The same class serves both ends: a client-side connection sends requests and matches responses
// by request id; a server-side connection (constructed with a registry) runs handlers for
// incoming requests and sends their responses.
//
// Threading: a Connection is pinned to one single-threaded io_context. Its reader, writer and
// deadline sweeper coroutines and all of its state live on that thread. The public functions
// below are safe from any thread; they hop onto the connection's thread with a post.
//
// Lifetime: held by shared_ptr; its coroutines keep it alive until it is closed.
#pragma once

#include <google/protobuf/message_lite.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "net/auth.h"
#include "net/frame.h"
#include "net/rpc_config.h"
#include "net/service.h"

namespace hf3fs::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A type-erased coroutine resumption: posts the stored completion handler to its own executor.
class Resumer {
 public:
  template <typename Handler>
  void Set(Handler&& h) {
    impl_ = std::make_unique<Impl<std::decay_t<Handler>>>(std::forward<Handler>(h));
  }
  void Post() {
    auto impl = std::move(impl_);
    impl->Post();
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void Post() = 0;
  };
  template <typename H>
  struct Impl final : Base {
    explicit Impl(H&& h) : handler(std::move(h)) {}
    void Post() override {
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, std::move(handler));
    }
    H handler;
  };
  std::unique_ptr<Base> impl_;
};

// A request in flight. Lives in the caller's coroutine frame; the connection refers to it until
// it completes, and completes it exactly once (response, deadline or connection close).
struct PendingCall {
  enum class State : uint8_t { kNew, kQueued, kWriting, kWritten, kDone };

  // Filled by the caller before Connection::Call.
  uint64_t request_id = 0;
  std::vector<uint8_t> head;                  // frame header + envelope + request body
  std::vector<asio::const_buffer> attachment;  // request attachment, sent from these buffers
  google::protobuf::MessageLite* response = nullptr;
  std::span<uint8_t> recv_buffer;             // response attachment lands here when it fits
  std::vector<uint8_t>* attachment_out = nullptr;  // or here, when recv_buffer is empty
  Clock::time_point deadline = Clock::time_point::max();

  // Results.
  Status status;
  size_t attachment_bytes = 0;

  // Connection-private.
  State state = State::kNew;
  bool response_received = false;  // the response came while the writer still held the frame
  Resumer resumer;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `registry` is null for client-side connections. `config` must outlive the connection.
  Connection(asio::io_context& ctx, const RpcConfig& config, const ServiceRegistry* registry,
             std::string peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Before Start*: client side, a keyring with a secret makes the connection authenticate before
  // its first request; server side, a keyring with verifiers makes it check connecting peers
  // (docs/design/0011-authentication.md).
  void SetKeyring(std::shared_ptr<const Keyring> keyring) { keyring_ = std::move(keyring); }
  // What the peer proved (server side; kNone before or without a handshake).
  Role role() const { return role_; }

  // Server side: adopt an accepted socket (which must belong to `ctx`) and start serving.
  void StartAccepted(tcp::socket socket);
  // Client side: connect in the background; calls made meanwhile wait in the send queue.
  void StartConnect(tcp::endpoint endpoint);

  // Request ids are unique per connection; take one before building `call.head`.
  uint64_t NextRequestId() { return next_request_id_.fetch_add(1, std::memory_order_relaxed); }

  // Sends `call` and waits for it to complete; returns call.status. From any thread.
  awaitable<Status> Call(PendingCall& call);

  // Closes the socket and fails every pending call with `reason`. From any thread.
  void Close(Status reason);
  // Server side: stop reading requests, finish and flush in-flight ones, then close.
  void BeginDrain();

  bool closed() const { return closed_flag_.load(std::memory_order_acquire); }
  bool ever_connected() const { return connected_flag_.load(std::memory_order_acquire); }
  // Why it closed (ok while open) and when.
  Status close_status() const;
  Clock::time_point closed_at() const;
  const std::string& peer() const { return peer_; }
  size_t inflight_requests() const { return inflight_count_.load(std::memory_order_relaxed); }

  // Called once, on the connection's thread, after the connection closes.
  void SetOnClose(std::function<void(Connection*)> fn) { on_close_ = std::move(fn); }

 private:
  struct OutFrame {
    std::vector<uint8_t> owned_head;  // responses own their bytes
    PendingCall* call = nullptr;      // requests point into the caller's frame
    std::vector<asio::const_buffer> attachment;
    std::shared_ptr<RequestContext> keepalive;  // responses: keeps attachment memory alive
    uint64_t charged = 0;  // responses: frame bytes counted in queued_bytes_ until written
  };

  awaitable<void> ConnectLoop(tcp::endpoint endpoint);
  // The authentication handshake (run before the reader and writer start).
  awaitable<Status> ClientHandshake();
  awaitable<void> ServeAfterHandshake();
  awaitable<Status> ServerHandshake();
  awaitable<Status> ReadAuthFrame(uint32_t step, bool response,
                                  google::protobuf::MessageLite& body);
  awaitable<Status> WriteAuthFrame(const rpc::Envelope& env,
                                   const google::protobuf::MessageLite* body);
  awaitable<Status> WriteAuthStep(uint32_t step, bool response,
                                  const google::protobuf::MessageLite* body,
                                  const Status& status = Status::Ok());
  awaitable<void> ReadLoop();
  awaitable<void> WriteLoop();
  awaitable<void> SweepLoop();
  awaitable<Status> Fill(size_t n);
  // Buffers the next frame's header and message, checks them and parses the envelope; consumes
  // nothing (the caller advances rpos_). Malformed frames are rejected (logged, counted).
  awaitable<Status> PeekFrame(FrameHeader& h, rpc::Envelope& env);
  awaitable<Status> ReadFrame();
  awaitable<Status> ReadAttachmentInto(std::span<uint8_t> dst, const FrameHeader& h);
  awaitable<Status> DiscardAttachment(size_t n);
  awaitable<Status> HandleResponse(const FrameHeader& h, rpc::Envelope& env, size_t body_off,
                                   size_t body_len);
  awaitable<Status> HandleRequest(const FrameHeader& h, rpc::Envelope& env, size_t body_off,
                                  size_t body_len);
  // `charged`: the request's frame bytes (message and attachment) counted in inflight_bytes_ until
  // it finishes.
  awaitable<void> RunHandler(std::shared_ptr<RequestContext> ctx, const MethodEntry* method,
                             Clock::time_point arrived, uint64_t charged);
  void StartReaderAndWriter();
  void StartCall(PendingCall* call);
  void QueueResponse(std::shared_ptr<RequestContext> ctx, const Status& status);
  void QueueErrorResponse(const rpc::Envelope& request, const Status& status);
  void Complete(PendingCall* call, Status status);
  void FinishResponse(PendingCall* call, Status result);
  void CloseLocal(Status reason);
  void MaybeFinishDrain();
  void WakeWriter();
  void Reject(const Status& st, std::string_view reason);

  asio::io_context& ctx_;
  const RpcConfig& config_;
  const ServiceRegistry* registry_;
  const std::string peer_;
  tcp::socket socket_;
  asio::steady_timer wake_timer_;   // writer waits here when the queue is empty
  asio::steady_timer sweep_timer_;  // deadline sweeper
  asio::steady_timer slot_timer_;   // reader waits here when max in-flight requests run
  asio::steady_timer connect_timer_;

  // Connection-thread state.
  std::vector<uint8_t> rbuf_;
  size_t rpos_ = 0;
  size_t rend_ = 0;
  std::deque<OutFrame> queue_;
  std::vector<OutFrame> writing_;
  std::vector<uint8_t> wbuf_;
  std::unordered_map<uint64_t, PendingCall*> pending_;
  bool writer_running_ = false;
  bool writer_waiting_ = false;
  bool reader_waiting_slot_ = false;
  bool sweeper_idle_ = false;
  bool draining_ = false;
  bool read_done_ = false;
  bool closed_ = false;
  bool connect_timed_out_ = false;
  std::function<void(Connection*)> on_close_;
  std::shared_ptr<const Keyring> keyring_;
  Role role_ = Role::kNone;
  uint64_t inflight_bytes_ = 0;  // request frame bytes of running handlers
  uint64_t queued_bytes_ = 0;    // response frame bytes queued or being written
  bool handshake_done_ = false;
  bool handshake_timed_out_ = false;

  // Readable from any thread.
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<bool> closed_flag_{false};
  std::atomic<bool> connected_flag_{false};
  std::atomic<size_t> inflight_count_{0};
  mutable std::mutex close_mu_;
  Status close_status_;
  Clock::time_point closed_at_{};
};

}  // namespace hf3fs::net
