// The kv_cache against etcd: a paged first read, read-your-writes with wait_for_revision() (also
// for a write outside the prefix, which only the confirming txn can show), the change stream,
// writers racing while the cache follows them (its state and the stream's replay equal a fresh
// read, no change delivered twice), a re-read after compaction behind a network cut (one
// resynced update with the difference), and a 3-member cluster losing one member and pausing
// another while the cache follows.
#include <boost/asio/co_spawn.hpp>
#include <map>
#include <set>

#include "common.hpp"
#include "coordination/kv_cache.hpp"
#include "coordination/with_timeout.hpp"
#include "tcp_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> values_of(const kv_snapshot& s) {
  std::map<std::string, std::string> m;
  for (const key_value& kv : s) m[kv.key] = kv.value;
  return m;
}

asio::awaitable<std::map<std::string, std::string>> read_etcd(client& c, std::string prefix) {
  std::map<std::string, std::string> m;
  auto r = co_await c.get_prefix(prefix);
  for (auto& kv : r.kvs) m[kv.key] = kv.value;
  co_return m;
}

// Follows `w` into `state` (starting from `start`) until it reaches `revision`, checking that
// revisions only grow and no (key, mod_revision) comes twice.
asio::awaitable<void> follow(kv_cache_watch& w, std::map<std::string, std::string>& state,
                             std::int64_t revision,
                             std::set<std::pair<std::string, std::int64_t>>& seen, int& resynced) {
  std::int64_t last = 0;
  while (last < revision) {
    auto u = co_await with_timeout(w.next(), 30s);
    BOOST_TEST(u.revision > last);
    last = u.revision;
    if (u.resynced) ++resynced;
    for (auto& c : u.changes) {
      if (!u.resynced)
        BOOST_TEST(seen.insert({c.kv.key, c.kv.mod_revision}).second,
                   c.kv.key << " @" << c.kv.mod_revision << " delivered twice");
      if (c.type == event_type::del)
        state.erase(c.kv.key);
      else
        state[c.kv.key] = c.kv.value;
    }
    BOOST_TEST((state == values_of(u.snapshot)), "the replay differs from the update's snapshot");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kv_cache_suite)

BOOST_AUTO_TEST_CASE(reads_in_pages_and_reads_its_writes) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("kvcache");
    for (int i = 0; i < 50; ++i)
      co_await c.put(p + "k" + std::to_string(100 + i), std::to_string(i));
    co_await c.put(p.substr(0, p.size() - 1) + "-outside", "x");  // shares the prefix's stem only
    kv_cache_options o;
    o.page_size = 7;  // 8 pages
    auto cache = co_await kv_cache::open(c, p, o);
    BOOST_TEST(cache.list().size() == 50u);
    BOOST_TEST((values_of(cache.list()) == co_await read_etcd(c, p)));
    BOOST_TEST(cache.get(p + "k120")->value == "20");
    BOOST_TEST(!cache.get(p + "nope"));
    auto start = cache.list();
    auto w = cache.watch();

    // read-your-writes
    auto put = co_await c.put(p + "k120", "changed");
    co_await with_timeout(cache.wait_for_revision(put.header.revision), 10s);
    BOOST_TEST(cache.revision() >= put.header.revision);
    BOOST_TEST(cache.get(p + "k120")->value == "changed");
    auto del = co_await c.del(p + "k121");
    co_await with_timeout(cache.wait_for_revision(del.header.revision), 10s);
    BOOST_TEST(!cache.get(p + "k121"));
    BOOST_TEST(start.find(p + "k121") != nullptr);  // an old snapshot keeps what it had

    // a write elsewhere: no event will come; the confirming txn moves the revision
    auto other = co_await c.put(unique_prefix("elsewhere") + "x", "y");
    co_await with_timeout(cache.wait_for_revision(other.header.revision), 10s);
    BOOST_TEST(cache.revision() >= other.header.revision);
    BOOST_TEST(cache.list().size() == 49u);

    // the change stream: both changes, with what they replaced
    auto u = co_await with_timeout(w.next(), 10s);
    BOOST_REQUIRE(u.changes.size() == 1u);
    BOOST_TEST(u.changes[0].kv.value == "changed");
    BOOST_TEST(u.changes[0].prev->value == "20");
    u = co_await with_timeout(w.next(), 10s);
    BOOST_REQUIRE(u.changes.size() == 1u);
    BOOST_TEST((u.changes[0].type == event_type::del));
    BOOST_TEST(u.changes[0].prev->value == "21");
    BOOST_TEST(u.changes[0].kv.mod_revision == del.header.revision);

    // closing ends the waits and the stream; reads keep the last state
    auto pending = cancelled_after(cache.wait_for_revision(other.header.revision + 1000), 50ms);
    BOOST_TEST(co_await std::move(pending) == "cancelled");
    cache.close();
    co_await expect_failure(w.next(), error::cancelled);
    co_await expect_failure(cache.wait_for_revision(other.header.revision + 1), error::cancelled);
    BOOST_TEST(cache.get(p + "k120")->value == "changed");
    kv_cache taken = std::move(cache);  // the moved-from handle refuses, it does not crash
    expect_error([&] { (void)cache.get(p + "k120"); }, error::invalid_argument, "moved-from");
    expect_error([&] { (void)cache.watch(); }, error::invalid_argument, "moved-from");
    BOOST_TEST(taken.list().size() == 49u);
    co_await expect_failure([&] { return kv_cache::open(c, ""); }, error::invalid_argument,
                            "prefix");
    kv_cache_options bad;
    bad.page_size = 0;
    co_await expect_failure([&] { return kv_cache::open(c, p, bad); }, error::invalid_argument,
                            "page_size");
    c.close();
  });
}

