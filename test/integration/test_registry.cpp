#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <set>
#include <thread>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/registry.hpp"
#include "coordination/with_timeout.hpp"
#include "tcp_proxy.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

registry_options under(const std::string& name) {
  registry_options o;
  o.prefix = unique_prefix(name);
  return o;
}

service_info instance(std::string name, std::string id, std::string address) {
  service_info i;
  i.name = std::move(name);
  i.instance_id = std::move(id);
  i.address = std::move(address);
  return i;
}

std::vector<std::string> ids(const std::vector<service_info>& l) {
  std::vector<std::string> out;
  for (auto& i : l) out.push_back(i.instance_id);
  return out;
}
std::vector<std::string> ids(const service_list& l) {
  return ids(*l);
}

// A loopback listener that accepts (and keeps) connections until closed.
struct listener {
  explicit listener(asio::io_context& io) : acceptor(io, tcp::endpoint(tcp::v4(), 0)) { accept(); }
  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      accepted.push_back(std::move(s));
      accept();
    });
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  tcp::acceptor acceptor;
  std::vector<tcp::socket> accepted;
};

// An address nothing listens on (a port just released).
std::string dead_address(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(tcp::v4(), 0));
  auto port = a.local_endpoint().port();
  a.close();
  return "127.0.0.1:" + std::to_string(port);
}

// Next list from the watch that satisfies `ok` (bounded).
template <class F>
asio::awaitable<service_list> until(service_watch& w, F ok, std::chrono::seconds d = 10s) {
  auto give_up = std::chrono::steady_clock::now() + d;
  for (;;) {
    auto left = give_up - std::chrono::steady_clock::now();
    BOOST_REQUIRE_MESSAGE(left > 0s, "the watch never showed the expected list");
    auto u = co_await with_timeout(w.next(), left);
    if (ok(*u.instances)) co_return u.instances;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(registry_suite)

BOOST_AUTO_TEST_CASE(register_discover_deregister) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("reg");
    service_registry reg(c, o);
    auto a = instance("orders", "a-1", "127.0.0.1:7001");
    a.metadata = {{"zone", "eu-1"}, {"version", "2.3"}};
    a.weight = 3;
    auto stored = co_await reg.register_service(a, 10s);
    BOOST_TEST(stored.lease != 0);
    BOOST_TEST((stored.register_time > wall_time{}));
    co_await reg.register_service(instance("orders", "a-2", "localhost:7002"));

    // Layout: <prefix><name>/<id>, JSON, bound to the lease.
    auto kv = co_await c.get(o.prefix + "orders/a-1");
    BOOST_REQUIRE(kv);
    BOOST_TEST(kv->lease == stored.lease);
    auto j = nlohmann::json::parse(kv->value);
    BOOST_TEST(j["address"] == "127.0.0.1:7001");
    BOOST_TEST(j["health"] == "healthy");
    BOOST_TEST(j["metadata"]["zone"] == "eu-1");

    // Another process (client) discovers them.
    client other(io.get_executor(), config_for(shared_endpoints()));
    service_registry view(other, o);
    BOOST_TEST(!view.cached("orders"));
    auto list = co_await view.discover("orders");
    auto found = ids(list);
    BOOST_TEST(found.size() == 2u);
    BOOST_TEST(found.at(0) == "a-1");
    BOOST_TEST(found.at(1) == "a-2");
    BOOST_TEST(list->at(0).metadata.at("version") == "2.3");
    BOOST_TEST(list->at(0).weight == 3u);
    BOOST_TEST(view.cached("orders") == list);  // served from the cache now
    BOOST_TEST((co_await view.discover("nobody"))->empty());
    BOOST_TEST(reg.registrations().size() == 2u);
    auto beat = co_await view.heartbeat("orders", "a-1");
    BOOST_TEST((beat > std::chrono::system_clock::now() - 20s));

    co_await reg.deregister("orders", "a-1");
    BOOST_TEST(!(co_await c.get(o.prefix + "orders/a-1")));
    co_await expect_failure(reg.deregister("orders", "a-1"), error::not_found);
    co_await expect_failure(view.heartbeat("orders", "a-1"), error::not_found);

    // Re-registering our own instance updates it.
    auto a2 = instance("orders", "a-2", "localhost:7003");
    co_await reg.register_service(a2);
    BOOST_TEST(nlohmann::json::parse((co_await c.get(o.prefix + "orders/a-2"))->value)["address"] ==
               "localhost:7003");
    co_await reg.close();
    BOOST_TEST(!(co_await c.get(o.prefix + "orders/a-2")));  // close deregisters
    co_await view.close();
  });
}

