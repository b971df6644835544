/// \file
/// Settings of a coordination::client: where etcd is, how to reach it, how long to wait, how to
/// retry. A plain value; validate() names the first field that is wrong.
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

/// Exponential backoff with jitter (a random wait in [interval/2, interval]) between attempts of
/// one call. Reads and idempotent writes (a lease grant, a lock key's create and release, a txn
/// marked idempotent) are retried after any failure; other writes only when the request is known
/// not to have reached etcd. A retry goes at once to another endpoint when one is usable; the
/// backoff is for when none is.
///
/// A plain value, like client_config: copy it freely, also between threads.
struct retry_config {
  /// With the number of endpoints, the attempt budget of one call: at most max_retries + that
  /// many attempts. Not negative.
  int max_retries = 4;
  /// The first backoff; positive.
  std::chrono::milliseconds initial_interval{50};
  /// The backoff's cap; not below initial_interval.
  std::chrono::milliseconds max_interval{2000};
  /// Growth of the backoff after each wait; at least 1.
  double multiplier = 2.0;
  /// A read whose answer has not begun well after recent reads' answers did (4 times the
  /// slowest of the client's last 64, at least 20 ms, below attempt_timeout) is resent at once
  /// on a new connection instead of waiting out attempt_timeout: a lost answer on a connection
  /// that stays silent then costs tens of milliseconds, not seconds. At most about one read in
  /// ten is resent so (a member slow for everyone is not sent every read twice); the endpoint
  /// is not marked for it. Writes never are.
  bool resend_slow_reads = true;
};

/// For https:// endpoints. Empty ca_file: the system's default trust store.
///
/// A plain value; the files are read when a client with an https:// endpoint is built (a file
/// that cannot be used makes the client's constructor throw coordination_error(invalid_argument)).
struct tls_config {
  /// PEM file of the certificate authorities to trust.
  std::string ca_file;
  std::string cert_file;  ///< client certificate (mTLS); with key_file
  /// The private key of cert_file (PEM); with cert_file.
  std::string key_file;
  bool verify_server = true;  ///< check the chain and that the certificate names the host
};

/// How watch streams reach etcd. WebSockets are full duplex (watches are added and cancelled on
/// a live stream); the POST form fixes a stream's watches when it opens. etcd 3.4's WebSocket
/// proxy forwards no auth token, so `automatic` uses POST when a username is set, WebSockets
/// otherwise (and switches to POST if etcd refuses a watch for want of a token).
///
/// Values: `automatic` (as just said), `websocket` (WebSocket upgrades of the gateway's
/// /v3/watch), `post` (a streamed answer to POST /v3/watch per batch of watches).
enum class watch_transport { automatic, websocket, post };

/// The settings of a client: endpoints, timeouts, retries, authentication, TLS, limits and the
/// observability sinks. A plain value with defaults for a local etcd; the client keeps its own
/// copy (client::config()). Copy it freely, also between threads; the logger, metrics registry
/// and tracer it points to are shared by every copy.
struct client_config {
  /// http://host:port or https://host:port, in order of preference.
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::chrono::milliseconds dial_timeout{3000};  ///< TCP connect + TLS handshake, per attempt
  /// Deadline of one whole call, retries and failovers included.
  std::chrono::milliseconds request_timeout{10000};
  /// How long one attempt waits for its answer to begin. An endpoint that lets it pass is
  /// marked suspect (no new calls until a background probe finds it answering): a paused
  /// member's kernel still accepts requests. A read or idempotent write then goes on to the next
  /// endpoint; another write fails `timeout` (it was sent and may have been applied). 2 s: far
  /// above an answer's time on a LAN and above etcd's default election timeout (1 s), so a
  /// leader election alone does not make a member suspect, and still 4 attempts within
  /// request_timeout. Values above request_timeout have no effect (the call's deadline comes
  /// first).
  std::chrono::milliseconds attempt_timeout{2000};
  /// A new plain-HTTP connection carries a request only once the server has answered on it: a
  /// `GET /version` first (one round trip per new connection; TLS's handshake proves it
  /// already). A server that does not answer it within probe_timeout is marked suspect and the
  /// call moves on. 500 ms: hundreds of round trips on a LAN; a member that cannot answer
  /// /version that fast should not get a write. Must not be above attempt_timeout.
  std::chrono::milliseconds probe_timeout{500};
  /// False: no readiness probe (for a gateway behind a proxy that serves only /v3/; a paused
  /// member is then found only by attempt_timeout, and a write sent into it fails `timeout`).
  bool probe_connections = true;
  std::string username;  ///< empty: no authentication
  /// The password of username (needs a username).
  std::string password;
  /// Certificates, for https:// endpoints.
  tls_config tls;
  /// Backoff and attempt budget of one call.
  retry_config retry;
  std::size_t pool_size = 64;                          ///< connections per endpoint at most
  std::size_t max_response_bytes = 64u * 1024 * 1024;  ///< larger answers fail response_too_large
  std::size_t max_request_bytes = 1536u * 1024;        ///< etcd's default `--max-request-bytes`
  std::chrono::milliseconds endpoint_cooldown{1000};   ///< a failed endpoint is skipped this long
  /// Send "Grpc-Metadata-Hasleader: true": a member without a leader refuses at once (then the
  /// call fails over) instead of holding a write ~7 s and failing with an unknown outcome.
  bool require_leader = true;
  /// How watch streams reach etcd (see coordination::watch_transport).
  coordination::watch_transport watch_transport = coordination::watch_transport::automatic;
  /// Watch streams: how often the endpoints that carry WebSocket watch streams are asked
  /// whether they have a leader (the WebSocket proxy cannot pass Grpc-Metadata-Hasleader);
  /// one without a leader loses its streams, whose watches move to another endpoint. Zero (or
  /// require_leader false): no such check.
  std::chrono::milliseconds watch_health_interval{2000};
  /// Log sink; null means the logger named "coordination" (created on first use).
  std::shared_ptr<spdlog::logger> logger;
  /// Where the client's Prometheus metrics go; null: none (see observability.hpp).
  std::shared_ptr<prometheus::Registry> metrics;
  /// Called around every etcd call and recipe step; null: no tracing (see observability.hpp).
  std::shared_ptr<coordination::tracer> tracer;

  /// Throws coordination_error(invalid_argument) naming the first bad field. The client's
  /// constructor runs it.
  void validate() const;
  /// Splits a comma-separated list ("http://a:2379,http://b:2379") into endpoints.
  /// Blanks around each item are trimmed and empty items dropped; the URLs are not checked
  /// (validate() does).
  static std::vector<std::string> split_endpoints(const std::string& csv);
};

}  // namespace coordination
