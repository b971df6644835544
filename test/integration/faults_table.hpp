// The step-injection table's harness (issue #29): each row's operation runs once without faults
// through a fault_proxy, which counts its requests n; then, for each k in 1..n and each fault
// kind, again on fresh keys with its k-th request faulted (where the contract involves others, a
// second client writes the same keys at that moment); then the held requests are let through
// late, and the row checks the operation's contract (docs/reliability.md) against what etcd
// holds:
// - success: applied exactly once; a refusal (conflict, not_found, false): not applied;
//   outcome_unknown or timeout: applied at most once;
// - no other client's write undone; no key left once the session is closed.
// A new operation adds a row, not a harness.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "common.hpp"
#include "support/fault_proxy.hpp"

namespace coordination::test::faults {

namespace asio = boost::asio;
using namespace std::chrono_literals;

enum class ended { ok, refused, unknown };

inline const char* to_string(ended e) {
  switch (e) {
    case ended::ok:
      return "ok";
    case ended::refused:
      return "refused";
    case ended::unknown:
      return "unknown";
  }
  return "?";
}

// How one run of an operation ended; anything but these errors fails the test.
template <class T, class... E>
inline asio::awaitable<ended> outcome(asio::awaitable<T> op, E... refused) {
  const std::array<error, sizeof...(E)> refusals{refused...};
  try {
    co_await std::move(op);
    co_return ended::ok;
  } catch (const coordination_error& e) {
    for (auto r : refusals)
      if (e.code() == r) co_return ended::refused;
    if (e.code() == error::outcome_unknown || e.code() == error::timeout) co_return ended::unknown;
    BOOST_ERROR("unexpected error: " << e.what());
    co_return ended::unknown;
  }
}

// What one run has: a client behind the proxy, a direct one (the "second client" and the
// checker), fresh keys.
struct ctx {
  client& c;
  client& direct;
  fault_proxy& proxy;
  std::string prefix;
  std::vector<std::string> notes;  // what a row's steps saw, for its check
};

struct row {
  std::string name;
  // Writes what the operation needs, directly.
  std::function<asio::awaitable<void>(ctx&)> setup;
  // The other client's write when the fault hits (may be empty).
  std::function<asio::awaitable<void>(ctx&)> other;
  // The operation through the proxy.
  std::function<asio::awaitable<ended>(ctx&)> op;
  // After the held requests went through: the contract against etcd, given how op ended.
  std::function<asio::awaitable<void>(ctx&, ended)> check;
  // Between the operation and the release of the held requests (may be empty).
  std::function<asio::awaitable<void>(ctx&)> before_release = nullptr;
};

using step = std::function<asio::awaitable<void>(ctx&)>;
inline row make_row(std::string name, step setup, step other,
                    std::function<asio::awaitable<ended>(ctx&)> op,
                    std::function<asio::awaitable<void>(ctx&, ended)> check,
                    step before_release = {}) {
  row r;
  r.name = std::move(name);
  r.setup = std::move(setup);
  r.other = std::move(other);
  r.op = std::move(op);
  r.check = std::move(check);
  r.before_release = std::move(before_release);
  return r;
}

inline client_config faulty_config(const std::string& url) {
  auto cfg = config_for({url});
  cfg.attempt_timeout = 400ms;
  cfg.probe_timeout = 300ms;
  cfg.request_timeout = 6s;
  return cfg;
}

// (late_answer is left out: the client closes the connection when it gives up, so an answer
// forwarded late and one dropped look the same to it and to etcd; fault_proxy_suite covers it.)
inline constexpr std::array kinds{fault::lost_answer, fault::reset_before, fault::late_drop,
                                  fault::late_apply, fault::cut};

// One run of `r` with its k-th request faulted by `kind` (k == 0: no fault). Returns the number
// of requests the operation sent.
inline asio::awaitable<std::size_t> run_once(asio::io_context& io, const row& r, std::size_t k,
                                             fault kind, int round) {
  auto endpoints = shared_endpoints();
  fault_proxy proxy(io.get_executor(), endpoints.front(), 1000 + round);
  client c(io.get_executor(), faulty_config(proxy.url()));
  client direct(io.get_executor(), config_for(endpoints));
  ctx x{c, direct, proxy, unique_prefix("faults-" + r.name), {}};
  if (r.setup) co_await r.setup(x);
  std::size_t before = 0;
  for (auto& q : proxy.requests()) before += q.path.starts_with("/v3/watch") ? 0 : 1;
  int others_running = 0;  // (the other's write runs in the proxy's coroutine: waited for below)
  if (k > 0) {
    fault_rule rule;
    rule.kind = kind;
    rule.index = k;
    // Late answers past attempt_timeout; a late apply held until release_held() below, after
    // the operation (and before_release) are done.
    // A cut turns connections away for 300 ms.
    rule.delay = 600ms;
    if (kind == fault::late_apply) rule.delay = 0ms;
    if (kind == fault::cut) rule.delay = 300ms;
    if (r.other)
      rule.on_hit = [&r, &x, &others_running]() -> asio::awaitable<void> {
        ++others_running;
        struct done {
          int& n;
          ~done() { --n; }
        } at_exit{others_running};
        co_await r.other(x);
      };
    proxy.add_rule(rule);
  }
  auto started = std::chrono::steady_clock::now();
  auto how = co_await r.op(x);
  // Nothing waits for others here: every operation ends within a few of its calls' deadlines.
  BOOST_TEST((std::chrono::steady_clock::now() - started < 20s),
             r.name << ": request " << k << ", " << to_string(kind) << " took too long");
  std::size_t after = 0;
  for (auto& q : proxy.requests()) after += q.path.starts_with("/v3/watch") ? 0 : 1;
  co_await eventually([&] { return others_running == 0; }, 10s, "the other client's write");
  if (kind == fault::late_apply) BOOST_TEST(proxy.held() <= 1u);
  if (r.before_release) co_await r.before_release(x);
  co_await proxy.release_held();
  BOOST_TEST_CONTEXT(r.name << ": request " << k << " of the run, " << to_string(kind) << ", ended "
                            << to_string(how)) {
    co_await r.check(x, how);
  }
  co_return after - before;
}

inline void run_table(const std::vector<row>& rows) {
  for (auto& r : rows) {
    run(
        [&r](asio::io_context& io) -> asio::awaitable<void> {
          auto n = co_await run_once(io, r, 0, fault::none, 0);
          BOOST_TEST_MESSAGE(r.name << ": " << n << " requests");
          BOOST_REQUIRE(n > 0u);
          int round = 1;
          for (std::size_t k = 1; k <= n; ++k)
            for (auto kind : kinds) co_await run_once(io, r, k, kind, round++);
        },
        600s);
  }
}

// The contract of a write that applies `mine` once: ok -> exactly once, refused -> never,
// unknown -> at most once.
inline void check_applied(ended how, int times) {
  if (how == ended::ok) BOOST_TEST(times == 1);
  if (how == ended::refused) BOOST_TEST(times == 0);
  if (how == ended::unknown) BOOST_TEST(times <= 1);
}

}  // namespace coordination::test::faults
