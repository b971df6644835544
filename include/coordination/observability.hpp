/// \file
/// Metrics and tracing hooks of a coordination::client (and so of everything built on it).
///
/// Metrics: set client_config::metrics to a prometheus::Registry (prometheus-cpp) and the client
/// adds its families there (names below); serve the registry however the application likes
/// (prometheus::Exposer, or prometheus::TextSerializer in its own HTTP server). Clients sharing
/// one registry share its series. Updated on the client's executor; prometheus-cpp makes
/// collecting from another thread safe.
///
/// \code{.unparsed}
///   coordination_requests_total{call}            etcd calls made, by gateway path
///   coordination_request_duration_seconds{call}  whole calls, retries and failovers included
///   coordination_request_errors_total{call,code} failed calls, by error code (error_name()) as
///                                                the transport saw them (etcd errors, unavailable,
///                                                timeout, cancelled)
///   coordination_http_requests_total             HTTP attempts sent (calls plus resends)
///   coordination_retries_total, coordination_failovers_total, coordination_reauthentications_total
///   coordination_watch_streams, coordination_watches      gauges: open streams, live watches
///   coordination_watch_events_total, coordination_watch_stream_failures_total,
///   coordination_watch_resumes_total
///   coordination_keepalive_failures_total, coordination_sessions_lost_total
///   coordination_lock_wait_seconds{recipe}, coordination_lock_hold_seconds{recipe}  histograms
///   coordination_locks_held{recipe}              gauge (recipe: mutex, read, write, semaphore,
///                                                election)
///   coordination_registry_cached_services, coordination_registry_cached_instances  gauges
/// \endcode
///
/// Tracing: set client_config::tracer to an implementation of `tracer`; the client starts a span
/// around every etcd call ("etcd <path>") and every recipe step ("lock.acquire", "lock.release",
/// "election.campaign", "registry.register", "config.set", ...). Spans are flat (no parent
/// links); the attributes (key, name, endpoint, attempts) tie them together. make_spdlog_tracer()
/// is the ready-made one: a log line per span. The tracer is called on the client's executor.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace spdlog {
class logger;
}

namespace coordination {

/// One operation being traced. The client calls set_attribute/set_error any number of times,
/// then end() exactly once, then destroys it.
///
/// Implemented by the application (or by make_spdlog_tracer()'s spans). Thread-safety: every
/// call comes from the client's executor, one at a time.
class span {
 public:
  /// Destroyed by the client after end().
  virtual ~span() = default;
  /// Adds an attribute (`key` such as "key", "name", "endpoint"; `value` may be any bytes: an
  /// etcd key or value). The views are valid during the call only.
  virtual void set_attribute(std::string_view key, std::string_view value) = 0;
  /// Marks the operation failed with `code` (an `error` of this library, or a system code) and
  /// its diagnostic. The views are valid during the call only.
  virtual void set_error(std::error_code code, std::string_view message) = 0;
  /// The operation ended (after its last set_attribute / set_error).
  virtual void end() = 0;
};

/// Implemented by the application (or make_spdlog_tracer()). start_span may return null to skip
/// a span.
///
/// Set as client_config::tracer (a shared_ptr: one tracer may serve several clients).
/// Thread-safety: each client calls it from its own executor; a tracer shared by clients on
/// different threads must be safe for that.
class tracer {
 public:
  /// Destroyed with the last client (or copy of the shared_ptr) that holds it.
  virtual ~tracer() = default;
  /// Starts a span named `name` ("etcd /v3/kv/range", "lock.acquire", ...), or returns null to
  /// skip it. `name` is valid during the call only.
  virtual std::unique_ptr<span> start_span(std::string_view name) = 0;
};

/// A tracer that logs one line per span when it ends: name, duration, attributes, and the error
/// if any (at warn for errors, else at `level`, an spdlog level: 0 trace ... 2 info). Null
/// logger: the logger named "coordination".
///
/// (Without a logger of that name when a span starts, spdlog's default logger. A span is skipped
/// when the logger would log neither at `level` nor at warn. Attribute values are cut at 200
/// bytes, unprintable bytes written as \\xNN.) Throws coordination_error(invalid_argument) when
/// `level` is not an spdlog level (0 trace .. 6 off).
std::shared_ptr<tracer> make_spdlog_tracer(std::shared_ptr<spdlog::logger> logger = nullptr,
                                           int level = 2);

/// The error's enumerator name for a coordination error ("unavailable", "lock_lost", ...), else
/// "<category>:<value>" (the category's name and the code's value, as in "system:111").
std::string error_name(std::error_code code);

}  // namespace coordination
