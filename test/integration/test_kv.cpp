#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/as_tuple.hpp>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(kv)

// A plain client leaves no work behind after its calls: io_context::run() returns while the
// client still exists (its idle connections' deadline watchdog stops within a second, far
// below the 60 s request timeout that would otherwise be its horizon).
BOOST_AUTO_TEST_CASE(run_returns_after_the_last_call_while_the_client_lives) {
  asio::io_context io;
  auto cfg = config_for(shared_endpoints());
  cfg.request_timeout = 60s;
  client c(io.get_executor(), cfg);
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.put(unique_prefix("idle") + "k", "v");
        co_await c.get("absent");
        done = true;
      },
      asio::detached);
  io.run_for(20s);
  BOOST_TEST(done);
  BOOST_TEST(io.stopped(), "run() still had work 20 s after the calls ended");
}

// The gateway sends an answer over ~2 KiB chunked (Go's net/http), a smaller one with a
// Content-Length: values and ranges of every size come back whole, and the response limit holds
// for chunked answers too.
BOOST_AUTO_TEST_CASE(answers_of_every_size_and_framing_read_whole) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("sizes");
    for (std::size_t n : {0u, 100u, 1500u, 2100u, 40000u, 1000000u}) {
      std::string value(n, '\0');
      for (std::size_t i = 0; i < n; ++i) value[i] = static_cast<char>(i * 7 + n);
      co_await c.put(p + std::to_string(n), value);
      auto got = co_await c.get(p + std::to_string(n));
      BOOST_REQUIRE(got.has_value());
      BOOST_TEST((got->value == value), "value of " << n << " bytes");
    }
    std::string part(2000, 'r');
    for (int i = 0; i < 50; ++i) co_await c.put(p + "range/" + std::to_string(i), part);
    range_options all;
    all.prefix = true;
    auto r = co_await c.range(p + "range/", all);
    BOOST_TEST(r.kvs.size() == 50u);
    for (auto& kv : r.kvs) BOOST_TEST((kv.value == part));

    auto small = config_for(shared_endpoints());
    small.max_response_bytes = 64 * 1024;  // the 50 x 2000 bytes (base64) do not fit
    client limited(io.get_executor(), small);
    co_await expect_failure([&] { return limited.range(p + "range/", all); },
                            error::response_too_large, "max_response_bytes");
    BOOST_TEST((co_await limited.get(p + "100"))->value.size() == 100u);  // still usable
  });
}

BOOST_AUTO_TEST_CASE(put_get_delete_round_trip) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("rt");
    auto put = co_await c.put(p + "a", "1");
    BOOST_TEST(put.header.revision > 0);
    auto got = co_await c.get(p + "a");
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->value == "1");
    BOOST_TEST(got->version == 1);
    BOOST_TEST(got->create_revision == put.header.revision);
    BOOST_TEST(got->mod_revision == put.header.revision);

    put_options po;
    po.prev_kv = true;
    auto second = co_await c.put(p + "a", "2", po);
    BOOST_REQUIRE(second.prev_kv.has_value());
    BOOST_TEST(second.prev_kv->value == "1");
    BOOST_TEST((co_await c.get(p + "a"))->version == 2);

    // Reading at an older revision sees the older value.
    range_options at;
    at.revision = put.header.revision;
    auto old = co_await c.range(p + "a", at);
    BOOST_TEST(old.kvs.at(0).value == "1");

    delete_options d;
    d.prev_kv = true;
    auto del = co_await c.del(p + "a", d);
    BOOST_TEST(del.deleted == 1);
    BOOST_TEST(del.prev_kvs.at(0).value == "2");
    BOOST_TEST(!(co_await c.get(p + "a")).has_value());
    BOOST_TEST((co_await c.del(p + "a")).deleted == 0);
  });
}

BOOST_AUTO_TEST_CASE(binary_keys_and_values_survive) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    std::string key = unique_prefix("bin") + std::string("\0\x01\xff\xfe k\n", 8);
    std::string value;
    for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
    co_await c.put(key, value);
    auto got = co_await c.get(key);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->key == key);
    BOOST_TEST(got->value == value);
    co_await c.put(key, "");
    BOOST_TEST((co_await c.get(key))->value == "");
  });
}

