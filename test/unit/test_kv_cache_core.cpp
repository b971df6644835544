// The kv_cache's decisions (recipes/kv_cache/kv_cache_core) without etcd: the chunked
// copy-on-write map against std::map under random edits (old snapshots never change, untouched
// chunks stay shared), the difference of two snapshots, watch batches and re-reads applied to a
// cache (events already covered are skipped), the confirming txn, and a change stream's queue
// when its consumer falls behind.
#include <boost/test/unit_test.hpp>
#include <map>
#include <random>

#include "recipes/kv_cache/kv_cache_core.hpp"
#include "unit/kv_of.hpp"

using namespace coordination;
using namespace coordination::detail;
using coordination::test::kv_of;

namespace {

std::map<std::string, key_value> as_map(const kv_snapshot& s) {
  std::map<std::string, key_value> m;
  std::string last;
  bool first = true;
  for (const key_value& kv : s) {
    BOOST_TEST((first || last < kv.key), "keys out of order at " << kv.key);
    first = false;
    last = kv.key;
    m.emplace(kv.key, kv);
  }
  BOOST_TEST(m.size() == s.size());
  return m;
}

watch_event put_event(std::string key, std::string value, std::int64_t rev) {
  return watch_event{event_type::put, kv_of(std::move(key), std::move(value), rev), std::nullopt};
}
watch_event del_event(std::string key, std::int64_t rev) {
  key_value kv;
  kv.key = std::move(key);
  kv.mod_revision = rev;
  return watch_event{event_type::del, kv, std::nullopt};
}

std::string key_no(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}

// Applies `changes` to `m` (what a consumer of the change stream does).
void replay(std::map<std::string, key_value>& m, const std::vector<kv_change>& changes) {
  for (auto& c : changes) {
    if (c.type == event_type::del) {
      BOOST_TEST(m.count(c.kv.key) == 1u, "deleting absent " << c.kv.key);
      m.erase(c.kv.key);
    } else {
      m[c.kv.key] = c.kv;
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kv_cache_core_suite)

BOOST_AUTO_TEST_CASE(random_edits_match_a_map_and_old_snapshots_stay) {
  std::mt19937 gen(7);
  std::map<std::string, key_value> model;
  kv_snapshot snap;
  std::vector<std::pair<kv_snapshot, std::map<std::string, key_value>>> kept;
  std::int64_t rev = 1;
  for (int round = 0; round < 60; ++round) {
    kv_editor e(kv_snapshot_access::root(snap));
    int edits = 1 + static_cast<int>(gen() % 200);
    for (int k = 0; k < edits; ++k) {
      std::string key = key_no(static_cast<int>(gen() % 3000));
      if (gen() % 4 == 0) {
        auto old = e.erase(key);
        BOOST_TEST(old.has_value() == (model.count(key) == 1));
        model.erase(key);
      } else {
        ++rev;
        auto kv = kv_of(key, "v" + std::to_string(rev), rev);
        auto old = e.put(kv);
        BOOST_TEST(old.has_value() == (model.count(key) == 1));
        model[key] = kv;
      }
    }
    snap = kv_snapshot_access::make(e.commit(), rev);
    BOOST_REQUIRE(as_map(snap) == model);
    for (auto& c : kv_snapshot_access::root(snap)->chunks) {
      BOOST_TEST(!c->kvs.empty());
      BOOST_TEST(c->kvs.size() <= kv_chunk_max);
    }
    if (round % 10 == 0) kept.emplace_back(snap, model);
  }
  BOOST_TEST(snap.size() > 500u);  // enough keys for many chunks
  BOOST_TEST(kv_snapshot_access::root(snap)->chunks.size() > 5u);
  for (auto& [s, m] : kept) BOOST_TEST((as_map(s) == m), "an old snapshot changed");
  // find and lower_bound
  for (int i = 0; i < 3000; i += 7) {
    auto* kv = snap.find(key_no(i));
    BOOST_TEST((kv != nullptr) == (model.count(key_no(i)) == 1));
    auto lb = snap.lower_bound(key_no(i));
    auto want = model.lower_bound(key_no(i));
    if (want == model.end())
      BOOST_TEST((lb == snap.end()));
    else
      BOOST_TEST(lb->key == want->first);
  }
  BOOST_TEST(!snap.find("a"));  // before every key
  BOOST_TEST(!snap.find("z"));  // after every key
  BOOST_TEST((kv_snapshot().begin() == kv_snapshot().end()));
}

BOOST_AUTO_TEST_CASE(one_change_copies_one_chunk) {
  std::vector<key_value> kvs;
  for (int i = 0; i < 10000; ++i) kvs.push_back(kv_of(key_no(i), "x", 10));
  auto before = kv_snapshot_access::make(build_root(std::move(kvs)), 10);
  kv_editor e(kv_snapshot_access::root(before));
  e.put(kv_of(key_no(5000), "y", 11));
  auto after = kv_snapshot_access::make(e.commit(), 11);
  auto& a = kv_snapshot_access::root(before)->chunks;
  auto& b = kv_snapshot_access::root(after)->chunks;
  BOOST_REQUIRE(a.size() == b.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  BOOST_TEST(differ == 1u);
  BOOST_TEST(before.find(key_no(5000))->value == "x");
  BOOST_TEST(after.find(key_no(5000))->value == "y");
  // The difference finds the one change, skipping the shared chunks.
  auto d = diff_snapshots(before, after, 11);
  BOOST_REQUIRE(d.size() == 1u);
  BOOST_TEST(d[0].kv.value == "y");
  BOOST_TEST(d[0].prev->value == "x");
}

BOOST_AUTO_TEST_CASE(a_difference_turns_one_snapshot_into_the_other) {
  std::mt19937 gen(11);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<key_value> a, b;
    for (int i = 0; i < 600; ++i) {
      int pick = static_cast<int>(gen() % 4);  // in a only, b only, both same, both changed
      if (pick != 1) a.push_back(kv_of(key_no(i), "a", 5));
      if (pick == 1) b.push_back(kv_of(key_no(i), "b", 9));
      if (pick == 2) b.push_back(kv_of(key_no(i), "a", 5));
      if (pick == 3) b.push_back(kv_of(key_no(i), "b", 8));
    }
    auto from = kv_snapshot_access::make(build_root(a), 5);
    auto to = kv_snapshot_access::make(build_root(b), 9);
    auto m = as_map(from);
    auto d = diff_snapshots(from, to, 9);
    replay(m, d);
    BOOST_TEST((m == as_map(to)));
    for (auto& c : d) {
      if (c.type == event_type::del) {
        BOOST_TEST(c.kv.mod_revision == 9);
        BOOST_TEST(c.prev->value == "a");
      } else {
        BOOST_TEST(c.kv.value == "b");  // an unchanged key is not reported
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(batches_apply_whole_and_covered_events_are_skipped) {
  kv_cache_core core;
  auto first = core.reset({kv_of("p/a", "1", 3), kv_of("p/b", "2", 4)}, 10);
  BOOST_TEST(first.size() == 2u);  // from empty: two puts
  BOOST_TEST(core.revision() == 10);

  watch_batch b;
  b.revision = 12;
  b.events = {put_event("p/a", "1b", 11), del_event("p/b", 12), del_event("p/zz", 12),
              put_event("p/c", "3", 12)};
  auto before = core.snapshot();
  auto ch = core.apply(b);
  BOOST_REQUIRE(ch.size() == 3u);  // p/zz was not held: no change
  BOOST_TEST(ch[0].prev->value == "1");
  BOOST_TEST(ch[0].kv.value == "1b");
  BOOST_TEST((ch[1].type == event_type::del));
  BOOST_TEST(ch[1].prev->value == "2");
  BOOST_TEST(ch[1].kv.mod_revision == 12);
  BOOST_TEST(!ch[2].prev);
  BOOST_TEST(core.revision() == 12);
  BOOST_TEST(before.find("p/b")->value == "2");  // the old snapshot is as it was
  BOOST_TEST(!core.snapshot().find("p/b"));

  // a confirmation moves the revision; events it covered (a key created and deleted in the
  // gap, delivered late) are skipped, later ones applied
  core.confirm(20);
  BOOST_TEST(core.revision() == 20);
  watch_batch late;
  late.events = {put_event("p/tmp", "t", 15), del_event("p/tmp", 16), put_event("p/d", "4", 21)};
  ch = core.apply(late);
  BOOST_REQUIRE(ch.size() == 1u);
  BOOST_TEST(ch[0].kv.key == "p/d");
  BOOST_TEST(core.revision() == 21);
  BOOST_TEST(!core.snapshot().find("p/tmp"));
  core.confirm(19);  // never backwards
  BOOST_TEST(core.revision() == 21);

  // a progress notification moves the revision, with no change
  watch_batch progress;
  progress.revision = 30;
  BOOST_TEST(core.apply(progress).empty());
  BOOST_TEST(core.revision() == 30);

  // a re-read reports the difference
  auto again = core.reset({kv_of("p/a", "1b", 11), kv_of("p/e", "5", 31)}, 31);
  BOOST_REQUIRE(again.size() == 3u);  // c and d gone, e new; a unchanged
  BOOST_TEST(again[0].kv.key == "p/c");
  BOOST_TEST((again[0].type == event_type::del));
  BOOST_TEST(again[1].kv.key == "p/d");
  BOOST_TEST(again[2].kv.key == "p/e");
  BOOST_TEST(core.revision() == 31);
}

BOOST_AUTO_TEST_CASE(the_confirming_txn_and_its_answer) {
  auto t = confirm_txn("p/", "p0", 41);
  BOOST_TEST(t.compares.empty());
  BOOST_REQUIRE(t.success.size() == 2u);
  auto& newer = std::get<range_op>(t.success[0]);
  BOOST_TEST(newer.options.min_mod_revision == 42);
  BOOST_TEST(newer.options.range_end == "p0");
  BOOST_TEST(newer.options.limit == 1);
  BOOST_TEST(std::get<range_op>(t.success[1]).options.count_only);

  auto answer = [](std::vector<key_value> newer_kvs, std::int64_t count) {
    txn_result r;
    r.succeeded = true;
    r.header.revision = 57;
    range_result a, b;
    a.kvs = std::move(newer_kvs);
    b.count = count;
    r.responses.emplace_back(a);
    r.responses.emplace_back(b);
    return r;
  };
  BOOST_TEST(read_confirmation(answer({}, 3), 3).value_or(0) == 57);
  BOOST_TEST(!read_confirmation(answer({}, 2), 3));                      // a key was deleted
  BOOST_TEST(!read_confirmation(answer({kv_of("p/x", "", 50)}, 3), 3));  // one changed
  BOOST_TEST(!read_confirmation(txn_result{}, 3));                       // not an answer to it
}

BOOST_AUTO_TEST_CASE(a_consumer_that_falls_behind_gets_the_difference) {
  kv_cache_core core;
  core.reset({kv_of("p/a", "1", 3)}, 3);
  kv_update_queue q(core.snapshot(), 4);
  auto step = [&](std::vector<watch_event> evs) {
    watch_batch b;
    b.events = std::move(evs);
    kv_cache_update u;
    u.changes = core.apply(b);
    u.revision = core.revision();
    u.snapshot = core.snapshot();
    q.push(std::move(u));
  };
  BOOST_TEST(!q.ready());
  step({put_event("p/b", "2", 4)});
  BOOST_REQUIRE(q.ready());
  auto u = q.take();
  BOOST_TEST(!u.resynced);
  BOOST_TEST(u.revision == 4);
  BOOST_TEST(!q.ready());
  // six more updates with a limit of four: the queue is dropped for one difference
  step({put_event("p/tmp", "t", 5)});
  step({put_event("p/a", "1b", 6)});
  step({del_event("p/tmp", 7)});
  step({put_event("p/c", "3", 8)});
  step({del_event("p/b", 9)});
  step({put_event("p/a", "1c", 10)});
  BOOST_REQUIRE(q.ready());
  u = q.take();
  BOOST_TEST(u.resynced);
  BOOST_TEST(u.revision == 10);
  std::map<std::string, std::string> got;
  for (auto& c : u.changes) got[c.kv.key] = c.type == event_type::del ? "<del>" : c.kv.value;
  std::map<std::string, std::string> want{{"p/a", "1c"}, {"p/b", "<del>"}, {"p/c", "3"}};
  BOOST_TEST((got == want));  // p/tmp came and went: not reported
  BOOST_TEST(!q.ready());
  step({put_event("p/d", "4", 11)});  // after a difference, updates queue again
  u = q.take();
  BOOST_TEST(!u.resynced);
  BOOST_TEST(u.changes.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
