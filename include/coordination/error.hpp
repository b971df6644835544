/// \file
/// Errors of the coordination library: one error enum with its own category, and the exception
/// thrown by the awaitable API, which carries etcd's own message next to the code.
#pragma once

#include <string>
#include <system_error>

namespace coordination {

/// The error codes of the library (category "coordination", see category()). An `error`
/// converts to `std::error_code` (`std::is_error_code_enum` is specialised), so
/// `e.code() == error::locked` compares a caught coordination_error's code directly.
enum class error {
  /// Success (never thrown).
  ok = 0,
  invalid_argument,    ///< bad input, rejected before anything was sent (message names the field)
  unavailable,         ///< no endpoint could serve the request (connect failures, no leader, ...)
  timeout,             ///< the operation's deadline passed
  cancelled,           ///< cancelled by the caller (Asio per-operation cancellation)
  outcome_unknown,     ///< a write was sent but no answer came: it may or may not have been applied
  auth_failed,         ///< wrong user name or password, or authentication refused
  permission_denied,   ///< the user's roles do not allow this key or call
  not_found,           ///< key, member or other entity absent
  lease_not_found,     ///< etcd does not know the lease (expired or revoked)
  conflict,            ///< a compare-and-set precondition did not hold
  compacted,           ///< the requested revision was compacted
  protocol_error,      ///< the server sent something that is not a valid gateway answer
  response_too_large,  ///< the answer exceeded client_config::max_response_bytes
  tls_error,           ///< TLS set-up or handshake failed
  session_expired,     ///< the session's lease is gone
  locked,              ///< a try-lock found the lock held by someone else
  lock_lost,           ///< the lock is no longer held (session lost or its key deleted)
  server_error,        ///< any other error etcd reported
  not_leader,          ///< an election call needs leadership this handle no longer has
  not_initialized,     ///< a global function was called before coordination::init()
};

/// The error category of `error` (name "coordination"; message() gives a short English text per
/// code). One object for the program's lifetime; safe to use from any thread.
const std::error_category& category() noexcept;

/// Makes a `std::error_code` of category() from `e` (found by argument-dependent lookup, so
/// `std::error_code ec = error::timeout;` works).
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), category()};
}

/// True when repeating the same call may succeed (unavailable, timeout); false for errors that
/// will repeat (invalid_argument, permission_denied, ...) and for outcome_unknown, whose retry
/// may double-apply a write.
///
/// Note that a plain write (put, delete, a txn with writes not marked idempotent) that got no
/// answer in time fails with timeout too, and may then have been applied: read back before
/// repeating such a write. A pure function of `ec`; safe from any thread.
bool is_retryable(std::error_code ec) noexcept;

/// The exception thrown by every awaitable of the library. what() holds the code's message and,
/// when there is one, the server's (or client's) diagnostic.
///
/// A plain value (two strings next to the code): it may be copied and read from any thread.
class coordination_error : public std::system_error {
 public:
  /// An error with code `ec` (usually an `error`) and `diagnostic` (may be empty).
  coordination_error(std::error_code ec, std::string diagnostic);
  /// Same, from an `error` of this library.
  coordination_error(error e, std::string diagnostic)
      : coordination_error(make_error_code(e), std::move(diagnostic)) {}
  /// The diagnostic alone: etcd's message ("etcdserver: ...") or what the client found wrong.
  const std::string& diagnostic() const noexcept { return diagnostic_; }
  /// The code's message, then ": " and the diagnostic when there is one.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string diagnostic_;
  std::string what_;
};

}  // namespace coordination

/// \cond
template <>
struct std::is_error_code_enum<coordination::error> : std::true_type {};
/// \endcond