BOOST_AUTO_TEST_CASE(prefix_limit_sort_count_and_keys_only) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("range");
    for (int i = 0; i < 5; ++i)
      co_await c.put(p + "k" + std::to_string(i), "v" + std::to_string(i));
    co_await c.put(p.substr(0, p.size() - 1) + "x", "outside");  // shares all but the last byte

    auto all = co_await c.get_prefix(p);
    BOOST_REQUIRE_EQUAL(all.kvs.size(), 5u);
    BOOST_TEST(all.kvs[0].key == p + "k0");
    BOOST_TEST(all.count == 5);
    BOOST_TEST(!all.more);

    range_options o;
    o.prefix = true;
    o.limit = 2;
    o.order = sort_order::descend;
    o.target = sort_target::key;
    auto top = co_await c.range(p, o);
    BOOST_REQUIRE_EQUAL(top.kvs.size(), 2u);
    BOOST_TEST(top.kvs[0].key == p + "k4");
    BOOST_TEST(top.more);
    BOOST_TEST(top.count == 5);

    range_options counting;
    counting.prefix = true;
    counting.count_only = true;
    auto n = co_await c.range(p, counting);
    BOOST_TEST(n.count == 5);
    BOOST_TEST(n.kvs.empty());

    range_options keys;
    keys.prefix = true;
    keys.keys_only = true;
    keys.serializable = true;
    auto k = co_await c.range(p, keys);
    BOOST_TEST(k.kvs.size() == 5u);
    BOOST_TEST(k.kvs[0].value.empty());

    range_options span;
    span.range_end = p + "k3";
    auto half = co_await c.range(p + "k1", span);
    BOOST_TEST(half.kvs.size() == 2u);

    delete_options dp;
    dp.prefix = true;
    BOOST_TEST((co_await c.del(p, dp)).deleted == 5);
    BOOST_TEST((co_await c.get(p.substr(0, p.size() - 1) + "x")).has_value());
  });
}

BOOST_AUTO_TEST_CASE(txn_takes_either_branch) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("txn") + "k";
    auto put_if_absent = [&](std::string v) {
      txn_request t;
      t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
      t.success.push_back(put_op{key, v, {}});
      t.failure.push_back(range_op{key, {}});
      return c.txn(std::move(t));
    };
    auto first = co_await put_if_absent("one");
    BOOST_TEST(first.succeeded);
    BOOST_REQUIRE_EQUAL(first.responses.size(), 1u);
    BOOST_TEST(std::holds_alternative<put_result>(first.responses[0]));

    auto second = co_await put_if_absent("two");
    BOOST_TEST(!second.succeeded);
    auto& r = std::get<range_result>(second.responses.at(0));
    BOOST_TEST(r.kvs.at(0).value == "one");

    // Compare on value and on mod revision; delete in the success branch.
    auto kv = *(co_await c.get(key));
    txn_request t;
    t.compares.push_back(compare::value_of(key, compare_result::equal, "one"));
    t.compares.push_back(compare::mod_revision(key, compare_result::equal, kv.mod_revision));
    t.compares.push_back(compare::version(key, compare_result::greater, 0));
    t.success.push_back(delete_op{key, {}});
    auto del = co_await c.txn(t);
    BOOST_TEST(del.succeeded);
    BOOST_TEST(std::get<delete_result>(del.responses.at(0)).deleted == 1);
    auto again = co_await c.txn(t);
    BOOST_TEST(!again.succeeded);
    BOOST_TEST(again.responses.empty());
  });
}

