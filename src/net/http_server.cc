#include "net/http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <thread>

#include "common/logging.h"
#include "common/metrics.h"

namespace hf3fs::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  explicit Impl(asio::io_context& c) : ctx(c), acceptor(c) {}

  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(std::shared_ptr<beast::tcp_stream> stream);
  HttpResponse Dispatch(const http::request<http::string_body>& req);

  asio::io_context& ctx;
  tcp::acceptor acceptor;
  std::map<std::string, Handler> routes;
  std::set<std::shared_ptr<beast::tcp_stream>> streams;  // io thread only
  std::promise<void> accept_done;
  int active = 0;  // io thread only
  bool stopping = false;
};

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}

HttpServer::HttpServer(asio::io_context& ctx) : impl_(std::make_shared<Impl>(ctx)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string path, Handler handler) {
  impl_->routes[std::move(path)] = std::move(handler);
}

void HttpServer::AddDefaultRoutes(std::function<bool()> healthy) {
  Route("/metrics", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        metrics::Registry::Global().RenderPrometheus()};
  });
  Route("/healthz", [healthy](const HttpRequest&) {
    if (healthy && !healthy()) return HttpResponse{503, "text/plain; charset=utf-8", "unhealthy\n"};
    return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
  });
}

Status HttpServer::Start(const Address& bind) {
  HF3FS_TRY_ASSIGN(auto ep, bind.ToEndpoint());
  boost::system::error_code ec;
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acc.close(ignored);
    return MakeStatus(StatusCode::kIoError, "cannot listen for HTTP on {}: {}", bind.ToString(),
                      ec.message());
  }
  address_ = Address::FromEndpoint(acc.local_endpoint());
  started_ = true;
  auto impl = impl_;
  asio::co_spawn(impl->ctx, [impl] { return impl->AcceptLoop(); },
                 [impl](std::exception_ptr) { impl->accept_done.set_value(); });
  HF3FS_LOG_INFO("http.server_listening address={}", address_.ToString());
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!started_) return;
  started_ = false;
  auto impl = impl_;
  std::promise<void> closed;
  asio::post(impl->ctx, [impl] {
    impl->stopping = true;
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& s : impl->streams) s->socket().close(ignored);
  });
  impl->accept_done.get_future().wait();
  // Wait until every connection coroutine has seen its socket close.
  for (;;) {
    std::promise<int> p;
    asio::post(impl->ctx, [impl, &p] { p.set_value(impl->active); });
    if (p.get_future().get() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

asio::awaitable<void> HttpServer::Impl::AcceptLoop() {
  auto self = shared_from_this();
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      HF3FS_LOG_WARN("http.accept_failed error=\"{}\"", ec.message());
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    streams.insert(stream);
    ++active;
    asio::co_spawn(ctx, [self, stream] { return self->Serve(stream); },
                   [self, stream](std::exception_ptr) {
                     self->streams.erase(stream);
                     --self->active;
                   });
  }
}

HttpResponse HttpServer::Impl::Dispatch(const http::request<http::string_body>& req) {
  std::string target(req.target());
  HttpRequest r;
  r.method = std::string(req.method_string());
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  auto it = routes.find(r.path);
  if (it == routes.end()) {
    std::string known;
    for (auto& [p, h] : routes) known += p + "\n";
    return HttpResponse{404, "text/plain; charset=utf-8", "not found; known paths:\n" + known};
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return HttpResponse{405, "text/plain; charset=utf-8", "only GET is supported\n"};
  }
  try {
    return it->second(r);
  } catch (const std::exception& e) {
    HF3FS_LOG_ERROR("http.handler_exception path={} what=\"{}\"", r.path, e.what());
    return HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

asio::awaitable<void> HttpServer::Impl::Serve(std::shared_ptr<beast::tcp_stream> stream) {
  beast::flat_buffer buffer(64 << 10);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 << 10);
    parser.body_limit(64 << 10);
    stream->expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(*stream, buffer, parser, kNoThrow);
    if (ec == http::error::end_of_stream || ec == asio::error::eof || stopping) break;
    http::response<http::string_body> res;
    bool keep_alive = false;
    if (ec) {
      if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset) {
        break;
      }
      res.result(http::status::bad_request);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "bad request: " + ec.message() + "\n";
    } else {
      auto& req = parser.get();
      HttpResponse out = Dispatch(req);
      res.result(static_cast<unsigned>(out.status));
      res.set(http::field::content_type, out.content_type);
      if (req.method() != http::verb::head) res.body() = std::move(out.body);
      keep_alive = req.keep_alive();
    }
    res.version(11);
    res.set(http::field::server, "hf3fs");
    res.keep_alive(keep_alive);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(*stream, res, kNoThrow);
    if (wec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream->socket().close(ignored);
}

}  // namespace hf3fs::net
