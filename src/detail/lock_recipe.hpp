// The lock recipe as the election reuses it (see lock.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "coordination/lock.hpp"
#include "detail/session_state.hpp"

namespace coordination::detail {

// etcd's mutex / election recipe on session `s`: key `<name>/<lease hex>` holding `value`, wait
// (when `wait`) until it has the lowest create revision under `<name>/`. Throws locked when not
// waiting and someone else holds it.
boost::asio::awaitable<lock_handle> acquire_mutex(std::shared_ptr<session_state> s,
                                                  std::string name, bool wait, std::string value);

}  // namespace coordination::detail
