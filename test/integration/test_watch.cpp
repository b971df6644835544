#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>
#include <thread>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/with_timeout.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {
// The next batch, or a test failure after `d`.
asio::awaitable<watch_batch> next_within(watch_stream& w, std::chrono::milliseconds d = 5000ms) {
  co_return co_await with_timeout(w.next(), d);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(watch_suite)

BOOST_AUTO_TEST_CASE(sees_puts_and_deletes_of_its_key) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("watch") + "k";
    watch_options o;
    o.prev_kv = true;
    auto w = co_await c.watch(key, o);
    auto p1 = co_await c.put(key, "one");
    co_await c.put(key + "x", "other key");  // not ours
    auto p2 = co_await c.put(key, "two");
    co_await c.del(key);

    std::vector<watch_event> seen;
    while (seen.size() < 3) {
      auto b = co_await next_within(w);
      for (auto& e : b.events) seen.push_back(e);
    }
    BOOST_REQUIRE_EQUAL(seen.size(), 3u);
    BOOST_TEST((seen[0].type == event_type::put));
    BOOST_TEST(seen[0].kv.value == "one");
    BOOST_TEST(seen[0].kv.mod_revision == p1.header.revision);
    BOOST_TEST(!seen[0].prev_kv.has_value());
    BOOST_TEST(seen[1].kv.value == "two");
    BOOST_TEST(seen[1].prev_kv->value == "one");
    BOOST_TEST(seen[1].kv.mod_revision == p2.header.revision);
    BOOST_TEST((seen[2].type == event_type::del));
    BOOST_TEST(seen[2].kv.key == key);
    BOOST_TEST(seen[2].prev_kv->value == "two");
    BOOST_TEST(w.last_revision() == seen[2].kv.mod_revision);

    w.cancel();
    try {
      co_await w.next();
      BOOST_FAIL("next() after cancel() returned");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::cancelled);
    }
  });
}

BOOST_AUTO_TEST_CASE(prefix_replay_filters_and_next_cancellation) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("replay");
    auto first = co_await c.put(p + "a", "1");
    co_await c.put(p + "b", "2");
    co_await c.del(p + "a");
    // From a past revision: the history is replayed.
    watch_options o;
    o.start_revision = first.header.revision;
    auto w = co_await c.watch_prefix(p, o);
    std::vector<std::string> keys;
    while (keys.size() < 3)
      for (auto& e : (co_await next_within(w)).events)
        keys.push_back((e.type == event_type::del ? "-" : "+") + e.kv.key.substr(p.size()));
    BOOST_TEST((keys == std::vector<std::string>{"+a", "+b", "-a"}));

    // Without deletes.
    watch_options puts_only;
    puts_only.filter_delete = true;
    auto only = co_await c.watch_prefix(p, puts_only);
    co_await c.del(p + "b");
    co_await c.put(p + "c", "3");
    auto b = co_await next_within(only);
    BOOST_REQUIRE_EQUAL(b.events.size(), 1u);
    BOOST_TEST(b.events[0].kv.key == p + "c");

    // Cancelling one next() (a deadline) leaves the watch usable.
    try {
      co_await with_timeout(only.next(), 50ms);
      BOOST_FAIL("next() returned without an event");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::timeout);
    }
    co_await c.put(p + "d", "4");
    BOOST_TEST((co_await next_within(only)).events.at(0).kv.key == p + "d");
  });
}

