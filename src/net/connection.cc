#include "net/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

#include "common/crc32c.h"
#include "common/logging.h"
#include "common/metrics.h"

namespace hf3fs::net {
namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadBufferBytes = 64 << 10;
constexpr size_t kMaxGather = 64;        // iovecs per batch (Asio gathers at most 64 per writev)
constexpr size_t kCopyHeadBelow = 16 << 10;  // smaller heads are coalesced into one buffer

struct NetMetrics {
  metrics::Counter* bytes_in;
  metrics::Counter* bytes_out;
  metrics::Counter* writes;
  metrics::Gauge* conns_client;
  metrics::Gauge* conns_server;
  static NetMetrics& Get() {
    static NetMetrics m = [] {
      auto& r = metrics::Registry::Global();
      return NetMetrics{
          r.GetCounter("hf3fs_rpc_bytes_total", "Bytes moved by RPC connections",
                       {{"direction", "in"}}),
          r.GetCounter("hf3fs_rpc_bytes_total", "Bytes moved by RPC connections",
                       {{"direction", "out"}}),
          r.GetCounter("hf3fs_rpc_socket_writes_total", "Gathered socket writes"),
          r.GetGauge("hf3fs_rpc_connections", "Open RPC connections", {{"side", "client"}}),
          r.GetGauge("hf3fs_rpc_connections", "Open RPC connections", {{"side", "server"}}),
      };
    }();
    return m;
  }
};

metrics::Counter* RejectCounter(std::string_view reason) {
  return metrics::Registry::Global().GetCounter(
      "hf3fs_rpc_frames_rejected_total", "Frames rejected as malformed, closing the connection",
      {{"reason", std::string(reason)}});
}

metrics::Counter* ServerRequests(const MethodEntry* m, StatusCode code) {
  if (code == StatusCode::kOk) return m->ok_count;
  return metrics::Registry::Global().GetCounter(
      "hf3fs_rpc_server_requests_total", "RPC requests handled, by outcome",
      {{"service", m->service_name},
       {"method", m->method_name},
       {"status", StatusCodeLabel(code)}});
}

Status FromErrorCode(const boost::system::error_code& ec, std::string_view what,
                     std::string_view peer) {
  if (ec == asio::error::eof) {
    return MakeStatus(StatusCode::kRpcConnectionLost, "{} closed the connection", peer);
  }
  return MakeStatus(StatusCode::kRpcConnectionLost, "{} {}: {}", what, peer, ec.message());
}

}  // namespace

Connection::Connection(asio::io_context& ctx, const RpcConfig& config,
                       const ServiceRegistry* registry, std::string peer)
    : ctx_(ctx),
      config_(config),
      registry_(registry),
      peer_(std::move(peer)),
      socket_(ctx),
      wake_timer_(ctx),
      sweep_timer_(ctx),
      slot_timer_(ctx),
      connect_timer_(ctx) {
  rbuf_.resize(kReadBufferBytes);
  (registry_ ? NetMetrics::Get().conns_server : NetMetrics::Get().conns_client)->Inc();
}

Connection::~Connection() {
  (registry_ ? NetMetrics::Get().conns_server : NetMetrics::Get().conns_client)->Dec();
}

Status Connection::close_status() const {
  std::lock_guard lock(close_mu_);
  return close_status_;
}

Clock::time_point Connection::closed_at() const {
  std::lock_guard lock(close_mu_);
  return closed_at_;
}

void Connection::StartAccepted(tcp::socket socket) {
  socket_ = std::move(socket);
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  connected_flag_ = true;
  asio::post(ctx_, [self = shared_from_this()] {
    if (self->keyring_ && self->keyring_->verifies_any()) {
      asio::co_spawn(
          self->ctx_, [self]() { return self->ServeAfterHandshake(); }, asio::detached);
    } else {
      self->StartReaderAndWriter();
    }
  });
}

void Connection::StartConnect(tcp::endpoint endpoint) {
  auto self = shared_from_this();
  asio::co_spawn(ctx_, [self, endpoint]() { return self->ConnectLoop(endpoint); },
                 asio::detached);
  asio::co_spawn(ctx_, [self]() { return self->SweepLoop(); }, asio::detached);
}

void Connection::StartReaderAndWriter() {
  auto self = shared_from_this();
  asio::co_spawn(ctx_, [self]() { return self->ReadLoop(); }, asio::detached);
  writer_running_ = true;
  asio::co_spawn(ctx_, [self]() { return self->WriteLoop(); }, asio::detached);
}

