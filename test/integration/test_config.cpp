#include <boost/asio/as_tuple.hpp>
#include <set>
#include <thread>

#include "common.hpp"
#include "coordination/config_center.hpp"
#include "coordination/with_timeout.hpp"
#include "protocol/base64.hpp"
#include "tcp_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

config_center_options under(const std::string& name) {
  config_center_options o;
  o.prefix = unique_prefix(name);
  return o;
}

asio::awaitable<config_change> next_change(config_watch& w) {
  co_return co_await with_timeout(w.next(), 10s);
}

struct endpoint_cfg {
  std::string host;
  int port = 0;
  std::vector<std::string> tags;
  friend bool operator==(const endpoint_cfg&, const endpoint_cfg&) = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(endpoint_cfg, host, port, tags)

}  // namespace

BOOST_AUTO_TEST_SUITE(config_suite)

BOOST_AUTO_TEST_CASE(set_get_version_metadata_and_layout) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("cfg");
    config_center cc(c, o);
    co_await expect_failure(cc.get("app/x"), error::not_found, "app/x");
    BOOST_TEST((co_await cc.version("app/x")) == 0);
    BOOST_TEST(!(co_await cc.find("app/x")));

    auto before = std::chrono::system_clock::now() - 1s;
    config_set_options so;
    so.metadata = std::map<std::string, std::string>{{"owner", "team-a"}};
    auto v1 = co_await cc.set("app/x", "one", so);
    BOOST_TEST(v1.version == 1);
    auto got = co_await cc.get("app/x");
    BOOST_TEST(got.value == "one");
    BOOST_TEST(got.version == 1);
    BOOST_TEST(got.metadata.at("owner") == "team-a");
    BOOST_TEST((got.create_time > before));
    BOOST_TEST((got.update_time == got.create_time));

    // The value key holds the plain value (what etcdctl get prints); meta and history beside it.
    auto plain = co_await c.get(o.prefix + "app/x");
    BOOST_REQUIRE(plain);
    BOOST_TEST(plain->value == "one");
    auto values_only = co_await c.get_prefix(o.prefix);
    BOOST_TEST(values_only.kvs.size() == 1u);
    auto meta = co_await c.get(cc.options().meta_prefix + "app/x");
    BOOST_REQUIRE(meta);
    BOOST_TEST(nlohmann::json::parse(meta->value)["metadata"]["owner"] == "team-a");

    // A set without metadata keeps it; the create time stays, the update time moves.
    auto v2 = co_await cc.set("app/x", "two");
    BOOST_TEST(v2.version == 2);
    got = co_await cc.get("app/x");
    BOOST_TEST(got.value == "two");
    BOOST_TEST(got.metadata.at("owner") == "team-a");
    BOOST_TEST((got.create_time == v1.create_time));
    BOOST_TEST((got.update_time >= v1.update_time));
    BOOST_TEST((co_await cc.version("app/x")) == 2);

    // Binary values survive (value and history).
    std::string bytes("\0\xff\xfe-bin", 7);
    co_await cc.set("app/bin", bytes);
    BOOST_TEST((co_await cc.get("app/bin")).value == bytes);
    BOOST_TEST((co_await cc.history("app/bin")).at(0).value == bytes);

    auto listed = co_await cc.list("app/");
    BOOST_REQUIRE(listed.size() == 2u);
    BOOST_TEST(listed[0].key == "app/bin");
    BOOST_TEST(listed[1].key == "app/x");
    BOOST_TEST(listed[1].metadata.at("owner") == "team-a");
    BOOST_TEST((co_await cc.list("nothing/")).empty());
  });
}

