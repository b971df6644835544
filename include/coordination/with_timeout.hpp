// with_timeout(op, d): runs an awaitable of this library with a deadline of its own; when `d`
// passes first, the operation is cancelled (Asio terminal cancellation) and coordination_error
// (timeout) is thrown. Stands in for asio::cancel_after, which Boost 1.81 does not have.
#pragma once

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "coordination/error.hpp"

namespace coordination {

template <class T>
boost::asio::awaitable<T> with_timeout(boost::asio::awaitable<T> op,
                                       std::chrono::steady_clock::duration d) {
  using namespace boost::asio::experimental::awaitable_operators;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, d);
  auto result = co_await (std::move(op) || timer.async_wait(boost::asio::use_awaitable));
  if (result.index() == 1) throw coordination_error(error::timeout, "deadline passed");
  if constexpr (!std::is_void_v<T>) co_return std::get<0>(std::move(result));
}

}  // namespace coordination
