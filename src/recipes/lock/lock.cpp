#include "coordination/lock.hpp"

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <cstdio>
#include <optional>

#include "coordination/watch.hpp"
#include "detail/cancelled.hpp"
#include "recipes/lock/lock_recipe.hpp"
#include "session/session_state.hpp"

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
  int count = 1;                // reentrant acquisitions
  std::int64_t watch_from = 0;  // first revision after the acquisition
  bool watching = false;        // the key watch runs (started by the first wait_lost())
  std::optional<coordination::session> own_session;  // a lock with a TTL of its own
  std::shared_ptr<std::map<std::string, std::weak_ptr<held_lock>>> reentrant;
  const char* recipe = "mutex";  // metrics label
  clock::time_point acquired_at;
  bool hold_ended = false;

  // Metrics: the hold ends (released or lost), once.
  void end_hold() {
    if (hold_ended) return;
    hold_ended = true;
    if (auto* m = session->impl->metrics.get())
      m->lock_released(recipe, clock::now() - acquired_at);
  }

  void mark_lost(const char* why) {
    if (lost || released) return;
    lost = true;
    end_hold();
    session->impl->log->warn("coordination: lock {} lost: {}", key, why);
    lost_signal.cancel();
  }
};

namespace {

void leave_gate(name_gate* gate) {
  if (!gate) return;
  auto& g = *gate;
  auto next = g.core.leave();
  if (!next) {
    if (g.registry) {
      auto it = g.registry->find(g.name);
      if (it != g.registry->end() && it->second.get() == gate) g.registry->erase(it);
    }
    return;
  }
  auto it = g.waiting.find(*next);
  if (it == g.waiting.end()) return leave_gate(gate);  // (a ticket without its waiter: next)
  auto* w = it->second;
  g.waiting.erase(it);
  w->handed = true;
  w->timer.cancel();
}

asio::awaitable<std::shared_ptr<name_gate>> enter_gate(session_state& s, const std::string& name) {
  auto& slot = s.gates[name];
  if (!slot) {
    slot = std::make_shared<name_gate>();
    slot->name = name;
    slot->registry = &s.gates;
  }
  auto gate = slot;
  auto ticket = gate->core.enter();
  if (!ticket) co_return gate;
  gate_waiter w{asio::steady_timer(s.impl->executor, clock::time_point::max())};
  gate->waiting[*ticket] = &w;
  struct guard {
    name_gate& g;
    gate_waiter& w;
    fifo_gate::ticket t;
    bool done = false;
    ~guard() {
      if (done) return;
      if (w.handed) {
        leave_gate(&g);  // handed over while being cancelled: pass it on
      } else {
        g.core.withdraw(t);
        g.waiting.erase(t);
      }
    }
  } g{*gate, w, *ticket};
  co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  g.done = true;
  if (!w.handed) {
    gate->core.withdraw(*ticket);
    gate->waiting.erase(*ticket);
    throw coordination_error(error::cancelled, "lock " + name + ": wait cancelled");
  }
  co_return gate;
}

std::string hex(std::int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Deletes the key (if it is still the one created at `token`; token 0: whatever is there, for a
// create whose outcome is unknown) and lets the next local waiter in, in the background: the key
// must be gone before the next coroutine of this process (same lease, same key) tries to create
// it, or that one would inherit it. A failed delete is retried (0.2 s, doubling to 2 s) until it
// succeeds or the session ends (its lease takes the key with it): a lock key left behind would
// block every other waiter for as long as the session lives. The gate is passed on however this
// ends (also when the client's close() cancels it, or it cannot start after that).
void abandon(std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
             std::int64_t token) {
  struct pass_on {
    std::shared_ptr<name_gate> gate;
    ~pass_on() { leave_gate(gate.get()); }
  };
  auto started = s->impl->tasks.spawn(
      "removing lock key " + key,
      [](std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
         std::int64_t token) -> asio::awaitable<void> {
        pass_on on_exit{std::move(gate)};
        auto pause = std::chrono::milliseconds(200);
        for (int attempt = 1;; ++attempt) {
          std::string failure;
          try {
            txn_request t;
            if (token != 0)
              t.compares.push_back(compare::create_revision(key, compare_result::equal, token));
            t.success.push_back(delete_op{key, {}});
            t.idempotent = true;  // our own key: deleting it twice is deleting it once
            co_await s->owner->txn(std::move(t));
            break;
          } catch (const std::exception& e) {
            failure = e.what();
          }
          if (s->is_lost || s->stopped) break;
          s->impl->log->warn("coordination: removing lock key {} failed (attempt {}): {}", key,
                             attempt, failure);
          asio::steady_timer t(s->impl->executor, pause);
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          pause = std::min(pause * 2, std::chrono::milliseconds(2000));
        }
      }(s, gate, key, token));
  if (!started) leave_gate(gate.get());
}

// Runs a key's create request to its end even when the caller cancels meanwhile (the caller's
// cancellation takes effect at its next step): its outcome is then known and the key it made can
// be removed. A create cut off in flight could still be applied after that removal, and stay.
asio::awaitable<txn_result> create_to_the_end(client& c, txn_request t) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::co_spawn(
      ex, c.txn(std::move(t)),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

// Creates `key` on `lease` unless it exists. Returns {its create revision, header revision}.
asio::awaitable<std::pair<std::int64_t, std::int64_t>> create_key(client& c, const std::string& key,
                                                                  std::int64_t lease) {
  txn_request t;
  t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
  put_options with_lease;
  with_lease.lease = lease;
  t.success.push_back(put_op{key, "", with_lease});
  t.failure.push_back(range_op{key, {}});
  t.idempotent = true;  // a resend after our create was applied reads our key: the same answer
  auto r = co_await create_to_the_end(c, std::move(t));
  if (r.succeeded) co_return std::pair{r.header.revision, r.header.revision};
  auto& mine = std::get<range_result>(r.responses.at(0)).kvs;
  if (mine.empty()) throw coordination_error(error::protocol_error, "lock key vanished");
  co_return std::pair{mine[0].create_revision, r.header.revision};
}

// Waits for the deletion of `key`, which existed at revision `at`, with a watch of its own from
// at + 1 (etcd puts a watch from a past revision in its "unsynced" group: up to 100 ms late).
asio::awaitable<std::int64_t> await_deletion_alone(client& c, const std::string& key,
                                                   std::int64_t at) {
  watch_options wo;
  wo.start_revision = at + 1;
  wo.filter_put = true;
  auto w = co_await c.watch(key, wo);
  for (;;) {
    auto b = co_await w.next();
    if (!b.events.empty()) co_return b.events.back().kv.mod_revision;
  }
}

// One long-lived watch of the deletions under a lock's prefix, shared by every waiter of this
// client: once caught up it is "synced" in etcd and hands each deletion over at once, where a
// watch created per waiter from a past revision would wait for etcd's 100 ms catch-up tick.
struct prefix_deletions {
  explicit prefix_deletions(std::int64_t start) : index(start) {}
  struct waiter {
    asio::steady_timer timer;
    bool completed = false;
    std::int64_t deleted_at = 0;  // 0 when completed: the stream failed
  };
  deletion_index index;  // what the stream saw, who waits for which key
  std::map<deletion_index::waiter_id, waiter*> waiters;
  watch_stream stream;

  void complete(const std::vector<deletion_index::completion>& done) {
    for (auto& c : done) {
      auto it = waiters.find(c.id);
      if (it == waiters.end()) continue;
      it->second->completed = true;
      it->second->deleted_at = c.revision;
      it->second->timer.cancel();
      waiters.erase(it);
    }
  }
};

asio::awaitable<void> pump_deletions(std::shared_ptr<prefix_deletions> pd,
                                     std::shared_ptr<spdlog::logger> log, std::string prefix) {
  try {
    for (;;) {
      auto b = co_await pd->stream.next();
      for (auto& e : b.events) pd->complete(pd->index.deleted(e.kv.key, e.kv.mod_revision));
    }
  } catch (const coordination_error& e) {
    if (e.code() != error::cancelled)
      log->info("coordination: deletion stream of {} ended ({}); its waiters watch alone", prefix,
                e.what());
  } catch (const std::exception& e) {
    log->info("coordination: deletion stream of {} ended ({}); its waiters watch alone", prefix,
              e.what());
  }
  pd->complete(pd->index.fail());  // the waiters fall back to watches of their own
}

// Waits for the deletion of `key` (under `prefix`), which existed at revision `at`.
asio::awaitable<std::int64_t> await_deletion(client& c, const std::string& prefix,
                                             const std::string& key, std::int64_t at) {
  auto& impl = c.impl();
  auto& slot = impl.prefix_watchers[prefix];
  auto pd = std::static_pointer_cast<prefix_deletions>(slot);
  if (!pd || pd->index.failed()) {
    pd = std::make_shared<prefix_deletions>(at + 1);
    slot = pd;
    watch_options wo;
    wo.start_revision = at + 1;
    wo.filter_put = true;
    std::exception_ptr failure;
    try {
      pd->stream = co_await c.watch_prefix(prefix, wo);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // A stream that never started must not stay in the slot: later waiters would register on
      // it and never be woken. (Waiters that joined meanwhile fall back to watches of their own.)
      pd->complete(pd->index.fail());
      std::rethrow_exception(failure);
    }
    if (!impl.tasks.spawn("lock deletion stream of " + prefix,
                          pump_deletions(pd, impl.log, prefix)))
      pd->complete(pd->index.fail());
  }
  // The shared stream must cover (at, now] and still remember what it saw since `at`.
  if (!pd->index.covers(at)) co_return co_await await_deletion_alone(c, key, at);
  if (auto rev = pd->index.deleted_after(key, at)) co_return rev;
  prefix_deletions::waiter w{asio::steady_timer(impl.executor, clock::time_point::max())};
  auto id = pd->index.wait(key, at);
  pd->waiters[id] = &w;
  struct unregister {
    prefix_deletions& pd;
    prefix_deletions::waiter& w;
    deletion_index::waiter_id id;
    ~unregister() {
      if (w.completed) return;
      pd.index.cancel(id);
      pd.waiters.erase(id);
    }
  } guard{*pd, w, id};
  co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (w.completed && w.deleted_at) co_return w.deleted_at;
  if (w.completed) co_return co_await await_deletion_alone(c, key, at);  // the stream failed
  throw coordination_error(error::cancelled, "lock wait cancelled");
}

// Whether the shared deletion stream of `prefix` saw `key` deleted in (at, upto]: nullopt when
// that stream cannot tell (absent, failed, not covering that span, or not that far yet).
std::optional<bool> deleted_since(client& c, const std::string& prefix, const std::string& key,
                                  std::int64_t at, std::int64_t upto) {
  auto it = c.impl().prefix_watchers.find(prefix);
  if (it == c.impl().prefix_watchers.end()) return std::nullopt;
  auto pd = std::static_pointer_cast<prefix_deletions>(it->second);
  if (!pd) return std::nullopt;
  return pd->index.deleted_since(key, at, upto);
}

// Waits until no key under `blockers` created before `my_rev` is left. One range reads them all
// as of revision R (keys created later queue behind us, so the set can only shrink); then the
// client's shared deletion stream of `lock_prefix` tells when each is gone, newest first (the one
// just before us usually goes last): no polling, and no round trip after the last delete event.
// When `key` (ours, created at `my_rev`) lies under `blockers` the same range checks it is still
// there. Returns {R, revision of the last deletion waited for, 0 when none}.
asio::awaitable<std::pair<std::int64_t, std::int64_t>> wait_predecessors(
    client& c, const std::string& lock_prefix, const std::string& blockers, const std::string& key,
    std::int64_t my_rev) {
  range_options queue;
  queue.prefix = true;
  queue.keys_only = true;
  queue.max_create_revision = my_rev;
  queue.order = sort_order::descend;
  queue.target = sort_target::create;
  auto rr = co_await c.range(blockers, queue);
  const auto at = rr.header.revision;
  auto plan = plan_wait(rr.kvs, blockers, key, my_rev);
  if (plan.own_key_gone)
    throw coordination_error(error::lock_lost, key + ": the waiter's key expired while waiting");
  std::int64_t last_deletion = 0;
  for (auto& k : plan.predecessors)
    last_deletion = std::max(last_deletion, co_await await_deletion(c, lock_prefix, k, at));
  co_return std::pair{at, last_deletion};
}

// Still ours after waiting (the lease may have expired meanwhile)? When our key was seen at
// revision `seen_at` (0: not seen) and the shared deletion stream has delivered up to `upto`,
// the stream answers; otherwise one range does. Returns the newest revision known.
asio::awaitable<std::int64_t> confirm(session_state& s, const std::string& lock_prefix,
                                      const std::string& key, std::int64_t my_rev,
                                      std::int64_t seen_at, std::int64_t upto) {
  client& c = *s.owner;
  std::optional<bool> gone;
  std::int64_t seen = upto;
  if (seen_at) gone = deleted_since(c, lock_prefix, key, seen_at, upto);
  if (!gone) {
    auto mine = co_await c.range(key);
    seen = std::max(seen, mine.header.revision);
    gone = mine.kvs.empty() || mine.kvs[0].create_revision != my_rev;
  }
  if (*gone || s.is_lost)
    throw coordination_error(error::lock_lost, key + ": the waiter's key expired while waiting");
  co_return seen;
}

std::string unique_suffix(std::int64_t lease) {
  static std::atomic<std::uint64_t> counter{0};  // clients on other threads share it
  return hex(lease) + "-" + std::to_string(++counter);
}

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
}

}  // namespace
}  // namespace detail

using detail::clock;
namespace asio = boost::asio;

namespace detail {
namespace {

lock_handle make_handle(std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate,
                        std::string name, std::string key, std::int64_t token,
                        std::int64_t seen_revision, const char* recipe,
                        clock::time_point asked_at) {
  auto h = std::make_shared<held_lock>(s->impl->executor);
  h->recipe = recipe;
  h->acquired_at = clock::now();
  if (auto* m = s->impl->metrics.get()) m->lock_acquired(recipe, h->acquired_at - asked_at);
  h->session = s;
  h->gate = std::move(gate);
  h->name = std::move(name);
  h->key = std::move(key);
  h->token = token;
  h->lease = s->lease;
  std::weak_ptr<held_lock> weak = h;
  h->session_callback = s->next_callback++;
  s->callbacks.emplace(h->session_callback, [weak](std::error_code) {
    if (auto held = weak.lock()) held->mark_lost("its session was lost");
  });
  // The key watch that notices a deletion by someone else starts with the first wait_lost():
  // an uncontended lock + release stays two round trips.
  h->watch_from = seen_revision + 1;
  return lock_handle(std::move(h));
}

enum class lock_kind { read, write, semaphore };

// The read/write and semaphore recipes: every waiter gets a key of its own
// (<name>/<kind>/<lease>-<n>), so coroutines sharing a session need no local queue.
asio::awaitable<lock_handle> acquire_shared(std::shared_ptr<session_state> s, std::string name,
                                            lock_kind kind, int permits) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "name: must not be empty");
  if (kind == lock_kind::semaphore && permits < 1)
    throw coordination_error(error::invalid_argument, "permits: must be at least 1");
  if (s->is_lost || s->stopped)
    throw coordination_error(error::session_expired, "lock " + name + ": session is not alive");
  const auto asked_at = clock::now();
  const char* recipe = kind == lock_kind::read    ? "read"
                       : kind == lock_kind::write ? "write"
                                                  : "semaphore";
  span_scope span(s->impl->tracer, "lock.acquire");
  span.attr("name", name).attr("recipe", recipe);
  client& c = *s->owner;
  const std::string base = name + "/";
  const std::string key = base +
                          (kind == lock_kind::read    ? "read/"
                           : kind == lock_kind::write ? "write/"
                                                      : "") +
                          unique_suffix(s->lease);
  std::int64_t my_rev = 0, seen = 0;
  std::exception_ptr failure;
  try {
    auto [rev, header] = co_await create_key(c, key, s->lease);
    my_rev = rev;
    seen = header;
    bool waited = false;
    std::int64_t seen_at = 0, last_deletion = 0;  // for confirm()
    if (kind != lock_kind::semaphore) {
      // A reader waits for earlier writers only, a writer for everybody before it.
      auto blockers = kind == lock_kind::read ? base + "write/" : base;
      auto [at, last] = co_await wait_predecessors(c, base, blockers, key, my_rev);
      if (key.starts_with(blockers)) seen_at = at;  // the range showed our key
      // (a reader's key was not in the range: check it when anything happened since)
      waited = last > 0 || (seen_at == 0 && at > header);
      seen = std::max({seen, at, last});
      last_deletion = last;
    } else {
      for (;;) {
        // (etcd's count ignores max_create_revision, so count the keys it returns)
        range_options ahead;
        ahead.prefix = true;
        ahead.max_create_revision = my_rev - 1;
        ahead.keys_only = true;
        auto r = co_await c.range(base, ahead);
        seen = std::max(seen, r.header.revision);
        if (static_cast<std::int64_t>(r.kvs.size()) < permits) break;
        // Full: wait for any holder or earlier waiter to go, then count again.
        watch_options wo;
        wo.start_revision = r.header.revision + 1;
        wo.filter_put = true;
        auto w = co_await c.watch_prefix(base, wo);
        seen = std::max(seen, (co_await w.next()).revision);
        waited = true;
      }
    }
    if (waited)
      seen = std::max(seen, co_await confirm(*s, base, key, my_rev, seen_at, last_deletion));
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    failure = as_library_error(failure, "lock " + name);
    span.fail(failure);
    // The key goes, also when the create failed (my_rev 0): it may have been applied.
    abandon(s, nullptr, key, my_rev);
    std::rethrow_exception(failure);
  }
  span.attr("key", key).attr("fencing_token", std::to_string(my_rev));
  span.ok();
  co_return make_handle(s, nullptr, name, key, my_rev, seen, recipe, asked_at);
}

}  // namespace
}  // namespace detail