awaitable<void> Connection::ConnectLoop(tcp::endpoint endpoint) {
  auto self = shared_from_this();
  auto timeout = config_.connect_timeout.Get();
  connect_timer_.expires_after(timeout);
  connect_timer_.async_wait([this, self](boost::system::error_code ec) {
    if (!ec && !connected_flag_) {
      connect_timed_out_ = true;
      boost::system::error_code ignored;
      socket_.close(ignored);
    }
  });
  auto [ec] = co_await socket_.async_connect(endpoint, kNoThrow);
  if (closed_) co_return;
  if (ec) {
    connect_timer_.cancel();
    CloseLocal(MakeStatus(StatusCode::kRpcConnectFailed, "connect to {}: {}", peer_,
                          connect_timed_out_ ? fmt::format("no answer within {}", FormatDuration(timeout))
                                    : ec.message()));
    co_return;
  }
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (keyring_ && keyring_->secret()) {
    // Authenticate before any queued call is written; the connect timeout covers it too.
    Status st = co_await ClientHandshake();
    if (closed_) co_return;
    if (!st.ok()) {
      connect_timer_.cancel();
      if (connect_timed_out_) {
        st = MakeStatus(StatusCode::kRpcConnectFailed,
                        "connect to {}: the authentication handshake took longer than {}", peer_,
                        FormatDuration(timeout));
      }
      HF3FS_LOG_WARN("rpc.auth_failed side=client peer={} error=\"{}\"", peer_, st);
      CloseLocal(std::move(st));
      co_return;
    }
  }
  connect_timer_.cancel();
  connected_flag_ = true;
  StartReaderAndWriter();
}

awaitable<Status> Connection::Call(PendingCall& call) {
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this, &call](auto handler) {
        call.resumer.Set(std::move(handler));
        asio::post(ctx_, [self = shared_from_this(), c = &call] { self->StartCall(c); });
      },
      asio::use_awaitable);
  co_return call.status;
}

void Connection::StartCall(PendingCall* call) {
  if (closed_) {
    Complete(call, close_status());
    return;
  }
  call->state = PendingCall::State::kQueued;
  pending_.emplace(call->request_id, call);
  OutFrame f;
  f.call = call;
  f.attachment = call->attachment;
  queue_.push_back(std::move(f));
  WakeWriter();
  if (sweeper_idle_) sweep_timer_.cancel();
}

void Connection::Complete(PendingCall* call, Status status) {
  HF3FS_CHECK(call->state != PendingCall::State::kDone);
  pending_.erase(call->request_id);
  call->state = PendingCall::State::kDone;
  call->status = std::move(status);
  // Resume the caller on its own executor, never inline from the connection's loops.
  call->resumer.Post();
}

void Connection::WakeWriter() {
  if (writer_waiting_) wake_timer_.cancel();
}

void Connection::Close(Status reason) {
  asio::post(ctx_, [self = shared_from_this(), r = std::move(reason)]() mutable {
    self->CloseLocal(std::move(r));
  });
}

void Connection::CloseLocal(Status reason) {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lock(close_mu_);
    close_status_ = reason;
    closed_at_ = Clock::now();
  }
  closed_flag_.store(true, std::memory_order_release);
  if (reason.code() != StatusCode::kShuttingDown && reason.code() != StatusCode::kRpcConnectFailed) {
    HF3FS_LOG_DEBUG("rpc.conn_closed peer={} side={} reason=\"{}\"", peer_,
                    registry_ ? "server" : "client", reason);
  }
  boost::system::error_code ignored;
  socket_.close(ignored);
  wake_timer_.cancel();
  sweep_timer_.cancel();
  slot_timer_.cancel();
  connect_timer_.cancel();
  // Queued frames were never started: fail their calls now. Frames being written are completed by
  // the writer once its write returns, because the socket may still read their buffers until then.
  for (auto& f : queue_) {
    if (f.call && f.call->state == PendingCall::State::kQueued) Complete(f.call, reason);
    queued_bytes_ -= f.charged;
  }
  queue_.clear();
  std::vector<PendingCall*> waiting;
  for (auto& [id, call] : pending_) {
    if (call->state == PendingCall::State::kWritten) waiting.push_back(call);
  }
  for (auto* call : waiting) Complete(call, reason);
  if (on_close_) {
    auto fn = std::move(on_close_);
    fn(this);
  }
}

void Connection::BeginDrain() {
  asio::post(ctx_, [self = shared_from_this()] {
    if (self->closed_ || self->draining_) return;
    self->draining_ = true;
    // Shutting down the receive side wakes the reader with end-of-stream; responses of in-flight
    // requests still go out on the send side.
    boost::system::error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_receive, ignored);
    self->MaybeFinishDrain();
  });
}

void Connection::MaybeFinishDrain() {
  if (draining_ && read_done_ && inflight_count_ == 0 && queue_.empty() && writing_.empty()) {
    CloseLocal(Status(StatusCode::kShuttingDown, "server is stopping"));
  }
}

