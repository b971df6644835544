// coord-bench: load generator and latency meter for the coordination library against a real etcd.
// One JSON object per run with --json; a progress line on a terminal; a summary otherwise.
#include <unistd.h>

#include <prometheus/registry.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <coordination/client.hpp>
#include <coordination/config_center.hpp>
#include <coordination/lock.hpp>
#include <coordination/observability.hpp>
#include <coordination/registry.hpp>
#include <coordination/session.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "measure.hpp"
#include "workload.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

namespace {

using bench::closed_loop;
using bench::cpu_seconds;
using bench::micros;
using bench::options;
using bench::percentile;
using bench::result;
using bench::rss_kib;

asio::awaitable<void> watch_latency(const options& o, client& c, result& r) {
  // One watcher, one writer: put, wait for the event, again. Measures put-sent -> event and
  // put-acknowledged -> event (negative when the event beats the answer; counted as 0).
  auto ex = co_await asio::this_coro::executor;
  const std::string key = "bench/watch-latency";
  auto w = co_await c.watch(key);
  std::map<std::int64_t, clock_type::time_point> arrived;
  asio::steady_timer signal(ex, clock_type::time_point::max());
  bool stop = false;
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        try {
          while (!stop) {
            auto b = co_await w.next();
            auto now = clock_type::now();
            for (auto& e : b.events) arrived[e.kv.mod_revision] = now;
            signal.cancel();
          }
        } catch (const std::exception&) {
        }
      },
      asio::detached);
  std::vector<std::int64_t> after_ack;
  std::string value(static_cast<std::size_t>(o.value_size), 'v');
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(o.duration));
  bool done = false;
  asio::co_spawn(ex, progress(o, r, start, done), asio::detached);
  while (clock_type::now() < end) {
    auto sent = clock_type::now();
    std::int64_t rev = 0;
    try {
      rev = (co_await c.put(key, value)).header.revision;
    } catch (const std::exception&) {
      ++r.errors;
      continue;
    }
    auto acked = clock_type::now();
    while (!arrived.count(rev)) {
      signal.expires_at(clock_type::time_point::max());
      co_await signal.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto at = arrived[rev];
    arrived.erase(arrived.begin(), arrived.upper_bound(rev));
    r.latencies_us.push_back(micros(at - sent));
    after_ack.push_back(std::max<std::int64_t>(0, micros(at - acked)));
    ++r.ops;
  }
  done = true;
  stop = true;
  w.cancel();
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.extra["ack_to_event_p50_us"] = percentile(after_ack, 50);
  r.extra["ack_to_event_p99_us"] = percentile(after_ack, 99);
  r.extra["latency_measured_from"] = "put sent (p50_us/p99_us)";
}

asio::awaitable<void> watch_fanout(const options& o, client& c, result& r) {
  // --watchers watches on as many keys, all live at once: TCP connections and memory per watch,
  // then one put per key and the time until every watcher has its event.
  auto ex = co_await asio::this_coro::executor;
  const int n = o.watchers;
  long rss_before = rss_kib();
  std::vector<watch_stream> ws;
  ws.reserve(static_cast<std::size_t>(n));
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) ws.push_back(co_await c.watch("bench/fanout/" + std::to_string(i)));
  auto created_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  long rss_after = rss_kib();
  auto stats = coordination::detail::impl_of(c).hub().stats();
  r.extra["watchers"] = n;
  r.extra["create_s"] = created_s;
  r.extra["connections"] =
      stats.links + coordination::detail::impl_of(c).transport.open_connections();
  r.extra["watch_links"] = stats.links;
  r.extra["bytes_per_watch"] = (rss_after - rss_before) * 1024.0 / std::max(n, 1);
  int delivered = 0;
  asio::steady_timer all(ex, clock_type::time_point::max());
  auto start = clock_type::now();
  for (int i = 0; i < n; ++i)
    asio::co_spawn(
        ex,
        [&, i]() -> asio::awaitable<void> {
          try {
            auto b = co_await ws[static_cast<std::size_t>(i)].next();
            r.latencies_us.push_back(micros(clock_type::now() - start));
            if (++delivered == n) all.cancel();
          } catch (const std::exception&) {
            ++r.errors;
          }
        },
        asio::detached);
  int next_key = 0;
  int writers = std::max(1, o.clients);
  int writing = writers;
  asio::steady_timer written(ex, clock_type::time_point::max());
  for (int wtr = 0; wtr < writers; ++wtr)
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          while (next_key < n) {
            int i = next_key++;
            try {
              co_await c.put("bench/fanout/" + std::to_string(i), "x");
            } catch (const std::exception&) {
              ++r.errors;
            }
          }
          if (--writing == 0) written.cancel();
        },
        asio::detached);
  co_await written.async_wait(asio::as_tuple(asio::use_awaitable));
  if (delivered < n) {
    all.expires_after(60s);  // every watcher wakes, or the run reports what arrived
    co_await all.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  r.ops = static_cast<std::uint64_t>(delivered);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
}

