// A small HTTP/1.1 server (Boost.Beast) for /metrics, /healthz and status pages.
//
// Routes are exact paths with synchronous handlers that run on the server's io thread, so they
// must be quick (rendering metrics is). Requests are limited to 64 KiB and 30 s; anything else
// gets 400/404/405 and the server keeps serving. Stop() closes the acceptor and all connections.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "net/address.h"

namespace hf3fs::net {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // without the query string
  std::string query;   // after '?', may be empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(boost::asio::io_context& ctx);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route before Start(). Adds /metrics and /healthz by default (see AddDefaultRoutes).
  void Route(std::string path, Handler handler);
  // /metrics: the global registry in Prometheus text format; /healthz: "ok" while `healthy`
  // returns true, 503 otherwise.
  void AddDefaultRoutes(std::function<bool()> healthy = nullptr);

  Status Start(const Address& bind);
  Address address() const { return address_; }
  // Blocks until the acceptor and all connections are closed; call from outside the io thread.
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  Address address_;
  bool started_ = false;
};

}  // namespace hf3fs::net
