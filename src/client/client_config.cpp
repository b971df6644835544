#include "coordination/client_config.hpp"

#include "coordination/error.hpp"
#include "transport/endpoint.hpp"

namespace coordination {

namespace {
[[noreturn]] void invalid(const std::string& what) {
  throw coordination_error(error::invalid_argument, what);
}
}  // namespace

void client_config::validate() const {
  if (endpoints.empty()) invalid("endpoints: at least one endpoint is needed");
  for (auto& url : endpoints) transport::parse_endpoint(url, "endpoints");
  if (dial_timeout.count() <= 0) invalid("dial_timeout: must be positive");
  if (request_timeout.count() <= 0) invalid("request_timeout: must be positive");
  if (attempt_timeout.count() <= 0) invalid("attempt_timeout: must be positive");
  if (probe_timeout.count() <= 0) invalid("probe_timeout: must be positive");
  if (probe_timeout > attempt_timeout) invalid("probe_timeout: must not be above attempt_timeout");
  if (!password.empty() && username.empty()) invalid("username: a password needs a user name");
  if (retry.max_retries < 0) invalid("retry.max_retries: must not be negative");
  if (retry.initial_interval.count() <= 0) invalid("retry.initial_interval: must be positive");
  if (retry.max_interval < retry.initial_interval)
    invalid("retry.max_interval: must not be below retry.initial_interval");
  if (!(retry.multiplier >= 1.0)) invalid("retry.multiplier: must be at least 1");
  if (pool_size == 0) invalid("pool_size: must be at least 1");
  if (max_response_bytes < 1024) invalid("max_response_bytes: must be at least 1024");
  if (max_request_bytes < 1024) invalid("max_request_bytes: must be at least 1024");
  if (endpoint_cooldown.count() < 0) invalid("endpoint_cooldown: must not be negative");
  if (tls.cert_file.empty() != tls.key_file.empty())
    invalid("tls.cert_file/tls.key_file: a client certificate needs both");
}

std::vector<std::string> client_config::split_endpoints(const std::string& csv) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= csv.size()) {
    auto comma = csv.find(',', start);
    if (comma == std::string::npos) comma = csv.size();
    auto part = csv.substr(start, comma - start);
    auto b = part.find_first_not_of(" \t");
    auto e = part.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

}  // namespace coordination
