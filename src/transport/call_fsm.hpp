// The attempt loop of one etcd call as a state machine, after Boost.Redis's exec_fsm: it owns the
// whole sequence (authenticate when there is no token, take a connection, prove a new one with a
// readiness probe, exchange, wait a backoff, authenticate again after a refused token) and
// returns one action at a time; the driver (http_transport) only does the I/O an action names
// and resumes the machine with what happened. Every decision is here: what a failed step means
// (the classification of connect, probe and exchange errors into an attempt_report), what to do
// next (call_policy), and what the attempt says of its endpoint (applied to endpoint_health).
//
// A sans-io core: no sockets, timers or coroutines. Time, the jitter's randomness, whether the
// transport holds a token or was closed are parts of each call_event.
// test/unit/test_call_fsm.cpp steps it with a failure injected at every step.
// Not thread-safe: one call's driver.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "coordination/client_config.hpp"
#include "transport/endpoint_health.hpp"
#include "transport/retry_policy.hpp"

namespace coordination::transport {

// A passed deadline (beast::error::timeout, as connection reports it).
bool is_timeout(const std::error_code& ec);

// What one call is.
struct call_setup {
  call_kind kind = call_kind::read;
  std::string path;                  // "/v3/kv/put" (for messages)
  std::size_t body_bytes = 0;        // the request body's size
  std::optional<std::size_t> fixed;  // call_at(): only this endpoint, no failover
  bool use_auth = false;             // the request carries a token
  std::chrono::steady_clock::time_point deadline{};
  // A read: an answer it waits for (a readiness probe's or the request's) must begin within this
  // (slow_reads::bound()), else it is resent at once on a new connection; after one such miss
  // within 4 times this; after two, and when none: probe_timeout and attempt_timeout.
  std::optional<std::chrono::milliseconds> early_answer;
};

// What the driver tells the machine on each resume: the world now, and how the last action ended.
struct call_event {
  std::chrono::steady_clock::time_point now{};
  bool closed = false;      // the transport was closed
  bool have_token = false;  // the transport holds an auth token
  double random = 0;        // in [0, 1): picks a backoff's jitter
  // After acquire, probe or exchange: the attempt's endpoint's index now (the list may have
  // been replaced meanwhile; none when it is gone) and its URL.
  std::optional<std::size_t> endpoint_now;
  std::string_view url;
  // How the last action ended: no error, or the transport's error (Asio, Beast, SSL, or a
  // coordination::error), with `why` for a malformed answer.
  std::error_code ec;
  std::string_view why;
  bool proven = true;           // acquire: the connection has been answered on before
  bool sent = true;             // exchange: the request left whole (it failed while receiving)
  unsigned status = 0;          // exchange: the HTTP status of the answer
  std::string_view body;        // exchange: the answer's body (for a non-2xx status)
  std::string_view diagnostic;  // authenticate: the failure's message
};

// What an attempt's failure did to its endpoint's standing (for the driver's log and counters).
struct endpoint_note {
  std::size_t endpoint = 0;
  endpoint_mark mark = endpoint_mark::none;  // down or suspect
  bool moved = false;                        // the current endpoint moved on (a failover)
};

struct call_action {
  enum class type {
    authenticate,  // fetch a token (bounded by `until`); resume with ec/diagnostic
    acquire,       // take a connection to `endpoint` (bounded by `until`); resume with ec, proven
    probe,         // GET /version on it, bounded by `until`; on a failure close it
    exchange,      // send the request; first answer bytes by `answer_by`, all by `until`; on a
                   // failure close the connection, else give it back
    wait,          // sleep `backoff`; resume with ec set when cancelled
    done,          // the answer (2xx) is the call's result
    fail,          // throw coordination_error(code, message)
  };
  type what = type::fail;
  std::size_t endpoint = 0;
  std::chrono::steady_clock::time_point until{};
  std::chrono::steady_clock::time_point answer_by{};
  std::chrono::milliseconds backoff{0};
  std::error_code code;
  std::string message;
  // Set on the action that follows a failed attempt:
  std::optional<endpoint_note> note;       // the endpoint was marked (health already updated)
  const attempt_report* failed = nullptr;  // the failure (valid until the next resume)
  bool retrying = false;                   // a resend starts (after `wait` when that is the action)
  bool reauthenticating = false;           // authenticate: the token was refused; drop it first
  // done: an idempotent write's earlier attempt reached etcd (call_notes).
  bool earlier_attempt_reached = false;
};

const char* to_string(call_action::type t);

class call_fsm {
 public:
  call_fsm(call_setup setup, const client_config& cfg, endpoint_health& health);

  // The first resume starts the call (the event's outcome fields are ignored); each later one
  // reports how the previous action ended. After done or fail the machine is finished.
  call_action resume(const call_event& ev);

  const call_policy& policy() const { return policy_; }

 private:
  enum class state { start, authenticating, acquiring, probing, exchanging, waiting, finished };

  call_action begin_attempt(const call_event& ev);
  call_action exchange(const call_event& ev);
  using clock_point = std::chrono::steady_clock::time_point;
  // The answer bound of a probe or an exchange: `bound`, or a read's early bound (armed).
  clock_point early_bound(const call_event& ev, clock_point bound);
  // A failed attempt: ask the policy, mark the endpoint, and return what comes next.
  call_action failed(const call_event& ev);
  call_action finish(call_action a);
  call_action fail(std::error_code code, std::string message);

  call_setup setup_;
  const client_config& cfg_;
  endpoint_health& health_;
  call_policy policy_;
  state state_ = state::start;
  attempt_report report_;
  int early_expired_ = 0;  // early answer bounds that passed without an answer
  std::optional<std::chrono::milliseconds> early_armed_;  // the bound of the exchange in flight
};

}  // namespace coordination::transport
