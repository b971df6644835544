// The coordinator's and its modules' lock kinds with TTLs, and the global functions that map the
// seeds' API (issue #18, items 1 and 2).
#include <boost/asio/ip/tcp.hpp>

#include "coordination/coordinator.hpp"
#include "coordination/with_timeout.hpp"
#include "coordinator_common.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

// The seconds etcd granted the lock's lease.
asio::awaitable<std::int64_t> granted(coordinator& c, const lock_handle& h) {
  co_return (co_await c.etcd().lease_time_to_live(h.lease())).granted_ttl;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(coordinator_suite)

BOOST_AUTO_TEST_CASE(read_write_locks_and_semaphores_exclude_with_ttls_of_their_own) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("rw-ttl");
    coordinator a(io.get_executor(), cfg);
    coordinator b(io.get_executor(), cfg);
    auto session = co_await a.current_session();

    // A writer with a lease of its own (5 s), under the lock prefix.
    auto w = co_await a.write_lock("rw", 5s);
    BOOST_TEST(w.key().starts_with(cfg.locks.prefix + "rw/write/"));
    BOOST_TEST(w.lease() != session->lease());
    BOOST_TEST((co_await granted(a, w)) == 5);

    // A reader waits for the writer; its key is in etcd, it does not hold the lock.
    lock_handle r;
    bool read_taken = false;
    asio::co_spawn(io, b.read_lock("rw", 6s), [&](std::exception_ptr e, lock_handle h) {
      report_failure(e, "read_lock");
      r = std::move(h);
      read_taken = true;
    });
    co_await eventually(
        [&]() -> asio::awaitable<bool> {
          range_options o;
          o.prefix = true;
          co_return (co_await a.etcd().range(cfg.locks.prefix + "rw/read/", o)).kvs.size() == 1;
        },
        5s, "the reader's key");
    BOOST_TEST((co_await w.is_held()));  // (one more round trip for the reader to wrongly win)
    BOOST_TEST(!read_taken);
    auto writer_lease = w.lease();
    co_await w.release();
    co_await eventually([&] { return read_taken; }, 5s, "the reader takes the lock");
    BOOST_TEST(r.held());
    BOOST_TEST((co_await granted(b, r)) == 6);
    BOOST_TEST((co_await a.etcd().lease_time_to_live(writer_lease)).ttl == -1);  // revoked

    // Readers share: a second reader (the session's lease, ttl 0) holds at once.
    auto r2 = co_await with_timeout(a.read_lock("rw"), 5s);
    BOOST_TEST(r2.lease() == session->lease());
    BOOST_TEST(r2.held());
    co_await r.release();
    co_await r2.release();

    // Semaphore with 2 permits and TTLs: two holders, the third waits until one leaves.
    auto s1 = co_await a.acquire_semaphore("sem", 2, 4s);
    auto s2 = co_await b.acquire_semaphore("sem", 2, 4s);
    BOOST_TEST(s1.key().starts_with(cfg.locks.prefix + "sem/"));
    BOOST_TEST((co_await granted(a, s1)) == 4);
    co_await expect_failure(with_timeout(a.acquire_semaphore("sem", 2, 4s), 500ms), error::timeout);
    co_await s2.release();
    auto s3 = co_await with_timeout(a.acquire_semaphore("sem", 2, 4s), 5s);
    BOOST_TEST(s3.held());

    // try_lock with a TTL: a lease of its own; the other coordinator is refused at once.
    auto t = co_await a.try_lock("t", 7s);
    BOOST_TEST((co_await granted(a, t)) == 7);
    co_await expect_failure(b.try_lock("t"), error::locked);
    co_await expect_failure(b.try_lock("t", 3s), error::locked);
    co_await expect_failure(a.write_lock("rw", -1s), error::invalid_argument, "ttl");
    co_await expect_failure(a.acquire_semaphore("sem", 0), error::invalid_argument, "permits");
    co_await a.close();
    co_await b.close();
  });
}