locker::locker(session& s, locker_options options)
    : session_(s.state()),
      options_(options),
      reentrant_(std::make_shared<std::map<std::string, std::weak_ptr<detail::held_lock>>>()) {}

asio::awaitable<lock_handle> locker::lock(std::string name) {
  if (options_.reentrant) {
    auto it = reentrant_->find(name);
    if (it != reentrant_->end()) {
      if (auto h = it->second.lock(); h && !h->released && !h->lost) {
        ++h->count;
        co_return lock_handle(h);
      }
    }
  }
  auto handle = co_await acquire(name, true, session_);
  if (options_.reentrant) {
    handle.state()->reentrant = reentrant_;
    (*reentrant_)[name] = handle.state();
  }
  co_return handle;
}

asio::awaitable<lock_handle> locker::lock(std::string name, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) throw coordination_error(error::invalid_argument, "ttl: must be positive");
  if (ttl == session_->schedule.ttl()) co_return co_await lock(std::move(name));
  // A lease of its own, kept alive like any session's, revoked when the lock is released.
  session_options so;
  so.ttl = ttl;
  auto own = co_await session::create(*session_->owner, so);
  std::exception_ptr failure;
  try {
    auto handle = co_await acquire(name, true, own.state());
    handle.state()->own_session.emplace(std::move(own));
    co_return handle;
  } catch (...) {
    failure = std::current_exception();
  }
  own.state()->close_in_background();  // (this call has failed: no need to wait)
  std::rethrow_exception(detail::as_library_error(failure, "lock " + name));
}

