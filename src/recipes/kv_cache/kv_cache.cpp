// The kv_cache: the I/O around kv_cache_core (see include/coordination/kv_cache.hpp). One
// background coroutine per cache, owned by the client's task group, reads the prefix again
// after compaction and keeps its watch.
#include "coordination/kv_cache.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "detail/backoff.hpp"
#include "detail/cancelled.hpp"
#include "recipes/kv_cache/kv_cache_core.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace coordination {

namespace detail {

struct kv_cache_subscriber {
  kv_cache_subscriber(asio::any_io_executor ex, kv_snapshot start, std::size_t max)
      : queue(std::move(start), max), signal(ex, steady::time_point::max()) {}
  kv_update_queue queue;
  asio::steady_timer signal;  // cancelled to wake next()
  bool cancelled = false;
  void push(kv_cache_update u) {
    queue.push(std::move(u));
    signal.cancel();
  }
  void cancel() {
    cancelled = true;
    signal.cancel();
  }
};

struct kv_cache_state {
  kv_cache_state(client& owner, std::string p, kv_cache_options o)
      : c(access::share(owner)),
        prefix(std::move(p)),
        range_end(prefix_range_end(prefix)),
        options(o),
        moved(c.get_executor(), steady::time_point::max()),
        pause(c.get_executor()) {}
  client c;
  std::string prefix, range_end;
  kv_cache_options options;
  kv_cache_core core;
  std::uint64_t reloads = 0;
  std::vector<std::weak_ptr<kv_cache_subscriber>> subscribers;
  asio::steady_timer moved;  // cancelled whenever revision() moves (wait_for_revision)
  asio::steady_timer pause;  // the loop's backoff
  watch_stream stream;
  bool stopped = false;

  spdlog::logger& log() { return *impl_of(c).log; }

