// Auth with a user that is not root: readwrite on one prefix only. etcd's security backports
// (3.4.42 / 3.5.28 / 3.6.9) made lease calls need a token, and 3.5.28–3.5.31 / 3.6.0–3.6.11 made
// /v3/maintenance/status root-only with auth on: the recipes must not need more than the
// prefix, and ping() must degrade rather than fail. Runs on whichever etcd the suite starts
// (3.4.23 grants status to any user; 3.5.30 refuses it).
#include <boost/asio/use_awaitable.hpp>

#include "common.hpp"
#include "coordination/coordinator.hpp"
#include "coordination/with_timeout.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

config app_config(const etcd_cluster& cluster) {
  config cfg = test_config();
  cfg.etcd = config_for(cluster.client_urls());
  cfg.etcd.username = "app";
  cfg.etcd.password = "apppw";
  cfg.locks.prefix = "/app/locks/";
  cfg.locks.default_ttl = 3s;
  cfg.elections_prefix = "/app/elections/";
  cfg.registry.prefix = "/app/services/";
  cfg.registry.ttl = 3s;
  cfg.config_center.prefix = "/app/config/";
  return cfg;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(security)

BOOST_AUTO_TEST_CASE(a_user_with_readwrite_on_one_prefix_runs_every_recipe) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  add_app_user(cluster);
  auto cfg = app_config(cluster);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        coordinator coord(io.get_executor(), cfg);

        // The user really is confined to /app/.
        try {
          co_await coord.etcd().put("/elsewhere", "x");
          BOOST_FAIL("a write outside /app/ was accepted");
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::permission_denied, e.what());
        }

        // Locks: on the coordinator's session (lease grant + keep-alive with a token), with a
        // lease of their own (grant + revoke), try_lock, read/write locks.
        auto held = co_await coord.lock("a");
        BOOST_TEST(held.held());
        try {
          auto again = co_await coord.try_lock("a");
          BOOST_FAIL("try_lock took a held lock");
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::locked, e.what());
        }
        auto own = co_await coord.lock("b", 5s);
        BOOST_TEST(own.held());
        BOOST_TEST(own.lease() != held.lease());
        auto locks = co_await coord.locks();
        auto reader = co_await locks->read_lock("/app/rw");
        co_await reader.release();
        co_await own.release();

        // The session's lease outlives two TTLs: keep-alives with a token are renewing it.
        asio::steady_timer t(io, 2 * cfg.locks.default_ttl);
        co_await t.async_wait(asio::use_awaitable);
        BOOST_TEST(held.held());
        BOOST_TEST(co_await held.is_held());
        BOOST_TEST((co_await held.ttl()) > 0);
        co_await held.release();

        // Elections.
        auto leader = co_await coord.campaign("e", "me");
        auto seen = co_await coord.leader("e");
        BOOST_TEST_REQUIRE(seen.has_value());
        BOOST_TEST(seen->value == "me");
        co_await leader.resign();

        // Registry: register (a lease of its own), discover, watch, deregister.
        service_info info;
        info.name = "api";
        info.instance_id = "i1";
        info.address = "127.0.0.1:8080";
        co_await coord.registry().register_service(info);
        auto found = co_await coord.registry().discover("api");
        BOOST_TEST_REQUIRE(found->size() == 1u);
        BOOST_TEST(found->at(0).address == "127.0.0.1:8080");
        auto services = co_await coord.registry().watch("api");
        co_await coord.registry().deregister("api", "i1");
        service_update after;
        do {  // (the first list may still show the instance)
          after = co_await with_timeout(services.next(), 10s);
        } while (!after.instances->empty());
        BOOST_TEST(after.removed.size() == 1u);

        // Config center: set, get, a watch (the POST form: a username is set), history.
        auto w = co_await coord.config_center().watch("feature");
        co_await coord.config_center().set("feature", "on");
        auto change = co_await with_timeout(w.next(), 10s);
        BOOST_REQUIRE(change.new_value);
        BOOST_TEST(change.new_value->value == "on");
        BOOST_TEST(change.new_value->update_time.time_since_epoch().count() > 0);  // its meta
        BOOST_TEST((co_await coord.config_center().get("feature")).value == "on");
        co_await coord.config_center().set("feature", "off");
        BOOST_TEST((co_await coord.config_center().history("feature")).size() >= 1u);

        // ping(): the member's status when the user may read it; otherwise (3.5.28–3.5.31,
        // 3.6.0–3.6.11: root only) what this user may learn.
        bool status_allowed = true;
        try {
          co_await coord.etcd().status();
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::permission_denied, e.what());
          status_allowed = false;
        }
        BOOST_TEST_MESSAGE(
            "status for a non-root user: " << (status_allowed ? "allowed" : "refused (root only)"));
        auto p = co_await coord.ping();
        BOOST_TEST(p.restricted == !status_allowed);
        BOOST_TEST(!p.version.empty());
        BOOST_TEST(p.header.cluster_id != 0u);
        BOOST_TEST(p.header.member_id != 0u);
        BOOST_TEST(p.header.revision > 0);
        BOOST_TEST(!p.endpoint.empty());

        co_await coord.close();
      },
      90s);
}

BOOST_AUTO_TEST_SUITE_END()
