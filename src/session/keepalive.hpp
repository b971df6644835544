// detail::keepalive_schedule and detail::revoke_schedule: when a session renews its lease, when
// it counts the lease as lost, and how a lost lease is then revoked.
//
// Sans-io cores: no timers, no requests, no clock of their own (every time is an argument), so
// they are tested without etcd (test/unit/test_keepalive.cpp). session_state's coroutines do
// the waiting and the requests. Not thread-safe: one per session, on the client's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "detail/backoff.hpp"

namespace coordination::detail {

struct keepalive_settings {
  std::chrono::seconds ttl{10};                      // as granted by etcd
  std::chrono::milliseconds renew_interval{0};       // between renewals; 0: TTL / 3
  std::chrono::milliseconds request_timeout{10000};  // a renewal waits no longer than this
};

// Renewals go out every renew_interval, counted from the last confirmed one's send time (an
// answer slower than that is followed at once by the next renewal), and after a failure every
// retry_gap() (a quarter of the interval, at least 100 ms). The lease may expire in etcd at
// `sent + TTL` of the last confirmed renewal (its request's send time: etcd's clock started no
// earlier), so that is expires_at(); a renewal never waits for an answer past it, and once it
// passes without a confirmation the session is lost. An answer that the lease does not exist
// loses it at once.
class keepalive_schedule {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  // `granted_at`: when the grant (or the adopting renewal) was sent.
  keepalive_schedule(keepalive_settings s, time_point granted_at);

  enum class action {
    wait,  // woken early: wait until wake_at() again
    send,  // send a renewal now; wait for its answer until answer_deadline()
    lost,  // the session is lost (loss_reason() says why)
  };

  // When to wake up next: the next renewal, never later than the expiry.
  time_point wake_at() const;
  // Woken at `now`.
  action on_wake(time_point now);
  // For action::send at `now`: the renewal's deadline (request_timeout, cut at the expiry).
  time_point answer_deadline(time_point now) const;

  // The renewal sent at `sent` was confirmed at `now` with etcd's TTL `ttl`. Returns false if
  // that still came too late (the lease may have expired meanwhile: lost).
  bool renewed(time_point sent, time_point now, std::chrono::seconds ttl);
  // The renewal failed at `now`; `lease_gone`: etcd answered that the lease does not exist.
  // Returns true when the session is now lost.
  bool failed(time_point now, bool lease_gone);

  bool lost() const { return lost_; }
  const std::string& loss_reason() const { return reason_; }
  time_point expires_at() const { return expires_; }
  std::chrono::seconds ttl() const { return ttl_; }
  std::chrono::milliseconds renew_interval() const { return interval_; }
  std::chrono::milliseconds retry_gap() const { return retry_gap_; }
  std::uint64_t renewals() const { return renewals_; }

 private:
  void lose(std::string why);

  std::chrono::seconds ttl_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds retry_gap_;
  std::chrono::milliseconds request_timeout_;
  time_point next_;
  time_point expires_;
  std::uint64_t renewals_ = 0;
  bool lost_ = false;
  std::string reason_;
};

// After a loss the lease can outlive the client's verdict in etcd (each new leader extends
// every lease by its TTL), so it is revoked as soon as etcd answers: attempts for a minute, or
// 6 TTLs if longer, from the loss, paused 250 ms after a failure, doubling to 4 s.
class revoke_schedule {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  revoke_schedule(time_point lost_at, std::chrono::seconds ttl);

  // No attempt starts at or after this.
  time_point give_up_at() const { return until_; }
  bool gave_up(time_point now) const { return now >= until_; }
  // An attempt started at `now`: its deadline (request_timeout, cut at give_up_at()).
  time_point attempt_deadline(time_point now, std::chrono::milliseconds request_timeout) const;
  // After a failed attempt: the pause before the next one.
  std::chrono::milliseconds next_pause();

 private:
  time_point until_;
  backoff pause_{std::chrono::milliseconds(250), std::chrono::milliseconds(4000)};
};

}  // namespace coordination::detail
