// Step injection at the wire (issue #29): each operation below runs once without faults through a
// fault_proxy, which counts its requests n; then, for each k in 1..n and each fault kind, it runs
// again on fresh keys with its k-th request faulted (where the contract involves others, a second
// client writes the same keys at that moment), the held requests are let through late, and the
// operation's contract (docs/reliability.md) is checked against what etcd holds:
// - success: applied exactly once; a refusal (conflict, not_found, false): not applied;
//   outcome_unknown or timeout: applied at most once;
// - no other client's write undone; no key left once the session is closed.
// A new operation adds a row, not a harness.
#include <functional>

#include "common.hpp"
#include "coordination/config_center.hpp"
#include "coordination/counter.hpp"
#include "coordination/lock.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "support/fault_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

enum class ended { ok, refused, unknown };

const char* to_string(ended e) {
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
asio::awaitable<ended> outcome(asio::awaitable<T> op, E... refused) {
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
row make_row(std::string name, step setup, step other,
             std::function<asio::awaitable<ended>(ctx&)> op,
             std::function<asio::awaitable<void>(ctx&, ended)> check, step before_release = {}) {
  row r;
  r.name = std::move(name);
  r.setup = std::move(setup);
  r.other = std::move(other);
  r.op = std::move(op);
  r.check = std::move(check);
  r.before_release = std::move(before_release);
  return r;
}

fault_rule rule_of(fault kind, std::string path, std::size_t times,
                   std::chrono::milliseconds delay = 0ms) {
  fault_rule r;
  r.kind = kind;
  r.path = std::move(path);
  r.times = times;
  r.delay = delay;
  return r;
}

client_config faulty_config(const std::string& url) {
  auto cfg = config_for({url});
  cfg.attempt_timeout = 400ms;
  cfg.probe_timeout = 300ms;
  cfg.request_timeout = 6s;
  return cfg;
}

constexpr std::array kinds{fault::lost_answer, fault::reset_before, fault::late_drop,
                           fault::late_apply};

// One run of `r` with its k-th request faulted by `kind` (k == 0: no fault). Returns the number
// of requests the operation sent.
asio::awaitable<std::size_t> run_once(asio::io_context& io, const row& r, std::size_t k, fault kind,
                                      int round) {
  auto endpoints = shared_endpoints();
  fault_proxy proxy(io.get_executor(), endpoints.front(), 1000 + round);
  client c(io.get_executor(), faulty_config(proxy.url()));
  client direct(io.get_executor(), config_for(endpoints));
  ctx x{c, direct, proxy, unique_prefix("faults-" + r.name)};
  if (r.setup) co_await r.setup(x);
  std::size_t before = 0;
  for (auto& q : proxy.requests()) before += q.path.starts_with("/v3/watch") ? 0 : 1;
  if (k > 0) {
    fault_rule rule;
    rule.kind = kind;
    rule.index = k;
    rule.delay = 600ms;  // (past attempt_timeout)
    if (r.other) rule.on_hit = [&r, &x]() { return r.other(x); };
    proxy.add_rule(rule);
  }
  auto how = co_await r.op(x);
  std::size_t after = 0;
  for (auto& q : proxy.requests()) after += q.path.starts_with("/v3/watch") ? 0 : 1;
  if (r.before_release) co_await r.before_release(x);
  co_await proxy.release_held();
  BOOST_TEST_CONTEXT(r.name << ": request " << k << " of the run, " << to_string(kind) << ", ended "
                            << to_string(how)) {
    co_await r.check(x, how);
  }
  co_return after - before;
}

void run_table(const std::vector<row>& rows) {
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

// How many of the config key's history entries hold `value` (max_version_history is 10).
asio::awaitable<int> times_written(config_center& cc, std::string key, std::string value) {
  int n = 0;
  for (auto& e : co_await cc.history(key))
    if (!e.deleted && e.value == value) ++n;
  co_return n;
}

config_center_options cfg_under(const ctx& x) {
  config_center_options o;
  o.prefix = x.prefix + "cfg/";
  return o;
}

// The contract of a write that applies `mine` once: ok -> exactly once, refused -> never,
// unknown -> at most once.
void check_applied(ended how, int times) {
  if (how == ended::ok) BOOST_TEST(times == 1);
  if (how == ended::refused) BOOST_TEST(times == 0);
  if (how == ended::unknown) BOOST_TEST(times <= 1);
}

std::vector<row> config_rows() {
  std::vector<row> rows;
  // A compare-and-set on version 1 while another client sets the key unconditionally.
  rows.push_back(make_row(
      "config-cas",
      [](ctx& x) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        co_await d.set("k", "0");
      },
      [](ctx& x) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        co_await d.set("k", "other");
      },
      [](ctx& x) -> asio::awaitable<ended> {
        config_center cc(x.c, cfg_under(x));
        co_return co_await outcome(cc.set("k", "mine", 1), error::conflict);
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        check_applied(how, co_await times_written(d, "k", "mine"));
        auto now = co_await d.get("k");
        BOOST_TEST(now.version == (co_await d.history("k")).size());
      }));
  // A create (expected version 0) while another client removes what it finds.
  rows.push_back(make_row(
      "config-create", {},
      [](ctx& x) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        try {
          co_await d.remove("k");
        } catch (const coordination_error& e) {
          if (e.code() != error::not_found) throw;
        }
      },
      [](ctx& x) -> asio::awaitable<ended> {
        config_center cc(x.c, cfg_under(x));
        co_return co_await outcome(cc.set("k", "mine", 0), error::conflict);
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        check_applied(how, co_await times_written(d, "k", "mine"));
      }));
  // A remove of version 1 while another client creates the key again after it.
  rows.push_back(make_row(
      "config-remove",
      [](ctx& x) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        co_await d.set("k", "first", 0);
      },
      [](ctx& x) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        try {
          co_await d.set("k", "theirs", 0);
        } catch (const coordination_error& e) {
          if (e.code() != error::conflict) throw;  // (ours not applied yet)
        }
      },
      [](ctx& x) -> asio::awaitable<ended> {
        config_center cc(x.c, cfg_under(x));
        co_return co_await outcome(cc.remove("k", 1), error::conflict, error::not_found);
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        config_center d(x.direct, cfg_under(x));
        int removes = 0;
        for (auto& e : co_await d.history("k")) removes += e.deleted ? 1 : 0;
        // Never undoes the other's create: only "first" may have been removed.
        check_applied(how, removes);
        if (co_await times_written(d, "k", "theirs") == 1)
          BOOST_TEST((co_await d.get("k")).value == "theirs");
      }));
  return rows;
}

