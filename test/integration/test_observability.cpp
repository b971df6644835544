// Metrics (prometheus-cpp) and tracing: the series move with what the client does, every span
// ends once with the outcome of its operation.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <sstream>

#include "common.hpp"
#include "coordination/config_center.hpp"
#include "coordination/coordinator.hpp"
#include "coordination/election.hpp"
#include "coordination/lock.hpp"
#include "coordination/observability.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

using label_map = std::map<std::string, std::string>;

// The value of the series `name` whose labels include `labels`: a counter's or gauge's value,
// a histogram's sample count; -1 when there is no such series.
double metric(prometheus::Registry& r, const std::string& name, const label_map& labels = {}) {
  for (auto& family : r.Collect()) {
    if (family.name != name) continue;
    for (auto& m : family.metric) {
      bool match = true;
      for (auto& [k, v] : labels) {
        bool found = false;
        for (auto& l : m.label) found |= l.name == k && l.value == v;
        match &= found;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Gauge:
          return m.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return -1;
      }
    }
  }
  return -1;
}

// Waits (bounded) until the series reaches `want`.
asio::awaitable<void> expect_metric(prometheus::Registry& r, const std::string& name,
                                    label_map labels, double want) {
  co_await eventually([&] { return metric(r, name, labels) == want; }, 5s,
                      name + " reaching " + std::to_string(want), 10ms);
}

struct recorded_span {
  std::string name;
  label_map attributes;
  std::error_code error;
  std::string message;
  int ends = 0;
};

// Records every span; checks each ends exactly once before it is destroyed.
class recording_tracer : public tracer {
 public:
  std::vector<std::shared_ptr<recorded_span>> spans;

  std::unique_ptr<span> start_span(std::string_view name) override {
    auto r = std::make_shared<recorded_span>();
    r->name = name;
    spans.push_back(r);
    return std::make_unique<one>(r);
  }

  // The spans named `name`, in start order.
  std::vector<std::shared_ptr<recorded_span>> named(const std::string& name) const {
    std::vector<std::shared_ptr<recorded_span>> out;
    for (auto& s : spans)
      if (s->name == name) out.push_back(s);
    return out;
  }

 private:
  struct one : span {
    explicit one(std::shared_ptr<recorded_span> r) : r(std::move(r)) {}
    ~one() override { BOOST_TEST(r->ends == 1, r->name << " ended " << r->ends << " times"); }
    void set_attribute(std::string_view k, std::string_view v) override {
      r->attributes[std::string(k)] = v;
    }
    void set_error(std::error_code c, std::string_view m) override {
      r->error = c;
      r->message = m;
    }
    void end() override { ++r->ends; }
    std::shared_ptr<recorded_span> r;
  };
};

}  // namespace

BOOST_AUTO_TEST_SUITE(observability_suite)

