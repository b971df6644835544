#include <atomic>
#include <mutex>

#include "common.hpp"
#include "coordination/election.hpp"
#include "coordination/with_timeout.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

// The next change, which must be a leader (not "no leader").
asio::awaitable<leader_info> next_leader(leader_observer& o) {
  auto l = co_await with_timeout(o.next(), 10s);
  BOOST_REQUIRE_MESSAGE(l, "the observer reported no leader");
  co_return *l;
}

// Waits (bounded) until `flag` is set by another thread (a child process's output reader).
asio::awaitable<void> wait_flag(const std::atomic<bool>& flag, const char* what) {
  co_await eventually([&] { return flag.load(); }, 15s, what);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(election_suite)

BOOST_AUTO_TEST_CASE(campaign_proclaim_resign_observe) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("elect") + "E";
    BOOST_TEST(!(co_await current_leader(c, name)));
    auto obs = observe_leader(c, name);
    auto sa = co_await session::create(c);
    auto sb = co_await session::create(c);
    elector ea(sa), eb(sb);

    auto a = co_await ea.campaign(name, "alpha");
    BOOST_TEST(a.held());
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(sa.lease()));
    BOOST_TEST(a.key() == name + "/" + hex);  // etcd's layout
    auto first = co_await next_leader(obs);
    BOOST_TEST(first.value == "alpha");
    BOOST_TEST(first.create_revision == a.fencing_token());

    // b campaigns and waits.
    std::optional<leadership> b;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { b.emplace(co_await eb.campaign(name, "beta")); },
        asio::detached);
    co_await sleep_for(300ms);
    BOOST_TEST(!b);
    auto now = co_await ea.leader(name);
    BOOST_REQUIRE(now);
    BOOST_TEST(now->value == "alpha");

    co_await a.proclaim("alpha-2");
    BOOST_TEST(a.value() == "alpha-2");
    auto changed = co_await next_leader(obs);
    BOOST_TEST(changed.value == "alpha-2");
    BOOST_TEST(changed.create_revision == a.fencing_token());

    co_await a.resign();
    BOOST_TEST(!a.held());
    auto next = co_await next_leader(obs);
    BOOST_TEST(next.value == "beta");
    co_await eventually([&] { return b.has_value(); }, 5s, "beta leads", 10ms);
    BOOST_TEST(b->fencing_token() > a.fencing_token());
    BOOST_TEST(next.create_revision == b->fencing_token());
    co_await expect_failure(a.proclaim("late"), error::not_leader);

    // Leadership lost when the key is deleted from outside.
    co_await c.del(b->key());
    BOOST_TEST((co_await with_timeout(b->wait_lost(), 5s)) == error::lock_lost);
    co_await expect_failure(b->proclaim("x"), error::not_leader);
    co_await expect_failure(ea.campaign("", "v"), error::invalid_argument, "election name");
    obs.cancel();
    co_await expect_failure(obs.next(), error::cancelled);
    co_await sa.close();
    co_await sb.close();
  });
}

BOOST_AUTO_TEST_CASE(interoperates_with_etcdctl_elect) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  std::string name = "interop-elect";
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(cluster.client_urls()));
        auto s = co_await session::create(c);
        elector e(s);

        // 1. We lead: `etcdctl elect -l` sees our proposal, `etcdctl elect` waits.
        auto mine = co_await e.campaign(name, "from-coordination");
        std::atomic<bool> listener_saw{false}, ctl_leads{false};
        auto listen_args = cluster.etcdctl_args(0);
        listen_args.insert(listen_args.end(), {"elect", "-l", name});
        std::mutex lines_mutex;
        std::vector<std::string> listened;
        auto listener = child_process::spawn(listen_args, {}, [&](std::string_view line) {
          std::lock_guard lock(lines_mutex);
          listened.emplace_back(line);
          if (line == "from-coordination") listener_saw = true;
        });
        co_await wait_flag(listener_saw, "etcdctl elect -l printing our proposal");
        auto args = cluster.etcdctl_args(0);
        args.insert(args.end(), {"elect", name, "from-etcdctl"});
        auto ctl = child_process::spawn(args, {}, [&](std::string_view line) {
          if (line == "from-etcdctl") ctl_leads = true;  // printed once it leads
        });
        co_await sleep_for(1500ms);
        BOOST_TEST(!ctl_leads.load());
        co_await mine.resign();
        co_await wait_flag(ctl_leads, "etcdctl elect leading after we resigned");
        auto leader = co_await current_leader(c, name);
        BOOST_REQUIRE(leader);
        BOOST_TEST(leader->value == "from-etcdctl");

        // 2. etcdctl leads: our campaign waits, our observer sees it, then we win.
        auto obs = observe_leader(c, name);
        BOOST_TEST((co_await next_leader(obs)).value == "from-etcdctl");
        std::optional<leadership> again;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> { again.emplace(co_await e.campaign(name, "back")); },
            asio::detached);
        co_await sleep_for(500ms);
        BOOST_TEST(!again);
        ctl.signal(SIGINT);  // etcdctl resigns and exits
        ctl.wait();
        BOOST_TEST((co_await next_leader(obs)).value == "back");
        co_await eventually([&] { return again.has_value(); }, 10s, "our campaign won again");
        BOOST_TEST(again->held());
        listener_saw = false;
        // The etcdctl listener saw every leader in turn.
        co_await eventually(
            [&] {
              std::lock_guard lock(lines_mutex);
              return std::find(listened.begin(), listened.end(), "back") != listened.end();
            },
            10s, "etcdctl elect -l seeing 'back'");
        {
          std::lock_guard lock(lines_mutex);
          auto at = [&](const char* v) {
            return std::find(listened.begin(), listened.end(), v) - listened.begin();
          };
          BOOST_TEST(at("from-coordination") < at("from-etcdctl"));
          BOOST_TEST(at("from-etcdctl") < at("back"));
        }
        listener.signal(SIGINT);
        listener.wait();
        co_await again->resign();
        co_await s.close();
      },
      90s);
}

BOOST_AUTO_TEST_CASE(the_observer_reports_no_leader_after_a_resign_and_after_a_lease_expiry) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("vacancy") + "E";
    auto obs = observe_leader(c, name);
    BOOST_TEST(!(co_await with_timeout(obs.next(), 10s)));  // nobody leads at the start
    auto sa = co_await session::create(c);
    elector ea(sa);
    auto a = co_await ea.campaign(name, "alpha");
    BOOST_TEST((co_await next_leader(obs)).value == "alpha");
    co_await a.resign();
    BOOST_TEST(!(co_await with_timeout(obs.next(), 10s)));  // resigned, no successor

    // A candidate whose process died: its key is on a lease nobody renews (2 s).
    auto lease = co_await c.lease_grant(2);
    put_options on_lease;
    on_lease.lease = lease.id;
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(lease.id));
    co_await c.put(name + "/" + hex, "dying", on_lease);
    BOOST_TEST((co_await next_leader(obs)).value == "dying");
    BOOST_TEST(!(co_await with_timeout(obs.next(), 10s)));  // its lease expired

    // A vacancy is reported even when the next candidate comes at once after it.
    auto b = co_await ea.campaign(name, "beta");
    BOOST_TEST((co_await next_leader(obs)).value == "beta");
    co_await b.resign();
    auto c2 = co_await ea.campaign(name, "gamma");
    BOOST_TEST(!(co_await with_timeout(obs.next(), 10s)));
    BOOST_TEST((co_await next_leader(obs)).value == "gamma");
    co_await c2.resign();
    co_await sa.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()