std::vector<row> counter_rows() {
  std::vector<row> rows;
  rows.push_back(make_row(
      "counter-add", {},
      [](ctx& x) -> asio::awaitable<void> {
        counter other(x.direct, x.prefix + "n");
        co_await other.add(10);
      },
      [](ctx& x) -> asio::awaitable<ended> {
        counter mine(x.c, x.prefix + "n");
        co_return co_await outcome(mine.add(1));
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        counter d(x.direct, x.prefix + "n");
        auto v = co_await d.get();
        bool other_wrote = x.proxy.faults_applied() > 0;
        int applied = static_cast<int>(v - (other_wrote ? 10 : 0));
        check_applied(how, applied);
      }));
  return rows;
}

std::vector<row> registry_rows() {
  std::vector<row> rows;
  // Deregistering another process's instance; that process registers the id again meanwhile
  // (after the fault), which a late copy of the delete must not remove.
  rows.push_back(make_row(
      "registry-deregister",
      [](ctx& x) -> asio::awaitable<void> {
        registry_options o;
        o.prefix = x.prefix + "svc/";
        co_await x.direct.put(o.prefix + "api/i1", R"({"address":"a:1"})");
      },
      {},
      [](ctx& x) -> asio::awaitable<ended> {
        registry_options o;
        o.prefix = x.prefix + "svc/";
        service_registry reg(x.c, o);
        auto how = co_await outcome(reg.deregister("api", "i1"), error::not_found);
        co_await reg.close();
        co_return how;
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        BOOST_TEST((how != ended::unknown), "a lost answer surfaced");
        // The registration made again after the deregister is still there.
        BOOST_TEST((co_await x.direct.get(x.prefix + "svc/api/i1")).has_value());
      },
      [](ctx& x) -> asio::awaitable<void> {
        auto key = x.prefix + "svc/api/i1";
        BOOST_TEST(!(co_await x.direct.get(key)).has_value());
        co_await x.direct.put(key, R"({"address":"a:2"})");
      }));
  return rows;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(config_writes_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;  // (the proxy reads requests: plain HTTP only)
  run_table(config_rows());
}

BOOST_AUTO_TEST_CASE(counter_add_keeps_its_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(counter_rows());
}

BOOST_AUTO_TEST_CASE(deregister_resends_and_a_late_copy_spares_a_new_registration) {
  if (using_external_cluster()) return;
  run_table(registry_rows());
}

// A release whose delete is held (a paused member) and applied after the same session took the
// lock again must not delete the new holder's key (the same name, the same lease: the same key).
BOOST_AUTO_TEST_CASE(a_late_release_spares_the_same_sessions_next_lock) {
  if (using_external_cluster()) return;
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto endpoints = shared_endpoints();
    fault_proxy proxy(io.get_executor(), endpoints.front());
    client c(io.get_executor(), faulty_config(proxy.url()));
    client direct(io.get_executor(), config_for(endpoints));
    auto s = co_await session::create(c);
    locker l(s);
    auto name = unique_prefix("late-release") + "L";
    auto first = co_await l.lock(name);
    // The release's request is held and its connection reset: the release is resent (the
    // member applies nothing meanwhile), and the first copy applies later.
    proxy.add_rule(rule_of(fault::late_apply, "/v3/kv/", 1));
    co_await first.release();
    BOOST_TEST(proxy.held() == 1u);
    auto second = co_await l.lock(name);
    BOOST_TEST(second.key() == first.key());
    BOOST_TEST(co_await proxy.release_held() == 1u);
    auto kv = co_await direct.get(second.key());
    BOOST_TEST_REQUIRE(kv.has_value(), "the late release deleted the next lock's key");
    BOOST_TEST(kv->create_revision == second.fencing_token());
    co_await second.release();
    co_await s.close();
    BOOST_TEST(!(co_await direct.get(second.key())).has_value());
  });
}

// compare_and_set answers from etcd, not from what this counter object saw last.
BOOST_AUTO_TEST_CASE(counter_compare_and_set_reads_before_refusing) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("cas") + "n";
    counter a(c, key), b(c, key);
    BOOST_TEST(co_await a.add(1) == 1);
    BOOST_TEST(co_await b.compare_and_set(1, 0));
    BOOST_TEST(co_await a.compare_and_set(0, 7));  // a saw 1 last; etcd holds 0
    BOOST_TEST(co_await b.get() == 7);
    BOOST_TEST(!(co_await a.compare_and_set(3, 9)));
    BOOST_TEST(co_await a.get() == 7);
  });
}

BOOST_AUTO_TEST_SUITE_END()
