#include "coordination/error.hpp"

namespace coordination {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coordination"; }
  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::ok:
        return "success";
      case error::invalid_argument:
        return "invalid argument";
      case error::unavailable:
        return "etcd unavailable";
      case error::timeout:
        return "timed out";
      case error::cancelled:
        return "cancelled";
      case error::outcome_unknown:
        return "outcome unknown (the request may have been applied)";
      case error::auth_failed:
        return "authentication failed";
      case error::permission_denied:
        return "permission denied";
      case error::not_found:
        return "not found";
      case error::lease_not_found:
        return "lease not found";
      case error::conflict:
        return "conflict";
      case error::compacted:
        return "revision compacted";
      case error::protocol_error:
        return "protocol error";
      case error::response_too_large:
        return "response too large";
      case error::tls_error:
        return "TLS error";
      case error::session_expired:
        return "session expired";
      case error::locked:
        return "locked";
      case error::lock_lost:
        return "lock lost";
      case error::server_error:
        return "etcd server error";
      case error::not_leader:
        return "not the leader";
      case error::not_initialized:
        return "not initialized";
    }
    return "unknown coordination error";
  }
};

std::string what_of(std::error_code ec, const std::string& diagnostic) {
  if (diagnostic.empty()) return ec.message();
  return ec.message() + ": " + diagnostic;
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

bool is_retryable(std::error_code ec) noexcept {
  return ec == error::unavailable || ec == error::timeout;
}

coordination_error::coordination_error(std::error_code ec, std::string diagnostic)
    : std::system_error(ec), diagnostic_(std::move(diagnostic)), what_(what_of(ec, diagnostic_)) {}

}  // namespace coordination