void Connection::Reject(const Status& st, std::string_view reason) {
  RejectCounter(reason)->Inc();
  HF3FS_LOG_WARN("rpc.frame_rejected peer={} reason={} detail=\"{}\"", peer_, reason, st);
}

// ---- reading ----

awaitable<Status> Connection::Fill(size_t n) {
  if (rend_ - rpos_ >= n) co_return Status::Ok();
  if (rpos_ + n > rbuf_.size()) {
    std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
    if (n > rbuf_.size()) rbuf_.resize(n);
  }
  while (rend_ - rpos_ < n) {
    auto [ec, got] = co_await socket_.async_read_some(
        asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_), kNoThrow);
    if (ec) co_return FromErrorCode(ec, "read from", peer_);
    rend_ += got;
    NetMetrics::Get().bytes_in->Inc(got);
  }
  co_return Status::Ok();
}

awaitable<void> Connection::ReadLoop() {
  auto self = shared_from_this();
  while (!closed_) {
    if (rbuf_.size() > kReadBufferBytes && rpos_ == rend_) {
      rbuf_.resize(kReadBufferBytes);  // give back memory after a large message
      rbuf_.shrink_to_fit();
      rpos_ = rend_ = 0;
    }
    Status st = co_await ReadFrame();
    if (closed_) break;
    if (!st.ok()) {
      if (draining_) {
        read_done_ = true;
        MaybeFinishDrain();
      } else {
        CloseLocal(std::move(st));
      }
      break;
    }
    // Bytes held for this peer: its running requests and the answers it has not taken yet (a
    // peer that stops reading must not make the server queue answers without limit).
    while (!closed_ && !draining_ &&
           (inflight_count_ >= config_.max_inflight_per_connection.Get() ||
            (inflight_bytes_ + queued_bytes_ > 0 &&
             inflight_bytes_ + queued_bytes_ >= config_.max_inflight_bytes_per_connection.Get()))) {
      reader_waiting_slot_ = true;
      slot_timer_.expires_at(Clock::time_point::max());
      co_await slot_timer_.async_wait(kNoThrow);
      reader_waiting_slot_ = false;
    }
  }
}

awaitable<Status> Connection::ReadFrame() {
  FrameHeader h;
  rpc::Envelope env;
  HF3FS_CO_TRY(co_await PeekFrame(h, env));
  size_t body_off = rpos_ + kFrameHeaderSize + h.envelope_length;
  size_t body_len = h.message_length - h.envelope_length;
  if (env.is_response()) {
    co_return co_await HandleResponse(h, env, body_off, body_len);
  }
  co_return co_await HandleRequest(h, env, body_off, body_len);
}

awaitable<Status> Connection::ReadAttachmentInto(std::span<uint8_t> dst, const FrameHeader& h) {
  size_t buffered = std::min(dst.size(), rend_ - rpos_);
  std::memcpy(dst.data(), rbuf_.data() + rpos_, buffered);
  rpos_ += buffered;
  if (buffered < dst.size()) {
    auto [ec, got] = co_await asio::async_read(
        socket_, asio::buffer(dst.data() + buffered, dst.size() - buffered), kNoThrow);
    if (ec) co_return FromErrorCode(ec, "read attachment from", peer_);
    NetMetrics::Get().bytes_in->Inc(got);
  }
  if (h.has_attachment_crc() && Crc32c(dst.data(), dst.size()) != h.attachment_crc32c) {
    Status st(StatusCode::kRpcChecksumMismatch, "attachment checksum mismatch");
    Reject(st, "attachment_checksum");
    co_return st;
  }
  co_return Status::Ok();
}

awaitable<Status> Connection::DiscardAttachment(size_t n) {
  while (n > 0) {
    if (rpos_ == rend_) {
      rpos_ = rend_ = 0;
      HF3FS_CO_TRY(co_await Fill(1));
    }
    size_t take = std::min(n, rend_ - rpos_);
    rpos_ += take;
    n -= take;
  }
  co_return Status::Ok();
}