// register-discover: each client re-registers its instance with a new sequence number in its
// metadata; the op ends when a second registry's watch-backed cache shows that sequence. So one
// op = registration write + watch event + cache update (what another process waits for).
asio::awaitable<void> register_discover(const options& o, client& c, result& r) {
  auto ex = co_await asio::this_coro::executor;
  registry_options ro;
  ro.prefix = "bench/services/";
  service_registry writer(c, ro);
  client other(ex, c.config());
  service_registry view(other, ro);
  co_await view.discover("bench");
  auto w = co_await view.watch("bench");
  asio::steady_timer changed(ex, clock_type::time_point::max());
  bool stop = false;
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        while (!stop) {
          try {
            co_await w.next();
          } catch (const std::exception&) {
            break;
          }
          changed.cancel();  // wake every waiting client: the cache has a new list
        }
      },
      asio::detached);
  auto seen = [&](const std::string& id, const std::string& seq) {
    auto l = view.cached("bench", false);
    for (auto& i : *l)
      if (i.instance_id == id) return i.metadata.count("seq") && i.metadata.at("seq") == seq;
    return false;
  };
  std::vector<int> seqs(static_cast<std::size_t>(o.clients), 0);
  co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
    service_info s;
    s.name = "bench";
    s.instance_id = "i" + std::to_string(i);
    s.address = "127.0.0.1:" + std::to_string(10000 + i);
    auto seq = std::to_string(++seqs[static_cast<std::size_t>(i)]);
    s.metadata["seq"] = seq;
    co_await writer.register_service(s);
    while (!seen(s.instance_id, seq))
      co_await changed.async_wait(asio::as_tuple(asio::use_awaitable));
  });
  stop = true;
  w.cancel();
  r.extra["cache_reloads"] = view.stats().cache_reloads;
  co_await writer.close();
  co_await view.close();
}

// discover-cached: lookups from a warm cache (the first discover loads it), on one core.
// Baseline in the same run: a plain std::unordered_map<std::string, shared_ptr> lookup of the
// same name, the cost floor of any name -> snapshot cache.
asio::awaitable<void> discover_cached(const options& o, client& c, result& r) {
  registry_options ro;
  ro.prefix = "bench/cached/";
  service_registry reg(c, ro);
  for (int k = 0; k < 3; ++k) {
    service_info s;
    s.name = "bench";
    s.instance_id = "i" + std::to_string(k);
    s.address = "127.0.0.1:" + std::to_string(10000 + k);
    co_await reg.register_service(s);
  }
  for (int k = 0; k < 999; ++k)
    co_await reg.discover("other-" + std::to_string(k));  // 1,000 cached
  auto warm = co_await reg.discover("bench");
  if (warm->size() != 3) throw std::runtime_error("discover-cached: cache not warm");
  const std::string name = "bench";
  auto timed = [&](auto&& lookup) {
    auto start = clock_type::now();
    auto end = start + std::chrono::duration_cast<clock_type::duration>(
                           std::chrono::duration<double>(o.duration / 3));
    std::uint64_t n = 0;
    std::size_t sink = 0;
    while (clock_type::now() < end) {
      for (int k = 0; k < 1000; ++k) sink += lookup();
      n += 1000;
    }
    if (sink == 42) std::puts("");  // keep the loop
    return n / std::chrono::duration<double>(clock_type::now() - start).count();
  };
  double sync_rate = timed([&] { return reg.cached(name)->size(); });
  std::unordered_map<std::string, service_list> baseline_map;
  for (int k = 0; k < 1000; ++k) baseline_map["other-" + std::to_string(k)] = warm;
  baseline_map[name] = warm;
  double baseline_rate = timed([&] { return baseline_map.find(name)->second->size(); });
  // The awaitable discover(): what a coroutine pays (a coroutine frame per call).
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(o.duration / 3));
  while (clock_type::now() < end) {
    auto t0 = clock_type::now();
    for (int k = 0; k < 1000; ++k) {
      auto l = co_await reg.discover(name);
      if (l->size() != 3) ++r.errors;
    }
    r.latencies_us.push_back(micros(clock_type::now() - t0) / 1000);
    r.ops += 1000;
  }
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.extra["cached_lookups_per_s"] = sync_rate;
  r.extra["baseline_unordered_map_lookups_per_s"] = baseline_rate;
  r.extra["cached_vs_baseline"] = sync_rate / baseline_rate;
  co_await reg.close();
}

