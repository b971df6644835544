// close() ends every background coroutine of a client: io_context::run() returns within
// milliseconds after client::close() / coordinator::close() with locks, elections,
// registrations, discovery caches and watches in use, also after a session loss.
#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/coordinator.hpp"
#include "coordination/with_timeout.hpp"
#include "coordinator_common.hpp"
#include "tcp_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

config scoped(const std::string& name) {
  auto c = scoped_config(name);
  c.registry.enable_health_check = true;  // a health-check loop per registration
  return c;
}

// Runs `body` (which ends with a close()) on a fresh io_context and returns how long run() went
// on after the body finished. Fails when the body threw or run() had not returned within 30 s.
template <class Body>
steady::duration linger_after(Body body) {
  asio::io_context io;
  std::exception_ptr failure;
  std::optional<steady::time_point> finished;
  asio::co_spawn(io, body(io), [&](std::exception_ptr e) {
    failure = e;
    finished = steady::now();
  });
  auto started = steady::now();
  io.run_for(30s);
  auto returned = steady::now();
  if (failure) std::rethrow_exception(failure);
  BOOST_REQUIRE_MESSAGE(finished.has_value(), "the test body did not finish within 30 s");
  BOOST_REQUIRE_MESSAGE(returned - started < 30s, "run() still had work 30 s in");
  return returned - *finished;
}

service_info api_instance() {
  service_info me;
  me.name = "api";
  me.instance_id = "i1";
  me.address = "127.0.0.1:1";
  return me;
}

double ms(steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Everything a coordinator runs in the background: a lock and its session's keep-alive, a lock
// with a lease of its own, a leadership and an observer, a registration with its health check, a
// discovery cache, a config watch and a raw watch.
asio::awaitable<void> use_everything(coordinator& coord, const config& cfg) {
  auto l = co_await coord.lock("a", 2s);
  auto own = co_await coord.lock("b", 7s);
  auto won = co_await coord.campaign("e", "me");
  service_info me;
  me.name = "api";
  me.instance_id = "i1";
  me.address = "127.0.0.1:1";
  co_await coord.registry().register_service(me);
  auto seen = co_await coord.registry().discover("api");
  BOOST_TEST(seen->size() == 1u);
  auto services = co_await coord.registry().watch("api");
  auto cw = co_await coord.config_center().watch("flag");
  auto raw = co_await coord.etcd().watch_prefix(cfg.locks.prefix);
  co_await coord.config_center().set("flag", "on");
  co_await coord.close();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(close_suite)

BOOST_AUTO_TEST_CASE(run_returns_at_once_after_a_coordinator_closes) {
  auto cfg = scoped("close-all");
  auto linger = linger_after([&](asio::io_context& io) -> asio::awaitable<void> {
    coordinator coord(io.get_executor(), cfg);
    co_await use_everything(coord, cfg);
  });
  BOOST_TEST_MESSAGE("run() returned " << ms(linger) << " ms after coordinator::close()");
  BOOST_TEST(ms(linger) < 250.0, "run() returned " << ms(linger) << " ms after close()");
}

BOOST_AUTO_TEST_CASE(run_returns_at_once_after_close_following_a_session_loss) {
  auto cfg = scoped("close-lost");
  auto linger = linger_after([&](asio::io_context& io) -> asio::awaitable<void> {
    coordinator coord(io.get_executor(), cfg);
    auto l = co_await coord.lock("a", 2s);
    auto own = co_await coord.lock("b", 3s);
    auto won = co_await coord.campaign("e", "me");
    auto session = co_await coord.current_session();
    // Revoked by someone else: the sessions are lost (and would go on trying to revoke).
    client other(io.get_executor(), cfg.etcd);
    co_await other.lease_revoke(l.lease());
    co_await other.lease_revoke(own.lease());
    auto lost = co_await with_timeout(l.wait_lost(), 10s);
    BOOST_TEST((lost == make_error_code(error::lock_lost)));
    co_await with_timeout(own.wait_lost(), 10s);
    auto why = co_await with_timeout(session->wait_lost(), 10s);
    BOOST_TEST((why == make_error_code(error::session_expired)));
    other.close();
    co_await coord.close();
  });
  BOOST_TEST_MESSAGE("run() returned " << ms(linger) << " ms after close() after a loss");
  BOOST_TEST(ms(linger) < 250.0, "run() returned " << ms(linger) << " ms after close()");
}

BOOST_AUTO_TEST_CASE(run_returns_at_once_after_a_client_closes) {
  auto linger = linger_after([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto prefix = unique_prefix("close-client");
    auto s = co_await session::create(c, session_options{});
    locker locks(s);
    auto l = co_await locks.lock(prefix + "l");
    auto w = co_await c.watch_prefix(prefix);
    co_await c.put(prefix + "k", "v");
    auto b = co_await with_timeout(w.next(), 10s);
    BOOST_TEST(!b.events.empty());
    c.close();
  });
  BOOST_TEST_MESSAGE("run() returned " << ms(linger) << " ms after client::close()");
  BOOST_TEST(ms(linger) < 250.0, "run() returned " << ms(linger) << " ms after close()");
}

// A watch whose stream broke (its member is dead) is waiting to be placed again, or being created
// on a stream that fails, when the client closes: its next() ends with cancelled, "client closed",
// at once (the re-placement task is cancelled with the others; nothing else would end it).
BOOST_AUTO_TEST_CASE(a_watch_between_streams_ends_when_the_client_closes) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  auto linger = linger_after([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(cluster.client_urls()));
    auto w = co_await c.watch_prefix("/close-between/");
    cluster.kill(0);
    co_await eventually(
        [&] { return coordination::detail::impl_of(c).hub().stats().link_failures >= 2; }, 10s,
        "the watch stream broke and its re-creation failed", 5ms);
    c.close();
    auto t0 = steady::now();
    std::string how;
    try {
      co_await with_timeout(w.next(), 5s);
      how = "a batch";
    } catch (const coordination_error& e) {
      how = e.what();
      BOOST_TEST((e.code() == make_error_code(error::cancelled)), e.what());
    }
    BOOST_TEST(how.find("client closed") != std::string::npos, how);
    BOOST_TEST(ms(steady::now() - t0) < 250.0);
  });
  BOOST_TEST(ms(linger) < 250.0, "run() returned " << ms(linger) << " ms after close()");
}