awaitable<Status> Connection::HandleResponse(const FrameHeader& h, rpc::Envelope& env,
                                             size_t body_off, size_t body_len) {
  rpos_ = body_off + body_len;
  auto it = pending_.find(env.request_id());
  if (it == pending_.end()) {
    // The call already completed (deadline); its response is dropped.
    co_return co_await DiscardAttachment(h.attachment_length);
  }
  PendingCall* call = it->second;
  // kWriting is normal: the peer can answer once the kernel has taken the last byte, before the
  // writer coroutine has resumed. Anything earlier means the peer answered a request it never got.
  if (call->state != PendingCall::State::kWritten && call->state != PendingCall::State::kWriting) {
    Status st(StatusCode::kRpcBadFrame, "response arrived before its request was sent");
    Reject(st, "early_response");
    co_return st;
  }
  pending_.erase(it);  // from here on only this reader touches the call
  Status result;
  if (env.status_code() != 0) {
    result = Status(StatusCodeFromNumber(env.status_code()), env.status_message());
  } else if (call->response &&
             !call->response->ParseFromArray(rbuf_.data() + body_off, static_cast<int>(body_len))) {
    result = Status(StatusCode::kRpcBadMessage, "response body does not parse");
  }
  if (h.attachment_length > 0) {
    std::span<uint8_t> dst;
    if (!call->recv_buffer.empty()) {
      if (h.attachment_length <= call->recv_buffer.size()) {
        dst = call->recv_buffer.first(h.attachment_length);
      } else if (result.ok()) {
        result = MakeStatus(StatusCode::kRpcAttachmentTooLarge,
                            "response attachment of {} bytes does not fit the {}-byte buffer",
                            h.attachment_length, call->recv_buffer.size());
      }
    } else if (call->attachment_out) {
      call->attachment_out->resize(h.attachment_length);
      dst = *call->attachment_out;
    }
    if (dst.empty()) {
      auto st = co_await DiscardAttachment(h.attachment_length);
      if (!st.ok()) {
        FinishResponse(call, st);
        co_return st;
      }
    } else {
      auto st = co_await ReadAttachmentInto(dst, h);
      if (!st.ok()) {
        FinishResponse(call, st);
        co_return st;
      }
      call->attachment_bytes = dst.size();
    }
  }
  FinishResponse(call, std::move(result));
  co_return Status::Ok();
}

void Connection::FinishResponse(PendingCall* call, Status result) {
  if (call->state == PendingCall::State::kWriting) {
    // The writer still refers to this call's buffers; it completes the call when its write returns.
    call->status = std::move(result);
    call->response_received = true;
    return;
  }
  Complete(call, std::move(result));
}

awaitable<Status> Connection::HandleRequest(const FrameHeader& h, rpc::Envelope& env,
                                            size_t body_off, size_t body_len) {
  auto arrived = Clock::now();
  if (!registry_) {
    Status st(StatusCode::kRpcBadFrame, "request sent to a client-side connection");
    Reject(st, "unexpected_request");
    co_return st;
  }
  auto method = registry_->Find(env.service_id(), env.method_id());
  auto ctx = std::make_shared<RequestContext>();
  Status early;
  if (!method.ok()) {
    early = method.status();
  } else if (!Allows((*method)->access, role_)) {
    early = MakeStatus(StatusCode::kRpcAuthDenied, "role {} may not call {}.{} ({} only)",
                       RoleName(role_), (*method)->service_name, (*method)->method_name,
                       AccessNames((*method)->access));
  } else {
    ctx->request = (*method)->new_request();
    ctx->response = (*method)->new_response();
    if (!ctx->request->ParseFromArray(rbuf_.data() + body_off, static_cast<int>(body_len))) {
      early = MakeStatus(StatusCode::kRpcBadMessage, "{}.{} request body does not parse",
                         (*method)->service_name, (*method)->method_name);
    }
  }
  rpos_ = body_off + body_len;
  if (!early.ok()) {
    HF3FS_LOG_WARN("rpc.request_rejected peer={} service={} method={} detail=\"{}\"", peer_,
                   env.service_id(), env.method_id(), early);
    HF3FS_CO_TRY(co_await DiscardAttachment(h.attachment_length));
    QueueErrorResponse(env, early);
    co_return Status::Ok();
  }
  if (h.attachment_length > 0) {
    ctx->request_attachment_storage.reset(new uint8_t[h.attachment_length]);
    ctx->request_attachment = {ctx->request_attachment_storage.get(), h.attachment_length};
    HF3FS_CO_TRY(co_await ReadAttachmentInto(ctx->request_attachment, h));
  }
  ctx->request_id = env.request_id();
  ctx->service_id = env.service_id();
  ctx->method_id = env.method_id();
  ctx->client_id = env.client_id();
  ctx->token = env.token();
  ctx->role = role_;
  ctx->peer = peer_;
  if (env.timeout_us() > 0) ctx->deadline = arrived + std::chrono::microseconds(env.timeout_us());
  inflight_count_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t charged = uint64_t{h.message_length} + h.attachment_length;
  inflight_bytes_ += charged;
  auto self = shared_from_this();
  asio::co_spawn(
      ctx_,
      [self, ctx, m = *method, arrived, charged]() {
        return self->RunHandler(ctx, m, arrived, charged);
      },
      asio::detached);
  co_return Status::Ok();
}