BOOST_AUTO_TEST_CASE(reentrant_locks_count_up_and_modules_prefix_every_kind) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("reentrant");
    coordinator a(io.get_executor(), cfg);
    coordinator b(io.get_executor(), cfg);
    auto first = co_await a.reentrant_lock("job");
    auto second = co_await with_timeout(a.reentrant_lock("job"), 5s);  // counts, no wait
    BOOST_TEST(second.key() == first.key());
    BOOST_TEST(first.acquire_count() == 2);
    co_await expect_failure(b.try_lock("job"), error::locked);
    co_await second.release();
    BOOST_TEST(first.held());
    BOOST_TEST(first.acquire_count() == 1);
    co_await expect_failure(b.try_lock("job"), error::locked);
    co_await first.release();
    auto theirs = co_await with_timeout(b.try_lock("job"), 5s);
    BOOST_TEST(theirs.held());
    // A reentrant lock with a TTL of its own also counts up.
    auto own = co_await a.reentrant_lock("own", 6s);
    auto again = co_await with_timeout(a.reentrant_lock("own", 6s), 5s);
    BOOST_TEST(again.acquire_count() == 2);
    BOOST_TEST((co_await granted(a, own)) == 6);

    // Every kind through a module: "<locks.prefix><module>/<name>/...".
    auto orders = a.module("orders");
    const auto base = cfg.locks.prefix + "orders/";
    auto m = co_await orders.lock("m", 5s);
    BOOST_TEST(m.key().starts_with(base + "m/"));
    auto tr = co_await orders.try_lock("t", 5s);
    BOOST_TEST(tr.key().starts_with(base + "t/"));
    auto re = co_await orders.reentrant_lock("r");
    BOOST_TEST(re.key().starts_with(base + "r/"));
    auto rd = co_await orders.read_lock("rw", 5s);
    BOOST_TEST(rd.key().starts_with(base + "rw/read/"));
    BOOST_TEST((co_await granted(a, rd)) == 5);
    co_await rd.release();
    auto wr = co_await orders.write_lock("rw", 5s);
    BOOST_TEST(wr.key().starts_with(base + "rw/write/"));
    auto sem = co_await orders.acquire_semaphore("s", 3, 5s);
    BOOST_TEST(sem.key().starts_with(base + "s/"));
    // The module's names exclude the coordinator's own under the same full name only.
    co_await expect_failure(b.try_lock("orders/t"), error::locked);
    auto plain = co_await with_timeout(b.try_lock("t"), 5s);
    BOOST_TEST(plain.held());
    co_await a.close();  // releases everything it handed out
    BOOST_TEST(!wr.held());
    auto after = co_await with_timeout(b.write_lock("orders/rw"), 5s);
    BOOST_TEST(after.held());
    co_await b.close();
  });
}