// config-cas: every client increments one shared counter with get + set(expected_version),
// retrying on conflict; op = one applied increment. The final value is checked.
asio::awaitable<void> config_cas(const options& o, client& c, result& r) {
  config_center_options co;
  co.prefix = "bench/config/";
  config_center cfg(c, co);
  auto start_value = co_await cfg.set("counter", "0");
  (void)start_value;
  std::uint64_t conflicts = 0;
  co_await closed_loop(o, r, [&](int) -> asio::awaitable<void> {
    for (;;) {
      auto cur = co_await cfg.get("counter");
      try {
        co_await cfg.set("counter", std::to_string(std::stoll(cur.value) + 1), cur.version);
        co_return;
      } catch (const coordination_error& e) {
        if (e.code() != error::conflict) throw;
        ++conflicts;
      }
    }
  });
  auto final_value = std::stoull((co_await cfg.get("counter")).value);
  if (final_value != r.ops)
    throw std::runtime_error("config-cas: counter is " + std::to_string(final_value) + " after " +
                             std::to_string(r.ops) + " increments");
  r.extra["conflicts"] = conflicts;
  r.extra["final_value"] = final_value;
}

// Spans that cost what an application's cheapest tracer would: an allocation, nothing kept.
class null_tracer : public tracer {
  struct null_span : span {
    void set_attribute(std::string_view, std::string_view) override {}
    void set_error(std::error_code, std::string_view) override {}
    void end() override {}
  };

 public:
  std::unique_ptr<span> start_span(std::string_view) override {
    return std::make_unique<null_span>();
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coord-bench: workloads against etcd through the coordination library"};
  options o;
  app.add_option("--endpoints", o.endpoints, "comma-separated URLs (default $COORD_ENDPOINTS)");
  app.add_option(
         "--workload", o.workload,
         "put | get | get-serializable | txn | lease-keepalive | lock | lock-contended | "
         "rwlock | watch-latency | watch-fanout | register-discover | discover-cached | "
         "config-cas | config-watch | config-watch-bare | stm-transfer | stm-transfer-bare | "
         "kv-cache | "
         "connect-get (a new client and connection per get)")
      ->check(
          CLI::IsMember({"put", "get", "get-serializable", "connect-get", "txn", "lease-keepalive",
                         "lock", "lock-contended", "rwlock", "watch-latency", "watch-fanout",
                         "register-discover", "discover-cached", "config-cas", "config-watch",
                         "config-watch-bare", "stm-transfer", "stm-transfer-bare", "kv-cache"}));
  app.add_option("--clients", o.clients, "concurrent clients (coroutines)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--duration", o.duration, "seconds per run")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--connections", o.connections,
                 "connection pool size per endpoint (default: clients)");
  app.add_option("--value-size", o.value_size, "bytes per value")->check(CLI::Range(0, 1 << 20));
  app.add_option("--watchers", o.watchers, "watches for watch-fanout")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--keys", o.keys, "keys cached by kv-cache")->check(CLI::Range(1, 10000000));
  app.add_flag("--json", o.json, "one JSON object per run on stdout");
  app.add_option("--csv", o.csv, "append a CSV row per run to this file");
  app.add_flag("--no-probe", o.no_probe,
               "client_config::probe_connections off (to measure the readiness probe's cost)");
  app.add_flag("--metrics", o.metrics, "client with Prometheus metrics on (to measure their cost)");
  app.add_flag("--tracing", o.tracing,
               "client with a tracer that records nothing (to measure the hooks' cost)");
  CLI11_PARSE(app, argc, argv);

