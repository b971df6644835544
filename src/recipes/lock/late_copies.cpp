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

#include "recipes/lock/lock_internal.hpp"

namespace coordination::detail {

namespace {

using namespace boost::asio::experimental::awaitable_operators;

// At most this many keys swept at once per session (each is a watch).
constexpr std::size_t max_late_copy_sweeps = 64;

struct sweep {
  std::shared_ptr<session_state> s;
  std::string gate_name;  // mutex and campaign keys: the session's gate of that name; "": none
  std::string key;
  std::int64_t after;  // our own create's revision (0: unknown): later creates are copies

  bool ended() const { return s->is_lost || s->stopped; }
  bool is_copy(const key_value& kv) const {
    return kv.lease == s->lease && kv.create_revision > after;
  }
  // Whether a coroutine of this session uses the name (and so may hold what is there).
  bool in_use() const {
    if (gate_name.empty()) return false;
    auto it = s->gates.find(gate_name);
    return it != s->gates.end() && !it->second->core.idle();
  }

  // Deletes the copy `kv` unless the name is in use; true when it did. Throws what the delete
  // throws.
  asio::awaitable<bool> remove(const key_value& kv) {
    if (in_use()) co_return false;
    std::shared_ptr<name_gate> gate;
    if (!gate_name.empty()) gate = co_await enter_gate(*s, gate_name);  // (idle: at once)
    struct leave {
      std::shared_ptr<name_gate> g;
      ~leave() { leave_gate(g.get()); }
    } on_exit{gate};
    txn_request t;
    t.compares.push_back(compare::create_revision(key, compare_result::equal, kv.create_revision));
    t.success.push_back(delete_op{key, {}});
    t.idempotent = true;  // deleting that incarnation twice is deleting it once
    auto r = co_await s->owner->txn(std::move(t));
    if (r.succeeded)
      s->impl->log->info(
          "coordination: removed a late copy of lock key {} (created at revision {} on this "
          "session's lease after the key had gone)",
          key, kv.create_revision);
    co_return true;
  }

  // A key only one acquisition uses (no gate) is swept until one copy is gone: a second copy
  // of the same create needs a second attempt that reached etcd and was held too.
  bool done(bool removed) const { return removed && gate_name.empty(); }

  // Reads the key now, removes a copy found there; returns the revision read at (0: done).
  asio::awaitable<std::int64_t> check_now() {
    auto r = co_await s->owner->range(key, {});
    if (!r.kvs.empty() && is_copy(r.kvs[0]) && done(co_await remove(r.kvs[0]))) co_return 0;
    co_return r.header.revision;
  }

  asio::awaitable<void> run() {
    auto pause = std::chrono::milliseconds(200);
    std::int64_t from = 0;  // 0: read the key first
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
        auto w = co_await s->owner->watch(key, wo);
        for (;;) {
          if (ended()) co_return;
          auto got =
              co_await (w.next() || s->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable)));
          if (got.index() == 1) co_return;  // the session ended
          for (auto& e : std::get<0>(got).events) {
            if (is_copy(e.kv) && done(co_await remove(e.kv))) co_return;
            from = e.kv.mod_revision + 1;
          }
          pause = std::chrono::milliseconds(200);
        }
      } catch (const coordination_error& e) {
        if (e.code() == error::cancelled) co_return;  // the client closed
        if (e.code() != error::compacted) failure = e.what();
        from = 0;  // (compacted or failed: read the key again, then watch from there)
      }
      if (failure.empty()) continue;
      s->impl->log->warn("coordination: watching lock key {} for late copies: {}", key, failure);
      asio::steady_timer t(s->impl->executor, pause);
      auto wait = t.async_wait(asio::as_tuple(asio::use_awaitable));
      co_await (std::move(wait) || s->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable)));
      pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
  }
};

}  // namespace

void sweep_late_copies(std::shared_ptr<session_state> s, std::string gate_name, std::string key,
                       std::int64_t after) {
  if (s->is_lost || s->stopped || s->late_copy_sweeps.contains(key)) return;
  if (s->late_copy_sweeps.size() >= max_late_copy_sweeps) {
    s->impl->log->warn(
        "coordination: lock key {}: its create may still be applied late, but this session "
        "watches {} keys for that already; not watched",
        key, s->late_copy_sweeps.size());
    return;
  }
  s->late_copy_sweeps.insert(key);
  auto what = "watching lock key " + key + " for late copies of its create";
  auto task = [](sweep sw) -> asio::awaitable<void> {
    struct forget {
      sweep& sw;
      ~forget() { sw.s->late_copy_sweeps.erase(sw.key); }
    } on_exit{sw};
    co_await sw.run();
  };
  sweep sw{s, std::move(gate_name), key, after};
  if (!s->impl->tasks.spawn(std::move(what), task(std::move(sw)))) s->late_copy_sweeps.erase(key);
}

}  // namespace coordination::detail
