// The lock recipes' internals shared by their files: the state a lock_handle holds, and the
// steps of acquiring (acquire.cpp), waiting for predecessors (waiting.cpp) and holding
// (lock_handle.cpp). The decisions in those steps are wait_set.hpp's sans-io cores.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "coordination/lock.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"
#include "recipes/lock/gates.hpp"
#include "recipes/lock/late_copies.hpp"
#include "session/session_state.hpp"

namespace coordination::detail {

struct held_lock {
  explicit held_lock(asio::any_io_executor ex) : lost_signal(ex, clock::time_point::max()) {}
  std::shared_ptr<session_state> session;
  std::shared_ptr<name_gate> gate;
  std::string name, key;
  std::int64_t token = 0;
  std::int64_t lease = 0;
  bool released = false;
  bool lost = false;
  asio::steady_timer lost_signal;
  watch_stream key_watch;
  std::uint64_t session_callback = 0;
  int count = 1;                // reentrant acquisitions
  std::int64_t watch_from = 0;  // first revision after the acquisition
  bool watching = false;        // the key watch runs (started by the first wait_lost())
  std::optional<coordination::session> own_session;  // a lock with a TTL of its own
  std::shared_ptr<std::map<std::string, std::weak_ptr<held_lock>>> reentrant;
  const char* recipe = "mutex";  // metrics label
  clock::time_point acquired_at;
  bool hold_ended = false;

  // Metrics: the hold ends (released or lost), once.
  void end_hold() {
    if (hold_ended) return;
    hold_ended = true;
    if (auto* m = session->impl->metrics.get())
      m->lock_released(recipe, clock::now() - acquired_at);
  }

  void mark_lost(const char* why) {
    if (lost || released) return;
    lost = true;
    end_hold();
    session->impl->log->warn("coordination: lock {} lost: {}", key, why);
    lost_signal.cancel();
  }
};

// The process-local FIFO of the coroutines sharing a session, per lock name.
void leave_gate(name_gate* gate);
asio::awaitable<std::shared_ptr<name_gate>> enter_gate(session_state& s, const std::string& name);

// Removes a waiter's or holder's key in the background, retried, then passes the gate on.
void abandon(std::shared_ptr<session_state> s, std::shared_ptr<name_gate> gate, std::string key,
             std::int64_t token);

// The late-copy watch of a mutex or campaign key (the session's gate `name`), or of a key one
// acquisition uses.
late_copy_watch gated(const std::string& name, const std::string& key, std::int64_t after);
late_copy_watch once(const std::string& key, std::int64_t after);

// Runs a create txn to its end even when the caller cancels meanwhile.
asio::awaitable<txn_result> create_to_the_end(client& c, txn_request t);

// Waits until no key under `blockers` created before `my_rev` is left; returns {R, revision of
// the last deletion waited for, 0 when none} (waiting.cpp).
asio::awaitable<std::pair<std::int64_t, std::int64_t>> wait_predecessors(
    client& c, const std::string& lock_prefix, const std::string& blockers, const std::string& key,
    std::int64_t my_rev);
// Still ours after waiting? Returns the newest revision known; throws lock_lost.
asio::awaitable<std::int64_t> confirm(session_state& s, const std::string& lock_prefix,
                                      const std::string& key, std::int64_t my_rev,
                                      std::int64_t seen_at, std::int64_t upto);

// Watches the held key from `from`: its deletion by someone else marks the lock lost.
asio::awaitable<void> watch_own_key(std::shared_ptr<held_lock> h, std::int64_t from);

}  // namespace coordination::detail
