/// \file
/// coordination::config — what a coordinator is built from: its sections (client, session,
/// registry, locks, config center, elections), the presets, from_env() and validate(). A plain
/// value type: copy it freely, also between threads. See coordinator.hpp.
#pragma once

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

}  // namespace coordination
