#include "transport/retry_policy.hpp"

#include <algorithm>

#include "coordination/error.hpp"

namespace coordination::transport {

const char* to_string(call_kind k) {
  switch (k) {
    case call_kind::read:
      return "read";
    case call_kind::idempotent:
      return "idempotent";
    case call_kind::write:
      return "write";
  }
  return "?";
}

const char* to_string(attempt_stage s) {
  switch (s) {
    case attempt_stage::connect:
      return "connect";
    case attempt_stage::probe:
      return "probe";
    case attempt_stage::send:
      return "send";
    case attempt_stage::receive:
      return "receive";
    case attempt_stage::answer:
      return "answer";
  }
  return "?";
}

const char* to_string(attempt_error e) {
  switch (e) {
    case attempt_error::refused:
      return "refused";
    case attempt_error::tls:
      return "tls";
    case attempt_error::no_answer:
      return "no_answer";
    case attempt_error::deadline:
      return "deadline";
    case attempt_error::broken:
      return "broken";
    case attempt_error::cancelled:
      return "cancelled";
    case attempt_error::too_large:
      return "too_large";
    case attempt_error::gateway:
      return "gateway";
    case attempt_error::slow:
      return "slow";
  }
  return "?";
}

call_policy::call_policy(call_kind kind, const retry_config& retry, std::size_t endpoint_count,
                         bool fixed, bool authenticated, time_point deadline)
    : kind_(kind),
      retry_(retry),
      fixed_(fixed),
      authenticated_(authenticated),
      deadline_(deadline),
      max_attempts_(std::max(1, retry.max_retries + static_cast<int>(endpoint_count))),
      interval_(retry.initial_interval) {}

verdict call_policy::fail(std::error_code code, std::string message) const {
  verdict v;
  v.what = verdict::action::fail;
  v.code = code;
  v.message = std::move(message);
  return v;
}

verdict call_policy::fail_after_attempts(std::error_code code, std::string message) const {
  if (maybe_applied_ && code == error::unavailable)
    return fail(make_error_code(error::outcome_unknown),
                std::move(message) + " (an earlier attempt was sent and may have been applied)");
  if (maybe_applied_ && code == error::timeout)
    return fail(code,
                std::move(message) + " (an earlier attempt was sent and may have been applied)");
  return fail(code, std::move(message));
}

verdict call_policy::resend(const attempt_report& r, endpoint_mark mark, std::error_code code,
                            time_point now, bool other_usable, double random, bool at_once) {
  verdict v;
  v.mark = mark;
  if (attempts_ >= max_attempts_) {
    auto f =
        fail_after_attempts(code, r.what + " (after " + std::to_string(attempts_) + " attempts)");
    f.mark = mark;
    return f;
  }
  if ((other_usable && !fixed_) || at_once) {
    v.what = verdict::action::retry;  // straight to another endpoint, or on a new connection
    return v;
  }
  auto cap = std::min(interval_, retry_.max_interval);
  auto lo = cap.count() / 2;
  auto hi = std::max<long>(cap.count(), 1);
  random = std::clamp(random, 0.0, 1.0);
  auto wait = std::chrono::milliseconds(
      std::min<long>(hi, lo + static_cast<long>(random * static_cast<double>(hi - lo + 1))));
  if (now + wait >= deadline_) {
    auto f = fail_after_attempts(make_error_code(error::timeout),
                                 r.what + " (no time left for another attempt)");
    f.mark = mark;
    return f;
  }
  interval_ = std::chrono::milliseconds(
      static_cast<long>(static_cast<double>(interval_.count()) * retry_.multiplier));
  v.what = verdict::action::retry;
  v.backoff = wait;
  return v;
}

verdict call_policy::after(const attempt_report& r, time_point now, bool other_usable,
                           double random) {
  const bool sent = r.stage == attempt_stage::receive || r.stage == attempt_stage::answer;
  const bool may_be_applied = sent && kind_ == call_kind::write;
  const std::string lost = may_be_applied && r.stage == attempt_stage::receive
                               ? " (the request was sent and may have been applied)"
                               : "";
  const auto unavailable = make_error_code(error::unavailable);
  // An idempotent write that reached etcd may have been applied, whatever its resends say:
  // the call must not end up claiming "not applied" (unavailable).
  const bool reached = r.stage == attempt_stage::receive ||
                       (r.stage == attempt_stage::answer && r.error == attempt_error::gateway &&
                        r.gateway.action == detail::disposition::retry_if_read);
  if (reached && kind_ == call_kind::idempotent) maybe_applied_ = true;

  switch (r.error) {
    case attempt_error::cancelled:
      return fail(make_error_code(error::cancelled), r.what + lost);
    case attempt_error::too_large:
      return fail(make_error_code(error::response_too_large), r.what);
    case attempt_error::deadline:
      return fail_after_attempts(make_error_code(error::timeout), r.what + lost);
    case attempt_error::tls:
      if (!sent) return fail(make_error_code(error::tls_error), r.what);
      break;  // a TLS stream that broke after the request left: a broken connection
    default:
      break;
  }
  ++attempts_;
  if (now >= deadline_) {
    auto f = fail_after_attempts(make_error_code(error::timeout), r.what + lost);
    if (r.error == attempt_error::no_answer) f.mark = endpoint_mark::suspect;
    return f;
  }

  if (r.error == attempt_error::slow && kind_ == call_kind::read)
    return resend(r, endpoint_mark::none, make_error_code(error::timeout), now, other_usable,
                  random, true);

  // A write that may have reached etcd is never resent, whatever broke.
  if (may_be_applied && r.error != attempt_error::gateway) {
    bool unanswered = r.error == attempt_error::no_answer;
    auto f =
        fail(make_error_code(unanswered ? error::timeout : error::outcome_unknown), r.what + lost);
    f.mark = unanswered ? endpoint_mark::suspect : endpoint_mark::down;
    return f;
  }

  switch (r.error) {
    case attempt_error::refused:
      return resend(r, endpoint_mark::down, unavailable, now, other_usable, random);
    case attempt_error::no_answer:
    case attempt_error::slow:
      return resend(r, endpoint_mark::suspect, make_error_code(error::timeout), now, other_usable,
                    random);
    case attempt_error::broken:
    case attempt_error::tls: {
      // A connection that broke during an exchange (a reset, a lost answer) says little of its
      // endpoint, which had answered on it: the resend goes at once on a new connection (which
      // a readiness probe proves first), and is not counted against the attempt budget, twice
      // per call at most. A member that is gone refuses the new connection or its probe, and
      // the backoff applies from there.
      bool at_once = false;
      if (r.error == attempt_error::broken && r.stage != attempt_stage::probe &&
          free_resends_ < 2) {
        ++free_resends_;
        --attempts_;
        at_once = true;
      }
      return resend(r, endpoint_mark::down, unavailable, now, other_usable, random, at_once);
    }
    case attempt_error::gateway: {
      const auto& g = r.gateway;
      auto mark = g.code == error::unavailable ? endpoint_mark::down : endpoint_mark::none;
      switch (g.action) {
        case detail::disposition::fail:
          return fail(g.code, g.message);
        case detail::disposition::reauthenticate:
          if (!authenticated_ || reauthenticated_) return fail(g.code, g.message);
          reauthenticated_ = true;
          --attempts_;  // the same attempt again, with a new token
          {
            verdict v;
            v.what = verdict::action::reauthenticate;
            return v;
          }
        case detail::disposition::retry_if_read:
          if (kind_ == call_kind::write) {
            auto f = fail(make_error_code(error::outcome_unknown),
                          r.what + (g.code == error::timeout
                                        ? std::string()
                                        : std::string(" (the request may have been applied)")));
            f.mark = mark;
            return f;
          }
          return resend(r, mark, g.code, now, other_usable, random);
        case detail::disposition::retry:
          return resend(r, mark, g.code, now, other_usable, random);
      }
      return fail(g.code, g.message);
    }
    default:
      break;
  }
  return fail(unavailable, r.what);
}

}  // namespace coordination::transport
