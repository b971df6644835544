#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <charconv>

#include "client/access.hpp"
#include "detail/backoff.hpp"
#include "detail/cancelled.hpp"
#include "recipes/lock/lock_internal.hpp"
#include "recipes/lock/lock_recipe.hpp"

namespace coordination {

namespace detail {

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
  auto& gates = gates_of(s);
  auto& slot = gates[name];
  if (!slot) {
    slot = std::make_shared<name_gate>();
    slot->name = name;
    slot->registry = &gates;
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
  co_await wait_signal(w.timer, "lock " + name + ": wait");
  g.done = true;
  if (!w.handed) {
    gate->core.withdraw(*ticket);
    gate->waiting.erase(*ticket);
    throw coordination_error(error::cancelled, "lock " + name + ": wait cancelled");
  }
  co_return gate;
}

namespace {

std::string hex(std::int64_t v) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(v), 16);
  (void)ec;  // (16 hex digits hold any 64-bit value)
  return std::string(buf, end);
}

// Deletes the key (if it is still the one created at `token`; token 0: whatever is there, for a
// create whose outcome is unknown) and lets the next local waiter in, in the background: the key
// must be gone before the next coroutine of this process (same lease, same key) tries to create
// it, or that one would inherit it. A failed delete is retried (0.2 s, doubling to 2 s) until it
// succeeds or the session ends (its lease takes the key with it): a lock key left behind would
// block every other waiter for as long as the session lives. The gate is passed on however this
// ends (also when the client's close() cancels it, or it cannot start after that).
}  // namespace

void abandon(std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
             std::int64_t token) {
  struct pass_on {
    std::shared_ptr<name_gate> gate;
    ~pass_on() {
      if (!gate) return;
      gate->removing = false;
      leave_gate(gate.get());
    }
  };
  if (gate) gate->removing = true;
  auto started = s->impl->tasks.spawn(
      "removing lock key " + key,
      [](std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
         std::int64_t token) -> asio::awaitable<void> {
        pass_on on_exit{std::move(gate)};
        backoff pause(std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
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
          // The first attempt failed: the key may stay a while, so try_lock stops waiting for
          // the removal and reports the name held by this session again.
          if (on_exit.gate) on_exit.gate->removing = false;
          s->impl->log->warn("coordination: removing lock key {} failed (attempt {}): {}", key,
                             attempt, failure);
          asio::steady_timer t(s->impl->executor, pause.next());
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      }(s, gate, key, token));
  if (!started) {
    if (gate) gate->removing = false;
    leave_gate(gate.get());
  }
}

// Runs a key's create request to its end even when the caller cancels meanwhile, and then
// reports the cancellation (coordination_error(cancelled)): the create's outcome is known by
// then, so the key it may have made can be removed (the caller's clean-up deletes whatever key
// is under its name). A create cut off in flight could still be applied after that removal, and
// stay.

asio::awaitable<txn_result> create_to_the_end(client& c, txn_request t) {
  auto ex = co_await asio::this_coro::executor;
  auto r = co_await asio::co_spawn(
      ex, c.txn(std::move(t)),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  throw_if_cancelled(co_await asio::this_coro::cancellation_state, "lock create");
  co_return r;
}

late_copy_watch gated(const std::string& name, const std::string& key, std::int64_t after) {
  late_copy_watch w;
  w.key = key;
  w.after = after;
  w.gate_name = name;
  return w;
}

late_copy_watch once(const std::string& key, std::int64_t after) {
  late_copy_watch w;
  w.key = key;
  w.after = after;
  w.until_one_removed = true;
  return w;
}

namespace {

// Creates `key` on the session's lease unless it exists (and has a copy of a create that may
// come late swept). Returns {its create revision, header revision}.
asio::awaitable<std::pair<std::int64_t, std::int64_t>> create_key(
    const std::shared_ptr<session_state>& s, const std::string& key) {
  client& c = *s->owner;
  const auto lease = s->lease;
  txn_request t;
  t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
  put_options with_lease;
  with_lease.lease = lease;
  t.success.push_back(put_op{key, "", with_lease});
  t.failure.push_back(range_op{key, {}});
  t.idempotent = true;  // a resend after our create was applied reads our key: the same answer
  auto r = co_await create_to_the_end(c, std::move(t));
  std::int64_t created = r.header.revision;
  if (!r.succeeded) {
    auto& mine = std::get<range_result>(r.responses.at(0)).kvs;
    if (mine.empty()) throw coordination_error(error::protocol_error, "lock key vanished");
    created = mine[0].create_revision;
  }
  if (r.earlier_attempt_reached) sweep_late_copies(s, once(key, created));
  co_return std::pair{created, r.header.revision};
}

// Waits for the deletion of `key`, which existed at revision `at`, with a watch of its own from
// at + 1 (etcd puts a watch from a past revision in its "unsynced" group: up to 100 ms late).

std::string unique_suffix(std::int64_t lease) {
  static std::atomic<std::uint64_t> counter{0};  // clients on other threads share it
  return hex(lease) + "-" + std::to_string(++counter);
}

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
  return access::make_lock_handle(std::move(h));
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
    auto [rev, header] = co_await create_key(s, key);
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
    span.fail(failure);
    // The key goes, also when the create failed (my_rev 0): it may have been applied, or be.
    if (my_rev == 0 && create_may_apply_later(failure)) sweep_late_copies(s, once(key, 0));
    abandon(s, nullptr, key, my_rev);
    std::rethrow_exception(failure);
  }
  span.attr("key", key).attr("fencing_token", std::to_string(my_rev));
  span.ok();
  co_return make_handle(s, nullptr, name, key, my_rev, seen, recipe, asked_at);
}

}  // namespace
}  // namespace detail

