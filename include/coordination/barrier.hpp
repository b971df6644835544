/// \file
/// coordination::barrier and coordination::double_barrier — Go's concurrency recipes
/// (recipe.Barrier, recipe.DoubleBarrier) with the same key layout.
///
/// A barrier is one key: hold() creates it, release() deletes it, and wait() returns once it is
/// absent (at once when nobody holds it). A double barrier makes `count` participants meet
/// twice: enter() returns when `count` of them have entered, leave() when all of them have
/// left. Its keys are `<name>/waiters/<random>`, one per participant on its session's lease
/// (a participant that dies is counted out when its lease ends), and `<name>/ready`, put by the
/// entrant that completes the barrier and deleted by the last to leave.
///
/// Thread-safety: the client's executor only, like the client. Waits are cancelled by Asio
/// terminal cancellation (error::cancelled).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "coordination/client.hpp"
#include "coordination/session.hpp"

namespace coordination {

namespace detail {
struct barrier_state;
struct double_barrier_state;
}  // namespace detail

/// A barrier in the key `name` (used exactly as given). Move-only. Every call runs on the
/// awaiting coroutine's executor, which must be the client's, and holds the barrier's state
/// itself (the object may be destroyed while a call is in flight).
class barrier {
 public:
  /// A barrier on `c`. Throws coordination_error(invalid_argument) for an empty name.
  barrier(client& c, std::string name);
  /// Moves the handle; `other` is left empty.
  barrier(barrier&&) noexcept;
  /// Takes `other`'s barrier.
  barrier& operator=(barrier&&) noexcept;
  ~barrier();

  /// Creates the key if it is absent; returns false when it was held already.
  ///
  /// \par Errors
  /// The transport errors (unavailable, timeout, ...). \par Cancellation
  /// Terminal cancellation throws error::cancelled; the key may have been created.
  boost::asio::awaitable<bool> hold();
  /// Deletes the key (waking every wait()); nothing happens when it is absent.
  ///
  /// \par Errors
  /// The transport errors. \par Cancellation
  /// Terminal cancellation throws error::cancelled; the key may have been deleted.
  boost::asio::awaitable<void> release();
  /// Returns once the key is absent.
  ///
  /// \par Errors
  /// The transport and watch errors. \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<void> wait();

 private:
  std::shared_ptr<detail::barrier_state> state_;
};

/// A double barrier `name` for `count` participants, each entering with its own session.
/// Move-only; one enter() and one leave() per object, in that order.
class double_barrier {
 public:
  /// A double barrier on `s` (it shares the session's state). Throws
  /// coordination_error(invalid_argument) for an empty name or a count of 0.
  double_barrier(session& s, std::string name, std::size_t count);
  /// Moves the handle; `other` is left empty.
  double_barrier(double_barrier&&) noexcept;
  /// Takes `other`'s double barrier.
  double_barrier& operator=(double_barrier&&) noexcept;
  ~double_barrier();

  /// Puts this participant's key and returns once `count` participants have entered.
  ///
  /// \par Errors
  /// conflict when more than `count` entered (this one's key is removed again);
  /// invalid_argument when this object entered already; session_expired when the session was
  /// lost or closed before the call (a loss while waiting is not noticed: the key goes with the
  /// lease); the transport and watch errors.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled; the participant's key is removed in the
  /// background (it is on the session's lease in any case).
  boost::asio::awaitable<void> enter();
  /// Removes this participant's key and returns once every participant has left.
  ///
  /// \par Errors
  /// invalid_argument when this object has not entered; the transport and watch errors.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled; the key may be gone already.
  boost::asio::awaitable<void> leave();

 private:
  std::shared_ptr<detail::double_barrier_state> state_;
};

}  // namespace coordination
