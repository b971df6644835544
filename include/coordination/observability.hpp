// Metrics and tracing hooks of a coordination::client (and so of everything built on it).
//
// Metrics: set client_config::metrics to a prometheus::Registry (prometheus-cpp) and the client
// adds its families there (names below); serve the registry however the application likes
// (prometheus::Exposer, or prometheus::TextSerializer in its own HTTP server). Clients sharing
// one registry share its series. Updated on the client's executor; prometheus-cpp makes
// collecting from another thread safe.
//
//   coordination_requests_total{call}            etcd calls made, by gateway path
//   coordination_request_duration_seconds{call}  whole calls, retries and failovers included
//   coordination_request_errors_total{call,code} failed calls, by error code (error_name()) as
//                                                the transport saw them (etcd errors, unavailable,
//                                                timeout, cancelled)
//   coordination_http_requests_total             HTTP attempts sent (calls plus resends)
//   coordination_retries_total, coordination_failovers_total, coordination_reauthentications_total
//   coordination_watch_streams, coordination_watches      gauges: open streams, live watches
//   coordination_watch_events_total, coordination_watch_stream_failures_total,
//   coordination_watch_resumes_total
//   coordination_keepalive_failures_total, coordination_sessions_lost_total
//   coordination_lock_wait_seconds{recipe}, coordination_lock_hold_seconds{recipe}  histograms
//   coordination_locks_held{recipe}              gauge (recipe: mutex, read, write, semaphore,
//                                                election)
//   coordination_registry_cached_services, coordination_registry_cached_instances  gauges
//
// Tracing: set client_config::tracer to an implementation of `tracer`; the client starts a span
// around every etcd call ("etcd <path>") and every recipe step ("lock.acquire", "lock.release",
// "election.campaign", "registry.register", "config.set", ...). Spans are flat (no parent
// links); the attributes (key, name, endpoint, attempts) tie them together. make_spdlog_tracer()
// is the ready-made one: a log line per span. The tracer is called on the client's executor.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace spdlog {
class logger;
}

namespace coordination {

// One operation being traced. The client calls set_attribute/set_error any number of times,
// then end() exactly once, then destroys it.
class span {
 public:
  virtual ~span() = default;
  virtual void set_attribute(std::string_view key, std::string_view value) = 0;
  virtual void set_error(std::error_code code, std::string_view message) = 0;
  virtual void end() = 0;
};

// Implemented by the application (or make_spdlog_tracer()). start_span may return null to skip
// a span.
class tracer {
 public:
  virtual ~tracer() = default;
  virtual std::unique_ptr<span> start_span(std::string_view name) = 0;
};

// A tracer that logs one line per span when it ends: name, duration, attributes, and the error
// if any (at warn for errors, else at `level`, an spdlog level: 0 trace ... 2 info). Null
// logger: the logger named "coordination".
std::shared_ptr<tracer> make_spdlog_tracer(std::shared_ptr<spdlog::logger> logger = nullptr,
                                           int level = 2);

// The error's enumerator name for a coordination error ("unavailable", "lock_lost", ...), else
// "<category>:<value>".
std::string error_name(std::error_code code);

}  // namespace coordination
