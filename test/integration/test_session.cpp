#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common.hpp"
#include "coordination/session.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

BOOST_AUTO_TEST_SUITE(session_suite)

BOOST_AUTO_TEST_CASE(keeps_its_lease_alive_for_several_ttls) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        session_options o;
        o.ttl = 2s;
        auto s = co_await session::create(c, o);
        BOOST_TEST(s.lease() > 0);
        BOOST_TEST(s.ttl() >= 2s);
        auto key = unique_prefix("session") + "k";
        put_options po;
        po.lease = s.lease();
        co_await c.put(key, "alive", po);
        // Three TTLs pass (etcd's clock, nothing to await but time).
        co_await sleep_for(3 * s.ttl());
        BOOST_TEST(!s.lost());
        BOOST_TEST(s.renewals() >= 5u);
        BOOST_TEST((co_await c.get(key)).has_value());
        BOOST_TEST((co_await c.lease_time_to_live(s.lease())).ttl > 0);
        co_await s.close();
        BOOST_TEST(!(co_await c.get(key)).has_value());  // closing revokes: keys go at once
        BOOST_TEST((co_await c.lease_time_to_live(s.lease())).ttl == -1);
        BOOST_TEST((co_await s.wait_lost()) == error::cancelled);
      },
      60s);
}

BOOST_AUTO_TEST_CASE(lease_revoked_elsewhere_is_reported_lost) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        session_options o;
        o.ttl = 6s;
        o.renew_interval = 300ms;
        auto s = co_await session::create(c, o);
        int callbacks = 0;
        std::error_code seen;
        s.on_lost([&](std::error_code ec) {
          ++callbacks;
          seen = ec;
        });
        co_await c.lease_revoke(s.lease());  // "someone else" ends the lease
        auto start = clock_type::now();
        auto ec = co_await with_timeout(s.wait_lost(), 5s);
        BOOST_TEST(ec == error::session_expired);
        BOOST_TEST(s.lost());
        BOOST_TEST((clock_type::now() - start < 2s));  // the next renewal notices
        co_await sleep_for(10ms);                      // callbacks run posted
        BOOST_TEST(callbacks == 1);
        BOOST_TEST(seen == error::session_expired);
      },
      30s);
}

BOOST_AUTO_TEST_CASE(paused_etcd_makes_the_session_lost_within_ttl_plus_one_interval) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        client c(io.get_executor(), cfg);
        session_options o;
        o.ttl = 3s;
        auto s = co_await session::create(c, o);
        co_await sleep_for(1500ms);  // a renewal or two in
        BOOST_TEST(s.renewals() >= 1u);
        cluster.pause(0);
        auto paused_at = clock_type::now();
        auto ec = co_await with_timeout(s.wait_lost(), 15s);
        auto took = clock_type::now() - paused_at;
        cluster.resume(0);
        BOOST_TEST(ec == error::session_expired);
        BOOST_TEST(
            (took <= s.ttl() + s.renew_interval() + 500ms),
            "lost after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms");
        // Nothing keeps claiming the lease: lost stays lost even though etcd is back.
        co_await sleep_for(s.renew_interval());
        BOOST_TEST(s.lost());
      },
      60s);
}

BOOST_AUTO_TEST_CASE(orphan_stops_renewing_and_dropping_revokes) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        session_options o;
        o.ttl = 30s;
        std::int64_t orphaned = 0, dropped = 0;
        {
          auto s = co_await session::create(c, o);
          orphaned = s.lease();
          s.orphan();
          BOOST_TEST((co_await s.wait_lost()) == error::cancelled);
        }  // an orphan's destructor does not revoke
        BOOST_TEST((co_await c.lease_time_to_live(orphaned)).ttl > 0);
        {
          auto s = co_await session::create(c, o);
          dropped = s.lease();
        }  // dropped without close(): revoked in the background
        co_await eventually(
            [&]() -> asio::awaitable<bool> {
              co_return (co_await c.lease_time_to_live(dropped)).ttl == -1;
            },
            5s, "the dropped session's lease revoked");
        co_await c.lease_revoke(orphaned);
        try {
          session_options bad;
          bad.ttl = 0s;
          co_await session::create(c, bad);
          BOOST_FAIL("ttl 0 accepted");
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::invalid_argument);
        }
      },
      30s);
}

BOOST_AUTO_TEST_SUITE_END()
