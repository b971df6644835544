// The barrier recipes: the I/O around barrier_core (see include/coordination/barrier.hpp).
#include "coordination/barrier.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/error.hpp"
#include "coordination/watch.hpp"
#include "detail/backoff.hpp"
#include "detail/random_token.hpp"
#include "recipes/barrier/barrier_core.hpp"
#include "session/session_state.hpp"

namespace asio = boost::asio;

namespace coordination {

namespace detail {

struct barrier_state {
  client c;
  std::string key;
};

struct double_barrier_state {
  std::shared_ptr<session_state> s;
  std::string name;
  std::size_t count = 0;
  std::string mine;  // this participant's key once entered
  bool entered = false, left = false;
};

namespace {

// Waits for an event of type `type` on `key` at a revision from `from` on. False when the
// history from `from` was compacted (the caller reads again).
asio::awaitable<bool> wait_event(client& c, std::string key, std::int64_t from, event_type type) {
  watch_options o;
  o.start_revision = from;
  o.filter_put = type == event_type::del;
  o.filter_delete = type == event_type::put;
  watch_stream w = co_await c.watch(std::move(key), o);
  bool seen = false;
  try {
    while (!seen) {
      watch_batch b = co_await w.next();
      for (auto& e : b.events)
        if (e.type == type) seen = true;
    }
  } catch (const coordination_error& e) {
    if (e.code() != error::compacted) throw;
  }
  w.cancel();
  co_return seen;
}

asio::awaitable<bool> hold_key(std::shared_ptr<barrier_state> b) {
  txn_request t;
  t.compares.push_back(compare::create_revision(b->key, compare_result::equal, 0));
  put_op put;
  put.key = b->key;
  t.success.emplace_back(std::move(put));
  txn_result r = co_await b->c.txn(std::move(t));
  co_return r.succeeded;
}

asio::awaitable<void> release_key(std::shared_ptr<barrier_state> b) {
  co_await b->c.del(b->key);
}

asio::awaitable<void> wait_released(std::shared_ptr<barrier_state> b) {
  for (;;) {
    range_result r = co_await b->c.range(b->key);
    if (r.kvs.empty()) co_return;
    if (co_await wait_event(b->c, b->key, r.header.revision + 1, event_type::del)) co_return;
  }
}

range_options prefix_options() {
  range_options o;
  o.prefix = true;
  return o;
}

asio::awaitable<void> enter_barrier(std::shared_ptr<double_barrier_state> d) {
  client& c = *d->s->owner;
  const std::string prefix = barrier_waiters_prefix(d->name);
  if (d->entered) throw coordination_error(error::invalid_argument, "double barrier: entered");
  if (d->s->is_lost || d->s->stopped)
    throw coordination_error(error::session_expired, "double barrier " + d->name);
  auto too_many = [&] {
    return coordination_error(error::conflict, "double barrier " + d->name + ": more than " +
                                                   std::to_string(d->count) + " participants");
  };
  range_result before = co_await c.range(prefix, prefix_options());
  if (before.kvs.size() >= d->count) throw too_many();
  d->mine = prefix + random_token();
  d->entered = true;
  std::exception_ptr failed;
  bool over = false;
  try {
    txn_request t;
    t.compares.push_back(compare::create_revision(d->mine, compare_result::equal, 0));
    put_op put;
    put.key = d->mine;
    put.options.lease = d->s->lease;
    t.success.emplace_back(std::move(put));
    t.idempotent = true;  // our own new key: putting it twice is putting it once
    co_await c.txn(std::move(t));
    range_result now = co_await c.range(prefix, prefix_options());
    std::int64_t from = now.header.revision + 1;
    for (auto& kv : now.kvs)
      if (kv.key == d->mine) from = kv.create_revision;
    switch (after_enter(now.kvs.size(), d->count)) {
      case enter_step::too_many:
        over = true;
        break;
      case enter_step::complete: {
        // Putting the empty ready key twice is putting it once; only while our waiter key is
        // there, so that a late copy cannot mark a later round ready after we left.
        txn_request ready;
        ready.compares.push_back(compare::version(d->mine, compare_result::greater, 0));
        ready.success.push_back(put_op{barrier_ready_key(d->name), "", put_options{}});
        ready.idempotent = true;
        auto r = co_await c.txn(std::move(ready));
        if (!r.succeeded)
          throw coordination_error(error::session_expired,
                                   "double barrier " + d->name + ": our key " + d->mine +
                                       " is gone (its session's lease ended)");
        break;
      }
      case enter_step::wait:
        for (;;) {
          if (co_await wait_event(c, barrier_ready_key(d->name), from, event_type::put)) break;
          range_result r = co_await c.range(barrier_ready_key(d->name));
          if (!r.kvs.empty() && r.kvs[0].mod_revision >= from) break;
          from = r.header.revision + 1;
        }
        break;
    }
  } catch (...) {
    failed = std::current_exception();
  }
  if (!failed && !over) co_return;
  // Not entered after all: the key goes (in the background: a cancelled coroutine cannot await).
  // Tried until it is gone or the session ends: a key left on a live lease would be counted by
  // the next entrant, which would then pass the barrier before `count` participants are there.
  d->entered = false;
  d->s->impl->tasks.spawn(
      "removing double barrier key " + d->mine,
      // (the key by value: a new enter() gives d->mine a new key meanwhile)
      [](std::shared_ptr<session_state> s, std::string key) -> asio::awaitable<void> {
        backoff pause(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
        for (;;) {
          try {
            co_await delete_own_key(*s->impl, key);  // (a random key: ours alone)
            co_return;
          } catch (const std::exception& e) {
            if (s->is_lost || s->stopped) co_return;  // (the lease takes the key)
            s->impl->log->warn("coordination: removing double barrier key {} failed: {}", key,
                               e.what());
          }
          asio::steady_timer t(co_await asio::this_coro::executor, pause.next());
          auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          if (ec) co_return;
        }
      }(d->s, d->mine));
  if (failed) std::rethrow_exception(failed);
  throw too_many();
}

asio::awaitable<void> leave_barrier(std::shared_ptr<double_barrier_state> d) {
  if (!d->entered || d->left)
    throw coordination_error(error::invalid_argument, "double barrier: leave() before enter()");
  client& c = *d->s->owner;
  const std::string prefix = barrier_waiters_prefix(d->name);
  for (;;) {
    range_result r = co_await c.range(prefix, prefix_options());
    leave_step step = next_leave_step(r.kvs, d->mine);
    switch (step.what) {
      case leave_step::done:
        d->left = true;
        co_return;
      case leave_step::finish:
        co_await c.del(barrier_ready_key(d->name));
        co_await delete_own_key(*d->s->impl, d->mine);
        d->left = true;
        co_return;
      case leave_step::delete_and_wait:
        co_await delete_own_key(*d->s->impl, d->mine);  // (resent: a random key, ours alone)
        [[fallthrough]];
      case leave_step::wait_for:
        co_await wait_event(c, step.key, r.header.revision + 1, event_type::del);
        break;
    }
  }
}

}  // namespace
}  // namespace detail

barrier::barrier(client& c, std::string name) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "barrier name: empty");
  state_ = std::make_shared<detail::barrier_state>(
      detail::barrier_state{detail::access::share(c), std::move(name)});
}
barrier::barrier(barrier&&) noexcept = default;
barrier& barrier::operator=(barrier&&) noexcept = default;
barrier::~barrier() = default;

asio::awaitable<bool> barrier::hold() {
  return detail::hold_key(state_);
}
asio::awaitable<void> barrier::release() {
  return detail::release_key(state_);
}
asio::awaitable<void> barrier::wait() {
  return detail::wait_released(state_);
}

double_barrier::double_barrier(session& s, std::string name, std::size_t count) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "double barrier name: empty");
  if (count == 0) throw coordination_error(error::invalid_argument, "double barrier count: 0");
  state_ = std::make_shared<detail::double_barrier_state>();
  state_->s = detail::access::state(s);
  state_->name = std::move(name);
  state_->count = count;
}
double_barrier::double_barrier(double_barrier&&) noexcept = default;
double_barrier& double_barrier::operator=(double_barrier&&) noexcept = default;
double_barrier::~double_barrier() = default;

asio::awaitable<void> double_barrier::enter() {
  return detail::enter_barrier(state_);
}
asio::awaitable<void> double_barrier::leave() {
  return detail::leave_barrier(state_);
}

}  // namespace coordination
