#include <boost/asio/co_spawn.hpp>

#include "client/access.hpp"
#include "recipes/lock/lock_internal.hpp"
#include "recipes/lock/lock_recipe.hpp"

namespace coordination {

namespace detail {

asio::awaitable<void> watch_own_key(std::shared_ptr<held_lock> h, std::int64_t from) {
  bool compacted = false;
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
    compacted = e.code() == error::compacted;
  } catch (const std::exception&) {
  }
  if (compacted && !h->released) {
    // History since the acquisition is gone: ask etcd directly.
    try {
      auto r = co_await h->session->owner->range(h->key);
      if (r.kvs.empty() || r.kvs[0].create_revision != h->token) h->mark_lost("its key is gone");
    } catch (const std::exception&) {
    }
  }
  // Ended without a loss: a later wait_lost() watches again. When it ended because the client
  // closed, nothing will ever report a loss (the session's renewals end too): wait_lost()'s
  // waiters get cancelled now. (A watch that failed otherwise, e.g. while every member was
  // down, leaves them to the session, whose loss marks the lock lost.)
  if (!h->lost) {
    h->watching = false;
    if (h->session->impl->tasks.closed()) h->lost_signal.cancel();
  }
}

}  // namespace detail

using detail::clock;
namespace asio = boost::asio;

tracer* detail::tracer_of(const lock_handle& h) {
  return detail::access::state(h) ? detail::access::state(h)->session->impl->tracer : nullptr;
}

lock_handle::lock_handle() = default;
lock_handle::lock_handle(std::shared_ptr<detail::held_lock> s) : state_(std::move(s)) {}
lock_handle::lock_handle(lock_handle&& other) noexcept
    : state_(std::move(other.state_)), done_(other.done_) {}
lock_handle& lock_handle::operator=(lock_handle&& other) noexcept {
  if (this != &other) {
    lock_handle old(std::move(*this));
    state_ = std::move(other.state_);
    done_ = other.done_;
  }
  return *this;
}

lock_handle::~lock_handle() {
  if (!state_ || state_->released || done_) return;
  done_ = true;
  auto h = state_;
  if (h->count > 1) {  // one reentrant acquisition less
    --h->count;
    return;
  }
  h->session->impl->log->info("coordination: lock {} dropped without release(); releasing it",
                              h->key);
  auto started = h->session->impl->tasks.spawn(
      "releasing dropped lock " + h->key,
      [](std::shared_ptr<detail::held_lock> h) -> asio::awaitable<void> {
        lock_handle again(h);
        try {
          co_await again.release();
        } catch (const std::exception& e) {
          h->session->impl->log->warn("coordination: releasing lock {} failed: {}", h->key,
                                      e.what());
        }
      }(h));
  if (!started) {  // the client is closed: nothing can reach etcd, let local waiters go on
    h->released = true;
    h->end_hold();
    detail::leave_gate(h->gate.get());
  }
}

// (An empty or moved-from handle answers "", 0 and the clock's epoch rather than crashing:
// leadership::proclaim() names it in its not_leader error, for one.)
namespace {
const std::string no_name;
}  // namespace
const std::string& lock_handle::name() const {
  return state_ ? state_->name : no_name;
}
const std::string& lock_handle::key() const {
  return state_ ? state_->key : no_name;
}
std::chrono::steady_clock::time_point lock_handle::valid_until() const {
  return state_ ? state_->session->schedule.expires_at() : std::chrono::steady_clock::time_point{};
}
std::int64_t lock_handle::fencing_token() const {
  return state_ ? state_->token : 0;
}
std::int64_t lock_handle::lease() const {
  return state_ ? state_->lease : 0;
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

int lock_handle::acquire_count() const {
  return state_ ? state_->count : 0;
}

asio::awaitable<std::int64_t> lock_handle::renew() {
  auto h = state_;
  if (!h || h->released) throw coordination_error(error::lock_lost, "lock released");
  auto r = co_await h->session->owner->lease_keep_alive_once(h->lease);
  co_return r.ttl;
}

asio::awaitable<std::int64_t> lock_handle::ttl() {
  auto h = state_;
  if (!h) co_return -1;
  co_return (co_await h->session->owner->lease_time_to_live(h->lease)).ttl;
}

asio::awaitable<void> lock_handle::release() {
  auto h = state_;
  if (!h || h->released || done_) co_return;
  done_ = true;
  if (h->count > 1) {
    --h->count;
    co_return;
  }
  h->released = true;
  h->end_hold();
  detail::span_scope span(h->session->impl->tracer, h->recipe == std::string_view("election")
                                                        ? "election.resign"
                                                        : "lock.release");
  span.attr("key", h->key);
  if (h->reentrant) {  // (only this lock's entry: a newer holder of the name may have replaced it)
    auto it = h->reentrant->find(h->name);
    if (it != h->reentrant->end() && it->second.lock() == h) h->reentrant->erase(it);
  }
  h->key_watch.cancel();
  h->session->callbacks.erase(h->session_callback);
  h->lost_signal.cancel();
  std::exception_ptr failure;
  try {
    // Guarded by the key's create revision (the fencing token): resent after any failure, and
    // a copy that a paused member applies late cannot delete this session's next lock of the
    // name (the same key, created again).
    std::optional<compare> ours = compare::create_revision(h->key, compare_result::equal, h->token);
    co_await detail::delete_own_key(*h->session->impl, h->key, ours);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure && !h->session->is_lost && !h->session->stopped)
    detail::abandon(h->session, h->gate, h->key, h->token);  // retried in the background
  else
    detail::leave_gate(h->gate.get());
  if (h->own_session) {
    // Revokes the lock's own lease: awaited, unless the caller has cancelled this release (a
    // co_await would only throw there).
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      detail::access::state(*h->own_session)->close_in_background();
    } else {
      try {
        co_await h->own_session->close();
      } catch (const std::exception& e) {
        h->session->impl->log->info("coordination: revoking the lease of lock {} failed: {}",
                                    h->key, e.what());
      }
    }
  }
  if (failure) {
    span.fail(failure);
    std::rethrow_exception(failure);
  }
  span.ok();
}

asio::awaitable<std::error_code> lock_handle::wait_lost() {
  auto h = state_;
  if (!h) co_return make_error_code(error::cancelled);
  if (!h->watching && !h->lost && !h->released) {
    h->watching = true;
    if (!h->session->impl->tasks.spawn("watching lock key " + h->key,
                                       detail::watch_own_key(h, h->watch_from))) {
      h->watching = false;  // the client is closed: nothing would ever report a loss
      co_return make_error_code(error::cancelled);
    }
  }
  if (!h->lost && !h->released)
    co_await h->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return make_error_code(h->lost ? error::lock_lost : error::cancelled);
}

asio::awaitable<txn_result> lock_handle::guarded_txn(std::vector<compare> compares,
                                                     std::vector<txn_op> ops) {
  auto h = state_;
  if (!h || h->released) throw coordination_error(error::lock_lost, "lock released");
  if (h->session->is_lost || clock::now() >= h->session->schedule.expires_at()) {
    // etcd may still have the lease, but nothing vouches for it any more: the session is about
    // to be declared lost and its lease revoked.
    h->mark_lost("its lease has no confirmed renewal within the TTL");
    throw coordination_error(error::lock_lost, "lock " + h->name +
                                                   ": its lease may have expired (no renewal "
                                                   "confirmed within the TTL)");
  }
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
