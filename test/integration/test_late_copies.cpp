// A late copy of a lock, semaphore, campaign or registration key's create (issue #29): the
// create's first attempt is held by the proxy (a paused member's gateway) and the client's resend
// is applied; the holder lets the key go, and then the held copy reaches etcd and re-creates the
// key on the holder's lease, while its session lives on. The session must delete that copy (it
// holds the name for nobody), so another client takes the name at once. Checked from a watch of
// the key's history: the copy's put on our lease, then its deletion.
#include "coordination/election.hpp"
#include "coordination/lock.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/with_timeout.hpp"
#include "faults_table.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace coordination::test::faults;
using namespace std::chrono_literals;

namespace {

enum class kind { mutex, semaphore, election };

// Takes `name` as `k` on `s` and lets it go again; returns the key it held.
asio::awaitable<std::string> take_and_let_go(session& s, kind k, const std::string& name) {
  locker l(s);
  std::string key;
  if (k == kind::mutex) {
    auto h = co_await l.lock(name);
    key = h.key();
    co_await h.release();
  } else if (k == kind::semaphore) {
    auto h = co_await l.acquire_semaphore(name, 1);
    key = h.key();
    co_await h.release();
  } else {
    elector e(s);
    auto lead = co_await e.campaign(name, "a");
    key = lead.key();
    co_await lead.resign();
  }
  co_return key;
}

// Another client takes the name (and lets it go): within 5 s, as nothing but a copy could block.
asio::awaitable<void> other_takes(client& c, kind k, const std::string& name) {
  auto s = co_await session::create(c);
  auto key = co_await with_timeout(take_and_let_go(s, k, name), 5s);
  BOOST_TEST(!key.empty());
  co_await s.close();
}

// `key` is gone; the proxy holds its create's first copy. Lets it through, and expects etcd's
// history to show it re-create the key on `lease`, then its deletion (within 5 s each).
asio::awaitable<void> copy_comes_and_goes(client& direct, fault_proxy& proxy,
                                          const std::string& key, std::int64_t lease) {
  auto gone = co_await direct.range(key, {});
  BOOST_TEST(gone.kvs.empty());
  watch_options wo;
  wo.start_revision = gone.header.revision + 1;
  auto w = co_await direct.watch(key, wo);
  BOOST_TEST(co_await proxy.release_held() == 1u);
  std::vector<watch_event> seen;
  while (seen.size() < 2) {
    auto b = co_await with_timeout(w.next(), 5s);
    seen.insert(seen.end(), b.events.begin(), b.events.end());
  }
  BOOST_TEST((seen[0].type == event_type::put && seen[0].kv.lease == lease),
             "the late copy re-created the key on the holder's lease");
  BOOST_TEST((seen[1].type == event_type::del), "the holder's session deleted the late copy");
}

void late_copy_is_removed(kind k) {
  if (using_external_cluster()) return;  // (the proxy reads requests: plain HTTP only)
  run([k](asio::io_context& io) -> asio::awaitable<void> {
    auto endpoints = shared_endpoints();
    fault_proxy proxy(io.get_executor(), endpoints.front());
    client c(io.get_executor(), faulty_config(proxy.url()));
    client direct(io.get_executor(), config_for(endpoints));
    auto name = unique_prefix("late-copy") + "N";
    auto s = co_await session::create(c);
    // The first txn after the session's grant is the create: held, its connection reset.
    proxy.add_rule(rule_at(fault::late_apply, "/v3/kv/txn", 1));
    auto key = co_await take_and_let_go(s, k, name);
    BOOST_TEST_REQUIRE(proxy.held() == 1u);
    co_await copy_comes_and_goes(direct, proxy, key, s.lease());
    co_await other_takes(direct, k, name);
    // The session still works for the same name.
    auto again = co_await take_and_let_go(s, k, name);
    BOOST_TEST((again == key || k == kind::semaphore));
    co_await s.close();
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(late_copies)

BOOST_AUTO_TEST_CASE(a_late_copy_of_a_lock_create_is_removed) {
  late_copy_is_removed(kind::mutex);
}

BOOST_AUTO_TEST_CASE(a_late_copy_of_a_semaphore_create_is_removed) {
  late_copy_is_removed(kind::semaphore);
}

BOOST_AUTO_TEST_CASE(a_late_copy_of_a_campaign_create_is_removed) {
  late_copy_is_removed(kind::election);
}

// The same for a registration's put-if-absent, held and applied after deregister() while the
// registry stays open: the instance must not come back.
BOOST_AUTO_TEST_CASE(a_late_copy_of_a_registration_is_removed) {
  if (using_external_cluster()) return;
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto endpoints = shared_endpoints();
    fault_proxy proxy(io.get_executor(), endpoints.front());
    client c(io.get_executor(), faulty_config(proxy.url()));
    client direct(io.get_executor(), config_for(endpoints));
    registry_options o;
    o.prefix = unique_prefix("late-copy") + "svc/";
    o.enable_health_check = false;
    service_registry reg(c, o);
    service_info i;
    i.name = "api";
    i.instance_id = "i1";
    i.address = "127.0.0.1:80";
    auto key = o.prefix + "api/i1";
    proxy.add_rule(rule_at(fault::late_apply, "/v3/kv/txn", 1));
    auto registered = co_await reg.register_service(i, 10s);
    BOOST_TEST_REQUIRE(proxy.held() == 1u);
    co_await reg.deregister("api", "i1");
    co_await copy_comes_and_goes(direct, proxy, key, registered.lease);
    // Registered again by the same registry: left alone.
    co_await reg.register_service(i, 10s);
    BOOST_TEST((co_await direct.get(key)).has_value());
    co_await reg.close();
    BOOST_TEST(!(co_await direct.get(key)).has_value());
  });
}

BOOST_AUTO_TEST_SUITE_END()
