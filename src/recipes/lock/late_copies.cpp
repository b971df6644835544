// Late copies of a lock key's create (see lock_internal.hpp, sweep_late_copies()).
//
// A lock, semaphore or campaign key is created by an idempotent put-if-absent on the session's
// lease. When an attempt of that create reached etcd and its answer was lost, the transport
// resends it; the first copy may still be held by a paused member's gateway and applied when the
// member resumes, after the key was deleted (released, resigned, abandoned). It then re-creates
// the key on our lease: a holder nobody knows about, blocking every other waiter until the
// session ends. The sweeper watches the key from the create on, for as long as the session
// lives, and deletes such a copy (guarded by its create revision) unless a coroutine of this
// session uses the key's name at that moment (a mutex or campaign key is reused by the session's
// next acquisition of the name, which adopts what it finds: that holder deletes it when done).
// A semaphore or read/write key (one per acquisition) is swept until one copy is gone. Each
// sweep is one watch on the client's shared stream; a session runs at most 64 at once.
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "recipes/lock/late_copies.hpp"

#include "detail/backoff.hpp"
#include "recipes/lock/lock_internal.hpp"

namespace coordination::detail {

namespace {

using namespace boost::asio::experimental::awaitable_operators;

// At most this many keys swept at once per session (each is a watch).
constexpr std::size_t max_late_copy_sweeps = 64;

struct sweep {
  std::shared_ptr<session_state> s;
  late_copy_watch w;

  bool ended() const { return s->is_lost || s->stopped; }
  bool is_copy(const key_value& kv) const {
    return kv.lease == s->lease && kv.create_revision > w.after;
  }
  // Whether a coroutine of this session or the key's owner uses the key (and so may hold what is
  // there).
  bool in_use() const {
    if (w.in_use && w.in_use()) return true;
    if (w.gate_name.empty()) return false;
    auto& gates = gates_of(*s);
    auto it = gates.find(w.gate_name);
    return it != gates.end() && !it->second->core.idle();
  }

  // Deletes the copy `kv` unless the name is in use; true when it did. Throws what the delete
  // throws.
  asio::awaitable<bool> remove(const key_value& kv) {
    if (in_use()) co_return false;
    std::shared_ptr<name_gate> gate;
    if (!w.gate_name.empty()) gate = co_await enter_gate(*s, w.gate_name);  // (idle: at once)
    struct leave {
      std::shared_ptr<name_gate> g;
      ~leave() { leave_gate(g.get()); }
    } on_exit{gate};
    // That copy as it was created: one taken over since (adopted and rewritten, a registration
    // written again) is not deleted.
    txn_request t;
    t.compares.push_back(
        compare::create_revision(w.key, compare_result::equal, kv.create_revision));
    t.compares.push_back(compare::mod_revision(w.key, compare_result::equal, kv.mod_revision));
    t.success.push_back(delete_op{w.key, {}});
    t.idempotent = true;  // deleting that incarnation twice is deleting it once
    auto r = co_await s->owner->txn(std::move(t));
    if (r.succeeded)
      s->impl->log->info(
          "coordination: removed a late copy of {} {} (created at revision {} on this session's "
          "lease after the w.key had gone)",
          w.what, w.key, kv.create_revision);
    co_return true;
  }

  bool done(bool removed) const { return removed && w.until_one_removed; }

  // Reads the w.key now, removes a copy found there; returns the revision read at (0: done).
  asio::awaitable<std::int64_t> check_now() {
    auto r = co_await s->owner->range(w.key, {});
    if (!r.kvs.empty() && is_copy(r.kvs[0]) && done(co_await remove(r.kvs[0]))) co_return 0;
    co_return r.header.revision;
  }

  asio::awaitable<void> run() {
    backoff pause(std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
    std::int64_t from = 0;  // 0: read the w.key first
    while (!ended()) {
      std::string failure;
      try {
        if (from == 0) {
          from = co_await check_now();
          if (from++ == 0) co_return;
        }
        watch_options wo;
        wo.start_revision = from;
        wo.filter_delete = true;
        auto stream = co_await s->owner->watch(w.key, wo);
        for (;;) {
          if (ended()) co_return;
          auto got = co_await (stream.next() ||
                               s->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable)));
          if (got.index() == 1) co_return;  // the session ended
          for (auto& e : std::get<0>(got).events) {
            if (is_copy(e.kv) && done(co_await remove(e.kv))) co_return;
            from = e.kv.mod_revision + 1;
          }
          pause.reset();
        }
      } catch (const coordination_error& e) {
        if (e.code() == error::cancelled) co_return;  // the client closed
        if (e.code() != error::compacted) failure = e.what();
        from = 0;  // (compacted or failed: read the key again, then watch from there)
      }
      if (failure.empty()) continue;
      s->impl->log->warn("coordination: watching {} {} for late copies: {}", w.what, w.key,
                         failure);
      asio::steady_timer t(s->impl->executor, pause.next());
      auto wait = t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_await (std::move(wait) || s->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable)));
    }
  }
};

}  // namespace

bool create_may_apply_later(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const coordination_error& ce) {
    return ce.code() == error::outcome_unknown || ce.code() == error::timeout ||
           ce.code() == error::cancelled;  // (cancelled: its answer said nothing of attempts)
  } catch (...) {
  }
  return false;
}

void sweep_late_copies(std::shared_ptr<session_state> s, late_copy_watch w) {
  if (s->is_lost || s->stopped || s->late_copy_sweeps.contains(w.key)) return;
  if (s->late_copy_sweeps.size() >= max_late_copy_sweeps) {
    s->impl->log->warn(
        "coordination: {} {}: its create may still be applied late, but this session watches "
        "{} keys for that already; not watched",
        w.what, w.key, s->late_copy_sweeps.size());
    return;
  }
  s->late_copy_sweeps.insert(w.key);
  auto what = std::string("watching ") + w.what + " " + w.key + " for late copies of its create";
  auto task = [](std::shared_ptr<session_state> s, late_copy_watch w) -> asio::awaitable<void> {
    sweep sw{std::move(s), std::move(w)};
    struct forget {
      sweep& sw;
      ~forget() { sw.s->late_copy_sweeps.erase(sw.w.key); }
    } on_exit{sw};
    co_await sw.run();
  };
  auto key = w.key;
  if (!s->impl->tasks.spawn(std::move(what), task(s, std::move(w)))) s->late_copy_sweeps.erase(key);
}

}  // namespace coordination::detail
