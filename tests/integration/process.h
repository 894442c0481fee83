// Child processes for integration tests: spawn the hf3fs binary, capture output, signal, wait.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hf3fs::testing {

class Process {
 public:
  // Starts `argv[0]` with `argv`; stdout and stderr go to files under `log_dir` (read them with
  // Stdout()/Stderr()). The process is killed (SIGKILL) by the destructor if still running.
  Process(std::vector<std::string> argv, const std::string& log_dir);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout`; returns the exit code, 128+signal when killed, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::string out_path_, err_path_;
};

// Runs to completion (up to `timeout`) and returns {exit code, stdout, stderr}.
struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};
RunResult RunCommand(std::vector<std::string> argv, const std::string& log_dir,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A loopback TCP port that was free a moment ago.
int FreePort();

}  // namespace hf3fs::testing
