#include "recipes/barrier/barrier_core.hpp"

#include <algorithm>

namespace coordination::detail {

std::string barrier_waiters_prefix(const std::string& name) {
  return name + "/waiters/";
}

std::string barrier_ready_key(const std::string& name) {
  return name + "/ready";
}

enter_step after_enter(std::size_t waiters, std::size_t count) {
  if (waiters > count) return enter_step::too_many;
  if (waiters == count) return enter_step::complete;
  return enter_step::wait;
}

leave_step next_leave_step(const std::vector<key_value>& waiters, const std::string& mine) {
  leave_step s;
  if (waiters.empty()) return s;
  auto by_mod = [](const key_value& a, const key_value& b) {
    return a.mod_revision < b.mod_revision;
  };
  const key_value& lowest = *std::min_element(waiters.begin(), waiters.end(), by_mod);
  const key_value& highest = *std::max_element(waiters.begin(), waiters.end(), by_mod);
  bool is_lowest = lowest.key == mine;
  if (waiters.size() == 1 && is_lowest) {
    s.what = leave_step::finish;
    return s;
  }
  // The lowest waits for the highest; every other deletes its key and waits for the lowest. A
  // participant that dies loses its lease, its key goes, and the others go on.
  if (is_lowest) {
    s.what = leave_step::wait_for;
    s.key = highest.key;
    s.revision = highest.mod_revision;
  } else {
    s.what = leave_step::delete_and_wait;
    s.key = lowest.key;
    s.revision = lowest.mod_revision;
  }
  return s;
}

}  // namespace coordination::detail
