#include "observability/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "coordination/observability.hpp"

namespace coordination::detail {

namespace {

using seconds_d = std::chrono::duration<double>;

double secs(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<seconds_d>(d).count();
}

// Request latencies: 250 µs to 10 s.
const prometheus::Histogram::BucketBoundaries& request_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

// Lock wait and hold times: 1 ms to 5 min.
const prometheus::Histogram::BucketBoundaries& lock_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                         1,     5,     10,   30,   60,  300};
  return b;
}

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

client_metrics::client_metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  auto& r = *registry_;
  calls_ = &prometheus::BuildCounter()
                .Name("coordination_requests_total")
                .Help("etcd calls made, by gateway path")
                .Register(r);
  durations_ = &prometheus::BuildHistogram()
                    .Name("coordination_request_duration_seconds")
                    .Help("Duration of whole etcd calls, retries and failovers included")
                    .Register(r);
  errors_ = &prometheus::BuildCounter()
                 .Name("coordination_request_errors_total")
                 .Help("Failed etcd calls, by gateway path and error code")
                 .Register(r);
  lock_wait_ = &prometheus::BuildHistogram()
                    .Name("coordination_lock_wait_seconds")
                    .Help("Time from asking for a lock to holding it")
                    .Register(r);
  lock_hold_ = &prometheus::BuildHistogram()
                    .Name("coordination_lock_hold_seconds")
                    .Help("Time a lock was held (until released or lost)")
                    .Register(r);
  locks_held_ = &prometheus::BuildGauge()
                     .Name("coordination_locks_held")
                     .Help("Locks, leaderships and permits held now")
                     .Register(r);
  http_requests_ = &counter(r, "coordination_http_requests_total",
                            "HTTP requests sent to etcd (calls plus resends)");
  retries_ = &counter(r, "coordination_retries_total", "Attempts of a call made again");
  failovers_ = &counter(r, "coordination_failovers_total", "Moves to another etcd endpoint");
  reauthentications_ =
      &counter(r, "coordination_reauthentications_total", "Auth tokens refused and fetched again");
  watch_streams_ = &gauge(r, "coordination_watch_streams", "Watch streams open to etcd");
  watches_ = &gauge(r, "coordination_watches", "Watches live on the streams");
  watch_events_ =
      &counter(r, "coordination_watch_events_total", "Watch events delivered to consumers");
  watch_failures_ = &counter(r, "coordination_watch_stream_failures_total",
                             "Watch streams that broke (their watches were moved)");
  watch_resumes_ = &counter(r, "coordination_watch_resumes_total",
                            "Watches re-created from their next revision after a break");
  keepalive_failures_ = &counter(r, "coordination_keepalive_failures_total",
                                 "Lease renewals that failed (the lease may still live)");
  sessions_lost_ = &counter(r, "coordination_sessions_lost_total", "Sessions whose lease was lost");
  cached_services_ =
      &gauge(r, "coordination_registry_cached_services", "Service names with a discovery cache");
  cached_instances_ =
      &gauge(r, "coordination_registry_cached_instances", "Instances in the discovery caches");
}

client_metrics::~client_metrics() {
  watch_counts(0, 0);
}

client_metrics::call_series& client_metrics::series_for(std::string_view path) {
  auto it = calls_by_path_.find(path);
  if (it == calls_by_path_.end()) {
    prometheus::Labels labels{{"call", std::string(path)}};
    call_series s{&calls_->Add(labels), &durations_->Add(labels, request_buckets())};
    it = calls_by_path_.emplace(std::string(path), s).first;
  }
  return it->second;
}

void client_metrics::call_done(std::string_view path, std::chrono::steady_clock::duration took,
                               std::error_code failure) {
  auto& s = series_for(path);
  s.calls->Increment();
  s.duration->Observe(secs(took));
  if (!failure) return;
  auto name = error_name(failure);
  std::string key = std::string(path) + ' ' + name;
  auto it = errors_by_key_.find(key);
  if (it == errors_by_key_.end())
    it = errors_by_key_.emplace(key, &errors_->Add({{"call", std::string(path)}, {"code", name}}))
             .first;
  it->second->Increment();
}

void client_metrics::http_request() {
  http_requests_->Increment();
}
void client_metrics::retry() {
  retries_->Increment();
}
void client_metrics::failover() {
  failovers_->Increment();
}
void client_metrics::reauthentication() {
  reauthentications_->Increment();
}

void client_metrics::watch_counts(std::int64_t streams, std::int64_t watches) {
  watch_streams_->Increment(static_cast<double>(streams - streams_reported_));
  watches_->Increment(static_cast<double>(watches - watches_reported_));
  streams_reported_ = streams;
  watches_reported_ = watches;
}
void client_metrics::watch_events(std::size_t n) {
  watch_events_->Increment(static_cast<double>(n));
}
void client_metrics::watch_stream_failure() {
  watch_failures_->Increment();
}
void client_metrics::watch_resume() {
  watch_resumes_->Increment();
}
void client_metrics::keepalive_failure() {
  keepalive_failures_->Increment();
}
void client_metrics::session_lost() {
  sessions_lost_->Increment();
}

client_metrics::recipe_series& client_metrics::recipe(const char* name) {
  auto it = recipes_.find(std::string_view(name));
  if (it == recipes_.end()) {
    prometheus::Labels labels{{"recipe", name}};
    recipe_series s{&lock_wait_->Add(labels, lock_buckets()),
                    &lock_hold_->Add(labels, lock_buckets()), &locks_held_->Add(labels)};
    it = recipes_.emplace(name, s).first;
  }
  return it->second;
}

void client_metrics::lock_acquired(const char* recipe_name,
                                   std::chrono::steady_clock::duration waited) {
  auto& s = recipe(recipe_name);
  s.wait->Observe(secs(waited));
  s.held->Increment();
}

void client_metrics::lock_released(const char* recipe_name,
                                   std::chrono::steady_clock::duration held) {
  auto& s = recipe(recipe_name);
  s.hold->Observe(secs(held));
  s.held->Decrement();
}

void client_metrics::registry_cache_delta(std::int64_t services, std::int64_t instances) {
  cached_services_->Increment(static_cast<double>(services));
  cached_instances_->Increment(static_cast<double>(instances));
}

}  // namespace coordination::detail
