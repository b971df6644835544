/// \file
/// coordination::coordinator — one object for an application's coordination needs: locks,
/// elections, the service registry and the config center over one etcd client, one session
/// lease and one watch hub.
///
/// \code
/// coordinator coord(io.get_executor(), config::from_env());
/// auto l = co_await coord.lock("orders/42", 15s);
/// \endcode
///
/// Keys: locks under config::locks.prefix, elections under config::elections_prefix, services
/// and config values under their sections' prefixes. module("orders") is a view that scopes every
/// key under the module's name (locks "<lock prefix>orders/<name>", config "orders/<key>",
/// services "<registry prefix>orders/<name>/<id>").
///
/// Thread model: a coordinator and everything it hands out run on the executor it was built
/// with. None of it is thread-safe: call it from coroutines on that executor. On a
/// multi-threaded io_context, build it on a strand (asio::make_strand(io)) and call it from
/// coroutines spawned on that strand; other threads reach it with asio::post / co_spawn onto the
/// strand. Every awaitable completes within the etcd request timeout unless it waits by design
/// (lock, campaign, watches), and every one is cancelled by Asio terminal cancellation.
///
/// Cancellation, for every awaitable here: Asio terminal cancellation throws
/// coordination_error(cancelled), never Asio's operation_aborted; a write cancelled after its
/// request was sent may or may not have been applied (it throws cancelled all the same; see
/// error::outcome_unknown). Executor, for every awaitable: the awaiting coroutine's, which must
/// be the coordinator's (or its strand).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "coordination/client.hpp"
#include "coordination/config_center.hpp"
#include "coordination/coordinator_config.hpp"
#include "coordination/election.hpp"
#include "coordination/lock.hpp"
#include "coordination/observability.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"

namespace coordination {

namespace detail {
struct coordinator_state;
}

class coordinator;

/// A view of a coordinator that scopes every key under one module name. Cheap to create; the
/// coordinator must outlive it.
///
/// Made by coordinator::module(). Its locks and campaigns are the coordinator's (on its session,
/// released by its close()); its registry and config center are its own, on the coordinator's
/// client, with keys under the module's name. Copies share them. Thread-safety: as the
/// coordinator's, on its executor only.
class coordinator_module {
 public:
  /// Throws invalid_argument when `name` is empty or contains '/'.
  coordinator_module(coordinator& parent, std::string name);
  /// The module's name.
  const std::string& name() const { return name_; }
  /// \name Locks
  /// The coordinator's lock calls, with names under "<locks.prefix><module>/".
  ///
  /// Each is the coordinator's call of the same name with `name` prefixed by "<module>/": its
  /// errors, cancellation, executor and lifetimes are the coordinator's (see coordinator::lock).
  /// The coordinator and this module must outlive the awaited call.
  ///@{

