// The retry/failover decision (transport/retry_policy) without sockets: a failure injected at
// every stage of an attempt, for every call kind and error, in the manner of Boost.MySQL's
// check_network_errors. No etcd, no network, no clock but the one passed in.
#include <boost/test/unit_test.hpp>
#include <vector>

#include "coordination/error.hpp"
#include "transport/retry_policy.hpp"

using namespace coordination;
using namespace coordination::transport;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

namespace {

const time_point t0{std::chrono::seconds(1000)};

const call_kind all_kinds[] = {call_kind::read, call_kind::idempotent, call_kind::write};
const attempt_stage all_stages[] = {attempt_stage::connect, attempt_stage::probe,
                                    attempt_stage::send, attempt_stage::receive,
                                    attempt_stage::answer};

struct injected {
  attempt_error error;
  coordination::error gateway_code = coordination::error::unavailable;
  detail::disposition action = detail::disposition::fail;
};

std::vector<injected> all_errors() {
  std::vector<injected> out;
  for (auto e : {attempt_error::refused, attempt_error::tls, attempt_error::no_answer,
                 attempt_error::deadline, attempt_error::broken, attempt_error::cancelled,
                 attempt_error::too_large})
    out.push_back({e});
  for (auto code : {error::unavailable, error::timeout, error::conflict, error::auth_failed})
    for (auto d : {detail::disposition::fail, detail::disposition::retry,
                   detail::disposition::retry_if_read, detail::disposition::reauthenticate})
      out.push_back({attempt_error::gateway, code, d});
  return out;
}

attempt_report report(attempt_stage stage, const injected& f) {
  attempt_report r;
  r.stage = stage;
  r.error = f.error;
  r.what = std::string("http://e/v3/kv/x: ") + to_string(f.error);
  if (f.error == attempt_error::gateway) {
    r.gateway.code = make_error_code(f.gateway_code);
    r.gateway.message = "etcd said no";
    r.gateway.action = f.action;
  }
  return r;
}

// Gateway errors come only with an answer, and an answer only at the answer stage.
bool possible(attempt_stage stage, const injected& f) {
  return (f.error == attempt_error::gateway) == (stage == attempt_stage::answer);
}

// The request may have reached etcd (and been applied) in this attempt.
bool reached(attempt_stage stage, const injected& f) {
  return stage == attempt_stage::receive ||
         (stage == attempt_stage::answer && f.action == detail::disposition::retry_if_read);
}

retry_config quick_retry() {
  retry_config r;
  r.max_retries = 4;
  r.initial_interval = 50ms;
  r.max_interval = 400ms;
  r.multiplier = 2.0;
  return r;
}

call_policy policy(call_kind kind, bool fixed = false, bool authenticated = true,
                   std::size_t endpoints = 3, time_point deadline = t0 + 10s) {
  return call_policy(kind, quick_retry(), endpoints, fixed, authenticated, deadline);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retry_policy)

// The sweep: every kind x stage x error x (another endpoint usable or not) x (fixed or not).
BOOST_AUTO_TEST_CASE(a_write_is_never_resent_once_it_may_have_been_applied) {
  int checked = 0;
  for (auto kind : all_kinds)
    for (auto stage : all_stages)
      for (auto& f : all_errors()) {
        if (!possible(stage, f)) continue;
        for (bool other : {false, true})
          for (bool fixed : {false, true}) {
            BOOST_TEST_CONTEXT(to_string(kind)
                               << " " << to_string(stage) << " " << to_string(f.error)
                               << " other=" << other << " fixed=" << fixed) {
              auto p = policy(kind, fixed);
              auto v = p.after(report(stage, f), t0, other, 0.5);
              ++checked;
              if (kind == call_kind::write && reached(stage, f)) {
                BOOST_TEST((v.what == verdict::action::fail));
                // ... and never claims "not applied"
                BOOST_TEST((v.code != make_error_code(error::unavailable)));
              }
              if (kind == call_kind::write && stage == attempt_stage::receive)
                BOOST_TEST((v.what == verdict::action::fail));
            }
          }
      }
  BOOST_TEST(checked > 300);
}

BOOST_AUTO_TEST_CASE(reads_and_idempotent_writes_are_retried_after_every_transient_failure) {
  for (auto kind : {call_kind::read, call_kind::idempotent})
    for (auto stage : all_stages)
      for (auto& f : all_errors()) {
        if (!possible(stage, f)) continue;
        BOOST_TEST_CONTEXT(to_string(kind) << " " << to_string(stage) << " " << to_string(f.error)
                                           << " code " << static_cast<int>(f.gateway_code)
                                           << " action " << static_cast<int>(f.action)) {
          auto p = policy(kind);
          auto v = p.after(report(stage, f), t0, true, 0.5);
          bool final_error =
              f.error == attempt_error::cancelled || f.error == attempt_error::deadline ||
              f.error == attempt_error::too_large ||
              (f.error == attempt_error::tls && stage != attempt_stage::receive &&
               stage != attempt_stage::answer) ||
              (f.error == attempt_error::gateway && f.action == detail::disposition::fail);
          if (f.error == attempt_error::gateway && f.action == detail::disposition::reauthenticate)
            BOOST_TEST((v.what == verdict::action::reauthenticate));
          else if (final_error)
            BOOST_TEST((v.what == verdict::action::fail));
          else
            BOOST_TEST((v.what == verdict::action::retry));
        }
      }
}

BOOST_AUTO_TEST_CASE(a_write_is_resent_when_it_cannot_have_been_applied) {
  for (auto stage : {attempt_stage::connect, attempt_stage::probe, attempt_stage::send})
    for (auto e : {attempt_error::refused, attempt_error::no_answer, attempt_error::broken}) {
      BOOST_TEST_CONTEXT(to_string(stage) << " " << to_string(e)) {
        auto p = policy(call_kind::write);
        auto v = p.after(report(stage, {e}), t0, true, 0.5);
        BOOST_TEST((v.what == verdict::action::retry));
        BOOST_TEST(v.backoff.count() == 0);  // another endpoint is usable: at once
      }
    }
  // etcd refused before applying it (no leader: disposition retry)
  auto p = policy(call_kind::write);
  auto v = p.after(report(attempt_stage::answer,
                          {attempt_error::gateway, error::unavailable, detail::disposition::retry}),
                   t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::retry));
  BOOST_TEST((v.mark == endpoint_mark::down));
}

