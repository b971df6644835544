// The error boundary's primitives (detail/cancelled.hpp, with_timeout): a caller's cancellation
// comes out as coordination_error(cancelled), never as Asio's operation_aborted and never as a
// timeout. On an io_context of their own: no network, no etcd.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include "coordination/error.hpp"
#include "coordination/with_timeout.hpp"
#include "detail/cancelled.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using coordination::coordination_error;
using coordination::error;

namespace {

// What `op` ended with: "ok", "coordination:<code message>", "asio:<message>", or "hung" when
// it had not ended 5 s after it was started. `cancel_after` > 0: the caller's cancellation
// (terminal) is emitted then.
std::string outcome_of(asio::io_context& io, asio::awaitable<void> op,
                       std::chrono::milliseconds cancel_after) {
  asio::cancellation_signal cancel;
  std::optional<std::string> how;
  asio::co_spawn(io, std::move(op),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   if (!e) {
                     how = "ok";
                     return;
                   }
                   try {
                     std::rethrow_exception(e);
                   } catch (const coordination_error& ce) {
                     how = "coordination:" + ce.code().message();
                   } catch (const boost::system::system_error& se) {
                     how = "asio:" + se.code().message();
                   } catch (const std::exception& x) {
                     how = std::string("other:") + x.what();
                   }
                 }));
  asio::steady_timer emit(io, cancel_after);
  if (cancel_after > 0ms)
    emit.async_wait([&](boost::system::error_code ec) {
      if (!ec) cancel.emit(asio::cancellation_type::terminal);
    });
  io.run_for(5s);
  return how.value_or("hung");
}

const std::string cancelled = "coordination:" + make_error_code(error::cancelled).message();
const std::string timed_out = "coordination:" + make_error_code(error::timeout).message();

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cancellation)

BOOST_AUTO_TEST_CASE(a_wait_on_a_signal_returns_when_the_signal_is_given) {
  asio::io_context io;
  asio::steady_timer signal(io, std::chrono::steady_clock::time_point::max());
  asio::steady_timer giver(io, 10ms);
  giver.async_wait([&](boost::system::error_code) { signal.cancel(); });
  auto how = outcome_of(
      io,
      [](asio::steady_timer& s) -> asio::awaitable<void> {
        co_await coordination::detail::wait_signal(s, "test wait");
      }(signal),
      0ms);
  BOOST_TEST(how == "ok");
}

BOOST_AUTO_TEST_CASE(a_wait_on_a_signal_cancelled_by_the_caller_throws_cancelled) {
  asio::io_context io;
  asio::steady_timer signal(io, std::chrono::steady_clock::time_point::max());
  auto how = outcome_of(
      io,
      [](asio::steady_timer& s) -> asio::awaitable<void> {
        co_await coordination::detail::wait_signal(s, "test wait");
      }(signal),
      10ms);
  BOOST_TEST(how == cancelled);
}

BOOST_AUTO_TEST_CASE(the_cancellation_names_what_was_waiting) {
  asio::io_context io;
  asio::steady_timer signal(io, std::chrono::steady_clock::time_point::max());
  std::string what;
  auto op = [](asio::steady_timer& s, std::string& what) -> asio::awaitable<void> {
    try {
      co_await coordination::detail::wait_signal(s, "lock a: wait");
    } catch (const coordination_error& e) {
      what = e.diagnostic();
    }
  }(signal, what);
  BOOST_TEST(outcome_of(io, std::move(op), 10ms) == "ok");
  BOOST_TEST(what == "lock a: wait: cancelled");
}

BOOST_AUTO_TEST_CASE(a_frame_that_catches_and_goes_on_lets_a_cancellation_through) {
  asio::io_context io;
  int noted = 0;
  auto op = [](int& noted) -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      try {
        throw coordination_error(i == 0 ? error::unavailable : error::cancelled, "step");
      } catch (const std::exception& e) {
        coordination::detail::rethrow_if_cancelled(e);
        ++noted;
      }
    }
    co_return;
  }(noted);
  BOOST_TEST(outcome_of(io, std::move(op), 0ms) == cancelled);
  BOOST_TEST(noted == 1);
}

BOOST_AUTO_TEST_CASE(with_timeout_cancelled_by_the_caller_throws_cancelled_not_timeout) {
  // Both the operation and the deadline's timer are cancelled with the caller; whichever ends
  // first, the caller's cancellation is what is reported.
  for (int i = 0; i < 20; ++i) {
    asio::io_context io;
    auto how = outcome_of(io, coordination::with_timeout(sleep_for(10s), 5s), 5ms);
    BOOST_TEST(how == cancelled, "run " << i << ": " << how);
  }
}

BOOST_AUTO_TEST_CASE(with_timeout_still_reports_a_deadline_and_a_result) {
  asio::io_context io;
  BOOST_TEST(outcome_of(io, coordination::with_timeout(sleep_for(10s), 10ms), 0ms) == timed_out);
  asio::io_context io2;
  BOOST_TEST(outcome_of(io2, coordination::with_timeout(sleep_for(1ms), 5s), 0ms) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()
