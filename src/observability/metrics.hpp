// The Prometheus series of one client (see coordination/observability.hpp for the list). Built
// only when client_config::metrics is set; the layers hold a pointer that is null otherwise, so
// a client without metrics pays one branch per update. Gauges move by deltas, so clients sharing
// a registry add up instead of overwriting each other. The client's executor only.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace coordination::detail {

class client_metrics {
 public:
  explicit client_metrics(std::shared_ptr<prometheus::Registry> registry);
  ~client_metrics();

  // One finished etcd call (all its attempts); `failure` is empty on success.
  void call_done(std::string_view path, std::chrono::steady_clock::duration took,
                 std::error_code failure);
  void http_request();
  void retry();
  void failover();
  void reauthentication();

  // Watch hub: current numbers of streams and watches (applied as deltas).
  void watch_counts(std::int64_t streams, std::int64_t watches);
  void watch_events(std::size_t n);
  void watch_stream_failure();
  void watch_resume();

  void keepalive_failure();
  void session_lost();

  void lock_acquired(const char* recipe, std::chrono::steady_clock::duration waited);
  void lock_released(const char* recipe, std::chrono::steady_clock::duration held);

  // Registry discovery caches: change in services cached and instances in them.
  void registry_cache_delta(std::int64_t services, std::int64_t instances);

 private:
  struct call_series {
    prometheus::Counter* calls;
    prometheus::Histogram* duration;
  };
  struct recipe_series {
    prometheus::Histogram* wait;
    prometheus::Histogram* hold;
    prometheus::Gauge* held;
  };
  call_series& series_for(std::string_view path);
  recipe_series& recipe(const char* name);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* calls_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Histogram>* lock_wait_;
  prometheus::Family<prometheus::Histogram>* lock_hold_;
  prometheus::Family<prometheus::Gauge>* locks_held_;
  prometheus::Counter *http_requests_, *retries_, *failovers_, *reauthentications_;
  prometheus::Gauge *watch_streams_, *watches_;
  prometheus::Counter *watch_events_, *watch_failures_, *watch_resumes_;
  prometheus::Counter *keepalive_failures_, *sessions_lost_;
  prometheus::Gauge *cached_services_, *cached_instances_;
  std::map<std::string, call_series, std::less<>> calls_by_path_;
  std::map<std::string, prometheus::Counter*, std::less<>> errors_by_key_;
  std::map<std::string, recipe_series, std::less<>> recipes_;
  std::int64_t streams_reported_ = 0, watches_reported_ = 0;
};

}  // namespace coordination::detail