BOOST_AUTO_TEST_CASE(compare_and_set_in_every_form) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    config_center cc(c, under("cas"));
    // 0 = create only.
    auto v = co_await cc.set("k", "a", 0);
    BOOST_TEST(v.version == 1);
    co_await expect_failure(cc.set("k", "b", 0), error::conflict, "expected version 0, found 1");
    BOOST_TEST((co_await cc.get("k")).value == "a");  // the failed set changed nothing
    // N = only if the current version is N.
    co_await expect_failure(cc.set("k", "b", 2), error::conflict);
    co_await expect_failure(cc.set("k", "b", 7), error::conflict);
    v = co_await cc.set("k", "b", 1);
    BOOST_TEST(v.version == 2);
    BOOST_TEST((co_await cc.history("k")).size() == 2u);  // no entry for the failed ones
    // Unconditional.
    v = co_await cc.set("k", "c");
    BOOST_TEST(v.version == 3);
    // remove: same rule.
    co_await expect_failure(cc.remove("k", 2), error::conflict);
    BOOST_TEST((co_await cc.get("k")).value == "c");
    co_await cc.remove("k", 3);
    co_await expect_failure(cc.get("k"), error::not_found);
    co_await expect_failure(cc.remove("k"), error::not_found);
    // The meta stays as a tombstone: the guard of the next write (a late copy of an old create
    // must not apply after the remove).
    auto tomb = co_await c.get(cc.options().meta_prefix + "k");
    BOOST_REQUIRE(tomb);
    BOOST_TEST(nlohmann::json::parse(tomb->value).value("deleted", false));
    // Created again: versions start over, history keeps the old ones with a delete marker.
    v = co_await cc.set("k", "d", 0);
    BOOST_TEST(v.version == 1);
    auto h = co_await cc.history("k");
    BOOST_REQUIRE(h.size() == 5u);
    BOOST_TEST(h[0].value == "d");
    BOOST_TEST(h[1].deleted);
    BOOST_TEST(h[2].value == "c");
    BOOST_TEST(h[2].version == 3);
    co_await expect_failure(cc.set("k", "x", -1), error::invalid_argument, "expected_version");
    co_await expect_failure(cc.set("", "x"), error::invalid_argument, "config key");
  });
}

// A compare-and-set whose answer is lost (a proxy closes the connection instead of passing it
// on) was applied: the set recognises its own write (its id in the metadata) and returns it,
// instead of failing outcome_unknown or, after a resend, conflict. The same for a remove.
BOOST_AUTO_TEST_CASE(a_set_whose_answer_is_lost_recognises_its_own_write) {
  if (using_external_cluster()) return;  // (the proxy reads the requests: plain HTTP only)
  run([](asio::io_context& io) -> asio::awaitable<void> {
    tcp_proxy proxy(io.get_executor(), shared_endpoints().at(0));
    client c(io.get_executor(), config_for({proxy.url()}));
    config_center cc(c, under("lost-answer"));
    auto v = co_await cc.set("k", "first", 0);
    BOOST_TEST(v.version == 1);
    const std::string second = "second-value-whose-answer-is-dropped";
    proxy.drop_txn_answers_with(detail::base64_encode(second), 1);
    v = co_await cc.set("k", second, 1);
    BOOST_TEST(proxy.answers_dropped() == 1u);
    BOOST_TEST(v.version == 2);
    BOOST_TEST(v.value == second);
    auto now = co_await cc.get("k");
    BOOST_TEST(now.version == 2);
    BOOST_TEST(now.value == second);
    BOOST_TEST(now.revision == v.revision);
    BOOST_TEST((co_await cc.history("k")).size() == 2u);  // applied once

    proxy.drop_txn_answers_with("request_delete_range", 1);
    co_await cc.remove("k", 2);
    BOOST_TEST(proxy.answers_dropped() == 2u);
    co_await expect_failure(cc.get("k"), error::not_found);
  });
}

BOOST_AUTO_TEST_CASE(concurrent_cas_writers_never_lose_an_update) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto o = under("counter");
        client c1(io.get_executor(), config_for(shared_endpoints()));
        client c2(io.get_executor(), config_for(shared_endpoints()));
        config_center a(c1, o), b(c2, o);
        co_await a.set("n", 0);
        const int writers = 8, each = 10;
        int conflicts = 0, done = 0;
        asio::steady_timer all_done(io, std::chrono::steady_clock::time_point::max());
        for (int w = 0; w < writers; ++w) {
          config_center& cc = w % 2 ? a : b;
          asio::co_spawn(
              io,
              [&, w]() -> asio::awaitable<void> {
                for (int i = 0; i < each; ++i) {
                  for (;;) {
                    auto cur = co_await cc.get("n");
                    int n = std::stoi(cur.value);
                    try {
                      co_await cc.set("n", std::to_string(n + 1), cur.version);
                      break;
                    } catch (const coordination_error& e) {
                      if (e.code() != error::conflict) throw;
                      ++conflicts;
                    }
                  }
                }
                (void)w;
                if (++done == writers) all_done.cancel();
              },
              [](std::exception_ptr e) {
                if (e) std::rethrow_exception(e);
              });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(done == writers);
        BOOST_TEST(co_await a.get_as<int>("n") == writers * each);
        BOOST_TEST((co_await a.version("n")) == writers * each + 1);
        BOOST_TEST_MESSAGE("conflicts retried: " << conflicts);
        BOOST_TEST(conflicts > 0);  // they did contend
      },
      120s);
}

