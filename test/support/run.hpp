// Runs a coroutine test to completion on a fresh io_context with a deadline: a bug fails the test
// instead of hanging it. Rethrows what the coroutine threw.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <stdexcept>

namespace coordination::test {

template <class F>
void run(F&& make_coroutine,
         std::chrono::steady_clock::duration deadline = std::chrono::seconds(30)) {
  boost::asio::io_context io;
  std::exception_ptr failure;
  bool finished = false;
  boost::asio::co_spawn(io, make_coroutine(io), [&](std::exception_ptr e) {
    failure = e;
    finished = true;
    io.stop();  // do not wait for leftovers such as idle connections
  });
  io.run_for(deadline);
  if (!finished) throw std::runtime_error("test coroutine did not finish before its deadline");
  if (failure) std::rethrow_exception(failure);
}

}  // namespace coordination::test