asio::awaitable<lock_handle> locker::try_lock(std::string name) {
  return acquire(std::move(name), false, session_);
}

asio::awaitable<lock_handle> locker::read_lock(std::string name) {
  return detail::acquire_shared(session_, std::move(name), detail::lock_kind::read, 0);
}

asio::awaitable<lock_handle> locker::write_lock(std::string name) {
  return detail::acquire_shared(session_, std::move(name), detail::lock_kind::write, 0);
}

asio::awaitable<lock_handle> locker::acquire_semaphore(std::string name, int permits) {
  return detail::acquire_shared(session_, std::move(name), detail::lock_kind::semaphore, permits);
}

asio::awaitable<lock_handle> locker::acquire(std::string name, bool wait,
                                             std::shared_ptr<detail::session_state> s) {
  return detail::acquire_mutex(std::move(s), std::move(name), wait, "");
}

// The mutex (and the election, which is the same recipe with a value): one key per session
// (etcd's layout, so etcdctl lock / elect interoperate), local FIFO first for the coroutines
// sharing that session.
asio::awaitable<lock_handle> detail::acquire_mutex(std::shared_ptr<session_state> s,
                                                   std::string name, bool wait, std::string value,
                                                   const char* recipe) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "name: must not be empty");
  if (s->is_lost || s->stopped)
    throw coordination_error(error::session_expired, "lock " + name + ": session is not alive");
  const auto asked_at = clock::now();
  span_scope span(s->impl->tracer,
                  recipe == std::string_view("election") ? "election.campaign" : "lock.acquire");
  span.attr("name", name).attr("recipe", recipe).attr("wait", wait ? "true" : "false");
  auto gate = co_await detail::enter_gate(*s, name);
  if (s->is_lost || s->stopped) {
    // Lost while queued locally: the key of a predecessor on this session may still be in etcd
    // (its lease outlives the client's verdict by up to a TTL); taking it over would hand out a
    // lock on a dead session.
    detail::leave_gate(gate.get());
    throw coordination_error(error::session_expired, "lock " + name + ": session is not alive");
  }
  client& c = *s->owner;
  const std::string prefix = name + "/";
  const std::string key = prefix + detail::hex(s->lease);
  std::int64_t my_rev = 0;
  std::int64_t seen_revision = 0;
  std::exception_ptr failure;
  try {
    // One round trip: create our key if absent, and read the current owner.
    txn_request t;
    t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
    put_options with_lease;
    with_lease.lease = s->lease;
    t.success.push_back(put_op{key, value, with_lease});
    t.success.push_back(range_op{prefix, detail::first_created()});
    t.failure.push_back(range_op{key, {}});
    t.failure.push_back(range_op{prefix, detail::first_created()});
    // Our key is named after our lease: a resend after the create was applied finds it in the
    // failure branch, with its create revision (the same outcome).
    t.idempotent = true;
    auto r = co_await detail::create_to_the_end(c, std::move(t));
    seen_revision = r.header.revision;
    if (r.succeeded) {
      my_rev = r.header.revision;
    } else {
      auto& mine = std::get<range_result>(r.responses.at(0)).kvs;
      if (mine.empty()) throw coordination_error(error::protocol_error, "lock key vanished");
      my_rev = mine[0].create_revision;
      if (mine[0].value != value) {  // (an election campaigning again with another value)
        txn_request p;
        p.compares.push_back(compare::create_revision(key, compare_result::equal, my_rev));
        p.success.push_back(put_op{key, value, with_lease});
        auto pr = co_await c.txn(std::move(p));
        if (!pr.succeeded)
          throw coordination_error(error::lock_lost, key + ": the key went while campaigning");
      }
    }
    auto& owner = std::get<range_result>(r.responses.at(1)).kvs;
    bool is_owner = owner.empty() || owner[0].create_revision == my_rev;
    if (!is_owner && !wait)
      throw coordination_error(error::locked, "lock " + name + " is held by " + owner[0].key);
    if (!is_owner) {
      auto [at, last] = co_await detail::wait_predecessors(c, prefix, prefix, key, my_rev);
      seen_revision = std::max({seen_revision, at, last});
      if (last > 0)  // (with nobody left before us, the range just showed our key)
        seen_revision =
            std::max(seen_revision, co_await detail::confirm(*s, prefix, key, my_rev, at, last));
      else if (s->is_lost)
        throw coordination_error(error::lock_lost,
                                 key + ": the waiter's key expired while waiting");
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    failure = detail::as_library_error(failure, "lock " + name);
    span.fail(failure);
    // A cancelled or failed waiter removes its key so it never blocks others; also when the
    // create itself failed (my_rev 0) after it may have been applied (outcome unknown, timeout):
    // the key is named after this lease, and the gate keeps this session's other coroutines
    // away from it until it is gone. (A cancellation waits for the create's answer first.)
    detail::abandon(s, gate, key, my_rev);
    std::rethrow_exception(failure);
  }
  span.attr("key", key).attr("fencing_token", std::to_string(my_rev));
  span.ok();
  co_return detail::make_handle(s, gate, name, key, my_rev, seen_revision, recipe, asked_at);
}