BOOST_AUTO_TEST_CASE(history_order_limit_trim_and_compaction) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("hist");
    o.max_version_history = 3;
    config_center cc(c, o);
    for (int i = 1; i <= 5; ++i) co_await cc.set("h", "v" + std::to_string(i));
    auto h = co_await cc.history("h");
    BOOST_REQUIRE(h.size() == 3u);  // trimmed to max_version_history
    BOOST_TEST(h[0].value == "v5");
    BOOST_TEST(h[0].version == 5);
    BOOST_TEST(h[1].value == "v4");
    BOOST_TEST(h[2].value == "v3");
    BOOST_TEST((h[0].time >= h[1].time));
    auto one = co_await cc.history("h", 1);
    BOOST_REQUIRE(one.size() == 1u);
    BOOST_TEST(one[0].value == "v5");
    // etcd compacts its MVCC history: ours is still there.
    auto last = co_await cc.set("h", "v6");
    co_await c.compact(last.revision);
    h = co_await cc.history("h");
    BOOST_REQUIRE(h.size() == 3u);
    BOOST_TEST(h[0].value == "v6");
    BOOST_TEST(h[2].value == "v4");
    BOOST_TEST((co_await cc.history("never-set")).empty());

    // Versioning off: no history key at all.
    auto plain = under("nohist");
    plain.versioning = false;
    config_center np(c, plain);
    co_await np.set("k", "1");
    co_await np.set("k", "2");
    BOOST_TEST((co_await np.history("k")).empty());
    BOOST_TEST((co_await np.get("k")).version == 2);
  });
}

BOOST_AUTO_TEST_CASE(typed_values_and_type_mismatch) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    config_center cc(c, under("typed"));
    endpoint_cfg e{"db.local", 5432, {"primary", "eu"}};
    co_await cc.set("db", e);
    BOOST_TEST((co_await cc.get_as<endpoint_cfg>("db") == e));
    BOOST_TEST((co_await cc.get("db")).value ==
               R"({"host":"db.local","port":5432,"tags":["primary","eu"]})");
    co_await cc.set("limit", 42);
    BOOST_TEST(co_await cc.get_as<int>("limit") == 42);
    std::vector<bool> flags{true, false};
    co_await cc.set("flags", flags);
    BOOST_TEST((co_await cc.get_as<std::vector<bool>>("flags")).size() == 2u);
    co_await cc.set("text", "not json");
    co_await expect_failure(cc.get_as<int>("text"), error::invalid_argument, "config text");
    co_await expect_failure(cc.get_as<int>("db"), error::invalid_argument, "config db");
    co_await expect_failure(cc.get_as<endpoint_cfg>("limit"), error::invalid_argument);
  });
}

BOOST_AUTO_TEST_CASE(validator_rejects_before_writing) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto o = under("valid");
    o.validator = [](const std::string& key,
                     const std::string& value) -> std::optional<std::string> {
      if (key.starts_with("port") && value.find_first_not_of("0123456789") != std::string::npos)
        return "port must be a number";
      return std::nullopt;
    };
    config_center cc(c, o);
    co_await cc.set("port", "8080");
    co_await expect_failure(cc.set("port", "eighty"), error::invalid_argument,
                            "port must be a number");
    BOOST_TEST((co_await cc.get("port")).value == "8080");
    BOOST_TEST((co_await cc.version("port")) == 1);
    o.validation = false;
    config_center off(c, o);
    co_await off.set("port", "eighty");
    BOOST_TEST((co_await cc.get("port")).value == "eighty");
  });
}

