#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/lock.hpp"
#include "coordination/with_timeout.hpp"
#include "support/process.hpp"
#include "tcp_proxy.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Waits (bounded) until `prefix` holds exactly `n` keys.
asio::awaitable<void> expect_keys(client& c, const std::string& prefix, int n) {
  co_await eventually(
      [&]() -> asio::awaitable<bool> { co_return (co_await c.get_prefix(prefix)).count == n; }, 5s,
      prefix + " holding " + std::to_string(n) + " keys");
}
}  // namespace

BOOST_AUTO_TEST_SUITE(lock_suite)

BOOST_AUTO_TEST_CASE(lock_try_lock_release_and_tokens) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto a = co_await session::create(c);
    auto b = co_await session::create(c);
    auto name = unique_prefix("lock") + "L";
    locker la(a), lb(b);
    auto held = co_await la.lock(name);
    BOOST_TEST(held.held());
    BOOST_TEST(held.fencing_token() > 0);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(a.lease()));
    BOOST_TEST(held.key() == name + "/" + hex);  // etcd's own layout
    BOOST_TEST(co_await held.is_held());
    try {
      co_await lb.try_lock(name);
      BOOST_FAIL("try_lock took a held lock");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::locked);
    }
    // Again at once, while the failed try's key may still be being removed: etcd's holder is
    // named, not "this session" (a removal in flight is not a holder).
    co_await expect_failure(lb.try_lock(name), error::locked, "held by " + held.key());
    co_await expect_keys(c, name + "/", 1);  // the failed tries removed their keys
    // The holder's own session: try_lock fails at once too (it used to queue behind the holder
    // in the session's local gate until the release).
    try {
      co_await with_timeout(la.try_lock(name), 5s);
      BOOST_FAIL("try_lock on the holder's session took a held lock");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::locked, e.what());
    }
    BOOST_TEST(held.held());
    auto first_token = held.fencing_token();
    co_await held.release();
    BOOST_TEST(!held.held());
    BOOST_TEST((co_await held.wait_lost()) == error::cancelled);
    auto next = co_await lb.try_lock(name);
    BOOST_TEST(next.fencing_token() > first_token);
    co_await next.release();
    co_await a.close();
    co_await b.close();
  });
}

BOOST_AUTO_TEST_CASE(coroutines_and_sessions_exclude_each_other) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c1(io.get_executor(), config_for(shared_endpoints()));
        client c2(io.get_executor(), config_for(shared_endpoints()));
        auto s1 = co_await session::create(c1);
        auto s2 = co_await session::create(c2);
        auto name = unique_prefix("contend") + "L";
        int inside = 0, max_inside = 0, done = 0, sections = 0;
        std::vector<std::int64_t> tokens;
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer all_done(ex, clock_type::time_point::max());
        const int workers = 8, rounds = 5;
        for (int i = 0; i < workers; ++i) {
          session& s = i % 2 ? s1 : s2;  // four coroutines per session, two sessions
          asio::co_spawn(
              ex,
              [&, &s = s]() -> asio::awaitable<void> {
                locker l(s);
                for (int r = 0; r < rounds; ++r) {
                  auto h = co_await l.lock(name);
                  max_inside = std::max(max_inside, ++inside);
                  tokens.push_back(h.fencing_token());
                  co_await sleep_for(2ms);  // hold it across a suspension
                  ++sections;
                  --inside;
                  co_await h.release();
                }
                if (++done == workers) all_done.cancel();
              },
              [](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
              });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(max_inside == 1);
        BOOST_TEST(sections == workers * rounds);
        for (std::size_t i = 1; i < tokens.size(); ++i) BOOST_TEST(tokens[i] > tokens[i - 1]);
        co_await s1.close();
        co_await s2.close();
      },
      120s);
}

BOOST_AUTO_TEST_CASE(deadline_removes_the_waiter_key) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto a = co_await session::create(c);
    auto b = co_await session::create(c);
    auto name = unique_prefix("deadline") + "L";
    locker la(a), lb(b);
    auto held = co_await la.lock(name);
    try {
      co_await with_timeout(lb.lock(name), 300ms);
      BOOST_FAIL("lock() returned while the lock was held");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::timeout);
    }
    co_await expect_keys(c, name + "/", 1);  // only the holder's key is left
    co_await held.release();
    auto later = co_await with_timeout(lb.lock(name), 5s);  // the queue is not blocked
    BOOST_TEST(later.held());
    co_await later.release();
  });
}

