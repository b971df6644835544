// Test support: spawning and supervising child processes (POSIX only).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coordination::test {

// A child process whose stdout and stderr are both connected to one pipe.  A
// background thread reads that pipe line by line, keeps the last
// `kept_lines` lines (see log_tail()) and hands every line to the optional
// callback.
//
// The child stays in the parent's process group.  It starts with an empty
// signal mask, default signal dispositions, stdin on /dev/null and (glibc >=
// 2.34) no inherited file descriptors besides 0, 1 and 2.
//
// Thread safety: log_tail() may be called from any thread at any time; all
// other members must not be called concurrently on the same object.
class child_process {
 public:
  using line_callback = std::function<void(std::string_view line)>;
  using closed_callback = std::function<void()>;

  static constexpr std::size_t kept_lines = 200;

  // Starts argv[0] (looked up in PATH) with the parent's environment plus
  // `extra_env` ("NAME=VALUE", overriding variables of the same name).
  // `on_stderr_line` gets each line of the child's combined stdout+stderr,
  // without the trailing newline; `on_output_closed` is called once after
  // the last line, when the pipe reached end of file or the child was reaped.
  // Both run on the reader thread and must not call back into this object
  // (except log_tail()).
  // Throws std::system_error if the program cannot be started (e.g. ENOENT).
  static child_process spawn(std::vector<std::string> argv, std::vector<std::string> extra_env = {},
                             line_callback on_stderr_line = {},
                             closed_callback on_output_closed = {});

  child_process() noexcept;  // empty object: pid() == -1, running() == false
  child_process(child_process&&) noexcept;
  child_process& operator=(child_process&&) noexcept;  // stop()s the current child first
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();  // stop()

  // Process id; -1 for an empty object.  Still returns the old id once reaped.
  pid_t pid() const noexcept;

  // Sends `sig` to the child; no-op if it has already been reaped.
  void signal(int sig);

  // True once every thread of the child is stopped (state T in /proc/<pid>/task/*/stat), polled
  // until `timeout`.  kill(SIGSTOP) returns before the stop takes effect: the kernel wakes one
  // thread to start the group stop, and until it runs the others go on serving requests.
  bool wait_stopped(std::chrono::milliseconds timeout);

  // True until the child has exited; reaps it (without blocking) if it has.
  bool running();

  // Blocks until the child exits, reaps it and returns its status: the exit
  // code if it exited, 128 + signal number if a signal killed it.  Returns the
  // stored status if already reaped; -1 for an empty object.  After return all
  // of the child's output has been read (log_tail() is complete).
  int wait();

  // SIGTERM (plus SIGCONT in case it is stopped), then SIGKILL if still alive
  // after `grace`; reaps.  No-op if already reaped.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(3));

  // Status as returned by wait() if the child has been reaped.
  std::optional<int> exit_status() const;

  // The last (up to kept_lines) lines of output, each terminated by '\n'.
  std::string log_tail() const;

 private:
  struct state;
  explicit child_process(std::unique_ptr<state> s) noexcept;
  void finish(int status);  // records the status, joins the reader

  std::unique_ptr<state> state_;
};

// Runs argv (PATH lookup) to completion with stdin on /dev/null and returns
// its status like child_process::wait().  When `output` is non-null it receives
// the combined stdout+stderr.  Note: blocks until every process holding the
// output pipe has exited or closed it.  Throws std::system_error if the program
// cannot be started.
int run_command(std::vector<std::string> argv, std::string* output = nullptr);

}  // namespace coordination::test
