// coordination::coordinator — one object for an application's coordination needs: locks,
// elections, the service registry and the config center over one etcd client, one session
// lease and one watch hub.
//
//   coordinator coord(io.get_executor(), config::from_env());
//   auto l = co_await coord.lock("orders/42", 15s);
//
// Keys: locks under config::locks.prefix, elections under config::elections_prefix, services
// and config values under their sections' prefixes. module("orders") is a view that scopes every
// key under the module's name (locks "<lock prefix>orders/<name>", config "orders/<key>",
// services "<registry prefix>orders/<name>/<id>").
//
// Thread model: a coordinator and everything it hands out run on the executor it was built
// with. None of it is thread-safe: call it from coroutines on that executor. On a
// multi-threaded io_context, build it on a strand (asio::make_strand(io)) and call it from
// coroutines spawned on that strand; other threads reach it with asio::post / co_spawn onto the
// strand. Every awaitable completes within the etcd request timeout unless it waits by design
// (lock, campaign, watches), and every one is cancelled by Asio terminal cancellation.
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

struct registry_section {
  std::string prefix = "/coordination/services/";
  std::chrono::seconds ttl{10};
  bool enable_health_check = false;
  std::chrono::milliseconds health_check_interval{5000};
};

struct lock_section {
  std::string prefix = "/coordination/locks/";
  std::chrono::seconds default_ttl{15};         // the coordinator's session lease
  std::chrono::milliseconds renew_interval{0};  // 0: TTL / 3
  bool reentrant = false;
};

struct config_section {
  std::string prefix = "/coordination/config/";
  bool versioning = true;
  std::size_t max_history = 10;
  bool validation = true;
};

struct config {
  config() {}          // not an aggregate: see the GCC 12 note in types.hpp
  client_config etcd;  // endpoints, dial timeout, user/password, TLS files, retries, timeouts
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off
  // Prometheus metrics (observability.hpp): when etcd.metrics is null, the coordinator makes a
  // registry; coordinator::metrics() returns it for the application to serve.
  bool enable_metrics = false;
  // Spans around etcd calls and recipe steps: etcd.tracer, or when null the spdlog tracer
  // (a line per span at info on the coordinator's logger).
  bool enable_tracing = false;
  std::string elections_prefix = "/coordination/elections/";
  registry_section registry;
  lock_section locks;
  config_section config_center;

  // Throws invalid_argument naming the field ("locks.default_ttl: ...").
  void validate() const;
  // default_config() overridden by the environment: COORD_ENDPOINTS (comma-separated),
  // COORD_USER, COORD_PASSWORD, COORD_CACERT, COORD_CERT, COORD_KEY, COORD_DIAL_TIMEOUT_MS,
  // COORD_REQUEST_TIMEOUT_MS, COORD_LOG_LEVEL, COORD_REGISTRY_PREFIX, COORD_REGISTRY_TTL (s),
  // COORD_HEALTH_CHECK (0/1), COORD_LOCK_PREFIX, COORD_LOCK_TTL (s), COORD_CONFIG_PREFIX,
  // COORD_CONFIG_MAX_HISTORY. A malformed value throws invalid_argument naming the variable.
  static config from_env();
};

// Presets. default: library defaults, etcd on 127.0.0.1:2379. development: verbose logs, short
// TTLs (5 s services, 10 s locks), health checks every 2 s. production: 3 s dial / 5 s request
// timeouts, 6 retries, 15 s services with health checks, 30 s locks, 50 versions of history.
// test: short everything (2 s TTLs, 2 s request timeout), warnings only.
config default_config();
config development_config();
config production_config();
config test_config();

namespace detail {
struct coordinator_state;
}

class coordinator;

// A view of a coordinator that scopes every key under one module name. Cheap to create; the
// coordinator must outlive it.
class coordinator_module {
 public:
  coordinator_module(coordinator& parent, std::string name);
  const std::string& name() const { return name_; }
  // The coordinator's lock calls, with names under "<locks.prefix><module>/".
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> reentrant_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits,
                                                        std::chrono::seconds ttl = {});
  boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
  service_registry& registry() { return *registry_; }
  coordination::config_center& config_center() { return *config_; }

 private:
  coordinator* parent_;
  std::string name_;
  std::shared_ptr<service_registry> registry_;
  std::shared_ptr<coordination::config_center> config_;
};

class coordinator {
 public:
  // Validates `cfg` (invalid_argument naming the field). Connects lazily.
  coordinator(boost::asio::any_io_executor ex, config cfg);
  ~coordinator();  // like close() without waiting: leases revoked in the background
  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;

