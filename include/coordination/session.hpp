// coordination::session — one etcd lease kept alive by a coroutine on the client's executor.
// Everything built on a session (locks, registrations, elections) shares its lease, so the
// keep-alive traffic is one small request per renewal interval (TTL/3 by default) however many
// of them there are.
//
// Loss is explicit: when renewals keep failing until the lease may have expired (last confirmed
// renewal + TTL), or etcd answers that the lease is gone, the session is lost: lost() turns true,
// wait_lost() completes with error::session_expired and every on_lost() callback runs once.
// Renewals fail over between endpoints like any other call. A lost session's lease is then
// revoked in the background as soon as etcd answers (etcd extends every lease at each leader
// election, so under repeated elections a lease nobody renews can live on for a long time,
// and with it the session's lock keys). That goes on (for a minute, or 6 TTLs if longer) also
// after the lost session is closed or destroyed, as work on the executor (io_context::run()
// returns after it); orphan() or client::close() ends it.
//
// Thread-safety: like the client, use a session from the client's executor only. Destroying the
// last handle stops the renewals and revokes the lease in the background (a detached request
// on the executor), logging that it did; close() does the same and waits for it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "coordination/client.hpp"

namespace coordination {

namespace detail {
struct session_state;
struct access;
}  // namespace detail

struct session_options {
  std::chrono::seconds ttl{10};
  // 0: TTL / 3. Renewals after a failure come faster (a quarter of this, at least 100 ms).
  std::chrono::milliseconds renew_interval{0};
  // Adopt an existing lease instead of granting one (it must still be alive).
  std::int64_t lease_id = 0;
};

class session {
 public:
  // Grants the lease (or adopts options.lease_id) and starts renewing it.
  static boost::asio::awaitable<session> create(client& c, session_options options = {});

  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  ~session();

  std::int64_t lease() const;
  std::chrono::seconds ttl() const;  // as granted by etcd
  std::chrono::milliseconds renew_interval() const;
  bool lost() const;
  // When the lease expires at the latest, from the last confirmed renewal.
  std::chrono::steady_clock::time_point expires_at() const;
  std::uint64_t renewals() const;  // confirmed renewals so far

  // Completes with error::session_expired once the session is lost, or error::cancelled when it
  // was closed or orphaned first. Cancellable (Asio terminal cancellation).
  boost::asio::awaitable<std::error_code> wait_lost();
  // Runs `f(error::session_expired)` once, on the executor, when the session is lost (at once
  // when it already is). Returns an id for remove_on_lost().
  std::uint64_t on_lost(std::function<void(std::error_code)> f);
  void remove_on_lost(std::uint64_t id);

  // Stops renewing and revokes the lease (its keys go at once). Idempotent.
  boost::asio::awaitable<void> close();
  // Stops renewing without revoking: the lease runs out after its TTL.
  void orphan();

  client& owner() const;

 private:
  friend struct detail::access;
  explicit session(std::shared_ptr<detail::session_state> s);
  std::shared_ptr<detail::session_state> state_;
};

}  // namespace coordination
