// The counter and queue recipes against etcd: adders racing on one counter (the sum is exact),
// compare-and-set, what a counter refuses; a priority queue's order; a queue's FIFO order,
// waiting pops, cancelled waits, and 4 poppers taking 200 items exactly once, also on a 3-member
// cluster while one member is killed and then another paused (no quorum for a while: answers are
// lost, takes are resent).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <map>
#include <memory>

#include "common.hpp"
#include "coordination/barrier.hpp"
#include "coordination/counter.hpp"
#include "coordination/queue.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

// Runs `n` copies of `body(i)` at once and waits for all (errors reported per copy).
template <class F>
asio::awaitable<void> all_of(int n, F body, std::chrono::seconds limit) {
  auto ex = co_await asio::this_coro::executor;
  auto left = std::make_shared<int>(n);
  for (int i = 0; i < n; ++i)
    asio::co_spawn(ex, body(i), [left, i](std::exception_ptr e) {
      report_failure(e, "copy " + std::to_string(i));
      --*left;
    });
  co_await eventually([&] { return *left == 0; }, limit, "all copies done");
}

// Pushes values "0".."n-1" from one client, then pops them with 4 clients until all came;
// `fault(popped)` runs after each pop (it may kill or pause members). Checks each value came
// exactly once and the queue is empty.
asio::awaitable<void> four_poppers(std::vector<std::string> endpoints, int n,
                                   std::function<void(int)> fault) {
  auto ex = co_await asio::this_coro::executor;
  auto name = unique_prefix("queue") + "work";
  client pusher(ex, config_for(endpoints));
  queue q(pusher, name);
  for (int i = 0; i < n; ++i) co_await q.push(std::to_string(i));
  BOOST_TEST(co_await q.size() == n);

  std::map<std::string, int> seen;
  int popped = 0;
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 4; ++i)
    clients.push_back(std::make_unique<client>(ex, config_for(endpoints)));
  co_await all_of(
      4,
      [&](int i) -> asio::awaitable<void> {
        queue mine(*clients[i], name);
        while (popped < n) {
          auto v = co_await mine.try_pop();
          if (!v) break;
          ++seen[*v];
          ++popped;
          if (fault) fault(popped);
        }
      },
      60s);
  BOOST_TEST(popped == n);
  BOOST_TEST(seen.size() == static_cast<std::size_t>(n));
  for (auto& [v, times] : seen) BOOST_TEST(times == 1, v << " popped " << times << " times");
  BOOST_TEST(co_await q.size() == 0);
  for (auto& c : clients) c->close();
  pusher.close();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recipes_suite)

BOOST_AUTO_TEST_CASE(eight_adders_sum_exactly) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto name = unique_prefix("counter") + "hits";
        std::vector<std::unique_ptr<client>> clients;
        for (int i = 0; i < 8; ++i)
          clients.push_back(
              std::make_unique<client>(io.get_executor(), config_for(shared_endpoints())));
        std::vector<std::int64_t> returned;
        co_await all_of(
            8,
            [&](int i) -> asio::awaitable<void> {
              counter mine(*clients[i], name);
              for (int k = 0; k < 25; ++k) returned.push_back(co_await mine.add(1));
            },
            60s);
        counter check(*clients[0], name);
        BOOST_TEST(co_await check.get() == 200);
        // every add returned the value it made: 1..200, each once
        std::sort(returned.begin(), returned.end());
        BOOST_REQUIRE(returned.size() == 200u);
        for (int k = 0; k < 200; ++k) BOOST_TEST(returned[k] == k + 1);
        auto kv = co_await clients[0]->get(name);
        BOOST_TEST(kv->value == "200");  // plain decimal text, as etcdctl shows it
        for (auto& c : clients) c->close();
      },
      90s);
}

