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
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "coordination/session.hpp"
#include "coordination/types.hpp"

namespace coordination {

namespace detail {
struct held_lock;
}

class lock_handle {
 public:
  lock_handle();
  explicit lock_handle(std::shared_ptr<detail::held_lock> s);
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
  // Deletes the key (only if it is still this holder's). Idempotent.
  boost::asio::awaitable<void> release();
  // Completes with error::lock_lost when the session is lost or the key is deleted by someone
  // else, or error::cancelled after release().
  boost::asio::awaitable<std::error_code> wait_lost();
  // Runs `ops` only if the lock is still held and `compares` hold. Throws lock_lost when the
  // lock is gone (nothing applied); succeeded == false when only `compares` failed.
  boost::asio::awaitable<txn_result> guarded_txn(std::vector<compare> compares,
                                                 std::vector<txn_op> ops);

 private:
  std::shared_ptr<detail::held_lock> state_;
};

// Locks on one session. Cheap to create; many lockers may share a session.
class locker {
 public:
  explicit locker(session& s);
  // Waits until `name` is held by this session (FIFO by request).
  boost::asio::awaitable<lock_handle> lock(std::string name);
  // Takes `name` if nobody holds it or waits for it; otherwise throws error::locked.
  boost::asio::awaitable<lock_handle> try_lock(std::string name);

 private:
  boost::asio::awaitable<lock_handle> acquire(std::string name, bool wait);
  std::shared_ptr<detail::session_state> session_;
};

}  // namespace coordination
