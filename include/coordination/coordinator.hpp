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
#include "coordination/election.hpp"
#include "coordination/lock.hpp"
#include "coordination/observability.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"

namespace coordination {

/// The coordinator's service registry settings (config::registry), passed to its
/// service_registry as registry_options. A plain value type.
struct registry_section {
  /// Instance keys: "<prefix><name>/<instance id>".
  std::string prefix = "/coordination/services/";
  /// register_service's default TTL (1 s to 24 h).
  std::chrono::seconds ttl{10};
  /// Check the coordinator's own instances' health.
  bool enable_health_check = false;
  /// Between checks (10 ms or more).
  std::chrono::milliseconds health_check_interval{5000};
};

/// The coordinator's lock settings (config::locks). A plain value type.
struct lock_section {
  /// Lock keys: "<prefix><name>/<lease hex>" (see lock.hpp).
  std::string prefix = "/coordination/locks/";
  std::chrono::seconds default_ttl{15};         ///< the coordinator's session lease
  std::chrono::milliseconds renew_interval{0};  ///< 0: TTL / 3
  /// lock() is reentrant too (see coordinator::reentrant_lock).
  bool reentrant = false;
};

/// The coordinator's config center settings (config::config_center), passed to its
/// config_center as config_center_options (meta and history prefixes derived). A plain value
/// type.
struct config_section {
  /// Value keys: "<prefix><key>" (meta and history beside it: see config_center.hpp).
  std::string prefix = "/coordination/config/";
  /// Keep a history (config_center_options::versioning).
  bool versioning = true;
  /// Versions kept per key (1 to 1000, with versioning).
  std::size_t max_history = 10;
  /// config_center_options::validation (the coordinator's config centers have no validator).
  bool validation = true;
};

/// Everything a coordinator is made from: the etcd client's settings and one section per
/// recipe. A plain value type; start from a preset (default_config(), production_config(), ...)
/// or from_env(). The coordinator's constructor runs validate().
struct config {
  config() {}          ///< not an aggregate: see the GCC 12 note in types.hpp
  client_config etcd;  ///< endpoints, dial timeout, user/password, TLS files, retries, timeouts
  std::string log_level = "info";  ///< trace, debug, info, warn, error, critical, off
  /// Prometheus metrics (observability.hpp): when etcd.metrics is null, the coordinator makes a
  /// registry; coordinator::metrics() returns it for the application to serve.
  bool enable_metrics = false;
  /// Spans around etcd calls and recipe steps: etcd.tracer, or when null the spdlog tracer
  /// (a line per span at info on the coordinator's logger).
  bool enable_tracing = false;
  /// Election keys: "<elections_prefix><name>/<lease hex>".
  std::string elections_prefix = "/coordination/elections/";
  /// The service registry's settings.
  registry_section registry;
  /// The locks' settings, and the session lease's TTL.
  lock_section locks;
  /// The config center's settings.
  config_section config_center;

