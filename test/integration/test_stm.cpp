// run_stm against etcd: a bank of 10 accounts moved between by 8 clients for 10 s (the sum is
// conserved, no balance goes negative), write skew and read skew per isolation level with the
// interleaving forced from inside apply, re-runs counted, give-up and aborts.
#include <boost/asio/co_spawn.hpp>
#include <memory>
#include <random>

#include "common.hpp"
#include "coordination/stm.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

std::int64_t num(const std::optional<std::string>& v) {
  return v ? std::stoll(*v) : 0;
}

const char* name_of(stm_isolation i) {
  switch (i) {
    case stm_isolation::serializable_snapshot:
      return "serializable_snapshot";
    case stm_isolation::serializable:
      return "serializable";
    case stm_isolation::repeatable_reads:
      return "repeatable_reads";
    case stm_isolation::read_committed:
      return "read_committed";
  }
  return "?";
}

const stm_isolation all_levels[] = {stm_isolation::serializable_snapshot,
                                    stm_isolation::serializable, stm_isolation::repeatable_reads,
                                    stm_isolation::read_committed};

}  // namespace

BOOST_AUTO_TEST_SUITE(stm_suite)

BOOST_AUTO_TEST_CASE(bank_transfers_conserve_the_sum) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto bank = unique_prefix("stm") + "acct/";
        const int accounts = 10, clients_n = 8;
        auto key = [&](int i) { return bank + std::to_string(i); };
        std::vector<std::unique_ptr<client>> clients;
        for (int i = 0; i < clients_n; ++i)
          clients.push_back(
              std::make_unique<client>(io.get_executor(), config_for(shared_endpoints())));
        for (int i = 0; i < accounts; ++i) co_await clients[0]->put(key(i), "100");
        int transfers = 0, attempts = 0, refused = 0, running = clients_n;
        auto until = std::chrono::steady_clock::now() + 10s;
        stm_options o;
        o.isolation = stm_isolation::serializable;
        for (int w = 0; w < clients_n; ++w)
          asio::co_spawn(
              io,
              [&, w]() -> asio::awaitable<void> {
                std::mt19937 gen(w);
                while (std::chrono::steady_clock::now() < until) {
                  int from = gen() % accounts, to = (from + 1 + gen() % (accounts - 1)) % accounts;
                  std::int64_t amount = 1 + gen() % 60;
                  bool enough = true;
                  stm_result r = co_await run_stm(
                      *clients[w],
                      [&](stm_txn& t) -> asio::awaitable<void> {
                        std::int64_t a = num(co_await t.get(key(from)));
                        std::int64_t b = num(co_await t.get(key(to)));
                        enough = a >= amount;
                        if (!enough) co_return;
                        t.put(key(from), std::to_string(a - amount));
                        t.put(key(to), std::to_string(b + amount));
                      },
                      o);
                  attempts += r.attempts;
                  if (enough)
                    ++transfers;
                  else
                    ++refused;
                }
              },
              [&](std::exception_ptr e) {
                report_failure(e, "transfer client");
                --running;
              });
        co_await eventually([&] { return running == 0; }, 40s, "the transfer clients ended");
        auto all = co_await clients[0]->get_prefix(bank);
        std::int64_t sum = 0;
        for (auto& kv : all.kvs) {
          std::int64_t v = std::stoll(kv.value);
          BOOST_TEST(v >= 0, kv.key << " = " << v);
          sum += v;
        }
        BOOST_TEST(all.count == accounts);
        BOOST_TEST(sum == 100 * accounts);
        BOOST_TEST(transfers > 0);
        // 8 clients on 10 accounts conflict: apply was re-run
        BOOST_TEST(attempts > transfers + refused);
        BOOST_TEST_MESSAGE("stm bank: " << transfers << " transfers, " << refused
                                        << " refused (balance too low), " << attempts
                                        << " attempts, in 10 s with 8 clients");
        for (auto& c : clients) c->close();
      },
      60s);
}