BOOST_AUTO_TEST_CASE(metrics_counters_move) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto reg = std::make_shared<prometheus::Registry>();
    auto cfg = config_for(shared_endpoints());
    cfg.metrics = reg;
    client c(io.get_executor(), cfg);
    auto& r = *reg;
    auto p = unique_prefix("metrics");

    // Calls, durations, errors by code.
    co_await c.put(p + "k", "v");
    co_await c.get(p + "k");
    co_await c.get(p + "k");
    BOOST_TEST(metric(r, "coordination_requests_total", {{"call", "/v3/kv/put"}}) == 1);
    BOOST_TEST(metric(r, "coordination_requests_total", {{"call", "/v3/kv/range"}}) == 2);
    BOOST_TEST(metric(r, "coordination_request_duration_seconds", {{"call", "/v3/kv/range"}}) == 2);
    BOOST_TEST(metric(r, "coordination_http_requests_total") >= 3);
    co_await expect_failure(c.lease_revoke(0x7777777), error::lease_not_found);
    BOOST_TEST(metric(r, "coordination_request_errors_total",
                      {{"call", "/v3/lease/revoke"}, {"code", "lease_not_found"}}) == 1);
    BOOST_TEST(metric(r, "coordination_request_errors_total", {{"call", "/v3/kv/put"}}) == -1);

    // Watches: streams, live watches, events.
    {
      auto w = co_await c.watch(p + "w");
      BOOST_TEST(metric(r, "coordination_watches") == 1);
      BOOST_TEST(metric(r, "coordination_watch_streams") >= 1);
      co_await c.put(p + "w", "1");
      co_await c.put(p + "w", "2");
      std::size_t seen = 0;
      while (seen < 2) seen += (co_await with_timeout(w.next(), 5s)).events.size();
      BOOST_TEST(metric(r, "coordination_watch_events_total") == 2);
      w.cancel();
      BOOST_TEST(metric(r, "coordination_watches") == 0);
    }

    // Locks: wait and hold histograms, held gauge.
    {
      session_options so;
      so.renew_interval = 200ms;
      auto s = co_await session::create(c, so);
      locker locks(s);
      auto l = co_await locks.lock(p + "lock");
      BOOST_TEST(metric(r, "coordination_lock_wait_seconds", {{"recipe", "mutex"}}) == 1);
      BOOST_TEST(metric(r, "coordination_locks_held", {{"recipe", "mutex"}}) == 1);
      co_await l.release();
      BOOST_TEST(metric(r, "coordination_lock_hold_seconds", {{"recipe", "mutex"}}) == 1);
      BOOST_TEST(metric(r, "coordination_locks_held", {{"recipe", "mutex"}}) == 0);
      auto rl = co_await locks.read_lock(p + "rw");
      BOOST_TEST(metric(r, "coordination_locks_held", {{"recipe", "read"}}) == 1);

      // A session whose lease is revoked elsewhere: a failed renewal, a lost session, and the
      // read lock it held counts as no longer held.
      co_await c.lease_revoke(s.lease());
      BOOST_TEST((co_await with_timeout(s.wait_lost(), 5s)) == error::session_expired);
      BOOST_TEST(metric(r, "coordination_sessions_lost_total") == 1);
      BOOST_TEST(metric(r, "coordination_keepalive_failures_total") >= 1);
      const label_map read_recipe{{"recipe", "read"}};
      co_await expect_metric(r, "coordination_locks_held", read_recipe, 0);
    }

    // Registry caches: services and instances cached.
    {
      registry_options ro;
      ro.prefix = p + "services/";
      service_registry services(c, ro);
      const std::string ids[] = {"a", "b"};
      for (auto& id : ids) {
        service_info i;
        i.name = "api";
        i.instance_id = id;
        i.address = "127.0.0.1:1";
        co_await services.register_service(i);
      }
      co_await services.discover("api");
      BOOST_TEST(metric(r, "coordination_registry_cached_services") == 1);
      const label_map any;
      co_await expect_metric(r, "coordination_registry_cached_instances", any, 2);
      co_await services.deregister("api", "b");
      co_await expect_metric(r, "coordination_registry_cached_instances", any, 1);
      co_await services.close();
      BOOST_TEST(metric(r, "coordination_registry_cached_services") == 0);
      BOOST_TEST(metric(r, "coordination_registry_cached_instances") == 0);
    }

    // Retries and failovers: the first endpoint refuses connections.
    {
      auto two = config_for(shared_endpoints());
      two.endpoints.insert(two.endpoints.begin(), dead_endpoint());
      two.metrics = reg;  // shares the registry: the counters add up
      client c2(io.get_executor(), two);
      auto before = metric(r, "coordination_requests_total", {{"call", "/v3/kv/range"}});
      co_await c2.get(p + "k");
      BOOST_TEST(metric(r, "coordination_failovers_total") == 1);
      BOOST_TEST(metric(r, "coordination_retries_total") == 1);
      BOOST_TEST(metric(r, "coordination_requests_total", {{"call", "/v3/kv/range"}}) ==
                 before + 1);
    }

    // The text a /metrics endpoint serves.
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, r.Collect());
    BOOST_TEST(
        text.str().find("coordination_requests_total{call=\"/v3/kv/range\"} ") != std::string::npos,
        text.str());
  });
}

BOOST_AUTO_TEST_CASE(spans_around_calls_and_recipe_steps) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto tr = std::make_shared<recording_tracer>();
    auto cfg = config_for(shared_endpoints());
    cfg.tracer = tr;
    auto p = unique_prefix("spans");
    {
      client c(io.get_executor(), cfg);
      co_await c.put(p + "k", "v");
      auto puts = tr->named("etcd /v3/kv/put");
      BOOST_REQUIRE(puts.size() == 1u);
      BOOST_TEST(puts[0]->ends == 1);
      BOOST_TEST(!puts[0]->error);
      BOOST_TEST(puts[0]->attributes["endpoint"] == shared_endpoints()[0]);

      co_await expect_failure(c.lease_revoke(0x7777778), error::lease_not_found);
      auto ka = tr->named("etcd /v3/lease/revoke");
      BOOST_REQUIRE(ka.size() == 1u);
      BOOST_TEST(ka[0]->error == error::lease_not_found);

      auto s = co_await session::create(c);
      locker locks(s);
      auto l = co_await locks.lock(p + "L");
      auto other_session = co_await session::create(c);
      locker other(other_session);
      co_await expect_failure(other.try_lock(p + "L"), error::locked);
      auto acquires = tr->named("lock.acquire");
      BOOST_REQUIRE(acquires.size() == 2u);
      BOOST_TEST(!acquires[0]->error);
      BOOST_TEST(acquires[0]->attributes["key"] == l.key());
      BOOST_TEST(acquires[0]->attributes["fencing_token"] == std::to_string(l.fencing_token()));
      BOOST_TEST(acquires[1]->error == error::locked);
      co_await l.release();
      BOOST_REQUIRE(tr->named("lock.release").size() == 1u);
      BOOST_TEST(tr->named("lock.release")[0]->attributes["key"] == l.key());

      elector e(s);
      auto lead = co_await e.campaign(p + "E", "v1");
      co_await lead.proclaim("v2");
      co_await lead.resign();
      BOOST_TEST(tr->named("election.campaign").size() == 1u);
      BOOST_TEST(tr->named("election.proclaim").size() == 1u);
      BOOST_TEST(tr->named("election.resign").size() == 1u);

      config_center_options co;
      co.prefix = p + "config/";
      co.meta_prefix = p + "config.meta/";
      co.history_prefix = p + "config.history/";
      config_center cc(c, co);
      co_await cc.set("x", "1");
      co_await expect_failure(cc.set("x", "2", 7), error::conflict);
      auto sets = tr->named("config.set");
      BOOST_REQUIRE(sets.size() == 2u);
      BOOST_TEST(sets[0]->attributes["version"] == "1");
      BOOST_TEST(!sets[0]->error);
      BOOST_TEST(sets[1]->error == error::conflict);

      registry_options ro;
      ro.prefix = p + "services/";
      service_registry services(c, ro);
      service_info i;
      i.name = "api";
      i.instance_id = "a";
      i.address = "127.0.0.1:1";
      co_await services.register_service(i);
      co_await expect_failure(services.deregister("api", "nobody"), error::not_found);
      BOOST_TEST(tr->named("registry.register").size() == 1u);
      BOOST_REQUIRE(tr->named("registry.deregister").size() == 1u);
      BOOST_TEST(tr->named("registry.deregister")[0]->error == error::not_found);
      co_await services.close();
      co_await s.close();
      co_await other_session.close();
    }
    for (auto& s : tr->spans) BOOST_TEST(s->ends == 1, s->name);
  });
}