  /// Throws invalid_argument naming the field ("locks.default_ttl: ...").
  ///
  /// (Also etcd's fields: client_config::validate.)
  void validate() const;
  /// default_config() overridden by the environment: COORD_ENDPOINTS (comma-separated),
  /// COORD_USER, COORD_PASSWORD, COORD_CACERT, COORD_CERT, COORD_KEY, COORD_DIAL_TIMEOUT_MS,
  /// COORD_REQUEST_TIMEOUT_MS, COORD_LOG_LEVEL, COORD_REGISTRY_PREFIX, COORD_REGISTRY_TTL (s),
  /// COORD_HEALTH_CHECK (0/1), COORD_LOCK_PREFIX, COORD_LOCK_TTL (s), COORD_CONFIG_PREFIX,
  /// COORD_CONFIG_MAX_HISTORY. A malformed value throws invalid_argument naming the variable.
  ///
  /// (Empty variables are ignored. The result is not validated here: the coordinator's
  /// constructor, or validate(), does it.)
  static config from_env();
};

/// \name Presets
/// Presets. default: library defaults, etcd on 127.0.0.1:2379. development: verbose logs, short
/// TTLs (5 s services, 10 s locks), health checks every 2 s. production: 3 s dial / 5 s request
/// timeouts, 6 retries, 15 s services with health checks, 30 s locks, 50 versions of history.
/// test: short everything (2 s TTLs, 2 s request timeout), warnings only.
///@{

/// The library defaults (etcd on 127.0.0.1:2379): the same as `config()`.
config default_config();
/// Verbose logs (debug), 5 s service and 10 s lock TTLs, health checks every 2 s.
config development_config();
/// 3 s dial / 5 s request timeouts, 6 retries, 15 s service TTL with health checks every 5 s,
/// 30 s locks, 50 versions of config history.
config production_config();
/// Short everything: 1 s dial / 2 s request timeouts, 2 s TTLs, health checks (when enabled)
/// every 200 ms, warnings only.
config test_config();
///@}

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

// ---- the global default coordinator --------------------------------------------------------
/// \name The global default coordinator
/// For applications that want free functions: init() once, then call them from coroutines on
/// the executor given to init(). Before init() (or after shutdown()) they throw
/// coordination_error(not_initialized).
///
/// Thread-safety: the global coordinator is one unsynchronised object, like any coordinator:
/// init(), shutdown() and every global function are called from the executor given to init()
/// (or before the executor runs).
///@{

/// Makes the global coordinator, `coordinator(ex, cfg)`: throws invalid_argument naming a bad
/// field of `cfg`. Called again, it replaces the global coordinator; the old one is destroyed
/// (like its destructor: leases revoked in the background) and must not be in use.
void init(boost::asio::any_io_executor ex, config cfg);
/// Whether there is a global coordinator (init() called, shutdown() not since).
bool initialized();
/// The global coordinator. Throws coordination_error(not_initialized) before init() or after
/// shutdown(). The reference is valid until shutdown() or the next init().
coordinator& global_coordinator();
/// close() and forget the global coordinator. Returns at once when there is none.
///
/// \par Errors
/// As coordinator::close(); when it throws, the global coordinator is kept (closed: a second
/// shutdown() then forgets it at once).
/// \par Cancellation
/// As coordinator::close(): error::cancelled, the coordinator kept.
/// \par Executor and lifetimes
/// The executor given to init(). No global call may be in flight: the coordinator is destroyed
/// when close() returns.
boost::asio::awaitable<void> shutdown();  // close() and forget the global coordinator
///@}

/// \name Global functions
/// Each is the global coordinator's call of the same meaning (coordinator::lock, try_lock,
/// reentrant_lock, read_lock, write_lock, ping, registry().connect, config_center().remove...).
///
/// For each: the errors of that call, and not_initialized (thrown where the call is awaited)
/// before init() or after shutdown(); its cancellation; the executor given to init(); its
/// arguments are copied, and the global coordinator must not be shut down or replaced (init())
/// before the awaited call ends.
///@{

/// The global coordinator's coordinator::ping().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::ping().
/// \par Cancellation
/// As coordinator::ping(): error::cancelled.
/// \par Executor and lifetimes
/// The executor given to init(); the global coordinator must stay until the await ends.
boost::asio::awaitable<status_result> ping();
/// The global coordinator's coordinator::lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock(): error::cancelled, the waiter's key removed.
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<lock_handle> acquire_lock(std::string name, std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::try_lock(): throws locked when the lock is taken.
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::try_lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> try_acquire_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::reentrant_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_reentrant_lock(std::string name,
                                                           std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::read_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_read_lock(std::string name,
                                                      std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::write_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_write_lock(std::string name,
                                                       std::chrono::seconds ttl = {});
/// The global coordinator's registry().register_service(info, ttl) (default register_options:
/// no takeover of another process's instance id).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as
/// service_registry::register_service(): invalid_argument naming a bad field, conflict when
/// another process holds the instance id, cancelled after close(), and the transport errors
/// (unavailable, timeout, outcome_unknown, ...).
/// \par Cancellation
/// As service_registry::register_service(): error::cancelled; a registration cancelled after
/// its write was sent may or may not have been stored.
/// \par Executor and lifetimes
/// The executor given to init(); `info` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<service_info> register_service(service_info info,
                                                      std::chrono::seconds ttl = {});
/// The global coordinator's registry().deregister(name, instance_id).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as
/// service_registry::deregister(): not_found when the instance is not registered,
/// invalid_argument for a bad name or id, and the transport errors (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled; a delete cancelled after it was sent may or may not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<void> deregister_service(std::string name, std::string instance_id);
/// The global coordinator's registry().discover(name): the healthy instances, from the cache
/// (the first call for a name loads it).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as service_registry::discover():
/// invalid_argument for a bad name, cancelled after close(), and the transport errors of the
/// first load (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled (a read).
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<service_list> discover_services(std::string name);
/// A TCP connection to a healthy instance picked by `strategy` (service_registry::connect).
///
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as service_registry::connect():
/// unavailable when no instance could be connected (also when there is no healthy one), and
/// the errors of discover_services().
/// \par Cancellation
/// error::cancelled (no connection is left open).
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends. The connection returned is used on that executor.
boost::asio::awaitable<service_connection> get_service_connection(
    std::string name, pick_strategy strategy = pick_strategy::round_robin);
/// The global coordinator's config_center().get(key).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::get():
/// not_found when the key has no value, invalid_argument for an empty key, and the transport
/// errors (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled (a read).
/// \par Executor and lifetimes
/// The executor given to init(); `key` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<config_value> get_config(std::string key);
/// The global coordinator's config_center().set(key, value, options).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::set():
/// conflict when `options.expected_version` does not match, invalid_argument, outcome_unknown
/// (or timeout) when the write may have been applied without an answer, and the transport
/// errors (unavailable, ...).
/// \par Cancellation
/// As config_center::set(): error::cancelled; cancelled after it was sent, the set may or may
/// not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<config_value> set_config(std::string key, std::string value,
                                                config_set_options options = {});
/// Removes the value (config_center::remove): not_found when absent, conflict when
/// `expected_version` is given and is not the current version.
///
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::remove():
/// not_found, conflict, invalid_argument for an empty key, outcome_unknown (or timeout) when
/// the delete may have been applied without an answer, and the transport errors.
/// \par Cancellation
/// As config_center::remove(): error::cancelled; cancelled after it was sent, the remove may or
/// may not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<void> delete_config(std::string key,
                                           std::optional<std::int64_t> expected_version = {});
/// The global coordinator's config_center().watch(key), with the default options (metadata
/// read).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::watch():
/// invalid_argument for an empty key, and the errors of creating a watch (unavailable,
/// timeout, ...).
/// \par Cancellation
/// error::cancelled (no config_watch is returned).
/// \par Executor and lifetimes
/// The executor given to init(); `key` is copied; the global coordinator must stay until the
/// await ends. The config_watch returned ends when the global coordinator is closed.
boost::asio::awaitable<config_watch> watch_config(std::string key);
/// The global coordinator's coordinator::campaign().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::campaign().
/// \par Cancellation
/// As coordinator::campaign(): error::cancelled, the candidate's key removed.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
///@}

}  // namespace coordination
