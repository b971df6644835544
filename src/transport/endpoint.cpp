#include "transport/endpoint.hpp"

#include <charconv>

#include "coordination/error.hpp"

namespace coordination::transport {

endpoint parse_endpoint(const std::string& url, const char* field) {
  auto bad = [&](const std::string& why) {
    return coordination_error(error::invalid_argument,
                              std::string(field) + ": bad endpoint URL '" + url + "': " + why);
  };
  endpoint ep;
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    ep.tls = true;
  } else {
    throw bad("scheme must be http:// or https://");
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) throw bad("a path is not allowed");
  if (rest.empty()) throw bad("host is empty");
  std::string_view port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw bad("unclosed '[' in IPv6 host");
    ep.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("expected ':' after ']'");
      port = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      ep.host = std::string(rest.substr(0, colon));
      port = rest.substr(colon + 1);
    } else {
      ep.host = std::string(rest);
    }
  }
  if (ep.host.empty()) throw bad("host is empty");
  if (ep.host.find_first_of(" @?#") != std::string::npos) throw bad("host has invalid characters");
  if (port.empty()) {
    ep.port = "2379";
  } else {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535)
      throw bad("port must be a number from 1 to 65535");
    ep.port = std::string(port);
  }
  ep.url = std::string(ep.tls ? "https://" : "http://") +
           (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
  return ep;
}

}  // namespace coordination::transport
