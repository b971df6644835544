// An etcd endpoint URL taken apart: scheme, host, port.
#pragma once

#include <string>

namespace coordination::transport {

struct endpoint {
  std::string url;   // as given, without a trailing slash
  std::string host;  // without brackets for IPv6
  std::string port;
  bool tls = false;
};

// Throws coordination_error(invalid_argument) naming `field` for anything but
// http(s)://host[:port][/].
endpoint parse_endpoint(const std::string& url, const char* field = "endpoints");

}  // namespace coordination::transport