tracer* detail::tracer_of(const lock_handle& h) {
  return h.state() ? h.state()->session->impl->tracer : nullptr;
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

const std::string& lock_handle::name() const {
  return state_->name;
}
const std::string& lock_handle::key() const {
  return state_->key;
}
std::chrono::steady_clock::time_point lock_handle::valid_until() const {
  return state_->session->schedule.expires_at();
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
  try {
    auto h = state_;
    if (!h || h->released) co_return false;
    auto r = co_await h->session->owner->range(h->key);
    bool ok = !r.kvs.empty() && r.kvs[0].create_revision == h->token;
    if (!ok) h->mark_lost("its key is gone");
    co_return ok;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "lock_handle::is_held");
  }
}

int lock_handle::acquire_count() const {
  return state_ ? state_->count : 0;
}

asio::awaitable<std::int64_t> lock_handle::renew() {
  try {
    auto h = state_;
    if (!h || h->released) throw coordination_error(error::lock_lost, "lock released");
    auto r = co_await h->session->owner->lease_keep_alive_once(h->lease);
    co_return r.ttl;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "lock_handle::renew");
  }
}

asio::awaitable<std::int64_t> lock_handle::ttl() {
  try {
    auto h = state_;
    if (!h) co_return -1;
    co_return (co_await h->session->owner->lease_time_to_live(h->lease)).ttl;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "lock_handle::ttl");
  }
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
  if (h->reentrant) h->reentrant->erase(h->name);
  h->key_watch.cancel();
  h->session->callbacks.erase(h->session_callback);
  h->lost_signal.cancel();
  std::exception_ptr failure;
  try {
    // A plain delete (one raft write, cheaper than a txn): the key is named after this lease and
    // only this holder can have created it under that name since it took the lock.
    // Resent after any failure (deleting our own key twice is deleting it once).
    co_await detail::delete_own_key(*h->session->impl, h->key);
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
      h->own_session->state()->close_in_background();
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
    failure = detail::as_library_error(failure, "release " + h->key);
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
    h->session->impl->tasks.spawn("watching lock key " + h->key,
                                  detail::watch_own_key(h, h->watch_from));
  }
  if (!h->lost && !h->released)
    co_await h->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return make_error_code(h->lost ? error::lock_lost : error::cancelled);
}

asio::awaitable<txn_result> lock_handle::guarded_txn(std::vector<compare> compares,
                                                     std::vector<txn_op> ops) {
  try {
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
      throw coordination_error(error::lock_lost, "lock " + h->name +
                                                     " is no longer held (fencing token " +
                                                     std::to_string(h->token) + ")");
    }
    r.responses.clear();
    co_return r;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "lock_handle::guarded_txn");
  }
}

}  // namespace coordination