  // Locks named `name` under locks.prefix (see lock.hpp for the recipes). ttl 0 means
  // locks.default_ttl: the key is on the coordinator's session lease; another ttl gives the
  // lock a lease of its own, revoked on release. Every lock handed out is released by close().
  // Errors: invalid_argument (empty name, bad permits), locked (try_lock), session_expired (the
  // session was lost while waiting), cancelled (close(), or Asio terminal cancellation: the
  // waiter's key is removed), and the client's (unavailable, timeout...). Waits are unbounded:
  // bound them with with_timeout().
  //
  // lock: a mutex, FIFO (reentrant when locks.reentrant is set).
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl = {});
  // try_lock: the mutex if nobody holds or waits for it; otherwise throws locked at once.
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl = {});
  // reentrant_lock: a second call for a name this coordinator holds by reentrant_lock counts up
  // instead of waiting (lock_handle::acquire_count()); each release() undoes one, the last
  // deletes the key. It excludes lock() of the same name like any other holder, unless
  // locks.reentrant is set: lock() is then reentrant too, and both count on the same holder.
  boost::asio::awaitable<lock_handle> reentrant_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
  // read_lock / write_lock: many readers or one writer; a waiting writer blocks later readers.
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl = {});
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl = {});
  // acquire_semaphore: at most `permits` holders at once, in request order.
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits,
                                                        std::chrono::seconds ttl = {});
  // The coordinator's locker on its session; names are used as given (no prefix). Shared: it
  // stays valid after the session is replaced (its locks then fail with session_expired; call
  // locks() again for the new session's).
  boost::asio::awaitable<std::shared_ptr<locker>> locks();
  boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
  boost::asio::awaitable<std::optional<leader_info>> leader(std::string election);
  leader_observer observe(std::string election);

  service_registry& registry();
  coordination::config_center& config_center();
  client& etcd();
  // The session the locks and elections use (created on first use, replaced after a loss).
  // Shared: a handle taken before a replacement stays valid (and lost()).
  boost::asio::awaitable<std::shared_ptr<session>> current_session();

  // Status of the endpoint in use: throws unavailable when etcd does not answer. When etcd
  // refuses status to this user (root only with auth on in 3.5.28-3.5.31 / 3.6.0-3.6.11), what
  // the user may learn instead, with status_result::restricted set (see there).
  boost::asio::awaitable<status_result> ping();
  // Graceful: releases the locks it handed out, deregisters its services, revokes its lease,
  // closes its connections, in that order. Idempotent.
  boost::asio::awaitable<void> close();

  coordinator_module module(std::string name);
  const config& settings() const;
  // The Prometheus registry with the coordinator's metrics; null unless enable_metrics (or
  // etcd.metrics) is set. Serve it with prometheus::Exposer or prometheus::TextSerializer.
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
// For applications that want free functions: init() once, then call them from coroutines on
// the executor given to init(). Before init() (or after shutdown()) they throw
// coordination_error(not_initialized).
void init(boost::asio::any_io_executor ex, config cfg);
bool initialized();
coordinator& global_coordinator();
boost::asio::awaitable<void> shutdown();  // close() and forget the global coordinator

// Each is the global coordinator's call of the same meaning (coordinator::lock, try_lock,
// reentrant_lock, read_lock, write_lock, ping, registry().connect, config_center().remove...).
boost::asio::awaitable<status_result> ping();
boost::asio::awaitable<lock_handle> acquire_lock(std::string name, std::chrono::seconds ttl = {});
boost::asio::awaitable<lock_handle> try_acquire_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
boost::asio::awaitable<lock_handle> acquire_reentrant_lock(std::string name,
                                                           std::chrono::seconds ttl = {});
boost::asio::awaitable<lock_handle> acquire_read_lock(std::string name,
                                                      std::chrono::seconds ttl = {});
boost::asio::awaitable<lock_handle> acquire_write_lock(std::string name,
                                                       std::chrono::seconds ttl = {});
boost::asio::awaitable<service_info> register_service(service_info info,
                                                      std::chrono::seconds ttl = {});
boost::asio::awaitable<void> deregister_service(std::string name, std::string instance_id);
boost::asio::awaitable<service_list> discover_services(std::string name);
// A TCP connection to a healthy instance picked by `strategy` (service_registry::connect).
boost::asio::awaitable<service_connection> get_service_connection(
    std::string name, pick_strategy strategy = pick_strategy::round_robin);
boost::asio::awaitable<config_value> get_config(std::string key);
boost::asio::awaitable<config_value> set_config(std::string key, std::string value,
                                                config_set_options options = {});
// Removes the value (config_center::remove): not_found when absent, conflict when
// `expected_version` is given and is not the current version.
boost::asio::awaitable<void> delete_config(std::string key,
                                           std::optional<std::int64_t> expected_version = {});
boost::asio::awaitable<config_watch> watch_config(std::string key);
boost::asio::awaitable<leadership> campaign(std::string election, std::string value);

}  // namespace coordination