BOOST_AUTO_TEST_CASE(bad_options_name_their_field) {
  asio::io_context io;
  client c(io.get_executor(), config_for({"http://127.0.0.1:1"}));
  auto says = [](const char* field) {
    return [field](const coordination_error& e) {
      return e.code() == error::invalid_argument &&
             std::string(e.what()).find(field) != std::string::npos;
    };
  };
  config_center_options bad;
  bad.prefix = "/no-slash";
  BOOST_CHECK_EXCEPTION((void)config_center(c, bad), coordination_error, says("config.prefix"));
  bad = config_center_options();
  bad.max_version_history = 0;
  BOOST_CHECK_EXCEPTION((void)config_center(c, bad), coordination_error,
                        says("config.max_version_history"));
  bad = config_center_options();
  bad.meta_prefix = bad.prefix + "meta/";
  BOOST_CHECK_EXCEPTION((void)config_center(c, bad), coordination_error,
                        says("config.meta_prefix"));
  bad = config_center_options();
  bad.prefix.clear();
  BOOST_CHECK_EXCEPTION((void)config_center(c, bad), coordination_error, says("config.prefix"));
}

BOOST_AUTO_TEST_CASE(watch_key_and_prefix_see_create_update_delete) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    config_center cc(c, under("watch"));
    auto key_watch = co_await cc.watch("svc/a");
    auto prefix_watch = co_await cc.watch_prefix("svc/");
    co_await cc.set("svc/a", "1");
    co_await cc.set("svc/a", "2");
    co_await cc.set("svc/b", "x");
    co_await cc.remove("svc/a");

    auto ch = co_await next_change(key_watch);
    BOOST_TEST((ch.type == config_change_type::create));
    BOOST_TEST(ch.key == "svc/a");
    BOOST_TEST(!ch.old_value);
    BOOST_TEST(ch.new_value->value == "1");
    BOOST_TEST(ch.version == 1);
    ch = co_await next_change(key_watch);
    BOOST_TEST((ch.type == config_change_type::update));
    BOOST_TEST(ch.old_value->value == "1");
    BOOST_TEST(ch.new_value->value == "2");
    ch = co_await next_change(key_watch);
    BOOST_TEST((ch.type == config_change_type::del));
    BOOST_TEST(ch.old_value->value == "2");
    BOOST_TEST(!ch.new_value);

    std::vector<std::string> seen;
    for (int i = 0; i < 4; ++i) {
      auto p = co_await next_change(prefix_watch);
      seen.push_back(p.key + "=" + (p.new_value ? p.new_value->value : "<deleted>"));
    }
    BOOST_TEST(
        (seen == std::vector<std::string>{"svc/a=1", "svc/a=2", "svc/b=x", "svc/a=<deleted>"}));
  });
}

BOOST_AUTO_TEST_CASE(watch_across_an_etcd_restart_misses_nothing) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  std::thread chaos;
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        cfg.request_timeout = 20s;
        client c(io.get_executor(), cfg);
        config_center cc(c, under("restart"));
        auto w = co_await cc.watch_prefix("");
        const int n = 200;
        std::vector<std::int64_t> written;
        for (int i = 0; i < n; ++i) {
          if (i == n / 2)
            chaos = std::thread([&] {
              cluster.kill(0);
              cluster.restart(0);
            });
          for (;;) {
            try {
              auto v = co_await cc.set("k" + std::to_string(i % 7), std::to_string(i));
              written.push_back(v.revision);
              break;
            } catch (const coordination_error& e) {
              BOOST_TEST_MESSAGE("set " << i << ": " << e.what());
            }
          }
        }
        std::set<std::int64_t> seen;
        std::int64_t last = 0;
        while (last < written.back()) {
          auto ch = co_await with_timeout(w.next(), 30s);
          BOOST_REQUIRE(ch.revision > last);  // in order, once
          last = ch.revision;
          seen.insert(ch.revision);
        }
        for (auto r : written) BOOST_REQUIRE_MESSAGE(seen.count(r), "missed revision " << r);
      },
      180s);
  if (chaos.joinable()) chaos.join();
}

// Config calls cancelled by their caller at any point end with coordination_error(cancelled) or
// their value, never another exception.
BOOST_AUTO_TEST_CASE(calls_cancelled_anywhere_throw_cancelled) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    config_center cc(c, under("cancel"));
    int cancelled = 0;
    for (int i = 0; i < 40; ++i) {
      auto delay = std::chrono::microseconds(100 * (i / 2));
      std::string how;  // (GCC 12: no co_await inside ?:)
      if (i % 2 == 0)
        how = co_await cancelled_after(cc.set("k", std::to_string(i)), delay);
      else
        how = co_await cancelled_after(cc.find("k"), delay);
      BOOST_TEST((how.empty() || how == "cancelled"), "call " << i << ": " << how);
      cancelled += how == "cancelled";
    }
    BOOST_TEST(cancelled > 0);
  });
}