BOOST_AUTO_TEST_CASE(same_instance_from_two_processes_conflicts_unless_replace) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto o = under("dup");
    client c1(io.get_executor(), config_for(shared_endpoints()));
    client c2(io.get_executor(), config_for(shared_endpoints()));
    service_registry first(c1, o), second(c2, o);
    auto i = instance("api", "x", "127.0.0.1:80");
    auto mine = co_await first.register_service(i);
    co_await expect_failure(second.register_service(i), error::conflict, "replace");
    BOOST_TEST((co_await c1.get(o.prefix + "api/x"))->lease == mine.lease);
    register_options take;
    take.replace = true;
    auto theirs = co_await second.register_service(i, 0s, take);
    BOOST_TEST(theirs.lease != mine.lease);
    BOOST_TEST((co_await c1.get(o.prefix + "api/x"))->lease == theirs.lease);
  });
}

BOOST_AUTO_TEST_CASE(invalid_input_names_the_field) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    service_registry reg(c, under("bad"));
    co_await expect_failure(reg.register_service(instance("", "a", "h:1")), error::invalid_argument,
                            "service name");
    co_await expect_failure(reg.register_service(instance("a/b", "a", "h:1")),
                            error::invalid_argument, "service name");
    co_await expect_failure(reg.register_service(instance("s", "", "h:1")), error::invalid_argument,
                            "instance id");
    co_await expect_failure(reg.register_service(instance("s", "a b", "h:1")),
                            error::invalid_argument, "instance id");
    std::vector<std::string> bad_addresses{"",           "host",    "host:",   ":80",    "host:0",
                                           "host:65536", "host:8x", "[::1:80", "a b:80", "::1:80"};
    for (auto& addr : bad_addresses)
      co_await expect_failure(reg.register_service(instance("s", "a", addr)),
                              error::invalid_argument, "address");
    co_await reg.register_service(instance("s", "v6", "[::1]:80"));
    co_await expect_failure(reg.register_service(instance("s", "a", "h:1"), 100000s),
                            error::invalid_argument, "ttl");
    co_await expect_failure(reg.discover(""), error::invalid_argument, "service name");
    co_await expect_failure(reg.update_health("s", "nope", health_status::unhealthy),
                            error::not_found);
    registry_options bad;
    bad.ttl = 0s;
    BOOST_CHECK_EXCEPTION((void)service_registry(c, bad), coordination_error, [](auto& e) {
      return std::string(e.what()).find("registry.ttl") != std::string::npos;
    });
  });
}

