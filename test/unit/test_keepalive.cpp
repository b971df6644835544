// A session's keep-alive schedule and loss verdicts (session/keepalive) on a simulated clock:
// when renewals go out, when the lease counts as lost, and how a lost lease is revoked.
#include <boost/test/unit_test.hpp>
#include <vector>

#include "session/keepalive.hpp"

using namespace coordination::detail;
using namespace std::chrono_literals;
using action = keepalive_schedule::action;
using time_point = std::chrono::steady_clock::time_point;

namespace {

const time_point t0{std::chrono::seconds(1000)};

keepalive_schedule make(std::chrono::seconds ttl, std::chrono::milliseconds interval = 0ms,
                        std::chrono::milliseconds request_timeout = 10s) {
  return keepalive_schedule(keepalive_settings{ttl, interval, request_timeout}, t0);
}

// Drives a schedule the way session_state::keep_alive does, on a simulated clock: at each wake
// a renewal is sent; `answer(sent)` says whether it is confirmed (after `rtt`) and with which
// TTL (0: it fails after `rtt`). Stops when lost or at `until`. Returns the wake times.
struct simulation {
  explicit simulation(keepalive_schedule& schedule) : s(schedule) {}
  keepalive_schedule& s;
  std::chrono::milliseconds rtt = 5ms;
  std::vector<time_point> sends;
  time_point lost_at{};

