#include "bench/rpc_bench.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "bench.pb.h"
#include "common/logging.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "rpc.pb.h"

namespace hf3fs::bench {
namespace {

using namespace std::chrono_literals;
using net::awaitable;
using Clock = std::chrono::steady_clock;

struct BenchConfig : config::Section {
  net::RpcConfig rpc{this, "rpc"};
};

}  // namespace

void RegisterBenchService(net::ServiceRegistry& r) {
  r.RegisterMethod<PingReq, PingRsp>(
      rpc::SERVICE_BENCH, BENCH_PING, "bench", "ping",
      [](const PingReq& req, PingRsp& rsp, net::RequestContext&) -> awaitable<Status> {
        rsp.set_seq(req.seq());
        co_return Status::Ok();
      });
  r.RegisterMethod<SinkReq, SinkRsp>(
      rpc::SERVICE_BENCH, BENCH_SINK, "bench", "sink",
      [](const SinkReq&, SinkRsp& rsp, net::RequestContext& ctx) -> awaitable<Status> {
        rsp.set_bytes(ctx.request_attachment.size());
        co_return Status::Ok();
      });
}

namespace {

struct PhaseResult {
  uint64_t ops = 0;
  uint64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
};

// Runs `workers` coroutines on `ctx`, each looping `body` until the phase ends.
template <typename Body>
PhaseResult RunPhase(boost::asio::io_context& ctx, int workers, std::chrono::milliseconds dur,
                     Body body, bool record_latency) {
  PhaseResult res;
  std::atomic<int> live{workers};
  std::promise<void> done;
  auto start = Clock::now();
  auto end = start + dur;
  for (int w = 0; w < workers; ++w) {
    boost::asio::co_spawn(
        ctx,
        [&, w]() -> awaitable<void> {
          uint64_t seq = 0;
          while (Clock::now() < end) {
            auto t0 = Clock::now();
            Status st = co_await body(w, seq++);
            if (!st.ok()) {
              ++res.errors;
              if (res.errors == 1) HF3FS_LOG_WARN("bench.call_failed status=\"{}\"", st);
              continue;
            }
            ++res.ops;
            if (record_latency) {
              res.latencies_us.push_back(
                  std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            }
          }
          if (--live == 0) done.set_value();
        },
        boost::asio::detached);
  }
  done.get_future().wait();
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return res;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

double RawTcpMibPerSecond(std::chrono::milliseconds dur, size_t bytes) {
  using boost::asio::ip::tcp;
  boost::asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto port = acc.local_endpoint().port();
  std::atomic<uint64_t> received{0};
  std::atomic<bool> stop{false};
  std::thread receiver([&] {
    tcp::socket s = acc.accept();
    std::vector<uint8_t> buf(bytes);
    for (;;) {
      ssize_t n = ::recv(s.native_handle(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      received += n;
    }
  });
  tcp::socket out(io);
  out.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  out.set_option(tcp::no_delay(true));
  std::vector<uint8_t> data(bytes, 0x5a);
  auto start = Clock::now();
  // Plain send(2) of the whole buffer, so the baseline is the best the socket allows.
  while (Clock::now() - start < dur) {
    for (size_t off = 0; off < bytes;) {
      ssize_t n = ::send(out.native_handle(), data.data() + off, bytes - off, 0);
      if (n <= 0) return 0;
      off += n;
    }
  }
  uint64_t got = received.load();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  out.close();
  receiver.join();
  return got / secs / (1 << 20);
}

nlohmann::json RunRpcBench(const RpcBenchOptions& o) {
  BenchConfig cfg;
  (void)cfg.rpc.io_threads.Set(1);
  (void)cfg.rpc.max_inflight_per_connection.Set(1024);
  (void)cfg.rpc.busy_poll.Set(o.busy_poll);
  net::ServiceRegistry registry;
  RegisterBenchService(registry);
  net::IoContextPool server_pool(1, "bench-srv", cfg.rpc.busy_poll.Get());
  net::IoContextPool client_pool(1, "bench-cli", cfg.rpc.busy_poll.Get());
  client_pool.Start();
  std::unique_ptr<net::RpcServer> server;
  net::Address addr;
  if (o.connect.empty()) {
    server_pool.Start();
    server = std::make_unique<net::RpcServer>(server_pool, cfg.rpc, registry);
    HF3FS_CHECK(server->Start(net::Address{"127.0.0.1", 0}).ok());
    addr = server->address();
  } else {
    auto a = net::Address::Parse(o.connect);
    if (!a.ok()) return nlohmann::json{{"error", a.status().ToString()}};
    addr = *a;
  }
  net::RpcClient client(client_pool, cfg.rpc);
  auto& ctx = client_pool.Get(0);

  auto ping = [&](int, uint64_t seq) -> awaitable<Status> {
    PingReq req;
    req.set_seq(seq);
    PingRsp rsp;
    co_return co_await client.CallRaw(addr, rpc::SERVICE_BENCH, BENCH_PING, req, &rsp);
  };
  // Warm up the connection and allocator caches.
  RunPhase(ctx, 1, 200ms, ping, false);
  auto small = RunPhase(ctx, 1, o.phase_duration, ping, true);
  auto piped = RunPhase(ctx, o.pipeline_depth, o.phase_duration, ping, false);

  std::vector<uint8_t> payload(o.bulk_bytes, 0xa5);
  auto sink = [&](int, uint64_t seq) -> awaitable<Status> {
    SinkReq req;
    req.set_seq(seq);
    SinkRsp rsp;
    net::CallOptions opts;
    opts.attachment = {payload};
    co_return co_await client.CallRaw(addr, rpc::SERVICE_BENCH, BENCH_SINK, req, &rsp, opts);
  };
  auto bulk = RunPhase(ctx, o.bulk_inflight, o.phase_duration, sink, false);
  client.CloseAll();
  if (server) server->Stop();
  server_pool.Stop();
  client_pool.Stop();
  double raw = o.connect.empty() ? RawTcpMibPerSecond(o.phase_duration, o.bulk_bytes) : 0;

  double bulk_mib = bulk.ops * double(o.bulk_bytes) / bulk.seconds / (1 << 20);
  nlohmann::json j;
  j["small_rpc_per_s"] = std::round(small.ops / small.seconds);
  j["small_rpc_p50_us"] = Percentile(small.latencies_us, 0.50);
  j["small_rpc_p99_us"] = Percentile(small.latencies_us, 0.99);
  j["pipelined_rpc_per_s"] = std::round(piped.ops / piped.seconds);
  j["pipeline_depth"] = o.pipeline_depth;
  j["bulk_mib_s"] = std::round(bulk_mib);
  j["bulk_bytes"] = o.bulk_bytes;
  j["bulk_inflight"] = o.bulk_inflight;
  if (raw > 0) {
    j["raw_tcp_mib_s"] = std::round(raw);
    j["bulk_vs_raw"] = std::round(bulk_mib / raw * 100) / 100;
  } else {
    j["server"] = addr.ToString();
  }
  j["errors"] = small.errors + piped.errors + bulk.errors;
  j["phase_seconds"] = o.phase_duration.count() / 1000.0;
  j["busy_poll_us"] = o.busy_poll.count();
  return j;
}

}  // namespace hf3fs::bench
