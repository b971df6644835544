// Chaos: 3-member clusters whose members are killed (SIGKILL), paused (SIGSTOP) or all lost at
// once while clients work, and a client cut off from etcd while history is compacted. Each test
// asserts what must still hold. Kills, pauses and restarts run on a thread of their own (a
// restart blocks until the member serves), the clients on the test's io_context.
// COORD_CHAOS_SECONDS sets the length of the write load (default 30).
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/lock.hpp"
#include "coordination/observability.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"
#include "coordination/with_timeout.hpp"
#include "support/process.hpp"
#include "tcp_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// Member urls starting with member `first`.
std::vector<std::string> starting_at(etcd_cluster& cluster, int first) {
  std::vector<std::string> eps;
  for (int k = 0; k < cluster.size(); ++k)
    eps.push_back(cluster.client_url((first + k) % cluster.size()));
  return eps;
}

// A thread that runs the kills/pauses/restarts; what it threw is reported by failure().
class chaos_thread {
 public:
  template <class F>
  void start(F schedule) {
    thread_ = std::thread([this, schedule]() mutable {
      try {
        schedule();
      } catch (const std::exception& e) {
        std::lock_guard g(m_);
        failure_ = e.what();
      }
    });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  ~chaos_thread() { join(); }
  std::string failure() {
    std::lock_guard g(m_);
    return failure_;
  }

 private:
  std::thread thread_;
  std::mutex m_;
  std::string failure_;
};

void sleep_until(steady::time_point t) {
  std::this_thread::sleep_until(t);
}

// Waits for every coroutine counted in `running` to finish.
asio::awaitable<void> all_done(int& running, asio::steady_timer& done) {
  boost::system::error_code ignored;
  while (running > 0) {
    done.expires_at(steady::time_point::max());
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chaos)

// kill -9 of the leader during mixed puts and compare-and-set txns from 16 clients: every
// acknowledged write is there afterwards, a write refused as `unavailable` is not, no txn answer
// contradicts what the client knows, and every client carries on (fails over) by itself.
BOOST_AUTO_TEST_CASE(leader_killed_during_mixed_writes_loses_no_acknowledged_write) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  const auto length = env_seconds("COORD_CHAOS_SECONDS", 30s);
  struct record {
    std::vector<std::pair<std::string, std::string>> acked_puts;
    std::vector<std::string> refused_puts;  // failed `unavailable`: must not have been applied
    std::int64_t counter = 0;               // the CAS counter's confirmed value
    bool counter_maybe_ahead = false;       // a txn of unknown outcome may have made it counter+1
    int requests = 0, acked_after_kill = 0, txns_succeeded = 0;
    std::map<std::string, int> errors;
    std::vector<std::string> wrong;
    std::uint64_t failovers = 0;
  };
  constexpr int clients = 16;
  std::vector<record> records(clients);
  std::atomic<bool> killed{false};
  chaos_thread chaos;
  auto prefix = unique_prefix("chaos-writes");
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client probe(io.get_executor(), config_for(cluster.client_urls()));
        int leader = co_await find_leader(probe, cluster);
        auto start = steady::now();
        auto stop = start + length;
        chaos.start([&, leader, start] {
          sleep_until(start + length / 3);
          cluster.kill(leader);
          killed = true;
          sleep_until(start + 2 * length / 3);
          cluster.restart(leader);
        });
        int running = clients;
        asio::steady_timer done(io);
        for (int i = 0; i < clients; ++i) {
          asio::co_spawn(
              io,
              [&, i]() -> asio::awaitable<void> {
                auto& r = records[i];
                auto cfg = config_for(starting_at(cluster, i % 3));
                cfg.request_timeout = 5s;
                client c(io.get_executor(), cfg);
                auto base = prefix + "c" + std::to_string(i) + "/";
                auto counter_key = base + "counter";
                for (int j = 0; steady::now() < stop; ++j) {
                  ++r.requests;
                  std::optional<coordination_error> failure;
                  if (j % 2 == 0) {
                    auto key = base + "k" + std::to_string(j), value = "v" + std::to_string(j);
                    try {
                      co_await c.put(key, value);
                      r.acked_puts.emplace_back(key, value);
                    } catch (const coordination_error& e) {
                      failure = e;
                      if (e.code() == error::unavailable) r.refused_puts.push_back(key);
                    }
                  } else {
                    txn_request t;
                    t.compares.push_back(
                        r.counter == 0 ? compare::version(counter_key, compare_result::equal, 0)
                                       : compare::value_of(counter_key, compare_result::equal,
                                                           std::to_string(r.counter)));
                    auto next = std::to_string(r.counter + 1);
                    t.success.push_back(put_op{counter_key, next, {}});
                    t.success.push_back(put_op{base + "t" + next, "x", {}});
                    t.failure.push_back(range_op{counter_key, {}});
                    try {
                      auto res = co_await c.txn(std::move(t));
                      if (res.succeeded) {
                        ++r.counter;
                        ++r.txns_succeeded;
                        r.counter_maybe_ahead = false;
                      } else {
                        auto& got = std::get<range_result>(res.responses.at(0));
                        std::int64_t now = got.kvs.empty() ? 0 : std::stoll(got.kvs[0].value);
                        if (!(r.counter_maybe_ahead && now == r.counter + 1))
                          r.wrong.push_back("txn compare failed: counter is " +
                                            std::to_string(now) + ", the client knew " +
                                            std::to_string(r.counter));
                        r.counter = now;
                        r.counter_maybe_ahead = false;
                      }
                    } catch (const coordination_error& e) {
                      failure = e;
                      if (e.code() != error::unavailable) r.counter_maybe_ahead = true;
                    }
                  }
                  if (!failure) {
                    if (killed) ++r.acked_after_kill;
                    continue;
                  }
                  auto code = failure->code();
                  ++r.errors[error_name(code)];
                  if (code != error::unavailable && code != error::timeout &&
                      code != error::outcome_unknown)
                    r.wrong.push_back(std::string("unexpected error: ") + failure->what());
                }
                r.failovers = coordination::detail::impl_of(c).transport.stats().failovers;
              },
              [&](std::exception_ptr e) {
                report_failure(e, "a writer");
                --running;
                done.cancel();
              });
        }
        co_await all_done(running, done);
        BOOST_REQUIRE_MESSAGE(killed.load(), "the leader was not killed during the load");

        // Read everything back through a client that knows every member.
        int requests = 0, acked = 0, refused = 0, failovers = 0, checked = 0;
        std::map<std::string, int> errors;
        for (int i = 0; i < clients; ++i) {
          auto& r = records[i];
          auto base = prefix + "c" + std::to_string(i) + "/";
          auto all = co_await probe.get_prefix(base);
          std::map<std::string, std::string> stored;
          for (auto& kv : all.kvs) stored[kv.key] = kv.value;
          for (auto& [key, value] : r.acked_puts) {
            auto it = stored.find(key);
            BOOST_TEST((it != stored.end() && it->second == value),
                       key << " was acknowledged but is "
                           << (it == stored.end() ? "missing" : "different"));
            ++checked;
          }
          for (auto& key : r.refused_puts)
            BOOST_TEST(!stored.contains(key), key << " was refused as unavailable but is there");
          auto counter =
              std::stoll(stored.count(base + "counter") ? stored[base + "counter"] : "0");
          BOOST_TEST(
              (counter == r.counter || (r.counter_maybe_ahead && counter == r.counter + 1)),
              "client " << i << ": counter " << counter << ", the client knew " << r.counter);
          for (std::int64_t n = 1; n <= r.counter; ++n)
            BOOST_TEST(stored.contains(base + "t" + std::to_string(n)),
                       "txn " << n << " of client " << i << " is missing");
          for (auto& w : r.wrong) BOOST_ERROR("client " << i << ": " << w);
          BOOST_TEST(r.acked_after_kill > 0, "client " << i << " did not carry on after the kill");
          requests += r.requests;
          acked += static_cast<int>(r.acked_puts.size()) + r.txns_succeeded;
          refused += static_cast<int>(r.refused_puts.size());
          failovers += static_cast<int>(r.failovers);
          for (auto& [code, n] : r.errors) errors[code] += n;
        }
        BOOST_TEST(failovers >= 1);
        std::string error_list;
        for (auto& [code, n] : errors) error_list += " " + code + "=" + std::to_string(n);
        BOOST_TEST_MESSAGE("chaos writes: " << requests << " requests, " << acked
                                            << " acknowledged, " << checked
                                            << " acknowledged puts read back, " << refused
                                            << " refused puts checked absent, " << failovers
                                            << " failovers; errors:" << error_list);
      },
      length + 120s);
  chaos.join();
  BOOST_TEST(chaos.failure().empty(), chaos.failure());
}

