// The decision of what one call does after a failed attempt: resend (now or after a backoff),
// authenticate again, or fail with which error — and what the attempt says of its endpoint.
// A sans-io core: no sockets, timers or coroutines; time and the jitter's randomness are
// arguments. http_transport drives it; test/unit/test_retry_policy.cpp sweeps every
// (stage x class x error) combination.
//
// The rule that matters most: a `write` is never resent once it may have reached etcd (after it
// was sent, a broken connection, a missing answer or an answer "may have been applied" fails
// the call with outcome_unknown or timeout). Reads and idempotent writes are resent after any
// failure, within the call's deadline and its attempt budget (max_retries + endpoint count).
// A resend goes at once to another usable endpoint; on the same one it waits a jittered backoff,
// except after a connection broke during an exchange (a reset, a lost answer): that resend goes at
// once on a new connection and is not counted against the budget (twice per call at most).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <system_error>

#include "coordination/client_config.hpp"
#include "protocol/error_mapping.hpp"

namespace coordination::transport {

// Declared where a call is made.
enum class call_kind {
  read,        // no side effects: resent anywhere after any failure
  idempotent,  // a write that may be applied twice with the effect of once (a lease grant, a
               // delete of one's own key, a put-if-absent of one's own key): resent like a read
  write,       // resent only when etcd cannot have applied it
};

// Where an attempt stopped.
enum class attempt_stage {
  connect,  // TCP connect / TLS handshake: nothing was sent
  probe,    // the readiness probe on a new connection: the call's request was not sent
  send,     // writing the request: not all of it left, etcd cannot act on it
  receive,  // the request was sent; the answer did not come (whole)
  answer,   // etcd answered with an error (see attempt_report::gateway)
};

enum class attempt_error {
  refused,    // connect failed (refused, unreachable, no connection within dial_timeout)
  tls,        // TLS handshake or certificate failure (a configuration error, not resent)
  no_answer,  // the attempt's own deadline (attempt_timeout, probe_timeout) passed: no answer
  deadline,   // the call's deadline passed
  broken,     // the connection failed: reset, closed early, or an answer that does not parse
  cancelled,  // the caller cancelled, or the client was closed
  too_large,  // the answer is over max_response_bytes
  slow,       // a read's answer did not begin within its early bound (slow_reads.hpp): resent at
              // once on a new connection; says nothing of the endpoint
  gateway,    // etcd answered an error: gateway holds what it means
};

struct attempt_report {
  attempt_stage stage = attempt_stage::connect;
  attempt_error error = attempt_error::refused;
  detail::mapped_error gateway;  // for attempt_error::gateway
  std::string what;              // "http://a:2379/v3/kv/put: connection reset" (for messages)
};

enum class endpoint_mark { none, down, suspect };

struct verdict {
  enum class action { retry, reauthenticate, fail };
  action what = action::fail;
  std::error_code code;                      // fail: the error to throw
  std::string message;                       // fail: its message
  std::chrono::milliseconds backoff{0};      // retry: wait this long first (0: at once)
  endpoint_mark mark = endpoint_mark::none;  // what to record of the attempt's endpoint
};

const char* to_string(call_kind k);
const char* to_string(attempt_stage s);
const char* to_string(attempt_error e);

class call_policy {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // `fixed`: the call must stay on one endpoint (no failover; retries wait a backoff there).
  // `authenticated`: the call carries a token (an auth refusal may be answered by a new one,
  // once).
  call_policy(call_kind kind, const retry_config& retry, std::size_t endpoint_count, bool fixed,
              bool authenticated, time_point deadline);

  // After a failed attempt. `other_usable`: another endpoint could take a retry at once.
  // `random` in [0, 1) picks the jitter within [interval/2, interval].
  verdict after(const attempt_report& r, time_point now, bool other_usable, double random);

  int attempts() const { return attempts_; }
  // An idempotent write: an earlier attempt reached etcd (it may have been applied, or may be).
  bool maybe_applied() const { return maybe_applied_; }
  call_kind kind() const { return kind_; }

 private:
  verdict fail(std::error_code code, std::string message) const;
  // A failure of an idempotent write one of whose attempts may have been applied: `unavailable`
  // (which promises "not applied") becomes outcome_unknown, and the message says so.
  verdict fail_after_attempts(std::error_code code, std::string message) const;
  // `at_once`: no backoff even on the same endpoint.
  verdict resend(const attempt_report& r, endpoint_mark mark, std::error_code code, time_point now,
                 bool other_usable, double random, bool at_once = false);

  call_kind kind_;
  retry_config retry_;
  bool fixed_;
  bool authenticated_;
  bool reauthenticated_ = false;
  time_point deadline_;
  int attempts_ = 0;
  bool maybe_applied_ = false;  // an attempt of an idempotent write reached etcd
  int free_resends_ = 0;        // resends at once after a broken exchange, outside the budget
  int max_attempts_;
  std::chrono::milliseconds interval_;
};

}  // namespace coordination::transport
