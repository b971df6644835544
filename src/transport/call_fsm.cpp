#include "transport/call_fsm.hpp"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include "coordination/error.hpp"
#include "protocol/error_mapping.hpp"

namespace coordination::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// A std::error_code converted from Boost's compares equal to the Boost code it came from.
bool matches(const std::error_code& ec, boost::system::error_code boost_ec) {
  return ec == std::error_code(boost_ec);
}

bool is_tls_failure(const std::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == asio::ssl::error::get_stream_category() ||
         ec == make_error_code(error::tls_error);
}

bool is_cancellation(const std::error_code& ec) {
  return ec == error::cancelled || matches(ec, asio::error::operation_aborted);
}

std::string describe(const std::error_code& ec, std::string_view why = {}) {
  if (is_timeout(ec)) return "deadline passed";
  if (why.empty()) return ec.message();
  return ec.message() + ": " + std::string(why);
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

}  // namespace

bool is_timeout(const std::error_code& ec) {
  return matches(ec, beast::error::timeout);
}

const char* to_string(call_action::type t) {
  switch (t) {
    case call_action::type::authenticate:
      return "authenticate";
    case call_action::type::acquire:
      return "acquire";
    case call_action::type::probe:
      return "probe";
    case call_action::type::exchange:
      return "exchange";
    case call_action::type::wait:
      return "wait";
    case call_action::type::done:
      return "done";
    case call_action::type::fail:
      return "fail";
  }
  return "?";
}

call_fsm::call_fsm(call_setup setup, const client_config& cfg, endpoint_health& health)
    : setup_(std::move(setup)),
      cfg_(cfg),
      health_(health),
      policy_(setup_.kind, cfg.retry, health.size(), setup_.fixed.has_value(), setup_.use_auth,
              setup_.deadline) {}

call_action call_fsm::finish(call_action a) {
  state_ = state::finished;
  return a;
}

call_action call_fsm::fail(std::error_code code, std::string message) {
  call_action a;
  a.what = call_action::type::fail;
  a.code = code;
  a.message = std::move(message);
  return finish(std::move(a));
}

call_action call_fsm::begin_attempt(const call_event& ev) {
  if (ev.closed) return fail(make_error_code(error::cancelled), "client closed");
  call_action a;
  if (setup_.use_auth && !ev.have_token) {
    state_ = state::authenticating;
    a.what = call_action::type::authenticate;
    a.until = setup_.deadline;
    return a;
  }
  state_ = state::acquiring;
  a.what = call_action::type::acquire;
  a.endpoint = setup_.fixed ? *setup_.fixed : health_.pick(ev.now);
  a.until = setup_.deadline;
  return a;
}

call_action call_fsm::exchange(const call_event& ev) {
  state_ = state::exchanging;
  call_action a;
  a.what = call_action::type::exchange;
  a.until = setup_.deadline;
  a.answer_by = early_bound(ev, std::min(setup_.deadline, ev.now + cfg_.attempt_timeout));
  return a;
}

call_fsm::clock_point call_fsm::early_bound(const call_event& ev, clock_point bound) {
  // A read's waits for an answer (a readiness probe's or the request's) get the early bound
  // until two have run out, the bound 4 times longer after the first did; then each waits its
  // whole timeout, which is what finds a paused member out (and marks it suspect).
  early_armed_.reset();
  if (!setup_.early_answer || setup_.kind != call_kind::read || early_expired_ >= 2) return bound;
  auto early = *setup_.early_answer * (early_expired_ == 0 ? 1 : 4);
  if (ev.now + early >= bound) return bound;
  early_armed_ = early;
  return ev.now + early;
}

