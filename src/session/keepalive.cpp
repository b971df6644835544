#include "session/keepalive.hpp"

#include <algorithm>

namespace coordination::detail {

using namespace std::chrono_literals;

keepalive_schedule::keepalive_schedule(keepalive_settings s, time_point granted_at)
    : ttl_(s.ttl),
      interval_(s.renew_interval.count() > 0
                    ? s.renew_interval
                    : std::chrono::duration_cast<std::chrono::milliseconds>(s.ttl) / 3),
      retry_gap_(std::max<std::chrono::milliseconds>(interval_ / 4, 100ms)),
      request_timeout_(s.request_timeout),
      next_(granted_at + interval_),
      expires_(granted_at + s.ttl) {}

keepalive_schedule::time_point keepalive_schedule::wake_at() const {
  return std::min(next_, expires_);
}

keepalive_schedule::action keepalive_schedule::on_wake(time_point now) {
  if (lost_) return action::lost;
  if (now >= expires_) {
    lose("no renewal confirmed within the lease's TTL");
    return action::lost;
  }
  if (now < next_) return action::wait;
  return action::send;
}

keepalive_schedule::time_point keepalive_schedule::answer_deadline(time_point now) const {
  return std::min(now + request_timeout_, expires_);
}

bool keepalive_schedule::renewed(time_point sent, time_point now, std::chrono::seconds ttl) {
  if (lost_) return false;
  expires_ = sent + ttl;
  ++renewals_;
  next_ = std::max(sent + interval_, now);  // from the send: a slow answer does not delay it
  if (now >= expires_) {
    lose("renewals failed past the lease's TTL");
    return false;
  }
  return true;
}

bool keepalive_schedule::failed(time_point now, bool lease_gone) {
  if (lost_) return true;
  if (lease_gone) {
    lose("etcd answered that the lease does not exist");
    return true;
  }
  next_ = now + retry_gap_;
  if (now >= expires_) {
    lose("renewals failed past the lease's TTL");
    return true;
  }
  return false;
}

void keepalive_schedule::lose(std::string why) {
  lost_ = true;
  reason_ = std::move(why);
}

revoke_schedule::revoke_schedule(time_point lost_at, std::chrono::seconds ttl)
    : until_(lost_at + std::max<std::chrono::steady_clock::duration>(60s, 6 * ttl)) {}

revoke_schedule::time_point revoke_schedule::attempt_deadline(
    time_point now, std::chrono::milliseconds request_timeout) const {
  return std::min(now + request_timeout, until_);
}

std::chrono::milliseconds revoke_schedule::next_pause() {
  return pause_.next();
}

}  // namespace coordination::detail