// SIGSTOP the member a watch and a client are on for 10 s: no request outlives its deadline,
// the watch moves to another member while it is paused and delivers every revision once, in
// order.
BOOST_AUTO_TEST_CASE(paused_member_strands_no_request_and_watches_deliver_exactly_once) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  std::atomic<int> phase{0};  // 0 before the pause, 1 paused, 2 resumed
  chaos_thread chaos;
  auto prefix = unique_prefix("chaos-pause");
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client probe(io.get_executor(), config_for(cluster.client_urls()));
        int victim = co_await find_leader(probe, cluster);  // the hardest member to lose
        auto cfg = config_for(starting_at(cluster, victim));
        cfg.request_timeout = 2s;
        client watcher(io.get_executor(), cfg), prober(io.get_executor(), cfg);
        auto wcfg = config_for(starting_at(cluster, victim + 1));
        wcfg.request_timeout = 2s;
        client writer(io.get_executor(), wcfg);

        auto first = co_await writer.put(prefix + "start", "0");
        watch_options wo;
        wo.start_revision = first.header.revision + 1;
        auto w = co_await watcher.watch_prefix(prefix, wo);

        struct seen {
          std::int64_t revision;
          int phase;
        };
        std::vector<seen> events;
        bool watch_ended = false;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              try {
                for (;;) {
                  auto b = co_await w.next();
                  for (auto& e : b.events) events.push_back({e.kv.mod_revision, phase.load()});
                }
              } catch (const coordination_error& e) {
                if (e.code() != error::cancelled) BOOST_ERROR("the watch ended: " << e.what());
              }
              watch_ended = true;
            },
            asio::detached);

        // Did the watch leave the paused member before it was resumed? (Looked at when the
        // chaos thread resumes it.)
        std::optional<std::uint64_t> moved_before_resume;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              while (phase.load() < 2) co_await sleep_for(10ms);
              auto st = coordination::detail::impl_of(watcher).hub().stats();
              moved_before_resume = st.link_failures + st.leaderless_endpoints;
            },
            asio::detached);

        auto start = steady::now();
        chaos.start([&, victim, start] {
          sleep_until(start + 2s);
          cluster.pause(victim);
          phase = 1;
          sleep_until(start + 12s);
          cluster.resume(victim);
          phase = 2;
        });

        // A reader on the paused member: every call ends (either way) within its deadline.
        int probes = 0, probe_errors = 0;
        auto slowest = steady::duration::zero();
        bool writing = true;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              while (writing) {
                auto t0 = steady::now();
                try {
                  co_await prober.get(prefix + "start");
                } catch (const coordination_error& e) {
                  ++probe_errors;
                  BOOST_TEST((e.code() == error::timeout || e.code() == error::unavailable),
                             e.what());
                }
                ++probes;
                slowest = std::max(slowest, steady::now() - t0);
                co_await sleep_for(50ms);
              }
            },
            asio::detached);

        // The writer, on the other members, for 15 s.
        std::vector<std::int64_t> acked;
        int write_errors = 0;
        for (int j = 0; steady::now() < start + 15s; ++j) {
          try {
            acked.push_back(
                (co_await writer.put(prefix + "k" + std::to_string(j), "v")).header.revision);
          } catch (const coordination_error& e) {
            ++write_errors;
            BOOST_TEST((e.code() == error::timeout || e.code() == error::unavailable ||
                        e.code() == error::outcome_unknown),
                       e.what());
          }
          co_await sleep_for(10ms);
        }
        writing = false;
        BOOST_REQUIRE(!acked.empty());
        co_await eventually(
            [&] { return !events.empty() && events.back().revision >= acked.back(); }, 20s,
            "the watch delivered the last acknowledged write");
        w.cancel();
        co_await eventually([&] { return watch_ended; }, 5s, "the watch ended");

        BOOST_TEST(slowest < cfg.request_timeout + 1s,
                   "a request to the paused member took "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
                       << " ms");
        for (std::size_t k = 1; k < events.size(); ++k)
          BOOST_TEST(events[k].revision > events[k - 1].revision,
                     "revision " << events[k].revision << " after " << events[k - 1].revision);
        std::set<std::int64_t> delivered;
        for (auto& e : events) delivered.insert(e.revision);
        for (auto rev : acked)
          BOOST_TEST(delivered.contains(rev), "acknowledged revision " << rev << " not delivered");
        int while_paused = 0;
        for (auto& e : events) while_paused += e.phase == 1;
        BOOST_REQUIRE(moved_before_resume.has_value());
        BOOST_TEST(*moved_before_resume >= 1u, "the watch stayed on the paused member");
        BOOST_TEST_MESSAGE("chaos pause: "
                           << acked.size() << " writes acknowledged (" << write_errors
                           << " failed), " << events.size() << " events checked (" << while_paused
                           << " while paused), " << probes << " probes (" << probe_errors
                           << " failed), slowest "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
                           << " ms");
      },
      90s);
  chaos.join();
  BOOST_TEST(chaos.failure().empty(), chaos.failure());
}

