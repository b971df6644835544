// callers: the library from code that is not a coroutine, and without exceptions.
//  1. A callback: co_spawn with a completion handler, as a callback-style server (Beast's
//     handlers, say) would call it.
//  2. A std::future: a thread that is not the io_context's waits on co_spawn(..., use_future).
//  3. as_result(op): the value or the error's code and diagnostic, no exception.
// The io_context runs on a thread of its own; every operation is started on it by co_spawn, so
// the coordinator is only touched from that thread. Run against COORD_ENDPOINTS (default
// http://127.0.0.1:2379).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <coordination/as_result.hpp>
#include <coordination/coordinator.hpp>
#include <functional>
#include <future>
#include <iostream>
#include <thread>

namespace asio = boost::asio;
using namespace coordination;
using namespace std::chrono_literals;

// 1. A callback-style function: starts the lookup on the coordinator's executor and calls `done`
// there with the value, or with the error's message. It returns at once.
void max_conns(coordinator& coord, std::function<void(std::string)> done) {
  asio::co_spawn(
      coord.etcd().get_executor(),
      // The awaitable is made inside the lambda, so on the io_context's thread.
      [&coord]() -> asio::awaitable<int> {
        co_return co_await coord.config_center().get_as<int>("callers/max_conns");
      },
      [done = std::move(done)](std::exception_ptr failure, int value) {
        if (!failure) return done("max_conns = " + std::to_string(value));
        try {
          std::rethrow_exception(failure);
        } catch (const coordination_error& e) {
          done(std::string("failed: ") + e.what());
        }
      });
}

int main() {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  coordinator coord(io.get_executor(), config::from_env());  // (before io runs: no race)
  std::thread io_thread([&] { io.run(); });
  int status = 0;
  try {
    // 2. A future: this thread blocks on get(); a coordination_error is rethrown by get().
    auto set = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<config_value> {
          co_return co_await coord.config_center().set("callers/max_conns", 64);
        },
        asio::use_future);
    std::cout << "future: set callers/max_conns to version " << set.get().version << "\n";

    std::promise<std::string> answer;
    max_conns(coord, [&](std::string text) { answer.set_value(std::move(text)); });
    std::cout << "callback: " << answer.get_future().get() << "\n";

    // A failure through a future: the coordination_error comes out of get().
    auto missing = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<int> {
          co_return co_await coord.config_center().get_as<int>("callers/no_such_key");
        },
        asio::use_future);
    try {
      missing.get();
      std::cout << "future: a missing key gave a value\n";
      status = 1;
    } catch (const coordination_error& e) {
      std::cout << "future: a missing key threw " << e.code().message() << "\n";
    }

    // 3. as_result: a held lock is a value to look at, not an exception.
    auto outcome = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::string> {
          auto mine = co_await coord.try_lock("callers/nightly", 20s);
          coordinator other(co_await asio::this_coro::executor, config::from_env());
          auto theirs = co_await as_result(other.try_lock("callers/nightly", 20s));
          std::string seen;
          if (theirs) {
            seen = "the second try_lock got the lock";
          } else if (theirs.error().code == error::locked) {
            seen = "the second try_lock found it locked (" + theirs.error().diagnostic + ")";
          } else {
            seen = "the second try_lock failed: " + theirs.error().code.message();
          }
          co_await mine.release();
          auto after = co_await as_result(other.try_lock("callers/nightly", 20s));
          seen += after ? "; after the release it got it" : "; after the release it failed";
          co_await other.close();
          co_await coord.config_center().remove("callers/max_conns");
          co_return seen;
        },
        asio::use_future);
    std::cout << "as_result: " << outcome.get() << "\n";
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { co_await coord.close(); }, asio::use_future)
        .get();
  } catch (const std::exception& e) {
    std::cerr << "callers: " << e.what() << "\n";
    status = 1;
    io.stop();  // (the coordinator's keep-alives would keep io.run() going)
  }
  work.reset();
  io_thread.join();
  if (status == 0) std::cout << "callers: OK\n";
  return status;
}