using detail::clock;
namespace asio = boost::asio;

locker::locker(session& s, locker_options options)
    : session_(detail::access::state(s)),
      options_(options),
      reentrant_(std::make_shared<reentrant_map>()) {}

using std::chrono::seconds;

asio::awaitable<lock_handle> locker::lock(std::string name) {
  return start(kind::mutex, std::move(name), 0, std::nullopt);
}
asio::awaitable<lock_handle> locker::lock(std::string name, seconds ttl) {
  return start(kind::mutex, std::move(name), 0, ttl);
}
asio::awaitable<lock_handle> locker::try_lock(std::string name) {
  return start(kind::try_mutex, std::move(name), 0, std::nullopt);
}
asio::awaitable<lock_handle> locker::try_lock(std::string name, seconds ttl) {
  return start(kind::try_mutex, std::move(name), 0, ttl);
}
asio::awaitable<lock_handle> locker::read_lock(std::string name) {
  return start(kind::read, std::move(name), 0, std::nullopt);
}
asio::awaitable<lock_handle> locker::read_lock(std::string name, seconds ttl) {
  return start(kind::read, std::move(name), 0, ttl);
}
asio::awaitable<lock_handle> locker::write_lock(std::string name) {
  return start(kind::write, std::move(name), 0, std::nullopt);
}
asio::awaitable<lock_handle> locker::write_lock(std::string name, seconds ttl) {
  return start(kind::write, std::move(name), 0, ttl);
}
asio::awaitable<lock_handle> locker::acquire_semaphore(std::string name, int permits) {
  return start(kind::semaphore, std::move(name), permits, std::nullopt);
}
asio::awaitable<lock_handle> locker::acquire_semaphore(std::string name, int permits, seconds ttl) {
  return start(kind::semaphore, std::move(name), permits, ttl);
}

asio::awaitable<lock_handle> locker::acquire(kind k, std::string name, int permits,
                                             std::shared_ptr<detail::session_state> s) {
  switch (k) {
    case kind::mutex:
      return detail::acquire_mutex(std::move(s), std::move(name), true, "");
    case kind::try_mutex:
      return detail::acquire_mutex(std::move(s), std::move(name), false, "");
    case kind::read:
      return detail::acquire_shared(std::move(s), std::move(name), detail::lock_kind::read, 0);
    case kind::write:
      return detail::acquire_shared(std::move(s), std::move(name), detail::lock_kind::write, 0);
    case kind::semaphore:
      break;
  }
  return detail::acquire_shared(std::move(s), std::move(name), detail::lock_kind::semaphore,
                                permits);
}