// Two doctors on call (x = y = 1); each STM goes off call if the other is on. T2 runs whole
// inside T1's first attempt, after T1 read both. Serializable levels (and Go's repeatable
// reads, whose commit checks every key read) retry T1, which then stays on call; read committed
// lets both go off: write skew.
BOOST_AUTO_TEST_CASE(write_skew_per_isolation_level) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c1(io.get_executor(), config_for(shared_endpoints()));
    client c2(io.get_executor(), config_for(shared_endpoints()));
    for (auto level : all_levels) {
      auto p = unique_prefix("stm-skew");
      co_await c1.put(p + "x", "1");
      co_await c1.put(p + "y", "1");
      stm_options o;
      o.isolation = level;
      int t1_runs = 0;
      stm_result r1 = co_await run_stm(
          c1,
          [&](stm_txn& t) -> asio::awaitable<void> {
            ++t1_runs;
            std::int64_t x = num(co_await t.get(p + "x")), y = num(co_await t.get(p + "y"));
            if (t1_runs == 1) {
              co_await run_stm(
                  c2,
                  [&](stm_txn& t2) -> asio::awaitable<void> {
                    std::int64_t x2 = num(co_await t2.get(p + "x"));
                    std::int64_t y2 = num(co_await t2.get(p + "y"));
                    if (x2 + y2 >= 2) t2.put(p + "y", "0");
                  },
                  o);
            }
            if (x + y >= 2) t.put(p + "x", "0");
          },
          o);
      std::int64_t x = std::stoll((co_await c1.get(p + "x"))->value);
      std::int64_t y = std::stoll((co_await c1.get(p + "y"))->value);
      if (level == stm_isolation::read_committed) {
        BOOST_TEST(x + y == 0, name_of(level) << ": write skew expected");
        BOOST_TEST(r1.attempts == 1);
      } else {
        BOOST_TEST(x + y == 1, name_of(level) << ": x=" << x << " y=" << y);
        BOOST_TEST(r1.attempts == 2, name_of(level));
      }
    }
    c1.close();
    c2.close();
  });
}

// x + y = 100 always (every writer moves both in one txn). Between T1's read of x and of y a
// writer moves 20: under the serializable levels T1 reads y at its snapshot and sees 100;
// under repeatable reads and read committed its attempt sees 120 (read skew). Only
// read committed can commit an attempt that saw it.
BOOST_AUTO_TEST_CASE(read_skew_per_isolation_level) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    for (auto level : all_levels) {
      auto p = unique_prefix("stm-read-skew");
      co_await c.put(p + "x", "50");
      co_await c.put(p + "y", "50");
      stm_options o;
      o.isolation = level;
      std::vector<std::int64_t> sums;
      std::int64_t committed_sum = 0;
      stm_result r = co_await run_stm(
          c,
          [&](stm_txn& t) -> asio::awaitable<void> {
            std::int64_t x = num(co_await t.get(p + "x"));
            if (sums.empty()) {
              txn_request move;
              move.success.push_back(put_op{p + "x", "30", {}});
              move.success.push_back(put_op{p + "y", "70", {}});
              co_await c.txn(std::move(move));
            }
            std::int64_t y = num(co_await t.get(p + "y"));
            sums.push_back(x + y);
            committed_sum = x + y;
            t.put(p + "seen", std::to_string(x + y));
          },
          o);
      bool serializable_level =
          level == stm_isolation::serializable_snapshot || level == stm_isolation::serializable;
      BOOST_TEST(sums.front() == (serializable_level ? 100 : 120), name_of(level));
      if (level == stm_isolation::read_committed) {
        BOOST_TEST(r.attempts == 1);
        BOOST_TEST(committed_sum == 120);
      } else {
        BOOST_TEST(r.attempts == 2, name_of(level));  // x moved: the first commit failed
        BOOST_TEST(committed_sum == 100, name_of(level));
      }
      BOOST_TEST((co_await c.get(p + "seen"))->value == std::to_string(committed_sum));
    }
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(gives_up_after_max_attempts_and_aborts_on_throw) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("stm-give-up");
    stm_options o;
    o.max_attempts = 3;
    int runs = 0;
    // every attempt's read key is changed behind its back: each commit conflicts
    co_await expect_failure(run_stm(
                                c,
                                [&](stm_txn& t) -> asio::awaitable<void> {
                                  ++runs;
                                  co_await t.get(p + "k");
                                  co_await c.put(p + "k", std::to_string(runs));
                                  t.put(p + "out", "x");
                                },
                                o),
                            error::conflict, "3 attempts");
    BOOST_TEST(runs == 3);
    BOOST_TEST(!(co_await c.get(p + "out")).has_value());
    // apply throws: its error, nothing committed
    try {
      co_await run_stm(c, [&](stm_txn& t) -> asio::awaitable<void> {
        t.put(p + "out", "y");
        throw std::runtime_error("apply refused");
        co_return;
      });
      BOOST_FAIL("no error");
    } catch (const std::runtime_error& e) {
      BOOST_TEST(std::string(e.what()) == "apply refused");
    }
    BOOST_TEST(!(co_await c.get(p + "out")).has_value());
    o.max_attempts = 0;
    co_await expect_failure(run_stm(
                                c, [](stm_txn&) -> asio::awaitable<void> { co_return; }, o),
                            error::invalid_argument, "max_attempts");
    co_await expect_failure(
        run_stm(c, [](stm_txn& t) -> asio::awaitable<void> { co_await t.get(""); }),
        error::invalid_argument, "stm key");
    c.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()
