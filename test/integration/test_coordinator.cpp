#include <cstdlib>

#include "coordination/coordinator.hpp"
#include "coordination/with_timeout.hpp"
#include "coordinator_common.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

// test_config() against the test etcd, every prefix under a fresh test prefix.
bool says(const coordination_error& e, const char* field) {
  return e.code() == error::invalid_argument &&
         std::string(e.what()).find(field) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(coordinator_suite)

BOOST_AUTO_TEST_CASE(facade_lock_registry_config_election_and_graceful_close) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("facade");
    coordinator coord(io.get_executor(), cfg);
    auto st = co_await coord.ping();
    BOOST_TEST(!st.version.empty());

    auto l = co_await coord.lock("orders/42", 2s);  // the session's TTL: its lease
    BOOST_TEST(l.key().starts_with(cfg.locks.prefix + "orders/42/"));
    auto own_ttl = co_await coord.lock("reports", 7s);  // another TTL: a lease of its own
    BOOST_TEST(own_ttl.lease() != l.lease());
    auto s = co_await coord.current_session();
    BOOST_TEST(l.lease() == s->lease());

    coordinator other(io.get_executor(), cfg);
    co_await expect_failure(other.try_lock("orders/42"), error::locked);

    service_info me;
    me.name = "api";
    me.instance_id = "a1";
    me.address = "127.0.0.1:8080";
    co_await coord.registry().register_service(me);
    BOOST_TEST((co_await other.registry().discover("api"))->size() == 1u);
    co_await coord.config_center().set("feature", "on");
    BOOST_TEST((co_await other.config_center().get("feature")).value == "on");
    auto won = co_await coord.campaign("leader", "me");
    auto seen = co_await other.leader("leader");
    BOOST_REQUIRE(seen);
    BOOST_TEST(seen->value == "me");
    BOOST_TEST(seen->key.starts_with(cfg.elections_prefix + "leader/"));

    // close(): locks released, services deregistered, lease revoked, connections closed.
    auto lease = s->lease();
    co_await coord.close();
    BOOST_TEST(!l.held());
    BOOST_TEST(!won.held());
    auto again = co_await with_timeout(other.try_lock("orders/42"), 5s);
    BOOST_TEST(again.held());
    co_await with_timeout(other.try_lock("reports"), 5s);
    auto gone = co_await other.etcd().get(cfg.registry.prefix + "api/a1");
    BOOST_TEST(!gone);
    BOOST_TEST((co_await other.etcd().lease_time_to_live(lease)).ttl == -1);
    co_await expect_failure(coord.lock("x"), error::cancelled);
    co_await coord.close();  // idempotent
    co_await other.close();
  });
}

BOOST_AUTO_TEST_CASE(session_and_locker_handles_stay_valid_across_a_session_replacement) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("replace");
    coordinator coord(io.get_executor(), cfg);
    auto first = co_await coord.current_session();
    auto old_locks = co_await coord.locks();
    client other(io.get_executor(), cfg.etcd);
    co_await other.lease_revoke(first->lease());  // the session is lost
    auto why = co_await with_timeout(first->wait_lost(), 10s);
    BOOST_TEST((why == make_error_code(error::session_expired)));
    auto l = co_await coord.lock("after");  // on a new session
    auto second = co_await coord.current_session();
    BOOST_TEST(second.get() != first.get());
    BOOST_TEST(!second->lost());
    BOOST_TEST(first->lost());  // the old handles are still there to ask
    BOOST_TEST(first->lease() != second->lease());
    BOOST_TEST(l.lease() == second->lease());
    co_await expect_failure(old_locks->lock(cfg.locks.prefix + "x"), error::session_expired);
    auto new_locks = co_await coord.locks();
    BOOST_TEST(new_locks.get() != old_locks.get());
    auto rw = co_await new_locks->read_lock(cfg.locks.prefix + "rw");
    BOOST_TEST(rw.held());
    co_await rw.release();
    co_await coord.close();
    other.close();
  });
}

BOOST_AUTO_TEST_CASE(modules_scope_every_key) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("module");
    coordinator coord(io.get_executor(), cfg);
    auto orders = coord.module("orders");
    auto billing = coord.module("billing");
    auto l = co_await orders.lock("x");
    BOOST_TEST(l.key().starts_with(cfg.locks.prefix + "orders/x/"));
    auto m = co_await billing.try_lock("x");  // same name, another module: no conflict
    BOOST_TEST(m.held());

    co_await orders.config_center().set("limit", "10");
    co_await billing.config_center().set("limit", "20");
    BOOST_TEST((co_await coord.etcd().get(cfg.config_center.prefix + "orders/limit"))->value ==
               "10");
    BOOST_TEST((co_await orders.config_center().get("limit")).value == "10");
    BOOST_TEST((co_await billing.config_center().get("limit")).value == "20");
    BOOST_TEST((co_await orders.config_center().history("limit")).size() == 1u);
    BOOST_TEST((co_await coord.config_center().get("orders/limit")).value == "10");

    service_info i;
    i.name = "db";
    i.instance_id = "d1";
    i.address = "127.0.0.1:5432";
    co_await orders.registry().register_service(i);
    BOOST_TEST((co_await coord.etcd().get(cfg.registry.prefix + "orders/db/d1")).has_value());
    BOOST_TEST((co_await orders.registry().discover("db"))->size() == 1u);
    BOOST_TEST((co_await billing.registry().discover("db"))->empty());
    auto lead = co_await orders.campaign("cron", "n1");
    BOOST_TEST(lead.key().starts_with(cfg.elections_prefix + "orders/cron/"));
    BOOST_CHECK_EXCEPTION(coord.module("a/b"), coordination_error,
                          [](auto& e) { return says(e, "module name"); });
    co_await orders.registry().close();
    co_await coord.close();
  });
}