BOOST_AUTO_TEST_CASE(follows_racing_writers_exactly) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(shared_endpoints()));
        auto p = unique_prefix("kvcache-race");
        for (int i = 0; i < 20; ++i) co_await c.put(p + std::to_string(i), "init");
        auto cache = co_await kv_cache::open(c, p);
        auto state = values_of(cache.list());
        auto w = cache.watch();
        std::int64_t last = 0;
        int done = 0;
        for (int wr = 0; wr < 4; ++wr)
          asio::co_spawn(
              io,
              [&, wr]() -> asio::awaitable<void> {
                client mine(io.get_executor(), config_for(shared_endpoints()));
                for (int k = 0; k < 100; ++k) {
                  auto key = p + std::to_string((wr * 7 + k * 3) % 30);
                  std::int64_t rev;
                  if (k % 5 == 4) {
                    rev = (co_await mine.del(key)).header.revision;
                  } else {
                    rev = (co_await mine.put(key, std::to_string(wr) + ":" + std::to_string(k)))
                              .header.revision;
                  }
                  last = std::max(last, rev);
                }
                mine.close();
              },
              [&](std::exception_ptr e) {
                report_failure(e, "writer");
                ++done;
              });
        co_await eventually([&] { return done == 4; }, 60s, "writers done");
        co_await with_timeout(cache.wait_for_revision(last), 10s);
        auto truth = co_await read_etcd(c, p);
        BOOST_TEST((values_of(cache.list()) == truth));
        std::set<std::pair<std::string, std::int64_t>> seen;
        int resynced = 0;
        co_await follow(w, state, cache.revision(), seen, resynced);
        BOOST_TEST((state == truth));
        BOOST_TEST(resynced == 0);
        BOOST_TEST(seen.size() > 300u);  // (deletes of absent keys change nothing)
        c.close();
      },
      90s);
}