  /// coordinator::lock() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::lock().
  /// \par Cancellation
  /// As coordinator::lock(): error::cancelled, the waiter's key removed.
  /// \par Executor and lifetimes
  /// As coordinator::lock(); the coordinator must outlive the awaited call.
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl = {});
  /// coordinator::try_lock() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::try_lock(): locked when someone holds or waits for it.
  /// \par Cancellation
  /// As coordinator::lock().
  /// \par Executor and lifetimes
  /// As coordinator::lock().
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl = {});
  /// coordinator::reentrant_lock() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::lock().
  /// \par Cancellation
  /// As coordinator::lock().
  /// \par Executor and lifetimes
  /// As coordinator::lock().
  boost::asio::awaitable<lock_handle> reentrant_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
  /// coordinator::read_lock() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::lock().
  /// \par Cancellation
  /// As coordinator::lock().
  /// \par Executor and lifetimes
  /// As coordinator::lock().
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl = {});
  /// coordinator::write_lock() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::lock().
  /// \par Cancellation
  /// As coordinator::lock().
  /// \par Executor and lifetimes
  /// As coordinator::lock().
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl = {});
  /// coordinator::acquire_semaphore() on "<module>/<name>".
  /// \par Errors
  /// As coordinator::acquire_semaphore(): invalid_argument when `permits` is below 1.
  /// \par Cancellation
  /// As coordinator::lock().
  /// \par Executor and lifetimes
  /// As coordinator::lock().
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits,
                                                        std::chrono::seconds ttl = {});
  ///@}
  /// coordinator::campaign() in the election "<module>/<election>".
  /// \par Errors
  /// As coordinator::campaign().
  /// \par Cancellation
  /// As coordinator::campaign(): error::cancelled, the candidate's key removed.
  /// \par Executor and lifetimes
  /// As coordinator::campaign(); the coordinator must outlive the awaited call.
  boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
  /// The module's service registry: services under "<registry.prefix><module>/". Closed (its
  /// services deregistered) by coordinator::close(), like the coordinator's own.
  service_registry& registry() { return *registry_; }
  /// The module's config center: keys under "<module>/" of the coordinator's config prefix
  /// (meta and history likewise).
  coordination::config_center& config_center() { return *config_; }

 private:
  coordinator* parent_;
  std::string name_;
  std::shared_ptr<service_registry> registry_;
  std::shared_ptr<coordination::config_center> config_;
};

/// One object for an application's coordination needs (see the file's description): locks and
/// elections on one session lease, a service registry and a config center, over one etcd
/// client.
///
/// Not copyable or movable. Thread-safety: none; it and everything it hands out are used from
/// its executor only (one thread or strand), see the file's description.
class coordinator {
 public:
  /// Validates `cfg` (invalid_argument naming the field). Connects lazily.
  ///
  /// The client logs to etcd.logger, or else to the spdlog logger named "coordination" (a clone
  /// of the default logger when there is none); that logger's level is set to `log_level`.
  /// Makes the metrics registry and tracer that enable_metrics / enable_tracing ask for.
  coordinator(boost::asio::any_io_executor ex, config cfg);
  ~coordinator();  ///< like close() without waiting: leases revoked in the background
  /// Not copyable.
  coordinator(const coordinator&) = delete;
  /// Not copyable.
  coordinator& operator=(const coordinator&) = delete;

  /// \name Locks
  /// Locks named `name` under locks.prefix (see lock.hpp for the recipes). ttl 0 means
  /// locks.default_ttl: the key is on the coordinator's session lease; another ttl gives the
  /// lock a lease of its own, revoked on release. Every lock handed out is released by close().
  /// Errors: invalid_argument (empty name, bad permits), locked (try_lock), session_expired (the
  /// session was lost while waiting), cancelled (close(), or Asio terminal cancellation: the
  /// waiter's key is removed), and the client's (unavailable, timeout...). Waits are unbounded:
  /// bound them with with_timeout().
  ///
  /// The first lock call creates the session (a lease grant), and one lost is replaced at the
  /// next call. Each lock call documents its errors, cancellation, executor and lifetimes;
  /// most are as lock()'s.
  ///@{

