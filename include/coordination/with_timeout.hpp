/// \file
/// with_timeout(op, d): runs an awaitable of this library with a deadline of its own; when `d`
/// passes first, the operation is cancelled (Asio terminal cancellation) and coordination_error
/// (timeout) is thrown; when the operation ends first (value or exception), the timer is
/// cancelled. An operation that succeeded although the deadline passed while its completion was
/// queued returns its value: a lock taken or a write whose success came back is never reported as
/// a timeout. Stands in for asio::cancel_after, which Boost 1.81 does not have.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>

#include "coordination/error.hpp"

namespace coordination {

namespace detail {
// The caller's cancellation, also cancelling `op` and the timer, is reported as the library
// reports it (not as "deadline passed", nor as Asio's operation_aborted from `op`).
inline void throw_if_caller_cancelled(const boost::asio::cancellation_state& state) {
  if (state.cancelled() != boost::asio::cancellation_type::none)
    throw coordination_error(error::cancelled, "with_timeout: cancelled");
}
}  // namespace detail

/// Awaits `op` with a deadline `d` from now: returns its value, or throws coordination_error
/// (timeout) when `d` passes first (see the file's description):
/// \code
/// auto l = co_await coordination::with_timeout(coord.lock("jobs/nightly"), 5s);
/// \endcode
///
/// \par Errors
/// error::timeout ("deadline passed") when `d` passed before `op` ended and `op` did not succeed;
/// error::cancelled when the caller cancelled; otherwise whatever `op` threw, unchanged.
/// \par Cancellation
/// The deadline cancels `op` like a caller's Asio terminal cancellation would, so what `op` does
/// when cancelled applies: a lock or campaign waiter removes its key, and a write cancelled after
/// it was sent may still have been applied (its answer did not come back in time): `timeout`
/// then means "outcome unknown" for a write. Cancelled by its own caller, with_timeout cancels
/// `op` and the timer and throws error::cancelled (not "deadline passed", nor Asio's
/// operation_aborted), unless `op` succeeded meanwhile: then it returns the value.
/// \par Executor and lifetimes
/// `op` and the timer run on the awaiting coroutine's executor (`op` is spawned there); for the
/// library's awaitables that must be the client's. `op` is taken by value, but whatever `op`
/// needs to outlive (the object it was called on, arguments it took by reference) must outlive
/// with_timeout too.
template <class T>
boost::asio::awaitable<T> with_timeout(boost::asio::awaitable<T> op,
                                       std::chrono::steady_clock::duration d) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, d);
  auto group = asio::experimental::make_parallel_group(
      asio::co_spawn(ex, std::move(op), asio::deferred), timer.async_wait(asio::deferred));
  if constexpr (std::is_void_v<T>) {
    auto [order, failure, timer_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    if (!failure) co_return;  // (done, even if the deadline passed while its end was queued)
    detail::throw_if_caller_cancelled(co_await asio::this_coro::cancellation_state);
    if (order[0] == 1) throw coordination_error(error::timeout, "deadline passed");
    std::rethrow_exception(failure);
  } else {
    auto [order, failure, value, timer_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)timer_ec;
    if (!failure) co_return std::move(value);  // (even if the deadline passed meanwhile)
    detail::throw_if_caller_cancelled(co_await asio::this_coro::cancellation_state);
    if (order[0] == 1) throw coordination_error(error::timeout, "deadline passed");
    std::rethrow_exception(failure);
  }
}

}  // namespace coordination
