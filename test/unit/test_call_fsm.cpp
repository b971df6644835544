// The transport's attempt loop (transport/call_fsm) stepped without sockets, in the manner of
// Boost.MySQL's check_network_errors: a scripted driver answers each action as a healthy etcd
// would, except at one step, where it injects a failure; every step of the clean run gets every
// failure that step can have, for every call kind. A fake clock: time moves only when the script
// says so. No etcd, no network.
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/test/unit_test.hpp>
#include <functional>
#include <set>
#include <vector>

#include "coordination/error.hpp"
#include "transport/call_fsm.hpp"

using namespace coordination;
using namespace coordination::transport;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;
using type = call_action::type;

namespace coordination::transport {
std::ostream& operator<<(std::ostream& os, call_action::type t) {
  return os << to_string(t);
}
}  // namespace coordination::transport

namespace {

const time_point t0{std::chrono::seconds(1000)};

std::error_code asio_error(boost::system::error_code ec) {
  return std::error_code(ec);
}

client_config test_config() {
  client_config cfg;
  cfg.endpoints = {"http://127.0.0.1:1", "http://127.0.0.1:2"};
  return cfg;
}

// What one scripted call did.
struct run_result {
  std::vector<type> actions;  // in order, the last one done or fail
  call_action last;
  int exchanges = 0;
  std::vector<endpoint_note> notes;
  std::vector<std::size_t> endpoints;  // of each acquire
  bool bounded = true;                 // every action's bound is within the call's deadline
};

// Answers each action as a healthy server would; `inject(step, action, event)` may replace the
// outcome of step `step` (0-based over the I/O actions) and returns whether it did.
using injector = std::function<bool(int, const call_action&, call_event&, time_point&)>;

run_result drive(call_fsm& fsm, const call_setup& setup, const injector& inject,
                 bool token = false) {
  run_result out;
  time_point now = t0;
  std::set<std::size_t> answered_on;  // endpoints with a proven connection
  call_event ev;
  std::optional<std::size_t> at;
  for (int step = 0; step < 40; ++step) {
    ev.now = now;
    ev.have_token = token;
    ev.random = 0.5;
    ev.endpoint_now = at;
    ev.url = "http://127.0.0.1:1";
    auto a = fsm.resume(ev);
    out.actions.push_back(a.what);
    if (a.note) out.notes.push_back(*a.note);
    if (a.what == type::acquire || a.what == type::probe || a.what == type::exchange ||
        a.what == type::authenticate)
      out.bounded &= a.until <= setup.deadline && a.until > time_point{};
    if (a.what == type::exchange) out.bounded &= a.answer_by <= a.until;
    if (a.what == type::done || a.what == type::fail) {
      out.last = a;
      return out;
    }
    ev = call_event{};
    switch (a.what) {
      case type::authenticate:
        token = true;
        break;
      case type::acquire:
        at = a.endpoint;
        out.endpoints.push_back(a.endpoint);
        ev.proven = answered_on.count(a.endpoint) > 0;
        break;
      case type::probe:
        now += 1ms;
        answered_on.insert(*at);
        break;
      case type::exchange:
        ++out.exchanges;
        now += 1ms;
        ev.status = 200;
        ev.body = "{}";
        break;
      case type::wait:
        now += a.backoff;
        break;
      default:
        break;
    }
    if (inject && inject(step, a, ev, now) && a.what == type::authenticate) token = false;
  }
  BOOST_FAIL("the call did not end within 40 steps");
  return out;
}

struct failure {
  const char* name;
  type at;
  std::function<void(call_event&, time_point& now, time_point deadline)> apply;
  // The outcome per kind (read, idempotent, write): the error, or none for done after a resend.
  std::error_code outcome[3];
  bool sent = false;    // the request reached etcd before the failure
  bool broken = false;  // a broken connection: resent at once, even on the same endpoint
};

const call_kind kinds[] = {call_kind::read, call_kind::idempotent, call_kind::write};

std::vector<failure> failures() {
  auto e = [](error x) { return make_error_code(x); };
  const std::error_code ok;
  namespace ae = boost::asio::error;
  auto timeout = asio_error(boost::beast::error::timeout);
  auto tls = asio_error(boost::asio::ssl::error::stream_truncated);
  std::vector<failure> f;
  // connect
  f.push_back(
      {"refused",
       type::acquire,
       [](call_event& ev, time_point&, time_point) { ev.ec = asio_error(ae::connection_refused); },
       {ok, ok, ok}});
  f.push_back({"dial timeout",
               type::acquire,
               [=](call_event& ev, time_point& now, time_point) {
                 ev.ec = timeout;
                 now += 100ms;
               },
               {ok, ok, ok}});
  f.push_back({"tls",
               type::acquire,
               [=](call_event& ev, time_point&, time_point) { ev.ec = tls; },
               {e(error::tls_error), e(error::tls_error), e(error::tls_error)}});
  f.push_back({"cancelled",
               type::acquire,
               [=](call_event& ev, time_point&, time_point) { ev.ec = e(error::cancelled); },
               {e(error::cancelled), e(error::cancelled), e(error::cancelled)}});
  f.push_back({"deadline",
               type::acquire,
               [=](call_event& ev, time_point& now, time_point deadline) {
                 ev.ec = e(error::timeout);
                 now = deadline;
               },
               {e(error::timeout), e(error::timeout), e(error::timeout)}});
  // readiness probe
  f.push_back(
      {"reset",
       type::probe,
       [](call_event& ev, time_point&, time_point) { ev.ec = asio_error(ae::connection_reset); },
       {ok, ok, ok}});
  f.push_back({"silent",
               type::probe,
               [=](call_event& ev, time_point& now, time_point) {
                 ev.ec = timeout;
                 now += 500ms;
               },
               {ok, ok, ok}});
  f.push_back(
      {"cancelled",
       type::probe,
       [](call_event& ev, time_point&, time_point) { ev.ec = asio_error(ae::operation_aborted); },
       {e(error::cancelled), e(error::cancelled), e(error::cancelled)}});
  // exchange
  f.push_back({"reset while sending",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.ec = asio_error(ae::broken_pipe);
                 ev.sent = false;
               },
               {ok, ok, ok},
               false,
               true});
  f.push_back({"reset after sending",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.ec = asio_error(ae::connection_reset);
                 ev.sent = true;
               },
               {ok, ok, e(error::outcome_unknown)},
               true,
               true});
  f.push_back({"silent after sending",
               type::exchange,
               [=](call_event& ev, time_point& now, time_point) {
                 ev.ec = timeout;
                 now += 2s;
               },
               {ok, ok, e(error::timeout)},
               true});
  f.push_back({"deadline after sending",
               type::exchange,
               [=](call_event& ev, time_point& now, time_point deadline) {
                 ev.ec = timeout;
                 now = deadline;
               },
               {e(error::timeout), e(error::timeout), e(error::timeout)},
               true});
  f.push_back(
      {"too large",
       type::exchange,
       [=](call_event& ev, time_point&, time_point) { ev.ec = e(error::response_too_large); },
       {e(error::response_too_large), e(error::response_too_large), e(error::response_too_large)},
       true});
  f.push_back(
      {"cancelled",
       type::exchange,
       [](call_event& ev, time_point&, time_point) { ev.ec = asio_error(ae::operation_aborted); },
       {e(error::cancelled), e(error::cancelled), e(error::cancelled)},
       true});
  f.push_back({"no leader",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.status = 503;
                 ev.body = R"({"code":14,"message":"etcdserver: no leader"})";
               },
               {ok, ok, ok},
               true});
  f.push_back({"leader changed",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.status = 503;
                 ev.body = R"({"code":14,"message":"etcdserver: leader changed"})";
               },
               {ok, ok, e(error::outcome_unknown)},
               true});
  f.push_back({"compacted",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.status = 400;
                 ev.body = R"({"code":11,"message":"mvcc: required revision has been compacted"})";
               },
               {e(error::compacted), e(error::compacted), e(error::compacted)},
               true});
  f.push_back({"token refused (no auth)",
               type::exchange,
               [](call_event& ev, time_point&, time_point) {
                 ev.status = 401;
                 ev.body = R"({"code":16,"message":"etcdserver: invalid auth token"})";
               },
               {e(error::auth_failed), e(error::auth_failed), e(error::auth_failed)},
               true});
  return f;
}

