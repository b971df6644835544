/// \file
/// Distributed mutex on etcd, with etcd's own key layout and ownership rule (Go's
/// concurrency.Mutex): the waiter's key is `<name>/<lease id in hex>` bound to its session's
/// lease, the owner is the key with the lowest create revision under `<name>/`, and each waiter
/// watches only the key just before its own. So this library and `etcdctl lock <name>` exclude
/// each other. Waiters of one process that share a session take turns in a local FIFO first
/// (they would share one etcd key otherwise).
///
/// A lock is not mutual exclusion on its own: a holder paused past its lease's TTL (GC, swap,
/// SIGSTOP) still believes it holds the lock after etcd gave it to the next waiter (Jepsen,
/// etcd 3.4.3, 2020). Guard the writes the lock protects with guarded_txn(): it applies only if
/// the lock key still has the holder's create revision (the fencing token).
///
/// Thread-safety: the client's executor only. lock() waits until held and is cancelled by Asio
/// terminal cancellation (e.g. with_timeout); a cancelled or failed waiter removes its key.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "coordination/session.hpp"
#include "coordination/types.hpp"

namespace coordination {

namespace detail {
struct held_lock;
struct access;
}  // namespace detail

/// A lock taken by a locker (mutex, read/write lock or semaphore permit) or, through
/// leadership, an election: its key, fencing token and lease, and the calls of its holder.
///
/// Move-only. The accessors name(), key(), fencing_token(), lease() and valid_until() need a
/// handle that came from a locker (not default-constructed, not moved from); held(),
/// acquire_count() and the awaitables also accept an empty handle. The handle's state stays
/// after release() (the accessors still answer). Thread-safety: the client's executor only.
class lock_handle {
 public:
  /// An empty handle: holds nothing (held() is false).
  lock_handle();
  /// Moves the handle; `other` is left empty.
  lock_handle(lock_handle&&) noexcept;
  /// Releases what this handle held (as the destructor does), then takes `other`'s lock.
  lock_handle& operator=(lock_handle&&) noexcept;
  /// Still held: releases it in the background (on the executor) and logs that it did.
  ///
  /// A reentrant acquisition only counts down (nothing is logged). After client::close()
  /// nothing can reach etcd: the key is left to its lease, and this process's next waiter of
  /// the name goes on.
  ~lock_handle();

  /// The lock's name, as passed to the locker.
  const std::string& name() const;
  const std::string& key() const;  ///< `<name>/<lease hex>`
  /// The key's create revision: strictly increasing across successive holders of one lock.
  std::int64_t fencing_token() const;
  /// The lease the key is bound to (the session's, or the lock's own for a lock with a TTL).
  std::int64_t lease() const;
  /// What this process knows: not released and not lost.
  bool held() const;
  /// Asks etcd whether the key still exists with this holder's create revision.
  ///
  /// Returns false without asking for an empty or released handle. A false answer from etcd
  /// marks the lock lost (held() turns false, wait_lost() completes with lock_lost).
  ///
  /// \par Errors
  /// The transport errors of the read (unavailable, timeout, ..., cancelled after
  /// client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The handle must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the lock's state.
  boost::asio::awaitable<bool> is_held();
  /// Deletes the key (only if it is still this holder's). Idempotent. When the delete fails
  /// (etcd unreachable...) the error is thrown and the delete is retried in the background until
  /// it succeeds or the session ends; meanwhile this process's next lock() of the name waits.
  ///
  /// For a reentrant lock held more than once, only counts down (nothing is sent). held() is
  /// false from the start of the call. A lock with a lease of its own also revokes that lease
  /// (a failure of that revoke is logged, not thrown).
  ///
  /// \par Errors
  /// The transport errors of the delete (unavailable, timeout, outcome_unknown, ..., cancelled
  /// after client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. The lock counts as released all the
  /// same: the key is deleted in the background as after a failure (and a lease of the lock's
  /// own is revoked in the background).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's; the background
  /// retries run on the client's executor. The handle must be alive when the operation starts
  /// (a `co_await` starts it at once); the operation then holds the lock's state.
  boost::asio::awaitable<void> release();
  /// Completes with error::lock_lost when the session is lost or the key is deleted by someone
  /// else, or error::cancelled after release().
  ///
  /// The first call starts a watch of the key (a background task on the client's executor)
  /// that notices its deletion. An empty handle completes with error::cancelled at once.
  ///
  /// \par Errors
  /// None thrown: the outcome is the returned code (lock_lost, or cancelled).
  /// \par Cancellation
  /// Asio terminal cancellation ends the wait: it then returns error::cancelled (it does not
  /// throw). The key watch goes on for later calls; nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The handle must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the lock's state.
  boost::asio::awaitable<std::error_code> wait_lost();
  /// Until when nobody else can hold the lock, at least: the lock's lease was last confirmed
  /// renewed at T, so etcd keeps it until T + TTL or later (a holder that acts on a guarded
  /// write should finish before this; a section that may outlast it is not protected).
  std::chrono::steady_clock::time_point valid_until() const;
  /// Runs `ops` only if the lock is still held and `compares` hold. Throws lock_lost when the
  /// lock is gone (nothing applied), also without asking etcd when valid_until() has passed;
  /// succeeded == false when only `compares` failed.
  ///
  /// One txn: the lock key's create revision equal to fencing_token(), then `compares`; on
  /// success `responses` has one entry per op of `ops`, and it is empty when only `compares`
  /// failed.
  ///
  /// \par Errors
  /// lock_lost (released, lost, key gone, or valid_until() passed; nothing applied); the errors
  /// of client::txn() for bad `compares` or `ops` (invalid_argument); and the transport errors
  /// of a write: unavailable, outcome_unknown or timeout when the txn was sent but no answer
  /// came (it may have been applied), cancelled after client::close(). The txn is a plain write:
  /// it is never resent after it may have reached etcd.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A txn cancelled after it was sent may
  /// still be applied.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. `compares` and
  /// `ops` are taken by value. The handle must be alive when the operation starts (a `co_await`
  /// starts it at once); the operation then holds the lock's state.
  boost::asio::awaitable<txn_result> guarded_txn(std::vector<compare> compares,
                                                 std::vector<txn_op> ops);
  /// Reentrant locks: how many times the owner holds it (release() undoes one).
  ///
  /// 1 for a lock that is not reentrant, 0 for an empty handle.
  int acquire_count() const;
  /// Renews the lock's lease now; returns the seconds it has left. For a lock on the session's
  /// lease this is one early session renewal; for a lock with a lease of its own, that lease's.
  ///
  /// \par Errors
  /// lock_lost for an empty or released handle; lease_not_found when the lease is gone; and the
  /// transport errors of the renewal (unavailable, timeout, ..., cancelled after
  /// client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A renewal cancelled after it was sent
  /// may still have renewed the lease (which is harmless).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The handle must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the lock's state.
  boost::asio::awaitable<std::int64_t> renew();
  /// Seconds the lock's lease has left, as etcd says (-1: gone).
  ///
  /// An empty handle returns -1 without asking.
  ///
  /// \par Errors
  /// The transport errors of the read (unavailable, timeout, ..., cancelled after
  /// client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The handle must be
  /// alive when the operation starts (a `co_await` starts it at once); the operation then holds
  /// the lock's state.
  boost::asio::awaitable<std::int64_t> ttl();

