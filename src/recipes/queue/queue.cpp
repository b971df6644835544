// The queue recipe: the I/O around queue_core's txns (see include/coordination/queue.hpp).
#include "coordination/queue.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "client/access.hpp"
#include "coordination/error.hpp"
#include "detail/backoff.hpp"
#include "recipes/queue/queue_core.hpp"

namespace asio = boost::asio;

namespace coordination {

namespace detail {

namespace {
constexpr std::chrono::seconds claim_ttl{90};
// A lease older than this is replaced before a new attempt: every attempt (its resends start
// within resend_window, each call within the client's request timeout) then ends before its
// claim expires.
constexpr std::chrono::seconds lease_reuse{15};
constexpr std::chrono::seconds resend_window{40};
}  // namespace

struct queue_state {
  client c;
  std::string name, items;
  bool prioritized = false;  // items under a 5-digit priority bucket (priority_queue)
  std::int64_t lease = 0;
  std::chrono::steady_clock::time_point lease_granted{};
};

namespace {

// Awaits `make_op()`, again after retryable failures (unavailable, timeout, and for the
// queue's idempotent txns outcome_unknown), with backoff, until resend_window has passed since
// the first try: the queue rides through a member's death or pause, also without quorum for a
// while. lease_not_found forgets the lease.
template <class MakeOp>
auto resending(std::shared_ptr<queue_state> s, MakeOp make_op) -> decltype(make_op()) {
  auto start = std::chrono::steady_clock::now();
  detail::backoff delay(std::chrono::milliseconds(100), std::chrono::seconds(2));
  for (;;) {
    try {
      co_return co_await make_op();
    } catch (const coordination_error& e) {
      if (e.code() == error::lease_not_found) s->lease = 0;
      bool again = is_retryable(e.code()) || e.code() == error::outcome_unknown;
      if (!again || std::chrono::steady_clock::now() - start > resend_window) throw;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor, delay.next());
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) throw coordination_error(error::cancelled, "queue: cancelled while resending");
  }
}

boost::asio::awaitable<std::int64_t> claim_lease(std::shared_ptr<queue_state> s) {
  auto now = std::chrono::steady_clock::now();
  if (s->lease != 0 && now - s->lease_granted < lease_reuse) co_return s->lease;
  // (a grant resent after a lost answer leaves an unused lease: it expires)
  auto g = co_await resending(s, [&] { return s->c.lease_grant(claim_ttl.count()); });
  s->lease = g.id;
  s->lease_granted = now;
  co_return g.id;
}

// Sends the idempotent `t` (resent as resending() says).
boost::asio::awaitable<txn_result> send_claimed(std::shared_ptr<queue_state> s, txn_request t) {
  co_return co_await resending(s, [&] {
    txn_request copy = t;
    return s->c.txn(std::move(copy));
  });
}

boost::asio::awaitable<std::int64_t> push_item(std::shared_ptr<queue_state> s, std::string value,
                                               std::uint16_t priority) {
  std::string bucket = s->prioritized ? priority_bucket(s->items, priority) : s->items;
  for (;;) {
    std::int64_t lease = co_await claim_lease(s);
    std::string item = bucket + random_token();
    txn_request t = queue_push_txn(item, queue_claim_key(s->name, random_token()), value, lease);
    txn_result r = co_await send_claimed(s, std::move(t));
    if (std::int64_t rev = read_push_answer(r)) co_return rev;
  }
}

// The oldest item and the revision of the read (nullopt item: the queue was empty then).
struct oldest {
  std::optional<key_value> item;
  std::int64_t revision = 0;
};

// The oldest item of the queue (of a priority queue: of its first priority that has items).
boost::asio::awaitable<oldest> read_oldest(std::shared_ptr<queue_state> s) {
  for (;;) {
    std::string from = s->items;
    if (s->prioritized) {  // the lowest key is in the first bucket that has items
      range_options first;
      first.prefix = true;
      first.limit = 1;
      first.keys_only = true;
      range_result r = co_await resending(s, [&] { return s->c.range(s->items, first); });
      if (r.kvs.empty()) {
        oldest none;
        none.revision = r.header.revision;
        co_return none;
      }
      from = bucket_of(s->items, r.kvs.front().key);
      if (from.empty()) from = s->items;  // a key of another layout: take the whole queue
    }
    range_options o;
    o.prefix = true;
    o.limit = 1;
    o.order = sort_order::ascend;
    o.target = sort_target::create;
    range_result r = co_await resending(s, [&] { return s->c.range(from, o); });
    oldest out;
    out.revision = r.header.revision;
    if (!r.kvs.empty()) out.item = std::move(r.kvs.front());
    if (out.item || from == s->items) co_return out;
    // the bucket was emptied between the two reads: look again
  }
}

// Tries to take the oldest item until one is taken or the queue is found empty (then the
// revision of that read, to wait from).
boost::asio::awaitable<std::optional<std::string>> take_oldest(std::shared_ptr<queue_state> s,
                                                               std::int64_t& empty_at) {
  for (;;) {
    oldest o = co_await read_oldest(s);
    if (!o.item) {
      empty_at = o.revision;
      co_return std::nullopt;
    }
    std::int64_t lease = co_await claim_lease(s);
    txn_request t = queue_pop_txn(*o.item, queue_claim_key(s->name, random_token()), lease);
    txn_result r = co_await send_claimed(s, std::move(t));
    if (read_pop_answer(r, o.item->key)) co_return std::move(o.item->value);
    // another popper took it first: try the next oldest
  }
}

boost::asio::awaitable<std::string> pop_item(std::shared_ptr<queue_state> s) {
  for (;;) {
    std::int64_t empty_at = 0;
    auto taken = co_await take_oldest(s, empty_at);
    if (taken) co_return std::move(*taken);
    // Wait for a put after the empty read (an item pushed meanwhile is in the watch's replay).
    watch_options w;
    w.prefix = true;
    w.start_revision = empty_at + 1;
    w.filter_delete = true;
    watch_stream ws = co_await resending(s, [&] { return s->c.watch(s->items, w); });
    try {
      for (;;) {
        watch_batch b = co_await ws.next();
        if (!b.events.empty()) break;
      }
    } catch (const coordination_error& e) {
      // history compacted, or the watch gave up in an outage: read the queue again
      if (e.code() != error::compacted && !is_retryable(e.code())) throw;
    }
    ws.cancel();
  }
}

boost::asio::awaitable<std::optional<std::string>> try_pop_item(std::shared_ptr<queue_state> s) {
  std::int64_t empty_at = 0;
  co_return co_await take_oldest(std::move(s), empty_at);
}

boost::asio::awaitable<std::int64_t> count_items(std::shared_ptr<queue_state> s) {
  range_options o;
  o.prefix = true;
  o.count_only = true;
  range_result r = co_await s->c.range(s->items, o);
  co_return r.count;
}

}  // namespace
}  // namespace detail