BOOST_AUTO_TEST_CASE(a_change_carries_whole_values_with_versions_and_metadata) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    config_center cc(c, under("whole"));
    auto w = co_await cc.watch("k");
    config_watch_options bare;
    bare.with_meta = false;
    auto plain = co_await cc.watch("k", bare);
    config_set_options by_alice;
    by_alice.metadata = std::map<std::string, std::string>{{"owner", "alice"}};
    auto v1 = co_await cc.set("k", "1", by_alice);
    auto late = co_await cc.watch("k");  // starts after v1: v1's meta is read, not remembered
    config_set_options by_bob;
    by_bob.metadata = std::map<std::string, std::string>{{"owner", "bob"}};
    auto v2 = co_await cc.set("k", "2", by_bob);
    co_await c.put(cc.value_key("k"), "3");  // around the API: the meta stays bob's
    co_await cc.remove("k");

    auto ch = co_await next_change(w);
    BOOST_TEST((ch.type == config_change_type::create));
    BOOST_REQUIRE(ch.new_value);
    BOOST_TEST(!ch.old_value);
    BOOST_TEST(ch.new_value->version == 1);
    BOOST_TEST(ch.new_value->revision == v1.revision);
    BOOST_TEST(ch.new_value->metadata.at("owner") == "alice");
    BOOST_TEST((ch.new_value->create_time == v1.create_time));
    BOOST_TEST((ch.new_value->update_time == v1.update_time));

    ch = co_await next_change(w);
    BOOST_REQUIRE(ch.old_value);
    BOOST_REQUIRE(ch.new_value);
    BOOST_TEST(ch.old_value->version == 1);
    BOOST_TEST(ch.old_value->metadata.at("owner") == "alice");
    BOOST_TEST(ch.new_value->version == 2);
    BOOST_TEST(ch.new_value->value == "2");
    BOOST_TEST(ch.new_value->metadata.at("owner") == "bob");
    BOOST_TEST((ch.new_value->update_time == v2.update_time));
    BOOST_TEST((ch.new_value->create_time == v1.create_time));  // created once

    ch = co_await next_change(w);
    BOOST_REQUIRE(ch.new_value);
    BOOST_REQUIRE(ch.old_value);
    BOOST_TEST(ch.new_value->version == 3);
    BOOST_TEST(ch.new_value->value == "3");
    BOOST_TEST(ch.new_value->metadata.at("owner") == "bob");
    BOOST_TEST((ch.new_value->update_time == v2.update_time));  // not written through the API
    BOOST_TEST(ch.old_value->version == 2);

    ch = co_await next_change(w);
    BOOST_TEST((ch.type == config_change_type::del));
    BOOST_TEST(!ch.new_value);
    BOOST_REQUIRE(ch.old_value);
    BOOST_TEST(ch.old_value->version == 3);
    BOOST_TEST(ch.old_value->value == "3");
    BOOST_TEST(ch.old_value->metadata.at("owner") == "bob");

    // A watch that began after v1 reads v1's meta at the revision before the change.
    ch = co_await next_change(late);
    BOOST_REQUIRE(ch.old_value);
    BOOST_REQUIRE(ch.new_value);
    BOOST_TEST(ch.old_value->version == 1);
    BOOST_TEST(ch.old_value->metadata.at("owner") == "alice");
    BOOST_TEST((ch.old_value->update_time == v1.update_time));
    BOOST_TEST(ch.new_value->metadata.at("owner") == "bob");

    // Without meta: versions and values, no metadata or times.
    ch = co_await next_change(plain);
    BOOST_REQUIRE(ch.new_value);
    BOOST_TEST(ch.new_value->version == 1);
    BOOST_TEST(ch.new_value->metadata.empty());
    BOOST_TEST(ch.new_value->update_time.time_since_epoch().count() == 0);
  });
}

BOOST_AUTO_TEST_SUITE_END()