// Every member gone for longer than the session TTL: each session reports lost within TTL + one
// renewal interval, a held lock reports lost, and once the cluster is back the registration
// returns under a new lease and the lock can be taken again.
BOOST_AUTO_TEST_CASE(whole_cluster_outage_loses_sessions_in_time_and_registrations_return) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        cfg.request_timeout = 2s;
        cfg.dial_timeout = 1s;
        client c(io.get_executor(), cfg);
        session_options so;
        so.ttl = 3s;
        std::vector<session> sessions;
        for (int k = 0; k < 3; ++k) sessions.push_back(co_await session::create(c, so));
        auto name = unique_prefix("chaos-outage") + "L";
        locker l(sessions[0]);
        auto h = co_await l.lock(name);
        registry_options ro;
        ro.prefix = unique_prefix("chaos-outage-services");
        service_registry reg(c, ro);
        service_info info;
        info.name = "api";
        info.instance_id = "i1";
        info.address = "127.0.0.1:1";
        auto stored = co_await reg.register_service(info, 3s);

        std::vector<std::optional<steady::time_point>> lost_at(sessions.size());
        for (std::size_t k = 0; k < sessions.size(); ++k)
          asio::co_spawn(
              io,
              [&, k]() -> asio::awaitable<void> {
                auto ec = co_await sessions[k].wait_lost();
                BOOST_TEST((ec == error::session_expired), ec.message());
                lost_at[k] = steady::now();
              },
              asio::detached);
        std::optional<std::error_code> lock_lost;
        asio::co_spawn(
            io, [&]() -> asio::awaitable<void> { lock_lost = co_await h.wait_lost(); },
            asio::detached);

        auto t0 = steady::now();
        for (int i = 0; i < 3; ++i) cluster.kill(i);
        auto allowed = sessions[0].ttl() + sessions[0].renew_interval();
        co_await eventually(
            [&] {
              for (auto& t : lost_at)
                if (!t) return false;
              return lock_lost.has_value();
            },
            allowed + 5s, "every session and the lock reported lost");
        for (auto& t : lost_at)
          BOOST_TEST((*t - t0 <= allowed + 500ms),
                     "lost after "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(*t - t0).count()
                         << " ms");
        BOOST_TEST((*lock_lost == error::lock_lost), lock_lost->message());
        BOOST_TEST(!h.held());

        // The cluster comes back (the io_context waits while the members start: nothing to
        // check meanwhile).
        cluster.restart_members({0, 1, 2});
        client other(io.get_executor(), config_for(cluster.client_urls()));
        co_await eventually(
            [&]() -> asio::awaitable<bool> {
              auto now = co_await other.get_prefix(ro.prefix + "api/");
              if (now.kvs.size() != 1) co_return false;
              auto lease = now.kvs[0].lease;
              co_return lease != 0 && lease != stored.lease;
            },
            30s, "the registration is back under a new lease", 200ms);
        BOOST_TEST(reg.stats().reregistrations >= 1u);

        // The lock can be taken again (once the old lease is gone: at most its TTL after the
        // cluster elected a leader).
        auto fresh = co_await session::create(other);
        locker l2(fresh);
        auto again = co_await with_timeout(l2.lock(name), 20s);
        BOOST_TEST(again.fencing_token() > h.fencing_token());
        co_await again.release();
        co_await fresh.close();
        co_await reg.close();
      },
      120s);
}

