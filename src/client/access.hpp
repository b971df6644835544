// The library's way into its public handles: their pImpl state and the constructors from it. A
// friend of client, session, lock_handle, watch_stream, service_watch and service_connection, so
// that no public signature names a detail:: type. Only the library (and its tests) include it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <utility>

#include "coordination/client.hpp"
#include "coordination/lock.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"

namespace coordination::detail {

struct access {
  static client_impl& impl(const client& c) { return *c.impl_; }
  // Another handle on the same client (same connections, watches and config): the upper layers
  // keep one, so that moving or destroying the user's handle does not strand them.
  static client share(const client& c) { return client(c.impl_); }
  static const std::shared_ptr<session_state>& state(const session& s) { return s.state_; }
  static session make_session(std::shared_ptr<session_state> s) { return session(std::move(s)); }
  static const std::shared_ptr<held_lock>& state(const lock_handle& h) { return h.state_; }
  static lock_handle make_lock_handle(std::shared_ptr<held_lock> h) {
    return lock_handle(std::move(h));
  }
  static watch_stream make_watch_stream(std::shared_ptr<watch_state> w) {
    return watch_stream(std::move(w));
  }
  static service_watch make_service_watch(std::shared_ptr<service_subscriber> s) {
    return service_watch(std::move(s));
  }
  static service_connection make_service_connection(boost::asio::ip::tcp::socket s,
                                                    service_info instance,
                                                    std::shared_ptr<service_cache> cache) {
    return service_connection(std::move(s), std::move(instance), std::move(cache));
  }
};

// The client's shared state: its transport, watch hub, task group, executor and config.
inline client_impl& impl_of(const client& c) {
  return access::impl(c);
}

}  // namespace coordination::detail
