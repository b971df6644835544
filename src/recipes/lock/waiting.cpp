#include <optional>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "detail/cancelled.hpp"
#include "recipes/lock/lock_internal.hpp"

namespace coordination::detail {

namespace {

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

// A client's shared deletion streams, by lock prefix (a client_impl extension).
struct deletion_streams {
  std::map<std::string, std::shared_ptr<prefix_deletions>> by_prefix;
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
  auto& impl = detail::impl_of(c);
  auto& slot = impl.extension<deletion_streams>().by_prefix[prefix];
  auto pd = slot;
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
  co_await wait_signal(w.timer, "lock wait");
  if (w.completed && w.deleted_at) co_return w.deleted_at;
  if (w.completed) co_return co_await await_deletion_alone(c, key, at);  // the stream failed
  throw coordination_error(error::cancelled, "lock wait cancelled");
}

// Whether the shared deletion stream of `prefix` saw `key` deleted in (at, upto]: nullopt when
// that stream cannot tell (absent, failed, not covering that span, or not that far yet).
std::optional<bool> deleted_since(client& c, const std::string& prefix, const std::string& key,
                                  std::int64_t at, std::int64_t upto) {
  auto& streams = detail::impl_of(c).extension<deletion_streams>().by_prefix;
  auto it = streams.find(prefix);
  if (it == streams.end()) return std::nullopt;
  auto pd = it->second;
  if (!pd) return std::nullopt;
  return pd->index.deleted_since(key, at, upto);
}

}  // namespace

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

}  // namespace coordination::detail
