// Distributed mutex on etcd, with etcd's own key layout and ownership rule (Go's
// concurrency.Mutex): the waiter's key is `<name>/<lease id in hex>` bound to its session's
// lease, the owner is the key with the lowest create revision under `<name>/`, and each waiter
// watches only the key just before its own. So this library and `etcdctl lock <name>` exclude
// each other. Waiters of one process that share a session take turns in a local FIFO first
// (they would share one etcd key otherwise).
//
// A lock is not mutual exclusion on its own: a holder paused past its lease's TTL (GC, swap,
// SIGSTOP) still believes it holds the lock after etcd gave it to the next waiter (Jepsen,
// etcd 3.4.3, 2020). Guard the writes the lock protects with guarded_txn(): it applies only if
// the lock key still has the holder's create revision (the fencing token).
//
// Thread-safety: the client's executor only. lock() waits until held and is cancelled by Asio
// terminal cancellation (e.g. with_timeout); a cancelled or failed waiter removes its key.
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

class lock_handle {
 public:
  lock_handle();
  lock_handle(lock_handle&&) noexcept;
  lock_handle& operator=(lock_handle&&) noexcept;
  // Still held: releases it in the background (on the executor) and logs that it did.
  ~lock_handle();

  const std::string& name() const;
  const std::string& key() const;  // <name>/<lease hex>
  // The key's create revision: strictly increasing across successive holders of one lock.
  std::int64_t fencing_token() const;
  std::int64_t lease() const;
  // What this process knows: not released and not lost.
  bool held() const;
  // Asks etcd whether the key still exists with this holder's create revision.
  boost::asio::awaitable<bool> is_held();
  // Deletes the key (only if it is still this holder's). Idempotent. When the delete fails
  // (etcd unreachable...) the error is thrown and the delete is retried in the background until
  // it succeeds or the session ends; meanwhile this process's next lock() of the name waits.
  boost::asio::awaitable<void> release();
  // Completes with error::lock_lost when the session is lost or the key is deleted by someone
  // else, or error::cancelled after release().
  boost::asio::awaitable<std::error_code> wait_lost();
  // Until when nobody else can hold the lock, at least: the lock's lease was last confirmed
  // renewed at T, so etcd keeps it until T + TTL or later (a holder that acts on a guarded
  // write should finish before this; a section that may outlast it is not protected).
  std::chrono::steady_clock::time_point valid_until() const;
  // Runs `ops` only if the lock is still held and `compares` hold. Throws lock_lost when the
  // lock is gone (nothing applied), also without asking etcd when valid_until() has passed;
  // succeeded == false when only `compares` failed.
  boost::asio::awaitable<txn_result> guarded_txn(std::vector<compare> compares,
                                                 std::vector<txn_op> ops);
  // Reentrant locks: how many times the owner holds it (release() undoes one).
  int acquire_count() const;
  // Renews the lock's lease now; returns the seconds it has left. For a lock on the session's
  // lease this is one early session renewal; for a lock with a lease of its own, that lease's.
  boost::asio::awaitable<std::int64_t> renew();
  // Seconds the lock's lease has left, as etcd says (-1: gone).
  boost::asio::awaitable<std::int64_t> ttl();

 private:
  friend struct detail::access;
  explicit lock_handle(std::shared_ptr<detail::held_lock> s);
  std::shared_ptr<detail::held_lock> state_;
  bool done_ = false;  // this handle's acquisition was released
};

struct locker_options {
  // A second lock() of a name this locker holds increments a count instead of waiting; the key
  // is deleted when the count returns to 0. The owner is the locker object: two lockers (even on
  // one session) exclude each other.
  bool reentrant = false;
};

// Locks on one session. Cheap to create; many lockers may share a session.
//
// TTL: every kind of lock comes with and without a `ttl`. Without one, or with the session's
// TTL, the lock's key is on the session's lease. Another ttl gets a lease of its own (a session
// of its own, renewed by the same keep-alive machinery), revoked on release; a ttl that is not
// positive throws invalid_argument naming "ttl".
//
// Errors: session_expired when the session is lost (before or while waiting), locked from
// try_lock, invalid_argument for an empty name or bad permits, and the client's errors
// (unavailable, timeout...). Cancellation (Asio terminal) removes the waiter's key.
class locker {
 public:
  explicit locker(session& s, locker_options options = {});
  // Waits until `name` is held (FIFO by request).
  boost::asio::awaitable<lock_handle> lock(std::string name);
  boost::asio::awaitable<lock_handle> lock(std::string name, std::chrono::seconds ttl);
  // Takes `name` if nobody holds it or waits for it; otherwise throws error::locked.
  boost::asio::awaitable<lock_handle> try_lock(std::string name);
  boost::asio::awaitable<lock_handle> try_lock(std::string name, std::chrono::seconds ttl);

  // Read/write lock: many readers or one writer. A waiting writer blocks readers that come after
  // it (FIFO by create revision), so writers do not starve. Keys: <name>/read/..., <name>/write/...
  boost::asio::awaitable<lock_handle> read_lock(std::string name);
  boost::asio::awaitable<lock_handle> read_lock(std::string name, std::chrono::seconds ttl);
  boost::asio::awaitable<lock_handle> write_lock(std::string name);
  boost::asio::awaitable<lock_handle> write_lock(std::string name, std::chrono::seconds ttl);
  // Semaphore: at most `permits` holders of `name` at once, granted in request order.
  boost::asio::awaitable<lock_handle> acquire_semaphore(std::string name, int permits);
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
