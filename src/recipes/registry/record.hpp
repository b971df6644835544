// The registry's records and names, without I/O: validation of service names, instance ids,
// addresses and TTLs (invalid_argument naming what is wrong), and the JSON record stored under
// `<prefix><name>/<instance id>` (unit-tested in test/unit/test_registry_record.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "coordination/registry.hpp"

namespace coordination::detail {

void check_name(std::string_view name);
void check_instance_id(std::string_view id);

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};
// "host:port" or "[v6]:port"; nullopt when malformed.
std::optional<host_port> split_address(std::string_view a);
void check_address(std::string_view a);
void check_ttl(std::chrono::seconds ttl);

nlohmann::json encode_record(const service_info& i, std::chrono::seconds ttl, wall_time updated);
// nullopt when `kv` is not a registration record of service `name` under `service_prefix`.
std::optional<service_info> decode_record(const key_value& kv, const std::string& service_prefix,
                                          const std::string& name);

// The update from `before` (null: empty) to `after`, both sorted by instance id.
service_update diff_instances(const service_list& before, service_list after);

}  // namespace coordination::detail
