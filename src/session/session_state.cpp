#include "session/session_state.hpp"

namespace coordination::detail {

void session_state::close_in_background() {
  if (stopped) return;
  bool was_lost = is_lost;
  stop();
  if (was_lost) return;
  impl->tasks.spawn("revoking a dropped session's lease",
                    [](std::shared_ptr<session_state> self) -> asio::awaitable<void> {
                      try {
                        co_await self->impl->transport.call("/v3/lease/revoke",
                                                            encode_lease_id(self->lease),
                                                            transport::call_kind::idempotent);
                      } catch (const std::exception& e) {
                        self->impl->log->info("coordination: revoking lease {:x} failed: {}",
                                              self->lease, e.what());
                      }
                    }(shared_from_this()));
}

asio::awaitable<void> session_state::keep_alive(std::shared_ptr<session_state> self) {
  struct stop_at_exit {  // (also when the client's close() cancels this loop: wait_lost() wakes)
    session_state& s;
    ~stop_at_exit() { s.stop(); }
  } guard{*self};
  auto& schedule = self->schedule;
  while (!self->stopped && !self->is_lost) {
    self->renew_timer.expires_at(schedule.wake_at());
    co_await self->renew_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (self->stopped || self->is_lost) break;
    auto sent = clock::now();
    auto next = schedule.on_wake(sent);
    if (next == keepalive_schedule::action::wait) continue;
    if (next == keepalive_schedule::action::lost) {
      self->mark_lost(schedule.loss_reason());
      break;
    }
    std::string failure;
    bool lease_gone = false;
    try {
      auto body = co_await self->impl->transport.call(
          "/v3/lease/keepalive", encode_lease_id(self->lease), transport::call_kind::idempotent,
          schedule.answer_deadline(sent));
      auto r = decode_lease_keep_alive(body);
      if (self->stopped) break;
      if (!schedule.renewed(sent, clock::now(), std::chrono::seconds(r.ttl)))
        self->mark_lost(schedule.loss_reason());
      continue;
    } catch (const coordination_error& e) {
      failure = e.what();
      lease_gone = e.code() == error::lease_not_found;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (self->stopped) break;
    if (self->impl->metrics) self->impl->metrics->keepalive_failure();
    if (schedule.failed(clock::now(), lease_gone)) {
      self->mark_lost(schedule.loss_reason() + " (last: " + failure + ")");
      break;
    }
    self->impl->log->info("coordination: renewal of lease {:x} failed: {}", self->lease, failure);
  }
  if (self->is_lost && !self->orphaned) co_await revoke_lost(self);
}

// A lost session's lease can outlive the client's verdict in etcd: each new leader extends
// every lease by its TTL, so under repeated elections it may not expire for a long time, and
// its lock keys, registrations and campaigns would stay with nobody renewing or releasing
// them, blocking every other waiter. So once etcd answers again, the lease is revoked (tried
// for a minute, or 6 TTLs if longer; also after the session was closed or destroyed, which
// is what an application does with a lost session; orphan() and client::close() stop it).
asio::awaitable<void> session_state::revoke_lost(std::shared_ptr<session_state> self) {
  revoke_schedule schedule(clock::now(), self->schedule.ttl());
  while (!self->orphaned && !schedule.gave_up(clock::now())) {
    try {
      co_await self->impl->transport.call(
          "/v3/lease/revoke", encode_lease_id(self->lease), transport::call_kind::idempotent,
          schedule.attempt_deadline(clock::now(), self->impl->config.request_timeout));
      self->impl->log->info("coordination: revoked the lost session's lease {:x}", self->lease);
      co_return;
    } catch (const coordination_error& e) {
      if (e.code() == error::lease_not_found || e.code() == error::cancelled) co_return;
    } catch (const std::exception&) {
    }
    self->renew_timer.expires_after(schedule.next_pause());
    co_await self->renew_timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace coordination::detail
