// The client's way to etcd: a list of endpoints, one connection pool each, and the loop that
// turns one call into attempts. What to do after a failed attempt is call_policy's decision
// (retry_policy.hpp), where a call goes is endpoint_health's; this file does the I/O: it takes a
// connection, proves a new one with a readiness probe, bounds each attempt by attempt_timeout,
// and probes suspect endpoints in the background (one coroutine, a task of the client's task
// group: close() here, or the group's, ends it).
// Not thread-safe: all calls on the client's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "coordination/client_config.hpp"
#include "detail/task_group.hpp"
#include "observability/metrics.hpp"
#include "observability/tracing.hpp"
#include "transport/call_fsm.hpp"
#include "transport/endpoint_health.hpp"
#include "transport/pool.hpp"
#include "transport/retry_policy.hpp"
#include "transport/slow_reads.hpp"

namespace coordination::transport {

// What a successful call's answer does not show.
struct call_notes {
  // An idempotent write: an attempt before the one that answered reached etcd and its answer was
  // lost. That copy was applied already or may still be applied later (a paused member's gateway
  // holding it): a put-if-absent whose key goes after this answer can come back.
  bool earlier_attempt_reached = false;
};

struct transport_stats {
  std::uint64_t requests = 0;  // attempts sent
  std::uint64_t retries = 0;
  std::uint64_t failovers = 0;
  std::uint64_t reauthentications = 0;
  std::uint64_t probes = 0;         // readiness probes on new connections
  std::uint64_t suspect_marks = 0;  // endpoints marked suspect (no answer in time)
  std::uint64_t background_probes = 0;
  std::uint64_t slow_read_resends = 0;  // reads resent after their early bound (slow_reads)
};

class http_transport {
 public:
  // `tasks` (which runs the prober), `metrics` and `trace` (either may be null) must outlive the
  // transport.
  http_transport(boost::asio::any_io_executor ex, const client_config& cfg,
                 std::shared_ptr<spdlog::logger> log, detail::task_group& tasks,
                 detail::client_metrics* metrics = nullptr, tracer* trace = nullptr);
  ~http_transport();

  // POSTs `body` to `path`; returns the body of a 2xx answer, throws coordination_error.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body, call_kind kind);
  // Same with a deadline of the caller's instead of request_timeout.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body, call_kind kind,
                                           clock::time_point deadline);
  // Same, and says in `notes` what the caller cannot see in the answer.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body, call_kind kind,
                                           call_notes& notes);
  // Same, but only to the endpoint `url` (must be one of endpoints()), no failover.
  boost::asio::awaitable<std::string> call_at(std::string_view url, std::string_view path,
                                              std::string body, call_kind kind);
  boost::asio::awaitable<std::string> call_at(std::string_view url, std::string_view path,
                                              std::string body, call_kind kind,
                                              clock::time_point deadline);

  std::vector<std::string> endpoints() const;
  // Whether `url` answers HTTP/1.1 (GET /version within probe_timeout) on a connection of its
  // own. A gRPC-only listener (--listen-client-urls next to --listen-client-http-urls, etcd
  // 3.4.25+/3.5.8+/3.6) closes it instead. Throws invalid_argument for a bad URL, cancelled when
  // the caller cancels.
  boost::asio::awaitable<bool> answers_http(const std::string& url);
  // The whole answer to that GET /version (none when no HTTP answer came). It needs no auth in
  // any etcd version: {"etcdserver":"3.5.30","etcdcluster":"3.5.0"}.
  boost::asio::awaitable<std::optional<http_response>> get_version(const std::string& url);
  // Replaces the endpoint list (keeps the pools of endpoints that stay).
  void set_endpoints(const std::vector<std::string>& urls);
  std::string current_endpoint() const;
  const endpoint_health& health() const { return health_; }
  // Connections open (idle or in use) over all endpoints.
  std::size_t open_connections() const;
  const transport_stats& stats() const { return stats_; }

  // For long-lived streams (the watch hub) that manage their own connections:
  std::size_t pick_endpoint() { return health_.pick(clock::now()); }
  const endpoint& endpoint_at(std::size_t i) const { return endpoints_[i].connections->remote(); }
  std::size_t endpoint_count() const { return endpoints_.size(); }
  void mark_endpoint_failed(std::size_t i) { note(i, endpoint_mark::down); }
  boost::asio::ssl::context* tls_context() { return tls_ ? &*tls_ : nullptr; }
  // The Authorization value to send (authenticating first when needed); empty without auth.
  boost::asio::awaitable<std::string> authorization(clock::time_point deadline);
  // Forgets the token (it was refused); the next authorization() fetches a new one.
  void drop_token() { token_.clear(); }
  boost::asio::any_io_executor get_executor() const { return ex_; }
  spdlog::logger& log() const { return *log_; }
  void close();

 private:
  struct member_endpoint {
    std::shared_ptr<pool> connections;
  };
  struct prober_state;

  boost::asio::awaitable<std::string> run(std::optional<std::size_t> fixed, std::string_view path,
                                          std::string body, call_kind kind, bool authenticated,
                                          clock::time_point deadline, call_notes* notes = nullptr);
  // One call's attempts; run() adds the translation of Asio's cancellation.
  boost::asio::awaitable<std::string> attempts(std::optional<std::size_t> fixed,
                                               std::string_view path, std::string body,
                                               call_kind kind, bool authenticated,
                                               clock::time_point deadline, detail::span_scope& span,
                                               call_notes* notes);
  boost::asio::awaitable<void> authenticate(clock::time_point deadline);
  // What an attempt said of endpoint `index`: logged, counted, handed to health_.
  void note(std::size_t index, endpoint_mark mark);
  // A mark already handed to health_ (by a call's machine): logged and counted.
  void reported(const endpoint_note& n);
  // An action that follows a failed attempt: counters, logs, the span, a refused token dropped.
  void after_failure(const call_action& a, std::string_view path, call_kind kind, int attempt,
                     const std::string& url, detail::span_scope& span);
  // The current index of the endpoint served by `p` (the list may change while a call waits).
  std::optional<std::size_t> index_of(const std::shared_ptr<pool>& p) const;
  void start_prober();
  static boost::asio::awaitable<void> probe_loop(std::shared_ptr<prober_state> st);

  boost::asio::any_io_executor ex_;
  client_config cfg_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<boost::asio::ssl::context> tls_;
  std::vector<member_endpoint> endpoints_;
  endpoint_health health_;
  std::shared_ptr<prober_state> prober_;
  std::string token_;
  std::minstd_rand rng_;
  slow_reads slow_reads_;
  transport_stats stats_;
  detail::task_group& tasks_;
  detail::client_metrics* metrics_;
  tracer* tracer_;
  bool closed_ = false;
};

}  // namespace coordination::transport