asio::awaitable<lock_handle> locker::acquire_with_ttl(std::shared_ptr<detail::session_state> base,
                                                      locker_options options,
                                                      std::shared_ptr<reentrant_map> holders,
                                                      kind k, std::string name, int permits,
                                                      std::optional<seconds> ttl) {
  if (ttl && ttl->count() <= 0)
    throw coordination_error(error::invalid_argument, "ttl: must be positive");
  // (checked again by the recipes; here too, so that bad input costs no lease)
  if (name.empty()) throw coordination_error(error::invalid_argument, "name: must not be empty");
  if (k == kind::semaphore && permits < 1)
    throw coordination_error(error::invalid_argument, "permits: must be at least 1");
  // Reentrancy applies to lock(): a second lock() of a name this locker holds counts up.
  const bool reentrant = options.reentrant && k == kind::mutex;
  if (reentrant) {
    auto it = holders->find(name);
    if (it != holders->end()) {
      if (auto h = it->second.lock(); h && !h->released && !h->lost) {
        ++h->count;
        co_return detail::access::make_lock_handle(h);
      }
    }
  }
  lock_handle handle;
  if (!ttl || *ttl == base->schedule.ttl()) {
    handle = co_await acquire(k, name, permits, base);
  } else {
    // A lease of its own, kept alive like any session's, revoked when the lock is released.
    session_options so;
    so.ttl = *ttl;
    auto own = co_await session::create(*base->owner, so);
    std::exception_ptr failure;
    try {
      handle = co_await acquire(k, name, permits, detail::access::state(own));
      detail::access::state(handle)->own_session.emplace(std::move(own));
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      detail::access::state(own)->close_in_background();  // (this call failed: no need to wait)
      std::rethrow_exception(failure);
    }
  }
  if (reentrant) {
    detail::access::state(handle)->reentrant = holders;
    (*holders)[name] = detail::access::state(handle);
  }
  co_return handle;
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
  if (!wait) {
    // Another coroutine of this session holds the name (or waits for it, or its key is still
    // being removed): the key in etcd is this session's own, so try_lock must not queue.
    // (A key being removed after a failed attempt is not a holder: wait for the removal.)
    auto& gates = gates_of(*s);
    auto it = gates.find(name);
    if (it != gates.end() && !it->second->core.idle() &&
        !(it->second->removing && it->second->core.queued() == 0))
      throw coordination_error(error::locked,
                               "lock " + name + " is held by this session (another caller)");
  }
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
    }
    if (r.earlier_attempt_reached) detail::sweep_late_copies(s, detail::gated(name, key, my_rev));
    // (an election campaigning again with another value)
    if (!r.succeeded && std::get<range_result>(r.responses.at(0)).kvs[0].value != value) {
      txn_request p;
      p.compares.push_back(compare::create_revision(key, compare_result::equal, my_rev));
      p.success.push_back(put_op{key, value, with_lease});
      auto pr = co_await c.txn(std::move(p));
      if (!pr.succeeded)
        throw coordination_error(error::lock_lost, key + ": the key went while campaigning");
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
    span.fail(failure);
    // A cancelled or failed waiter removes its key so it never blocks others; also when the
    // create itself failed (my_rev 0) after it may have been applied (outcome unknown, timeout):
    // the key is named after this lease, and the gate keeps this session's other coroutines
    // away from it until it is gone. (A cancellation waits for the create's answer first.)
    // A create that may still be applied gets the late-copy sweep (before the gate is passed on).
    if (my_rev == 0 && detail::create_may_apply_later(failure))
      detail::sweep_late_copies(s, detail::gated(name, key, 0));
    detail::abandon(s, gate, key, my_rev);
    std::rethrow_exception(failure);
  }
  span.attr("key", key).attr("fencing_token", std::to_string(my_rev));
  span.ok();
  co_return detail::make_handle(s, gate, name, key, my_rev, seen_revision, recipe, asked_at);
}

}  // namespace coordination
