#include "session/session_state.hpp"

namespace coordination::detail {

void session_state::close_in_background() {
  if (stopped) return;
  bool was_lost = is_lost;
  stop();
  if (was_lost) return;
  asio::co_spawn(
      impl->executor,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        try {
          co_await self->impl->transport.call("/v3/lease/revoke", encode_lease_id(self->lease),
                                              transport::call_kind::idempotent);
        } catch (const std::exception& e) {
          self->impl->log->info("coordination: revoking lease {:x} failed: {}", self->lease,
                                e.what());
        }
      },
      asio::detached);
}

asio::awaitable<void> session_state::keep_alive(std::shared_ptr<session_state> self) {
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
                                              transport::call_kind::idempotent, deadline);
      auto r = decode_lease_keep_alive(body);
      if (self->stopped) break;
      self->expires_at = sent + std::chrono::seconds(r.ttl);
      ++self->renewals;
      next = clock::now() + self->renew_interval;
    } catch (const coordination_error& e) {
      if (self->stopped) break;
      if (self->impl->metrics) self->impl->metrics->keepalive_failure();
      if (e.code() == error::lease_not_found) {
        self->mark_lost(e.what());
        break;
      }
      self->impl->log->info("coordination: renewal of lease {:x} failed: {}", self->lease,
                            e.what());
      next = clock::now() + retry_gap;
    } catch (const std::exception& e) {
      if (self->stopped) break;
      if (self->impl->metrics) self->impl->metrics->keepalive_failure();
      self->impl->log->info("coordination: renewal of lease {:x} failed: {}", self->lease,
                            e.what());
      next = clock::now() + retry_gap;
    }
    if (clock::now() >= self->expires_at) self->mark_lost("renewals failed past the lease's TTL");
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
  const auto until = clock::now() + std::max<clock::duration>(60s, 6 * self->ttl);
  auto pause = std::chrono::milliseconds(250);
  while (!self->orphaned && clock::now() < until) {
    try {
      co_await self->impl->transport.call(
          "/v3/lease/revoke", encode_lease_id(self->lease), transport::call_kind::idempotent,
          std::min(clock::now() + self->impl->config.request_timeout, until));
      self->impl->log->info("coordination: revoked the lost session's lease {:x}", self->lease);
      co_return;
    } catch (const coordination_error& e) {
      if (e.code() == error::lease_not_found || e.code() == error::cancelled) co_return;
    } catch (const std::exception&) {
    }
    self->renew_timer.expires_after(pause);
    co_await self->renew_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pause = std::min(pause * 2, std::chrono::milliseconds(4000));
  }
}

}  // namespace coordination::detail
