/// \file
/// coordination::service_registry — service registration bound to a lease, discovery from a
/// watch-backed local cache, health (reported or checked), and client-side load balancing.
///
/// Layout: one key per instance, `<prefix><name>/<instance id>` (prefix "/coordination/services/"
/// by default), value JSON (address, health, weight, metadata, times, TTL): readable with
/// `etcdctl get --prefix /coordination/services/`. The key is bound to a lease the registry keeps
/// alive (one session per distinct TTL, shared by all its registrations), so an instance vanishes
/// within its TTL when its process dies. When that lease is lost (etcd unreachable for longer than
/// the TTL), the registry takes a new one and registers its instances again as soon as etcd
/// answers, without the application doing anything.
///
/// Heartbeats: renewing the lease writes nothing per instance. The key's presence is the liveness
/// signal (etcd deletes it within the TTL of the last renewal). service_info::last_heartbeat is
/// the last confirmed renewal for this registry's own instances (registrations()), the time of
/// the record's last write for discovered ones; heartbeat() asks etcd for the exact moment
/// (lease time-to-live: now - (granted TTL - remaining TTL)).
///
/// Discovery: discover()/pick()/connect() are served from a local cache per service name, loaded
/// with one range and kept current by one watch of `<prefix><name>/` (from the range's revision
/// + 1; reloaded on `compacted`). The watches share the client's watch hub, so a thousand watched
/// services use a couple of connections. cached() reads the cache without suspending.
///
/// Thread-safety: the client's executor only. Awaitables complete within the client's
/// request_timeout (discover's first load, writes) and are cancelled by Asio terminal
/// cancellation; service_watch::next() waits until a change and is cancellable.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordination/client.hpp"
#include "coordination/types.hpp"

namespace coordination {

namespace detail {
struct registry_state;
struct service_cache;
struct service_subscriber;
struct access;
}  // namespace detail

/// An instance's health, as stored in its record. discover() and pick() return `healthy`
/// instances only; a health check leaves `maintenance` alone.
enum class health_status { unknown, healthy, unhealthy, maintenance };
/// The name of `h`: "unknown", "healthy", "unhealthy" or "maintenance".
const char* to_string(health_status h);
/// "unknown", "healthy", "unhealthy", "maintenance"; nullopt otherwise.
std::optional<health_status> parse_health_status(std::string_view s);

/// One instance of a service: what register_service() stores and discovery returns. A plain
/// value.
struct service_info {
  /// The service's name: 1-128 characters of `[A-Za-z0-9._-]`.
  std::string name;
  /// The instance's id, unique within the service: 1-128 characters of `[A-Za-z0-9._-]`, the
  /// colon or the at sign.
  std::string instance_id;
  std::string address;  ///< host:port ("[::1]:80" for IPv6)
  /// Free key/value pairs (keys not empty; keys and values valid UTF-8).
  std::map<std::string, std::string> metadata;
  health_status health = health_status::healthy;  ///< discover() returns healthy instances only
  std::uint32_t weight = 1;    ///< pick_strategy::weighted: share of picks (0: never picked)
  wall_time register_time{};   ///< set by register_service
  wall_time last_heartbeat{};  ///< see the header comment
  std::int64_t lease = 0;      ///< the lease the key is bound to
  std::int64_t revision = 0;   ///< mod revision of the key
};

/// How pick() and connect() choose among the healthy instances that are not marked down:
/// round robin, random, smooth weighted round robin (service_info::weight; an instance of
/// weight 0 is picked only when every candidate has weight 0), or the fewest open
/// service_connection objects (ties take turns).
enum class pick_strategy { round_robin, random, weighted, least_connections };
/// "round-robin", "random", "weighted", "least-conn"; nullopt otherwise.
std::optional<pick_strategy> parse_pick_strategy(std::string_view s);

/// An immutable snapshot of a service's instances, sorted by instance id. Cheap to copy.
///
/// The registry publishes a new list on each change and never modifies one it handed out.
using service_list = std::shared_ptr<const std::vector<service_info>>;

/// Options of a service_registry, checked by validate() (also run by the registry's
/// constructor). A plain value.
struct registry_options {
  registry_options() {}  ///< not an aggregate: see the GCC 12 note in types.hpp
  /// Where the records live: `<prefix><name>/<instance id>`. Not empty.
  std::string prefix = "/coordination/services/";
  std::chrono::seconds ttl{10};  ///< register_service's default TTL (1 s to 24 h)
  /// Health checks of this registry's own instances (see register_options::check).
  bool enable_health_check = false;
  /// How often each own instance is checked (at least 10 ms); also the time a check may take.
  std::chrono::milliseconds health_check_interval{5000};
  /// note_error(): after `errors_before_down` errors an instance is skipped by pick()/connect()
  /// for `down_period` (unless every instance is down: then all are candidates again).
  int errors_before_down = 1;
  /// How long an instance stays marked down (see `errors_before_down`); not negative.
  std::chrono::milliseconds down_period{10000};
  std::chrono::milliseconds connect_timeout{2000};  ///< per instance tried by connect()
  /// Throws invalid_argument naming the field.
  void validate() const;
};

/// Options of one register_service() call. A plain value.
struct register_options {
  /// Default options: no replace, the default check.
  register_options() {}
  /// Take over an instance id registered by another process (otherwise: error::conflict).
  bool replace = false;
  /// With registry_options::enable_health_check: the check run every health_check_interval;
  /// true = healthy. Empty: a TCP connect to the instance's address. A check that throws or takes
  /// longer than the interval counts as unhealthy. Health set to maintenance is left alone.
  ///
  /// It runs on the client's executor as long as the registration is active: whatever it
  /// captures must stay valid until the instance is deregistered or the registry closed.
  std::function<boost::asio::awaitable<bool>()> check;
};

/// A TCP connection to a picked instance. Counts as one open connection of that instance (for
/// least_connections) until close() or destruction. Move-only.
///
/// The socket runs on the client's executor. Thread-safety: the client's executor only.
class service_connection {
 public:
  /// Moves the connection; `other` no longer counts.
  service_connection(service_connection&&) noexcept;
  /// Stops counting this connection's instance, then takes `other`'s socket and count.
  service_connection& operator=(service_connection&&) noexcept;
  /// Closes the socket and stops counting the connection.
  ~service_connection();
  /// The connected socket.
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  /// The instance it is connected to.
  const service_info& instance() const { return instance_; }
  /// Closes the socket and stops counting the connection (ignoring errors).
  void close();

