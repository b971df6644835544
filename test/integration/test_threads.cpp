// A multi-threaded io_context, used the documented way: each client (or coordinator) on a strand
// of its own, called from coroutines on that strand and, from other threads, by co_spawn onto
// the strand. Several clients on several strands run truly in parallel and share the process's
// globals (a Prometheus registry, loggers, counters). The ThreadSanitizer build
// (scripts/test.sh --tsan) runs this suite.
#include <prometheus/registry.h>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <thread>

#include "common.hpp"
#include "coordination/config_center.hpp"
#include "coordination/coordinator.hpp"
#include "coordination/lock.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

using strand = asio::strand<asio::io_context::executor_type>;

// Runs `body(io)` on a strand while `threads` threads run the io_context, with a deadline;
// rethrows what it threw.
template <class F>
void run_threaded(int threads, F body, std::chrono::seconds deadline = 90s) {
  asio::io_context io(threads);
  auto work = asio::make_work_guard(io);
  std::promise<void> done;
  auto finished = done.get_future();
  asio::co_spawn(asio::make_strand(io), body(io), [&](std::exception_ptr e) {
    if (e)
      done.set_exception(e);
    else
      done.set_value();
  });
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&] { io.run(); });
  auto status = finished.wait_for(deadline);
  work.reset();
  io.stop();
  for (auto& t : pool) t.join();
  if (status != std::future_status::ready)
    throw std::runtime_error("threaded test did not finish before its deadline");
  finished.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threads)

// One client on a strand; 8 coroutines on it and 4 foreign threads posting calls onto it.
BOOST_AUTO_TEST_CASE(one_client_on_a_strand_of_a_four_thread_pool) {
  run_threaded(4, [](asio::io_context&) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;  // the strand
    client c(ex, config_for(shared_endpoints()));
    auto p = unique_prefix("threads-one");
    auto s = co_await session::create(c);
    watch_options wo;
    wo.prefix = true;
    auto w = co_await c.watch(p + "w/", wo);
    int inside = 0, sections = 0, running = 8;
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    for (int k = 0; k < 8; ++k)
      asio::co_spawn(
          ex,
          [&, k]() -> asio::awaitable<void> {
            locker l(s);
            for (int r = 0; r < 10; ++r) {
              auto key = p + "k" + std::to_string(k) + "-" + std::to_string(r);
              co_await c.put(key, "v");
              BOOST_TEST((co_await c.get(key))->value == "v");
              auto h = co_await l.lock(p + "L");
              BOOST_TEST(++inside == 1);
              co_await c.put(p + "w/" + std::to_string(k) + "-" + std::to_string(r), "x");
              --inside;
              ++sections;
              co_await h.release();
            }
          },
          [&](std::exception_ptr e) {
            report_failure(e, "a coroutine");
            if (--running == 0) all_done.cancel();
          });
    // Foreign threads reach the client by co_spawn onto its strand.
    std::vector<std::thread> foreign;
    std::atomic<int> foreign_ok{0};
    for (int t = 0; t < 4; ++t)
      foreign.emplace_back([&, t] {
        for (int r = 0; r < 10; ++r) {
          auto f = asio::co_spawn(
              ex,
              [&, t, r]() -> asio::awaitable<void> {
                co_await c.put(p + "f" + std::to_string(t) + "-" + std::to_string(r), "v");
              },
              asio::use_future);
          f.get();
          ++foreign_ok;
        }
      });
    boost::system::error_code ignored;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    // (the foreign threads block on futures, not on this strand)
    co_await eventually([&] { return foreign_ok.load() == 40; }, 30s, "40 foreign puts");
    for (auto& t : foreign) t.join();
    BOOST_TEST(sections == 80);
    int events = 0;
    while (events < 80) events += static_cast<int>((co_await w.next()).events.size());
    BOOST_TEST(events == 80);
    BOOST_TEST((co_await c.get_prefix(p + "f")).count == 40);
    co_await s.close();
  });
}

// Four clients, each on its own strand, in parallel on four threads, sharing one metrics
// registry: they exclude each other through one etcd lock, and the shared metrics add up.
BOOST_AUTO_TEST_CASE(four_clients_on_four_strands_in_parallel) {
  auto registry = std::make_shared<prometheus::Registry>();
  std::atomic<int> inside{0}, most{0}, sections{0};
  auto p = unique_prefix("threads-four");
  run_threaded(4, [&](asio::io_context& io) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::future<void>> clients;
    for (int k = 0; k < 4; ++k)
      clients.push_back(asio::co_spawn(
          asio::make_strand(io),
          [&, k]() -> asio::awaitable<void> {
            auto cfg = config_for(shared_endpoints());
            cfg.metrics = registry;
            client c(co_await asio::this_coro::executor, cfg);
            auto s = co_await session::create(c);
            locker l(s);
            for (int r = 0; r < 10; ++r) {
              auto h = co_await l.lock(p + "L");
              int now = ++inside;
              int seen = most.load();
              while (now > seen && !most.compare_exchange_weak(seen, now)) {
              }
              co_await c.put(p + "c" + std::to_string(k) + "-" + std::to_string(r), "v");
              --inside;
              ++sections;
              co_await h.release();
            }
            co_await s.close();
          },
          asio::use_future));
    for (auto& f : clients) {
      while (f.wait_for(0s) != std::future_status::ready) co_await sleep_for(20ms);
      f.get();
    }
    (void)ex;
  });
  BOOST_TEST(sections.load() == 40);
  BOOST_TEST(most.load() == 1, most.load() << " clients were inside at once");
  double requests = 0;
  for (auto& family : registry->Collect())
    if (family.name == "coordination_requests_total")
      for (auto& m : family.metric) requests += m.counter.value;
  BOOST_TEST(requests >= 40 * 3, requests << " requests counted");
}

// A coordinator on a strand, its locks, config and registry used from coroutines on that strand
// and from foreign threads.
BOOST_AUTO_TEST_CASE(coordinator_on_a_strand) {
  run_threaded(4, [](asio::io_context&) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    config cfg;
    cfg.etcd = config_for(shared_endpoints());
    auto p = unique_prefix("threads-coord");
    cfg.locks.prefix = p + "locks/";
    cfg.config_center.prefix = p + "config/";
    cfg.registry.prefix = p + "services/";
    coordinator coord(ex, cfg);
    std::vector<std::thread> foreign;
    std::atomic<int> ok{0};
    for (int t = 0; t < 3; ++t)
      foreign.emplace_back([&, t] {
        auto f = asio::co_spawn(
            ex,
            [&, t]() -> asio::awaitable<void> {
              auto h = co_await coord.lock("shared");
              co_await coord.config_center().set("k" + std::to_string(t), std::to_string(t));
              co_await h.release();
              service_info i;
              i.name = "api";
              i.instance_id = "i" + std::to_string(t);
              i.address = "127.0.0.1:" + std::to_string(1000 + t);
              co_await coord.registry().register_service(i);
            },
            asio::use_future);
        f.get();
        ++ok;
      });
    co_await eventually([&] { return ok.load() == 3; }, 30s, "three foreign threads done");
    for (auto& t : foreign) t.join();
    BOOST_TEST((co_await coord.config_center().get("k2")).value == "2");
    co_await eventually(
        [&]() -> asio::awaitable<bool> {
          co_return (co_await coord.registry().discover("api"))->size() == 3u;
        },
        10s, "three instances discovered");
    co_await coord.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()
