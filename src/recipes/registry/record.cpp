#include "recipes/registry/record.hpp"

#include <boost/asio/ip/address_v6.hpp>

#include "coordination/error.hpp"
#include "protocol/text.hpp"

namespace coordination {

using nlohmann::json;
using namespace std::chrono_literals;

const char* to_string(health_status h) {
  switch (h) {
    case health_status::healthy:
      return "healthy";
    case health_status::unhealthy:
      return "unhealthy";
    case health_status::maintenance:
      return "maintenance";
    case health_status::unknown:
      break;
  }
  return "unknown";
}

std::optional<health_status> parse_health_status(std::string_view s) {
  for (auto h : {health_status::unknown, health_status::healthy, health_status::unhealthy,
                 health_status::maintenance})
    if (s == to_string(h)) return h;
  return std::nullopt;
}

std::optional<pick_strategy> parse_pick_strategy(std::string_view s) {
  if (s == "round-robin") return pick_strategy::round_robin;
  if (s == "random") return pick_strategy::random;
  if (s == "weighted") return pick_strategy::weighted;
  if (s == "least-conn") return pick_strategy::least_connections;
  return std::nullopt;
}

void registry_options::validate() const {
  auto bad = [](const char* field, const char* why) {
    throw coordination_error(error::invalid_argument, std::string(field) + ": " + why);
  };
  if (prefix.empty()) bad("registry.prefix", "must not be empty");
  if (ttl < 1s || ttl > 24h) bad("registry.ttl", "must be between 1 s and 24 h");
  if (health_check_interval < 10ms) bad("registry.health_check_interval", "must be >= 10 ms");
  if (errors_before_down < 1) bad("registry.errors_before_down", "must be >= 1");
  if (down_period.count() < 0) bad("registry.down_period", "must not be negative");
  if (connect_timeout.count() <= 0) bad("registry.connect_timeout", "must be positive");
}

namespace detail {

namespace {

bool valid_token(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > 128) return false;
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || extra.find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void check_name(std::string_view name) {
  if (!valid_token(name, ""))
    throw coordination_error(
        error::invalid_argument,
        "service name: want 1-128 characters of [A-Za-z0-9._-], got '" + std::string(name) + "'");
}
void check_instance_id(std::string_view id) {
  if (!valid_token(id, ":@"))
    throw coordination_error(
        error::invalid_argument,
        "instance id: want 1-128 characters of [A-Za-z0-9._:@-], got '" + std::string(id) + "'");
}

std::optional<host_port> split_address(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return std::nullopt;
  host_port hp;
  hp.host = std::string(a.substr(0, colon));
  auto port = a.substr(colon + 1);
  if (port.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  hp.port = static_cast<std::uint16_t>(v);
  if (hp.host.front() == '[') {
    if (hp.host.size() < 3 || hp.host.back() != ']') return std::nullopt;
    hp.host = hp.host.substr(1, hp.host.size() - 2);
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(hp.host, ec);
    if (ec) return std::nullopt;
  } else if (hp.host.find(':') != std::string::npos ||
             hp.host.find_first_of(" /\t") != std::string::npos) {
    return std::nullopt;
  }
  return hp;
}

void check_address(std::string_view a) {
  if (!split_address(a))
    throw coordination_error(error::invalid_argument,
                             "address: want host:port (port 1-65535, IPv6 as [addr]:port), got '" +
                                 std::string(a) + "'");
}

void check_ttl(std::chrono::seconds ttl) {
  if (ttl < 1s || ttl > 24h)
    throw coordination_error(error::invalid_argument, "ttl: must be between 1 s and 24 h, got " +
                                                          std::to_string(ttl.count()) + " s");
}

json encode_record(const service_info& i, std::chrono::seconds ttl, wall_time updated) {
  json j{{"name", i.name},
         {"id", i.instance_id},
         {"address", i.address},
         {"health", to_string(i.health)},
         {"weight", i.weight},
         {"metadata", i.metadata},
         {"registered_ms", to_unix_ms(i.register_time)},
         {"updated_ms", to_unix_ms(updated)},
         {"ttl", ttl.count()}};
  return j;
}

// A record as stored under `prefix`: name and id come from the key. nullopt for garbage.
std::optional<service_info> decode_record(const key_value& kv, const std::string& service_prefix,
                                          const std::string& name) {
  if (kv.key.size() <= service_prefix.size()) return std::nullopt;
  auto j = json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  service_info i;
  i.name = name;
  i.instance_id = kv.key.substr(service_prefix.size());
  try {
    i.address = j.value("address", "");
    i.health = parse_health_status(j.value("health", "unknown")).value_or(health_status::unknown);
    i.weight = j.value("weight", 1u);
    if (auto m = j.find("metadata"); m != j.end() && m->is_object())
      for (auto& [k, v] : m->items())
        if (v.is_string()) i.metadata[k] = v.get<std::string>();
    i.register_time = from_unix_ms(j.value("registered_ms", std::int64_t{0}));
    i.last_heartbeat = from_unix_ms(j.value("updated_ms", std::int64_t{0}));
  } catch (const json::exception&) {
    return std::nullopt;
  }
  i.lease = kv.lease;
  i.revision = kv.mod_revision;
  return i;
}

namespace {
bool same_record(const service_info& a, const service_info& b) {
  return a.address == b.address && a.health == b.health && a.weight == b.weight &&
         a.metadata == b.metadata && a.lease == b.lease;
}
}  // namespace

service_update diff_instances(const service_list& before, service_list after) {
  static const std::vector<service_info> none;
  const auto& old = before ? *before : none;
  const auto& now = after ? *after : none;
  service_update u;
  auto o = old.begin();
  auto n = now.begin();
  while (o != old.end() || n != now.end()) {
    if (n == now.end() || (o != old.end() && o->instance_id < n->instance_id)) {
      u.removed.push_back(*o++);
    } else if (o == old.end() || n->instance_id < o->instance_id) {
      u.added.push_back(*n++);
    } else {
      if (!same_record(*o, *n)) u.updated.push_back(*n);
      ++o;
      ++n;
    }
  }
  u.instances = after ? std::move(after) : std::make_shared<const std::vector<service_info>>();
  return u;
}

}  // namespace detail
}  // namespace coordination