awaitable<void> Connection::RunHandler(std::shared_ptr<RequestContext> ctx,
                                       const MethodEntry* method, Clock::time_point arrived,
                                       uint64_t charged) {
  auto self = shared_from_this();
  Status st;
  if (ctx->expired()) {
    st = Status(StatusCode::kRpcTimeout, "deadline passed before the request ran");
  } else {
    try {
      st = co_await method->handler(*ctx);
    } catch (const std::exception& e) {
      HF3FS_LOG_ERROR("rpc.handler_exception service={} method={} what=\"{}\"",
                      method->service_name, method->method_name, e.what());
      st = MakeStatus(StatusCode::kInternal, "handler threw: {}", e.what());
    }
  }
  ServerRequests(method, st.code())->Inc();
  method->latency->Observe(std::chrono::duration<double>(Clock::now() - arrived).count());
  QueueResponse(ctx, st);
  inflight_count_.fetch_sub(1, std::memory_order_relaxed);
  inflight_bytes_ -= charged;
  if (reader_waiting_slot_) slot_timer_.cancel();
  MaybeFinishDrain();
}

// ---- authentication handshake (docs/design/0011-authentication.md) ----

namespace {

metrics::Counter* AuthCounter(std::string_view outcome) {
  return metrics::Registry::Global().GetCounter("hf3fs_rpc_auth_total",
                                                "Connection handshakes a server ran, by outcome",
                                                {{"outcome", std::string(outcome)}});
}

std::string KeyBytes(const Key& k) { return std::string(k.begin(), k.end()); }

}  // namespace

awaitable<Status> Connection::PeekFrame(FrameHeader& h, rpc::Envelope& env) {
  HF3FS_CO_TRY(co_await Fill(kFrameHeaderSize));
  auto hdr = DecodeFrameHeader(
      std::span<const uint8_t, kFrameHeaderSize>(rbuf_.data() + rpos_, kFrameHeaderSize),
      config_.max_frame_bytes.Get());
  if (!hdr.ok()) {
    Reject(hdr.status(), hdr.status().code() == StatusCode::kRpcFrameTooLarge ? "too_large"
                                                                               : "bad_header");
    co_return hdr.status();
  }
  h = *hdr;
  HF3FS_CO_TRY(co_await Fill(kFrameHeaderSize + h.message_length));
  std::span<const uint8_t, kFrameHeaderSize> hb(rbuf_.data() + rpos_, kFrameHeaderSize);
  std::span<const uint8_t> message(rbuf_.data() + rpos_ + kFrameHeaderSize, h.message_length);
  if (auto st = VerifyFrameChecksum(h, hb, message); !st.ok()) {
    Reject(st, "checksum");
    co_return st;
  }
  if (auto st = ParseEnvelope(h, message, &env); !st.ok()) {
    Reject(st, "bad_envelope");
    co_return st;
  }
  co_return Status::Ok();
}

awaitable<Status> Connection::ReadAuthFrame(uint32_t step, bool response,
                                            google::protobuf::MessageLite& body) {
  FrameHeader h;
  rpc::Envelope env;
  HF3FS_CO_TRY(co_await PeekFrame(h, env));
  size_t body_off = rpos_ + kFrameHeaderSize + h.envelope_length;
  size_t body_len = h.message_length - h.envelope_length;
  rpos_ += kFrameHeaderSize + h.message_length;
  if (response && env.is_response() && env.status_code() != 0 &&
      env.service_id() == rpc::SERVICE_AUTH) {
    auto code = static_cast<StatusCode>(env.status_code());
    if (code == StatusCode::kRpcUnknownService) {
      co_return MakeStatus(StatusCode::kRpcAuthFailed,
                           "{} does not authenticate connections (it runs without a key file); "
                           "a client with a key talks only to servers that prove theirs",
                           peer_);
    }
    co_return Status(code, env.status_message());
  }
  if (env.service_id() != rpc::SERVICE_AUTH || env.method_id() != step ||
      env.is_response() != response || h.attachment_length != 0) {
    co_return MakeStatus(StatusCode::kRpcAuthFailed,
                         "{} sent service {} method {} where authentication step {} belongs", peer_,
                         env.service_id(), env.method_id(), step);
  }
  if (!body.ParseFromArray(rbuf_.data() + body_off, static_cast<int>(body_len))) {
    co_return MakeStatus(StatusCode::kRpcAuthFailed, "{}: authentication step {} does not parse",
                         peer_, step);
  }
  co_return Status::Ok();
}

