// The main() every example shares: a coordinator from config::from_env() (COORD_ENDPOINTS,
// default http://127.0.0.1:2379), the example's coroutine on one io_context, "<name>: OK" on
// success, the error and exit status 1 otherwise.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <coordination/coordinator.hpp>
#include <functional>
#include <iostream>

namespace example {

inline int run(const char* name,
               std::function<boost::asio::awaitable<void>(boost::asio::io_context&)> body) {
  boost::asio::io_context io;
  try {
    std::exception_ptr failure;
    boost::asio::co_spawn(io, body(io), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << name << ": OK\n";
  return 0;
}

// Fails the example (with `what`) unless `ok`.
inline void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("check failed: " + what);
}

}  // namespace example
