/// \file
/// coordination::session — one etcd lease kept alive by a coroutine on the client's executor.
/// Everything built on a session (locks, registrations, elections) shares its lease, so the
/// keep-alive traffic is one small request per renewal interval (TTL/3 by default) however many
/// of them there are.
///
/// Loss is explicit: when renewals keep failing until the lease may have expired (last confirmed
/// renewal + TTL), or etcd answers that the lease is gone, the session is lost: lost() turns true,
/// wait_lost() completes with error::session_expired and every on_lost() callback runs once.
/// Renewals fail over between endpoints like any other call. A lost session's lease is then
/// revoked in the background as soon as etcd answers (etcd extends every lease at each leader
/// election, so under repeated elections a lease nobody renews can live on for a long time,
/// and with it the session's lock keys). That goes on (for a minute, or 6 TTLs if longer) also
/// after the lost session is closed or destroyed, as work on the executor (io_context::run()
/// returns after it); orphan() or client::close() ends it.
///
/// Thread-safety: like the client, use a session from the client's executor only. Destroying the
/// last handle stops the renewals and revokes the lease in the background (a detached request
/// on the executor), logging that it did; close() does the same and waits for it.
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

/// What session::create() grants or adopts. A plain value.
struct session_options {
  /// The lease's TTL asked of etcd; must be positive (session::ttl() says what etcd granted).
  /// Not used when adopting a lease (`lease_id`): that lease keeps its own TTL.
  std::chrono::seconds ttl{10};
  /// 0: TTL / 3. Renewals after a failure come faster (a quarter of this, at least 100 ms).
  /// Must not be negative.
  std::chrono::milliseconds renew_interval{0};
  /// Adopt an existing lease instead of granting one (it must still be alive).
  std::int64_t lease_id = 0;
};

/// One etcd lease and the coroutine on the client's executor that renews it (see the file
/// comment for renewals, loss and revocation). Locks (locker), elections (elector) and any key
/// put with `put_options::lease = lease()` live on it.
///
/// Move-only; a moved-from session may only be destroyed or assigned to. Thread-safety: the
/// client's executor only, like the client.
class session {
 public:
  /// Grants the lease (or adopts options.lease_id) and starts renewing it.
  ///
  /// \par Errors
  /// invalid_argument for a `ttl` that is not positive, a negative `renew_interval` or a
  /// negative `lease_id`; lease_not_found when the lease to adopt is gone; and the transport
  /// errors of the grant (or of the adopting renewal): unavailable, timeout, outcome_unknown,
  /// ..., cancelled after client::close().
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A grant cancelled after it was sent
  /// may still have been applied: that lease holds no key and expires after its TTL. No session
  /// (and no renewal) exists afterwards.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's; the keep-alive
  /// coroutine runs on the client's executor. `c` is taken by reference and must outlive the
  /// operation; the session then shares the client's state (the client handle may be moved or
  /// destroyed, client::close() ends the session's work).
  static boost::asio::awaitable<session> create(client& c, session_options options = {});

  /// Moves the handle; `other` is left empty.
  session(session&&) noexcept;
  /// Ends what this handle held (as the destructor does), then takes `other`'s session.
  session& operator=(session&&) noexcept;
  /// Stops renewing and, unless the session was closed, orphaned or lost, revokes the lease in
  /// the background and logs that it was dropped without close().
  ~session();

  /// The lease id.
  std::int64_t lease() const;
  std::chrono::seconds ttl() const;  ///< The lease's TTL, as granted by etcd.
  /// The time between renewals (session_options::renew_interval, or TTL / 3).
  std::chrono::milliseconds renew_interval() const;
  /// True once the session is lost (not after close() or orphan()).
  bool lost() const;
  /// When the lease expires at the latest, from the last confirmed renewal.
  std::chrono::steady_clock::time_point expires_at() const;
  std::uint64_t renewals() const;  ///< Confirmed renewals so far.

  /// Completes with error::session_expired once the session is lost, or error::cancelled when it
  /// was closed or orphaned first. Cancellable (Asio terminal cancellation).
  ///
  /// \par Errors
  /// None thrown: the outcome is the returned code (session_expired, or cancelled after
  /// close(), orphan(), the session's destruction or client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation ends the wait: it then returns error::cancelled (it does not
  /// throw). Nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The session must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the session's state, and destroying the session completes it with error::cancelled.
  boost::asio::awaitable<std::error_code> wait_lost();
  /// Runs `f(error::session_expired)` once, on the executor, when the session is lost (at once
  /// when it already is). Returns an id for remove_on_lost().
  ///
  /// "At once" means posted to the client's executor, never run inside on_lost(). A callback
  /// that has not run is dropped by close(), orphan() and the session's destruction.
  std::uint64_t on_lost(std::function<void(std::error_code)> f);
  /// Removes a callback added by on_lost() that has not run yet; an unknown id is ignored.
  void remove_on_lost(std::uint64_t id);

  /// Stops renewing and revokes the lease (its keys go at once). Idempotent.
  ///
  /// A lost session sends nothing here: its lease is being revoked in the background already.
  ///
  /// \par Errors
  /// The transport errors of the revoke request (unavailable, timeout, ..., cancelled after
  /// client::close()); lease_not_found is not an error (the lease is gone already). After a
  /// failure the session is stopped all the same, a second close() returns at once, and the
  /// revoke is retried in the background until etcd answers (for a minute, or 6 TTLs if longer;
  /// as for a lost session), since each new leader would extend the lease by its TTL.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A revoke cancelled after it was sent may
  /// still be applied; the session is stopped either way (as after a failure).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The session must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the session's state.
  boost::asio::awaitable<void> close();
  /// Stops renewing without revoking: the lease runs out after its TTL.
  ///
  /// Also ends the background revocation of a lost session's lease.
  void orphan();

  /// The client the session was created with (a handle sharing its state).
  client& owner() const;

 private:
  friend struct detail::access;
  explicit session(std::shared_ptr<detail::session_state> s);
  std::shared_ptr<detail::session_state> state_;
};

}  // namespace coordination
