// The [rpc] config section shared by RPC servers and clients.
#pragma once

#include <chrono>

#include "common/config.h"

namespace hf3fs::net {

using namespace std::chrono_literals;

struct RpcConfig : config::Section {
  using Section::Section;
  config::Item<uint32_t> io_threads{this, "io_threads", 2, "network threads (one io_context each)",
                                    {.min = 1, .max = 256}};
  config::Item<Duration> busy_poll{
      this, "busy_poll", 50us,
      "how long an idle network thread keeps polling before it sleeps (lower latency, more CPU; "
      "0 disables)",
      {.min = Duration(0), .max = Duration(10ms)}};
  config::Item<uint64_t> max_frame_bytes{
      this, "max_frame_bytes", 65ull << 20,
      "largest frame (header + message + attachment) sent or accepted; the default holds a "
      "whole 64 MiB chunk (the largest a layout allows) with its header and message, which "
      "full-chunk forwarding and resync send in one frame",
      {.min = 64ull << 10, .max = 512ull << 20, .hot = true, .size = true}};
  config::Item<Duration> connect_timeout{this, "connect_timeout", 3s, "time allowed for a connect",
                                         {.min = Duration(1ms), .hot = true}};
  config::Item<Duration> default_timeout{this, "default_timeout", 30s,
                                         "deadline of calls that set none",
                                         {.min = Duration(1ms), .hot = true}};
  config::Item<Duration> reconnect_backoff_min{
      this, "reconnect_backoff_min", 100ms, "first wait after a failed connect before the next",
      {.min = Duration(0), .hot = true}};
  config::Item<Duration> reconnect_backoff_max{this, "reconnect_backoff_max", 5s,
                                               "longest wait between connect attempts",
                                               {.min = Duration(0), .hot = true}};
  config::Item<uint32_t> max_inflight_per_connection{
      this, "max_inflight_per_connection", 256,
      "requests a server runs at once for one connection; more wait in TCP buffers",
      {.min = 1, .max = 1u << 20, .hot = true}};
  config::Item<uint64_t> max_inflight_bytes_per_connection{
      this,
      "max_inflight_bytes_per_connection",
      256ull << 20,
      "bytes a server holds for one connection: its running requests and the responses not yet "
      "written to it (messages and attachments); past it, further requests wait in TCP buffers "
      "(one larger request is still taken alone)",
      {.min = 64ull << 10, .hot = true, .size = true}};
  config::Item<uint32_t> max_connections{
      this, "max_connections", 4096,
      "connections a server keeps open at once; more are closed as they are accepted",
      {.min = 1, .max = 1u << 20, .hot = true}};
  config::Item<uint64_t> max_batch_bytes{this, "max_batch_bytes", 4ull << 20,
                                         "bytes gathered into one socket write",
                                         {.min = 4096, .hot = true, .size = true}};
  config::Item<Duration> drain_timeout{this, "drain_timeout", 10s,
                                       "how long a stopping server waits for in-flight calls",
                                       {.hot = true}};
  config::Item<Duration> deadline_check_interval{
      this, "deadline_check_interval", 5ms, "how often expired calls are failed",
      {.min = Duration(100us), .max = Duration(1s)}};
  // Authentication (docs/design/0011-authentication.md). Not hot: the keyring is loaded at start.
  config::Item<std::string> key_file{
      this, "key_file", "",
      "this process's key file (made by `hf3fs admin keygen`; mode 0600); empty: "
      "$HF3FS_KEY_FILE"};
  config::Item<bool> auth_required{
      this, "auth_required", true,
      "servers: every connection must authenticate with a key (a server without a key file "
      "refuses to start); false lets anyone who reaches the port control the cluster"};
  config::Item<Duration> auth_timeout{this,
                                      "auth_timeout",
                                      5s,
                                      "time a new connection has to finish authenticating",
                                      {.min = Duration(10ms), .hot = true}};
  config::Item<bool> attachment_checksum{this, "attachment_checksum", false,
                                         "send a CRC32C of every attachment (storage data "
                                         "already carries per-chunk checksums)",
                                         {.hot = true}};
};

}  // namespace hf3fs::net
