#include "coordination/session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "client/client_impl.hpp"
#include "protocol/codec.hpp"
#include "session/session_state.hpp"

namespace coordination {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

asio::awaitable<session> session::create(client& c, session_options options) {
  if (options.ttl.count() <= 0)
    throw coordination_error(error::invalid_argument, "ttl: must be positive");
  if (options.renew_interval.count() < 0)
    throw coordination_error(error::invalid_argument, "renew_interval: must not be negative");
  std::int64_t id = options.lease_id;
  std::chrono::seconds granted = options.ttl;
  auto sent = clock::now();  // etcd's TTL starts no earlier
  if (id == 0) {
    auto g = co_await c.lease_grant(options.ttl.count());
    id = g.id;
    granted = std::chrono::seconds(g.ttl);
  } else {
    auto k = co_await c.lease_keep_alive_once(id);
    granted = std::chrono::seconds(k.ttl);
  }
  detail::keepalive_settings ks{granted, options.renew_interval, c.config().request_timeout};
  auto state = std::make_shared<detail::session_state>(c, id, ks, sent);
  state->impl->tasks.spawn("keep-alive of a session lease",
                           detail::session_state::keep_alive(state));
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
  if (!state_->is_lost)
    state_->impl->log->info("coordination: session lease {:x} dropped without close(); revoking it",
                            state_->lease);
  state_->close_in_background();
}

std::int64_t session::lease() const {
  return state_->lease;
}
std::chrono::seconds session::ttl() const {
  return state_->schedule.ttl();
}
std::chrono::milliseconds session::renew_interval() const {
  return state_->schedule.renew_interval();
}
bool session::lost() const {
  return state_->is_lost;
}
clock::time_point session::expires_at() const {
  return state_->schedule.expires_at();
}
std::uint64_t session::renewals() const {
  return state_->schedule.renewals();
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
  std::exception_ptr failure;
  try {
    co_await s->impl->transport.call("/v3/lease/revoke", detail::encode_lease_id(s->lease),
                                     transport::call_kind::idempotent);
  } catch (const coordination_error& e) {
    if (e.code() == error::lease_not_found) co_return;
    if (e.code() == error::cancelled) throw;
    failure = std::current_exception();
  }
  if (!failure) co_return;
  // Not revoked (etcd unreachable, no quorum): the lease, and every lock key, registration and
  // campaign on it, would stay for a TTL or (with leaders changing) far longer. Revoked in the
  // background as a lost session's is, until etcd answers (session_state::revoke_lost).
  s->impl->tasks.spawn("revoking a closed session's lease", detail::session_state::revoke_lost(s));
  std::rethrow_exception(failure);
}

void session::orphan() {
  state_->orphaned = true;
  state_->stop();
  state_->renew_timer.cancel();  // (ends a revocation of a lost lease in progress)
}

}  // namespace coordination