BOOST_AUTO_TEST_CASE(global_functions_of_the_seeds_api) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    co_await expect_failure(ping(), error::not_initialized);
    co_await expect_failure(try_acquire_lock("x"), error::not_initialized);
    co_await expect_failure(acquire_reentrant_lock("x"), error::not_initialized);
    co_await expect_failure(acquire_read_lock("x"), error::not_initialized);
    co_await expect_failure(acquire_write_lock("x"), error::not_initialized);
    co_await expect_failure(get_service_connection("x", pick_strategy::random),
                            error::not_initialized);
    co_await expect_failure(delete_config("x"), error::not_initialized);

    auto cfg = scoped_config("global-seeds");
    init(io.get_executor(), cfg);
    coordinator other(io.get_executor(), cfg);
    auto st = co_await ping();
    BOOST_TEST(!st.version.empty());
    BOOST_TEST(st.header.revision > 0);

    auto held = co_await try_acquire_lock("t", 5s);
    BOOST_TEST(held.key().starts_with(cfg.locks.prefix + "t/"));
    co_await expect_failure(other.try_lock("t"), error::locked);
    auto mine = co_await other.lock("o");
    co_await expect_failure(try_acquire_lock("o"), error::locked);

    auto r1 = co_await acquire_reentrant_lock("r");
    auto r2 = co_await with_timeout(acquire_reentrant_lock("r"), 5s);
    BOOST_TEST(r2.acquire_count() == 2);
    co_await r2.release();
    BOOST_TEST(r1.acquire_count() == 1);
    co_await expect_failure(other.try_lock("r"), error::locked);

    auto rd = co_await acquire_read_lock("rw", 4s);
    BOOST_TEST(rd.key().starts_with(cfg.locks.prefix + "rw/read/"));
    co_await expect_failure(with_timeout(other.write_lock("rw"), 500ms), error::timeout);
    co_await rd.release();
    auto wr = co_await with_timeout(acquire_write_lock("rw"), 5s);
    BOOST_TEST(wr.key().starts_with(cfg.locks.prefix + "rw/write/"));
    co_await expect_failure(with_timeout(other.read_lock("rw"), 500ms), error::timeout);

    // get_service_connection: a TCP connection to the registered instance.
    asio::ip::tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
    service_info i;
    i.name = "db";
    i.instance_id = "d1";
    i.address = "127.0.0.1:" + std::to_string(listener.local_endpoint().port());
    co_await register_service(i);
    auto conn = co_await get_service_connection("db", pick_strategy::least_connections);
    BOOST_TEST(conn.instance().instance_id == "d1");
    BOOST_TEST(conn.socket().is_open());
    auto peer = co_await listener.async_accept(asio::use_awaitable);
    BOOST_TEST(peer.remote_endpoint() == conn.socket().local_endpoint());
    co_await expect_failure(get_service_connection("nobody", pick_strategy::round_robin),
                            error::unavailable, "no healthy instance");

    // delete_config: a stale version conflicts, a missing key is not_found.
    auto v = co_await set_config("k", "1");
    co_await set_config("k", "2");
    co_await expect_failure(delete_config("k", v.version), error::conflict);
    BOOST_TEST((co_await get_config("k")).value == "2");  // nothing lost
    co_await delete_config("k", v.version + 1);
    co_await expect_failure(get_config("k"), error::not_found);
    co_await expect_failure(delete_config("k"), error::not_found);
    co_await expect_failure(delete_config("never"), error::not_found);

    co_await shutdown();
    // shutdown() released every lock it handed out.
    auto again = co_await with_timeout(other.write_lock("rw"), 5s);
    BOOST_TEST(again.held());
    auto r = co_await with_timeout(other.try_lock("r"), 5s);
    BOOST_TEST(r.held());
    co_await other.close();
  });
}

// An empty name is invalid_argument where the caller awaits, not where it calls: for a module
// (whose "<module>/" prefix alone is not empty) and for leader() too; an empty leadership's
// proclaim() is not_leader.
BOOST_AUTO_TEST_CASE(empty_names_fail_at_the_await_for_modules_and_elections) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = scoped_config("empty-names");
    coordinator coord(io.get_executor(), cfg);
    auto orders = coord.module("orders");
    co_await expect_failure(orders.lock(""), error::invalid_argument, "lock name");
    co_await expect_failure(orders.try_lock("", 5s), error::invalid_argument, "lock name");
    co_await expect_failure(orders.reentrant_lock(""), error::invalid_argument, "lock name");
    co_await expect_failure(orders.read_lock(""), error::invalid_argument, "lock name");
    co_await expect_failure(orders.write_lock(""), error::invalid_argument, "lock name");
    co_await expect_failure(orders.acquire_semaphore("", 2), error::invalid_argument,
                            "semaphore name");
    co_await expect_failure(orders.campaign("", "me"), error::invalid_argument, "election name");
    co_await expect_failure(coord.leader(""), error::invalid_argument, "election name");
    leadership none;
    co_await expect_failure(none.proclaim("x"), error::not_leader);
    // Nothing was written under the module's prefix.
    range_options count;
    count.prefix = true;
    count.count_only = true;
    BOOST_TEST((co_await coord.etcd().range(cfg.locks.prefix, count)).count == 0);
    co_await coord.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()