queue::queue(client& c, std::string name) {
  std::string items = detail::queue_items_prefix(name);
  state_ = std::make_shared<detail::queue_state>(
      detail::queue_state{detail::access::share(c), std::move(name), std::move(items)});
}
queue::queue(queue&&) noexcept = default;
queue& queue::operator=(queue&&) noexcept = default;
queue::~queue() = default;

const std::string& queue::name() const {
  return state_->name;
}

boost::asio::awaitable<std::int64_t> queue::push(std::string value) {
  return detail::push_item(state_, std::move(value), 0);
}

boost::asio::awaitable<std::string> queue::pop() {
  return detail::pop_item(state_);
}

boost::asio::awaitable<std::optional<std::string>> queue::try_pop() {
  return detail::try_pop_item(state_);
}

boost::asio::awaitable<std::int64_t> queue::size() {
  return detail::count_items(state_);
}

}  // namespace coordination

namespace coordination {

priority_queue::priority_queue(client& c, std::string name) {
  std::string items = detail::queue_items_prefix(name);
  state_ = std::make_shared<detail::queue_state>(
      detail::queue_state{detail::access::share(c), std::move(name), std::move(items), true});
}
priority_queue::priority_queue(priority_queue&&) noexcept = default;
priority_queue& priority_queue::operator=(priority_queue&&) noexcept = default;
priority_queue::~priority_queue() = default;

const std::string& priority_queue::name() const {
  return state_->name;
}

boost::asio::awaitable<std::int64_t> priority_queue::push(std::string value,
                                                          std::uint16_t priority) {
  return detail::push_item(state_, std::move(value), priority);
}

boost::asio::awaitable<std::string> priority_queue::pop() {
  return detail::pop_item(state_);
}

boost::asio::awaitable<std::optional<std::string>> priority_queue::try_pop() {
  return detail::try_pop_item(state_);
}

boost::asio::awaitable<std::int64_t> priority_queue::size() {
  return detail::count_items(state_);
}

}  // namespace coordination