 private:
  friend struct detail::access;
  service_connection(boost::asio::ip::tcp::socket s, service_info instance,
                     std::shared_ptr<detail::service_cache> cache);
  void release();
  boost::asio::ip::tcp::socket socket_;
  service_info instance_;
  std::shared_ptr<detail::service_cache> cache_;
};

/// One change of a service: every instance after it, and what changed since the update delivered
/// before it by the same watch (for the first update, every instance is `added`). Each vector is
/// sorted by instance id.
struct service_update {
  service_list instances;             ///< the full list, including unhealthy instances
  std::vector<service_info> added;    ///< instance ids that were not there
  std::vector<service_info> removed;  ///< instance ids that are gone (as they were last seen)
  /// Same instance id, record rewritten with another address, health, weight, metadata or lease
  /// (the new record). A rewrite that changes none of these is not reported.
  std::vector<service_info> updated;
  /// True when nothing was added, removed or updated.
  bool empty() const { return added.empty() && removed.empty() && updated.empty(); }
};

/// The updates of one service, one per change, starting with the list at the time watch()
/// returned. A consumer more than 1,024 changes behind skips to the newest lists; its deltas are
/// then against the last update it was given, so adds, removes and updates are not lost (only
/// intermediate states). Cancelled when destroyed or by cancel().
///
/// Move-only. Thread-safety: the client's executor only.
class service_watch {
 public:
  /// An empty watch: next() throws error::cancelled.
  service_watch();
  /// Moves the watch; `other` is left empty.
  service_watch(service_watch&&) noexcept;
  /// Cancels this watch, then takes `other`'s.
  service_watch& operator=(service_watch&&) noexcept;
  /// Cancels the watch.
  ~service_watch();
  /// Waits for the next change. Throws error::cancelled after cancel() or when the registry
  /// closes.
  ///
  /// Updates queued before cancel() or the registry's close are still returned first.
  ///
  /// \par Errors
  /// cancelled (after cancel(), the registry's close or destruction, client::close(), or for an
  /// empty watch). Nothing is sent to etcd here: the registry's cache feeds the watch.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the watch stays usable (no update is
  /// lost).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The watch must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the watch's state.
  boost::asio::awaitable<service_update> next();
  /// Ends the watch: a pending next() wakes, and next() throws error::cancelled once the queued
  /// updates are gone.
  void cancel();