awaitable<Status> Connection::WriteAuthFrame(const rpc::Envelope& env,
                                             const google::protobuf::MessageLite* body) {
  std::vector<uint8_t> out;
  HF3FS_CO_TRY(AppendFrame(out, env, body, 0, std::nullopt, config_.max_frame_bytes.Get()));
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out), kNoThrow);
  if (ec) co_return FromErrorCode(ec, "write to", peer_);
  NetMetrics::Get().bytes_out->Inc(n);
  co_return Status::Ok();
}

awaitable<Status> Connection::WriteAuthStep(uint32_t step, bool response,
                                            const google::protobuf::MessageLite* body,
                                            const Status& status) {
  rpc::Envelope env;
  env.set_request_id(0);
  env.set_service_id(rpc::SERVICE_AUTH);
  env.set_method_id(step);
  env.set_is_response(response);
  if (!status.ok()) {
    env.set_status_code(static_cast<uint32_t>(status.code()));
    env.set_status_message(status.message());
    body = nullptr;
  }
  co_return co_await WriteAuthFrame(env, body);
}

awaitable<Status> Connection::ClientHandshake() {
  const auto& [role, secret] = *keyring_->secret();
  rpc::AuthHello hello;
  hello.set_version(1);
  hello.set_role(static_cast<rpc::AuthRole>(role));
  hello.set_client_nonce(KeyBytes(RandomKey()));
  HF3FS_CO_TRY(co_await WriteAuthStep(rpc::AUTH_HELLO, false, &hello));
  rpc::AuthChallenge challenge;
  HF3FS_CO_TRY(co_await ReadAuthFrame(rpc::AUTH_CHALLENGE, true, challenge));
  if (challenge.server_nonce().size() != 32) {
    co_return MakeStatus(StatusCode::kRpcAuthFailed, "{} sent a malformed challenge", peer_);
  }
  std::string message = AuthMessage(role, hello.client_nonce(), challenge.server_nonce());
  rpc::AuthProof proof;
  proof.set_proof(KeyBytes(ClientProof(secret, message)));
  HF3FS_CO_TRY(co_await WriteAuthStep(rpc::AUTH_PROOF, false, &proof));
  rpc::AuthResult result;
  HF3FS_CO_TRY(co_await ReadAuthFrame(rpc::AUTH_RESULT, true, result));
  if (!CheckServerSignature(secret, message, result.server_signature())) {
    co_return MakeStatus(StatusCode::kRpcAuthFailed,
                         "{} could not prove it holds the cluster's keys: not an hf3fs server of "
                         "this cluster",
                         peer_);
  }
  role_ = role;
  co_return Status::Ok();
}

awaitable<void> Connection::ServeAfterHandshake() {
  auto self = shared_from_this();
  // A peer that connects and stays silent must not hold the connection forever.
  connect_timer_.expires_after(config_.auth_timeout.Get());
  connect_timer_.async_wait([this, self](boost::system::error_code ec) {
    if (!ec && !handshake_done_ && !closed_) {
      handshake_timed_out_ = true;
      boost::system::error_code ignored;
      socket_.close(ignored);
    }
  });
  Status st = co_await ServerHandshake();
  handshake_done_ = true;
  connect_timer_.cancel();
  if (closed_) co_return;
  if (!st.ok()) {
    if (handshake_timed_out_) {
      st = MakeStatus(StatusCode::kRpcAuthFailed, "no authentication within {}",
                      FormatDuration(config_.auth_timeout.Get()));
    }
    AuthCounter(st.code() == StatusCode::kRpcAuthRequired ? "no_handshake" : "failed")->Inc();
    HF3FS_LOG_WARN("rpc.auth_failed side=server peer={} error=\"{}\"", peer_, st);
    CloseLocal(std::move(st));
    co_return;
  }
  AuthCounter(role_ == Role::kNone ? "anonymous" : RoleName(role_))->Inc();
  StartReaderAndWriter();
}