BOOST_AUTO_TEST_CASE(coordinator_enables_metrics_and_the_spdlog_tracer) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto log = std::make_shared<spdlog::logger>("observability-test", sink);

    auto cfg = test_config();
    cfg.etcd = config_for(shared_endpoints());
    cfg.etcd.logger = log;
    cfg.log_level = "info";
    cfg.locks.prefix = unique_prefix("traced") + "locks/";
    {
      coordinator off(io.get_executor(), cfg);
      BOOST_TEST(!off.metrics());
    }
    cfg.enable_metrics = true;
    cfg.enable_tracing = true;
    coordinator coord(io.get_executor(), cfg);
    BOOST_REQUIRE(coord.metrics());
    auto l = co_await coord.lock("job", 0s);
    co_await l.release();
    co_await coord.close();
    auto text = out.str();
    BOOST_TEST(text.find("trace: lock.acquire") != std::string::npos, text);
    BOOST_TEST(text.find("trace: etcd /v3/kv/txn") != std::string::npos, text);
    BOOST_TEST(text.find("key=" + cfg.locks.prefix + "job/") != std::string::npos, text);
    BOOST_TEST(metric(*coord.metrics(), "coordination_lock_wait_seconds", {{"recipe", "mutex"}}) ==
               1);
    BOOST_TEST(metric(*coord.metrics(), "coordination_requests_total", {{"call", "/v3/kv/txn"}}) >=
               1);
    BOOST_CHECK_THROW(make_spdlog_tracer(nullptr, 9), coordination_error);
  });
}

// A session lost while etcd does not answer, and destroyed at once (what an application does
// with a lost session), still revokes its lease once etcd answers again: a revocation request
// reaches etcd after the resume (its first attempt, made while etcd was paused, timed out). An
// unrevoked lease would keep the session's lock keys while leaders keep changing.
BOOST_AUTO_TEST_CASE(a_lost_session_destroyed_at_once_still_revokes_its_lease) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto reg = std::make_shared<prometheus::Registry>();
        auto cfg = config_for(cluster.client_urls());
        cfg.metrics = reg;
        cfg.request_timeout = 2s;
        client c(io.get_executor(), cfg);
        session_options o;
        o.ttl = 3s;
        {
          auto s = co_await session::create(c, o);
          cluster.pause(0);
          BOOST_TEST((co_await with_timeout(s.wait_lost(), 15s)) == error::session_expired);
        }  // destroyed while the first revocation attempt waits for the paused member
        const label_map revoke{{"call", "/v3/lease/revoke"}};
        const label_map revoke_timeout{{"call", "/v3/lease/revoke"}, {"code", "timeout"}};
        co_await eventually(
            [&] { return metric(*reg, "coordination_request_errors_total", revoke_timeout) >= 1; },
            10s, "the first revocation attempt timing out");
        cluster.resume(0);
        co_await eventually(
            [&] { return metric(*reg, "coordination_requests_total", revoke) >= 2; }, 15s,
            "a revocation attempt after etcd answers again");
        // (the second attempt revoked the lease, or found it expired already)
        BOOST_TEST(metric(*reg, "coordination_request_errors_total", revoke_timeout) == 1);
      },
      60s);
}

BOOST_AUTO_TEST_SUITE_END()