BOOST_AUTO_TEST_CASE(a_thousand_watches_share_one_connection) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto p = unique_prefix("many");
        const int n = 1000;
        std::vector<watch_stream> ws;
        for (int i = 0; i < n; ++i) ws.push_back(co_await c.watch(p + std::to_string(i)));
        auto stats = coordination::detail::impl_of(c).hub().stats();
        BOOST_TEST(stats.links == 1u);
        BOOST_TEST(stats.watches == static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) co_await c.put(p + std::to_string(i), std::to_string(i));
        for (int i = 0; i < n; ++i) {
          auto b = co_await next_within(ws[i]);
          BOOST_REQUIRE_EQUAL(b.events.size(), 1u);
          BOOST_TEST(b.events[0].kv.key == p + std::to_string(i));
          BOOST_TEST(b.events[0].kv.value == std::to_string(i));
        }
        // Cancel every other watch; the rest keep working and see only their own key.
        for (int i = 0; i < n; i += 2) ws[i].cancel();
        for (int i = 0; i < n; ++i) co_await c.put(p + std::to_string(i), "again");
        for (int i = 1; i < n; i += 2) {
          auto b = co_await next_within(ws[i]);
          BOOST_REQUIRE_EQUAL(b.events.size(), 1u);
          BOOST_TEST(b.events[0].kv.key == p + std::to_string(i));
          BOOST_TEST(b.events[0].kv.value == "again");
          BOOST_TEST(ws[i].queued_events() == 0u);
        }
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().watches ==
                   static_cast<std::size_t>(n / 2));
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().links == 1u);
      },
      120s);
}

BOOST_AUTO_TEST_CASE(compacted_start_revision_is_reported) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto key = unique_prefix("compacted") + "k";
    auto r1 = co_await c.put(key, "a");
    auto r2 = co_await c.put(key, "b");
    co_await c.compact(r2.header.revision);
    watch_options o;
    o.start_revision = r1.header.revision;
    try {
      auto w = co_await c.watch(key, o);
      co_await next_within(w);
      BOOST_FAIL("a watch from a compacted revision delivered events");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::compacted, e.what());
    }
  });
}

BOOST_AUTO_TEST_CASE(slow_consumer_is_paused_and_resumed_without_loss) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto p = unique_prefix("slow");
        watch_options o;
        o.max_queued_events = 20;
        auto slow = co_await c.watch_prefix(p, o);
        auto fast = co_await c.watch_prefix(p);
        const int n = 200;
        for (int i = 0; i < n; ++i) co_await c.put(p + std::to_string(i), "v");
        // The fast consumer is not held up by the slow one.
        int fast_seen = 0;
        while (fast_seen < n) fast_seen += (co_await next_within(fast)).events.size();
        BOOST_TEST(slow.queued_events() <= 2 * o.max_queued_events);
        std::int64_t last = 0;
        int slow_seen = 0;
        while (slow_seen < n) {
          auto b = co_await next_within(slow);
          for (auto& e : b.events) {
            BOOST_TEST(e.kv.mod_revision > last);  // in order, no repeats
            last = e.kv.mod_revision;
            ++slow_seen;
          }
        }
        BOOST_TEST(slow_seen == n);
      },
      60s);
}

BOOST_AUTO_TEST_CASE(fragmented_revisions_arrive_whole) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto p = unique_prefix("fragment");
        watch_options o;
        o.fragment = true;
        o.prev_kv = true;
        o.filter_put = true;
        auto w = co_await c.watch_prefix(p, o);
        const int n = 30;
        std::string big(100 * 1024, 'x');
        for (int i = 0; i < n; ++i) co_await c.put(p + std::to_string(i), big);
        delete_options everything;
        everything.prefix = true;
        auto d = co_await c.del(p, everything);  // one revision, ~3 MiB of prev_kv: split by etcd
        BOOST_TEST(d.deleted == n);
        auto b = co_await next_within(w, 10000ms);
        BOOST_REQUIRE_EQUAL(b.events.size(), static_cast<std::size_t>(n));
        for (auto& e : b.events) {
          BOOST_TEST((e.type == event_type::del));
          BOOST_TEST(e.kv.mod_revision == d.header.revision);
          BOOST_TEST(e.prev_kv->value.size() == big.size());
        }
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().fragments >=
                   1u);  // etcd did split it
      },
      60s);
}

BOOST_AUTO_TEST_CASE(bad_watch_input) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    for (int which = 0; which < 3; ++which) {
      try {
        if (which == 0) co_await c.watch("");
        if (which == 1) {
          watch_options o;
          o.start_revision = -1;
          co_await c.watch("k", o);
        }
        if (which == 2) co_await c.watch_range("k", "");
        BOOST_FAIL("bad watch accepted");
      } catch (const coordination_error& e) {
        BOOST_TEST(e.code() == error::invalid_argument);
      }
    }
  });
}

