// close() ends every background coroutine of a client: io_context::run() returns within
// milliseconds after client::close() / coordinator::close() with locks, elections,
// registrations, discovery caches and watches in use, also after a session loss.
#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/coordinator.hpp"
#include "coordination/with_timeout.hpp"
#include "coordinator_common.hpp"

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

BOOST_AUTO_TEST_SUITE_END()
