// The library's one error boundary: cancellation as the library reports it.
//
// Once a caller cancels a coroutine (Asio cancellation of the thread that awaits a library
// call), Asio throws boost::system::system_error(operation_aborted) at that thread's next
// co_await, in whichever frame it is. The library's calls report coordination_error(cancelled)
// instead, and they do it without a try/catch per call: a thread's cancellation state can only
// change while it is suspended, so it is enough that every place where a library call suspends
// reports the caller's cancellation when it resumes. After that no frame of the library reaches
// another co_await with the state cancelled (an exception unwinds them). The places:
//   - http_transport::run: every request to etcd (also when the answer came meanwhile), and
//     http_transport::answers_http: refresh_endpoints()' probes;
//   - wait_signal() below: every wait of a library call on a timer used as a wake-up signal;
//   - with_timeout() (public header): a deadline over a step the library does not own;
//   - create_to_the_end() (lock recipes): a request run to its end in a thread of its own.
// Frames that catch an error and go on (retry loops, clean-up) let error::cancelled through
// (rethrow_if_cancelled).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <string>
#include <string_view>

#include "coordination/error.hpp"

namespace coordination::detail {

// Throws coordination_error(cancelled, "<what>: cancelled") when the caller has cancelled.
// Use: throw_if_cancelled(co_await asio::this_coro::cancellation_state, "...") right after a
// suspension (co_await this_coro::cancellation_state itself never throws).
inline void throw_if_cancelled(const boost::asio::cancellation_state& state,
                               std::string_view what) {
  if (state.cancelled() != boost::asio::cancellation_type::none)
    throw coordination_error(error::cancelled, std::string(what) + ": cancelled");
}

// For a catch clause that notes an error and goes on (tries the next instance, releases the
// next lock): a cancellation ends the call instead. Call it first in the clause.
inline void rethrow_if_cancelled(const std::exception& e) {
  if (auto* ce = dynamic_cast<const coordination_error*>(&e); ce && ce->code() == error::cancelled)
    throw;
}

// Waits on `signal`, a timer the library cancels or lets expire to wake the waiter (a wait
// ends with operation_aborted both when the signal is given and when the caller cancels, so
// the wait itself never throws). Returns once woken, or throws coordination_error(cancelled)
// when the caller cancelled; the caller's own state (woken flags, deadlines) says the rest.
inline boost::asio::awaitable<void> wait_signal(boost::asio::steady_timer& signal,
                                                std::string what) {
  co_await signal.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  throw_if_cancelled(co_await boost::asio::this_coro::cancellation_state, what);
}

}  // namespace coordination::detail
