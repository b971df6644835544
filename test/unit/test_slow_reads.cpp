// When a read is resent for a late answer (transport/slow_reads) and what the attempt loop does
// with that bound (transport/call_fsm): no etcd, no network, no clock but the one passed in.
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/test/unit_test.hpp>

#include "coordination/error.hpp"
#include "transport/call_fsm.hpp"
#include "transport/slow_reads.hpp"

using namespace coordination;
using namespace coordination::transport;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

namespace {

const time_point t0{std::chrono::seconds(1000)};

slow_reads fed(std::chrono::steady_clock::duration each, int n) {
  slow_reads s({});
  for (int i = 0; i < n; ++i) s.answered(each);
  return s;
}

// A call of `kind` with an early answer bound of 20 ms.
call_setup early(call_kind kind) {
  call_setup setup;
  setup.kind = kind;
  setup.path = kind == call_kind::read ? "/v3/kv/range" : "/v3/kv/put";
  setup.deadline = t0 + 10s;
  setup.early_answer = 20ms;
  return setup;
}

call_event at(time_point now, std::optional<std::size_t> endpoint = 0) {
  call_event ev;
  ev.now = now;
  ev.endpoint_now = endpoint;
  ev.url = "http://127.0.0.1:1";
  return ev;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(slow_reads_suite)

BOOST_AUTO_TEST_CASE(a_bound_after_enough_answers_from_the_slowest_recent_one) {
  BOOST_TEST(!fed(1ms, 15).bound());                           // too few answers yet
  BOOST_TEST((fed(1ms, 16).bound() == std::optional(20ms)));   // the floor
  BOOST_TEST((fed(10ms, 16).bound() == std::optional(41ms)));  // 4 x 10 ms (+1)
  // The slowest of the last 64 counts; it drops out after 64 newer ones.
  auto s = fed(1ms, 16);
  s.answered(30ms);
  BOOST_TEST((s.bound() == std::optional(121ms)));
  for (int i = 0; i < 63; ++i) s.answered(1ms);
  BOOST_TEST((s.bound() == std::optional(121ms)));
  s.answered(1ms);
  BOOST_TEST((s.bound() == std::optional(20ms)));
  // None when it would not be below the ceiling (attempt_timeout).
  BOOST_TEST(!fed(600ms, 16).bound());
}

BOOST_AUTO_TEST_CASE(at_most_about_one_read_in_ten_is_resent) {
  auto s = fed(1ms, 16);
  const double start = s.tokens();
  int resent = 0;
  while (s.bound()) {
    s.resent();
    ++resent;
  }
  BOOST_TEST(resent == static_cast<int>(start));
  for (int i = 0; i < 9; ++i) s.answered(1ms);
  BOOST_TEST(!s.bound());
  s.answered(1ms);  // ten answers earn one resend
  BOOST_TEST(s.bound().has_value());
}

BOOST_AUTO_TEST_CASE(a_late_read_is_resent_at_once_then_given_its_whole_timeout) {
  client_config cfg;
  cfg.endpoints = {"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"};
  const auto timeout = std::error_code(boost::system::error_code(boost::beast::error::timeout));
  for (bool probing : {true, false}) {
    BOOST_TEST_CONTEXT("probing " << probing) {
      cfg.probe_connections = probing;
      endpoint_health health(3, {});
      auto setup = early(call_kind::read);
      call_fsm fsm(setup, cfg, health);
      auto a = fsm.resume(at(t0));
      BOOST_TEST(to_string(a.what) == std::string("acquire"));
      auto ev = at(t0);
      ev.proven = true;
      a = fsm.resume(ev);
      BOOST_TEST(to_string(a.what) == std::string("exchange"));
      BOOST_TEST((a.answer_by == t0 + 20ms));
      // No answer within the early bound: resent at once, on the same endpoint, unmarked.
      ev = at(t0 + 20ms);
      ev.ec = timeout;
      a = fsm.resume(ev);
      BOOST_TEST(to_string(a.what) == std::string("acquire"));
      BOOST_TEST(a.retrying);
      BOOST_TEST(a.endpoint == 0u);
      BOOST_TEST(!a.note);
      BOOST_TEST((a.failed->error == attempt_error::slow));
      BOOST_TEST((health.state(0).condition == endpoint_condition::healthy));
      // The second wait for an answer (the new connection's probe, or the resend) gets 4 times
      // the bound.
      ev = at(t0 + 20ms);
      ev.proven = false;
      a = fsm.resume(ev);
      BOOST_TEST(to_string(a.what) == std::string(probing ? "probe" : "exchange"));
      BOOST_TEST(((probing ? a.until : a.answer_by) == t0 + 100ms));
      ev = at(t0 + 100ms);
      ev.ec = timeout;
      a = fsm.resume(ev);
      BOOST_TEST(to_string(a.what) == std::string("acquire"));
      BOOST_TEST((a.failed->error == attempt_error::slow));
      // Then the whole timeout, whose passing marks the endpoint suspect (a paused member).
      ev = at(t0 + 100ms);
      ev.proven = true;
      a = fsm.resume(ev);
      BOOST_TEST(to_string(a.what) == std::string("exchange"));
      BOOST_TEST((a.answer_by == t0 + 100ms + cfg.attempt_timeout));
      ev = at(a.answer_by);
      ev.ec = timeout;
      a = fsm.resume(ev);
      BOOST_TEST((a.failed->error == attempt_error::no_answer));
      BOOST_TEST_REQUIRE(a.note.has_value());
      BOOST_TEST((a.note->mark == endpoint_mark::suspect));
      BOOST_TEST(a.endpoint == 1u);  // the resend moved on
    }
  }
}

// A probe that answers within its early bound uses none of the two: the resend that follows is
// still bounded early.
BOOST_AUTO_TEST_CASE(an_answered_probe_keeps_the_early_bound_for_the_resend) {
  client_config cfg;
  cfg.endpoints = {"http://127.0.0.1:1"};
  endpoint_health health(1, {});
  auto setup = early(call_kind::read);
  call_fsm fsm(setup, cfg, health);
  fsm.resume(at(t0));
  auto ev = at(t0);
  ev.proven = true;
  auto a = fsm.resume(ev);  // exchange, 20 ms
  ev = at(t0 + 20ms);
  ev.ec = std::error_code(boost::system::error_code(boost::beast::error::timeout));
  a = fsm.resume(ev);  // slow: acquire
  ev = at(t0 + 20ms);
  ev.proven = false;
  a = fsm.resume(ev);
  BOOST_TEST(to_string(a.what) == std::string("probe"));
  BOOST_TEST((a.until == t0 + 100ms));
  a = fsm.resume(at(t0 + 21ms));  // the probe answered
  BOOST_TEST(to_string(a.what) == std::string("exchange"));
  BOOST_TEST((a.answer_by == t0 + 101ms));
}

BOOST_AUTO_TEST_CASE(writes_never_get_an_early_bound) {
  client_config cfg;
  cfg.endpoints = {"http://127.0.0.1:1"};
  endpoint_health health(1, {});
  for (auto kind : {call_kind::write, call_kind::idempotent}) {
    auto setup = early(kind);
    call_fsm fsm(setup, cfg, health);
    fsm.resume(at(t0));
    auto ev = at(t0);
    ev.proven = true;
    auto a = fsm.resume(ev);
    BOOST_TEST(to_string(a.what) == std::string("exchange"));
    BOOST_TEST((a.answer_by == t0 + cfg.attempt_timeout));
  }
}

BOOST_AUTO_TEST_SUITE_END()