  /// lock: a mutex, FIFO (reentrant when locks.reentrant is set).
  ///
  /// \par Errors
  /// invalid_argument for an empty name or a negative ttl (before anything is sent);
  /// session_expired, or lock_lost, when the session was lost (or the waiter's key expired)
  /// while waiting; cancelled when the coordinator is closed (also when close() runs while it
  /// waits: a lock taken then is released again); and the client's errors (unavailable,
  /// timeout, outcome_unknown, ...), also those of creating the session. A waiter that fails
  /// removes its key: no lock is left held.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled and removes the waiter's key (after
  /// its create's answer came): no lock is left held or queued. A lease of its own (a ttl other
  /// than the session's) is revoked in the background.
  /// \par Executor and lifetimes
  /// The coordinator's executor. The coordinator must outlive the awaited call; `name` is
  /// copied. The lock_handle returned does not need the awaited call, and close() releases it.
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl = {});
  /// try_lock: the mutex if nobody holds or waits for it; otherwise throws locked at once.
  ///
  /// \par Errors
  /// locked when someone (another process, or another coroutine of this coordinator) holds or
  /// waits for it; otherwise as lock().
  /// \par Cancellation
  /// As lock(): error::cancelled, its key removed.
  /// \par Executor and lifetimes
  /// As lock().
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl = {});
  /// reentrant_lock: a second call for a name this coordinator holds by reentrant_lock counts up
  /// instead of waiting (lock_handle::acquire_count()); each release() undoes one, the last
  /// deletes the key. It excludes lock() of the same name like any other holder, unless
  /// locks.reentrant is set: lock() is then reentrant too, and both count on the same holder.
  ///
  /// \par Errors
  /// As lock().
  /// \par Cancellation
  /// As lock().
  /// \par Executor and lifetimes
  /// As lock().
  boost::asio::awaitable<lock_handle> reentrant_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
  /// read_lock / write_lock: many readers or one writer; a waiting writer blocks later readers.
  ///
  /// This is the read side: it waits for earlier writers only.
  /// \par Errors
  /// As lock().
  /// \par Cancellation
  /// As lock().
  /// \par Executor and lifetimes
  /// As lock().
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl = {});
  /// The write side of read_lock(): waits for every earlier reader and writer.
  ///
  /// \par Errors
  /// As lock().
  /// \par Cancellation
  /// As lock().
  /// \par Executor and lifetimes
  /// As lock().
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl = {});
  /// acquire_semaphore: at most `permits` holders at once, in request order.
  ///
  /// \par Errors
  /// invalid_argument when `permits` is below 1; otherwise as lock().
  /// \par Cancellation
  /// As lock().
  /// \par Executor and lifetimes
  /// As lock().
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits,
                                                        std::chrono::seconds ttl = {});
  ///@}
  /// The coordinator's locker on its session; names are used as given (no prefix). Shared: it
  /// stays valid after the session is replaced (its locks then fail with session_expired; call
  /// locks() again for the new session's).
  ///
  /// Locks taken through it are not among those close() releases: those on the session's lease
  /// go when close() revokes it.
  /// \par Errors
  /// cancelled when the coordinator is closed, and the errors of creating the session when there
  /// is none (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; a lease granted meanwhile holds no key
  /// and expires after its TTL.
  /// \par Executor and lifetimes
  /// The coordinator's executor; the coordinator must outlive the awaited call. The locker
  /// returned is used on that executor too.
  boost::asio::awaitable<std::shared_ptr<locker>> locks();
  /// Campaigns in the election `election` under elections_prefix with the proposal `value`;
  /// waits until this candidate leads and returns its leadership (etcd's election recipe, on
  /// the coordinator's session; see elector::campaign). Campaigns of one election through one
  /// coordinator share its session, so they take turns in a local FIFO. The leadership is
  /// resigned by close().
  ///
  /// \par Errors
  /// invalid_argument for an empty election; session_expired or lock_lost when the session was
  /// lost while waiting; cancelled when the coordinator is closed; and the client's errors
  /// (unavailable, timeout, ...), also those of creating the session. The wait is unbounded:
  /// bound it with with_timeout().
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled and removes the candidate's key.
  /// \par Executor and lifetimes
  /// The coordinator's executor. The coordinator must outlive the awaited call; the arguments
  /// are copied.
  boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
  /// The current leader of `election` (under elections_prefix), or nullopt when nobody
  /// campaigns: one read (see current_leader()).
  ///
  /// \par Errors
  /// invalid_argument for an empty election (thrown where awaited); and the transport errors
  /// of a read (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// The coordinator's executor; the coordinator must outlive the awaited call; `election` is
  /// copied.
  boost::asio::awaitable<std::optional<leader_info>> leader(std::string election);
  /// A stream of `election`'s leaders (see leader_observer), on the coordinator's client; needs
  /// no session. Throws invalid_argument for an empty election. It ends (error::cancelled) when
  /// the coordinator is closed.
  leader_observer observe(std::string election);

  /// The coordinator's service registry (services under registry.prefix; close() deregisters
  /// them).
  service_registry& registry();
  /// The coordinator's config center (keys under config_center.prefix).
  coordination::config_center& config_center();
  /// The etcd client everything runs on (closed by close()).
  client& etcd();
  /// The session the locks and elections use (created on first use, replaced after a loss).
  /// Shared: a handle taken before a replacement stays valid (and lost()).
  ///
  /// \par Errors
  /// cancelled when the coordinator is closed, and the errors of creating the session when
  /// there is none or it was lost (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; a lease granted meanwhile holds no key
  /// and expires after its TTL.
  /// \par Executor and lifetimes
  /// The coordinator's executor; the coordinator must outlive the awaited call.
  boost::asio::awaitable<std::shared_ptr<session>> current_session();

  /// Status of the endpoint in use: throws unavailable when etcd does not answer. When etcd
  /// refuses status to this user (root only with auth on in 3.5.28-3.5.31 / 3.6.0-3.6.11), what
  /// the user may learn instead, with status_result::restricted set (see there).
  ///
  /// \par Errors
  /// unavailable, or timeout (a member that accepts connections but does not answer), when
  /// etcd does not answer; permission_denied when the user may not read locks.prefix either;
  /// and the other transport errors of a read.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (reads only).
  /// \par Executor and lifetimes
  /// The coordinator's executor; the coordinator must outlive the awaited call.
  boost::asio::awaitable<status_result> ping();
  /// Graceful: releases the locks it handed out, deregisters its services, revokes its lease,
  /// closes its connections, in that order. Idempotent.
  ///
  /// Then it waits for the client's background work to end. Later calls fail with cancelled.
  /// The modules' services are deregistered too. Every step is tried even when one before it
  /// failed, so the connections are closed and the background work ends whatever happens; the
  /// first failure is thrown at the end. Lock releases that fail are logged, not thrown.
  /// \par Errors
  /// The first failure of deregistering or revoking the leases (the session's, the
  /// registries'): unavailable, timeout, outcome_unknown, ...; what failed is not retried (a
  /// later close() returns at once) and leases left behind expire after their TTL.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled once the remaining steps have run
  /// (each cancelled at once: the connections are still closed). A lease whose revocation was
  /// cancelled after it was sent may be revoked or not (unrevoked, it expires after its TTL).
  /// \par Executor and lifetimes
  /// The coordinator's executor; the coordinator must outlive the awaited call.
  boost::asio::awaitable<void> close();

  /// A view that scopes every key under `name` (see coordinator_module). Throws
  /// invalid_argument when `name` is empty or contains '/'.
  coordinator_module module(std::string name);
  /// The configuration in use, validated, with etcd.metrics and etcd.tracer set to what
  /// enable_metrics / enable_tracing made.
  const config& settings() const;
  /// The Prometheus registry with the coordinator's metrics; null unless enable_metrics (or
  /// etcd.metrics) is set. Serve it with prometheus::Exposer or prometheus::TextSerializer.
  std::shared_ptr<prometheus::Registry> metrics() const;

 private:
  friend class coordinator_module;
  enum class lock_kind { mutex, try_mutex, reentrant, read, write, semaphore };
  boost::asio::awaitable<lock_handle> take(lock_kind kind, std::string name,
                                           std::chrono::seconds ttl, int permits = 0);
  std::string lock_key(const std::string& name) const;
  std::shared_ptr<detail::coordinator_state> state_;
};

}  // namespace coordination

// The global default coordinator and its free functions.
#include "coordination/global.hpp"  // IWYU pragma: export
