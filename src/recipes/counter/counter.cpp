// The counter recipe: the I/O around counter_core's txns (see include/coordination/counter.hpp).
#include "coordination/counter.hpp"

#include "client/access.hpp"
#include "coordination/error.hpp"
#include "recipes/counter/counter_core.hpp"

namespace coordination {

namespace detail {

struct counter_state {
  client c;
  std::string key;
  // The key as last seen by this counter (nullopt: absent or not read yet; `known` tells).
  std::optional<key_value> seen;
  bool known = false;
};

namespace {

// Applies `next(current)` until one attempt lands; `next` returns nullopt to stop without a
// write (compare_and_set seeing another value). Returns the value written, or nullopt.
template <class Next>
boost::asio::awaitable<std::optional<std::int64_t>> change(std::shared_ptr<counter_state> s,
                                                           Next next) {
  bool fresh = false;  // `seen` was read by this call (a refusal must rest on such a read)
  if (!s->known) {
    s->seen = co_await s->c.get(s->key);
    s->known = true;
    fresh = true;
  }
  for (;;) {
    auto seen = s->seen;
    std::optional<std::int64_t> value = next(counter_value(s->key, seen));
    if (!value) {
      if (fresh) co_return std::nullopt;
      s->seen = co_await s->c.get(s->key);  // what this counter saw last may be stale
      fresh = true;
      continue;
    }
    txn_request t = counter_write_txn(s->key, seen, *value);
    txn_result r = co_await s->c.txn(std::move(t));
    counter_attempt a = read_counter_attempt(r);
    if (a.applied) {
      key_value written;
      written.key = s->key;
      written.value = std::to_string(*value);
      written.mod_revision = r.header.revision;
      s->seen = std::move(written);
      co_return value;
    }
    s->seen = std::move(a.now);
    fresh = true;
  }
}

boost::asio::awaitable<std::int64_t> get_value(std::shared_ptr<counter_state> s) {
  auto kv = co_await s->c.get(s->key);
  s->seen = kv;
  s->known = true;
  co_return counter_value(s->key, kv);
}

boost::asio::awaitable<std::int64_t> add_value(std::shared_ptr<counter_state> s,
                                               std::int64_t delta) {
  const std::string key = s->key;
  auto out = co_await change(std::move(s), [&](std::int64_t now) -> std::optional<std::int64_t> {
    return counter_sum(key, now, delta);
  });
  co_return *out;
}

boost::asio::awaitable<bool> cas_value(std::shared_ptr<counter_state> s, std::int64_t expected,
                                       std::int64_t desired) {
  auto out = co_await change(std::move(s), [&](std::int64_t now) -> std::optional<std::int64_t> {
    if (now != expected) return std::nullopt;
    return desired;
  });
  co_return out.has_value();
}

}  // namespace
}  // namespace detail

counter::counter(client& c, std::string name) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "counter name: empty");
  state_ = std::make_shared<detail::counter_state>(
      detail::counter_state{detail::access::share(c), std::move(name), std::nullopt, false});
}
counter::counter(counter&&) noexcept = default;
counter& counter::operator=(counter&&) noexcept = default;
counter::~counter() = default;

const std::string& counter::name() const {
  return state_->key;
}

boost::asio::awaitable<std::int64_t> counter::get() {
  return detail::get_value(state_);
}

boost::asio::awaitable<std::int64_t> counter::add(std::int64_t delta) {
  return detail::add_value(state_, delta);
}

boost::asio::awaitable<bool> counter::compare_and_set(std::int64_t expected, std::int64_t desired) {
  return detail::cas_value(state_, expected, desired);
}

}  // namespace coordination