awaitable<Status> Connection::ServerHandshake() {
  FrameHeader h;
  rpc::Envelope env;
  HF3FS_CO_TRY(co_await PeekFrame(h, env));
  if (env.service_id() != rpc::SERVICE_AUTH) {
    // rpc.auth_required = false: a peer without a key is served anonymously (the reader takes
    // this frame again).
    if (!config_.auth_required.Get()) co_return Status::Ok();
    Status st(StatusCode::kRpcAuthRequired,
              "this server requires authentication: give the client a key file (rpc.key_file "
              "or $HF3FS_KEY_FILE; `hf3fs admin keygen` makes a set)");
    if (!env.is_response()) {
      rpc::Envelope rsp;
      rsp.set_request_id(env.request_id());
      rsp.set_service_id(env.service_id());
      rsp.set_method_id(env.method_id());
      rsp.set_is_response(true);
      rsp.set_status_code(static_cast<uint32_t>(st.code()));
      rsp.set_status_message(st.message());
      (void)co_await WriteAuthFrame(rsp, nullptr);
    }
    co_return st;
  }
  rpc::AuthHello hello;
  HF3FS_CO_TRY(co_await ReadAuthFrame(rpc::AUTH_HELLO, false, hello));
  auto role = static_cast<Role>(hello.role());
  const Verifier* v = nullptr;
  if (hello.role() >= rpc::AUTH_ROLE_SERVER && hello.role() <= rpc::AUTH_ROLE_ADMIN) {
    v = keyring_->VerifierFor(role);
  }
  Status refused;
  if (hello.version() != 1) {
    refused = MakeStatus(StatusCode::kRpcAuthFailed,
                         "authentication version {} (this server "
                         "speaks 1)",
                         hello.version());
  } else if (hello.client_nonce().size() != 32) {
    refused = Status(StatusCode::kRpcAuthFailed, "malformed hello");
  } else if (role == Role::kNone || hello.role() > rpc::AUTH_ROLE_ADMIN) {
    refused =
        MakeStatus(StatusCode::kRpcAuthFailed, "unknown role {}", static_cast<int>(hello.role()));
  } else if (!v) {
    refused =
        MakeStatus(StatusCode::kRpcAuthFailed, "this server accepts no {} key", RoleName(role));
  }
  if (!refused.ok()) {
    (void)co_await WriteAuthStep(rpc::AUTH_CHALLENGE, true, nullptr, refused);
    co_return refused;
  }
  rpc::AuthChallenge challenge;
  challenge.set_server_nonce(KeyBytes(RandomKey()));
  HF3FS_CO_TRY(co_await WriteAuthStep(rpc::AUTH_CHALLENGE, true, &challenge));
  rpc::AuthProof proof;
  HF3FS_CO_TRY(co_await ReadAuthFrame(rpc::AUTH_PROOF, false, proof));
  std::string message = AuthMessage(role, hello.client_nonce(), challenge.server_nonce());
  if (!CheckClientProof(*v, message, proof.proof())) {
    Status st = MakeStatus(StatusCode::kRpcAuthFailed, "wrong {} key", RoleName(role));
    (void)co_await WriteAuthStep(rpc::AUTH_RESULT, true, nullptr, st);
    co_return st;
  }
  rpc::AuthResult result;
  result.set_server_signature(KeyBytes(ServerSignature(*v, message)));
  HF3FS_CO_TRY(co_await WriteAuthStep(rpc::AUTH_RESULT, true, &result));
  role_ = role;
  co_return Status::Ok();
}

// ---- writing ----

void Connection::QueueResponse(std::shared_ptr<RequestContext> ctx, const Status& status) {
  if (closed_) return;
  rpc::Envelope env;
  env.set_request_id(ctx->request_id);
  env.set_service_id(ctx->service_id);
  env.set_method_id(ctx->method_id);
  env.set_is_response(true);
  OutFrame f;
  uint64_t att_len = 0;
  for (auto s : ctx->response_attachment) att_len += s.size();
  Status st = status;
  if (st.ok()) {
    std::optional<uint32_t> crc;
    if (config_.attachment_checksum.Get() && att_len > 0) {
      uint32_t c = 0;
      for (auto s : ctx->response_attachment) c = Crc32c(s.data(), s.size(), c);
      crc = c;
    }
    st = AppendFrame(f.owned_head, env, ctx->response.get(), att_len, crc,
                     config_.max_frame_bytes.Get());
    if (st.ok()) {
      for (auto s : ctx->response_attachment) f.attachment.emplace_back(s.data(), s.size());
      f.keepalive = std::move(ctx);
    }
  }
  if (!st.ok()) {
    f.owned_head.clear();
    f.attachment.clear();
    env.set_status_code(static_cast<uint32_t>(st.code()));
    env.set_status_message(st.message().substr(0, kMaxStatusMessageBytes));
    HF3FS_CHECK(AppendFrame(f.owned_head, env, nullptr, 0, std::nullopt,
                            kMaxFrameBytesLimit).ok());
  }
  f.charged = f.owned_head.size();
  for (auto& b : f.attachment) f.charged += b.size();
  queued_bytes_ += f.charged;
  queue_.push_back(std::move(f));
  WakeWriter();
}

void Connection::QueueErrorResponse(const rpc::Envelope& request, const Status& status) {
  auto ctx = std::make_shared<RequestContext>();
  ctx->request_id = request.request_id();
  ctx->service_id = request.service_id();
  ctx->method_id = request.method_id();
  QueueResponse(std::move(ctx), status);
}

