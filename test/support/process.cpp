#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace coordination::test {
namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

int decode_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

class fd_guard {
 public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Builds the child's environment: the current one with `extra` overriding it.
std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool overridden = false;
    for (const auto& x : extra) {
      if (name_of(x) == name_of(entry)) {
        overridden = true;
        break;
      }
    }
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts argv with stdin = /dev/null and stdout + stderr = the write end of a
// fresh CLOEXEC pipe.  Returns the read end (CLOEXEC) and stores the pid.
int spawn_with_pipe(std::vector<std::string>& argv, std::vector<std::string>* env, pid_t* pid) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  fd_guard read_end(fds[0]);
  fd_guard write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // dup2 clears FD_CLOEXEC on the target descriptors 1 and 2.
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Do not leak descriptors that were opened without O_CLOEXEC (e.g. client
  // sockets of the code under test) into long-lived servers.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  auto c_argv = c_strings(argv);
  std::vector<char*> c_env;
  if (env != nullptr) c_env = c_strings(*env);
  int rc = ::posix_spawnp(pid, c_argv[0], &actions, &attr, c_argv.data(),
                          env != nullptr ? c_env.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw_errno(rc, "cannot start '" + argv[0] + "'");
  return read_end.release();  // write_end closes here: the child holds the only copy
}

pid_t waitpid_retry(pid_t pid, int* raw, int options) {
  for (;;) {
    pid_t r = ::waitpid(pid, raw, options);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

}  // namespace

struct child_process::state {
  pid_t pid = -1;
  int out_fd = -1;   // read end of the output pipe (owned by the reader thread)
  int wake_rd = -1;  // wake pipe: tells the reader the child has been reaped
  int wake_wr = -1;
  std::thread reader;
  line_callback on_line;
  closed_callback on_closed;
  std::optional<int> status;  // set once reaped

  mutable std::mutex mu;  // guards `lines`
  std::deque<std::string> lines;

  void emit(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (on_line) on_line(line);
    std::lock_guard lk(mu);
    lines.push_back(std::move(line));
    while (lines.size() > kept_lines) lines.pop_front();
  }

  void read_loop() {
    std::string pending;
    char buf[8192];
    auto consume = [&](std::size_t n) {
      pending.append(buf, n);
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        emit(pending.substr(start, nl - start));
      }
      pending.erase(0, start);
    };
    bool done = false;
    while (!done) {
      pollfd fds[2] = {{out_fd, POLLIN, 0}, {wake_rd, POLLIN, 0}};
      int r = ::poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents != 0) {
        ssize_t n = ::read(out_fd, buf, sizeof buf);
        if (n > 0) {
          consume(static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;  // EOF or error
      }
      if (fds[1].revents != 0) {
        // The child is gone, so everything it wrote is already in the pipe.
        // Drain without blocking: a grandchild may still hold the write end.
        ::fcntl(out_fd, F_SETFL, ::fcntl(out_fd, F_GETFL) | O_NONBLOCK);
        for (;;) {
          ssize_t n = ::read(out_fd, buf, sizeof buf);
          if (n > 0) {
            consume(static_cast<std::size_t>(n));
          } else if (n < 0 && errno == EINTR) {
            continue;
          } else {
            break;
          }
        }
        done = true;
      }
    }
    if (!pending.empty()) emit(std::move(pending));
    if (on_closed) on_closed();
  }

  ~state() {
    for (int fd : {out_fd, wake_rd, wake_wr}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

child_process::child_process() noexcept = default;
child_process::child_process(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
child_process::child_process(child_process&&) noexcept = default;

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    stop();
    state_ = std::move(other.state_);
  }
  return *this;
}

child_process::~child_process() {
  stop();
}

child_process child_process::spawn(std::vector<std::string> argv,
                                   std::vector<std::string> extra_env, line_callback on_stderr_line,
                                   closed_callback on_output_closed) {
  auto s = std::make_unique<state>();
  s->on_line = std::move(on_stderr_line);
  s->on_closed = std::move(on_output_closed);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  s->wake_rd = wake[0];
  s->wake_wr = wake[1];

  std::vector<std::string> env;
  if (!extra_env.empty()) env = merged_environment(extra_env);
  s->out_fd = spawn_with_pipe(argv, extra_env.empty() ? nullptr : &env, &s->pid);

  try {
    s->reader = std::thread([p = s.get()] { p->read_loop(); });
  } catch (...) {
    ::kill(s->pid, SIGKILL);
    int raw = 0;
    waitpid_retry(s->pid, &raw, 0);
    throw;
  }
  return child_process(std::move(s));
}

pid_t child_process::pid() const noexcept {
  return state_ ? state_->pid : -1;
}

void child_process::signal(int sig) {
  if (state_ && !state_->status) ::kill(state_->pid, sig);
}

void child_process::finish(int status) {
  state_->status = status;
  if (state_->reader.joinable()) {
    char byte = 1;
    while (::write(state_->wake_wr, &byte, 1) < 0 && errno == EINTR) {
    }
    state_->reader.join();
  }
}

namespace {

// Every thread of `pid` stopped; false if one runs or the list cannot be read.
bool all_threads_stopped(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec), end;
  if (ec) return false;
  int threads = 0;
  for (; it != end; it.increment(ec)) {
    if (ec) return false;
    std::ifstream in(it->path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // thread just exited
    char state = stat[paren + 2];
    if (state != 'T' && state != 't') return false;
    ++threads;
  }
  return threads > 0;
}

}  // namespace

bool child_process::wait_stopped(std::chrono::milliseconds timeout) {
  if (!state_ || state_->status) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (all_threads_stopped(state_->pid)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool child_process::running() {
  if (!state_ || state_->status) return false;
  int raw = 0;
  pid_t r = waitpid_retry(state_->pid, &raw, WNOHANG);
  if (r == 0) return true;
  finish(r == state_->pid ? decode_status(raw) : -1);
  return false;
}

int child_process::wait() {
  if (!state_) return -1;
  if (!state_->status) {
    int raw = 0;
    pid_t r = waitpid_retry(state_->pid, &raw, 0);
    finish(r == state_->pid ? decode_status(raw) : -1);
  }
  return *state_->status;
}

void child_process::stop(std::chrono::milliseconds grace) {
  if (!state_ || state_->status) return;
  ::kill(state_->pid, SIGTERM);
  ::kill(state_->pid, SIGCONT);  // a stopped process only acts on SIGTERM once continued
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    if (!running()) return;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(state_->pid, SIGKILL);
  wait();
}

std::optional<int> child_process::exit_status() const {
  return state_ ? state_->status : std::nullopt;
}

std::string child_process::log_tail() const {
  std::string out;
  if (!state_) return out;
  std::lock_guard lk(state_->mu);
  for (const auto& l : state_->lines) {
    out += l;
    out += '\n';
  }
  return out;
}

int run_command(std::vector<std::string> argv, std::string* output) {
  if (output != nullptr) output->clear();
  pid_t pid = -1;
  fd_guard out(spawn_with_pipe(argv, nullptr, &pid));
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(out.get(), buf, sizeof buf);
    if (n > 0) {
      if (output != nullptr) output->append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  int raw = 0;
  pid_t r = waitpid_retry(pid, &raw, 0);
  return r == pid ? decode_status(raw) : -1;
}

}  // namespace coordination::test
