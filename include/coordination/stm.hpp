/// \file
/// coordination::run_stm — software transactional memory over etcd, with the semantics of Go's
/// concurrency.NewSTM: `apply` reads and writes keys through an stm_txn; its reads go to etcd
/// (each key once per attempt), its writes are buffered, and the attempt commits as one txn
/// that applies only if what it read is unchanged (per the isolation level). A conflict runs
/// `apply` again on fresh reads (at once after a first conflict, then after a jittered backoff),
/// up to stm_options::max_attempts.
///
/// Isolation (Go's names and rules):
/// - serializable_snapshot (default): every read of an attempt is at the revision of its first
///   read; the commit requires each key read to be unchanged and each key written to be
///   unmodified since that revision (first committer wins, also for blind writes).
/// - serializable: reads at the first read's revision; the commit requires the keys read to be
///   unchanged.
/// - repeatable_reads: each key is read once per attempt, at the newest revision a member has
///   (serializable range reads: they may be stale); the commit requires the keys read to be
///   unchanged. Reads of one attempt may come from different revisions (read skew), but such an
///   attempt cannot commit.
/// - read_committed: reads as repeatable_reads, and the commit checks nothing (write skew and
///   lost updates are possible).
///
/// After a conflict under the serializable levels, the failed commit's txn has already read the
/// keys back (its failure branch), so the next attempt's first reads cost no round trip.
///
/// Thread-safety: the client's executor only. `apply` runs on it and may run several times; it
/// must not have effects outside the stm_txn that it cannot repeat.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "coordination/client.hpp"

namespace coordination {

namespace detail {
class stm_core;
struct stm_access;
}  // namespace detail

/// The isolation level of run_stm (see the file comment).
enum class stm_isolation { serializable_snapshot, serializable, repeatable_reads, read_committed };

/// How run_stm isolates and retries. A plain value.
struct stm_options {
  stm_options() {}  ///< not an aggregate: see the GCC 12 note in types.hpp
  /// The isolation level (see the file comment).
  stm_isolation isolation = stm_isolation::serializable_snapshot;
  /// Attempts before giving up with error::conflict (at least 1).
  int max_attempts = 100;
  /// None after the first conflict (the failed commit brought the fresh values back: the next
  /// attempt goes at once); after the n-th (n >= 2), random in
  /// [0, min(backoff_max, backoff_base * 2^(n-1))).
  std::chrono::milliseconds backoff_base{2};
  std::chrono::milliseconds backoff_max{250};  ///< see backoff_base
};

/// What a committed run did.
struct stm_result {
  int attempts = 0;           ///< how many times apply ran (1: no conflict)
  std::int64_t revision = 0;  ///< the commit's revision
};

/// The view of one attempt, handed to `apply`. Valid only during that call of `apply`.
class stm_txn {
 public:
  /// The key's value as this attempt sees it (its own writes first); nullopt when absent.
  ///
  /// \par Errors
  /// The transport errors of a read (unavailable, timeout, compacted when the snapshot's
  /// revision was compacted meanwhile, ...); they end run_stm. \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<std::optional<std::string>> get(std::string key);
  /// The key's mod revision as read by this attempt (0: absent).
  ///
  /// \par Errors
  /// As get(). \par Cancellation
  /// As get().
  boost::asio::awaitable<std::int64_t> rev(std::string key);
  /// Buffers a put of `value` (committed with the attempt).
  void put(std::string key, std::string value, put_options options = {});
  /// Buffers a delete of the key.
  void del(std::string key);

 private:
  friend struct detail::stm_access;  // (recipes/stm/stm_core.hpp: run_stm makes them)
  stm_txn(client& c, detail::stm_core& core) : c_(c), core_(core) {}
  boost::asio::awaitable<std::optional<std::string>> fetch(std::string key);
  client& c_;
  detail::stm_core& core_;
};

/// Runs `apply` until one attempt commits (see the file comment).
///
/// \par Errors
/// conflict after max_attempts conflicting attempts; invalid_argument for an empty key or bad
/// options (max_attempts below 1); what `apply` throws (nothing is committed); the transport
/// errors of reads and of the commit (outcome_unknown or timeout for a commit whose answer was
/// lost: it may have applied).
/// \par Cancellation
/// Terminal cancellation throws error::cancelled; cancelled after a commit was sent, it may
/// have applied.
/// \par Executor and lifetimes
/// Runs on the awaiting coroutine's executor, which must be the client's. `c` must outlive the
/// call; `apply` is moved in.
boost::asio::awaitable<stm_result> run_stm(
    client& c, std::function<boost::asio::awaitable<void>(stm_txn&)> apply,
    stm_options options = {});

}  // namespace coordination