awaitable<void> Connection::WriteLoop() {
  auto self = shared_from_this();
  std::vector<asio::const_buffer> iov;
  struct Segment {
    bool in_wbuf;
    size_t offset;
    const void* ptr;
    size_t len;
  };
  std::vector<Segment> segs;
  while (!closed_) {
    if (queue_.empty()) {
      MaybeFinishDrain();
      if (closed_) break;
      writer_waiting_ = true;
      wake_timer_.expires_at(Clock::time_point::max());
      co_await wake_timer_.async_wait(kNoThrow);
      writer_waiting_ = false;
      continue;
    }
    // Gather queued frames into one write: small heads are copied into wbuf_, large heads and
    // attachments are sent from where they are.
    wbuf_.clear();
    segs.clear();
    size_t bytes = 0;
    const size_t max_bytes = config_.max_batch_bytes.Get();
    auto add = [&](const uint8_t* p, size_t n, bool copy) {
      if (n == 0) return;
      if (copy) {
        if (!segs.empty() && segs.back().in_wbuf) {
          segs.back().len += n;
        } else {
          segs.push_back({true, wbuf_.size(), nullptr, n});
        }
        wbuf_.insert(wbuf_.end(), p, p + n);
      } else {
        segs.push_back({false, 0, p, n});
      }
      bytes += n;
    };
    while (!queue_.empty() && segs.size() + 2 + queue_.front().attachment.size() <= kMaxGather &&
           (bytes == 0 || bytes < max_bytes)) {
      OutFrame f = std::move(queue_.front());
      queue_.pop_front();
      const std::vector<uint8_t>& head = f.call ? f.call->head : f.owned_head;
      add(head.data(), head.size(), head.size() < kCopyHeadBelow);
      for (auto& b : f.attachment) add(static_cast<const uint8_t*>(b.data()), b.size(), false);
      if (f.call) f.call->state = PendingCall::State::kWriting;
      writing_.push_back(std::move(f));
    }
    iov.clear();
    for (auto& s : segs) {
      iov.emplace_back(s.in_wbuf ? static_cast<const void*>(wbuf_.data() + s.offset) : s.ptr,
                       s.len);
    }
    auto [ec, n] = co_await asio::async_write(
        socket_, iov,
        [](const boost::system::error_code& e, size_t) -> size_t { return e ? 0 : (64u << 20); },
        kNoThrow);
    NetMetrics::Get().bytes_out->Inc(n);
    NetMetrics::Get().writes->Inc();
    Status failure;
    if (ec) failure = closed_ ? close_status() : FromErrorCode(ec, "write to", peer_);
    uint64_t written_responses = 0;
    for (auto& f : writing_) written_responses += f.charged;
    queued_bytes_ -= written_responses;
    if (written_responses > 0 && reader_waiting_slot_) slot_timer_.cancel();
    for (auto& f : writing_) {
      if (!f.call || f.call->state != PendingCall::State::kWriting) continue;
      if (f.call->response_received) {
        Status result = std::move(f.call->status);
        Complete(f.call, std::move(result));
      } else if (!failure.ok()) {
        Complete(f.call, failure);
      } else {
        f.call->state = PendingCall::State::kWritten;
      }
    }
    writing_.clear();
    if (!failure.ok()) {
      CloseLocal(failure);
      break;
    }
  }
  // Frames taken for a write that failed were completed above; drop anything left.
  writing_.clear();
  MaybeFinishDrain();
}

// ---- deadlines ----

awaitable<void> Connection::SweepLoop() {
  auto self = shared_from_this();
  while (!closed_) {
    sweeper_idle_ = pending_.empty();
    if (sweeper_idle_) {
      sweep_timer_.expires_at(Clock::time_point::max());
    } else {
      sweep_timer_.expires_after(config_.deadline_check_interval.Get());
    }
    co_await sweep_timer_.async_wait(kNoThrow);
    if (closed_) break;
    auto now = Clock::now();
    std::vector<PendingCall*> expired;
    for (auto& [id, call] : pending_) {
      if (call->deadline <= now) expired.push_back(call);
    }
    for (auto* call : expired) {
      Status st = MakeStatus(StatusCode::kRpcTimeout, "no response from {} before the deadline",
                             peer_);
      switch (call->state) {
        case PendingCall::State::kQueued:
          for (auto it = queue_.begin(); it != queue_.end(); ++it) {
            if (it->call == call) {
              queue_.erase(it);
              break;
            }
          }
          Complete(call, std::move(st));
          break;
        case PendingCall::State::kWritten:
          Complete(call, std::move(st));
          break;
        case PendingCall::State::kWriting:
          // The socket may still read this call's buffers: only closing releases them.
          CloseLocal(MakeStatus(StatusCode::kRpcTimeout,
                                "deadline passed while sending a request to {}", peer_));
          break;
        default:
          break;
      }
      if (closed_) break;
    }
  }
}

}  // namespace hf3fs::net