BOOST_AUTO_TEST_CASE(each_failure_says_what_it_means_for_the_endpoint) {
  struct row {
    attempt_stage stage;
    injected f;
    endpoint_mark mark;
  };
  const row rows[] = {
      {attempt_stage::connect, {attempt_error::refused}, endpoint_mark::down},
      {attempt_stage::probe, {attempt_error::no_answer}, endpoint_mark::suspect},
      {attempt_stage::probe, {attempt_error::broken}, endpoint_mark::down},
      {attempt_stage::send, {attempt_error::broken}, endpoint_mark::down},
      {attempt_stage::send, {attempt_error::no_answer}, endpoint_mark::suspect},
      {attempt_stage::receive, {attempt_error::no_answer}, endpoint_mark::suspect},
      {attempt_stage::receive, {attempt_error::broken}, endpoint_mark::down},
      {attempt_stage::receive, {attempt_error::tls}, endpoint_mark::down},
      {attempt_stage::receive, {attempt_error::cancelled}, endpoint_mark::none},
      {attempt_stage::receive, {attempt_error::deadline}, endpoint_mark::none},
      {attempt_stage::receive, {attempt_error::too_large}, endpoint_mark::none},
      {attempt_stage::connect, {attempt_error::tls}, endpoint_mark::none},
      {attempt_stage::answer,
       {attempt_error::gateway, error::unavailable, detail::disposition::retry},
       endpoint_mark::down},
      {attempt_stage::answer,
       {attempt_error::gateway, error::timeout, detail::disposition::retry_if_read},
       endpoint_mark::none},
      {attempt_stage::answer,
       {attempt_error::gateway, error::conflict, detail::disposition::fail},
       endpoint_mark::none},
  };
  for (auto kind : all_kinds)
    for (auto& r : rows) {
      BOOST_TEST_CONTEXT(to_string(kind)
                         << " " << to_string(r.stage) << " " << to_string(r.f.error)) {
        auto p = policy(kind);
        auto v = p.after(report(r.stage, r.f), t0, true, 0.5);
        BOOST_TEST((v.mark == r.mark));
      }
    }
}

