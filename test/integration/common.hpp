// Shared pieces of the integration tests: where etcd is, a config for it, unique key prefixes.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "coordination/client.hpp"
#include "support/etcd_fixture.hpp"
#include "support/process.hpp"
#include "support/run.hpp"

namespace coordination::test {

// COORD_ENDPOINTS when set; otherwise one etcd member started on first use, stopped at exit.
std::vector<std::string> shared_endpoints();
bool using_external_cluster();
client_config config_for(std::vector<std::string> endpoints);
// A key prefix no other test (or earlier run) uses: "/coord-test/<pid>-<n>/<name>/".
std::string unique_prefix(const std::string& name);

// "http://127.0.0.1:<port>" for a loopback port nothing listens on (connections are refused).
std::string dead_endpoint();

// The whole seconds in environment variable `name` when it holds a positive number, else
// `fallback` (COORD_CHAOS_SECONDS, COORD_SOAK_SECONDS).
inline std::chrono::seconds env_seconds(const char* name, std::chrono::seconds fallback) {
  if (const char* s = std::getenv(name); s && std::atoi(s) > 0)
    return std::chrono::seconds(std::atoi(s));
  return fallback;
}

// A pause for tests that wait on etcd's clock (lease expiry) or bound a wait.
inline boost::asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

// Waits until `done()` holds, looking every `every`; fails the test naming `what` when it still
// does not after `limit`. `done` returns bool or awaitable<bool> (a check that asks etcd).
template <class F>
boost::asio::awaitable<void> eventually(
    F done, std::chrono::steady_clock::duration limit, std::string what,
    std::chrono::steady_clock::duration every = std::chrono::milliseconds(20)) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool ok = false;
    if constexpr (std::is_same_v<std::invoke_result_t<F&>, bool>)
      ok = done();
    else
      ok = co_await done();
    if (ok) co_return;
    BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, "never happened: " << what);
    co_await sleep_for(every);
  }
}

// Runs `op`, emits Asio terminal cancellation through its own slot after `delay` unless it has
// ended, and says how it ended: "" (with a value), "cancelled" (coordination_error cancelled),
// or a description of anything else.
template <class T>
boost::asio::awaitable<std::string> cancelled_after(boost::asio::awaitable<T> op,
                                                    std::chrono::microseconds delay) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  asio::cancellation_signal signal;
  asio::steady_timer done(ex, asio::steady_timer::time_point::max());
  bool finished = false;
  std::exception_ptr failure;
  asio::co_spawn(ex, std::move(op),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, auto&&...) {
                   failure = e;
                   finished = true;
                   done.cancel();
                 }));
  asio::steady_timer t(ex, delay);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!finished) signal.emit(asio::cancellation_type::terminal);
  if (!finished) co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
  std::string how;
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const coordination_error& e) {
      how = e.code() == error::cancelled ? "cancelled" : std::string("ended with ") + e.what();
    } catch (const std::exception& e) {
      how = std::string("not a coordination_error (") + typeid(e).name() + "): " + e.what();
    }
  }
  co_return how;
}

// The member of `cluster` that leads now, asked of each member in turn (for up to 5 s).
inline boost::asio::awaitable<int> find_leader(client& probe, etcd_cluster& cluster) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    for (int i = 0; i < cluster.size(); ++i) {
      try {
        auto s = co_await probe.status(cluster.client_url(i));
        if (s.leader != 0 && s.leader == s.header.member_id) co_return i;
      } catch (const coordination_error&) {
      }
    }
    co_await sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_FAIL("no member leads");
  co_return -1;
}

// Pauses (SIGSTOP) member `i` of `cluster` now and resumes it `d` later, from a coroutine on
// `ex`; `resumed` turns true then (the test resumes it itself if it ends before).
inline void pause_for(boost::asio::any_io_executor ex, etcd_cluster& cluster, int i,
                      std::chrono::steady_clock::duration d, bool& resumed) {
  cluster.pause(i);
  boost::asio::co_spawn(
      ex,
      [&cluster, i, d, &resumed]() -> boost::asio::awaitable<void> {
        co_await sleep_for(d);
        cluster.resume(i);
        resumed = true;
      },
      boost::asio::detached);
}

// What expect_error / expect_failure check of the error thrown, or that one was thrown.
// Runs etcdctl against member 0 of `cluster` (TLS flags included); fails the test on error.
inline void etcdctl(const etcd_cluster& cluster, std::vector<std::string> args) {
  auto argv = cluster.etcdctl_args(0);
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int rc = run_command(argv, &out);
  BOOST_REQUIRE_MESSAGE(rc == 0, "etcdctl failed: " + out);
}

// root (for etcdctl) and `app`, with readwrite on /app/ and nothing else; auth on.
inline void add_app_user(const etcd_cluster& cluster) {
  etcdctl(cluster, {"user", "add", "root:rootpw", "--interactive=false"});
  etcdctl(cluster, {"user", "add", "app:apppw", "--interactive=false"});
  etcdctl(cluster, {"role", "add", "app"});
  etcdctl(cluster, {"role", "grant-permission", "app", "--prefix=true", "readwrite", "/app/"});
  etcdctl(cluster, {"user", "grant-role", "app", "app"});
  etcdctl(cluster, {"auth", "enable"});
}

inline void check_error(const coordination_error& e, coordination::error code,
                        const std::string& says) {
  BOOST_TEST(e.code() == code, "got '" << e.what() << "'");
  if (!says.empty())
    BOOST_TEST(std::string(e.what()).find(says) != std::string::npos,
               "'" << e.what() << "' does not say '" << says << "'");
}
// For a co_spawn completion handler: reports the exception `e` carries, if any, as a test error
// naming `who`.
inline void report_failure(const std::exception_ptr& e, const std::string& who) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    BOOST_ERROR(who << " failed: " << x.what());
  }
}
inline void no_error_thrown(const std::string& says) {
  BOOST_FAIL("no error thrown" << (says.empty() ? "" : " (for " + says + ")"));
}

// Runs `body` and checks it throws coordination_error with code `code` (and, when given, a
// message containing `says`).
template <class F>
void expect_error(F&& body, coordination::error code, std::string says = {}) {
  try {
    body();
  } catch (const coordination_error& e) {
    check_error(e, code, says);
    return;
  }
  no_error_thrown(says);
}

// The same for `make_op()`, which returns the awaitable (and may itself throw: a check made
// before the coroutine starts counts too).
template <class F>
requires std::is_invocable_v<F&> boost::asio::awaitable<void> expect_failure(
    F make_op, coordination::error code, std::string says = {}) {
  try {
    co_await make_op();
  } catch (const coordination_error& e) {
    check_error(e, code, says);
    co_return;
  }
  no_error_thrown(says);
}

// Awaits `op` and checks it throws coordination_error with code `code` (and, when given, a
// message containing `says`).
template <class T>
boost::asio::awaitable<void> expect_failure(boost::asio::awaitable<T> op, coordination::error code,
                                            std::string says = {}) {
  return expect_failure([op = std::move(op)]() mutable { return std::move(op); }, code,
                        std::move(says));
}

}  // namespace coordination::test