BOOST_AUTO_TEST_CASE(compare_and_set_and_what_a_counter_refuses) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("counter") + "cas";
    counter a(c, name), b(c, name);
    BOOST_TEST(co_await a.get() == 0);                // absent: 0
    BOOST_TEST(!(co_await a.compare_and_set(1, 5)));  // not 1
    BOOST_TEST(co_await a.compare_and_set(0, 5));     // absent counts as 0
    BOOST_TEST(co_await b.add(-7) == -2);             // b had not read it: one more trip
    BOOST_TEST(!(co_await a.compare_and_set(5, 9)));  // a's stale view is refreshed...
    BOOST_TEST(co_await a.compare_and_set(-2, 9));    // ...and used
    BOOST_TEST(co_await b.get() == 9);
    co_await c.put(name, "nine");
    co_await expect_failure(b.add(1), error::invalid_argument, "holds 'nine'");
    co_await c.put(name, std::to_string(INT64_MAX));
    co_await expect_failure(a.add(1), error::invalid_argument, "overflows");
    BOOST_TEST((co_await c.get(name))->value == std::to_string(INT64_MAX));  // nothing written
    expect_error([&] { counter bad(c, ""); }, error::invalid_argument, "counter name");
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(queue_is_fifo_and_pop_waits) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("queue") + "fifo";
    queue q(c, name);
    BOOST_TEST(!(co_await q.try_pop()).has_value());
    std::int64_t last = 0;
    for (int i = 0; i < 10; ++i) {
      auto rev = co_await q.push("item" + std::to_string(i));
      BOOST_TEST(rev > last);
      last = rev;
    }
    for (int i = 0; i < 10; ++i) BOOST_TEST(co_await q.pop() == "item" + std::to_string(i));
    // A waiting pop cancelled takes nothing; a waiting pop gets the next push.
    co_await expect_failure(with_timeout(q.pop(), 300ms), error::timeout);
    std::optional<std::string> got;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { got = co_await q.pop(); }, asio::detached);
    co_await sleep_for(200ms);  // (the popper is waiting: nothing to pop yet)
    BOOST_TEST(!got.has_value());
    co_await q.push("late");
    co_await eventually([&] { return got.has_value(); }, 5s, "the waiting pop got the push");
    BOOST_TEST(*got == "late");
    BOOST_TEST(co_await q.size() == 0);
    // the claims are on a lease: nothing but claims is left, and they go by themselves
    auto left = co_await c.get_prefix(name);
    for (auto& kv : left.kvs) {
      BOOST_TEST(kv.key.starts_with(name + "/claims/"), kv.key);
      BOOST_TEST(kv.lease != 0);
    }
    expect_error([&] { queue bad(c, ""); }, error::invalid_argument, "queue name");
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(priority_queue_pops_lowest_priority_first_fifo_within) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("pqueue") + "jobs";
    priority_queue q(c, name);
    BOOST_TEST(!(co_await q.try_pop()).has_value());
    // interleaved pushes: priorities 5, 1, 10, 1, 5, 0, 10, 1
    std::vector<std::pair<std::uint16_t, std::string>> pushes{
        {5, "a"}, {1, "b"}, {10, "c"}, {1, "d"}, {5, "e"}, {0, "f"}, {10, "g"}, {1, "h"}};
    for (auto& [pri, v] : pushes) co_await q.push(v, pri);
    BOOST_TEST(co_await q.size() == 8);
    std::string order;
    for (int i = 0; i < 8; ++i) order += co_await q.pop();
    BOOST_TEST(order == "fbdhaecg");  // 0; 1 in push order; 5; 10 (9 < 10 numerically too)
    // a waiting pop gets a push of any priority; the highest number still pops
    std::optional<std::string> got;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { got = co_await q.pop(); }, asio::detached);
    co_await sleep_for(200ms);  // (the popper is waiting: nothing to pop yet)
    BOOST_TEST(!got.has_value());
    co_await q.push("last", 65535);
    co_await eventually([&] { return got.has_value(); }, 5s, "the waiting pop got the push");
    BOOST_TEST(*got == "last");
    BOOST_TEST(co_await q.size() == 0);
    expect_error([&] { priority_queue bad(c, ""); }, error::invalid_argument, "queue name");
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(four_poppers_take_each_item_once) {
  run(
      [](asio::io_context&) -> asio::awaitable<void> {
        co_await four_poppers(shared_endpoints(), 200, nullptr);
      },
      90s);
}

