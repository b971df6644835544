// coord-lost-answer-bench: what lost answers cost (issue #31). One etcd member on loopback, the
// fault-injecting gateway proxy of the tests (test/support/fault_proxy) in front of it, one client
// doing one operation at a time through the proxy. For each workload (get, put, lock + release,
// config set) and each round, five phases of the same length back to back:
//   none        the proxy forwards everything (the baseline of the round)
//   reset 1%/5% that share of the answers is lost: etcd answered, the proxy resets the client's
//               connection instead of forwarding it
//   silent 1%/5% that share of the answers is held (the connection stays open, nothing comes)
// and reports per workload and phase the median over rounds of: successful operations per second
// and its ratio to the same round's baseline, p50 / p99 / max latency (of every operation, the
// failed ones too), and the errors by kind (summed over rounds).
// Usage: coord-lost-answer-bench [--phase-seconds S] [--rounds N] [--json]
// COORD_BENCH_DEBUG=1: the client's debug log (each retry and why) on stderr.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "coordination/client.hpp"
#include "coordination/config_center.hpp"
#include "coordination/error.hpp"
#include "coordination/lock.hpp"
#include "coordination/session.hpp"
#include "support/etcd_fixture.hpp"
#include "support/fault_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* const workloads[] = {"get", "put", "lock", "config"};
struct mode {
  const char* name;
  test::fault kind;
  double probability;
};
const mode modes[] = {{"none", test::fault::none, 0},
                      {"reset 1%", test::fault::lost_answer, 0.01},
                      {"reset 5%", test::fault::lost_answer, 0.05},
                      {"silent 1%", test::fault::late_drop, 0.01},
                      {"silent 5%", test::fault::late_drop, 0.05}};
constexpr int workload_count = 4;
constexpr int mode_count = 5;

struct phase_result {
  std::vector<double> latencies_ms;  // of every operation, failed ones too
  std::uint64_t ok = 0;
  double seconds = 0;
  std::map<std::string, std::uint64_t> errors;  // by error message (the code's)
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

double median(std::vector<double> v) {
  return pct(std::move(v), 50);
}

// One phase of workload `w`: operations one after another until `until`.
asio::awaitable<void> run_phase(int w, client& c, config_center& cc, std::optional<session>& s,
                                steady::time_point until, phase_result& out) {
  const std::string key = std::string("bench/lost/") + workloads[w];
  std::int64_t n = 0;
  const auto began = steady::now();
  while (steady::now() < until) {
    auto t0 = steady::now();
    std::error_code failed;
    try {
      if (w == 0) {
        co_await c.get(key);
      } else if (w == 1) {
        co_await c.put(key, std::to_string(++n));
      } else if (w == 2) {
        if (!s || s->lost()) {
          s.reset();
          s.emplace(co_await session::create(c));
        }
        locker l(*s);
        auto h = co_await l.lock(key);
        co_await h.release();
      } else {
        co_await cc.set(key, std::to_string(++n));
      }
    } catch (const coordination_error& e) {
      failed = e.code();
    }
    out.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    if (failed) {
      ++out.errors[failed.message()];
    } else {
      ++out.ok;
    }
  }
  out.seconds = std::chrono::duration<double>(steady::now() - began).count();
}

}  // namespace