call_action call_fsm::resume(const call_event& ev) {
  const std::string& p = setup_.path;
  // (the URL is copied only into a failure's message: not on the way of an answer)
  auto url = [&ev] { return std::string(ev.url); };
  auto& rep = report_;
  rep = attempt_report{};
  switch (state_) {
    case state::start:
      if (setup_.body_bytes > cfg_.max_request_bytes)
        return fail(make_error_code(error::invalid_argument),
                    "request: " + std::to_string(setup_.body_bytes) +
                        " bytes is over max_request_bytes (" +
                        std::to_string(cfg_.max_request_bytes) + ")");
      return begin_attempt(ev);

    case state::authenticating:
      if (ev.ec) return fail(ev.ec, std::string(ev.diagnostic));
      return begin_attempt(ev);

    case state::waiting:
      if (ev.ec) return fail(make_error_code(error::cancelled), p);
      return begin_attempt(ev);

    case state::acquiring:
      if (!ev.ec) {
        if (cfg_.probe_connections && !ev.proven) {
          // Nothing goes out on a connection until the server has answered on it.
          state_ = state::probing;
          call_action a;
          a.what = call_action::type::probe;
          a.until = early_bound(ev, std::min(setup_.deadline, ev.now + cfg_.probe_timeout));
          return a;
        }
        return exchange(ev);
      }
      rep.stage = attempt_stage::connect;
      if (is_cancellation(ev.ec)) {
        rep.error = attempt_error::cancelled;
        rep.what = p;
      } else if (is_tls_failure(ev.ec)) {
        rep.error = attempt_error::tls;
        rep.what = url() + ": " + ev.ec.message();
      } else if (ev.now >= setup_.deadline) {
        rep.error = attempt_error::deadline;
        rep.what = p + ": no connection to " + url() + " in time";
      } else {
        rep.error = attempt_error::refused;
        rep.what = "connect to " + url() + ": " + describe(ev.ec);
      }
      return failed(ev);

    case state::probing:
      if (!ev.ec) return exchange(ev);
      rep.stage = attempt_stage::probe;
      if (matches(ev.ec, asio::error::operation_aborted)) {
        rep.error = attempt_error::cancelled;
        rep.what = p;
      } else if (ev.now >= setup_.deadline) {
        rep.error = attempt_error::deadline;
        rep.what = p + ": no answer from " + url() + " in time";
      } else if (is_timeout(ev.ec) && early_armed_) {
        rep.error = attempt_error::slow;
        ++early_expired_;
        rep.what = url() + ": no answer to the readiness probe within " + ms(*early_armed_) +
                   " (late for a read here)";
      } else if (is_timeout(ev.ec)) {
        rep.error = attempt_error::no_answer;
        rep.what = url() + ": no answer to the readiness probe within probe_timeout (" +
                   ms(cfg_.probe_timeout) + ")";
      } else {
        rep.error = attempt_error::broken;
        rep.what = url() + " (readiness probe): " + describe(ev.ec, ev.why);
      }
      return failed(ev);

    case state::exchanging:
      if (ev.ec) {
        rep.stage = ev.sent ? attempt_stage::receive : attempt_stage::send;
        if (ev.ec == error::response_too_large) {
          rep.error = attempt_error::too_large;
          rep.what = url() + p + ": answer is over max_response_bytes (" +
                     std::to_string(cfg_.max_response_bytes) + ")";
        } else if (matches(ev.ec, asio::error::operation_aborted)) {
          rep.error = attempt_error::cancelled;
          rep.what = p;
        } else if (ev.now >= setup_.deadline) {
          rep.error = attempt_error::deadline;
          rep.what = p + ": no answer from " + url() + " in time";
        } else if (is_timeout(ev.ec) && early_armed_) {
          rep.error = attempt_error::slow;
          ++early_expired_;
          rep.what = p + ": no answer from " + url() + " within " + ms(*early_armed_) +
                     " (late for a read here)";
        } else if (is_timeout(ev.ec)) {
          rep.error = attempt_error::no_answer;
          rep.what = p + ": no answer from " + url() + " within attempt_timeout (" +
                     ms(cfg_.attempt_timeout) + ")";
        } else {
          rep.error = is_tls_failure(ev.ec) ? attempt_error::tls : attempt_error::broken;
          rep.what = url() + p + ": " + describe(ev.ec, ev.why);
        }
        return failed(ev);
      }
      if (ev.endpoint_now) health_.answered(*ev.endpoint_now);
      if (ev.status / 100 == 2) {
        call_action a;
        a.what = call_action::type::done;
        a.earlier_attempt_reached = policy_.maybe_applied();
        return finish(std::move(a));
      }
      rep.stage = attempt_stage::answer;
      rep.error = attempt_error::gateway;
      rep.gateway = detail::map_gateway_error(ev.status, ev.body);
      rep.what = url() + p + ": " + rep.gateway.message;
      return failed(ev);

    case state::finished:
      break;
  }
  return fail(make_error_code(error::invalid_argument), p + ": the call is over");
}

call_action call_fsm::failed(const call_event& ev) {
  const auto idx = ev.endpoint_now;
  const bool other = !setup_.fixed && (!idx || health_.usable_other_than(*idx, ev.now));
  auto v = policy_.after(report_, ev.now, other, ev.random);
  std::optional<endpoint_note> note;
  if (idx && v.mark != endpoint_mark::none) {
    bool moved = v.mark == endpoint_mark::down ? health_.mark_down(*idx, ev.now)
                                               : health_.mark_suspect(*idx, ev.now);
    note = endpoint_note{*idx, v.mark, moved};
  }
  call_action a;
  switch (v.what) {
    case verdict::action::fail:
      a = fail(v.code, std::move(v.message));
      break;
    case verdict::action::reauthenticate:
      state_ = state::authenticating;
      a.what = call_action::type::authenticate;
      a.until = setup_.deadline;
      a.reauthenticating = true;
      break;
    case verdict::action::retry:
      if (v.backoff.count() > 0) {
        state_ = state::waiting;
        a.what = call_action::type::wait;
        a.backoff = v.backoff;
      } else {
        a = begin_attempt(ev);
      }
      if (a.what != call_action::type::fail) a.retrying = true;
      break;
  }
  a.note = note;
  a.failed = &report_;
  return a;
}

}  // namespace coordination::transport
