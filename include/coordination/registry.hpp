// coordination::service_registry — service registration bound to a lease, discovery from a
// watch-backed local cache, health (reported or checked), and client-side load balancing.
//
// Layout: one key per instance, `<prefix><name>/<instance id>` (prefix "/coordination/services/"
// by default), value JSON (address, health, weight, metadata, times, TTL): readable with
// `etcdctl get --prefix /coordination/services/`. The key is bound to a lease the registry keeps
// alive (one session per distinct TTL, shared by all its registrations), so an instance vanishes
// within its TTL when its process dies. When that lease is lost (etcd unreachable for longer than
// the TTL), the registry takes a new one and registers its instances again as soon as etcd
// answers, without the application doing anything.
//
// Heartbeats: renewing the lease writes nothing per instance. The key's presence is the liveness
// signal (etcd deletes it within the TTL of the last renewal). service_info::last_heartbeat is
// the last confirmed renewal for this registry's own instances (registrations()), the time of
// the record's last write for discovered ones; heartbeat() asks etcd for the exact moment
// (lease time-to-live: now - (granted TTL - remaining TTL)).
//
// Discovery: discover()/pick()/connect() are served from a local cache per service name, loaded
// with one range and kept current by one watch of `<prefix><name>/` (from the range's revision
// + 1; reloaded on `compacted`). The watches share the client's watch hub, so a thousand watched
// services use a couple of connections. cached() reads the cache without suspending.
//
// Thread-safety: the client's executor only. Awaitables complete within the client's
// request_timeout (discover's first load, writes) and are cancelled by Asio terminal cancellation;
// service_watch::next() waits until a change and is cancellable.
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

enum class health_status { unknown, healthy, unhealthy, maintenance };
const char* to_string(health_status h);
// "unknown", "healthy", "unhealthy", "maintenance"; nullopt otherwise.
std::optional<health_status> parse_health_status(std::string_view s);

struct service_info {
  std::string name;
  std::string instance_id;
  std::string address;  // host:port ("[::1]:80" for IPv6)
  std::map<std::string, std::string> metadata;
  health_status health = health_status::healthy;  // discover() returns healthy instances only
  std::uint32_t weight = 1;    // pick_strategy::weighted: share of picks (0: never picked)
  wall_time register_time{};   // set by register_service
  wall_time last_heartbeat{};  // see the header comment
  std::int64_t lease = 0;      // the lease the key is bound to
  std::int64_t revision = 0;   // mod revision of the key
};

enum class pick_strategy { round_robin, random, weighted, least_connections };
// "round-robin", "random", "weighted", "least-conn"; nullopt otherwise.
std::optional<pick_strategy> parse_pick_strategy(std::string_view s);

// An immutable snapshot of a service's instances, sorted by instance id. Cheap to copy.
using service_list = std::shared_ptr<const std::vector<service_info>>;

struct registry_options {
  registry_options() {}  // not an aggregate: see the GCC 12 note in types.hpp
  std::string prefix = "/coordination/services/";
  std::chrono::seconds ttl{10};  // register_service's default TTL
  // Health checks of this registry's own instances (see register_options::check).
  bool enable_health_check = false;
  std::chrono::milliseconds health_check_interval{5000};
  // note_error(): after `errors_before_down` errors an instance is skipped by pick()/connect()
  // for `down_period` (unless every instance is down: then all are candidates again).
  int errors_before_down = 1;
  std::chrono::milliseconds down_period{10000};
  std::chrono::milliseconds connect_timeout{2000};  // per instance tried by connect()
  // Throws invalid_argument naming the field.
  void validate() const;
};

struct register_options {
  register_options() {}
  // Take over an instance id registered by another process (otherwise: error::conflict).
  bool replace = false;
  // With registry_options::enable_health_check: the check run every health_check_interval;
  // true = healthy. Empty: a TCP connect to the instance's address. A check that throws or takes
  // longer than the interval counts as unhealthy. Health set to maintenance is left alone.
  std::function<boost::asio::awaitable<bool>()> check;
};

