// run_stm: the I/O around stm_core (see include/coordination/stm.hpp).
#include "coordination/stm.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "coordination/error.hpp"
#include "recipes/stm/stm_core.hpp"

namespace asio = boost::asio;

namespace coordination {

namespace {
void check_key(const std::string& key) {
  if (key.empty()) throw coordination_error(error::invalid_argument, "stm key: empty");
}
}  // namespace

asio::awaitable<std::optional<std::string>> stm_txn::get(std::string key) {
  check_key(key);
  if (auto hit = core_.cached(key)) co_return std::move(*hit);
  co_return co_await fetch(std::move(key));
}

asio::awaitable<std::optional<std::string>> stm_txn::fetch(std::string key) {
  auto options = core_.fetch_options();
  range_result r;
  bool behind = false;
  try {
    r = co_await c_.range(key, options);
  } catch (const coordination_error& e) {
    // A serializable read at the snapshot's revision, answered by a member behind it (after a
    // failover): asked again linearizably, which waits for that member to catch up.
    behind = options.serializable && e.code() == error::invalid_argument &&
             std::string_view(e.what()).find("future revision") != std::string_view::npos;
    if (!behind) throw;
  }
  if (behind) {
    options.serializable = false;
    r = co_await c_.range(key, options);
  }
  co_return core_.fetched(key, r);
}

asio::awaitable<std::int64_t> stm_txn::rev(std::string key) {
  check_key(key);
  if (!core_.has_read(key)) {
    (void)core_.cached(key);  // takes a prefetched read
    if (!core_.has_read(key)) co_await fetch(key);
  }
  co_return core_.read_revision(key);
}

void stm_txn::put(std::string key, std::string value, put_options options) {
  check_key(key);
  core_.put(std::move(key), std::move(value), options);
}

void stm_txn::del(std::string key) {
  check_key(key);
  core_.del(std::move(key));
}

asio::awaitable<stm_result> run_stm(client& c, std::function<asio::awaitable<void>(stm_txn&)> apply,
                                    stm_options options) {
  if (options.max_attempts < 1)
    throw coordination_error(error::invalid_argument, "stm_options::max_attempts: below 1");
  if (options.backoff_base.count() < 0 || options.backoff_max.count() < 0)
    throw coordination_error(error::invalid_argument, "stm_options backoff: negative");
  if (!apply) throw coordination_error(error::invalid_argument, "run_stm: no apply function");
  thread_local std::mt19937_64 gen{std::random_device{}()};
  detail::stm_core core(options.isolation);
  stm_result out;
  for (int attempt = 1;; ++attempt) {
    out.attempts = attempt;
    stm_txn view = detail::stm_access::make(c, core);
    co_await apply(view);
    txn_request t = core.commit_txn();
    txn_result r = co_await c.txn(std::move(t));
    if (core.committed(r)) {
      out.revision = r.header.revision;
      co_return out;
    }
    if (attempt >= options.max_attempts)
      throw coordination_error(error::conflict,
                               "stm: " + std::to_string(attempt) + " attempts, each in conflict");
    auto pause =
        detail::stm_backoff(attempt, options, std::uniform_real_distribution<double>(0, 1)(gen));
    if (pause.count() > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, pause);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) throw coordination_error(error::cancelled, "stm: cancelled in its backoff");
    }
  }
}

}  // namespace coordination