BOOST_AUTO_TEST_CASE(reads_again_after_compaction_and_reports_the_difference) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto target = shared_endpoints().front();
        tcp_proxy proxy(io.get_executor(), target);
        client direct(io.get_executor(), config_for({target}));
        auto cfg = config_for({proxy.url()});
        client c(io.get_executor(), cfg);
        auto p = unique_prefix("kvcache-compact");
        co_await direct.put(p + "same", "1");
        co_await direct.put(p + "changes", "1");
        co_await direct.put(p + "goes", "1");
        auto cache = co_await kv_cache::open(c, p);
        auto w = cache.watch();
        auto state = values_of(cache.list());
        BOOST_TEST(state.size() == 3u);

        proxy.cut();  // the watch breaks; the cache cannot see what follows
        co_await direct.put(p + "changes", "2");
        co_await direct.put(p + "changes", "3");
        co_await direct.del(p + "goes");
        co_await direct.put(p + "transient", "t");
        co_await direct.del(p + "transient");
        co_await direct.put(p + "new", "n");
        auto last = co_await direct.put(unique_prefix("elsewhere") + "x", "y");
        co_await direct.compact(last.header.revision);
        proxy.restore();  // the watch comes back from a compacted revision: a re-read

        std::set<std::pair<std::string, std::int64_t>> seen;
        int resynced = 0;
        auto u = co_await with_timeout(w.next(), 30s);
        BOOST_TEST(u.resynced);
        std::map<std::string, std::string> got;
        for (auto& ch : u.changes)
          got[ch.kv.key] = ch.type == event_type::del ? "<del>" : ch.kv.value;
        std::map<std::string, std::string> want{
            {p + "changes", "3"}, {p + "goes", "<del>"}, {p + "new", "n"}};
        BOOST_TEST((got == want));  // each once, the newest value; nothing for "transient"
        BOOST_TEST(cache.reloads() == 1u);
        BOOST_TEST(u.revision >= last.header.revision);
        // and it goes on watching
        auto after = co_await direct.put(p + "later", "l");
        co_await with_timeout(cache.wait_for_revision(after.header.revision), 10s);
        BOOST_TEST(cache.get(p + "later")->value == "l");
        for (auto& ch : u.changes)
          if (ch.type == event_type::del)
            state.erase(ch.kv.key);
          else
            state[ch.kv.key] = ch.kv.value;
        co_await follow(w, state, after.header.revision, seen, resynced);
        BOOST_TEST((state == co_await read_etcd(direct, p)));
        c.close();
        direct.close();
      },
      90s);
}

BOOST_AUTO_TEST_CASE(follows_a_cluster_while_members_die_and_pause) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  bool resumed = false;
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), config_for(cluster.client_urls()));
        client writer(io.get_executor(), config_for(cluster.client_urls()));
        auto p = unique_prefix("kvcache-chaos");
        auto cache = co_await kv_cache::open(c, p);
        auto w = cache.watch();
        std::map<std::string, std::string> state;
        std::int64_t last = 0;
        for (int i = 0; i < 150; ++i) {
          if (i == 50) cluster.kill(0);
          if (i == 100) pause_for(io.get_executor(), cluster, 1, 3s, resumed);  // no quorum
          for (;;) {  // a put of the same value again changes nothing a reader sees
            try {
              last = (co_await writer.put(p + std::to_string(i % 40), std::to_string(i)))
                         .header.revision;
              break;
            } catch (const coordination_error& e) {
              BOOST_TEST_MESSAGE("put " << i << ": " << e.what() << "; again");
            }
          }
        }
        co_await with_timeout(cache.wait_for_revision(last), 30s);
        auto truth = co_await read_etcd(writer, p);
        BOOST_TEST(truth.size() == 40u);
        BOOST_TEST((values_of(cache.list()) == truth));
        std::set<std::pair<std::string, std::int64_t>> seen;
        int resynced = 0;
        co_await follow(w, state, cache.revision(), seen, resynced);
        BOOST_TEST((state == truth));
        c.close();
        writer.close();
      },
      120s);
  if (!resumed) cluster.resume(1);
}

BOOST_AUTO_TEST_SUITE_END()
