// The lock recipe's per-session state: one process-local FIFO gate per lock name, kept in the
// session state as an extension (session_state::extension<lock_gates>()), so that the session
// layer knows nothing of locks. Not thread-safe (the client's executor).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>

#include "recipes/lock/wait_set.hpp"
#include "session/session_state.hpp"

namespace coordination::detail {

// One process-local FIFO per lock name: coroutines of one process that share a session lease
// (and so the same etcd key) take turns here before they queue in etcd.
struct gate_waiter {
  asio::steady_timer timer;
  bool handed = false;  // the gate was passed to this waiter
};
struct name_gate {
  fifo_gate core;  // who holds it, who is next
  // Held only to remove a key nobody holds (a failed or cancelled waiter's, a failed release's):
  // try_lock waits for that instead of reporting the name locked.
  bool removing = false;
  std::map<fifo_gate::ticket, gate_waiter*> waiting;
  std::string name;
  // The session's map of gates: a gate nobody uses leaves it (held_lock and the waiters keep
  // the session state, and so its lock_gates and this map, alive while they use the gate).
  std::map<std::string, std::shared_ptr<name_gate>>* registry = nullptr;
};

struct lock_gates {
  std::map<std::string, std::shared_ptr<name_gate>> by_name;
};

// The gates of session `s`'s lock names.
inline std::map<std::string, std::shared_ptr<name_gate>>& gates_of(session_state& s) {
  return s.extension<lock_gates>().by_name;
}

}  // namespace coordination::detail
