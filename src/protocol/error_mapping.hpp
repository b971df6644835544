// From an etcd gateway error answer ({"error","message","code"} with an HTTP status) to a
// coordination error, and what the transport may do about it.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace coordination::detail {

enum class disposition {
  fail,            // surface the error
  retry,           // etcd refused before applying: safe to resend anywhere, also writes
  retry_if_read,   // a read may be resent; for a write the outcome is unknown
  reauthenticate,  // the token is invalid or expired: get a new one, then resend
};

struct mapped_error {
  std::error_code code;
  std::string message;  // etcd's message, or a description of what was wrong
  int grpc_code = -1;
  disposition action = disposition::fail;
};

mapped_error map_gateway_error(unsigned http_status, std::string_view body);

}  // namespace coordination::detail
