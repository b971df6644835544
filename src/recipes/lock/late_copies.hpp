// Late copies of a put-if-absent create on a session's lease (late_copies.cpp says why they
// happen): the session watches such a key and deletes a copy applied after the key went.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "session/session_state.hpp"

namespace coordination::detail {

struct late_copy_watch {
  std::string key;
  std::int64_t after = 0;  // the create's revision (0: unknown): later creates are copies
  // Lock and campaign keys: the session's gate of this name, busy while a coroutine of the
  // session uses the key, and entered to delete a copy.
  std::string gate_name;
  // Otherwise (or also): whether the key's owner uses the key now (a copy is then left alone).
  std::function<bool()> in_use;
  // A key used once (a semaphore or read/write key): the watch ends when one copy is gone.
  bool until_one_removed = false;
  const char* what = "lock key";  // for the log
};

// After a create whose earlier attempt reached etcd (txn_result::earlier_attempt_reached) or
// whose outcome is unknown: deletes copies of it applied later on the session's lease (each
// guarded by its create and mod revisions), unless in use then, until the session ends. At most
// 64 keys per session (a warning beyond). Owned by the client's task group.
void sweep_late_copies(std::shared_ptr<session_state> s, late_copy_watch w);

// Whether a create that failed with `e` may still be applied (it reached etcd, or may have).
bool create_may_apply_later(const std::exception_ptr& e);

}  // namespace coordination::detail
