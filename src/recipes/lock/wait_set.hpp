// The lock recipes' decisions, as sans-io cores: no requests, watches, timers or clock, so they
// are tested without etcd (test/unit/test_lock_wait_set.cpp). lock.cpp does the I/O. Not
// thread-safe: each is used on its client's executor.
//
//  - plan_wait(): whom a waiter waits for, from one range of the keys before it as of revision R
//    (keys created later queue behind it, so that set can only shrink);
//  - deletion_index: what a client's shared watch of deletions under a lock's prefix has seen,
//    which waiter each deletion completes, and whether it can tell that a key went since R;
//  - fifo_gate: the process-local queue of coroutines that share a session (and so one etcd
//    key per lock name) before they queue in etcd.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coordination/types.hpp"

namespace coordination::detail {

// Whom to wait for. `before`: the keys under `blockers` created at or before `my_rev`, newest
// first, read in one range (`key` is ours, created at `my_rev`; it is among them when it lies
// under `blockers`).
struct wait_plan {
  bool own_key_gone = false;              // ours should be in the range and is not the newest
  std::vector<std::string> predecessors;  // newest first (the one just before us usually goes last)
};
wait_plan plan_wait(const std::vector<key_value>& before, const std::string& blockers,
                    const std::string& key, std::int64_t my_rev);

class deletion_index {
 public:
  using waiter_id = std::uint64_t;
  struct completion {
    waiter_id id;
    std::int64_t revision;  // of the deletion; 0: the stream failed (wait another way)
  };

  // `start`: the first revision the stream covers. Remembers the last `capacity` deletions.
  explicit deletion_index(std::int64_t start, std::size_t capacity = 4096);

  // Whether every deletion after revision `at` went through this stream and is still known.
  bool covers(std::int64_t at) const;
  bool failed() const { return failed_; }
  std::int64_t through() const { return through_; }  // revision of the last deletion seen

  // The latest known deletion of `key` after revision `at`; 0 when none is known.
  std::int64_t deleted_after(const std::string& key, std::int64_t at) const;
  // Whether `key` was deleted after `at`, as far as (at, upto]: nullopt when this stream cannot
  // tell (failed, not covering `at`, or not as far as `upto` yet).
  std::optional<bool> deleted_since(const std::string& key, std::int64_t at,
                                    std::int64_t upto) const;

  // Wait for a deletion of `key` after revision `after` (ask deleted_after() first).
  waiter_id wait(const std::string& key, std::int64_t after);
  // A waiter that gives up; nothing when it has completed already.
  void cancel(waiter_id id);

  // A deletion from the stream. Returns the waiters it completes.
  std::vector<completion> deleted(const std::string& key, std::int64_t revision);
  // The stream ended: every waiter completes with revision 0, and covers() is false from now.
  std::vector<completion> fail();

  std::size_t waiting() const { return waiters_.size(); }
  std::size_t remembered() const { return recent_.size(); }

 private:
  struct waiter {
    waiter_id id;
    std::int64_t after;
  };
  std::int64_t start_;
  std::size_t capacity_;
  std::int64_t forgotten_below_;  // deletions before this may have left recent_
  std::int64_t through_ = 0;
  bool failed_ = false;
  waiter_id next_id_ = 1;
  std::map<std::string, std::int64_t> recent_;  // key -> revision of its latest deletion
  std::deque<std::pair<std::int64_t, std::string>> order_;  // to trim recent_
  std::multimap<std::string, waiter> waiters_;
};

// A FIFO mutex of tickets. enter() takes it at once when free, else queues a ticket; leave()
// hands it to the first queued ticket. A waiter that gives up withdraws its ticket; when the
// gate was handed to it meanwhile, withdraw() returns false and it must leave() in turn.
class fifo_gate {
 public:
  using ticket = std::uint64_t;
  // nullopt: entered (the gate was free). Otherwise the ticket to wait with.
  std::optional<ticket> enter();
  // The holder leaves. Returns the ticket that holds the gate now (nullopt: free).
  std::optional<ticket> leave();
  // True when `t` was still queued (now removed); false when it holds the gate (or is unknown).
  bool withdraw(ticket t);
  bool busy() const { return busy_; }
  bool idle() const { return !busy_ && queue_.empty(); }
  std::size_t queued() const { return queue_.size(); }

 private:
  bool busy_ = false;
  ticket next_ = 1;
  std::deque<ticket> queue_;
};

}  // namespace coordination::detail