call_event at_time(time_point now) {
  call_event ev;
  ev.now = now;
  return ev;
}

call_setup setup_for(call_kind kind, time_point deadline = t0 + 10s) {
  call_setup s;
  s.kind = kind;
  s.path = "/v3/kv/put";
  s.body_bytes = 10;
  s.deadline = deadline;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(call_fsm_suite)

BOOST_AUTO_TEST_CASE(clean_call_steps) {
  auto cfg = test_config();
  endpoint_health health(2, {});
  auto setup = setup_for(call_kind::write);
  call_fsm fsm(setup, cfg, health);
  auto r = drive(fsm, setup, {});
  const std::vector<type> want = {type::acquire, type::probe, type::exchange, type::done};
  BOOST_TEST(r.actions == want, boost::test_tools::per_element());
  BOOST_TEST(r.bounded);
  BOOST_TEST(!r.last.earlier_attempt_reached);

  // A deadline nearer than attempt_timeout and probe_timeout bounds the probe and the answer.
  auto close = setup_for(call_kind::read, t0 + 300ms);
  call_fsm near(close, cfg, health);
  r = drive(near, close, {});
  BOOST_TEST(r.bounded);
}

// Every failure at every step of the clean run, for each kind, on one endpoint and on two.
BOOST_AUTO_TEST_CASE(a_failure_at_every_step) {
  int cases = 0;
  for (std::size_t endpoints : {1u, 2u}) {
    for (auto& f : failures()) {
      for (int k = 0; k < 3; ++k) {
        auto cfg = test_config();
        cfg.endpoints.resize(endpoints);
        endpoint_health health(endpoints, {});
        auto setup = setup_for(kinds[k]);
        call_fsm fsm(setup, cfg, health);
        bool injected = false;
        auto r = drive(fsm, setup, [&](int, const call_action& a, call_event& ev, time_point& now) {
          if (injected || a.what != f.at) return false;
          ev = call_event{};
          f.apply(ev, now, setup.deadline);
          injected = true;
          return true;
        });
        ++cases;
        BOOST_TEST_CONTEXT(f.name << " at " << to_string(f.at) << ", " << to_string(kinds[k])
                                  << ", " << endpoints << " endpoint(s)") {
          BOOST_TEST(injected);
          BOOST_TEST(r.bounded);
          const auto& want = f.outcome[k];
          if (!want) {
            BOOST_TEST(to_string(r.last.what) == "done");
            // Resent once (a refused or silent probe or connect sent nothing).
            BOOST_TEST(r.exchanges == (f.at == type::exchange ? 2 : 1));
            BOOST_TEST(r.last.earlier_attempt_reached ==
                       (f.sent && kinds[k] == call_kind::idempotent &&
                        std::string(f.name) != "no leader"));
            // Two endpoints: the resend goes to the other at once; one: after a backoff.
            bool waited = std::count(r.actions.begin(), r.actions.end(), type::wait) > 0;
            bool moved = r.endpoints.size() == 2 && r.endpoints[0] != r.endpoints[1];
            BOOST_TEST(waited == (endpoints == 1 && !f.broken));
            BOOST_TEST(moved == (endpoints == 2 && !r.notes.empty()));
          } else {
            BOOST_TEST(to_string(r.last.what) == "fail");
            BOOST_TEST(r.last.code == want, r.last.code.message() << ": " << r.last.message);
            BOOST_TEST(r.exchanges <= 1);  // never resent
          }
        }
      }
    }
  }
  BOOST_TEST_MESSAGE("call_fsm: " << cases << " injected failures");
  BOOST_TEST(cases == 2 * 3 * static_cast<int>(failures().size()));
}

// What the endpoint's standing becomes after each kind of failure.
BOOST_AUTO_TEST_CASE(marks_the_endpoint) {
  struct expect {
    const char* name;
    endpoint_mark mark;
  };
  for (auto [name, mark] :
       {expect{"refused", endpoint_mark::down}, expect{"silent", endpoint_mark::suspect},
        expect{"reset while sending", endpoint_mark::down},
        expect{"silent after sending", endpoint_mark::suspect},
        expect{"no leader", endpoint_mark::down}, expect{"compacted", endpoint_mark::none}}) {
    for (auto& f : failures()) {
      if (std::string(f.name) != name) continue;
      auto cfg = test_config();
      endpoint_health health(2, {});
      auto setup = setup_for(call_kind::read);
      call_fsm fsm(setup, cfg, health);
      bool injected = false;
      auto r = drive(fsm, setup, [&](int, const call_action& a, call_event& ev, time_point& now) {
        if (injected || a.what != f.at) return false;
        ev = call_event{};
        f.apply(ev, now, setup.deadline);
        return injected = true;
      });
      BOOST_TEST_CONTEXT(name) {
        if (mark == endpoint_mark::none) {
          BOOST_TEST(r.notes.empty());
        } else {
          BOOST_TEST_REQUIRE(r.notes.size() == 1u);
          BOOST_TEST((r.notes[0].mark == mark));
          BOOST_TEST(r.notes[0].endpoint == 0u);
          BOOST_TEST(r.notes[0].moved);
          BOOST_TEST(health.current() == 1u);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(authenticates_first_and_again_once_after_a_refused_token) {
  auto cfg = test_config();
  endpoint_health health(2, {});
  auto setup = setup_for(call_kind::write);
  setup.use_auth = true;
  call_fsm fsm(setup, cfg, health);
  int refusals = 0;
  auto refuse = [&](int, const call_action& a, call_event& ev, time_point&) {
    if (a.what != type::exchange) return false;
    ++refusals;
    ev.status = 401;
    ev.body = R"({"code":16,"message":"etcdserver: invalid auth token"})";
    return true;
  };
  auto r = drive(fsm, setup, refuse);
  const std::vector<type> want = {type::authenticate, type::acquire, type::probe,    type::exchange,
                                  type::authenticate, type::acquire, type::exchange, type::fail};
  BOOST_TEST(r.actions == want, boost::test_tools::per_element());
  BOOST_TEST(r.last.code == make_error_code(error::auth_failed));
  BOOST_TEST(refusals == 2);

  // Refused once: the new token is used.
  call_fsm again(setup, cfg, health);
  refusals = 0;
  r = drive(again, setup, [&](int s, const call_action& a, call_event& ev, time_point& n) {
    return refusals == 0 && refuse(s, a, ev, n);
  });
  BOOST_TEST(to_string(r.last.what) == "done");

  // A failed authentication ends the call with its error and message.
  call_fsm refused(setup, cfg, health);
  r = drive(refused, setup, [](int, const call_action& a, call_event& ev, time_point&) {
    if (a.what != type::authenticate) return false;
    ev.ec = make_error_code(error::auth_failed);
    ev.diagnostic = "etcdserver: authentication failed";
    return true;
  });
  BOOST_TEST(r.last.code == make_error_code(error::auth_failed));
  BOOST_TEST(r.last.message == "etcdserver: authentication failed");
}

BOOST_AUTO_TEST_CASE(attempt_budget_and_fixed_endpoint) {
  auto cfg = test_config();
  endpoint_health health(2, {});
  auto setup = setup_for(call_kind::read);
  setup.fixed = 1;
  call_fsm fsm(setup, cfg, health);
  auto r = drive(fsm, setup, [](int, const call_action& a, call_event& ev, time_point&) {
    if (a.what != type::acquire) return false;
    ev.ec = asio_error(boost::asio::error::connection_refused);
    return true;
  });
  BOOST_TEST(r.last.code == make_error_code(error::unavailable));
  // max_retries + endpoints attempts, all on the fixed endpoint, with a backoff between.
  BOOST_TEST(r.endpoints.size() == std::size_t(cfg.retry.max_retries + 2));
  for (auto e : r.endpoints) BOOST_TEST(e == 1u);
  BOOST_TEST(std::count(r.actions.begin(), r.actions.end(), type::wait) ==
             cfg.retry.max_retries + 1);
}

BOOST_AUTO_TEST_CASE(bad_request_closed_client_and_cancelled_wait) {
  auto cfg = test_config();
  endpoint_health health(1, {});
  auto setup = setup_for(call_kind::read);
  setup.body_bytes = cfg.max_request_bytes + 1;
  call_fsm big(setup, cfg, health);
  auto a = big.resume(at_time(t0));
  BOOST_TEST(to_string(a.what) == "fail");
  BOOST_TEST(a.code == make_error_code(error::invalid_argument));
  BOOST_TEST(a.message.find("max_request_bytes") != std::string::npos);
  // The machine is over: another resume fails instead of starting again.
  BOOST_TEST(big.resume(at_time(t0)).code == make_error_code(error::invalid_argument));

  setup.body_bytes = 1;
  call_fsm closed(setup, cfg, health);
  auto ev = at_time(t0);
  ev.closed = true;
  a = closed.resume(ev);
  BOOST_TEST(a.code == make_error_code(error::cancelled));
  BOOST_TEST(a.message == "client closed");

  // A wait for a backoff that is cancelled ends the call cancelled.
  call_fsm waiting(setup, cfg, health);
  a = waiting.resume(at_time(t0));
  BOOST_TEST(to_string(a.what) == "acquire");
  ev = at_time(t0);
  ev.endpoint_now = 0;
  ev.ec = asio_error(boost::asio::error::connection_refused);
  a = waiting.resume(ev);
  BOOST_TEST(to_string(a.what) == "wait");
  BOOST_TEST(a.retrying);
  BOOST_TEST(a.backoff >= cfg.retry.initial_interval / 2);
  BOOST_TEST(a.backoff <= cfg.retry.initial_interval);
  ev = at_time(t0 + a.backoff);
  ev.ec = asio_error(boost::asio::error::operation_aborted);
  a = waiting.resume(ev);
  BOOST_TEST(a.code == make_error_code(error::cancelled));
}

BOOST_AUTO_TEST_CASE(an_endpoint_gone_from_the_list_is_not_marked) {
  auto cfg = test_config();
  endpoint_health health(2, {});
  auto setup = setup_for(call_kind::read);
  call_fsm fsm(setup, cfg, health);
  auto a = fsm.resume(at_time(t0));
  auto ev = at_time(t0);
  ev.ec = asio_error(boost::asio::error::connection_refused);  // endpoint_now: none
  a = fsm.resume(ev);
  BOOST_TEST(!a.note);
  BOOST_TEST(to_string(a.what) == "acquire");  // at once: another endpoint can take it
  BOOST_TEST((health.state(0).condition == endpoint_condition::healthy));
}

BOOST_AUTO_TEST_CASE(no_probe_when_probing_is_off) {
  auto cfg = test_config();
  cfg.probe_connections = false;
  endpoint_health health(2, {});
  auto setup = setup_for(call_kind::read);
  call_fsm fsm(setup, cfg, health);
  auto r = drive(fsm, setup, {});
  const std::vector<type> want = {type::acquire, type::exchange, type::done};
  BOOST_TEST(r.actions == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
