/// \file
/// as_result(op): the non-throwing form of every awaitable of the library.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <boost/system/system_error.hpp>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "coordination/error.hpp"

namespace coordination {

/// What a failed operation reported: the code (an `error` of this library, or a system or Asio
/// code when one came through unchanged) and the diagnostic, etcd's message or what the client
/// found wrong (coordination_error::diagnostic()).
struct error_info {
  std::error_code code;    ///< Compare with `error::...`, e.g. `info.code == error::locked`.
  std::string diagnostic;  ///< Empty when there was none.
};

/// The value of an operation or what it failed with. It is Boost.System's `result`:
/// `has_value()`, `value()` (throws the coordination_error back), `error()`, `operator*`.
template <class T>
using result = boost::system::result<T, error_info>;

/// Makes `result<T>::value()` on an error throw the coordination_error it stands for (found by
/// argument-dependent lookup from Boost.System's result).
[[noreturn]] inline void throw_exception_from_error(const error_info& e,
                                                    const boost::source_location&) {
  throw coordination_error(e.code, e.diagnostic);
}

/// Awaits `op` and returns its value or what it failed with, without throwing:
/// \code
/// auto r = co_await coordination::as_result(coord.try_lock("jobs/nightly"));
/// if (!r && r.error().code == coordination::error::locked) co_return;  // someone else runs it
/// \endcode
///
/// \par Errors
/// Every `std::system_error` (so every coordination_error) and `boost::system::system_error`
/// that `op` throws becomes the result's error, with the diagnostic for a coordination_error and
/// `what()` for another. Other
/// exceptions (`std::bad_alloc`, or one thrown by a callback of the caller's) still propagate.
/// \par Cancellation
/// As `op`'s: a cancelled operation gives `error::cancelled` (or `error::outcome_unknown` for a
/// write whose answer was lost) as its error instead of throwing it.
/// \par Executor and lifetimes
/// Runs `op` on the awaiting coroutine's executor; whatever `op` needs to outlive, as_result
/// needs too.
template <class T>
boost::asio::awaitable<result<T>> as_result(boost::asio::awaitable<T> op) {
  std::error_code code;
  std::string diagnostic;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(op);
      co_return result<T>{};
    } else {
      // (Not `co_return co_await ...`: the value is moved out of a named local.)
      T value = co_await std::move(op);
      co_return result<T>{std::move(value)};
    }
  } catch (const coordination_error& e) {
    code = e.code();
    diagnostic = e.diagnostic();
  } catch (const std::system_error& e) {
    code = e.code();
    diagnostic = e.what();
  } catch (const boost::system::system_error& e) {
    code = e.code();
    diagnostic = e.what();
  }
  // (The error is built outside the handlers: GCC 12 cannot co_return from inside one.)
  error_info info{code, std::move(diagnostic)};
  co_return result<T>{boost::system::in_place_error, std::move(info)};
}

}  // namespace coordination