BOOST_AUTO_TEST_CASE(unhealthy_instances_are_hidden_and_watch_sees_every_change) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("health");
    service_registry reg(c, o);
    client other(io.get_executor(), config_for(shared_endpoints()));
    service_registry view(other, o);
    auto w = co_await view.watch("pay");
    BOOST_TEST((co_await with_timeout(w.next(), 5s)).instances->empty());  // at watch time

    co_await reg.register_service(instance("pay", "p1", "127.0.0.1:1001"));
    auto l = co_await until(w, [](auto& l) { return l.size() == 1; });
    BOOST_TEST(l->at(0).instance_id == "p1");
    co_await reg.register_service(instance("pay", "p2", "127.0.0.1:1002"));
    co_await until(w, [](auto& l) { return l.size() == 2; });

    co_await reg.update_health("pay", "p1", health_status::unhealthy);  // update
    l = co_await until(
        w, [](auto& l) { return l.size() == 2 && l[0].health == health_status::unhealthy; });
    auto healthy = ids(co_await view.discover("pay"));
    BOOST_TEST(healthy.size() == 1u);
    BOOST_TEST(healthy.at(0) == "p2");
    BOOST_TEST((co_await view.discover_all("pay"))->size() == 2u);
    co_await view.update_health("pay", "p2", health_status::maintenance);  // from anyone
    co_await until(w, [](auto& l) { return l[1].health == health_status::maintenance; });
    BOOST_TEST((co_await view.discover("pay"))->empty());
    co_await expect_failure(view.pick("pay"), error::not_found, "no healthy instance");
    BOOST_TEST((co_await c.get(o.prefix + "pay/p1"))->lease != 0);  // health kept the lease
    co_await reg.update_health("pay", "p1", health_status::healthy);
    co_await until(w, [](auto& l) { return l[0].health == health_status::healthy; });
    healthy = ids(co_await view.discover("pay"));
    BOOST_TEST(healthy.size() == 1u);
    BOOST_TEST(healthy.at(0) == "p1");

    co_await reg.deregister("pay", "p2");  // remove
    l = co_await until(w, [](auto& l) { return l.size() == 1; });
    BOOST_TEST(l->at(0).instance_id == "p1");
  });
}

BOOST_AUTO_TEST_CASE(a_watch_delivers_what_was_added_removed_and_updated) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("delta");
    service_registry reg(c, o);
    co_await reg.register_service(instance("api", "a0", "127.0.0.1:1000"));
    client other(io.get_executor(), config_for(shared_endpoints()));
    service_registry view(other, o);
    auto w = co_await view.watch("api");
    auto next = [&]() -> asio::awaitable<service_update> {
      for (;;) {  // (a list that changed nothing, e.g. a rewrite with the same record: skip)
        auto u = co_await with_timeout(w.next(), 10s);
        if (!u.empty()) co_return u;
      }
    };
    auto u = co_await next();  // the first update: everything there is "added"
    BOOST_TEST(ids(u.added) == std::vector<std::string>{"a0"});
    BOOST_TEST(u.removed.empty());

    co_await reg.register_service(instance("api", "a1", "127.0.0.1:1001"));
    u = co_await next();
    BOOST_TEST(ids(u.added) == std::vector<std::string>{"a1"});
    BOOST_TEST(u.removed.empty());
    BOOST_TEST(u.updated.empty());
    BOOST_TEST(u.instances->size() == 2u);

    co_await reg.update_health("api", "a0", health_status::unhealthy);
    u = co_await next();
    BOOST_TEST(u.added.empty());
    BOOST_TEST(u.removed.empty());
    BOOST_REQUIRE(u.updated.size() == 1u);
    BOOST_TEST(u.updated[0].instance_id == "a0");
    BOOST_TEST((u.updated[0].health == health_status::unhealthy));

    co_await reg.deregister("api", "a1");
    u = co_await next();
    BOOST_TEST(u.added.empty());
    BOOST_TEST(ids(u.removed) == std::vector<std::string>{"a1"});
    BOOST_TEST(u.removed[0].address == "127.0.0.1:1001");  // as it was
    BOOST_TEST(u.instances->size() == 1u);
    co_await reg.close();
    co_await view.close();
  });
}

