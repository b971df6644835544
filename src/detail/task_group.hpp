// detail::task_group: the one owner of a client's background coroutines (watch links, keep-alive
// loops, revocations, retried releases, discovery caches, health checks). Each is started with
// a cancellation slot of the group's; close() emits terminal cancellation to all of them, so each
// ends at its next suspension point (a cancelled coroutine throws operation_aborted from its next
// co_await), and wait() completes once none runs. A task that ends with an exception other than
// a cancellation is logged once, at warn, naming what it was doing.
//
// Not thread-safe: the client's executor only. The group's state outlives the group object
// until its last task has finished.
#pragma once

#include <spdlog/logger.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

namespace coordination::detail {

class task_group {
 public:
  task_group(boost::asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log);
  ~task_group();  // close()
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Starts `task`; `what` names it in the log if it fails. Returns false (and never starts it)
  // once the group is closed.
  bool spawn(std::string what, boost::asio::awaitable<void> task);
  // Cancels every running task; spawn() refuses new ones from now on.
  void close();
  bool closed() const;
  // Completes once no task runs (at once when none does). Cancellable.
  boost::asio::awaitable<void> wait();
  std::size_t running() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace coordination::detail
