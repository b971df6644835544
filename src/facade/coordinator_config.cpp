// coordination::config: validate(), the presets and from_env() (include/coordination/
// coordinator_config.hpp).
#include "coordination/coordinator_config.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "coordination/error.hpp"
#include "facade/facade_internal.hpp"

namespace coordination {

using namespace std::chrono_literals;

namespace detail {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw coordination_error(error::invalid_argument, field + ": " + why);
}

std::optional<spdlog::level::level_enum> parse_level(const std::string& s) {
  for (int l = spdlog::level::trace; l < spdlog::level::n_levels; ++l) {
    auto lvl = static_cast<spdlog::level::level_enum>(l);
    auto name = spdlog::level::to_string_view(lvl);
    if (s == std::string_view(name.data(), name.size())) return lvl;
  }
  if (s == "warn") return spdlog::level::warn;
  if (s == "error") return spdlog::level::err;
  return std::nullopt;
}

}  // namespace detail

namespace {

using detail::bad;
using detail::parse_level;

void check_prefix(const std::string& field, const std::string& p) {
  if (p.empty() || p.back() != '/') bad(field, "must be non-empty and end with '/'");
}

}  // namespace

void config::validate() const {
  etcd.validate();
  if (!parse_level(log_level))
    bad("log_level",
        "want trace, debug, info, warn, error, critical or off, got '" + log_level + "'");
  check_prefix("elections_prefix", elections_prefix);
  check_prefix("registry.prefix", registry.prefix);
  if (registry.ttl < 1s || registry.ttl > 24h) bad("registry.ttl", "must be between 1 s and 24 h");
  if (registry.health_check_interval < 10ms)
    bad("registry.health_check_interval", "must be at least 10 ms");
  check_prefix("locks.prefix", locks.prefix);
  if (locks.default_ttl < 1s || locks.default_ttl > 24h)
    bad("locks.default_ttl", "must be between 1 s and 24 h");
  if (locks.renew_interval.count() < 0 || locks.renew_interval >= locks.default_ttl)
    bad("locks.renew_interval", "must be 0 (TTL / 3) or shorter than locks.default_ttl");
  check_prefix("config_center.prefix", config_center.prefix);
  if (config_center.versioning &&
      (config_center.max_history < 1 || config_center.max_history > 1000))
    bad("config_center.max_history", "must be between 1 and 1000");
}

config default_config() {
  return config();
}

config development_config() {
  config c;
  c.log_level = "debug";
  c.registry.ttl = 5s;
  c.registry.enable_health_check = true;
  c.registry.health_check_interval = 2s;
  c.locks.default_ttl = 10s;
  return c;
}

config production_config() {
  config c;
  c.log_level = "info";
  c.etcd.dial_timeout = 3s;
  c.etcd.request_timeout = 5s;
  c.etcd.retry.max_retries = 6;
  c.registry.ttl = 15s;
  c.registry.enable_health_check = true;
  c.registry.health_check_interval = 5s;
  c.locks.default_ttl = 30s;
  c.config_center.max_history = 50;
  return c;
}

config test_config() {
  config c;
  c.log_level = "warn";
  c.etcd.dial_timeout = 1s;
  c.etcd.request_timeout = 2s;
  c.registry.ttl = 2s;
  c.registry.health_check_interval = 200ms;
  c.locks.default_ttl = 2s;
  return c;
}

config config::from_env() {
  config c = default_config();
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
  auto number = [&](const char* name) -> std::optional<long long> {
    auto v = env(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (errno || end == v->c_str() || *end || n < 0)
      bad(name, "want a non-negative integer, got '" + *v + "'");
    return n;
  };
  auto flag = [&](const char* name) -> std::optional<bool> {
    auto v = env(name);
    if (!v) return std::nullopt;
    if (*v == "1" || *v == "true") return true;
    if (*v == "0" || *v == "false") return false;
    bad(name, "want 0 or 1, got '" + *v + "'");
    return std::nullopt;
  };
  if (auto v = env("COORD_ENDPOINTS")) c.etcd.endpoints = client_config::split_endpoints(*v);
  if (auto v = env("COORD_USER")) c.etcd.username = *v;
  if (auto v = env("COORD_PASSWORD")) c.etcd.password = *v;
  if (auto v = env("COORD_CACERT")) c.etcd.tls.ca_file = *v;
  if (auto v = env("COORD_CERT")) c.etcd.tls.cert_file = *v;
  if (auto v = env("COORD_KEY")) c.etcd.tls.key_file = *v;
  if (auto v = number("COORD_DIAL_TIMEOUT_MS")) c.etcd.dial_timeout = std::chrono::milliseconds(*v);
  if (auto v = number("COORD_REQUEST_TIMEOUT_MS"))
    c.etcd.request_timeout = std::chrono::milliseconds(*v);
  if (auto v = env("COORD_LOG_LEVEL")) c.log_level = *v;
  if (auto v = env("COORD_REGISTRY_PREFIX")) c.registry.prefix = *v;
  if (auto v = number("COORD_REGISTRY_TTL")) c.registry.ttl = std::chrono::seconds(*v);
  if (auto v = flag("COORD_HEALTH_CHECK")) c.registry.enable_health_check = *v;
  if (auto v = env("COORD_LOCK_PREFIX")) c.locks.prefix = *v;
  if (auto v = number("COORD_LOCK_TTL")) c.locks.default_ttl = std::chrono::seconds(*v);
  if (auto v = env("COORD_CONFIG_PREFIX")) c.config_center.prefix = *v;
  if (auto v = number("COORD_CONFIG_MAX_HISTORY"))
    c.config_center.max_history = static_cast<std::size_t>(*v);
  return c;
}

}  // namespace coordination