BOOST_AUTO_TEST_CASE(process_death_removes_the_instance_from_other_caches_within_the_ttl) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto o = under("death");
    client c(io.get_executor(), config_for(shared_endpoints()));
    service_registry view(c, o);
    auto w = co_await view.watch("jobs");
    std::int64_t lease = 0;
    {
      client dying(io.get_executor(), config_for(shared_endpoints()));
      service_registry reg(dying, o);
      auto i = co_await reg.register_service(instance("jobs", "j1", "127.0.0.1:9"), 3s);
      lease = i.lease;
      co_await until(w, [](auto& l) { return l.size() == 1; });
      // The process dies: renewals stop (nothing revoked by it).
      for (auto& s : reg.registrations()) BOOST_TEST(s.lease == lease);
      dying.close();
    }
    // etcd expires the lease within its TTL: the other process's cache drops the instance.
    auto started = std::chrono::steady_clock::now();
    co_await until(
        w, [](auto& l) { return l.empty(); }, 10s);
    BOOST_TEST_MESSAGE("gone after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()
                                     << " ms");
    BOOST_TEST((co_await view.discover_all("jobs"))->empty());
    BOOST_TEST((co_await c.lease_time_to_live(lease)).ttl == -1);
  });
}

// The strategies themselves are unit-tested (test/unit/test_balancer.cpp); this checks that
// pick() reaches them with the cache's healthy instances and their weights.
BOOST_AUTO_TEST_CASE(pick_strategies_choose_among_the_cached_instances) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    service_registry reg(c, under("lb"));
    std::map<std::string, std::uint32_t> weights{{"w1", 1}, {"w2", 2}, {"w7", 7}};
    for (auto& [id, w] : weights) {
      auto i = instance("lb", id, "127.0.0.1:1");
      i.weight = w;
      co_await reg.register_service(i);
    }
    co_await reg.discover("lb");
    auto count = [&](pick_strategy s, int picks) -> asio::awaitable<std::map<std::string, int>> {
      std::map<std::string, int> n;
      for (int k = 0; k < picks; ++k) ++n[(co_await reg.pick("lb", s)).instance_id];
      co_return n;
    };
    auto rr = co_await count(pick_strategy::round_robin, 30);
    BOOST_TEST(rr.size() == 3u);
    for (auto& [id, n] : rr) BOOST_TEST(n == 10, id << ": " << n);

    auto weighted = co_await count(pick_strategy::weighted, 10);  // one run of the total weight
    for (auto& [id, w] : weights) BOOST_TEST(weighted[id] == static_cast<int>(w), id);

    auto random = co_await count(pick_strategy::random, 60);
    for (auto& [id, n] : random) BOOST_TEST(weights.count(id) == 1u, id);

    // note_error marks an instance down: picks skip it.
    reg.note_error("lb", "w7");
    auto skipped = co_await count(pick_strategy::weighted, 30);
    BOOST_TEST(skipped["w7"] == 0);
    BOOST_TEST(skipped["w1"] == 10);
    BOOST_TEST(skipped["w2"] == 20);
  });
}