  client_config cfg;
  std::string eps = o.endpoints;
  if (eps.empty()) {
    const char* env = std::getenv("COORD_ENDPOINTS");
    eps = env && *env ? env : "http://127.0.0.1:2379";
  }
  cfg.endpoints = client_config::split_endpoints(eps);
  cfg.pool_size = static_cast<std::size_t>(o.connections > 0 ? o.connections : o.clients);
  cfg.logger =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  if (o.metrics) cfg.metrics = std::make_shared<prometheus::Registry>();
  if (o.no_probe) cfg.probe_connections = false;
  if (o.tracing) cfg.tracer = std::make_shared<null_tracer>();

  asio::io_context io(1);
  result r;
  long rss_start = rss_kib();
  double cpu0 = 0;
  std::exception_ptr failure;
  try {
    client c(io.get_executor(), cfg);
    std::string value(static_cast<std::size_t>(o.value_size), 'v');
    auto body = [&]() -> asio::awaitable<void> {
      // Set-up outside the measured part.
      if (o.workload == "get" || o.workload == "get-serializable" || o.workload == "connect-get")
        co_await c.put("bench/get/0", value);
      std::optional<session> lease_holder;
      if (o.workload == "lease-keepalive") {
        session_options so;
        so.ttl = 60s;
        so.renew_interval = 3600s;  // renewed by the workload itself, not the session
        lease_holder.emplace(co_await session::create(c, so));
      }
      cpu0 = cpu_seconds();
      if (o.workload == "put") {
        co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
          co_await c.put("bench/put/" + std::to_string(i), value);
        });
      } else if (o.workload == "get" || o.workload == "get-serializable") {
        range_options ro;
        ro.serializable = o.workload == "get-serializable";
        co_await closed_loop(o, r, [&](int) -> asio::awaitable<void> {
          auto res = co_await c.range("bench/get/0", ro);
          if (res.kvs.empty()) throw std::runtime_error("bench/get/0 missing");
        });
      } else if (o.workload == "connect-get") {
        // A new client (so a new connection) per get: what the readiness probe costs.
        co_await closed_loop(o, r, [&](int) -> asio::awaitable<void> {
          client fresh(c.get_executor(), cfg);
          auto res = co_await fresh.range("bench/get/0");
          fresh.close();
          if (res.kvs.empty()) throw std::runtime_error("bench/get/0 missing");
        });
      } else if (o.workload == "txn") {
        co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
          std::string key = "bench/txn/" + std::to_string(i);
          txn_request t;
          t.compares.push_back(compare::version(key, compare_result::greater, -1));
          t.success.push_back(put_op{key, value, {}});
          t.failure.push_back(range_op{key, {}});
          co_await c.txn(std::move(t));
        });
      } else if (o.workload == "lease-keepalive") {
        auto id = lease_holder->lease();
        co_await closed_loop(
            o, r, [&](int) -> asio::awaitable<void> { co_await c.lease_keep_alive_once(id); });
        co_await lease_holder->close();
      } else if (o.workload == "lock" || o.workload == "lock-contended" || o.workload == "rwlock") {
        // One session per client (as separate processes would have); `lock`: a name per client
        // (uncontended, lock + release = one op); `lock-contended`: one name for all (op = one
        // hand-off); `rwlock`: one name, every 10th op a write lock.
        std::vector<session> sessions;
        for (int i = 0; i < o.clients; ++i) sessions.push_back(co_await session::create(c));
        std::vector<locker> lockers;
        for (auto& s : sessions) lockers.emplace_back(s);
        std::vector<int> round(static_cast<std::size_t>(o.clients), 0);
        cpu0 = cpu_seconds();
        co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
          auto& l = lockers[static_cast<std::size_t>(i)];
          if (o.workload == "lock") {
            auto h = co_await l.lock("bench/lock/" + std::to_string(i));
            co_await h.release();
          } else if (o.workload == "lock-contended") {
            auto h = co_await l.lock("bench/lock-contended");
            co_await h.release();
          } else {
            bool write = ++round[static_cast<std::size_t>(i)] % 10 == 0;
            // (no co_await inside ?: — GCC 12 miscompiles that)
            lock_handle h;
            if (write)
              h = co_await l.write_lock("bench/rwlock");
            else
              h = co_await l.read_lock("bench/rwlock");
            co_await h.release();
          }
        });
        for (auto& s : sessions) co_await s.close();
      } else if (o.workload == "watch-latency") {
        co_await watch_latency(o, c, r);
      } else if (o.workload == "watch-fanout") {
        co_await watch_fanout(o, c, r);
      } else if (o.workload == "register-discover") {
        co_await register_discover(o, c, r);
      } else if (o.workload == "discover-cached") {
        co_await discover_cached(o, c, r);
      } else if (o.workload == "config-cas") {
        co_await config_cas(o, c, r);
      } else if (o.workload == "config-watch" || o.workload == "config-watch-bare") {
        co_await bench::config_watch_workload(o, c, r, o.workload == "config-watch");
      } else if (o.workload == "stm-transfer" || o.workload == "stm-transfer-bare") {
        co_await bench::stm_workload(o, c, r, o.workload == "stm-transfer-bare");
      } else if (o.workload == "kv-cache") {
        co_await bench::kv_cache_workload(o, c, r);
      }
    };
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
      failure = e;
      io.stop();
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::cerr << "coord-bench: " << e.what() << "\n";
    return 1;
  }
  double cpu = cpu_seconds() - cpu0;
  json out{{"workload", o.workload},
           {"clients", o.clients},
           {"connections", cfg.pool_size},
           {"duration_s", r.seconds},
           {"ops", r.ops},
           {"ops_per_s", r.ops / std::max(r.seconds, 1e-9)},
           {"p50_us", percentile(r.latencies_us, 50)},
           {"p99_us", percentile(r.latencies_us, 99)},
           {"errors", r.errors},
           {"client_cpu_us_per_op", r.ops ? cpu * 1e6 / static_cast<double>(r.ops) : 0.0},
           {"rss_kib", rss_kib()},
           {"rss_start_kib", rss_start}};
  for (auto& [k, v] : r.extra.items()) out[k] = v;
  if (o.json) {
    std::cout << out.dump() << std::endl;
  } else {
    std::printf(
        "%-16s clients %-4d ops %-8llu %10.0f ops/s  p50 %6lld us  p99 %6lld us  "
        "errors %llu  cpu %.1f us/op  rss %ld KiB\n",
        o.workload.c_str(), o.clients, static_cast<unsigned long long>(r.ops),
        out["ops_per_s"].get<double>(), static_cast<long long>(out["p50_us"].get<std::int64_t>()),
        static_cast<long long>(out["p99_us"].get<std::int64_t>()),
        static_cast<unsigned long long>(r.errors), out["client_cpu_us_per_op"].get<double>(),
        out["rss_kib"].get<long>());
    for (auto& [k, v] : r.extra.items()) std::printf("  %s: %s\n", k.c_str(), v.dump().c_str());
  }
  if (!o.csv.empty()) {
    bool fresh = !std::ifstream(o.csv).good();
    std::ofstream csv(o.csv, std::ios::app);
    if (fresh)
      csv << "workload,clients,connections,duration_s,ops,ops_per_s,p50_us,p99_us,errors,client_"
             "cpu_us_per_op,rss_kib\n";
    csv << o.workload << "," << o.clients << "," << cfg.pool_size << "," << r.seconds << ","
        << r.ops << "," << out["ops_per_s"].get<double>() << "," << out["p50_us"] << ","
        << out["p99_us"] << "," << r.errors << "," << out["client_cpu_us_per_op"].get<double>()
        << "," << out["rss_kib"] << "\n";
  }
  return r.errors && !r.ops ? 1 : 0;
}
