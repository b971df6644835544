/// \file
/// coordination::client — the etcd v3 KV, lease and cluster API as awaitables, spoken over
/// etcd's JSON gateway (HTTP/1.1, no gRPC).
///
/// Executor and thread-safety: a client runs on the executor it was built with and is not
/// thread-safe; call it from coroutines on that executor (on a multi-threaded io_context, build
/// it on a strand and call it from that strand). Calls may overlap: each one takes a pooled
/// connection of its own.
///
/// Every call completes within client_config::request_timeout (retries included) and throws
/// coordination_error on failure. A call is also cancelled by Asio per-operation cancellation
/// (terminal), e.g. `co_await (client.get("k") || timer.async_wait(use_awaitable))` or
/// coordination::with_timeout(); a cancelled call throws coordination_error(cancelled) (the
/// recipes' calls too, never Asio's system_error) and leaves the connection pool in a good
/// state. Keys and values are byte strings: any bytes, including '\0'.
///
/// Work left on the executor: after its last call a client keeps, per pooled connection, one
/// timer wait of at most a second (its deadline watchdog); while an endpoint is suspect (it let
/// an attempt pass attempt_timeout unanswered) one prober coroutine tries it with backoff until
/// it answers; io_context::run() returns after those, or at once after close() or the client's
/// destruction. Watches and sessions keep work until they are closed. close() also cancels every
/// background coroutine the library runs for this client (watch streams, keep-alives, lease
/// revocations, retried lock releases, discovery caches, health checks): run() returns within
/// milliseconds after it, also while a session is lost and its lease is being revoked.
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

/// A client of one etcd cluster: etcd's KV, lease, cluster and watch calls as awaitables, over
/// a pool of keep-alive connections per endpoint, with failover and retries that never resend a
/// write that may have been applied (see retry_config).
///
/// Thread-safety: none; use a client, and the watch_streams it returns, from its executor only
/// (see the file's description). A client is a handle on shared state (connections, watch streams,
/// background work): the recipes built on it (session, lock, registry, ...) keep a handle of
/// their own, so that state lives until the last of them is gone or close() is called.
///
/// \anchor client_errors
/// <b>Errors of every call</b> (thrown as coordination_error; each call lists its own besides):
/// - error::unavailable: no endpoint could serve the call (connect failures, broken
///   connections, no leader) within its attempts. For a write it means "not applied".
/// - error::timeout: request_timeout passed, or the attempts went unanswered; a plain write
///   (put, del, a txn with writes not marked idempotent) that got no answer within
///   attempt_timeout fails with it too, and may then have been applied.
/// - error::outcome_unknown: a write may or may not have been applied: its connection broke
///   after it was sent, or etcd answered an error after which it may have applied it (an
///   internal timeout after a leader loss, say). Never for a read.
/// - error::cancelled: the caller's cancellation, or close() (see \ref close()).
/// - error::auth_failed (wrong user name or password, a token refused twice) and
///   error::permission_denied (the user's roles), with client_config::username set.
/// - error::invalid_argument: the request is over client_config::max_request_bytes, or etcd
///   refused it as invalid.
/// - error::response_too_large (over client_config::max_response_bytes), error::tls_error,
///   error::protocol_error (an answer that is not a gateway answer), error::server_error (any
///   other error etcd reported).
///
/// Reads (range, get, lease_time_to_live, status, ...) and idempotent writes (lease grant,
/// revoke and keep-alive, compaction, a txn marked idempotent) are resent after any failure,
/// within request_timeout; an idempotent write one of whose attempts may have been applied
/// fails with outcome_unknown instead of unavailable.
///
/// \anchor client_lifetimes
/// <b>Executor and lifetimes of every call</b>: await a call from a coroutine on the client's
/// executor (get_executor()); it runs and completes there. Its arguments are taken by value
/// (copied or moved in), so nothing the caller passed needs to outlive it. The client object
/// must be alive when the call starts (when it is first awaited); from then on the call holds
/// the client's shared state itself, so destroying or moving the client object meanwhile does
/// not end it.
class client {
 public:
  /// A client of the cluster at `cfg.endpoints`, on `ex`. Connects to nothing yet: the first
  /// calls open connections.
  ///
  /// Throws coordination_error(invalid_argument) for a bad config (see client_config::validate),
  /// or for a TLS file of client_config::tls that cannot be used.
  client(boost::asio::any_io_executor ex, client_config cfg);
  /// Releases this handle. The client's connections, watches and background work end (as by
  /// close()) when the last user of its state goes: this handle, a call in flight, or a recipe
  /// object built on the client.
  ~client();
  /// Takes over the state of the client moved from, which may then only be destroyed or
  /// assigned to.
  client(client&&) noexcept;
  /// Releases this handle (as the destructor does) and takes over the state of the client
  /// moved from, which may then only be destroyed or assigned to.
  client& operator=(client&&) noexcept;

