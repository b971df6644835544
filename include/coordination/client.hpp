// coordination::client — the etcd v3 KV, lease and cluster API as awaitables, spoken over etcd's
// JSON gateway (HTTP/1.1, no gRPC).
//
// Executor and thread-safety: a client runs on the executor it was built with and is not
// thread-safe; call it from coroutines on that executor (on a multi-threaded io_context, build it
// on a strand and call it from that strand). Calls may overlap: each one takes a pooled
// connection of its own.
//
// Every call completes within client_config::request_timeout (retries included) and throws
// coordination_error on failure. A call is also cancelled by Asio per-operation cancellation
// (terminal), e.g. `co_await (client.get("k") || timer.async_wait(use_awaitable))` or
// coordination::with_timeout(); a cancelled call throws coordination_error(cancelled) (the
// recipes' calls too, never Asio's system_error) and leaves the connection pool in a good state.
// Keys and values are byte strings: any bytes, including '\0'.
//
// Work left on the executor: after its last call a client keeps, per pooled connection, one
// timer wait of at most a second (its deadline watchdog); while an endpoint is suspect (it let
// an attempt pass attempt_timeout unanswered) one prober coroutine tries it with backoff until
// it answers; io_context::run() returns after those, or at once after close() or the client's
// destruction. Watches and sessions keep work until they are closed. close() also cancels every
// background coroutine the library runs for this client (watch streams, keep-alives, lease
// revocations, retried lock releases, discovery caches, health checks): run() returns within
// milliseconds after it, also while a session is lost and its lease is being revoked.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordination/client_config.hpp"
#include "coordination/error.hpp"
#include "coordination/types.hpp"
#include "coordination/watch.hpp"

namespace coordination {

namespace detail {
struct client_impl;
struct access;
}  // namespace detail

class client {
 public:
  // Throws coordination_error(invalid_argument) for a bad config (see client_config::validate).
  client(boost::asio::any_io_executor ex, client_config cfg);
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  boost::asio::any_io_executor get_executor() const;
  const client_config& config() const;

  // ---- KV ----
  boost::asio::awaitable<range_result> range(std::string key, range_options options = {});
  // The value at `key`, or nullopt when there is none.
  boost::asio::awaitable<std::optional<key_value>> get(std::string key);
  // Every key starting with `prefix`, sorted by key.
  boost::asio::awaitable<range_result> get_prefix(std::string prefix);
  boost::asio::awaitable<put_result> put(std::string key, std::string value,
                                         put_options options = {});
  boost::asio::awaitable<delete_result> del(std::string key, delete_options options = {});
  boost::asio::awaitable<txn_result> txn(txn_request request);
  boost::asio::awaitable<compact_result> compact(std::int64_t revision, bool physical = false);

  // ---- Lease ----
  boost::asio::awaitable<lease_grant_result> lease_grant(std::int64_t ttl_seconds,
                                                         std::int64_t id = 0);
  boost::asio::awaitable<lease_revoke_result> lease_revoke(std::int64_t id);
  // One renewal; throws lease_not_found when the lease is gone.
  boost::asio::awaitable<lease_keep_alive_result> lease_keep_alive_once(std::int64_t id);
  // ttl == -1 in the result when the lease does not exist.
  boost::asio::awaitable<lease_time_to_live_result> lease_time_to_live(std::int64_t id,
                                                                       bool with_keys = false);
  boost::asio::awaitable<std::vector<std::int64_t>> lease_leases();

  // ---- Cluster ----
  // Status of `endpoint` (one of endpoints()), or of the endpoint in use when empty.
  boost::asio::awaitable<status_result> status(std::string endpoint = {});
  boost::asio::awaitable<member_list_result> member_list();
  // Replaces the endpoint list with the members' client URLs; returns the new list.
  boost::asio::awaitable<std::vector<std::string>> refresh_endpoints();

  // ---- Watch (see watch.hpp) ----
  // Completes once etcd has created the watch (within request_timeout).
  boost::asio::awaitable<watch_stream> watch(std::string key, watch_options options = {});
  boost::asio::awaitable<watch_stream> watch_prefix(std::string prefix, watch_options options = {});
  boost::asio::awaitable<watch_stream> watch_range(std::string key, std::string range_end,
                                                   watch_options options = {});

  std::vector<std::string> endpoints() const;
  // Closes every connection and ends every watch; calls in flight or made later fail with
  // `cancelled`.
  void close();

 private:
  friend struct detail::access;
  // Another handle on the same client (same connections, watches and config); the library's
  // upper layers keep one so that moving or destroying the user's handle does not strand them.
  explicit client(std::shared_ptr<detail::client_impl> shared);
  std::shared_ptr<detail::client_impl> impl_;
};

}  // namespace coordination