// A waiter whose deletion watch could not be created (a proxy holds client b's watch streams
// until request_timeout passes) fails with `unavailable`; the next waiter of the same client is
// still woken when the holder releases: the stream that never started is not reused.
BOOST_AUTO_TEST_CASE(a_watch_that_failed_to_start_strands_no_later_waiter) {
  if (using_external_cluster()) return;  // (the proxy reads the requests: plain HTTP only)
  run([](asio::io_context& io) -> asio::awaitable<void> {
    tcp_proxy proxy(io.get_executor(), shared_endpoints().at(0));
    auto bcfg = config_for({proxy.url()});
    bcfg.request_timeout = 1s;
    client a(io.get_executor(), config_for(shared_endpoints()));
    client b(io.get_executor(), bcfg);
    auto sa = co_await session::create(a);
    auto sb = co_await session::create(b);
    auto name = unique_prefix("stranded") + "L";
    locker la(sa), lb(sb);
    auto held = co_await la.lock(name);
    proxy.hold_watch_streams(true);
    try {
      co_await with_timeout(lb.lock(name), 10s);
      BOOST_FAIL("lock() returned while the lock was held");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::unavailable, e.what());
    }
    BOOST_TEST(proxy.watch_streams_held() >= 1u);
    proxy.hold_watch_streams(false);
    co_await expect_keys(a, name + "/", 1);  // the failed waiter's key is gone
    // (and the stream held by the proxy has been given up: new watches get a new one)
    co_await eventually([&] { return coordination::detail::impl_of(b).hub().stats().links == 0; },
                        10s, "client b gave the held stream up");
    std::optional<lock_handle> second;
    std::string second_error;
    bool second_done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          try {
            second = co_await with_timeout(lb.lock(name), 10s);
          } catch (const coordination_error& e) {
            second_error = e.what();
          }
          second_done = true;
        },
        asio::detached);
    co_await expect_keys(a, name + "/", 2);  // b queued again
    co_await held.release();
    co_await eventually([&] { return second_done; }, 15s, "the second waiter ended");
    BOOST_TEST(second_error.empty(), second_error);
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(second->held());
    co_await second->release();
    co_await sa.close();
    co_await sb.close();
  });
}

// A lock whose create txn was applied but never answered (a proxy drops the answer) fails with
// `outcome_unknown` and still leaves no key behind: it is removed in the background, so nobody
// queues behind a waiter that gave up.
BOOST_AUTO_TEST_CASE(a_create_with_an_unknown_outcome_leaves_no_key) {
  if (using_external_cluster()) return;  // (the proxy reads the requests: plain HTTP only)
  run([](asio::io_context& io) -> asio::awaitable<void> {
    tcp_proxy proxy(io.get_executor(), shared_endpoints().at(0));
    client a(io.get_executor(), config_for(shared_endpoints()));
    client b(io.get_executor(), config_for({proxy.url()}));
    auto sb = co_await session::create(b);
    auto name = unique_prefix("unknown") + "L";
    locker lb(sb);
    proxy.drop_txn_answers(true);
    try {
      co_await with_timeout(lb.lock(name), 10s);
      BOOST_FAIL("lock() returned without an answer to its create");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::outcome_unknown, e.what());
    }
    proxy.drop_txn_answers(false);
    // (>= 1: the background removal's first attempt may have gone out meanwhile, and been
    // dropped too; it is retried)
    BOOST_TEST(proxy.answers_dropped() >= 1u);
    co_await expect_keys(a, name + "/", 0);  // created, then removed
    auto h = co_await with_timeout(lb.lock(name), 5s);
    BOOST_TEST(h.held());
    co_await h.release();
    co_await sb.close();
  });
}

// lock() cancelled by its caller at any point of its way (creating its key, reading the queue,
// starting the deletion watch, waiting) ends with coordination_error(cancelled) and leaves no
// key; the lock then goes to the next waiter as usual.
BOOST_AUTO_TEST_CASE(locks_cancelled_anywhere_throw_cancelled_and_leave_no_key) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto a = co_await session::create(c);
    auto name = unique_prefix("cancel-lock") + "L";
    locker la(a);
    auto held = co_await la.lock(name);
    int cancelled = 0;
    for (int i = 0; i < 80; ++i) {
      client other(io.get_executor(), config_for(shared_endpoints()));  // (no shared watch yet)
      auto b = co_await session::create(other);
      locker lb(b);
      auto delay = std::chrono::microseconds(80 * (i / 2));
      std::string how;  // (every other one with a lease of its own)
      if (i % 2 == 0)
        how = co_await cancelled_after(lb.lock(name), delay);
      else
        how = co_await cancelled_after(lb.lock(name, 7s), delay);
      BOOST_TEST(how == "cancelled", "lock " << i << ": " << how);
      cancelled += how == "cancelled";
      co_await expect_keys(c, name + "/", 1);  // only the holder's (before b's lease goes)
      co_await b.close();
    }
    BOOST_TEST(cancelled > 0);
    co_await held.release();
    auto d = co_await session::create(c);
    locker ld(d);
    auto next = co_await with_timeout(ld.lock(name), 5s);  // nobody left in the queue
    BOOST_TEST(next.held());
    co_await next.release();
    co_await d.close();
    co_await a.close();
  });
}

