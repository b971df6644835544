// The pieces of the lock recipe that the election reuses (see lock.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "coordination/lock.hpp"
#include "session/session_state.hpp"

namespace coordination::detail {

// A range of `<name>/` that returns the owner: the key with the lowest create revision.
inline range_options first_created() {
  range_options o;
  o.prefix = true;
  o.order = sort_order::ascend;
  o.target = sort_target::create;
  o.limit = 1;
  return o;
}

// etcd's mutex / election recipe on session `s`: key `<name>/<lease hex>` holding `value`, wait
// (when `wait`) until it has the lowest create revision under `<name>/`. Throws locked when not
// waiting and someone else holds it. `recipe` labels its metrics and trace span ("mutex",
// "election").
boost::asio::awaitable<lock_handle> acquire_mutex(std::shared_ptr<session_state> s,
                                                  std::string name, bool wait, std::string value,
                                                  const char* recipe = "mutex");

// The tracer of the client the handle's lock was taken with (null: none).
tracer* tracer_of(const lock_handle& h);

}  // namespace coordination::detail