void exactly_once_across_restart(watch_transport mode) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(1);
  std::thread chaos;
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        cfg.request_timeout = 20s;
        cfg.watch_transport = mode;
        client c(io.get_executor(), cfg);
        auto p = unique_prefix("restart");
        auto w = co_await c.watch_prefix(p);
        const int n = 5000;
        std::vector<std::int64_t> written;  // revisions of acknowledged puts
        std::int64_t first = 0;
        for (int i = 0; i < n; ++i) {
          if (i == n / 2)  // kill -9 and restart (same data dir) while writes and the watch run
            chaos = std::thread([&] {
              cluster.kill(0);
              cluster.restart(0);
            });
          for (;;) {
            try {
              auto r = co_await c.put(p + std::to_string(i), std::to_string(i));
              written.push_back(r.header.revision);
              if (!first) first = r.header.revision;
              break;
            } catch (const coordination_error& e) {
              // The write may or may not have happened: write it again (a new revision).
              BOOST_TEST_MESSAGE("put " << i << ": " << e.what());
            }
          }
        }
        std::vector<std::int64_t> seen;
        while (seen.empty() || seen.back() < written.back()) {
          auto b = co_await next_within(w, 30000ms);
          for (auto& e : b.events) seen.push_back(e.kv.mod_revision);
        }
        // Exactly once and in order: strictly increasing, and every acknowledged write is there.
        for (std::size_t i = 1; i < seen.size(); ++i)
          BOOST_REQUIRE_MESSAGE(seen[i] > seen[i - 1],
                                "revision " << seen[i] << " after " << seen[i - 1]);
        std::set<std::int64_t> seen_set(seen.begin(), seen.end());
        for (auto r : written) BOOST_REQUIRE_MESSAGE(seen_set.count(r), "missed revision " << r);
        // Nothing invented: etcd's own history (a fresh replay) matches what was delivered.
        watch_options replay;
        replay.start_revision = first;
        auto again = co_await c.watch_prefix(p, replay);
        std::vector<std::int64_t> history;
        while (history.size() < seen.size()) {
          auto b = co_await next_within(again, 30000ms);
          for (auto& e : b.events) history.push_back(e.kv.mod_revision);
        }
        BOOST_TEST((history == seen));
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().link_failures >= 1u);
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().resumed_watches >= 1u);
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().post_form ==
                   (mode == watch_transport::post));
      },
      240s);
  if (chaos.joinable()) chaos.join();
}

BOOST_AUTO_TEST_CASE(every_revision_exactly_once_across_an_etcd_restart) {
  exactly_once_across_restart(watch_transport::websocket);
}

BOOST_AUTO_TEST_CASE(every_revision_exactly_once_across_a_restart_post_form) {
  exactly_once_across_restart(watch_transport::post);
}

BOOST_AUTO_TEST_CASE(post_form_routes_and_cancels) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto cfg = config_for(shared_endpoints());
    cfg.watch_transport = watch_transport::post;
    client c(io.get_executor(), cfg);
    auto p = unique_prefix("post");
    std::vector<watch_stream> ws;
    for (int i = 0; i < 50; ++i) ws.push_back(co_await c.watch(p + std::to_string(i)));
    BOOST_TEST(coordination::detail::impl_of(c).hub().stats().post_form);
    for (int i = 0; i < 50; i += 2) ws[i].cancel();
    for (int i = 0; i < 50; ++i) co_await c.put(p + std::to_string(i), std::to_string(i));
    for (int i = 1; i < 50; i += 2) {
      auto b = co_await next_within(ws[i]);
      BOOST_REQUIRE_EQUAL(b.events.size(), 1u);
      BOOST_TEST(b.events[0].kv.key == p + std::to_string(i));
    }
    for (int i = 0; i < 50; i += 2) BOOST_TEST(ws[i].queued_events() == 0u);
    BOOST_TEST(coordination::detail::impl_of(c).hub().stats().links <= 16u);
  });
}

