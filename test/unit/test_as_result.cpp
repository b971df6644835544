// as_result(op): the value, or the error's code and diagnostic, without throwing; other
// exceptions still propagate; result::value() throws the coordination_error back; a caller's
// cancellation comes out as error::cancelled. On an io_context of its own: no network, no etcd.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>

#include "coordination/as_result.hpp"
#include "coordination/error.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using coordination::as_result;
using coordination::coordination_error;
using coordination::error;

namespace {

asio::awaitable<int> answer(int v) {
  co_return v;
}

asio::awaitable<int> failing(error e, std::string diagnostic) {
  throw coordination_error(e, std::move(diagnostic));
  co_return 0;
}

asio::awaitable<void> nothing() {
  co_return;
}

asio::awaitable<void> failing_void() {
  throw coordination_error(error::locked, "held by lease 7");
  co_return;
}

asio::awaitable<void> asio_failure() {
  throw boost::system::system_error(asio::error::connection_refused);
  co_return;
}

asio::awaitable<void> other_failure() {
  throw std::logic_error("a caller's bug");
  co_return;
}

asio::awaitable<void> forever() {
  asio::steady_timer t(co_await asio::this_coro::executor, 1h);
  co_await t.async_wait(asio::use_awaitable);
}

// Runs `body` on an io_context of its own, with a 5 s deadline; fails the test when it throws
// or does not end.
void run(asio::awaitable<void> body) {
  asio::io_context io;
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
    done = true;
    failure = e;
  });
  io.run_for(5s);
  BOOST_REQUIRE_MESSAGE(done, "the coroutine did not end within 5 s");
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(as_result_suite)

BOOST_AUTO_TEST_CASE(values_and_errors_come_back_without_throwing) {
  run([]() -> asio::awaitable<void> {
    auto ok = co_await as_result(answer(42));
    BOOST_TEST(ok.has_value());
    BOOST_TEST(*ok == 42);

    auto bad = co_await as_result(failing(error::conflict, "version 3 expected, 4 found"));
    BOOST_TEST(!bad.has_value());
    BOOST_TEST((bad.error().code == error::conflict));
    BOOST_TEST(bad.error().diagnostic == "version 3 expected, 4 found");

    auto v = co_await as_result(nothing());
    BOOST_TEST(v.has_value());
    auto locked = co_await as_result(failing_void());
    BOOST_TEST((locked.error().code == error::locked));
    BOOST_TEST(locked.error().diagnostic == "held by lease 7");

    // An Asio error that came through unchanged keeps its code.
    auto refused = co_await as_result(asio_failure());
    BOOST_TEST((refused.error().code == static_cast<std::error_code>(boost::system::error_code(
                                            asio::error::connection_refused))));
    BOOST_TEST(!refused.error().diagnostic.empty());
  }());
}

BOOST_AUTO_TEST_CASE(value_of_an_error_throws_the_coordination_error_back) {
  run([]() -> asio::awaitable<void> {
    auto bad = co_await as_result(failing(error::not_found, "no key a/b"));
    try {
      (void)bad.value();
      BOOST_FAIL("value() of an error did not throw");
    } catch (const coordination_error& e) {
      BOOST_TEST((e.code() == error::not_found));
      BOOST_TEST(e.diagnostic() == "no key a/b");
    }
  }());
}

BOOST_AUTO_TEST_CASE(other_exceptions_still_propagate) {
  BOOST_CHECK_THROW(run([]() -> asio::awaitable<void> {
                      auto r = co_await as_result(other_failure());
                      (void)r;
                    }()),
                    std::logic_error);
}

BOOST_AUTO_TEST_CASE(a_timeout_and_a_cancellation_are_errors_not_exceptions) {
  run([]() -> asio::awaitable<void> {
    auto late = co_await as_result(coordination::with_timeout(forever(), 20ms));
    BOOST_TEST((late.error().code == error::timeout));
  }());

  // The caller cancels the coroutine that awaits as_result(with_timeout(...)): the result says
  // cancelled, and the coroutine goes on to its end.
  asio::io_context io;
  asio::cancellation_signal cancel;
  std::string seen = "not ended";
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto r = co_await as_result(coordination::with_timeout(forever(), 1h));
        seen = r ? "value" : r.error().code.message();
      },
      asio::bind_cancellation_slot(cancel.slot(), [](std::exception_ptr) {}));
  asio::steady_timer emit(io, 20ms);
  emit.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
  io.run_for(5s);
  BOOST_TEST(seen == coordination::make_error_code(error::cancelled).message());
}

BOOST_AUTO_TEST_SUITE_END()