BOOST_AUTO_TEST_CASE(connect_counts_connections_and_skips_dead_instances) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("conn");
    o.down_period = 60s;
    service_registry reg(c, o);
    listener l1(io), l2(io), l3(io);
    co_await reg.register_service(instance("db", "d1", l1.address()));
    co_await reg.register_service(instance("db", "d2", l2.address()));
    co_await reg.register_service(instance("db", "d3", l3.address()));

    // least connections: with d1 and d2 busy, the idle d3 is picked.
    auto x = co_await reg.connect("db", pick_strategy::least_connections);
    auto y = co_await reg.connect("db", pick_strategy::least_connections);
    BOOST_TEST(x.instance().instance_id != y.instance().instance_id);
    BOOST_TEST(x.socket().is_open());
    std::set<std::string> busy{x.instance().instance_id, y.instance().instance_id};
    for (int k = 0; k < 10; ++k) {
      auto p = co_await reg.pick("db", pick_strategy::least_connections);
      BOOST_TEST(!busy.count(p.instance_id), "picked busy " << p.instance_id);
    }
    // Closing a connection makes its instance idle again.
    auto freed = x.instance().instance_id;
    x.close();
    auto z = co_await reg.connect("db", pick_strategy::least_connections);
    auto w = co_await reg.connect("db", pick_strategy::least_connections);
    // Now d? (freed) and the formerly idle one each got one: all three have one connection.
    std::set<std::string> all{y.instance().instance_id, z.instance().instance_id,
                              w.instance().instance_id};
    BOOST_TEST(all.size() == 3u);

    // A dead instance: connect tries it, fails, moves on, and later skips it.
    service_registry reg2(c, o);
    co_await reg2.register_service(instance("cache", "dead", dead_address(io)));
    co_await reg2.register_service(instance("cache", "live", l1.address()));
    for (int k = 0; k < 6; ++k) {
      auto s = co_await reg2.connect("cache", pick_strategy::round_robin);
      BOOST_TEST(s.instance().instance_id == "live");
    }
    // Every instance dead: unavailable, naming the service.
    service_registry reg3(c, o);
    co_await reg3.register_service(instance("gone", "g1", dead_address(io)));
    co_await expect_failure(reg3.connect("gone"), error::unavailable, "gone");
  });
}

BOOST_AUTO_TEST_CASE(health_checks_drop_a_wedged_instance_from_discover) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("check");
    o.enable_health_check = true;
    o.health_check_interval = 100ms;
    service_registry reg(c, o);
    auto l = std::make_unique<listener>(io);
    co_await reg.register_service(instance("web", "tcp", l->address()));
    bool app_ok = true;
    register_options custom;
    custom.check = [&]() -> asio::awaitable<bool> { co_return app_ok; };
    co_await reg.register_service(instance("web", "app", "127.0.0.1:1"), 0s, custom);

    client other(io.get_executor(), config_for(shared_endpoints()));
    service_registry view(other, o);
    auto w = co_await view.watch("web");
    co_await until(w, [](auto& l) { return l.size() == 2; });
    l.reset();  // the TCP check now fails
    co_await until(w, [](auto& l) {
      return l.size() == 2 && l[1].instance_id == "tcp" && l[1].health == health_status::unhealthy;
    });
    auto healthy = ids(co_await view.discover("web"));
    BOOST_TEST(healthy.size() == 1u);
    BOOST_TEST(healthy.at(0) == "app");
    app_ok = false;  // the application's check says wedged
    co_await until(w, [](auto& l) { return l[0].health == health_status::unhealthy; });
    BOOST_TEST((co_await view.discover("web"))->empty());
    app_ok = true;  // and back
    co_await until(w, [](auto& l) { return l[0].health == health_status::healthy; });
    // (The view can see the last write before the registry has its answer and counts it.)
    co_await eventually([&] { return reg.stats().health_changes >= 3u; }, 10s,
                        "three health changes counted", 10ms);
  });
}

BOOST_AUTO_TEST_CASE(registrations_come_back_after_an_outage_longer_than_the_ttl) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        cfg.request_timeout = 2s;
        client c(io.get_executor(), cfg);
        auto o = under("outage");
        o.ttl = 2s;
        service_registry reg(c, o);
        auto first = co_await reg.register_service(instance("svc", "i1", "127.0.0.1:1"));
        co_await reg.register_service(instance("svc", "i2", "127.0.0.1:2"));
        cluster.kill(0);
        // The outage must outlast the TTL: the lease is lost on the client's side.
        co_await sleep_for(4s);
        cluster.restart(0);
        client other(io.get_executor(), config_for(cluster.client_urls()));
        service_registry view(other, o);
        auto w = co_await view.watch("svc");
        auto l = co_await until(
            w,
            [&](auto& l) {
              return l.size() == 2 && l[0].lease != first.lease && l[1].lease == l[0].lease;
            },
            30s);
        // (The view may see the second put before the registry has its answer and counts it.)
        co_await eventually([&] { return reg.stats().reregistrations >= 2u; }, 10s,
                            "both instances counted as registered again", 10ms);
        BOOST_TEST(reg.stats().reregistrations == 2u);
        // The old lease is revoked (no leftovers).
        co_await eventually(
            [&]() -> asio::awaitable<bool> {
              co_return (co_await c.lease_time_to_live(first.lease)).ttl == -1;
            },
            10s, "the old lease revoked", 100ms);
        BOOST_TEST(reg.registrations().at(0).lease == l->at(0).lease);
      },
      90s);
}