 private:
  friend struct detail::access;
  explicit lock_handle(std::shared_ptr<detail::held_lock> s);
  std::shared_ptr<detail::held_lock> state_;
  bool done_ = false;  // this handle's acquisition was released
};

/// Options of a locker. A plain value.
struct locker_options {
  /// A second lock() of a name this locker holds increments a count instead of waiting; the key
  /// is deleted when the count returns to 0. The owner is the locker object: two lockers (even on
  /// one session) exclude each other.
  ///
  /// Only lock() counts up (with or without a TTL); try_lock() of a name this locker holds
  /// throws error::locked, and read/write locks and semaphores are never reentrant.
  bool reentrant = false;
};

/// Locks on one session. Cheap to create; many lockers may share a session.
///
/// TTL: every kind of lock comes with and without a `ttl`. Without one, or with the session's
/// TTL, the lock's key is on the session's lease. Another ttl gets a lease of its own (a session
/// of its own, renewed by the same keep-alive machinery), revoked on release; a ttl that is not
/// positive throws invalid_argument naming "ttl".
///
/// Errors: session_expired when the session is lost (before or while waiting), locked from
/// try_lock, invalid_argument for an empty name or bad permits, and the client's errors
/// (unavailable, timeout...). Cancellation (Asio terminal) removes the waiter's key.
///
/// More precisely: session_expired when the session is lost, closed or orphaned before the call
/// or while the waiter queues behind another coroutine of the same session. A waiter already
/// queued in etcd is not woken by the loss: when its turn comes (its predecessors' keys gone) it
/// finds its own key gone and throws lock_lost. A cancellation that lands while the waiter's
/// create request is in flight waits for its answer first (at most the client's
/// request_timeout), so that the key can be removed for sure; the removal runs in the
/// background on the client's executor, retried until it succeeds or the session ends.
///
/// Every acquisition runs on the awaiting coroutine's executor, which must be the client's. The
/// awaitables copy what they need (the session's state, the options, the name): the locker may
/// be destroyed before they start or while they wait. The session must stay open meanwhile
/// (closed, the waiter fails as above). Thread-safety: the client's executor only.
class locker {
 public:
  /// A locker on `s` (it shares the session's state: the session object may be moved).
  explicit locker(session& s, locker_options options = {});
  /// Waits until `name` is held (FIFO by request).
  ///
  /// \par Errors
  /// invalid_argument for an empty name; session_expired (see the class); lock_lost when the
  /// waiter's key went while it waited; and the transport errors of its requests (unavailable,
  /// timeout, outcome_unknown, ..., cancelled after client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the waiter's key is removed (see the
  /// class), also when its create's outcome was unknown. Nothing is left held.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. `name` is taken by
  /// value; nothing needs to outlive the call but the open session (see the class).
  boost::asio::awaitable<lock_handle> lock(std::string name);
  /// Waits until `name` is held, with the key on a lease of `ttl` (see the class's TTL note).
  ///
  /// \par Errors
  /// As lock(std::string), plus invalid_argument naming "ttl" for a ttl that is not positive,
  /// and for another TTL than the session's the errors of granting its lease (see
  /// session::create()).
  /// \par Cancellation
  /// As lock(std::string); a lease granted for the lock is revoked in the background.
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl);
  /// Takes `name` if nobody holds it or waits for it; otherwise throws error::locked.
  ///
  /// Also throws locked at once when another coroutine of this session holds the name or waits
  /// for it. Never waits for another holder; it may wait for this session's removal of a key
  /// left by a failed attempt.
  ///
  /// \par Errors
  /// locked; otherwise as lock(std::string).
  /// \par Cancellation
  /// As lock(std::string): the key, if created, is removed.
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> try_lock(std::string name);
  /// try_lock(std::string) with the key on a lease of `ttl` (see the class's TTL note).
  ///
  /// \par Errors
  /// locked; otherwise as lock(std::string, std::chrono::seconds).
  /// \par Cancellation
  /// As lock(std::string, std::chrono::seconds).
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl);

  /// Read/write lock: many readers or one writer. A waiting writer blocks readers that come after
  /// it (FIFO by create revision), so writers do not starve. Keys: `<name>/read/...`,
  /// `<name>/write/...`
  ///
  /// read_lock() waits for earlier writers only. Every waiter has a key of its own, so
  /// coroutines sharing a session do not queue locally.
  ///
  /// \par Errors
  /// As lock(std::string).
  /// \par Cancellation
  /// As lock(std::string): the waiter's key is removed in the background.
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> read_lock(std::string name);
  /// read_lock(std::string) with the key on a lease of `ttl` (see the class's TTL note).
  ///
  /// \par Errors
  /// As lock(std::string, std::chrono::seconds).
  /// \par Cancellation
  /// As lock(std::string, std::chrono::seconds).
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl);
  /// The writer's side of the read/write lock (see read_lock()): waits for every earlier reader
  /// and writer.
  ///
  /// \par Errors
  /// As lock(std::string).
  /// \par Cancellation
  /// As lock(std::string): the waiter's key is removed in the background.
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> write_lock(std::string name);
  /// write_lock(std::string) with the key on a lease of `ttl` (see the class's TTL note).
  ///
  /// \par Errors
  /// As lock(std::string, std::chrono::seconds).
  /// \par Cancellation
  /// As lock(std::string, std::chrono::seconds).
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl);
  /// Semaphore: at most `permits` holders of `name` at once, granted in request order.
  ///
  /// Keys: `<name>/<lease hex>-<n>`, one per waiter.
  ///
  /// \par Errors
  /// invalid_argument naming "permits" when `permits` is below 1; otherwise as lock(std::string).
  /// \par Cancellation
  /// As lock(std::string): the waiter's key is removed in the background.
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits);
  /// acquire_semaphore(std::string, int) with the key on a lease of `ttl` (see the class's TTL
  /// note).
  ///
  /// \par Errors
  /// As acquire_semaphore(std::string, int), plus those of lock(std::string,
  /// std::chrono::seconds) for the TTL.
  /// \par Cancellation
  /// As lock(std::string, std::chrono::seconds).
  /// \par Executor and lifetimes
  /// As lock(std::string).
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits,
                                                        std::chrono::seconds ttl);

 private:
  enum class kind { mutex, try_mutex, read, write, semaphore };
  using reentrant_map = std::map<std::string, std::weak_ptr<detail::held_lock>>;
  // Acquires on `s` (the locker's session or a lease of the lock's own).
  static boost::asio::awaitable<lock_handle> acquire(kind k, std::string name, int permits,
                                                     std::shared_ptr<detail::session_state> s);
  // acquire() on the session's lease when `ttl` is none or the session's TTL, else on a new
  // lease; counts up instead when reentrant and already held. Takes what it needs by value:
  // the locker may be gone before the awaitable starts.
  static boost::asio::awaitable<lock_handle> acquire_with_ttl(
      std::shared_ptr<detail::session_state> session, locker_options options,
      std::shared_ptr<reentrant_map> reentrant, kind k, std::string name, int permits,
      std::optional<std::chrono::seconds> ttl);
  boost::asio::awaitable<lock_handle> start(kind k, std::string name, int permits,
                                            std::optional<std::chrono::seconds> ttl) const {
    return acquire_with_ttl(session_, options_, reentrant_, k, std::move(name), permits, ttl);
  }
  std::shared_ptr<detail::session_state> session_;
  locker_options options_;
  std::shared_ptr<reentrant_map> reentrant_;
};

}  // namespace coordination
