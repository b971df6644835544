// The step-injection table (issue #29; the harness: faults_table.hpp) for the recipes built on
// sessions and claims: every lock kind, elections, queues, barriers, the STM, registrations and
// the kv_cache. Each session-based row creates its session inside the operation (so the lease
// grant and the revoke are faulted too), and checks that no key is left under the recipe's name
// once its session is closed and every held request has been let through.
#include "coordination/barrier.hpp"
#include "coordination/election.hpp"
#include "coordination/kv_cache.hpp"
#include "coordination/lock.hpp"
#include "coordination/queue.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/stm.hpp"
#include "faults_table.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace coordination::test::faults;
using namespace std::chrono_literals;

namespace {

asio::awaitable<std::size_t> keys_under(client& c, const std::string& prefix) {
  range_options o;
  o.prefix = true;
  o.keys_only = true;
  co_return (co_await c.range(prefix, o)).kvs.size();
}

asio::awaitable<void> no_key_left(ctx& x, ended) {
  BOOST_TEST(co_await keys_under(x.direct, x.prefix) == 0u, "keys left under " << x.prefix);
}

// The holder of `name` by etcd: the key with the lowest create revision under `name/`.
asio::awaitable<std::optional<key_value>> first_under(client& c, const std::string& name) {
  range_options o;
  o.prefix = true;
  o.target = sort_target::create;
  o.order = sort_order::ascend;
  o.limit = 1;
  auto r = co_await c.range(name + "/", o);
  if (r.kvs.empty()) co_return std::nullopt;
  co_return r.kvs.front();
}

// Releases and closes whatever the operation still holds; a failure there is the fault's (the
// row then checks that nothing is left all the same).
asio::awaitable<void> quietly(asio::awaitable<void> op) {
  try {
    co_await std::move(op);
  } catch (const coordination_error&) {
  }
}

using acquire_fn = std::function<asio::awaitable<lock_handle>(locker&, std::string)>;

// A lock kind: a session, the acquisition, what etcd says of it, the release, the session's
// close. Contract: on success our key is the name's first (the holder) with our fencing token;
// after the close no key is left.
row lock_row(std::string name, acquire_fn acquire, bool holder_is_first = true) {
  return make_row(
      name, {}, {},
      [acquire, holder_is_first](ctx& x) -> asio::awaitable<ended> {
        auto s = co_await session::create(x.c);
        locker l(s);
        auto lock_name = x.prefix + "L";
        std::optional<lock_handle> h;
        auto body = [&]() -> asio::awaitable<void> { h.emplace(co_await acquire(l, lock_name)); };
        auto how = co_await outcome(body());
        if (how == ended::ok) {
          auto kv = co_await x.direct.get(h->key());
          BOOST_TEST_REQUIRE(kv.has_value(), "the holder's key is missing");
          BOOST_TEST(kv->create_revision == h->fencing_token());
          if (holder_is_first) {
            auto first = co_await first_under(x.direct, lock_name);
            BOOST_TEST((first && first->key == h->key()), "held but not first");
          }
          co_await quietly(h->release());
        }
        co_await quietly(s.close());
        co_return how;
      },
      no_key_left);
}

std::vector<row> lock_rows() {
  std::vector<row> rows;
  rows.push_back(lock_row("lock", [](locker& l, std::string n) { return l.lock(n); }));
  rows.push_back(lock_row("lock-ttl", [](locker& l, std::string n) { return l.lock(n, 5s); }));
  rows.push_back(lock_row("try-lock", [](locker& l, std::string n) { return l.try_lock(n); }));
  rows.push_back(lock_row(
      "read-lock", [](locker& l, std::string n) { return l.read_lock(n); }, false));
  rows.push_back(lock_row("write-lock", [](locker& l, std::string n) { return l.write_lock(n); }));
  rows.push_back(lock_row(
      "semaphore", [](locker& l, std::string n) { return l.acquire_semaphore(n, 2); }, false));
  // A reentrant lock taken twice by one session: one key, held until the second release.
  rows.push_back(make_row(
      "reentrant-lock", {}, {},
      [](ctx& x) -> asio::awaitable<ended> {
        auto s = co_await session::create(x.c);
        locker_options lo;
        lo.reentrant = true;
        locker l(s, lo);
        auto lock_name = x.prefix + "L";
        std::optional<lock_handle> a, b;
        auto body = [&]() -> asio::awaitable<void> {
          a.emplace(co_await l.lock(lock_name));
          b.emplace(co_await l.lock(lock_name));
        };
        auto how = co_await outcome(body());
        if (how == ended::ok) {
          BOOST_TEST(a->key() == b->key());
          co_await quietly(b->release());
          BOOST_TEST((co_await x.direct.get(a->key())).has_value(), "released by the inner hold");
          co_await quietly(a->release());
        }
        co_await quietly(s.close());
        co_return how;
      },
      no_key_left));
  return rows;
}

std::vector<row> election_rows() {
  std::vector<row> rows;
  // Campaign, proclaim, resign: on success the leader by etcd is us with the proclaimed value.
  rows.push_back(make_row(
      "election", {}, {},
      [](ctx& x) -> asio::awaitable<ended> {
        auto s = co_await session::create(x.c);
        elector e(s);
        auto name = x.prefix + "E";
        std::optional<leadership> lead;
        auto body = [&]() -> asio::awaitable<void> {
          lead.emplace(co_await e.campaign(name, "v1"));
          co_await lead->proclaim("v2");
        };
        auto how = co_await outcome(body());
        if (how == ended::ok) {
          auto first = co_await first_under(x.direct, name);
          BOOST_TEST_REQUIRE(first.has_value());
          BOOST_TEST(first->key == lead->key());
          BOOST_TEST(first->value == "v2");
          co_await quietly(lead->resign());
        }
        co_await quietly(s.close());
        co_return how;
      },
      no_key_left));
  return rows;
}

// Items of a queue that hold `value`.
asio::awaitable<int> items_with(client& c, const std::string& items, const std::string& value) {
  range_options o;
  o.prefix = true;
  int n = 0;
  for (auto& kv : (co_await c.range(items, o)).kvs) n += kv.value == value ? 1 : 0;
  co_return n;
}

// A push of "mine": the item once after success, at most once otherwise.
template <class Q>
row push_row(std::string name, std::function<asio::awaitable<std::int64_t>(Q&)> push) {
  return make_row(
      std::move(name), {}, {},
      [push](ctx& x) -> asio::awaitable<ended> {
        Q q(x.c, x.prefix + "Q");
        co_return co_await outcome(push(q));
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        check_applied(how, co_await items_with(x.direct, x.prefix + "Q/items/", "mine"));
      });
}

// A try_pop of the queue's one item (pushed by `push`) while another client pops it too: taken at
// most once in all; after our success, taken or there exactly once (after an unknown outcome,
// possibly by nobody that knows).
template <class Q>
row pop_row(std::string name, std::function<asio::awaitable<std::int64_t>(Q&)> push) {
  return make_row(
      std::move(name),
      [push](ctx& x) -> asio::awaitable<void> {
        Q q(x.direct, x.prefix + "Q");
        co_await push(q);
      },
      [](ctx& x) -> asio::awaitable<void> {
        Q q(x.direct, x.prefix + "Q");
        if (auto v = co_await q.try_pop()) x.notes.push_back("other:" + *v);
      },
      [](ctx& x) -> asio::awaitable<ended> {
        Q q(x.c, x.prefix + "Q");
        auto body = [&]() -> asio::awaitable<void> {
          if (auto v = co_await q.try_pop()) x.notes.push_back("mine:" + *v);
        };
        co_return co_await outcome(body());
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        auto left = co_await items_with(x.direct, x.prefix + "Q/items/", "item");
        int taken = static_cast<int>(x.notes.size());
        BOOST_TEST(taken + left <= 1, "the item was taken twice");
        if (how == ended::ok) BOOST_TEST(taken + left == 1, "the item was lost");
      });
}

std::vector<row> queue_rows() {
  std::vector<row> rows;
  rows.push_back(push_row<queue>("queue-push", [](queue& q) { return q.push("mine"); }));
  rows.push_back(push_row<priority_queue>("priority-queue-push",
                                          [](priority_queue& q) { return q.push("mine", 3); }));
  rows.push_back(pop_row<queue>("queue-pop", [](queue& q) { return q.push("item"); }));
  rows.push_back(pop_row<priority_queue>("priority-queue-pop",
                                         [](priority_queue& q) { return q.push("item", 2); }));
  return rows;
}

std::vector<row> barrier_rows() {
  std::vector<row> rows;
  rows.push_back(make_row(
      "barrier", {}, {},
      [](ctx& x) -> asio::awaitable<ended> {
        barrier b(x.c, x.prefix + "B");
        auto body = [&]() -> asio::awaitable<void> {
          co_await b.hold();
          co_await b.release();
          co_await b.wait();
        };
        auto how = co_await outcome(body());
        co_return how;
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        if (how == ended::ok) co_await no_key_left(x, how);
      }));
  // One participant of a double barrier of one: enter and leave; nothing left after the close.
  rows.push_back(make_row(
      "double-barrier", {}, {},
      [](ctx& x) -> asio::awaitable<ended> {
        auto s = co_await session::create(x.c);
        double_barrier b(s, x.prefix + "D", 1);
        auto body = [&]() -> asio::awaitable<void> {
          co_await b.enter();
          co_await b.leave();
        };
        auto how = co_await outcome(body());
        co_await quietly(s.close());
        co_return how;
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        // (ready is deleted by the last to leave: only after a leave that succeeded)
        if (how == ended::ok) co_await no_key_left(x, how);
        BOOST_TEST(co_await keys_under(x.direct, x.prefix + "D/waiters/") == 0u);
      }));
  return rows;
}

std::vector<row> stm_rows() {
  std::vector<row> rows;
  // Moves 10 from a to b while another client moves 1 from b to a: the sum stays, and ours is
  // applied once after success, at most once after an unknown outcome.
  rows.push_back(make_row(
      "stm-transfer",
      [](ctx& x) -> asio::awaitable<void> {
        co_await x.direct.put(x.prefix + "a", "100");
        co_await x.direct.put(x.prefix + "b", "100");
      },
      [](ctx& x) -> asio::awaitable<void> {
        auto p = x.prefix;
        // (named first: GCC 12 destroys a temporary std::function in a co_await twice)
        std::function<asio::awaitable<void>(stm_txn&)> move_one =
            [p](stm_txn& t) -> asio::awaitable<void> {
          auto a = std::stoi(*co_await t.get(p + "a"));
          auto b = std::stoi(*co_await t.get(p + "b"));
          t.put(p + "a", std::to_string(a + 1));
          t.put(p + "b", std::to_string(b - 1));
        };
        co_await run_stm(x.direct, move_one);
        x.notes.push_back("other");
      },
      [](ctx& x) -> asio::awaitable<ended> {
        auto p = x.prefix;
        std::function<asio::awaitable<void>(stm_txn&)> move_ten =
            [p](stm_txn& t) -> asio::awaitable<void> {
          auto a = std::stoi(*co_await t.get(p + "a"));
          auto b = std::stoi(*co_await t.get(p + "b"));
          t.put(p + "a", std::to_string(a - 10));
          t.put(p + "b", std::to_string(b + 10));
        };
        co_return co_await outcome(run_stm(x.c, move_ten));
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        auto a = std::stoi((co_await x.direct.get(x.prefix + "a"))->value);
        auto b = std::stoi((co_await x.direct.get(x.prefix + "b"))->value);
        BOOST_TEST(a + b == 200);
        int theirs = x.notes.empty() ? 0 : 1;
        int ours = (100 + theirs - a);
        BOOST_TEST(ours % 10 == 0, "a = " << a);
        check_applied(how, ours / 10);
      }));
  return rows;
}

std::vector<row> registry_rows() {
  std::vector<row> rows;
  // Register, then close the registry: on success the record was there; after the close (and
  // any late copy of the register) nothing is left.
  rows.push_back(make_row(
      "registry-register", {}, {},
      [](ctx& x) -> asio::awaitable<ended> {
        registry_options o;
        o.prefix = x.prefix + "svc/";
        service_registry reg(x.c, o);
        service_info i;
        i.name = "api";
        i.instance_id = "i1";
        i.address = "127.0.0.1:80";
        auto how = co_await outcome(reg.register_service(i, 10s));
        if (how == ended::ok) BOOST_TEST((co_await x.direct.get(o.prefix + "api/i1")).has_value());
        co_await quietly(reg.close());
        co_return how;
      },
      no_key_left));
  // A health update of another process's instance while that process rewrites its record: the
  // update is applied at most once and never undoes the other's newer record.
  rows.push_back(make_row(
      "registry-health",
      [](ctx& x) -> asio::awaitable<void> {
        registry_options o;
        o.prefix = x.prefix + "svc/";
        service_registry d(x.direct, o);
        service_info i;
        i.name = "api";
        i.instance_id = "i1";
        i.address = "127.0.0.1:80";
        co_await d.register_service(i, 10s);
        // The record as the registry writes it, kept without a lease once the registry closes.
        auto record = co_await x.direct.get(o.prefix + "api/i1");
        BOOST_TEST_REQUIRE(record.has_value());
        co_await d.close();
        co_await x.direct.put(o.prefix + "api/i1", record->value);
      },
      {},
      [](ctx& x) -> asio::awaitable<ended> {
        registry_options o;
        o.prefix = x.prefix + "svc/";
        service_registry reg(x.c, o);
        auto how = co_await outcome(reg.update_health("api", "i1", health_status::maintenance),
                                    error::not_found);
        co_await quietly(reg.close());
        co_return how;
      },
      [](ctx& x, ended how) -> asio::awaitable<void> {
        auto kv = co_await x.direct.get(x.prefix + "svc/api/i1");
        BOOST_TEST_REQUIRE(kv.has_value(), "the record is gone");
        bool maintenance = kv->value.find("maintenance") != std::string::npos;
        if (how == ended::ok) BOOST_TEST(maintenance);
        if (how == ended::refused) BOOST_TEST(!maintenance);
      }));
  return rows;
}

std::vector<row> kv_cache_rows() {
  std::vector<row> rows;
  // Open a cache of a prefix, write beside it, wait for that revision: the cache equals etcd.
  rows.push_back(make_row(
      "kv-cache",
      [](ctx& x) -> asio::awaitable<void> {
        for (int i = 0; i < 5; ++i) co_await x.direct.put(x.prefix + std::to_string(i), "v");
      },
      {},
      [](ctx& x) -> asio::awaitable<ended> {
        std::optional<kv_cache> cache;
        auto body = [&]() -> asio::awaitable<void> {
          cache.emplace(co_await kv_cache::open(x.c, x.prefix));
          auto put = co_await x.direct.put(x.prefix + "new", "w");
          co_await cache->wait_for_revision(put.header.revision);
        };
        auto how = co_await outcome(body());
        if (how == ended::ok) {
          range_options o;
          o.prefix = true;
          auto now = co_await x.direct.range(x.prefix, o);
          BOOST_TEST(cache->list().size() == now.kvs.size());
          for (auto& kv : now.kvs) {
            auto mine = cache->get(kv.key);
            BOOST_TEST((mine && mine->value == kv.value), kv.key);
          }
        }
        if (cache) cache->close();
        co_return how;
      },
      [](ctx&, ended how) -> asio::awaitable<void> {
        BOOST_TEST((how == ended::ok), "reads only: every fault is retried");
        co_return;
      }));
  return rows;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(locks_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(lock_rows());
}

BOOST_AUTO_TEST_CASE(elections_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(election_rows());
}

BOOST_AUTO_TEST_CASE(queues_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(queue_rows());
}

BOOST_AUTO_TEST_CASE(barriers_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(barrier_rows());
}

BOOST_AUTO_TEST_CASE(stm_keeps_its_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(stm_rows());
}

BOOST_AUTO_TEST_CASE(registrations_keep_their_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(registry_rows());
}

BOOST_AUTO_TEST_CASE(kv_cache_keeps_its_contract_under_every_fault) {
  if (using_external_cluster()) return;
  run_table(kv_cache_rows());
}

BOOST_AUTO_TEST_SUITE_END()
