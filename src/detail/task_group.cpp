#include "detail/task_group.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <vector>

#include "coordination/error.hpp"

namespace coordination::detail {

namespace asio = boost::asio;

struct task_group::state {
  state(asio::any_io_executor e, std::shared_ptr<spdlog::logger> l)
      : ex(std::move(e)), log(std::move(l)), idle(ex, asio::steady_timer::time_point::max()) {}
  struct entry {
    asio::cancellation_signal signal;
    std::string what;
  };
  asio::any_io_executor ex;
  std::shared_ptr<spdlog::logger> log;
  std::list<entry> tasks;
  bool closed = false;
  asio::steady_timer idle;  // never expires; cancelled when the last task ends, waking wait()
};

namespace {

// A cancellation (the group's, or a task's own error::cancelled) is how a task is meant to end.
bool is_cancellation(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const coordination_error& ce) {
    return ce.code() == error::cancelled;
  } catch (const boost::system::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
  }
  return "unknown exception";
}

}  // namespace

task_group::task_group(asio::any_io_executor ex, std::shared_ptr<spdlog::logger> log)
    : state_(std::make_shared<state>(std::move(ex), std::move(log))) {}

task_group::~task_group() {
  close();
}

bool task_group::spawn(std::string what, asio::awaitable<void> task) {
  auto s = state_;
  if (s->closed) return false;
  auto it = s->tasks.emplace(s->tasks.end());
  it->what = std::move(what);
  asio::co_spawn(s->ex, std::move(task),
                 asio::bind_cancellation_slot(it->signal.slot(), [s, it](std::exception_ptr e) {
                   if (e && !is_cancellation(e) && s->log)
                     s->log->warn("coordination: background task '{}' failed: {}", it->what,
                                  describe(e));
                   // The entry (and the signal whose slot co_spawn still holds) goes once
                   // co_spawn has unwound.
                   asio::post(s->ex, [s, it] {
                     s->tasks.erase(it);
                     if (s->tasks.empty()) s->idle.cancel();
                   });
                 }));
  return true;
}

void task_group::close() {
  auto s = state_;
  if (s->closed) return;
  s->closed = true;
  std::vector<asio::cancellation_signal*> signals;
  for (auto& t : s->tasks) signals.push_back(&t.signal);
  for (auto* sig : signals) sig->emit(asio::cancellation_type::terminal);
}

bool task_group::closed() const {
  return state_->closed;
}

asio::awaitable<void> task_group::wait() {
  auto s = state_;
  while (!s->tasks.empty()) {
    co_await s->idle.async_wait(asio::as_tuple(asio::use_awaitable));
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      throw coordination_error(error::cancelled, "waiting for background tasks cancelled");
  }
}

std::size_t task_group::running() const {
  return state_->tasks.size();
}

}  // namespace coordination::detail