 private:
  friend struct detail::access;
  explicit service_watch(std::shared_ptr<detail::service_subscriber> s);
  std::shared_ptr<detail::service_subscriber> state_;
};

/// Counters of a service_registry (service_registry::stats()). A plain value.
struct registry_stats {
  std::uint64_t registrations = 0;    ///< own instances registered now
  std::uint64_t reregistrations = 0;  ///< instances registered again after a lost lease
  /// Service names with a discovery cache.
  std::uint64_t cached_services = 0;
  /// Instances in those caches, whatever their health.
  std::uint64_t cached_instances = 0;
  std::uint64_t cache_reloads = 0;   ///< full reloads after `compacted` or a broken watch
  std::uint64_t health_changes = 0;  ///< health written by this registry's checks
};

/// Registers this process's service instances (bound to leases it keeps alive), discovers other
/// services from watch-backed caches, and picks or connects to their instances (see the file
/// comment).
///
/// It shares the client's state (the client handle may be moved or destroyed; client::close()
/// ends the registry's background work). Move-only; a moved-from registry may only be destroyed
/// or assigned to. Its awaitables copy the registry's state when they start and take their
/// arguments by value: the registry must be alive when one starts (a `co_await` starts it at
/// once), not until it ends. Every awaitable runs on the awaiting coroutine's executor, which
/// must be the client's. Thread-safety: the client's executor only.
class service_registry {
 public:
  /// Throws invalid_argument for bad options.
  explicit service_registry(client& c, registry_options options = {});
  /// Stops health checks and cache watches; the registrations' leases are revoked in the
  /// background (their keys go at once). close() does the same and waits.
  ~service_registry();
  /// Moves the registry; `other` is left empty.
  service_registry(service_registry&&) noexcept;
  /// Stops this registry's health checks and cache watches, then takes `other`'s state.
  service_registry& operator=(service_registry&&) noexcept;

  /// Registers `info` (name, instance_id, address required) bound to a lease with `ttl` (0: the
  /// options' TTL). Throws invalid_argument naming a bad field, conflict when another process
  /// holds the instance id (unless options.replace). Registering an instance this registry
  /// already holds updates it. Returns what was stored.
  ///
  /// The first registration with a TTL grants that TTL's lease (a session of the registry's).
  /// With registry_options::enable_health_check, the instance's health check starts.
  ///
  /// \par Errors
  /// invalid_argument (name, instance id, address, ttl outside 1 s to 24 h, weight over
  /// 1,000,000, metadata with an empty key or not valid UTF-8);
  /// conflict (held by another process, or the record kept changing under concurrent writes);
  /// cancelled when the registry is closed; the errors of granting the lease (see
  /// session::create()); and the transport errors of the writes (unavailable, timeout,
  /// outcome_unknown, ..., cancelled after client::close()). The writes are compare-and-set:
  /// they are resent after a lost answer and apply at most once.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A write cancelled after it was sent may
  /// still be applied, also later (a paused member passing it on): the registry does not count
  /// it as its own (not in registrations(), not registered again after a lease loss), and its
  /// lease's session deletes such a record (it watches the key until the registry closes, or
  /// until this registry registers the instance again). The same holds for a copy of a
  /// successful registration's write applied after deregister().
  /// \par Executor and lifetimes
  /// See the class. `info`, `ttl` and `options` are taken by value; `options.check` is kept for
  /// the registration's health checks.
  boost::asio::awaitable<service_info> register_service(service_info info,
                                                        std::chrono::seconds ttl = {},
                                                        register_options options = {});
  /// Removes the instance (anyone's). Throws not_found when it is not registered.
  ///
  /// An instance of this registry's own stops being its own (health checks, re-registration)
  /// before the delete is sent, and not_found is not thrown for it.
  ///
  /// \par Errors
  /// invalid_argument for a bad name or instance id; not_found; cancelled when the registry is
  /// closed; the transport errors (unavailable, timeout: the delete may have been applied),
  /// cancelled after client::close(). The instance is read, then that incarnation of it deleted
  /// by a txn on its create revision, resent after a lost answer (deleting it twice is deleting
  /// it once; a late copy cannot delete a later registration of the same id), so a lost answer
  /// does not surface as outcome_unknown.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A delete cancelled after it was sent may
  /// still be applied; an own instance is no longer this registry's either way.
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<void> deregister(std::string name, std::string instance_id);
  /// Rewrites the instance's health (keeping its lease). Throws not_found when absent.
  ///
  /// Anyone's instance. A compare-and-set on the record's revision, retried when the record
  /// changed meanwhile.
  ///
  /// \par Errors
  /// invalid_argument for a bad name or instance id; not_found; protocol_error when the key does
  /// not hold a registration record; conflict when the record kept changing; cancelled when the
  /// registry is closed; the transport errors of the read and the write (unavailable, timeout,
  /// outcome_unknown, ..., cancelled after client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A write cancelled after it was sent may
  /// still be applied (at most once).
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<void> update_health(std::string name, std::string instance_id,
                                             health_status status);

