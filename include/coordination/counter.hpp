/// \file
/// coordination::counter — a shared 64-bit integer in one etcd key (Curator's
/// DistributedAtomicLong, etcd style). The key holds the value as decimal text (`etcdctl get`
/// shows it; `etcdctl put NAME 5` sets it); an absent key counts as 0.
///
/// Every change is optimistic: one txn that applies only if the key is still as last seen, and
/// that otherwise reads the key back in the same round trip; under contention the change is
/// tried again with what came back, so add() is atomic however many adders race. A counter
/// object remembers the key as it last saw it, so an add from an undisturbed counter is one
/// round trip.
///
/// Thread-safety: the client's executor only, like the client. A counter may be used by
/// several coroutines at once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "coordination/client.hpp"

namespace coordination {

namespace detail {
struct counter_state;
}

/// A counter in the key `name` (used exactly as given). Move-only; a moved-from counter may only
/// be destroyed or assigned to.
///
/// Every call runs on the awaiting coroutine's executor, which must be the client's, and holds
/// the counter's state itself: the counter object may be destroyed while a call is in flight.
/// Asio terminal cancellation of a call throws error::cancelled (see each call for what a
/// cancelled change may have done).
class counter {
 public:
  /// A counter on `c` (it shares the client's state). Throws coordination_error(invalid_argument)
  /// for an empty name.
  counter(client& c, std::string name);
  /// Moves the handle; `other` is left empty.
  counter(counter&&) noexcept;
  /// Takes `other`'s counter.
  counter& operator=(counter&&) noexcept;
  ~counter();

  /// The key's name.
  const std::string& name() const;

  /// The current value (a linearizable read).
  ///
  /// \par Errors
  /// invalid_argument when the key holds something other than a decimal int64 (the message
  /// shows it); the transport errors of a read (unavailable, timeout, ...).
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<std::int64_t> get();

  /// Adds `delta` (negative to subtract) and returns the value it made.
  ///
  /// \par Errors
  /// invalid_argument for a key that is not a decimal int64, or a sum that would overflow
  /// int64 (nothing is written); outcome_unknown or timeout when the write was sent and no
  /// answer came: it may have applied (read back before adding again); the other transport
  /// errors.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled; cancelled after its txn was sent, the add
  /// may have applied.
  boost::asio::awaitable<std::int64_t> add(std::int64_t delta);

  /// Sets the value to `desired` if it is `expected` (an absent key is 0); returns whether it
  /// did. A false answer means the value was not `expected` at a read made by this call (never
  /// only what this counter object saw last: another writer may have changed it since).
  ///
  /// \par Errors
  /// As add(), without the overflow.
  /// \par Cancellation
  /// As add().
  boost::asio::awaitable<bool> compare_and_set(std::int64_t expected, std::int64_t desired);

 private:
  std::shared_ptr<detail::counter_state> state_;
};

}  // namespace coordination
