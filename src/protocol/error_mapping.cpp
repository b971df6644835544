#include "protocol/error_mapping.hpp"

#include <nlohmann/json.hpp>

#include "coordination/error.hpp"

namespace coordination::detail {
namespace {

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

mapped_error map_gateway_error(unsigned http_status, std::string_view body) {
  mapped_error out;
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  // The streaming endpoints (lease keep-alive, watch over POST) wrap their error:
  // {"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",...}} (3.4, 3.5;
  // grpc-gateway v1), {"error":{"code":14,"message":"etcdserver: no leader"}} (3.6; v2).
  if (!parsed.is_discarded() && parsed.is_object() && !parsed.contains("code") &&
      parsed.contains("error") && parsed["error"].is_object()) {
    auto inner = parsed["error"];
    const char* code_key = inner.contains("grpc_code") ? "grpc_code" : "code";
    if (inner.contains(code_key) && inner[code_key].is_number_integer()) {
      nlohmann::json flat;
      flat["code"] = inner[code_key];
      if (inner.contains("message")) flat["message"] = inner["message"];
      parsed = std::move(flat);
    }
  }
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("code") ||
      !parsed["code"].is_number_integer()) {
    out.code = make_error_code(error::protocol_error);
    std::string excerpt(body.substr(0, 200));
    out.message = "HTTP " + std::to_string(http_status) + " without an etcd error body: " + excerpt;
    // A proxy or a member in trouble: another attempt (elsewhere) can only help reads.
    out.action = http_status >= 500 ? disposition::retry_if_read : disposition::fail;
    return out;
  }
  out.grpc_code = parsed["code"].get<int>();
  if (parsed.contains("message") && parsed["message"].is_string())
    out.message = parsed["message"].get<std::string>();
  else if (parsed.contains("error") && parsed["error"].is_string())
    out.message = parsed["error"].get<std::string>();
  const std::string& m = out.message;
  auto set = [&](error e, disposition d = disposition::fail) {
    out.code = make_error_code(e);
    out.action = d;
  };
  switch (out.grpc_code) {
    case 1:  // Canceled: e.g. "etcdserver: request cancelled"; a write may have gone through
    case 4:  // DeadlineExceeded
      set(error::timeout, disposition::retry_if_read);
      break;
    case 2:  // Unknown: "context deadline exceeded" after leader loss; outcome unknown
      if (has(m, "deadline exceeded") || has(m, "context canceled"))
        set(error::timeout, disposition::retry_if_read);
      else
        set(error::server_error);
      break;
    case 3:  // InvalidArgument
      if (has(m, "authentication failed") || has(m, "user name is empty") ||
          has(m, "invalid user") || has(m, "password"))
        set(error::auth_failed);
      else
        set(error::invalid_argument);
      break;
    case 5:  // NotFound
      set(has(m, "lease not found") ? error::lease_not_found : error::not_found);
      break;
    case 6:   // AlreadyExists
    case 10:  // Aborted
      set(error::conflict);
      break;
    case 7:
      set(error::permission_denied);
      break;
    case 8:  // ResourceExhausted: rate limit (not applied) or a message over gRPC's limit
      if (has(m, "too many requests"))
        set(error::unavailable, disposition::retry);
      else
        set(error::invalid_argument);
      break;
    case 9:  // FailedPrecondition
      set(has(m, "already exists") ? error::conflict : error::server_error);
      break;
    case 11:  // OutOfRange
      set(has(m, "compacted") ? error::compacted : error::invalid_argument);
      break;
    case 14:  // Unavailable. Go's client resends a write only for "no leader": nothing else is
              // known to be refused before it was applied.
      set(error::unavailable,
          has(m, "no leader") ? disposition::retry : disposition::retry_if_read);
      break;
    case 16:  // Unauthenticated
      if (has(m, "invalid auth token") || has(m, "auth token"))
        set(error::auth_failed, disposition::reauthenticate);
      else
        set(error::auth_failed);
      break;
    default:
      set(error::server_error);
      break;
  }
  return out;
}

}  // namespace coordination::detail
