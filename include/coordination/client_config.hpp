// Settings of a coordination::client: where etcd is, how to reach it, how long to wait, how to
// retry. A plain value; validate() names the first field that is wrong.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}
namespace prometheus {
class Registry;
}

namespace coordination {

class tracer;

// Exponential backoff with jitter (a random wait in [interval/2, interval]) between attempts of one
// call. Reads and idempotent writes (a lease grant, a lock key's create and release, a txn marked
// idempotent) are retried after any failure; other writes only when the request is known not to
// have reached etcd. A retry goes at once to another endpoint when one is usable; the backoff is
// for when none is.
struct retry_config {
  int max_retries = 4;
  std::chrono::milliseconds initial_interval{50};
  std::chrono::milliseconds max_interval{2000};
  double multiplier = 2.0;
};

// For https:// endpoints. Empty ca_file: the system's default trust store.
struct tls_config {
  std::string ca_file;
  std::string cert_file;  // client certificate (mTLS); with key_file
  std::string key_file;
  bool verify_server = true;  // check the chain and that the certificate names the host
};

// How watch streams reach etcd. WebSockets are full duplex (watches are added and cancelled on a
// live stream); the POST form fixes a stream's watches when it opens. etcd 3.4's WebSocket proxy
// forwards no auth token, so `automatic` uses POST when a username is set, WebSockets otherwise
// (and switches to POST if etcd refuses a watch for want of a token).
enum class watch_transport { automatic, websocket, post };

struct client_config {
  // http://host:port or https://host:port, in order of preference.
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::chrono::milliseconds dial_timeout{3000};  // TCP connect + TLS handshake, per attempt
  // Deadline of one whole call, retries and failovers included.
  std::chrono::milliseconds request_timeout{10000};
  // How long one attempt waits for its answer to begin. An endpoint that lets it pass is marked
  // suspect (no new calls until a background probe finds it answering): a paused member's
  // kernel still accepts requests. A read or idempotent write then goes on to the next endpoint;
  // another write fails `timeout` (it was sent and may have been applied). 2 s: far above an
  // answer's time on a LAN and above etcd's default election timeout (1 s), so a leader
  // election alone does not make a member suspect, and still 4 attempts within request_timeout.
  // Values above request_timeout have no effect (the call's deadline comes first).
  std::chrono::milliseconds attempt_timeout{2000};
  // A new plain-HTTP connection carries a request only once the server has answered on it: a
  // `GET /version` first (one round trip per new connection; TLS's handshake proves it already).
  // A server that does not answer it within probe_timeout is marked suspect and the call moves
  // on. 500 ms: hundreds of round trips on a LAN; a member that cannot answer /version that fast
  // should not get a write.
  std::chrono::milliseconds probe_timeout{500};
  // False: no readiness probe (for a gateway behind a proxy that serves only /v3/; a paused
  // member is then found only by attempt_timeout, and a write sent into it fails `timeout`).
  bool probe_connections = true;
  std::string username;  // empty: no authentication
  std::string password;
  tls_config tls;
  retry_config retry;
  std::size_t pool_size = 64;                          // connections per endpoint at most
  std::size_t max_response_bytes = 64u * 1024 * 1024;  // larger answers fail response_too_large
  std::size_t max_request_bytes = 1536u * 1024;        // etcd's default --max-request-bytes
  std::chrono::milliseconds endpoint_cooldown{1000};   // a failed endpoint is skipped this long
  // Send "Grpc-Metadata-Hasleader: true": a member without a leader refuses at once (then the
  // call fails over) instead of holding a write ~7 s and failing with an unknown outcome.
  bool require_leader = true;
  coordination::watch_transport watch_transport = coordination::watch_transport::automatic;
  // Watch streams: how often the endpoints that carry WebSocket watch streams are asked
  // whether they have a leader (the WebSocket proxy cannot pass Grpc-Metadata-Hasleader);
  // one without a leader loses its streams, whose watches move to another endpoint.
  std::chrono::milliseconds watch_health_interval{2000};
  // Log sink; null means the logger named "coordination" (created on first use).
  std::shared_ptr<spdlog::logger> logger;
  // Where the client's Prometheus metrics go; null: none (see observability.hpp).
  std::shared_ptr<prometheus::Registry> metrics;
  // Called around every etcd call and recipe step; null: no tracing (see observability.hpp).
  std::shared_ptr<coordination::tracer> tracer;

  // Throws coordination_error(invalid_argument) naming the first bad field.
  void validate() const;
  // Splits a comma-separated list ("http://a:2379,http://b:2379") into endpoints.
  static std::vector<std::string> split_endpoints(const std::string& csv);
};

}  // namespace coordination