BOOST_AUTO_TEST_CASE(compaction_makes_old_revisions_unreadable) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("compact") + "k";
    auto r1 = co_await c.put(key, "a");
    auto r2 = co_await c.put(key, "b");
    co_await c.compact(r2.header.revision);
    range_options old;
    old.revision = r1.header.revision;
    try {
      co_await c.range(key, old);
      BOOST_FAIL("read below the compacted revision succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::compacted);
      BOOST_TEST(e.diagnostic().find("compacted") != std::string::npos);
    }
    BOOST_TEST((co_await c.get(key))->value == "b");
  });
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_before_sending) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    co_await expect_failure([&] { return c.put("", "v"); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.get(""); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.put("k", std::string(2 * 1024 * 1024, 'x')); },
                            error::invalid_argument, "value");
    co_await expect_failure([&] { return c.lease_grant(0); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return c.lease_grant(-5); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return c.compact(0); }, error::invalid_argument, "revision");
    // The connection pool is still fine afterwards.
    co_await c.put(unique_prefix("ok") + "k", "v");
  });
  expect_error(
      [] {
        asio::io_context io;
        auto cfg = config_for({"http//missing-colon"});
        client c(io.get_executor(), cfg);
      },
      error::invalid_argument);
}

BOOST_AUTO_TEST_CASE(cancelled_calls_leave_the_pool_usable) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = config_for(shared_endpoints());
    cfg.pool_size = 2;
    client c(io.get_executor(), cfg);
    auto key = unique_prefix("cancel") + "k";
    int timeouts = 0;
    for (int i = 0; i < 20; ++i) {
      try {
        // A deadline so short that many calls are cancelled mid-flight.
        co_await with_timeout(c.put(key, std::to_string(i)), std::chrono::microseconds(50 * i));
      } catch (const coordination_error& e) {
        BOOST_TEST(e.code() == error::timeout);
        ++timeouts;
      }
    }
    BOOST_TEST(timeouts > 0);
    // Every later call still works and the pool did not leak its two slots.
    for (int i = 0; i < 10; ++i) co_await c.put(key, "after");
    BOOST_TEST((co_await c.get(key))->value == "after");
  });
}

// A call cancelled by its caller (terminal cancellation through its own slot, at any point of
// its way) ends with coordination_error(cancelled) or its value, never with another exception.
BOOST_AUTO_TEST_CASE(calls_cancelled_anywhere_throw_cancelled) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("cancel-anywhere") + "k";
    co_await c.put(key, "v");
    int cancelled = 0, completed = 0;
    for (int i = 0; i < 60; ++i) {
      auto delay = std::chrono::microseconds(25 * (i / 3));
      std::string how;
      if (i % 3 == 0)
        how = co_await cancelled_after(c.put(key, "v"), delay);
      else if (i % 3 == 1)
        how = co_await cancelled_after(c.get(key), delay);
      else
        how = co_await cancelled_after(c.watch(key), delay);
      BOOST_TEST((how.empty() || how == "cancelled"), "call " << i << ": " << how);
      cancelled += how == "cancelled";
      completed += how.empty();
    }
    BOOST_TEST(cancelled > 0);
    BOOST_TEST_MESSAGE(cancelled << " calls cancelled, " << completed << " completed");
    BOOST_TEST((co_await c.get(key))->value == "v");  // the client still works
  });
}

BOOST_AUTO_TEST_CASE(concurrent_calls_share_a_bounded_pool) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = config_for(shared_endpoints());
    cfg.pool_size = 4;
    client c(io.get_executor(), cfg);
    auto p = unique_prefix("many");
    int done = 0;
    std::size_t most_open = 0;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < 100; ++i)
      asio::co_spawn(ex, c.put(p + std::to_string(i), "v"), [&](std::exception_ptr e, put_result) {
        BOOST_TEST(!e);
        most_open =
            std::max(most_open, coordination::detail::impl_of(c).transport.open_connections());
        if (++done == 100) all_done.cancel();
      });
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    BOOST_TEST(done == 100);
    BOOST_TEST(most_open <= 4u);
    BOOST_TEST(most_open >= 2u);
    auto all = co_await c.get_prefix(p);
    BOOST_TEST(all.count == 100);
  });
}

BOOST_AUTO_TEST_SUITE_END()