  template <class Answer>
  void run(time_point until, Answer answer) {
    while (!s.lost()) {
      auto now = s.wake_at();
      if (now >= until) return;
      auto a = s.on_wake(now);
      if (a == action::wait) continue;
      if (a == action::lost) {
        lost_at = now;
        return;
      }
      sends.push_back(now);
      std::chrono::seconds ttl = answer(now);
      auto done = std::min(now + rtt, s.answer_deadline(now));
      if (now + rtt > done) ttl = 0s;  // the deadline came first: a failure
      if (ttl.count() > 0) {
        if (!s.renewed(now, done, ttl)) lost_at = done;
      } else if (s.failed(done, false)) {
        lost_at = done;
      }
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(keepalive_suite)

BOOST_AUTO_TEST_CASE(the_default_interval_is_a_third_of_the_ttl) {
  auto s = make(9s);
  BOOST_TEST(s.renew_interval().count() == 3000);
  BOOST_TEST(s.ttl().count() == 9);
}

BOOST_AUTO_TEST_CASE(an_explicit_interval_is_kept) {
  auto s = make(9s, 500ms);
  BOOST_TEST(s.renew_interval().count() == 500);
}

BOOST_AUTO_TEST_CASE(retries_come_at_a_quarter_of_the_interval_but_not_under_100_ms) {
  BOOST_TEST(make(12s).retry_gap().count() == 1000);
  BOOST_TEST(make(10s, 200ms).retry_gap().count() == 100);
  BOOST_TEST(make(1s).retry_gap().count() == 100);  // 333 ms / 4 = 83 ms
}

BOOST_AUTO_TEST_CASE(the_lease_expires_a_ttl_after_the_grant_was_sent) {
  auto s = make(6s);
  BOOST_TEST((s.expires_at() == t0 + 6s));
  BOOST_TEST(s.renewals() == 0u);
  BOOST_TEST(!s.lost());
}

BOOST_AUTO_TEST_CASE(the_first_renewal_is_one_interval_after_the_grant) {
  auto s = make(6s);
  BOOST_TEST((s.wake_at() == t0 + 2s));
}

BOOST_AUTO_TEST_CASE(a_wake_before_the_renewal_is_due_waits) {
  auto s = make(6s);
  BOOST_TEST((s.on_wake(t0 + 1s) == action::wait));
  BOOST_TEST((s.on_wake(t0 + 2s) == action::send));
}

BOOST_AUTO_TEST_CASE(a_renewal_waits_for_its_answer_no_longer_than_the_request_timeout) {
  auto s = make(30s, 10s, 2s);
  BOOST_TEST((s.answer_deadline(t0 + 10s) == t0 + 12s));
}

BOOST_AUTO_TEST_CASE(a_renewal_never_waits_past_the_expiry) {
  auto s = make(3s, 1s, 10s);
  BOOST_TEST((s.answer_deadline(t0 + 1s) == t0 + 3s));
}

BOOST_AUTO_TEST_CASE(a_confirmed_renewal_counts_from_its_send_time) {
  auto s = make(6s);
  BOOST_TEST(s.renewed(t0 + 2s, t0 + 4s, 6s));  // a slow answer does not stretch the lease
  BOOST_TEST((s.expires_at() == t0 + 8s));
  BOOST_TEST(s.renewals() == 1u);
}

BOOST_AUTO_TEST_CASE(the_next_renewal_is_an_interval_after_the_last_send) {
  auto s = make(6s);
  s.renewed(t0 + 2s, t0 + 2100ms, 6s);
  BOOST_TEST((s.wake_at() == t0 + 4s));
}

BOOST_AUTO_TEST_CASE(an_answer_slower_than_the_interval_is_followed_by_a_renewal_at_once) {
  auto s = make(6s);
  s.renewed(t0 + 2s, t0 + 4500ms, 6s);
  BOOST_TEST((s.wake_at() == t0 + 4500ms));
  BOOST_TEST((s.on_wake(t0 + 4500ms) == action::send));
}

BOOST_AUTO_TEST_CASE(etcd_granting_a_shorter_ttl_shortens_the_expiry) {
  auto s = make(6s);
  s.renewed(t0 + 2s, t0 + 2s, 3s);
  BOOST_TEST((s.expires_at() == t0 + 5s));
}

BOOST_AUTO_TEST_CASE(a_failed_renewal_is_retried_after_the_retry_gap) {
  auto s = make(12s);  // interval 4 s, gap 1 s
  BOOST_TEST(!s.failed(t0 + 4s, false));
  BOOST_TEST(!s.lost());
  BOOST_TEST((s.wake_at() == t0 + 5s));
  BOOST_TEST(s.renewals() == 0u);
}

BOOST_AUTO_TEST_CASE(an_answer_that_the_lease_is_gone_loses_the_session_at_once) {
  auto s = make(12s);
  BOOST_TEST(s.failed(t0 + 4s, true));
  BOOST_TEST(s.lost());
  BOOST_TEST(s.loss_reason().find("does not exist") != std::string::npos, s.loss_reason());
}

BOOST_AUTO_TEST_CASE(a_wake_at_the_expiry_without_a_confirmation_loses_the_session) {
  auto s = make(6s);
  BOOST_TEST((s.on_wake(t0 + 6s) == action::lost));
  BOOST_TEST(s.lost());
  BOOST_TEST(s.loss_reason().find("within the lease's TTL") != std::string::npos, s.loss_reason());
}

BOOST_AUTO_TEST_CASE(a_failure_past_the_expiry_loses_the_session) {
  auto s = make(3s, 1s, 10s);
  BOOST_TEST(!s.failed(t0 + 2900ms, false));
  BOOST_TEST(s.failed(t0 + 3s, false));
  BOOST_TEST(s.loss_reason().find("failed past") != std::string::npos, s.loss_reason());
}

BOOST_AUTO_TEST_CASE(the_wake_is_never_later_than_the_expiry) {
  auto s = make(3s, 1s);         // gap 250 ms
  s.failed(t0 + 2900ms, false);  // next try at 3.15 s, past the expiry at 3 s
  BOOST_TEST((s.wake_at() == t0 + 3s));
  BOOST_TEST((s.on_wake(s.wake_at()) == action::lost));
}

BOOST_AUTO_TEST_CASE(a_confirmation_that_comes_after_the_new_expiry_still_loses) {
  auto s = make(3s, 1s, 10s);
  BOOST_TEST(!s.renewed(t0 + 1s, t0 + 4s, 2s));  // sent at 1 s, TTL 2 s: gone by 3 s
  BOOST_TEST(s.lost());
}

BOOST_AUTO_TEST_CASE(a_lost_session_stays_lost) {
  auto s = make(6s);
  s.failed(t0 + 2s, true);
  BOOST_TEST((s.on_wake(t0 + 3s) == action::lost));
  BOOST_TEST(!s.renewed(t0 + 3s, t0 + 3s, 6s));
  BOOST_TEST(s.renewals() == 0u);
  BOOST_TEST(s.failed(t0 + 4s, false));
  BOOST_TEST(s.loss_reason().find("does not exist") != std::string::npos);  // the first reason
}

BOOST_AUTO_TEST_CASE(healthy_renewals_go_out_every_interval_and_never_lose) {
  auto s = make(3s, 1s);
  simulation sim(s);
  sim.run(t0 + 10500ms, [](time_point) { return 3s; });
  BOOST_TEST(!s.lost());
  BOOST_TEST(sim.sends.size() == 10u);
  for (std::size_t k = 1; k < sim.sends.size(); ++k)
    BOOST_TEST((sim.sends[k] - sim.sends[k - 1] == 1s));  // the interval, whatever the answer took
}

BOOST_AUTO_TEST_CASE(an_outage_is_lost_exactly_a_ttl_after_the_last_confirmed_send) {
  auto s = make(3s, 1s);
  simulation sim(s);
  time_point last_ok{};
  sim.run(t0 + 30s, [&](time_point sent) {
    if (sent < t0 + 4s) {
      last_ok = sent;
      return 3s;
    }
    return 0s;
  });
  BOOST_TEST(s.lost());
  BOOST_TEST((sim.lost_at == last_ok + 3s));
  // Between the last confirmed renewal and the loss, retries every 250 ms.
  BOOST_TEST(sim.sends.size() >= 10u);
}

BOOST_AUTO_TEST_CASE(an_outage_shorter_than_the_ttl_is_ridden_through) {
  auto s = make(3s, 1s);
  simulation sim(s);
  sim.run(t0 + 20s, [&](time_point sent) {
    bool outage = sent >= t0 + 5s && sent < t0 + 6500ms;  // 1.5 s < 3 s TTL
    return outage ? 0s : 3s;
  });
  BOOST_TEST(!s.lost());
  BOOST_TEST((s.expires_at() > t0 + 19s));
}

BOOST_AUTO_TEST_CASE(answers_slower_than_the_interval_but_within_the_ttl_keep_the_lease) {
  auto s = make(2s, 1s, 10s);
  simulation sim(s);
  // Each renewal is sent 1 s after the last one (not 1 s after its answer, which would be 1.9 s,
  // landing at 2.8 s, past the 2 s expiry) and lands 1.9 s after that send.
  sim.rtt = 900ms;
  sim.run(t0 + 20s, [](time_point) { return 2s; });
  BOOST_TEST(!s.lost());
  BOOST_TEST(sim.sends.size() == 19u);
}

BOOST_AUTO_TEST_CASE(answers_slower_than_the_ttl_lose_the_session) {
  auto s = make(2s, 1s, 10s);
  simulation sim(s);
  sim.rtt = 2500ms;  // the deadline cuts each at the expiry: a failure, then the loss
  sim.run(t0 + 20s, [](time_point) { return 2s; });
  BOOST_TEST(s.lost());
  BOOST_TEST((sim.lost_at == t0 + 2s));
  BOOST_TEST(s.renewals() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(revoke_schedule_suite)

BOOST_AUTO_TEST_CASE(short_ttls_are_revoked_for_a_minute) {
  revoke_schedule r(t0, 5s);
  BOOST_TEST((r.give_up_at() == t0 + 60s));
  BOOST_TEST(!r.gave_up(t0 + 59s));
  BOOST_TEST(r.gave_up(t0 + 60s));
}

BOOST_AUTO_TEST_CASE(long_ttls_are_revoked_for_six_ttls) {
  revoke_schedule r(t0, 20s);
  BOOST_TEST((r.give_up_at() == t0 + 120s));
}

BOOST_AUTO_TEST_CASE(pauses_double_from_250_ms_to_4_s) {
  revoke_schedule r(t0, 5s);
  std::vector<long> got;
  for (int k = 0; k < 7; ++k) got.push_back(r.next_pause().count());
  std::vector<long> want{250, 500, 1000, 2000, 4000, 4000, 4000};
  BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_attempts_deadline_is_cut_at_the_give_up_time) {
  revoke_schedule r(t0, 5s);
  BOOST_TEST((r.attempt_deadline(t0 + 1s, 10s) == t0 + 11s));
  BOOST_TEST((r.attempt_deadline(t0 + 55s, 10s) == t0 + 60s));
}

BOOST_AUTO_TEST_SUITE_END()