  /// The executor given to the constructor: every call is awaited from a coroutine on it.
  boost::asio::any_io_executor get_executor() const;
  /// The configuration, validated; the reference is valid as long as the client's state.
  const client_config& config() const;

  // ---- KV ----
  /// The keys selected by `key` and `options` (etcd's Range): one key, a range
  /// [key, options.range_end), or a prefix. An empty key with options.prefix selects every key.
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key (without options.prefix), a negative limit or
  /// revision, or a range_end that is not above the key ("\0", every key from `key` on, is
  /// allowed); error::compacted when options.revision was compacted (and invalid_argument from
  /// etcd for a future revision); and \ref client_errors "the errors of every call". A read:
  /// never outcome_unknown.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `key` and `options` are copied.
  boost::asio::awaitable<range_result> range(std::string key, range_options options = {});
  /// The value at `key`, or nullopt when there is none.
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key, and \ref client_errors "the errors of every call"
  /// (a read: never outcome_unknown).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `key` is copied.
  boost::asio::awaitable<std::optional<key_value>> get(std::string key);
  /// Every key starting with `prefix`, sorted by key.
  /// An empty prefix selects every key.
  ///
  /// \par Errors
  /// \ref client_errors "The errors of every call" (a read: never outcome_unknown).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `prefix` is copied.
  boost::asio::awaitable<range_result> get_prefix(std::string prefix);
  /// Sets `key` to `value` (etcd's Put). A plain write: resent only when it cannot have reached
  /// etcd.
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key, for key and value over
  /// client_config::max_request_bytes, or when etcd refuses the put (options.ignore_value or
  /// ignore_lease on a key that does not exist); error::lease_not_found when etcd does not know
  /// options.lease; error::outcome_unknown or error::timeout when the put may have been applied
  /// (read back before repeating it); and \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled, never outcome_unknown: a put cancelled
  /// after its request was sent, or whose answer came just as it was cancelled, may have been
  /// applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `key`, `value` and `options` are copied.
  boost::asio::awaitable<put_result> put(std::string key, std::string value,
                                         put_options options = {});
  /// Deletes `key`, or the keys of [key, options.range_end) or of the prefix options.prefix
  /// selects (etcd's DeleteRange); an empty key with options.prefix deletes every key. A plain
  /// write, like put().
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key (without options.prefix) or a range_end that is
  /// not above the key; error::outcome_unknown or error::timeout when the delete may have been
  /// applied; and \ref client_errors "the errors of every call". Deleting no key is no error
  /// (delete_result::deleted is 0).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled, never outcome_unknown: a delete
  /// cancelled after its request was sent may have been applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `key` and `options` are copied.
  boost::asio::awaitable<delete_result> del(std::string key, delete_options options = {});
  /// Runs `request` (etcd's Txn): its success ops when every compare holds, else its failure
  /// ops, in one revision. A compare that does not hold is no error (txn_result::succeeded is
  /// false). A txn without puts or deletes is a read; one with them is a plain write unless
  /// txn_request::idempotent says otherwise.
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key in a compare or a put, an empty range or delete
  /// key (without prefix), keys and values over client_config::max_request_bytes, or a txn
  /// etcd refuses (e.g. the same key put twice); error::compacted or error::lease_not_found
  /// from its ops; for a txn with writes, error::outcome_unknown or error::timeout when it may
  /// have been applied (an idempotent one too, once its resends have failed as well); and
  /// \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled, never outcome_unknown: a txn with
  /// writes cancelled after its request was sent may have been applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `request` is copied.
  boost::asio::awaitable<txn_result> txn(txn_request request);
  /// Compacts etcd's history up to `revision` (etcd's Compact): older revisions can no longer
  /// be read or watched. With `physical`, etcd answers once the compaction is physically
  /// applied. Idempotent: resent after any failure.
  ///
  /// \par Errors
  /// error::invalid_argument for a revision that is not positive, or (from etcd) a future
  /// revision; error::compacted when `revision` is already compacted, which a resend after a
  /// lost answer can also report although this call compacted; error::outcome_unknown when a
  /// sent attempt may have been applied and the call still failed; and
  /// \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the compaction may have been applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<compact_result> compact(std::int64_t revision, bool physical = false);