BOOST_AUTO_TEST_CASE(a_thousand_services_share_a_few_watch_connections) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto o = under("many");
        service_registry reg(c, o);
        co_await reg.register_service(instance("s-7", "only", "127.0.0.1:7"));
        for (int k = 0; k < 1000; ++k) co_await reg.discover("s-" + std::to_string(k));
        BOOST_TEST(reg.stats().cached_services == 1000u);
        BOOST_TEST(reg.stats().cached_instances == 1u);
        auto hub = coordination::detail::impl_of(c).hub().stats();
        BOOST_TEST(hub.watches >= 1000u);
        BOOST_TEST(hub.links <= 2u, hub.links << " watch connections");
        BOOST_TEST(reg.cached("s-7")->size() == 1u);
      },
      120s);
}

// Registry calls cancelled by their caller at any point (several etcd calls each) end with
// coordination_error(cancelled) or their value, never another exception.
BOOST_AUTO_TEST_CASE(calls_cancelled_anywhere_throw_cancelled) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    int cancelled = 0;
    for (int i = 0; i < 40; ++i) {
      service_registry reg(c, under("cancel"));
      auto delay = std::chrono::microseconds(100 * (i / 2));
      std::string how;  // (GCC 12: no co_await inside ?:)
      if (i % 2 == 0)
        how = co_await cancelled_after(
            reg.register_service(instance("svc", "a" + std::to_string(i), "localhost:1")), delay);
      else
        how = co_await cancelled_after(reg.discover("svc"), delay);
      BOOST_TEST((how.empty() || how == "cancelled"), "call " << i << ": " << how);
      cancelled += how == "cancelled";
      co_await reg.close();
    }
    BOOST_TEST(cancelled > 0);
  });
}

// The discovery cache is a kv_cache: cut off while instances come and go and history is
// compacted, it reads the service again when it gets through and lists exactly what is there.
BOOST_AUTO_TEST_CASE(discovery_reads_again_after_compaction_while_cut_off) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto target = shared_endpoints().front();
        tcp_proxy proxy(io.get_executor(), target);
        client direct(io.get_executor(), config_for({target}));
        client cut_off(io.get_executor(), config_for({proxy.url()}));
        auto o = under("registry-compact");
        service_registry writer(direct, o), reader(cut_off, o);
        co_await writer.register_service(instance("api", "a", "127.0.0.1:1"), 30s);
        co_await writer.register_service(instance("api", "b", "127.0.0.1:2"), 30s);
        auto first = co_await reader.discover("api");
        BOOST_TEST(ids(first) == std::vector<std::string>({"a", "b"}));

        proxy.cut();
        co_await writer.deregister("api", "a");
        co_await writer.register_service(instance("api", "c", "127.0.0.1:3"), 30s);
        auto last = co_await direct.put(unique_prefix("elsewhere") + "x", "y");
        co_await direct.compact(last.header.revision);
        proxy.restore();

        std::vector<std::string> now{"b", "c"};
        co_await eventually(
            [&] {
              auto l = reader.cached("api");
              return l && ids(l) == now;
            },
            30s, "the cut-off reader lists b and c");
        BOOST_TEST(reader.stats().cache_reloads == 1u);
        co_await reader.close();
        co_await writer.close();
        cut_off.close();
        direct.close();
      },
      60s);
}

BOOST_AUTO_TEST_SUITE_END()