// A TCP connection to a picked instance. Counts as one open connection of that instance (for
// least_connections) until close() or destruction. Move-only.
class service_connection {
 public:
  service_connection(service_connection&&) noexcept;
  service_connection& operator=(service_connection&&) noexcept;
  ~service_connection();
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  const service_info& instance() const { return instance_; }
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

// One change of a service: every instance after it, and what changed since the update delivered
// before it by the same watch (for the first update, every instance is `added`). Each vector is
// sorted by instance id.
struct service_update {
  service_list instances;             // the full list, including unhealthy instances
  std::vector<service_info> added;    // instance ids that were not there
  std::vector<service_info> removed;  // instance ids that are gone (as they were last seen)
  // Same instance id, record rewritten with another address, health, weight, metadata or lease
  // (the new record). A rewrite that changes none of these is not reported.
  std::vector<service_info> updated;
  bool empty() const { return added.empty() && removed.empty() && updated.empty(); }
};

// The updates of one service, one per change, starting with the list at the time watch()
// returned. A consumer more than 1,024 changes behind skips to the newest lists; its deltas are
// then against the last update it was given, so adds, removes and updates are not lost (only
// intermediate states). Cancelled when destroyed or by cancel().
class service_watch {
 public:
  service_watch();
  service_watch(service_watch&&) noexcept;
  service_watch& operator=(service_watch&&) noexcept;
  ~service_watch();
  // Waits for the next change. Throws error::cancelled after cancel() or when the registry
  // closes.
  boost::asio::awaitable<service_update> next();
  void cancel();

 private:
  friend struct detail::access;
  explicit service_watch(std::shared_ptr<detail::service_subscriber> s);
  std::shared_ptr<detail::service_subscriber> state_;
};

struct registry_stats {
  std::uint64_t registrations = 0;    // own instances registered now
  std::uint64_t reregistrations = 0;  // instances registered again after a lost lease
  std::uint64_t cached_services = 0;
  std::uint64_t cached_instances = 0;
  std::uint64_t cache_reloads = 0;   // full reloads after `compacted` or a broken watch
  std::uint64_t health_changes = 0;  // health written by this registry's checks
};

class service_registry {
 public:
  // Throws invalid_argument for bad options.
  explicit service_registry(client& c, registry_options options = {});
  // Stops health checks and cache watches; the registrations' leases are revoked in the
  // background (their keys go at once). close() does the same and waits.
  ~service_registry();
  service_registry(service_registry&&) noexcept;
  service_registry& operator=(service_registry&&) noexcept;

  // Registers `info` (name, instance_id, address required) bound to a lease with `ttl` (0: the
  // options' TTL). Throws invalid_argument naming a bad field, conflict when another process
  // holds the instance id (unless options.replace). Registering an instance this registry
  // already holds updates it. Returns what was stored.
  boost::asio::awaitable<service_info> register_service(service_info info,
                                                        std::chrono::seconds ttl = {},
                                                        register_options options = {});
  // Removes the instance (anyone's). Throws not_found when it is not registered.
  boost::asio::awaitable<void> deregister(std::string name, std::string instance_id);
  // Rewrites the instance's health (keeping its lease). Throws not_found when absent.
  boost::asio::awaitable<void> update_health(std::string name, std::string instance_id,
                                             health_status status);

  // Healthy instances (from the cache; the first call for a name loads it).
  boost::asio::awaitable<service_list> discover(std::string name);
  // Every instance, whatever its health.
  boost::asio::awaitable<service_list> discover_all(std::string name);
  // The cache without suspending: nullptr when `name` is not cached (yet).
  service_list cached(const std::string& name, bool healthy_only = true) const;
  boost::asio::awaitable<service_watch> watch(std::string name);

  // One healthy instance, skipping instances marked down by note_error(). Throws not_found
  // when the service has no healthy instance.
  boost::asio::awaitable<service_info> pick(std::string name,
                                            pick_strategy strategy = pick_strategy::round_robin);
  // Picks and connects, trying the next instance (by the same strategy) when a connect fails
  // (each failure is a note_error()). Throws unavailable when none could be connected.
  boost::asio::awaitable<service_connection> connect(
      std::string name, pick_strategy strategy = pick_strategy::round_robin);
  // Reports a bad instance (see registry_options::errors_before_down).
  void note_error(const std::string& name, const std::string& instance_id);

  // When the instance's lease was last renewed, asked of etcd (not_found when absent).
  boost::asio::awaitable<wall_time> heartbeat(std::string name, std::string instance_id);
  // This registry's own instances, last_heartbeat = last confirmed renewal.
  std::vector<service_info> registrations() const;
  registry_stats stats() const;

  // Deregisters this registry's instances, revokes its leases, ends its watches. Idempotent.
  boost::asio::awaitable<void> close();

 private:
  std::shared_ptr<detail::registry_state> state_;
};

}  // namespace coordination
