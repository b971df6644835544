// Watches: a stream of changes to a key, a prefix or a key range, delivered in revision order,
// each revision exactly once, across broken connections and etcd restarts.
//
// Many watches share few connections (WebSocket upgrades of the gateway's /v3/watch, full
// duplex): the client's watch hub routes answers by watch id, caps watches per connection and
// connections per endpoint, and re-creates every watch of a broken stream from its last
// delivered revision + 1 on another connection or endpoint.
//
// Back-pressure: each watch queues at most watch_options::max_queued_events undelivered events.
// A consumer that falls further behind does not grow memory and does not slow other watches:
// the hub cancels that watch on the server and re-creates it from the first undelivered revision
// once the consumer has drained its queue. Nothing is lost, unless etcd compacts that revision
// meanwhile, which next() reports as error::compacted.
//
// Thread-safety: like the client, on the client's executor only. A watch_stream is cancelled when
// destroyed or by cancel(); next() supports Asio terminal cancellation (the watch stays usable).
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

enum class event_type { put, del };

struct watch_event {
  event_type type = event_type::put;
  key_value kv;                      // for a delete: key and mod_revision (the delete's revision)
  std::optional<key_value> prev_kv;  // with watch_options::prev_kv
};

struct watch_batch {
  std::int64_t revision = 0;        // the header revision of the answer (etcd's newest at the time)
  std::vector<watch_event> events;  // empty for a progress notification
};

struct watch_options {
  watch_options() {}                // not an aggregate: see the GCC 12 note in types.hpp
  std::string range_end;            // with watch(): watch [key, range_end)
  bool prefix = false;              // every key starting with the key
  std::int64_t start_revision = 0;  // 0: from now; n: replay from revision n
  bool prev_kv = false;
  // etcd sends empty batches now and then (10 min default): next() returns one when it moves
  // revision() past the last event (nothing else happened on the watched keys meanwhile).
  bool progress_notify = false;
  bool filter_put = false;     // leave out puts
  bool filter_delete = false;  // leave out deletes
  bool fragment = false;       // let etcd split huge revisions into several messages (reassembled)
  std::size_t max_queued_events = 4096;
};

class watch_stream {
 public:
  watch_stream();
  watch_stream(watch_stream&&) noexcept;
  watch_stream& operator=(watch_stream&&) noexcept;
  ~watch_stream();  // cancels

  // The next batch of events. Throws coordination_error: compacted (compact_revision() says
  // where history starts now), cancelled (after cancel()), or the error that ended the watch.
  boost::asio::awaitable<watch_batch> next();
  // Stops the watch on the server; a pending next() ends with error::cancelled.
  void cancel();

  std::int64_t id() const;
  std::int64_t last_revision() const;     // revision of the last event delivered (or seen)
  std::int64_t compact_revision() const;  // after error::compacted
  std::size_t queued_events() const;
  explicit operator bool() const { return state_ != nullptr; }

 private:
  friend struct detail::access;
  explicit watch_stream(std::shared_ptr<detail::watch_state> s);
  std::shared_ptr<detail::watch_state> state_;
};

}  // namespace coordination