BOOST_AUTO_TEST_CASE(holder_session_killed_reports_lost_and_next_waiter_gets_it) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto a = co_await session::create(c);
    auto b = co_await session::create(c);
    auto name = unique_prefix("killed") + "L";
    locker la(a), lb(b);
    auto held = co_await la.lock(name);
    auto guard_key = unique_prefix("fenced") + "data";
    std::vector<compare> no_compares;
    std::vector<txn_op> write;
    write.emplace_back(put_op{guard_key, std::string("by-holder"), put_options()});
    auto ok = co_await held.guarded_txn(no_compares, write);
    BOOST_TEST(ok.succeeded);

    bool got_it = false;
    std::int64_t next_token = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto h = co_await lb.lock(name);
          got_it = true;
          next_token = h.fencing_token();
          co_await h.release();
        },
        asio::detached);
    co_await c.lease_revoke(a.lease());  // the holder's session dies from outside
    auto why = co_await with_timeout(held.wait_lost(), 10s);
    BOOST_TEST(why == error::lock_lost);
    BOOST_TEST(!held.held());
    BOOST_TEST(!(co_await held.is_held()));
    // A fencing-guarded write by the old holder is refused and changes nothing.
    try {
      std::vector<txn_op> late;
      late.emplace_back(put_op{guard_key, std::string("too-late"), put_options()});
      co_await held.guarded_txn(no_compares, late);
      BOOST_FAIL("a guarded write without the lock succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::lock_lost);
    }
    BOOST_TEST((co_await c.get(guard_key))->value == "by-holder");
    co_await eventually([&] { return got_it; }, 10s, "the next waiter got the lock", 10ms);
    BOOST_TEST(next_token > held.fencing_token());
  });
}

BOOST_AUTO_TEST_CASE(dropped_handle_releases_in_the_background) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto a = co_await session::create(c);
    auto b = co_await session::create(c);
    auto name = unique_prefix("dropped") + "L";
    locker la(a), lb(b);
    { auto h = co_await la.lock(name); }  // no release()
    auto h2 = co_await with_timeout(lb.lock(name), 5s);
    BOOST_TEST(h2.held());
    co_await h2.release();
  });
}

BOOST_AUTO_TEST_CASE(reentrant_counts_and_owner_is_the_locker) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto s = co_await session::create(c);
    auto name = unique_prefix("reentrant") + "L";
    locker_options ro;
    ro.reentrant = true;
    locker mine(s, ro), other(s, ro);
    auto h1 = co_await mine.lock(name);
    auto h2 = co_await mine.lock(name);  // same owner: no wait
    BOOST_TEST(h2.acquire_count() == 2);
    BOOST_TEST(h1.fencing_token() == h2.fencing_token());
    // Another locker is another owner, even on the same session.
    try {
      co_await with_timeout(other.lock(name), 300ms);
      BOOST_FAIL("a second owner got a held reentrant lock");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::timeout);
    }
    co_await h2.release();
    BOOST_TEST(h1.acquire_count() == 1);
    BOOST_TEST(co_await h1.is_held());  // still held: the key stays until the count is 0
    co_await h1.release();
    co_await expect_keys(c, name + "/", 0);
    auto h3 = co_await with_timeout(other.lock(name), 5s);
    co_await h3.release();
  });
}

BOOST_AUTO_TEST_CASE(rwlock_shares_readers_and_does_not_starve_writers) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto s = co_await session::create(c);
    auto name = unique_prefix("rw") + "L";
    locker l(s);
    auto r1 = co_await l.read_lock(name);
    auto r2 = co_await with_timeout(l.read_lock(name), 5s);  // readers share
    std::vector<std::string> order;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto w = co_await l.write_lock(name);
          order.push_back("writer");
          co_await sleep_for(100ms);
          order.push_back("writer done");
          co_await w.release();
        },
        asio::detached);
    co_await expect_keys(c, name + "/write/", 1);  // the writer is queued
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto r3 = co_await l.read_lock(name);  // came after the writer: waits for it
          order.push_back("late reader");
          co_await r3.release();
        },
        asio::detached);
    co_await expect_keys(c, name + "/read/", 3);
    co_await sleep_for(200ms);
    BOOST_TEST(order.empty());  // the writer waits for r1 and r2, the late reader for the writer
    co_await r1.release();
    co_await r2.release();
    co_await eventually([&] { return order.size() >= 3; }, 10s, "writer and late reader ran", 10ms);
    BOOST_TEST((order == std::vector<std::string>{"writer", "writer done", "late reader"}));
  });
}

