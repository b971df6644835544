#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(lease_cluster)

BOOST_AUTO_TEST_CASE(grant_keep_alive_time_to_live_list_revoke) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto lease = co_await c.lease_grant(30);
    BOOST_TEST(lease.id > 0);
    BOOST_TEST(lease.ttl == 30);
    auto key = unique_prefix("lease") + "k";
    put_options po;
    po.lease = lease.id;
    co_await c.put(key, "v", po);
    BOOST_TEST((co_await c.get(key))->lease == lease.id);

    auto renewed = co_await c.lease_keep_alive_once(lease.id);
    BOOST_TEST(renewed.id == lease.id);
    BOOST_TEST(renewed.ttl == 30);

    auto ttl = co_await c.lease_time_to_live(lease.id, true);
    BOOST_TEST(ttl.granted_ttl == 30);
    BOOST_TEST(ttl.ttl > 0);
    BOOST_TEST(ttl.ttl <= 30);
    BOOST_REQUIRE_EQUAL(ttl.keys.size(), 1u);
    BOOST_TEST(ttl.keys[0] == key);

    auto ids = co_await c.lease_leases();
    BOOST_TEST((std::find(ids.begin(), ids.end(), lease.id) != ids.end()));

    // A lease with an id of our choosing.
    auto chosen = co_await c.lease_grant(10, lease.id + 7);
    BOOST_TEST(chosen.id == lease.id + 7);
    co_await c.lease_revoke(chosen.id);

    co_await c.lease_revoke(lease.id);
    BOOST_TEST(!(co_await c.get(key)).has_value());  // revoking deletes attached keys
    BOOST_TEST((co_await c.lease_time_to_live(lease.id)).ttl == -1);
    try {
      co_await c.lease_keep_alive_once(lease.id);
      BOOST_FAIL("keep-alive of a revoked lease succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::lease_not_found);
    }
    try {
      co_await c.lease_revoke(lease.id);
      BOOST_FAIL("second revoke succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::lease_not_found);
    }
    try {
      put_options bad;
      bad.lease = lease.id;
      co_await c.put(key, "v", bad);
      BOOST_FAIL("put with a revoked lease succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::lease_not_found);
    }
  });
}

BOOST_AUTO_TEST_CASE(keys_go_when_their_lease_expires) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto lease = co_await c.lease_grant(1);  // etcd may round the minimum TTL up
        auto key = unique_prefix("expiry") + "k";
        put_options po;
        po.lease = lease.id;
        co_await c.put(key, "v", po);
        BOOST_TEST((co_await c.get(key)).has_value());
        // Expiry is etcd's clock: there is no event to await without a watch, so look every
        // 100 ms (bounded by the test's deadline).
        asio::steady_timer t(io);
        auto start = std::chrono::steady_clock::now();
        while ((co_await c.get(key)).has_value()) {
          BOOST_REQUIRE((std::chrono::steady_clock::now() - start < 15s));
          t.expires_after(100ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST((co_await c.lease_time_to_live(lease.id)).ttl == -1);
      },
      30s);
}

BOOST_AUTO_TEST_CASE(status_and_member_list) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto s = co_await c.status();
    BOOST_TEST(s.version.starts_with("3."));
    BOOST_TEST(s.leader != 0u);
    BOOST_TEST(s.raft_index > 0u);
    BOOST_TEST(s.endpoint == c.endpoints().front());
    auto members = co_await c.member_list();
    BOOST_REQUIRE(!members.members.empty());
    BOOST_TEST(!members.members[0].client_urls.empty());
    if (!using_external_cluster()) {
      auto urls = co_await c.refresh_endpoints();
      BOOST_TEST(urls == c.endpoints());
      BOOST_TEST(urls.size() == members.members.size());
    }
    try {
      co_await c.status("http://127.0.0.1:1");
      BOOST_FAIL("status of a foreign endpoint accepted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::invalid_argument);
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()
