// The client's way to etcd: a list of endpoints, one connection pool each, and the policy that
// turns one call into attempts — pick a healthy endpoint, resend only when that is safe, back off
// with jitter, fail over, re-authenticate, and keep to the call's deadline.
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
#include "detail/metrics.hpp"
#include "detail/tracing.hpp"
#include "transport/pool.hpp"

namespace coordination::transport {

enum class call_kind {
  read,   // no side effects: resent after any failure
  write,  // resent only when etcd cannot have applied it
};

struct transport_stats {
  std::uint64_t requests = 0;  // attempts sent
  std::uint64_t retries = 0;
  std::uint64_t failovers = 0;
  std::uint64_t reauthentications = 0;
};

class http_transport {
 public:
  // `metrics` and `trace` (either may be null) must outlive the transport.
  http_transport(boost::asio::any_io_executor ex, const client_config& cfg,
                 std::shared_ptr<spdlog::logger> log, detail::client_metrics* metrics = nullptr,
                 tracer* trace = nullptr);
  ~http_transport();

  // POSTs `body` to `path`; returns the body of a 2xx answer, throws coordination_error.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body, call_kind kind);
  // Same with a deadline of the caller's instead of request_timeout.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body, call_kind kind,
                                           clock::time_point deadline);
  // Same, but only to the endpoint `url` (must be one of endpoints()), no failover.
  boost::asio::awaitable<std::string> call_at(std::string_view url, std::string_view path,
                                              std::string body, call_kind kind);
  boost::asio::awaitable<std::string> call_at(std::string_view url, std::string_view path,
                                              std::string body, call_kind kind,
                                              clock::time_point deadline);

  std::vector<std::string> endpoints() const;
  // Replaces the endpoint list (keeps the pools of endpoints that stay).
  void set_endpoints(const std::vector<std::string>& urls);
  std::string current_endpoint() const;
  // Connections open (idle or in use) over all endpoints.
  std::size_t open_connections() const;
  const transport_stats& stats() const { return stats_; }

  // For long-lived streams (the watch hub) that manage their own connections:
  std::size_t pick_endpoint() { return pick(); }
  const endpoint& endpoint_at(std::size_t i) const { return endpoints_[i].connections->remote(); }
  std::size_t endpoint_count() const { return endpoints_.size(); }
  void mark_endpoint_failed(std::size_t i) { mark_failed(i); }
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
    clock::time_point cooldown_until{};
  };

  boost::asio::awaitable<std::string> run(std::optional<std::size_t> fixed, std::string_view path,
                                          std::string body, call_kind kind, bool authenticated,
                                          clock::time_point deadline);
  // One call's attempts; run() adds the translation of Asio's cancellation.
  boost::asio::awaitable<std::string> attempts(std::optional<std::size_t> fixed,
                                               std::string_view path, std::string body,
                                               call_kind kind, bool authenticated,
                                               clock::time_point deadline,
                                               detail::span_scope& span);
  boost::asio::awaitable<void> authenticate(clock::time_point deadline);
  std::size_t pick();
  void mark_failed(std::size_t index);

  boost::asio::any_io_executor ex_;
  client_config cfg_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<boost::asio::ssl::context> tls_;
  std::vector<member_endpoint> endpoints_;
  std::size_t current_ = 0;
  std::string token_;
  std::minstd_rand rng_;
  transport_stats stats_;
  detail::client_metrics* metrics_;
  tracer* tracer_;
  bool closed_ = false;
};

}  // namespace coordination::transport