BOOST_AUTO_TEST_CASE(leaderless_member_loses_its_streams) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto cfg = config_for(cluster.client_urls());
        cfg.watch_health_interval = 500ms;
        cfg.watch_transport = watch_transport::websocket;
        client c(io.get_executor(), cfg);
        auto p = unique_prefix("leaderless");
        auto w = co_await c.watch_prefix(p);
        auto before = co_await c.put(p + "before", "1");
        BOOST_TEST((co_await next_within(w)).events.at(0).kv.mod_revision ==
                   before.header.revision);
        // m0 (the stream's endpoint) loses its peers: it has no leader. Its WebSocket stream
        // stays open (the proxy cannot pass Hasleader), so the hub's probe must notice.
        cluster.kill(1);
        cluster.kill(2);
        co_await eventually(
            [&] { return coordination::detail::impl_of(c).hub().stats().leaderless_endpoints > 0; },
            20s, "the probe finding the leaderless member", 100ms);
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().link_failures >= 1u);
        cluster.restart_members({1, 2});
        std::int64_t last = 0;
        for (;;) {
          try {
            last = (co_await c.put(p + "after", "2")).header.revision;
            break;
          } catch (const coordination_error&) {  // the cluster may still be electing
          }
        }
        std::vector<std::int64_t> seen;
        while (seen.empty() || seen.back() < last)
          for (auto& e : (co_await next_within(w, 30000ms)).events)
            seen.push_back(e.kv.mod_revision);
        BOOST_TEST(seen.back() == last);
        for (std::size_t i = 1; i < seen.size(); ++i) BOOST_TEST(seen[i] > seen[i - 1]);
      },
      120s);
}

// etcd answers a progress_request (3.4.25+/3.5.8+/3.6) only when every watcher on the stream is
// synced, so a client waiting for that answer could hang behind a watcher that is catching up.
// The library never sends one: progress comes from etcd's periodic notifications, which etcd
// sends to each synced watcher whatever the others on the stream do. Here one watcher on the
// stream starts 1500 revisions back (etcd's unsynced group), another asks for notifications.
BOOST_AUTO_TEST_CASE(progress_notifications_arrive_while_a_watcher_on_the_stream_catches_up) {
  if (using_external_cluster()) return;
  etcd_options opts;
  opts.extra_args = {"--experimental-watch-progress-notify-interval=200ms"};
  etcd_cluster cluster(1, opts);
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(cluster.client_urls()));
        const int n = 1500;
        std::int64_t first = 0, head = 0;
        for (int i = 0; i < n; ++i) {
          head = (co_await c.put("history", std::to_string(i))).header.revision;
          if (i == 0) first = head;
        }
        watch_options from_start;
        from_start.start_revision = first;
        auto behind = co_await c.watch("history", from_start);
        watch_options notified;
        notified.progress_notify = true;
        auto quiet = co_await c.watch("quiet", notified);
        BOOST_TEST(coordination::detail::impl_of(c).hub().stats().links == 1u);

        // The quiet watcher gets an empty batch (a notification) once the store's revision
        // has moved past its own (a notification that does not advance it says nothing new,
        // and is not delivered).
        auto elsewhere = co_await c.put("elsewhere", "x");
        auto note = co_await next_within(quiet, 10000ms);
        BOOST_TEST(note.events.empty());
        BOOST_TEST(note.revision >= elsewhere.header.revision);

        // The one behind gets every revision once, in order.
        std::vector<std::int64_t> seen;
        while (seen.size() < static_cast<std::size_t>(n)) {
          auto b = co_await next_within(behind, 10000ms);
          for (auto& e : b.events) seen.push_back(e.kv.mod_revision);
        }
        BOOST_TEST_REQUIRE(seen.size() == static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) BOOST_TEST(seen[static_cast<std::size_t>(i)] == first + i);

        // Both still deliver what comes next.
        auto later = co_await c.put("quiet", "now");
        watch_batch b;
        do {
          b = co_await next_within(quiet, 10000ms);
        } while (b.events.empty());  // (notifications may come first)
        BOOST_TEST(b.events.at(0).kv.mod_revision == later.header.revision);
        auto last = co_await c.put("history", "last");
        do {
          b = co_await next_within(behind, 10000ms);
        } while (b.events.empty());
        BOOST_TEST(b.events.at(0).kv.mod_revision == last.header.revision);
      },
      90s);
}

BOOST_AUTO_TEST_SUITE_END()
