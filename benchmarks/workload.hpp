// coord-bench's run options and results, and the closed loop that times a workload's calls
// (shared by coord_bench.cpp and the workloads in their own files).
#pragma once

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace coordination::bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

struct options {
  std::string endpoints;
  std::string workload = "put";
  int clients = 1;
  double duration = 5;
  int connections = 0;  // 0: as many as clients
  int value_size = 64;
  int watchers = 1000;
  int keys = 10000;  // kv-cache: keys cached
  bool json = false;
  std::string csv;
  bool metrics = false;
  bool tracing = false;
  bool no_probe = false;
};

struct result {
  std::uint64_t ops = 0;
  std::uint64_t errors = 0;
  std::vector<std::int64_t> latencies_us;
  double seconds = 0;
  json extra = json::object();
};

inline std::int64_t micros(clock_type::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// Progress on a terminal only: a line rewritten every second.
inline asio::awaitable<void> progress(const options& o, const result& r,
                                      clock_type::time_point start, const bool& done) {
  if (!isatty(STDERR_FILENO)) co_return;
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!done) {
    t.expires_after(1s);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    double s = std::chrono::duration<double>(clock_type::now() - start).count();
    std::fprintf(stderr, "\r%s c=%d: %llu ops, %.0f ops/s, %llu errors   ", o.workload.c_str(),
                 o.clients, static_cast<unsigned long long>(r.ops), r.ops / std::max(s, 1e-9),
                 static_cast<unsigned long long>(r.errors));
  }
  std::fprintf(stderr, "\r%*s\r", 70, "");
}

// Runs `op` in `clients` loops until the duration ends, timing each call.
template <class Op>
asio::awaitable<void> closed_loop(const options& o, result& r, Op op) {
  auto ex = co_await asio::this_coro::executor;
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(o.duration));
  int running = o.clients;
  bool done = false;
  asio::steady_timer finished(ex, clock_type::time_point::max());
  asio::co_spawn(ex, progress(o, r, start, done), asio::detached);
  for (int c = 0; c < o.clients; ++c) {
    asio::co_spawn(
        ex,
        [&, c]() -> asio::awaitable<void> {
          while (clock_type::now() < end) {
            auto t0 = clock_type::now();
            try {
              co_await op(c);
              r.latencies_us.push_back(micros(clock_type::now() - t0));
              ++r.ops;
            } catch (const std::exception& e) {
              if (++r.errors <= 3) std::cerr << "coord-bench: " << e.what() << "\n";
            }
          }
          if (--running == 0) finished.cancel();
        },
        asio::detached);
  }
  co_await finished.async_wait(asio::as_tuple(asio::use_awaitable));
  done = true;
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace coordination::bench

namespace coordination {
class client;
}

namespace coordination::bench {
// config-watch (with_meta) and config-watch-bare (config_watch_workload.cpp).
asio::awaitable<void> config_watch_workload(const options& o, client& c, result& r, bool with_meta);
// stm-transfer (run_stm) and stm-transfer-bare (the same transfer by hand; stm_workload.cpp).
asio::awaitable<void> stm_workload(const options& o, client& c, result& r, bool bare);
// kv-cache: memory per key and lookups/s of a kv_cache against std::map (kv_cache_workload.cpp).
asio::awaitable<void> kv_cache_workload(const options& o, client& c, result& r);
}  // namespace coordination::bench
