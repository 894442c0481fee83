// A throwaway PostgreSQL server for tests and `hf3fs bench kv --backend postgres`.
//
// Start() creates a temporary directory, runs initdb into it and starts `postgres` listening only
// on a unix socket in that directory (no TCP), with fsync on. As root, the directory is given to
// the `postgres` system user and both programs run as that user (PostgreSQL refuses to run as
// root); otherwise they run as the current user. The server is stopped and the directory removed
// when the object is destroyed; the server also gets SIGQUIT if the thread that started it exits
// (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. The system-wide PostgreSQL
// service is never used.
//
// Binaries: $HF3FS_PG_BIN if set, else the newest /usr/lib/postgresql/<version>/bin.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace hf3fs::kv::pg {

// The PostgreSQL server binaries: $HF3FS_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin
// (kUnavailable with what to install when there is none). Also used by `hf3fs local`.
Result<std::string> FindPostgresBinDir();

class PgTestServer {
 public:
  // kUnavailable when PostgreSQL is not installed or the server does not come up (the message
  // carries the end of its log).
  static Result<std::unique_ptr<PgTestServer>> Start();
  ~PgTestServer();
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // "host=<dir> port=<port> user=hf3fs dbname=postgres".
  std::string conninfo() const;

  // Fast shutdown (SIGINT: aborts open transactions, checkpoints), escalating to SIGQUIT and
  // SIGKILL if it takes too long.
  Status Stop();
  // Starts the server again on the same data directory (after Stop).
  Status StartServer();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

 private:
  PgTestServer() = default;
  Status InitDb();
  std::string LogTail() const;

  std::string bin_dir_;
  std::string dir_;  // socket directory; the cluster is in dir_/data
  int port_ = 0;
  uid_t uid_ = 0;  // user the server runs as
  gid_t gid_ = 0;
  bool drop_privileges_ = false;
  pid_t pid_ = -1;
};

}  // namespace hf3fs::kv::pg
