#include "transport/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "coordination/error.hpp"

namespace coordination::transport {

namespace asio = boost::asio;

pool::handle& pool::handle::operator=(handle&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
    reused_ = other.reused_;
  }
  return *this;
}

void pool::handle::reset() {
  if (conn_ && pool_) pool_->give_back(std::move(conn_));
  conn_.reset();
  pool_.reset();
}

pool::pool(asio::any_io_executor ex, endpoint ep, asio::ssl::context* tls,
           std::size_t max_connections)
    : ex_(std::move(ex)), ep_(std::move(ep)), tls_(tls), max_(max_connections) {}

void pool::give_back(std::unique_ptr<connection> c) {
  // Just after an answer: the peer's state is checked when the connection is taken again
  // (acquire), where it matters; a peek here too would cost a system call per request.
  bool keep = !closed_ && c->reusable(false);
  if (keep) {
    if (!waiters_.empty()) {
      waiter* w = waiters_.front();
      waiters_.pop_front();
      w->handed = std::move(c);
      w->timer.cancel();
    } else {
      idle_.push_back(std::move(c));
    }
    return;
  }
  c->close();
  c.reset();
  free_slot();
}

void pool::free_slot() {
  --open_;
  pass_on_slot();
}

void pool::pass_on_slot() {
  if (!waiters_.empty()) {
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->slot_freed = true;
    w->timer.cancel();
  }
}

asio::awaitable<std::pair<std::error_code, pool::handle>> pool::acquire(
    clock::time_point deadline, std::chrono::milliseconds dial_timeout) {
  using result = std::pair<std::error_code, handle>;
  for (;;) {
    if (closed_) co_return result(make_error_code(error::cancelled), handle{});
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->reusable())
        co_return result(std::error_code{}, handle(shared_from_this(), std::move(c), true));
      --open_;  // stale: the server closed it while idle
    }
    if (open_ < max_) {
      ++open_;
      // The slot goes back unless a connected handle takes it, also when the coroutine is
      // cancelled and the co_await below throws.
      struct slot_guard {
        pool* p;
        ~slot_guard() {
          if (p) p->free_slot();
        }
      } guard{this};
      auto self = shared_from_this();
      auto c = std::make_unique<connection>(ex_, ep_, tls_);
      auto dial_deadline = std::min(deadline, clock::now() + dial_timeout);
      auto ec = co_await c->connect(dial_deadline);
      if (ec) {
        c->close();
        co_return result(ec, handle{});
      }
      guard.p = nullptr;
      co_return result(std::error_code{}, handle(std::move(self), std::move(c), false));
    }
    waiter w{asio::steady_timer(ex_, deadline), nullptr, false};
    auto it = waiters_.insert(waiters_.end(), &w);
    // Whatever ends the wait (also an exception from a cancelled co_await), the waiter leaves
    // the queue and nothing handed to it is lost.
    struct wait_guard {
      pool* p;
      waiter* w;
      std::list<waiter*>::iterator it;
      bool done = false;
      ~wait_guard() {
        if (done) return;
        if (w->handed) {
          p->give_back(std::move(w->handed));
        } else if (w->slot_freed) {
          p->pass_on_slot();
        } else {
          p->waiters_.erase(it);
        }
      }
    } guard{this, &w, it};
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));  // woken or timed out
    guard.done = true;
    if (w.handed)
      co_return result(std::error_code{}, handle(shared_from_this(), std::move(w.handed), true));
    if (w.slot_freed) continue;
    waiters_.erase(it);  // still queued: timed out or cancelled by the caller
    if (clock::now() >= deadline) co_return result(make_error_code(error::timeout), handle{});
    co_return result(make_error_code(error::cancelled), handle{});
  }
}

void pool::close() {
  closed_ = true;
  open_ -= idle_.size();
  idle_.clear();
  for (auto* w : waiters_) w->timer.cancel();
}

}  // namespace coordination::transport
