// The completion token for Asio calls whose error is a value, not an exception:
// `auto [ec, n] = co_await sock.async_read_some(buf, detail::use_tuple);`. One definition for
// every source file (they may be compiled as one unity translation unit).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coordination::detail {
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
}  // namespace coordination::detail
