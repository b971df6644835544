// The state behind a coordination::session, shared with the recipes built on it.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <typeindex>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/session.hpp"
#include "protocol/codec.hpp"
#include "session/keepalive.hpp"

namespace coordination::detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct session_state : std::enable_shared_from_this<session_state> {
  // `granted_at`: when the grant (or the adopting renewal) was sent.
  session_state(client& c, std::int64_t id, keepalive_settings settings,
                clock::time_point granted_at)
      : owner(std::make_unique<client>(detail::access::share(c))),
        impl(detail::impl_of(c).shared_from_this()),
        lease(id),
        schedule(settings, granted_at),
        renew_timer(impl->executor),
        lost_signal(impl->executor, clock::time_point::max()) {}

  std::unique_ptr<client> owner;  // shares the user's client, survives its move
  std::shared_ptr<client_impl> impl;
  std::int64_t lease;
  keepalive_schedule schedule;  // renewal times, expiry, loss verdicts
  asio::steady_timer renew_timer;
  asio::steady_timer lost_signal;  // cancelled when the session ends, waking wait_lost()
  bool is_lost = false;
  bool stopped = false;   // closed or orphaned
  bool orphaned = false;  // orphan(): the lease is left to run out, not even revoked when lost
  bool revoked = false;
  std::uint64_t next_callback = 1;
  std::map<std::uint64_t, std::function<void(std::error_code)>> callbacks;
  // Lock keys watched for late copies of their create (recipes/lock/late_copies.cpp).
  std::set<std::string> late_copy_sweeps;

  // Per-session state an upper layer keeps here without this layer knowing its type (the lock
  // recipe's gates, recipes/lock/gates.hpp): created on first use, ends with the session state.
  template <class T>
  T& extension() {
    auto& slot = extensions_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>();
    return *std::static_pointer_cast<T>(slot);
  }

  void mark_lost(const std::string& why) {
    if (is_lost || stopped) return;
    is_lost = true;
    if (impl->metrics) impl->metrics->session_lost();
    impl->log->warn("coordination: session lease {:x} lost: {}", lease, why);
    lost_signal.cancel();
    renew_timer.cancel();
    auto pending = std::move(callbacks);
    callbacks.clear();
    for (auto& [id, f] : pending)
      asio::post(impl->executor,
                 [f = std::move(f)] { f(make_error_code(error::session_expired)); });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    renew_timer.cancel();
    lost_signal.cancel();
    callbacks.clear();
  }

  // Stops renewing and revokes the lease in the background (a detached request, a failure
  // logged); a lost session's lease is being revoked already (revoke_lost()).
  void close_in_background();

  // Renews the lease until the session is stopped or lost (then revokes a lost lease).
  static asio::awaitable<void> keep_alive(std::shared_ptr<session_state> self);

  // A lost session's lease can outlive the client's verdict in etcd (see session_state.cpp).
  static asio::awaitable<void> revoke_lost(std::shared_ptr<session_state> self);

 private:
  std::map<std::type_index, std::shared_ptr<void>> extensions_;
};

}  // namespace coordination::detail