  void publish(std::vector<kv_change> changes, bool resynced) {
    if (!changes.empty() || resynced) {
      kv_cache_update u;
      u.revision = core.revision();
      u.changes = std::move(changes);
      u.snapshot = core.snapshot();
      u.resynced = resynced;
      std::erase_if(subscribers, [&](auto& w) {
        auto s = w.lock();
        if (!s || s->cancelled) return true;
        s->push(u);
        return false;
      });
    }
    moved.cancel();
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    stream.cancel();
    pause.cancel();
    moved.cancel();
    for (auto& w : subscribers)
      if (auto s = w.lock()) s->cancel();
    subscribers.clear();
  }
};

namespace {

struct prefix_read {
  std::vector<key_value> kvs;
  std::int64_t revision = 0;
};

// Every key of the prefix, in pages of options.page_size, all at the first page's revision
// (read again from the start if that revision is compacted meanwhile).
asio::awaitable<prefix_read> read_prefix(std::shared_ptr<kv_cache_state> s) {
  for (;;) {
    prefix_read out;
    std::string from = s->prefix;
    try {
      for (;;) {
        range_options o;
        o.range_end = s->range_end;
        o.limit = s->options.page_size;
        o.revision = out.revision;
        range_result r = co_await s->c.range(from, o);
        if (out.revision == 0) out.revision = r.header.revision;
        for (auto& kv : r.kvs) out.kvs.push_back(std::move(kv));
        if (!r.more || r.kvs.empty()) co_return out;
        from = out.kvs.back().key;
        from.push_back('\0');
      }
    } catch (const coordination_error& e) {
      if (e.code() != error::compacted) throw;
    }
  }
}

// The cache's background work: keeps its watch from revision() + 1; after compaction reads the
// prefix again (the difference is published as one resynced update); after other failures
// tries again with backoff. Ends when the cache or the client closes.
asio::awaitable<void> keep_current(std::shared_ptr<kv_cache_state> s) {
  struct stop_at_exit {  // (also when the client's close() cancels this loop: waiters wake)
    std::shared_ptr<kv_cache_state> s;
    ~stop_at_exit() { s->stop(); }
  } guard{s};
  detail::backoff pause(100ms, 5s);
  bool reread = false;
  while (!s->stopped) {
    bool compacted = false;
    try {
      if (reread) {
        prefix_read r = co_await read_prefix(s);
        if (s->stopped) break;
        ++s->reloads;
        // A wait_for_revision() may have confirmed the state at a later revision meanwhile:
        // then this read is older than the state and is dropped (the watch goes on from the
        // confirmed revision).
        if (r.revision >= s->core.revision()) {
          auto changes = s->core.reset(std::move(r.kvs), r.revision);
          s->publish(std::move(changes), true);
        }
        reread = false;
      }
      watch_options o;
      o.range_end = s->range_end;
      o.start_revision = s->core.revision() + 1;
      o.progress_notify = true;
      watch_stream w = co_await s->c.watch(s->prefix, o);
      if (s->stopped) break;
      s->stream = std::move(w);
      for (;;) {
        watch_batch b = co_await s->stream.next();
        pause.reset();
        std::int64_t before = s->core.revision();
        auto changes = s->core.apply(b);
        if (!changes.empty() || s->core.revision() != before) s->publish(std::move(changes), false);
      }
    } catch (const coordination_error& e) {
      if (s->stopped || e.code() == error::cancelled) break;
      compacted = e.code() == error::compacted;
      if (compacted) reread = true;
      s->log().info("coordination: kv_cache of {}: {}; {}", s->prefix, e.what(),
                    compacted ? "reading the prefix again" : "retrying");
    } catch (const std::exception& e) {
      if (s->stopped) break;
      s->log().info("coordination: kv_cache of {}: {}; retrying", s->prefix, e.what());
    }
    if (compacted) continue;
    s->pause.expires_after(pause.next());
    co_await s->pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace
}  // namespace detail

// ---- kv_cache_watch ----------------------------------------------------------------------

kv_cache_watch::kv_cache_watch() = default;
kv_cache_watch::kv_cache_watch(std::shared_ptr<detail::kv_cache_subscriber> s)
    : state_(std::move(s)) {}
kv_cache_watch::kv_cache_watch(kv_cache_watch&&) noexcept = default;
kv_cache_watch& kv_cache_watch::operator=(kv_cache_watch&& o) noexcept {
  if (this != &o) {
    cancel();
    state_ = std::move(o.state_);
  }
  return *this;
}
kv_cache_watch::~kv_cache_watch() {
  cancel();
}
void kv_cache_watch::cancel() {
  if (state_) state_->cancel();
}

asio::awaitable<kv_cache_update> kv_cache_watch::next() {
  auto s = state_;
  if (!s) throw coordination_error(error::cancelled, "kv_cache_watch: empty handle");
  while (!s->queue.ready() && !s->cancelled)
    co_await detail::wait_signal(s->signal, "kv_cache_watch::next");
  if (!s->queue.ready()) throw coordination_error(error::cancelled, "kv_cache_watch: ended");
  co_return s->queue.take();
}

// ---- kv_cache ----------------------------------------------------------------------------

kv_cache::kv_cache(std::shared_ptr<detail::kv_cache_state> s) : state_(std::move(s)) {}
kv_cache::kv_cache(kv_cache&&) noexcept = default;
kv_cache& kv_cache::operator=(kv_cache&& o) noexcept {
  if (this != &o) {
    close();
    state_ = std::move(o.state_);
  }
  return *this;
}
kv_cache::~kv_cache() {
  close();
}

asio::awaitable<kv_cache> kv_cache::open(client& c, std::string prefix, kv_cache_options options) {
  if (prefix.empty()) throw coordination_error(error::invalid_argument, "kv_cache: empty prefix");
  if (options.page_size < 1)
    throw coordination_error(error::invalid_argument, "kv_cache_options::page_size: must be >= 1");
  if (options.max_queued_updates < 1)
    throw coordination_error(error::invalid_argument,
                             "kv_cache_options::max_queued_updates: must be >= 1");
  auto s = std::make_shared<detail::kv_cache_state>(c, std::move(prefix), options);
  detail::prefix_read r = co_await detail::read_prefix(s);
  s->core.reset(std::move(r.kvs), r.revision);
  // (s->c, not c: the caller's client object may be gone once this call has suspended)
  if (!detail::impl_of(s->c).tasks.spawn("kv_cache of " + s->prefix, detail::keep_current(s)))
    throw coordination_error(error::cancelled, "kv_cache: the client is closed");
  co_return kv_cache(std::move(s));
}

namespace {
detail::kv_cache_state& live(const std::shared_ptr<detail::kv_cache_state>& s) {
  if (!s) throw coordination_error(error::invalid_argument, "kv_cache: a moved-from handle");
  return *s;
}
}  // namespace

const std::string& kv_cache::prefix() const {
  return live(state_).prefix;
}

std::optional<key_value> kv_cache::get(std::string_view key) const {
  if (auto* kv = live(state_).core.snapshot().find(key)) return *kv;
  return std::nullopt;
}

kv_snapshot kv_cache::list() const {
  return live(state_).core.snapshot();
}

std::int64_t kv_cache::revision() const {
  return live(state_).core.revision();
}

std::uint64_t kv_cache::reloads() const {
  return live(state_).reloads;
}

asio::awaitable<void> kv_cache::wait_for_revision(std::int64_t revision) {
  auto s = state_;
  live(s);
  detail::backoff ahead_delay(50ms, 1s);  // while `revision` is ahead of etcd's
  while (s->core.revision() < revision) {
    if (s->stopped) throw coordination_error(error::cancelled, "kv_cache: closed");
    std::int64_t seen = s->core.revision();
    std::size_t size = s->core.snapshot().size();
    txn_request check = detail::confirm_txn(s->prefix, s->range_end, seen);
    txn_result r = co_await s->c.txn(std::move(check));
    if (s->stopped) throw coordination_error(error::cancelled, "kv_cache: closed");
    if (s->core.revision() != seen) continue;  // moved meanwhile: look again
    if (auto at = detail::read_confirmation(r, size)) {
      s->core.confirm(*at);
      s->moved.cancel();
      if (*at >= revision) break;
      // etcd has not reached `revision` yet: confirm again after a pause
      asio::steady_timer pause(s->c.get_executor(), ahead_delay.next());
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state,
                                 "kv_cache::wait_for_revision");
      continue;
    }
    // a change is due: wait until the watch brings it, then look again
    co_await detail::wait_signal(s->moved, "kv_cache::wait_for_revision");
  }
}

kv_cache_watch kv_cache::watch() {
  auto s = state_;
  live(s);
  auto sub = std::make_shared<detail::kv_cache_subscriber>(s->c.get_executor(), s->core.snapshot(),
                                                           s->options.max_queued_updates);
  if (s->stopped)
    sub->cancel();
  else
    s->subscribers.push_back(sub);
  return kv_cache_watch(std::move(sub));
}

void kv_cache::close() {
  if (state_) state_->stop();
}

}  // namespace coordination
