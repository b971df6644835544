#include "coordination/session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "detail/client_impl.hpp"
#include "detail/codec.hpp"

namespace coordination {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace detail {

struct session_state : std::enable_shared_from_this<session_state> {
  session_state(client& c, std::int64_t id, std::chrono::seconds granted,
                std::chrono::milliseconds interval)
      : owner(&c),
        impl(c.impl().shared_from_this()),
        lease(id),
        ttl(granted),
        renew_interval(interval),
        renew_timer(impl->executor),
        lost_signal(impl->executor, clock::time_point::max()),
        expires_at(clock::now() + granted) {}

  client* owner;
  std::shared_ptr<client_impl> impl;
  std::int64_t lease;
  std::chrono::seconds ttl;
  std::chrono::milliseconds renew_interval;
  asio::steady_timer renew_timer;
  asio::steady_timer lost_signal;  // cancelled when the session ends, waking wait_lost()
  clock::time_point expires_at;
  std::uint64_t renewals = 0;
  bool is_lost = false;
  bool stopped = false;  // closed or orphaned
  bool revoked = false;
  std::uint64_t next_callback = 1;
  std::map<std::uint64_t, std::function<void(std::error_code)>> callbacks;

  void mark_lost(const std::string& why) {
    if (is_lost || stopped) return;
    is_lost = true;
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

  static asio::awaitable<void> keep_alive(std::shared_ptr<session_state> self) {
    auto next = clock::now() + self->renew_interval;
    const auto retry_gap = std::max<std::chrono::milliseconds>(self->renew_interval / 4, 100ms);
    while (!self->stopped && !self->is_lost) {
      self->renew_timer.expires_at(std::min(next, self->expires_at));
      co_await self->renew_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->stopped || self->is_lost) break;
      auto sent = clock::now();
      if (sent >= self->expires_at) {
        self->mark_lost("no renewal confirmed within the lease's TTL");
        break;
      }
      try {
        // Never wait for an answer past the moment the lease may expire.
        auto deadline = std::min(sent + self->impl->config.request_timeout, self->expires_at);
        auto body =
            co_await self->impl->transport.call("/v3/lease/keepalive", encode_lease_id(self->lease),
                                                transport::call_kind::read, deadline);
        auto r = decode_lease_keep_alive(body);
        if (self->stopped) break;
        self->expires_at = sent + std::chrono::seconds(r.ttl);
        ++self->renewals;
        next = clock::now() + self->renew_interval;
      } catch (const coordination_error& e) {
        if (self->stopped) break;
        if (e.code() == error::lease_not_found) {
          self->mark_lost(e.what());
          break;
        }
        self->impl->log->info("coordination: renewal of lease {:x} failed: {}", self->lease,
                              e.what());
        next = clock::now() + retry_gap;
      } catch (const std::exception& e) {
        if (self->stopped) break;
        self->impl->log->info("coordination: renewal of lease {:x} failed: {}", self->lease,
                              e.what());
        next = clock::now() + retry_gap;
      }
      if (clock::now() >= self->expires_at) self->mark_lost("renewals failed past the lease's TTL");
    }
  }
};

}  // namespace detail

asio::awaitable<session> session::create(client& c, session_options options) {
  if (options.ttl.count() <= 0)
    throw coordination_error(error::invalid_argument, "ttl: must be positive");
  if (options.renew_interval.count() < 0)
    throw coordination_error(error::invalid_argument, "renew_interval: must not be negative");
  std::int64_t id = options.lease_id;
  std::chrono::seconds granted = options.ttl;
  if (id == 0) {
    auto g = co_await c.lease_grant(options.ttl.count());
    id = g.id;
    granted = std::chrono::seconds(g.ttl);
  } else {
    auto k = co_await c.lease_keep_alive_once(id);
    granted = std::chrono::seconds(k.ttl);
  }
  auto interval = options.renew_interval.count() > 0
                      ? options.renew_interval
                      : std::chrono::duration_cast<std::chrono::milliseconds>(granted) / 3;
  auto state = std::make_shared<detail::session_state>(c, id, granted, interval);
  asio::co_spawn(state->impl->executor, detail::session_state::keep_alive(state), asio::detached);
  co_return session(std::move(state));
}

session::session(std::shared_ptr<detail::session_state> s) : state_(std::move(s)) {}
session::session(session&&) noexcept = default;
session& session::operator=(session&& other) noexcept {
  if (this != &other) {
    session old(std::move(*this));  // its destructor ends what this one held
    state_ = std::move(other.state_);
  }
  return *this;
}

session::~session() {
  if (!state_ || state_->stopped) return;
  auto s = state_;
  bool was_lost = s->is_lost;
  s->stop();
  if (was_lost) return;
  s->impl->log->info("coordination: session lease {:x} dropped without close(); revoking it",
                     s->lease);
  asio::co_spawn(
      s->impl->executor,
      [s]() -> asio::awaitable<void> {
        try {
          co_await s->impl->transport.call("/v3/lease/revoke", detail::encode_lease_id(s->lease),
                                           transport::call_kind::read);
        } catch (const std::exception& e) {
          s->impl->log->info("coordination: revoking lease {:x} failed: {}", s->lease, e.what());
        }
      },
      asio::detached);
}

std::int64_t session::lease() const {
  return state_->lease;
}
std::chrono::seconds session::ttl() const {
  return state_->ttl;
}
std::chrono::milliseconds session::renew_interval() const {
  return state_->renew_interval;
}
bool session::lost() const {
  return state_->is_lost;
}
clock::time_point session::expires_at() const {
  return state_->expires_at;
}
std::uint64_t session::renewals() const {
  return state_->renewals;
}
client& session::owner() const {
  return *state_->owner;
}

asio::awaitable<std::error_code> session::wait_lost() {
  auto s = state_;
  if (!s->is_lost && !s->stopped)
    co_await s->lost_signal.async_wait(asio::as_tuple(asio::use_awaitable));
  if (s->is_lost) co_return make_error_code(error::session_expired);
  co_return make_error_code(error::cancelled);
}

std::uint64_t session::on_lost(std::function<void(std::error_code)> f) {
  auto id = state_->next_callback++;
  if (state_->is_lost) {
    asio::post(state_->impl->executor,
               [f = std::move(f)] { f(make_error_code(error::session_expired)); });
    return id;
  }
  state_->callbacks.emplace(id, std::move(f));
  return id;
}

void session::remove_on_lost(std::uint64_t id) {
  state_->callbacks.erase(id);
}

asio::awaitable<void> session::close() {
  auto s = state_;
  if (s->revoked) co_return;
  bool was_lost = s->is_lost;
  s->stop();
  s->revoked = true;
  if (was_lost) co_return;
  try {
    co_await s->impl->transport.call("/v3/lease/revoke", detail::encode_lease_id(s->lease),
                                     transport::call_kind::read);
  } catch (const coordination_error& e) {
    if (e.code() != error::lease_not_found) throw;
  }
}

void session::orphan() {
  state_->stop();
}

}  // namespace coordination