// A watch cut off from etcd (its connection proxied, and the proxy cut) while the revisions it
// has not seen yet are compacted: when it gets through again it reports `compacted`, it never
// skips silently to what is left.
BOOST_AUTO_TEST_CASE(compaction_while_a_watch_is_cut_off_reports_compacted) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    tcp_proxy proxy(io.get_executor(), cluster.client_url(0));
    auto wcfg = config_for({proxy.url()});
    wcfg.request_timeout = 2s;
    client wc(io.get_executor(), wcfg);
    client c(io.get_executor(), config_for(cluster.client_urls()));
    auto p = unique_prefix("chaos-compact");
    auto first = co_await c.put(p + "a", "1");
    watch_options o;
    o.start_revision = first.header.revision + 1;
    auto w = co_await wc.watch_prefix(p, o);
    auto second = co_await c.put(p + "b", "2");
    auto batch = co_await with_timeout(w.next(), 10s);
    BOOST_REQUIRE(batch.events.size() == 1u);
    BOOST_TEST(batch.events[0].kv.mod_revision == second.header.revision);

    proxy.cut();
    co_await c.put(p + "c", "3");
    auto fourth = co_await c.put(p + "d", "4");
    co_await c.compact(fourth.header.revision);
    auto accepted = proxy.connections_accepted();
    proxy.restore();
    try {
      auto b = co_await with_timeout(w.next(), 20s);
      BOOST_ERROR("after the compaction the watch delivered revision "
                  << (b.events.empty() ? b.revision : b.events[0].kv.mod_revision)
                  << " instead of reporting compacted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::compacted, e.what());
      BOOST_TEST(w.compact_revision() == fourth.header.revision);
    }
    BOOST_TEST(proxy.connections_accepted() > accepted, "the watch never came back");
  });
}

BOOST_AUTO_TEST_SUITE_END()