BOOST_AUTO_TEST_CASE(an_unanswered_write_fails_timeout_and_a_broken_one_outcome_unknown) {
  auto p = policy(call_kind::write);
  auto v = p.after(report(attempt_stage::receive, {attempt_error::no_answer}), t0, true, 0.5);
  BOOST_TEST((v.code == make_error_code(error::timeout)));
  BOOST_TEST(v.message.find("may have been applied") != std::string::npos);
  auto q = policy(call_kind::write);
  v = q.after(report(attempt_stage::receive, {attempt_error::broken}), t0, true, 0.5);
  BOOST_TEST((v.code == make_error_code(error::outcome_unknown)));
  auto r = policy(call_kind::write);
  v = r.after(report(attempt_stage::answer, {attempt_error::gateway, error::unavailable,
                                             detail::disposition::retry_if_read}),
              t0, true, 0.5);
  BOOST_TEST((v.code == make_error_code(error::outcome_unknown)));
  BOOST_TEST(v.message.find("may have been applied") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_attempt_budget_is_retries_plus_endpoints) {
  for (std::size_t endpoints : {1u, 3u, 5u})
    for (auto kind : all_kinds) {
      auto p = policy(kind, false, true, endpoints);
      int attempts = 0;
      verdict v;
      for (;;) {
        ++attempts;
        v = p.after(report(attempt_stage::connect, {attempt_error::refused}), t0, true, 0.5);
        if (v.what != verdict::action::retry) break;
        BOOST_REQUIRE(attempts < 100);
      }
      BOOST_TEST(attempts == quick_retry().max_retries + static_cast<int>(endpoints));
      BOOST_TEST((v.code == make_error_code(error::unavailable)));
      BOOST_TEST(v.message.find("after " + std::to_string(attempts) + " attempts") !=
                 std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(an_idempotent_write_that_reached_etcd_never_ends_unavailable) {
  auto p = policy(call_kind::idempotent);
  BOOST_TEST(!p.maybe_applied());
  auto v = p.after(report(attempt_stage::receive, {attempt_error::broken}), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::retry));
  // (a resend that succeeds says so: txn_result::earlier_attempt_reached)
  BOOST_TEST(p.maybe_applied());
  for (int i = 0; i < 20 && v.what == verdict::action::retry; ++i)
    v = p.after(report(attempt_stage::connect, {attempt_error::refused}), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::fail));
  BOOST_TEST((v.code == make_error_code(error::outcome_unknown)));
  BOOST_TEST(v.message.find("may have been applied") != std::string::npos);
  // Never sent: a plain unavailable.
  auto q = policy(call_kind::idempotent);
  for (int i = 0; i < 20; ++i) {
    v = q.after(report(attempt_stage::connect, {attempt_error::refused}), t0, true, 0.5);
    if (v.what != verdict::action::retry) break;
  }
  BOOST_TEST((v.code == make_error_code(error::unavailable)));
  BOOST_TEST(!q.maybe_applied());
}

BOOST_AUTO_TEST_CASE(backoff_is_jittered_exponential_and_capped_when_no_other_endpoint_is_usable) {
  for (double u : {0.0, 0.3, 0.999}) {
    auto p = policy(call_kind::read, false, true, 1, t0 + 60s);
    long expected_cap = 50;
    for (int i = 0; i < 4; ++i) {  // (5 attempts in all with one endpoint)
      auto v = p.after(report(attempt_stage::connect, {attempt_error::refused}), t0, false, u);
      BOOST_REQUIRE((v.what == verdict::action::retry));
      long cap = std::min(expected_cap, 400L);
      BOOST_TEST_CONTEXT("u=" << u << " attempt " << i) {
        BOOST_TEST(v.backoff.count() >= cap / 2);
        BOOST_TEST(v.backoff.count() <= cap);
      }
      expected_cap *= 2;
    }
  }
  // Low jitter draws the lower end, high the upper.
  auto lo = policy(call_kind::read, false, true, 1)
                .after(report(attempt_stage::connect, {attempt_error::refused}), t0, false, 0.0);
  auto hi = policy(call_kind::read, false, true, 1)
                .after(report(attempt_stage::connect, {attempt_error::refused}), t0, false, 0.999);
  BOOST_TEST(lo.backoff.count() == 25);
  BOOST_TEST(hi.backoff.count() == 50);
}

BOOST_AUTO_TEST_CASE(a_fixed_endpoint_always_backs_off_and_a_free_one_goes_at_once) {
  auto fixed = policy(call_kind::read, true);
  auto v = fixed.after(report(attempt_stage::connect, {attempt_error::refused}), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::retry));
  BOOST_TEST(v.backoff.count() > 0);
  auto free = policy(call_kind::read, false);
  v = free.after(report(attempt_stage::connect, {attempt_error::refused}), t0, true, 0.5);
  BOOST_TEST(v.backoff.count() == 0);
}

// A connection broken during an exchange (a reset, a lost answer) says little of its endpoint: the
// resend goes at once on a new connection, even on the one endpoint or a fixed one, outside the
// attempt budget, twice per call at most. A broken readiness probe backs off.
BOOST_AUTO_TEST_CASE(a_resend_after_a_broken_connection_goes_at_once) {
  for (bool fixed : {false, true}) {
    for (auto stage : {attempt_stage::probe, attempt_stage::send, attempt_stage::receive}) {
      auto p = policy(call_kind::read, fixed, true, 1);
      const bool exchange = stage != attempt_stage::probe;
      BOOST_TEST_CONTEXT("fixed " << fixed << ", " << to_string(stage)) {
        for (int i = 0; i < 3; ++i) {
          auto v = p.after(report(stage, {attempt_error::broken}), t0, false, 0.5);
          BOOST_TEST((v.what == verdict::action::retry));
          BOOST_TEST((v.mark == endpoint_mark::down));
          BOOST_TEST((v.backoff.count() == 0) == (exchange && i < 2), "resend " << i);
        }
        BOOST_TEST(p.attempts() == (exchange ? 1 : 3));
      }
    }
  }
  // Not after a refused connect, a TLS failure or no answer: those speak of the endpoint.
  for (auto e : {attempt_error::refused, attempt_error::no_answer}) {
    auto p = policy(call_kind::read, false, true, 1);
    auto v = p.after(report(attempt_stage::connect, {e}), t0, false, 0.5);
    BOOST_TEST(v.backoff.count() > 0, to_string(e));
  }
  // A write whose connection broke after sending is still never resent.
  auto w = policy(call_kind::write, false, true, 1);
  auto v = w.after(report(attempt_stage::receive, {attempt_error::broken}), t0, false, 0.5);
  BOOST_TEST((v.what == verdict::action::fail));
  BOOST_TEST(v.code == make_error_code(error::outcome_unknown));
}

BOOST_AUTO_TEST_CASE(no_retry_past_the_deadline) {
  auto p = policy(call_kind::read, false, true, 1, t0 + 30ms);
  // A backoff of >= 25 ms from t0 + 10 ms would end past the deadline.
  auto v =
      p.after(report(attempt_stage::connect, {attempt_error::refused}), t0 + 10ms, false, 0.999);
  BOOST_TEST((v.what == verdict::action::fail));
  BOOST_TEST((v.code == make_error_code(error::timeout)));
  BOOST_TEST(v.message.find("no time left") != std::string::npos);
  // At or past the deadline: timeout, whatever the failure.
  for (auto kind : all_kinds) {
    auto q = policy(kind, false, true, 3, t0);
    auto w = q.after(report(attempt_stage::send, {attempt_error::broken}), t0, true, 0.5);
    BOOST_TEST((w.code == make_error_code(error::timeout)));
  }
}

BOOST_AUTO_TEST_CASE(an_auth_refusal_gets_one_new_token) {
  injected refused{attempt_error::gateway, error::auth_failed, detail::disposition::reauthenticate};
  auto p = policy(call_kind::write, false, true);
  auto v = p.after(report(attempt_stage::answer, refused), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::reauthenticate));
  BOOST_TEST(p.attempts() == 0);  // the same attempt again
  v = p.after(report(attempt_stage::answer, refused), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::fail));
  BOOST_TEST((v.code == make_error_code(error::auth_failed)));
  // Without a token there is nothing to renew.
  auto q = policy(call_kind::read, false, false);
  v = q.after(report(attempt_stage::answer, refused), t0, true, 0.5);
  BOOST_TEST((v.what == verdict::action::fail));
}

BOOST_AUTO_TEST_CASE(every_failure_message_names_what_happened) {
  for (auto kind : all_kinds)
    for (auto stage : all_stages)
      for (auto& f : all_errors()) {
        if (!possible(stage, f)) continue;
        auto p = policy(kind);
        auto v = p.after(report(stage, f), t0, true, 0.5);
        if (v.what != verdict::action::fail) continue;
        BOOST_TEST_CONTEXT(to_string(kind)
                           << " " << to_string(stage) << " " << to_string(f.error)) {
          BOOST_TEST(!v.message.empty());
          BOOST_TEST(static_cast<bool>(v.code));
        }
      }
}

BOOST_AUTO_TEST_SUITE_END()