// etcd unreachable when close() runs: releasing, deregistering and revoking all fail, yet the
// connections are closed and the background work ends; close() throws the first failure, and a
// second close() returns at once.
BOOST_AUTO_TEST_CASE(close_ends_the_background_work_even_when_etcd_is_unreachable) {
  if (using_external_cluster()) return;  // (the proxy forwards plain HTTP only)
  auto cfg = scoped("close-unreachable");
  std::optional<tcp_proxy> proxy;
  std::string thrown;
  std::size_t tasks_left = 99;
  auto linger = linger_after([&](asio::io_context& io) -> asio::awaitable<void> {
    proxy.emplace(io.get_executor(), shared_endpoints().at(0));
    cfg.etcd.endpoints = {proxy->url()};
    coordinator coord(io.get_executor(), cfg);
    auto l = co_await coord.lock("a");
    auto orders = coord.module("orders");
    co_await orders.registry().register_service(api_instance());
    proxy->cut();
    try {
      co_await coord.close();
      thrown = "nothing";
    } catch (const coordination_error& e) {
      thrown = e.code().message();
    }
    tasks_left = coordination::detail::impl_of(coord.etcd()).tasks.running();
    co_await with_timeout(coord.close(), 1s);  // (returns at once: nothing is retried)
    proxy.reset();                             // (its accept loop is on this io_context too)
  });
  BOOST_TEST((thrown == make_error_code(error::unavailable).message() ||
              thrown == make_error_code(error::timeout).message()),
             "close() threw: " << thrown);
  BOOST_TEST(tasks_left == 0u, tasks_left << " background task(s) still running after close()");
  BOOST_TEST(ms(linger) < 250.0, "run() returned " << ms(linger) << " ms after close()");
}

// A module's registrations are the coordinator's too: its close() deregisters them (their keys
// are gone at once, not when their lease expires).
BOOST_AUTO_TEST_CASE(close_deregisters_the_modules_services) {
  auto cfg = scoped("close-modules");
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    coordinator coord(io.get_executor(), cfg);
    auto orders = coord.module("orders");
    co_await orders.registry().register_service(api_instance());
    client other(io.get_executor(), cfg.etcd);
    range_options count;
    count.prefix = true;
    count.count_only = true;
    auto before = co_await other.range(cfg.registry.prefix, count);
    BOOST_TEST(before.count == 1);
    co_await coord.close();
    auto after = co_await other.range(cfg.registry.prefix, count);
    BOOST_TEST(after.count == 0, after.count << " registration(s) left after close()");
    other.close();
  });
}

// A watch asked for after close() fails cancelled at once, also on a client that never had a
// watch before (not after the request timeout, and not as unavailable).
BOOST_AUTO_TEST_CASE(a_watch_asked_for_after_close_fails_cancelled_at_once) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    c.close();
    auto t0 = steady::now();
    co_await expect_failure(with_timeout(c.watch_prefix("/closed/"), 1s), error::cancelled,
                            "client closed");
    BOOST_TEST(ms(steady::now() - t0) < 500.0);
  });
}

// A lock's wait_lost() ends with cancelled when the client closes: awaited before the close
// (its key watch is cancelled) and after it (no watch can start), never waiting for ever.
BOOST_AUTO_TEST_CASE(a_locks_wait_lost_ends_when_the_client_closes) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto prefix = unique_prefix("close-wait-lost");
    auto s = co_await session::create(c, session_options{});
    locker locks(s);
    auto before = co_await locks.lock(prefix + "a");
    auto after = co_await locks.lock(prefix + "b");
    std::optional<std::error_code> seen;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { seen = co_await before.wait_lost(); }, asio::detached);
    co_await asio::post(io, asio::use_awaitable);  // (the waiter starts: its key watch is spawned)
    BOOST_TEST(!seen.has_value());
    c.close();
    co_await eventually([&] { return seen.has_value(); }, 2s, "wait_lost() awaited before close");
    BOOST_TEST((*seen == make_error_code(error::cancelled)));
    auto late = co_await with_timeout(after.wait_lost(), 2s);
    BOOST_TEST((late == make_error_code(error::cancelled)));
  });
}

BOOST_AUTO_TEST_SUITE_END()
