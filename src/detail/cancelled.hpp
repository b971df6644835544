// Cancellation as the library reports it. Once a caller has cancelled a coroutine (Asio
// terminal cancellation), Asio throws boost::system::system_error(operation_aborted) at that
// coroutine's next co_await, in whichever library frame it is; the library's calls report
// coordination_error(cancelled) instead, naming the call.
#pragma once

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <exception>
#include <string>

#include "coordination/error.hpp"

namespace coordination::detail {

// `e`, or coordination_error(cancelled) when `e` is Asio's operation_aborted.
inline std::exception_ptr as_library_error(std::exception_ptr e, const std::string& call) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& x) {
    if (x.code() == boost::asio::error::operation_aborted)
      return std::make_exception_ptr(coordination_error(error::cancelled, call + ": cancelled"));
  } catch (...) {
  }
  return e;
}

// The catch clause around the body of a public call that awaits several steps:
//   } catch (const boost::system::system_error& e) { rethrow_as_library_error(e, "call"); }
// operation_aborted becomes coordination_error(cancelled); anything else is rethrown as it is.
[[noreturn]] inline void rethrow_as_library_error(const boost::system::system_error& e,
                                                  const std::string& call) {
  if (e.code() == boost::asio::error::operation_aborted)
    throw coordination_error(error::cancelled, call + ": cancelled");
  throw;
}

// For wait loops on a timer used as a signal (a wait ends with operation_aborted both when the
// signal is given and when the caller cancels): throws coordination_error(cancelled) when the
// caller has cancelled. Use: check_cancelled(co_await asio::this_coro::cancellation_state, ...).
inline void check_cancelled(const boost::asio::cancellation_state& state, const std::string& call) {
  if (state.cancelled() != boost::asio::cancellation_type::none)
    throw coordination_error(error::cancelled, call + ": cancelled");
}

}  // namespace coordination::detail