int main(int argc, char** argv) {
  double phase_seconds = 3;
  int rounds = 3;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--phase-seconds" && i + 1 < argc) {
      phase_seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--json") {
      as_json = true;
    } else {
      std::cerr << "usage: coord-lost-answer-bench [--phase-seconds S] [--rounds N] [--json]\n";
      return 2;
    }
  }
  if (!(phase_seconds >= 0.5 && phase_seconds <= 600) || rounds < 1 || rounds > 20) {
    std::cerr << "coord-lost-answer-bench: --phase-seconds must be 0.5..600, --rounds 1..20\n";
    return 2;
  }
  try {
    test::etcd_cluster cluster(1);
    asio::io_context io(1);
    test::fault_proxy proxy(io.get_executor(), cluster.client_url(0), 7);
    client_config cfg;
    cfg.endpoints = {proxy.url()};
    cfg.logger = std::make_shared<spdlog::logger>("lost-answer-bench",
                                                  std::make_shared<spdlog::sinks::null_sink_mt>());
    if (std::getenv("COORD_BENCH_DEBUG")) {  // the client's log on stderr
      cfg.logger = spdlog::stderr_logger_mt("lost-answer-bench-debug");
      cfg.logger->set_level(spdlog::level::debug);
    }
    client c(io.get_executor(), cfg);
    config_center_options co;
    co.prefix = "bench/lost-config/";
    config_center cc(c, co);
    std::optional<session> s;
    // results[w][m][round]
    std::vector<std::vector<std::vector<phase_result>>> results(
        workload_count, std::vector<std::vector<phase_result>>(mode_count));
    std::exception_ptr failure;

    auto span =
        std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(phase_seconds));
    auto all = [&]() -> asio::awaitable<void> {
      for (int w = 0; w < workload_count; ++w) {
        for (int r = 0; r < rounds; ++r) {
          for (int m = 0; m < mode_count; ++m) {
            proxy.clear_rules();
            if (modes[m].kind != test::fault::none) {
              test::fault_rule rule;
              rule.kind = modes[m].kind;
              rule.probability = modes[m].probability;
              rule.delay = 60s;  // silent: held far beyond any deadline, then reset
              proxy.add_rule(rule);
            }
            phase_result out;
            co_await run_phase(w, c, cc, s, steady::now() + span, out);
            results[w][m].push_back(std::move(out));
          }
        }
      }
      proxy.clear_rules();
      if (s) co_await s->close();
      c.close();
    };
    asio::co_spawn(io, all(), [&](std::exception_ptr e) {
      failure = e;
      io.stop();
    });
    io.run();
    if (failure) std::rethrow_exception(failure);

    if (!as_json)
      std::printf(
          "coord-lost-answer-bench: 1 etcd member behind the fault proxy, 1 client, one operation "
          "at a time; %d rounds of %.1f s per phase, medians over rounds\n%-7s %-10s %9s %7s %8s "
          "%8s %9s  %s\n",
          rounds, phase_seconds, "op", "phase", "ops/s", "x none", "p50 ms", "p99 ms", "max ms",
          "errors");
    for (int w = 0; w < workload_count; ++w) {
      for (int m = 0; m < mode_count; ++m) {
        std::vector<double> rate, ratio, p50, p99, mx;
        std::map<std::string, std::uint64_t> errors;
        for (int r = 0; r < rounds; ++r) {
          auto& x = results[w][m][r];
          auto& base = results[w][0][r];
          double ops = static_cast<double>(x.ok) / x.seconds;
          double base_ops = static_cast<double>(base.ok) / base.seconds;
          rate.push_back(ops);
          ratio.push_back(base_ops > 0 ? ops / base_ops : 0);
          p50.push_back(pct(x.latencies_ms, 50));
          p99.push_back(pct(x.latencies_ms, 99));
          mx.push_back(pct(x.latencies_ms, 100));
          for (auto& [k, v] : x.errors) errors[k] += v;
        }
        nlohmann::json row{{"workload", workloads[w]},  {"phase", modes[m].name},
                           {"ops_per_s", median(rate)}, {"ratio", median(ratio)},
                           {"p50_ms", median(p50)},     {"p99_ms", median(p99)},
                           {"max_ms", median(mx)},      {"errors", errors}};
        if (as_json) {
          std::cout << row.dump() << "\n";
          continue;
        }
        std::string errs;
        for (auto& [k, v] : errors)
          errs += (errs.empty() ? "" : ", ") + k + ": " + std::to_string(v);
        std::printf("%-7s %-10s %9.0f %7.2f %8.2f %8.2f %9.1f  %s\n", workloads[w], modes[m].name,
                    median(rate), median(ratio), median(p50), median(p99), median(mx),
                    errs.c_str());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "coord-lost-answer-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
