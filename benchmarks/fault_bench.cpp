// coord-fault-bench: latency while an etcd member is paused and then killed. Starts a 3-member
// loopback cluster (temporary data dirs), runs get, put and lock (+ release) workloads at once,
// each on its own client whose endpoint list starts with member 0, through five phases:
//   healthy  -> paused (member 0 SIGSTOPped) -> resumed -> killed (SIGKILL) -> restarted
// and reports per workload and phase: operations, p50 / p99 / max latency, errors, failovers,
// and p99 and max as ratios of the healthy phase of the same run (the baseline). An operation
// counts in the phase in which it ended.
// Usage: coord-fault-bench [--phase-seconds S] [--clients N] [--json]
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/client.hpp"
#include "coordination/lock.hpp"
#include "coordination/session.hpp"
#include "support/etcd_fixture.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* const phase_names[] = {"healthy", "paused", "resumed", "killed", "restarted"};
constexpr int phases = 5;
const char* const workloads[] = {"get", "put", "lock"};
constexpr int workload_count = 3;

struct cell {
  std::vector<double> latencies_ms;
  std::uint64_t errors = 0;
  std::uint64_t failovers = 0;
  std::string first_error;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  double phase_seconds = 4;
  int clients = 4;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--phase-seconds" && i + 1 < argc) {
      phase_seconds = std::atof(argv[++i]);
    } else if (a == "--clients" && i + 1 < argc) {
      clients = std::atoi(argv[++i]);
    } else if (a == "--json") {
      as_json = true;
    } else {
      std::cerr << "usage: coord-fault-bench [--phase-seconds S] [--clients N] [--json]\n";
      return 2;
    }
  }
  if (!(phase_seconds >= 1 && phase_seconds <= 600) || clients < 1 || clients > 64) {
    std::cerr << "coord-fault-bench: --phase-seconds must be 1..600, --clients 1..64\n";
    return 2;
  }
  try {
    test::etcd_cluster cluster(3);
    std::atomic<int> phase{0};
    std::atomic<bool> finished{false};
    cell cells[workload_count][phases];
    std::string role = "?";
    std::exception_ptr failure;

    asio::io_context io(1);
    client_config cfg;
    cfg.endpoints = cluster.client_urls();  // member 0 first
    cfg.logger = std::make_shared<spdlog::logger>("fault-bench",
                                                  std::make_shared<spdlog::sinks::null_sink_mt>());
    std::vector<std::unique_ptr<client>> cs;
    for (int w = 0; w < workload_count; ++w)
      cs.push_back(std::make_unique<client>(io.get_executor(), cfg));

    auto worker = [&](int w, int k) -> asio::awaitable<void> {
      client& c = *cs[static_cast<std::size_t>(w)];
      std::optional<session> s;
      std::optional<locker> l;
      const std::string key = std::string("bench/fault/") + workloads[w] + "/" + std::to_string(k);
      if (w == 0) co_await c.put(key, "v");
      bool failed = false;
      while (!finished) {
        auto t0 = steady::now();
        try {
          if (w == 0) {
            co_await c.get(key);
          } else if (w == 1) {
            co_await c.put(key, "v");
          } else {
            if (!s || s->lost()) {
              l.reset();
              s.emplace(co_await session::create(c));
              l.emplace(*s);
            }
            auto h = co_await l->lock(key);
            co_await h.release();
          }
          // An operation counts in the phase it ended in (one caught by a fault ends in it).
          cells[w][phase.load()].latencies_ms.push_back(
              std::chrono::duration<double, std::milli>(steady::now() - t0).count());
        } catch (const std::exception& e) {
          auto& c = cells[w][phase.load()];
          if (c.errors++ == 0) c.first_error = e.what();
          failed = true;
        }
        if (failed) {  // (no co_await inside a handler)
          failed = false;
          asio::steady_timer pause(c.get_executor(), 50ms);
          co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      }
      if (s) {
        try {
          co_await s->close();
        } catch (const std::exception&) {
        }
      }
    };

    // Phase changes come from the fault thread; failovers are counted here, per phase.
    auto watcher = [&]() -> asio::awaitable<void> {
      std::uint64_t last[workload_count] = {};
      int seen = 0;
      asio::steady_timer t(io.get_executor());
      for (;;) {
        int now = phase.load();
        for (int w = 0; w < workload_count; ++w) {
          auto f = coordination::detail::impl_of(*cs[static_cast<std::size_t>(w)])
                       .transport.stats()
                       .failovers;
          cells[w][seen].failovers += f - last[w];
          last[w] = f;
        }
        seen = now;
        if (finished) break;
        t.expires_after(20ms);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    };

    auto start = [&]() -> asio::awaitable<void> {
      auto st = co_await cs[0]->status(cluster.client_url(0));
      role = st.leader == st.header.member_id ? "leader" : "follower";
    };
    asio::co_spawn(io, start(), [&](std::exception_ptr e) {
      if (e) failure = e;
    });
    io.run();
    io.restart();
    if (failure) std::rethrow_exception(failure);

    int running = workload_count * clients;
    for (int w = 0; w < workload_count; ++w)
      for (int k = 0; k < clients; ++k)
        asio::co_spawn(io, worker(w, k), [&](std::exception_ptr e) {
          if (e && !failure) failure = e;
          if (--running == 0) {
            for (auto& c : cs) c->close();
          }
        });
    asio::co_spawn(io, watcher(), asio::detached);

    auto span =
        std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(phase_seconds));
    std::thread faults([&] {
      std::this_thread::sleep_for(span);
      cluster.pause(0);
      phase = 1;
      std::this_thread::sleep_for(span);
      cluster.resume(0);
      phase = 2;
      std::this_thread::sleep_for(span);
      cluster.kill(0);
      phase = 3;
      std::this_thread::sleep_for(span);
      cluster.restart(0);  // (blocks until it serves: part of the killed phase)
      phase = 4;
      std::this_thread::sleep_for(span);
      finished = true;
    });
    io.run();
    faults.join();
    if (failure) std::rethrow_exception(failure);

    nlohmann::json rows = nlohmann::json::array();
    if (!as_json)
      std::printf(
          "coord-fault-bench: 3 members on loopback, member 0 (%s at start) listed first; %d "
          "clients per workload, %.0f s per phase\n%-5s %-9s %7s %9s %9s %9s %9s %9s %7s %9s\n",
          role.c_str(), clients, phase_seconds, "op", "phase", "ops", "p50 ms", "p99 ms", "max ms",
          "p99 x", "max x", "errors", "failovers");
    for (int w = 0; w < workload_count; ++w) {
      double base_p99 = pct(cells[w][0].latencies_ms, 99);
      double base_max = pct(cells[w][0].latencies_ms, 100);
      for (int p = 0; p < phases; ++p) {
        auto& c = cells[w][p];
        double p50 = pct(c.latencies_ms, 50), p99 = pct(c.latencies_ms, 99),
               mx = pct(c.latencies_ms, 100);
        double r99 = base_p99 > 0 ? p99 / base_p99 : 0, rmax = base_max > 0 ? mx / base_max : 0;
        rows.push_back({{"workload", workloads[w]},
                        {"phase", phase_names[p]},
                        {"ops", c.latencies_ms.size()},
                        {"p50_ms", p50},
                        {"p99_ms", p99},
                        {"max_ms", mx},
                        {"p99_ratio", r99},
                        {"max_ratio", rmax},
                        {"errors", c.errors},
                        {"failovers", c.failovers},
                        {"first_error", c.first_error},
                        {"member0_role", role}});
        if (!as_json)
          std::printf("%-5s %-9s %7zu %9.2f %9.2f %9.1f %9.1f %9.1f %7llu %9llu\n", workloads[w],
                      phase_names[p], c.latencies_ms.size(), p50, p99, mx, r99, rmax,
                      static_cast<unsigned long long>(c.errors),
                      static_cast<unsigned long long>(c.failovers));
      }
    }
    if (as_json) {
      for (auto& r : rows) std::cout << r.dump() << "\n";
    } else {
      for (auto& r : rows)
        if (!r["first_error"].get<std::string>().empty())
          std::printf("  %s/%s first error: %s\n", r["workload"].get<std::string>().c_str(),
                      r["phase"].get<std::string>().c_str(),
                      r["first_error"].get<std::string>().c_str());
    }
  } catch (const std::exception& e) {
    std::cerr << "coord-fault-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