  // ---- Lease ----
  /// Grants a lease of `ttl_seconds` (etcd's LeaseGrant), with id `id`, or one etcd picks when
  /// `id` is 0. The result's ttl is what etcd granted.
  ///
  /// With `id` 0 it is resent after any failure: a grant applied twice leaves a second lease
  /// that nobody knows, holds no key and expires after its TTL. With an `id` of the caller's it
  /// is a plain write (a resend could not tell its own lease from somebody else's).
  ///
  /// \par Errors
  /// error::invalid_argument for a TTL that is not positive or a negative id (or a TTL etcd
  /// refuses); error::conflict when a lease with `id` exists; error::outcome_unknown or
  /// error::timeout when the grant may have been applied; and
  /// \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; a grant cancelled after it was sent
  /// may have been applied (the lease then expires after its TTL).
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<lease_grant_result> lease_grant(std::int64_t ttl_seconds,
                                                         std::int64_t id = 0);
  /// Revokes lease `id` (etcd's LeaseRevoke): it ends and the keys attached to it are deleted.
  /// Idempotent: resent after any failure.
  ///
  /// \par Errors
  /// error::invalid_argument for an id that is not positive; error::lease_not_found when etcd
  /// does not know the lease, which a resend after a lost answer can also report although this
  /// call revoked it; error::outcome_unknown when a sent attempt may have been applied and the
  /// call still failed; and \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the revocation may have been applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<lease_revoke_result> lease_revoke(std::int64_t id);
  /// One renewal of lease `id`; throws lease_not_found when the lease is gone.
  /// (etcd's LeaseKeepAlive, one request and its answer; a session renews its lease itself.)
  ///
  /// \par Errors
  /// error::invalid_argument for an id that is not positive; error::lease_not_found when the
  /// lease is gone (expired or revoked); error::unavailable when etcd's keep-alive stream
  /// answers an error; and \ref client_errors "the errors of every call".
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the renewal may have been applied.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<lease_keep_alive_result> lease_keep_alive_once(std::int64_t id);
  /// The seconds lease `id` has left and was granted (etcd's LeaseTimeToLive), with the keys
  /// attached to it when `with_keys` is true. ttl == -1 in the result when the lease does not
  /// exist.
  ///
  /// \par Errors
  /// error::invalid_argument for an id that is not positive, and
  /// \ref client_errors "the errors of every call" (a read: never outcome_unknown; a lease that
  /// does not exist is no error).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<lease_time_to_live_result> lease_time_to_live(std::int64_t id,
                                                                       bool with_keys = false);
  /// The ids of every lease etcd holds (etcd's LeaseLeases).
  ///
  /// \par Errors
  /// \ref client_errors "The errors of every call" (a read: never outcome_unknown).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<std::vector<std::int64_t>> lease_leases();

  // ---- Cluster ----
  /// Status of `endpoint` (one of endpoints()), or of the endpoint in use when empty.
  /// The call goes to that endpoint only, with no failover (its retries wait a backoff there);
  /// status_result::endpoint says which it was.
  ///
  /// \par Errors
  /// error::invalid_argument when `endpoint` is not a valid URL or not one of endpoints();
  /// error::permission_denied when etcd refuses the status call to this user (with auth on,
  /// some etcd versions allow it to root only: see status_result::restricted);
  /// error::unavailable or error::timeout when that endpoint does not answer; and
  /// \ref client_errors "the errors of every call" (a read: never outcome_unknown).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `endpoint` is copied.
  boost::asio::awaitable<status_result> status(std::string endpoint = {});
  /// The members of the cluster (etcd's MemberList).
  ///
  /// \par Errors
  /// \ref client_errors "The errors of every call" (a read: never outcome_unknown).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<member_list_result> member_list();
  /// Replaces the endpoint list with the members' client URLs; returns the new list.
  ///
  /// Learners are left out, and only URLs that answer HTTP/1.1 (a `GET /version` on a
  /// connection of its own) are kept: with `--listen-client-http-urls` the members advertise
  /// gRPC-only URLs. Current endpoints that still answer stay; https:// URLs are used only by a
  /// client built with an https:// endpoint. The URLs are probed one after the other after
  /// member_list(), each within about twice client_config::probe_timeout, so the whole call
  /// may take longer than request_timeout.
  ///
  /// \par Errors
  /// The errors of member_list(); error::protocol_error when no member has a client URL;
  /// error::unavailable when no URL answers HTTP (the endpoint list is kept);
  /// error::invalid_argument when a member advertises a URL the client cannot parse.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled and leaves the endpoint list as it was.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call".
  boost::asio::awaitable<std::vector<std::string>> refresh_endpoints();

  // ---- Watch (see watch.hpp) ----
  /// A watch of `key` alone, or of [key, options.range_end), or of every key starting with
  /// `key` with options.prefix (an empty key then watches every key); its events come from
  /// options.start_revision, or from now when it is 0. Completes once etcd has created the
  /// watch (within request_timeout). Watches run over the client's watch streams, not over its
  /// pooled connections.
  ///
  /// \par Errors
  /// error::invalid_argument for an empty key (without options.prefix), a negative
  /// start_revision or a range_end that is not above the key; error::unavailable when the watch
  /// was not created within request_timeout (no endpoint served it; a watch stream that cannot
  /// connect or authenticate shows as this); error::compacted when start_revision was
  /// compacted (reported here or by the first watch_stream::next()); error::permission_denied,
  /// error::auth_failed or error::server_error when etcd refuses the watch; error::cancelled
  /// after close().
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the watch is cancelled on the server.
  /// \par Executor and lifetimes
  /// As for \ref client_lifetimes "every call"; `key` and `options` are copied. The
  /// watch_stream returned may outlive the client (its watch then ends with error::cancelled).
  boost::asio::awaitable<watch_stream> watch(std::string key, watch_options options = {});
  /// watch() of every key starting with `prefix` (options.prefix is set); an empty prefix
  /// watches every key.
  ///
  /// \par Errors
  /// As watch()'s.
  /// \par Cancellation
  /// As watch()'s.
  /// \par Executor and lifetimes
  /// As watch()'s.
  boost::asio::awaitable<watch_stream> watch_prefix(std::string prefix, watch_options options = {});
  /// watch() of the keys in [key, range_end) (options.prefix and options.range_end are
  /// replaced); a range_end of "\0" watches every key from `key` on.
  ///
  /// \par Errors
  /// As watch()'s; invalid_argument for an empty range_end.
  /// \par Cancellation
  /// As watch()'s.
  /// \par Executor and lifetimes
  /// As watch()'s.
  boost::asio::awaitable<watch_stream> watch_range(std::string key, std::string range_end,
                                                   watch_options options = {});

  /// The endpoint list now, in order of preference, as normalised URLs
  /// (`http://host:port`, the port 2379 when none was given).
  std::vector<std::string> endpoints() const;
  /// Closes every connection and ends every watch; calls in flight or made later fail with
  /// `cancelled`.
  ///
  /// An attempt that already holds or is opening a connection is not interrupted: it goes on
  /// (connect, readiness probe, request) and its call ends as the attempt does, with etcd's
  /// answer or the attempt's own error; only a further attempt fails with `cancelled`. Calls
  /// waiting for a pooled connection fail with `cancelled` at once, calls waiting out a retry
  /// backoff when it ends. close() also cancels the client's background coroutines (see the
  /// file's description). Calling it again does nothing more.
  void close();

 private:
  friend struct detail::access;
  // Another handle on the same client (same connections, watches and config); the library's
  // upper layers keep one so that moving or destroying the user's handle does not strand them.
  explicit client(std::shared_ptr<detail::client_impl> shared);
  std::shared_ptr<detail::client_impl> impl_;
};

}  // namespace coordination