  /// Healthy instances (from the cache; the first call for a name loads it).
  ///
  /// Once the name is cached this does not suspend for etcd.
  ///
  /// \par Errors
  /// invalid_argument for a bad name; cancelled when the registry is closed; the errors of the
  /// first load (unavailable, timeout, ..., cancelled after client::close()), after which the
  /// next call loads again.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; nothing is written, and a first load
  /// goes on in the background for later calls.
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<service_list> discover(std::string name);
  /// Every instance, whatever its health.
  ///
  /// \par Errors
  /// As discover().
  /// \par Cancellation
  /// As discover().
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<service_list> discover_all(std::string name);
  /// The cache without suspending: nullptr when `name` is not cached (yet).
  ///
  /// `healthy_only`: the healthy instances (as discover()), else all (as discover_all()).
  service_list cached(const std::string& name, bool healthy_only = true) const;
  /// The updates of service `name` (see service_watch), from its cache; the first update is the
  /// list at the time this returns.
  ///
  /// \par Errors
  /// As discover().
  /// \par Cancellation
  /// As discover().
  /// \par Executor and lifetimes
  /// See the class. The service_watch shares the cache: the registry may go first (the watch
  /// then ends with error::cancelled).
  boost::asio::awaitable<service_watch> watch(std::string name);

  /// One healthy instance, skipping instances marked down by note_error(). Throws not_found
  /// when the service has no healthy instance.
  ///
  /// \par Errors
  /// not_found; otherwise as discover().
  /// \par Cancellation
  /// As discover().
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<service_info> pick(std::string name,
                                            pick_strategy strategy = pick_strategy::round_robin);
  /// Picks and connects, trying the next instance (by the same strategy) when a connect fails
  /// (each failure is a note_error()). Throws unavailable when none could be connected.
  ///
  /// Each attempt (resolve and connect) has registry_options::connect_timeout.
  ///
  /// \par Errors
  /// unavailable (none connected, also when the service has no healthy instance); otherwise as
  /// discover().
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the connection being made is closed.
  /// \par Executor and lifetimes
  /// See the class. The socket is made on the client's executor.
  boost::asio::awaitable<service_connection> connect(
      std::string name, pick_strategy strategy = pick_strategy::round_robin);
  /// Reports a bad instance (see registry_options::errors_before_down).
  ///
  /// Ignored for a name that is not cached.
  void note_error(const std::string& name, const std::string& instance_id);

  /// When the instance's lease was last renewed, asked of etcd (not_found when absent).
  ///
  /// Now for a record that is bound to no lease.
  ///
  /// \par Errors
  /// invalid_argument for a bad name or instance id; not_found (no record, or its lease gone);
  /// the transport errors of the two reads (unavailable, timeout, ..., cancelled after
  /// client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; nothing is written.
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<wall_time> heartbeat(std::string name, std::string instance_id);
  /// This registry's own instances, last_heartbeat = last confirmed renewal.
  std::vector<service_info> registrations() const;
  /// The registry's counters now.
  registry_stats stats() const;

  /// Deregisters this registry's instances, revokes its leases, ends its watches. Idempotent.
  ///
  /// \par Errors
  /// A failed deregistration is logged, not thrown (its lease's revocation removes the key);
  /// the transport errors of the revocations (unavailable, timeout, ..., cancelled after
  /// client::close()). Either way the registry is closed afterwards.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. The registry is closed all the same;
  /// deletes and revocations cancelled after they were sent may still be applied, and what was
  /// not done yet is done in the background when the registry is destroyed (the leases are
  /// revoked). A second close() returns at once.
  /// \par Executor and lifetimes
  /// See the class.
  boost::asio::awaitable<void> close();

 private:
  std::shared_ptr<detail::registry_state> state_;
};

}  // namespace coordination
