// Configuration of `hf3fs mount`: the server sections ([log], [rpc], [server] for /metrics) plus
// [mount].
#pragma once

#include <chrono>

#include "net/server_command.h"

namespace hf3fs::fuse {

using namespace std::chrono_literals;

struct MountSection : config::Section {
  using Section::Section;
  config::Item<std::string> mountpoint{this, "mountpoint", "", "where to mount (required)"};
  config::Item<std::vector<std::string>> mgmtd{this, "mgmtd", {}, "mgmtd addresses (host:port)"};
  config::Item<std::vector<std::string>> meta{
      this, "meta", {}, "meta server addresses; empty: the meta servers mgmtd lists"};
  config::Item<bool> read_only{this, "read_only", false, "mount read-only"};
  config::Item<bool> allow_other{this, "allow_other", true,
                                 "let users other than the mounting one use the mount (needs "
                                 "user_allow_other in /etc/fuse.conf when not mounted by root)"};
  config::Item<double> attr_timeout{
      this, "attr_timeout", 1.0, "seconds the kernel caches attributes", {.hot = true}};
  // 0 by default: without default_permissions the kernel never checks search (x) permission on
  // the directories of a path itself; meta checks it on each lookup. A cached lookup would let
  // another user reach a file below a directory it may not search (e.g. 0700) once anyone had
  // looked it up, and would hide removals done elsewhere (another mount, a recursive remove).
  config::Item<double> entry_timeout{
      this,
      "entry_timeout",
      1.0,
      "seconds the kernel caches name lookups (permissions on cached paths are checked by the "
      "kernel from cached attributes and ACLs)",
      {.hot = true}};
  config::Item<double> negative_timeout{
      this, "negative_timeout", 0.0, "seconds the kernel caches 'no such name'", {.hot = true}};
  config::Item<uint32_t> lookahead_entries{
      this,
      "lookahead_entries",
      1024,
      "names of a directory fetched at once when lookups walk it in order (ls -l, tar x, "
      "rm -r); lookups of names in a fetched range are answered for entry_timeout without meta, "
      "including 'no such name' (0: off; see fuse/lookahead.h)",
      {.max = 4096}};
  config::Item<bool> direct_io{this, "direct_io", false,
                               "bypass the page cache for every file (default: only O_DIRECT)"};
  config::Item<bool> cluster_flock{
      this, "cluster_flock", true,
      "flock(2) locks are held in meta and exclude each other across every mount of the cluster "
      "(false: each machine's kernel keeps them, as fcntl locks always are)"};
  config::Item<bool> keep_cache{
      this,
      "keep_cache",
      true,
      "keep a file's page cache across opens while meta reports the file unchanged (length, "
      "mtime, ctime, truncate version) since this mount last opened it: close-to-open "
      "consistency as NFS gives; false: every open drops the file's cached pages",
      {.hot = true}};
  config::Item<uint64_t> write_buffer{this,
                                      "write_buffer",
                                      4ull << 20,
                                      "per-file buffer for sequential writes (0: write through)",
                                      {.max = 64ull << 20, .size = true}};
  config::Item<Duration> flush_interval{
      this,
      "flush_interval",
      1s,
      "buffered writes older than this are flushed, and written lengths reported to meta",
      {.min = Duration(10ms), .hot = true}};
  config::Item<uint32_t> fuse_threads{
      this,
      "fuse_threads",
      0,
      "0: the first io thread reads /dev/fuse and answers each request itself, with its RPCs on "
      "the same thread (no hand-off between threads); N: N threads of libfuse's own loop read "
      "requests and hand them to the io threads",
      {.max = 64}};
  config::Item<uint32_t> io_threads{
      this,
      "io_threads",
      1,
      "threads running client RPCs (and, with fuse_threads = 0, FUSE requests); on a machine "
      "with few cores one thread wastes least on thread switches",
      {.min = 1, .max = 64}};
  config::Item<uint64_t> readahead{
      this,
      "readahead",
      1ull << 20,
      "kernel readahead of the mount (its backing device's read_ahead_kb, set at mount; needs "
      "root): sequential reads reach the mount as requests of up to 1 MiB, this far ahead "
      "(measured in docs/benchmarks.md, \"Readahead\"); 0: "
      "leave the kernel's default",
      {.max = 64ull << 20, .size = true}};
  config::Item<uint64_t> max_write{this,
                                   "max_write",
                                   1ull << 20,
                                   "largest write request the kernel sends",
                                   {.min = 4096, .max = 1ull << 20, .size = true}};
  config::Item<bool> usrbio{this, "usrbio", true,
                            "serve the native client API (libhf3fs_usrbio) of this mount"};
  config::Item<uint32_t> usrbio_max_batches{
      this,
      "usrbio_max_batches",
      64,
      "USRBIO batches in flight across all rings (beyond it, higher-priority rings go first)",
      {.min = 1, .max = 4096}};
  config::Item<uint64_t> usrbio_group_bytes{
      this,
      "usrbio_group_bytes",
      512ull << 10,
      "a USRBIO batch runs as groups of up to this many bytes at once (small I/Os of a group "
      "share storage requests; each group completes on its own)",
      {.min = 4096, .max = 1ull << 30, .size = true}};
  config::Item<Duration> connect_timeout{this, "connect_timeout", 15s,
                                         "give up at start when no mgmtd answers within this"};
};

struct MountConfig : net::ServerConfigBase {
  MountConfig() : ServerConfigBase("hf3fs mount", "127.0.0.1:0", "127.0.0.1:0") {}
  MountSection mount{this, "mount", "the FUSE mount"};
};

}  // namespace hf3fs::fuse