BOOST_AUTO_TEST_CASE(global_api_before_and_after_init) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    BOOST_TEST(!initialized());
    co_await expect_failure(get_config("k"), error::not_initialized, "init");
    BOOST_CHECK_EXCEPTION(global_coordinator(), coordination_error,
                          [](auto& e) { return e.code() == error::not_initialized; });
    auto cfg = scoped_config("global");
    init(io.get_executor(), cfg);
    BOOST_TEST(initialized());
    co_await set_config("k", "v");
    BOOST_TEST((co_await get_config("k")).value == "v");
    auto w = co_await watch_config("k");
    co_await set_config("k", "v2");
    BOOST_TEST((co_await with_timeout(w.next(), 5s)).new_value->value == "v2");
    auto l = co_await acquire_lock("job");
    BOOST_TEST(l.key().starts_with(cfg.locks.prefix + "job/"));
    service_info i;
    i.name = "svc";
    i.instance_id = "s1";
    i.address = "127.0.0.1:1";
    co_await register_service(i);
    BOOST_TEST((co_await discover_services("svc"))->size() == 1u);
    auto lead = co_await campaign("e", "me");
    BOOST_TEST(lead.held());
    auto w2 = co_await global_coordinator().registry().watch("svc");
    co_await deregister_service("svc", "s1");
    // The cache follows etcd through its watch: wait for the removal to arrive.
    for (;;) {
      auto l = co_await with_timeout(w2.next(), 5s);
      if (l.instances->empty()) break;
    }
    BOOST_TEST((co_await discover_services("svc"))->empty());
    co_await shutdown();
    BOOST_TEST(!initialized());
    co_await expect_failure(acquire_lock("job"), error::not_initialized);
  });
}

BOOST_AUTO_TEST_CASE(presets_validation_and_environment) {
  for (auto& c : {default_config(), development_config(), production_config(), test_config()})
    BOOST_CHECK_NO_THROW(c.validate());
  BOOST_TEST(development_config().log_level == "debug");
  BOOST_TEST(production_config().registry.enable_health_check);
  BOOST_TEST((test_config().locks.default_ttl == 2s));

  auto expect_field = [](config c, const char* field) {
    BOOST_CHECK_EXCEPTION(c.validate(), coordination_error,
                          [&](auto& e) { return says(e, field); });
  };
  config c;
  c.locks.default_ttl = 0s;
  expect_field(c, "locks.default_ttl");
  c = config();
  c.locks.prefix = "no-slash";
  expect_field(c, "locks.prefix");
  c = config();
  c.registry.ttl = 100000s;
  expect_field(c, "registry.ttl");
  c = config();
  c.config_center.max_history = 0;
  expect_field(c, "config_center.max_history");
  c = config();
  c.log_level = "loud";
  expect_field(c, "log_level");
  c = config();
  c.etcd.endpoints = {"ftp://x"};
  expect_field(c, "endpoints");
  c = config();
  c.locks.renew_interval = 20s;
  expect_field(c, "locks.renew_interval");
  asio::io_context io;
  BOOST_CHECK_EXCEPTION(coordinator(io.get_executor(), c), coordination_error,
                        [](auto& e) { return says(e, "locks.renew_interval"); });

  // (restored afterwards: COORD_ENDPOINTS may point the whole suite at a cluster)
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (auto* v : {"COORD_ENDPOINTS", "COORD_USER", "COORD_LOCK_TTL", "COORD_HEALTH_CHECK",
                  "COORD_REQUEST_TIMEOUT_MS"}) {
    const char* old = std::getenv(v);
    saved.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
  }
  setenv("COORD_ENDPOINTS", "http://127.0.0.1:1111,http://127.0.0.1:2222", 1);
  setenv("COORD_USER", "alice", 1);
  setenv("COORD_LOCK_TTL", "42", 1);
  setenv("COORD_HEALTH_CHECK", "1", 1);
  setenv("COORD_REQUEST_TIMEOUT_MS", "1500", 1);
  auto e = config::from_env();
  BOOST_TEST(e.etcd.endpoints.size() == 2u);
  BOOST_TEST(e.etcd.endpoints[1] == "http://127.0.0.1:2222");
  BOOST_TEST(e.etcd.username == "alice");
  BOOST_TEST((e.locks.default_ttl == 42s));
  BOOST_TEST(e.registry.enable_health_check);
  BOOST_TEST((e.etcd.request_timeout == 1500ms));
  setenv("COORD_LOCK_TTL", "ten", 1);
  BOOST_CHECK_EXCEPTION(config::from_env(), coordination_error,
                        [](auto& e) { return says(e, "COORD_LOCK_TTL"); });
  setenv("COORD_LOCK_TTL", "42", 1);
  setenv("COORD_HEALTH_CHECK", "maybe", 1);
  BOOST_CHECK_EXCEPTION(config::from_env(), coordination_error,
                        [](auto& e) { return says(e, "COORD_HEALTH_CHECK"); });
  for (auto& [name, old] : saved) {
    if (old)
      setenv(name.c_str(), old->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
}

BOOST_AUTO_TEST_SUITE_END()
