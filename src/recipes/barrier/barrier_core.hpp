// The decisions of the double barrier (sans-io), Go's concurrency recipe: whether an entrant
// completes the barrier, and what a leaver does next given the waiters it read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordination/types.hpp"

namespace coordination::detail {

// Keys of double barrier `name`: one waiter key per participant under waiters/, and the ready
// key the count-th entrant puts.
std::string barrier_waiters_prefix(const std::string& name);
std::string barrier_ready_key(const std::string& name);

// After putting its waiter key and reading the waiters: done (the barrier is full: put ready),
// wait (for ready), or too_many (more entrants than `count`: leave again).
enum class enter_step { complete, wait, too_many };
enter_step after_enter(std::size_t waiters, std::size_t count);

// One step of leave(), from the waiters now (any order) and the leaver's own key.
struct leave_step {
  enum kind {
    done,            // nobody left (or only others' keys are gone): leave returns
    finish,          // the leaver is the last: delete ready, then its key, and return
    wait_for,        // wait for `key` (deleted after `revision`), then read again
    delete_and_wait  // delete the leaver's key, wait for `key`, then read again
  } what = done;
  std::string key;
  std::int64_t revision = 0;
};
leave_step next_leave_step(const std::vector<key_value>& waiters, const std::string& mine);

}  // namespace coordination::detail
