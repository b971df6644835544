/// \file
/// coordination::queue — a FIFO work queue in etcd (Go's recipe.Queue, made safe against lost
/// answers): push() adds an item, pop() waits until there is one and takes the oldest. Each
/// item goes to exactly one popper, in the order of the pushes' revisions.
///
/// Keys under the queue's name N: `N/items/<16 hex digits>` per item (its value is the item),
/// and `N/claims/<16 hex digits>`, one per push or pop attempt, on a lease of 90 s that the
/// queue object grants (they expire by themselves). A push or pop is one txn that also
/// writes its claim, so resending it after a lost answer (a member killed or paused while it
/// was in flight) finds what the first sending did: no item is pushed twice, popped twice, or
/// taken by a pop that never returns it. Such resends go on, with backoff, for up to 40 s of
/// failures; then the call throws the last error.
///
/// coordination::priority_queue is the same with a priority per item (Go's recipe.PriorityQueue):
/// items are `N/items/<5-digit priority>/<16 hex digits>`, and a pop takes the oldest item of
/// the lowest priority number that has items (0 first). Its pop reads twice (the first
/// priority, then its oldest item).
///
/// Thread-safety: the client's executor only, like the client. Several coroutines (and
/// processes) may push and pop at once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "coordination/client.hpp"

namespace coordination {

namespace detail {
struct queue_state;
}

/// A queue named `name` (a key prefix, used as given). Move-only; a moved-from queue may only be
/// destroyed or assigned to.
///
/// Every call runs on the awaiting coroutine's executor, which must be the client's, and holds
/// the queue's state itself: the queue object may be destroyed while a call is in flight.
class queue {
 public:
  /// A queue on `c` (it shares the client's state). Throws coordination_error(invalid_argument)
  /// for an empty name.
  queue(client& c, std::string name);
  /// Moves the handle; `other` is left empty.
  queue(queue&&) noexcept;
  /// Takes `other`'s queue.
  queue& operator=(queue&&) noexcept;
  ~queue();

  /// The queue's name.
  const std::string& name() const;

  /// Adds `value` at the tail; returns the revision that orders it.
  ///
  /// \par Errors
  /// The transport errors (unavailable, timeout, ...) once resending gave up (see the file
  /// comment), and lease_not_found if the queue's claim lease went meanwhile; the push may then
  /// have applied.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled; cancelled after its txn was sent, the push
  /// may have applied.
  boost::asio::awaitable<std::int64_t> push(std::string value);

  /// Waits until the queue has an item and takes the oldest; returns its value.
  ///
  /// \par Errors
  /// As push(); an item taken by a pop that then throws is lost (only after 40 s of failures).
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled. Cancelled while waiting, nothing was taken;
  /// cancelled while its take was in flight, the item may have been taken and is then lost.
  boost::asio::awaitable<std::string> pop();

  /// Takes the oldest item if there is one, without waiting; nullopt when the queue is empty.
  ///
  /// \par Errors
  /// As pop().
  /// \par Cancellation
  /// As pop().
  boost::asio::awaitable<std::optional<std::string>> try_pop();

  /// How many items the queue holds now (a linearizable count).
  ///
  /// \par Errors
  /// The transport errors of a read.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<std::int64_t> size();

 private:
  std::shared_ptr<detail::queue_state> state_;
};

/// A priority queue named `name` (see the file comment): pop() takes the oldest item of the
/// lowest priority number. Exactly once, cancellation, errors and lifetimes as for queue. Use
/// one layout per name: a queue and a priority_queue of the same name see each other's items
/// in no useful order.
class priority_queue {
 public:
  /// A priority queue on `c`. Throws coordination_error(invalid_argument) for an empty name.
  priority_queue(client& c, std::string name);
  /// Moves the handle; `other` is left empty.
  priority_queue(priority_queue&&) noexcept;
  /// Takes `other`'s queue.
  priority_queue& operator=(priority_queue&&) noexcept;
  ~priority_queue();

  /// The queue's name.
  const std::string& name() const;

  /// Adds `value` with `priority` (0 is popped first); returns the revision that orders it
  /// among the items of its priority.
  ///
  /// \par Errors
  /// As queue::push().
  /// \par Cancellation
  /// As queue::push().
  boost::asio::awaitable<std::int64_t> push(std::string value, std::uint16_t priority);

  /// Waits until the queue has an item and takes the oldest of the lowest priority number.
  ///
  /// \par Errors
  /// As queue::pop().
  /// \par Cancellation
  /// As queue::pop().
  boost::asio::awaitable<std::string> pop();

  /// Takes the item pop() would, without waiting; nullopt when the queue is empty.
  ///
  /// \par Errors
  /// As queue::pop().
  /// \par Cancellation
  /// As queue::pop().
  boost::asio::awaitable<std::optional<std::string>> try_pop();

  /// How many items the queue holds now, of every priority (a linearizable count).
  ///
  /// \par Errors
  /// The transport errors of a read.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<std::int64_t> size();

 private:
  std::shared_ptr<detail::queue_state> state_;
};

}  // namespace coordination