BOOST_AUTO_TEST_CASE(four_poppers_take_each_item_once_while_members_die_and_pause) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  bool paused = false, resumed = false;
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        co_await four_poppers(cluster.client_urls(), 200, [&](int popped) {
          if (popped == 50) cluster.kill(0);
          if (popped == 120) {  // with member 0 dead: no quorum until the resume, 3 s later
            pause_for(io.get_executor(), cluster, 1, 3s, resumed);
            paused = true;
          }
        });
        co_await eventually([&] { return resumed || !paused; }, 10s, "member 1 resumed");
      },
      120s);
  BOOST_TEST(paused);
  if (paused && !resumed) cluster.resume(1);
}

BOOST_AUTO_TEST_CASE(barrier_hold_wait_release) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto name = unique_prefix("barrier") + "gate";
    barrier b(c, name);
    co_await with_timeout(b.wait(), 5s);  // not held: returns at once
    BOOST_TEST(co_await b.hold());
    BOOST_TEST(!(co_await b.hold()));  // held already
    int woken = 0;
    for (int i = 0; i < 3; ++i)
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            barrier mine(c, name);
            co_await with_timeout(mine.wait(), 10s);
            ++woken;
          },
          asio::detached);
    co_await sleep_for(300ms);  // (the waiters wait while it is held)
    BOOST_TEST(woken == 0);
    co_await b.release();
    co_await eventually([&] { return woken == 3; }, 5s, "the 3 waiters woken");
    BOOST_TEST(!(co_await c.get(name)).has_value());
    expect_error([&] { barrier bad(c, ""); }, error::invalid_argument, "barrier name");
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(double_barrier_nobody_passes_before_the_last_enters_or_leaves) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto name = unique_prefix("dbarrier") + "meet";
        const int n = 5;
        std::vector<std::unique_ptr<client>> clients;
        for (int i = 0; i < n; ++i)
          clients.push_back(
              std::make_unique<client>(io.get_executor(), config_for(shared_endpoints())));
        int entering = 0, entered = 0, leaving = 0, left = 0;
        co_await all_of(
            n,
            [&](int i) -> asio::awaitable<void> {
              auto s = co_await session::create(*clients[i]);
              double_barrier d(s, name, n);
              co_await sleep_for(std::chrono::milliseconds(150 * i));  // staggered arrivals
              ++entering;
              co_await d.enter();
              BOOST_TEST(entering == n, "enter returned with " << entering << " entering");
              ++entered;
              co_await sleep_for(std::chrono::milliseconds(150 * (n - i)));  // staggered leaves
              ++leaving;
              co_await d.leave();
              BOOST_TEST(leaving == n, "leave returned with " << leaving << " leaving");
              ++left;
              co_await s.close();
            },
            60s);
        BOOST_TEST(entered == n);
        BOOST_TEST(left == n);
        client& c = *clients[0];
        BOOST_TEST((co_await c.get_prefix(name)).count == 0);  // waiters and ready gone
        // a sixth participant of a full barrier is refused, and its key removed
        auto s1 = co_await session::create(c);
        double_barrier one(s1, name + "-one", 1), extra(s1, name + "-one", 1);
        co_await one.enter();
        co_await expect_failure(extra.enter(), error::conflict, "more than 1");
        co_await one.leave();
        co_await expect_failure(one.leave(), error::invalid_argument);
        co_await eventually(
            [&]() -> asio::awaitable<bool> {
              co_return (co_await c.get_prefix(name + "-one")).count == 0;
            },
            5s, "no key left of the refused entrant");
        expect_error([&] { double_barrier bad(s1, name, 0); }, error::invalid_argument, "count");
        co_await s1.close();
        for (auto& cl : clients) cl->close();
      },
      90s);
}

BOOST_AUTO_TEST_SUITE_END()
