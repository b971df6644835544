#include "coordination/lock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdio>

#include "coordination/watch.hpp"
#include "detail/session_state.hpp"

namespace coordination {

namespace detail {

struct held_lock {
  explicit held_lock(asio::any_io_executor ex) : lost_signal(ex, clock::time_point::max()) {}
  std::shared_ptr<session_state> session;
  std::shared_ptr<name_gate> gate;
  std::string name, key;
  std::int64_t token = 0;
  std::int64_t lease = 0;
  bool released = false;
  bool lost = false;
  asio::steady_timer lost_signal;
  watch_stream key_watch;
  std::uint64_t session_callback = 0;

  void mark_lost(const char* why) {
    if (lost || released) return;
    lost = true;
    session->impl->log->warn("coordination: lock {} lost: {}", key, why);
    lost_signal.cancel();
  }
};

namespace {

void leave_gate(name_gate& g) {
  if (g.waiters.empty()) {
    g.busy = false;
    return;
  }
  auto* w = g.waiters.front();
  g.waiters.pop_front();
  w->handed = true;
  w->timer.cancel();
}

asio::awaitable<std::shared_ptr<name_gate>> enter_gate(session_state& s, const std::string& name) {
  auto& slot = s.gates[name];
  if (!slot) slot = std::make_shared<name_gate>();
  auto gate = slot;
  if (!gate->busy) {
    gate->busy = true;
    co_return gate;
  }
  gate_waiter w{asio::steady_timer(s.impl->executor, clock::time_point::max())};
  gate->waiters.push_back(&w);
  struct guard {
    name_gate& g;
    gate_waiter& w;
    bool done = false;
    ~guard() {
      if (done) return;
      if (w.handed) {
        leave_gate(g);  // handed over while being cancelled: pass it on
      } else {
        std::erase(g.waiters, &w);
      }
    }
  } g{*gate, w};
  co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  g.done = true;
  if (!w.handed) {
    std::erase(gate->waiters, &w);
    throw coordination_error(error::cancelled, "lock " + name + ": wait cancelled");
  }
  co_return gate;
}

std::string hex(std::int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

range_options first_created() {
  range_options o;
  o.prefix = true;
  o.order = sort_order::ascend;
  o.target = sort_target::create;
  o.limit = 1;
  return o;
}

// Deletes the waiter's key and lets the next local waiter in, in the background: the key must be
// gone before the next coroutine of this process (same lease, same key) tries to create it.
void abandon(std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
             std::int64_t token) {
  asio::co_spawn(
      s->impl->executor,
      [s, gate, key, token]() -> asio::awaitable<void> {
        try {
          txn_request t;
          t.compares.push_back(compare::create_revision(key, compare_result::equal, token));
          t.success.push_back(delete_op{key, {}});
          co_await s->owner->txn(std::move(t));
        } catch (const std::exception& e) {
          s->impl->log->warn("coordination: removing lock key {} failed: {}", key, e.what());
        }
        leave_gate(*gate);
      },
      asio::detached);
}

asio::awaitable<void> watch_own_key(std::shared_ptr<held_lock> h, std::int64_t from) {
  try {
    watch_options o;
    o.start_revision = from;
    o.filter_put = true;
    h->key_watch = co_await h->session->owner->watch(h->key, o);
    if (h->released) {
      h->key_watch.cancel();
      co_return;
    }
    for (;;) {
      auto b = co_await h->key_watch.next();
      if (!b.events.empty()) {
        h->mark_lost("its key was deleted");
        h->key_watch.cancel();
        co_return;
      }
    }
  } catch (const coordination_error& e) {
    if (e.code() == error::compacted) h->mark_lost("its key's history was compacted");
  } catch (const std::exception&) {
  }
}

}  // namespace
}  // namespace detail

using detail::clock;
namespace asio = boost::asio;

locker::locker(session& s) : session_(s.state()) {}

asio::awaitable<lock_handle> locker::lock(std::string name) {
  return acquire(std::move(name), true);
}

asio::awaitable<lock_handle> locker::try_lock(std::string name) {
  return acquire(std::move(name), false);
}

asio::awaitable<lock_handle> locker::acquire(std::string name, bool wait) {
  auto s = session_;
  if (name.empty()) throw coordination_error(error::invalid_argument, "name: must not be empty");
  if (s->is_lost || s->stopped)
    throw coordination_error(error::session_expired, "lock " + name + ": session is not alive");
  auto gate = co_await detail::enter_gate(*s, name);
  client& c = *s->owner;
  const std::string prefix = name + "/";
  const std::string key = prefix + detail::hex(s->lease);
  std::int64_t my_rev = 0;
  std::int64_t seen_revision = 0;
  std::exception_ptr failure;
  try {
    txn_request t;
    t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
    put_options with_lease;
    with_lease.lease = s->lease;
    t.success.push_back(put_op{key, "", with_lease});
    t.success.push_back(range_op{prefix, detail::first_created()});
    t.failure.push_back(range_op{key, {}});
    t.failure.push_back(range_op{prefix, detail::first_created()});
    auto r = co_await c.txn(std::move(t));
    seen_revision = r.header.revision;
    if (r.succeeded) {
      my_rev = r.header.revision;
    } else {
      auto& mine = std::get<range_result>(r.responses.at(0)).kvs;
      if (mine.empty()) throw coordination_error(error::protocol_error, "lock key vanished");
      my_rev = mine[0].create_revision;
    }
    auto& owner = std::get<range_result>(r.responses.at(1)).kvs;
    bool is_owner = owner.empty() || owner[0].create_revision == my_rev;
    if (!is_owner && !wait)
      throw coordination_error(error::locked, "lock " + name + " is held by " + owner[0].key);
    while (!is_owner) {
      // Wait for the deletion of the key just before ours (never poll, never watch the rest).
      range_options before;
      before.prefix = true;
      before.max_create_revision = my_rev - 1;
      before.order = sort_order::descend;
      before.target = sort_target::create;
      before.limit = 1;
      auto rr = co_await c.range(prefix, before);
      seen_revision = rr.header.revision;
      if (rr.kvs.empty()) break;
      watch_options wo;
      wo.start_revision = rr.header.revision + 1;
      wo.filter_put = true;
      auto w = co_await c.watch(rr.kvs[0].key, wo);
      for (bool gone = false; !gone;) {
        auto b = co_await w.next();
        gone = !b.events.empty();
        seen_revision = std::max(seen_revision, b.revision);
      }
    }
    // Still ours? (the session may have expired while waiting)
    auto mine = co_await c.range(key);
    if (mine.kvs.empty() || mine.kvs[0].create_revision != my_rev || s->is_lost)
      throw coordination_error(error::lock_lost,
                               "lock " + name + ": the waiter's key expired while waiting");
    seen_revision = std::max(seen_revision, mine.header.revision);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // A cancelled or failed waiter removes its key so it never blocks others.
    if (my_rev) {
      detail::abandon(s, gate, key, my_rev);
    } else {
      detail::leave_gate(*gate);
    }
    std::rethrow_exception(failure);
  }
  auto h = std::make_shared<detail::held_lock>(s->impl->executor);
  h->session = s;
  h->gate = gate;
  h->name = name;
  h->key = key;
  h->token = my_rev;
  h->lease = s->lease;
  std::weak_ptr<detail::held_lock> weak = h;
  h->session_callback = s->next_callback++;
  s->callbacks.emplace(h->session_callback, [weak](std::error_code) {
    if (auto held = weak.lock()) held->mark_lost("its session was lost");
  });
  asio::co_spawn(s->impl->executor, detail::watch_own_key(h, seen_revision + 1), asio::detached);
  co_return lock_handle(std::move(h));
}

lock_handle::lock_handle() = default;
lock_handle::lock_handle(std::shared_ptr<detail::held_lock> s) : state_(std::move(s)) {}
lock_handle::lock_handle(lock_handle&&) noexcept = default;
lock_handle& lock_handle::operator=(lock_handle&& other) noexcept {
  if (this != &other) {
    lock_handle old(std::move(*this));
    state_ = std::move(other.state_);
  }
  return *this;
}

lock_handle::~lock_handle() {
  if (!state_ || state_->released) return;
  auto h = state_;
  h->session->impl->log->info("coordination: lock {} dropped without release(); releasing it",
                              h->key);
  asio::co_spawn(
      h->session->impl->executor,
      [h]() -> asio::awaitable<void> {
        lock_handle again(h);
        try {
          co_await again.release();
        } catch (const std::exception& e) {
          h->session->impl->log->warn("coordination: releasing lock {} failed: {}", h->key,
                                      e.what());
        }
      },
      asio::detached);
}

const std::string& lock_handle::name() const {
  return state_->name;
}
const std::string& lock_handle::key() const {
  return state_->key;
}
std::int64_t lock_handle::fencing_token() const {
  return state_->token;
}
std::int64_t lock_handle::lease() const {
  return state_->lease;
}
bool lock_handle::held() const {
  return state_ && !state_->released && !state_->lost;
}

asio::awaitable<bool> lock_handle::is_held() {
  auto h = state_;
  if (!h || h->released) co_return false;
  auto r = co_await h->session->owner->range(h->key);
  bool ok = !r.kvs.empty() && r.kvs[0].create_revision == h->token;
  if (!ok) h->mark_lost("its key is gone");
  co_return ok;
}

asio::awaitable<void> lock_handle::release() {
  auto h = state_;
  if (!h || h->released) co_return;
  h->released = true;
  h->key_watch.cancel();
  h->session->callbacks.erase(h->session_callback);
  h->lost_signal.cancel();
  std::exception_ptr failure;
  try {
    txn_request t;
    t.compares.push_back(compare::create_revision(h->key, compare_result::equal, h->token));
    t.success.push_back(delete_op{h->key, {}});
    co_await h->session->owner->txn(std::move(t));
  } catch (...) {
    failure = std::current_exception();
  }
  detail::leave_gate(*h->gate);
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<std::error_code> lock_handle::wait_lost() {
  auto h = state_;
  if (!h) co_return make_error_code(error::cancelled);
  if (!h->lost && !h->released)
    co_await h->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return make_error_code(h->lost ? error::lock_lost : error::cancelled);
}

asio::awaitable<txn_result> lock_handle::guarded_txn(std::vector<compare> compares,
                                                     std::vector<txn_op> ops) {
  auto h = state_;
  if (!h || h->released) throw coordination_error(error::lock_lost, "lock released");
  txn_request t;
  t.compares.push_back(compare::create_revision(h->key, compare_result::equal, h->token));
  for (auto& c : compares) t.compares.push_back(std::move(c));
  t.success = std::move(ops);
  t.failure.push_back(range_op{h->key, {}});
  auto r = co_await h->session->owner->txn(std::move(t));
  if (r.succeeded) co_return r;
  auto& kvs = std::get<range_result>(r.responses.at(0)).kvs;
  if (kvs.empty() || kvs[0].create_revision != h->token) {
    h->mark_lost("a guarded write found its key gone");
    throw coordination_error(
        error::lock_lost,
        "lock " + h->name + " is no longer held (fencing token " + std::to_string(h->token) + ")");
  }
  r.responses.clear();
  co_return r;
}

}  // namespace coordination