BOOST_AUTO_TEST_CASE(semaphore_admits_at_most_n) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto s = co_await session::create(c);
    auto name = unique_prefix("sem") + "S";
    locker l(s);
    auto a = co_await l.acquire_semaphore(name, 2);
    auto b = co_await with_timeout(l.acquire_semaphore(name, 2), 5s);
    try {
      co_await with_timeout(l.acquire_semaphore(name, 2), 300ms);
      BOOST_FAIL("a third holder got a 2-permit semaphore");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::timeout);
    }
    co_await expect_keys(c, name + "/", 2);  // the timed-out waiter removed its key
    co_await a.release();
    auto third = co_await with_timeout(l.acquire_semaphore(name, 2), 5s);
    BOOST_TEST(third.held());
    co_await b.release();
    co_await third.release();
    try {
      co_await l.acquire_semaphore(name, 0);
      BOOST_FAIL("0 permits accepted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::invalid_argument);
    }
  });
}

BOOST_AUTO_TEST_CASE(ttl_of_its_own_gets_its_own_lease) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    session_options so;
    so.ttl = 20s;
    auto s = co_await session::create(c, so);
    auto name = unique_prefix("ttl") + "L";
    locker l(s);
    auto shared = co_await l.lock(name, 20s);
    BOOST_TEST(shared.lease() == s.lease());
    co_await shared.release();
    auto own = co_await l.lock(name, 5s);
    BOOST_TEST(own.lease() != s.lease());
    auto left = co_await own.ttl();
    BOOST_TEST(left > 0);
    BOOST_TEST(left <= 5);
    BOOST_TEST((co_await own.renew()) >= 4);
    auto lease = own.lease();
    co_await own.release();
    BOOST_TEST((co_await c.lease_time_to_live(lease)).ttl == -1);    // its lease is revoked
    BOOST_TEST((co_await c.lease_time_to_live(s.lease())).ttl > 0);  // the session's is not
  });
}

BOOST_AUTO_TEST_CASE(processes_and_coroutines_never_share_the_critical_section) {
  // 3 processes x 3 coroutines x 8 rounds; each section creates an O_EXCL marker file.
  char tmpl[] = "/tmp/coord-lockproc-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string worker = std::string(COORD_BIN_DIR) + "/coord-lock-worker";
  auto eps = shared_endpoints();
  std::string csv;
  for (auto& e : eps) csv += (csv.empty() ? "" : ",") + e;
  auto name = unique_prefix("procs") + "L";
  std::vector<child_process> workers;
  for (int p = 0; p < 3; ++p)
    workers.push_back(
        child_process::spawn({worker, csv, name, "3", "8", dir + "/marker", dir + "/log"}));
  for (auto& w : workers) BOOST_TEST(w.wait() == 0, w.log_tail());
  std::ifstream in(dir + "/log");
  std::vector<long long> tokens;
  for (long long t; in >> t;) tokens.push_back(t);
  BOOST_TEST(tokens.size() == 72u);
  for (std::size_t i = 1; i < tokens.size(); ++i)
    BOOST_TEST(tokens[i] > tokens[i - 1], "token " << tokens[i] << " after " << tokens[i - 1]);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(interoperates_with_etcdctl_lock) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  auto name = std::string("interop-lock");
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(cluster.client_urls()));
        auto s = co_await session::create(c);
        locker l(s);
        // 1. We hold it: etcdctl must wait.
        auto h = co_await l.lock(name);
        std::atomic<bool> etcdctl_has_it{false};
        auto args = cluster.etcdctl_args(0);
        args.insert(args.end(), {"lock", name});
        auto ctl = child_process::spawn(args, {}, [&](std::string_view line) {
          if (line.starts_with(name + "/")) etcdctl_has_it = true;  // it prints its key
        });
        co_await sleep_for(1500ms);
        BOOST_TEST(!etcdctl_has_it.load());
        co_await expect_keys(c, name + "/", 2);  // it queued behind us
        co_await h.release();
        co_await eventually([&] { return etcdctl_has_it.load(); }, 10s, "etcdctl got the lock");
        // 2. etcdctl holds it: we must wait, and get it once it lets go.
        try {
          co_await l.try_lock(name);
          BOOST_FAIL("try_lock succeeded while etcdctl held the lock");
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::locked);
        }
        bool ours = false;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              auto again = co_await l.lock(name);
              ours = true;
              co_await again.release();
            },
            asio::detached);
        co_await sleep_for(500ms);
        BOOST_TEST(!ours);
        ctl.signal(SIGINT);  // etcdctl releases (closes its session) and exits
        ctl.wait();
        co_await eventually([&] { return ours; }, 10s, "we got the lock after etcdctl");
        co_await s.close();
      },
      60s);
}

BOOST_AUTO_TEST_SUITE_END()
