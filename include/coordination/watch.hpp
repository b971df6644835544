/// \file
/// Watches: a stream of changes to a key, a prefix or a key range, delivered in revision order,
/// each revision exactly once, across broken connections and etcd restarts.
///
/// Many watches share few connections (WebSocket upgrades of the gateway's /v3/watch, full
/// duplex): the client's watch hub routes answers by watch id, caps watches per connection and
/// connections per endpoint, and re-creates every watch of a broken stream from its last
/// delivered revision + 1 on another connection or endpoint.
///
/// Back-pressure: each watch queues at most watch_options::max_queued_events undelivered events.
/// A consumer that falls further behind does not grow memory and does not slow other watches:
/// the hub cancels that watch on the server and re-creates it from the first undelivered
/// revision once the consumer has drained its queue. Nothing is lost, unless etcd compacts that
/// revision meanwhile, which next() reports as error::compacted.
///
/// Thread-safety: like the client, on the client's executor only. A watch_stream is cancelled
/// when destroyed or by cancel(); next() supports Asio terminal cancellation (the watch stays
/// usable).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordination/types.hpp"

namespace coordination {

namespace detail {
struct watch_state;
struct access;
}  // namespace detail

/// What a watch_event is: `put` (a key created or changed) or `del` (a key deleted, also by
/// the end of its lease).
enum class event_type { put, del };

/// One change of a watched key. A plain value, like the types of types.hpp.
struct watch_event {
  /// Whether the key was put or deleted.
  event_type type = event_type::put;
  /// for a delete: key and mod_revision (the delete's revision)
  key_value kv;
  std::optional<key_value> prev_kv;  ///< with watch_options::prev_kv
};

/// What one next() returns: the events of one or more revisions, in revision order, or a
/// progress notification. A plain value, like the types of types.hpp.
struct watch_batch {
  /// the header revision of the answer (etcd's newest at the time)
  std::int64_t revision = 0;
  std::vector<watch_event> events;  ///< empty for a progress notification
};

/// The options of client::watch(), watch_prefix() and watch_range(). A plain value, like the
/// types of types.hpp.
struct watch_options {
  watch_options() {}                ///< not an aggregate: see the GCC 12 note in types.hpp
  std::string range_end;            ///< with watch(): watch [key, range_end)
  bool prefix = false;              ///< every key starting with the key
  std::int64_t start_revision = 0;  ///< 0: from now; n: replay from revision n
  /// Deliver each event's key as it was before the event (watch_event::prev_kv).
  bool prev_kv = false;
  /// etcd sends empty batches now and then (10 min default): next() returns one when it moves
  /// watch_batch::revision past the last event (nothing else happened on the watched keys
  /// meanwhile).
  bool progress_notify = false;
  bool filter_put = false;     ///< leave out puts
  bool filter_delete = false;  ///< leave out deletes
  /// let etcd split huge revisions into several messages (reassembled)
  bool fragment = false;
  /// At most this many events received and not yet returned by next() (0 counts as 1); beyond
  /// it the watch pauses on the server (see the file's note on back-pressure).
  std::size_t max_queued_events = 4096;
};

/// A watch made by client::watch(), watch_prefix() or watch_range(): next() returns its
/// changes. A move-only handle; destroying it (or cancel()) stops the watch.
///
/// Thread-safety: the client's executor only, like the client. The handle may outlive its
/// client: once the client is closed or destroyed, the watch ends with error::cancelled.
class watch_stream {
 public:
  /// An empty handle, watching nothing (next() throws invalid_argument).
  watch_stream();
  /// Takes over the watch of the handle moved from, which becomes empty.
  watch_stream(watch_stream&&) noexcept;
  /// Cancels this handle's watch, then takes over that of the handle moved from, which
  /// becomes empty.
  watch_stream& operator=(watch_stream&&) noexcept;
  ~watch_stream();  ///< cancels

  /// The next batch of events. Throws coordination_error: compacted (compact_revision() says
  /// where history starts now), cancelled (after cancel()), or the error that ended the watch.
  ///
  /// Batches already queued are returned before the error that ended the watch. While no
  /// endpoint serves the watch (its stream broke and it is being placed again), next() waits:
  /// it has no deadline of its own.
  ///
  /// \par Errors
  /// - error::compacted: the watch's next revision was compacted (compact_revision()).
  /// - error::cancelled: after cancel() or the handle's destruction, after the client's close()
  ///   or destruction, or the caller's cancellation (below).
  /// - error::permission_denied: etcd refused or cancelled the watch for the user's roles.
  /// - error::auth_failed: etcd refused the watch for want of a valid auth token.
  /// - error::server_error: etcd cancelled the watch for another reason (the diagnostic says
  ///   which).
  /// - error::invalid_argument: on an empty handle (default-constructed or moved from).
  /// \par Cancellation
  /// Asio terminal cancellation of a pending next() throws error::cancelled and leaves the
  /// watch as it was: it keeps running, and the events that arrive meanwhile are returned by
  /// the next call of next(). Nothing is lost.
  /// \par Executor and lifetimes
  /// Await it from a coroutine on the client's executor. The handle must be alive when the
  /// awaitable starts; the operation then holds the watch's state itself, and destroying or
  /// cancelling the handle meanwhile ends it with error::cancelled.
  boost::asio::awaitable<watch_batch> next();
  /// Stops the watch on the server; a pending next() ends with error::cancelled.
  /// Batches already queued are still returned by later next() calls, then error::cancelled.
  /// Does nothing on an empty handle or a watch that has ended.
  void cancel();

  /// The watch's id in this client, stable across re-creations (not etcd's watch_id); 0 for
  /// an empty handle.
  std::int64_t id() const;
  std::int64_t last_revision() const;     ///< revision of the last event delivered (or seen)
  std::int64_t compact_revision() const;  ///< after error::compacted
  /// Events received and not yet returned by next().
  std::size_t queued_events() const;
  /// False for an empty handle (default-constructed or moved from); true otherwise, also once
  /// the watch has ended.
  explicit operator bool() const { return state_ != nullptr; }

 private:
  friend struct detail::access;
  explicit watch_stream(std::shared_ptr<detail::watch_state> s);
  std::shared_ptr<detail::watch_state> state_;
};

}  // namespace coordination
