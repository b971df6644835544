// run_stm's decisions (recipes/stm/stm_core) without etcd: how each isolation level reads,
// which compares its commit carries (Go's stm.go), the prefetch of a failed commit, and the
// backoff bounds.
#include <boost/test/unit_test.hpp>

#include "recipes/stm/stm_core.hpp"

using namespace coordination;
using namespace coordination::detail;

namespace {

range_result found(std::string key, std::string value, std::int64_t mod, std::int64_t at) {
  range_result r;
  r.header.revision = at;
  key_value kv;
  kv.key = std::move(key);
  kv.value = std::move(value);
  kv.mod_revision = mod;
  r.kvs.push_back(kv);
  return r;
}
range_result absent(std::int64_t at) {
  range_result r;
  r.header.revision = at;
  return r;
}
const compare* find_compare(const txn_request& t, const std::string& key, compare_result rel) {
  for (auto& c : t.compares)
    if (c.key == key && c.result == rel && c.target == compare_target::mod) return &c;
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stm_cores)

BOOST_AUTO_TEST_CASE(snapshot_reads_fix_the_revision_of_the_first) {
  stm_core s(stm_isolation::serializable_snapshot);
  BOOST_TEST(!s.cached("a").has_value());  // must fetch
  BOOST_TEST(s.fetch_options().revision == 0);
  BOOST_TEST(!s.fetch_options().serializable);  // the first read is linearizable
  BOOST_TEST(*s.fetched("a", found("a", "1", 5, 40)) == "1");
  BOOST_TEST(s.fetch_options().revision == 40);  // later reads: at the first one's revision
  BOOST_TEST(s.fetch_options().serializable);
  BOOST_TEST(!s.fetched("b", absent(40)).has_value());
  BOOST_TEST(**s.cached("a") == "1");  // each key read once
  BOOST_TEST(!s.cached("b")->has_value());
  BOOST_TEST(s.read_revision("a") == 5);
  BOOST_TEST(s.read_revision("b") == 0);
  s.put("b", "2", {});
  s.put("c", "3", {});                 // a blind write
  BOOST_TEST(**s.cached("b") == "2");  // own writes first
  s.del("a");
  BOOST_TEST(!s.cached("a")->has_value());

  txn_request t = s.commit_txn();
  BOOST_TEST(find_compare(t, "a", compare_result::equal)->number == 5);
  BOOST_TEST(find_compare(t, "b", compare_result::equal)->number == 0);  // still absent
  // written keys unmodified since the first read (revision 40): mod < 41
  for (auto* k : {"a", "b", "c"})
    BOOST_TEST(find_compare(t, k, compare_result::less)->number == 41);
  BOOST_TEST(t.compares.size() == 5u);
  BOOST_TEST(t.success.size() == 3u);
  BOOST_TEST(t.failure.size() == 2u);  // reads a and b back
  BOOST_TEST(!t.idempotent);
}

BOOST_AUTO_TEST_CASE(a_failed_commit_prefetches_the_next_attempt) {
  stm_core s(stm_isolation::serializable);
  s.fetched("a", found("a", "1", 5, 40));
  s.fetched("b", found("b", "x", 7, 40));
  s.put("a", "2", {});
  txn_request t = s.commit_txn();
  BOOST_TEST(t.compares.size() == 2u);  // serializable: the read set only
  BOOST_TEST(!find_compare(t, "a", compare_result::less));
  txn_result failed;
  failed.succeeded = false;
  failed.header.revision = 50;
  failed.responses.emplace_back(found("a", "9", 48, 50));
  failed.responses.emplace_back(absent(50));
  BOOST_TEST(!s.committed(failed));
  BOOST_TEST(s.reads() == 0u);
  BOOST_TEST(s.writes() == 0u);
  // the next attempt reads a and b without etcd, at the failed commit's revision
  BOOST_TEST(**s.cached("a") == "9");
  BOOST_TEST(s.fetch_options().revision == 50);
  BOOST_TEST(!s.cached("b")->has_value());
  BOOST_TEST(!s.cached("c").has_value());  // not prefetched: fetch (at revision 50)
  txn_result ok;
  ok.succeeded = true;
  BOOST_TEST(s.committed(ok));
}

BOOST_AUTO_TEST_CASE(repeatable_reads_and_read_committed) {
  stm_core rr(stm_isolation::repeatable_reads);
  BOOST_TEST(rr.fetch_options().serializable);
  rr.fetched("a", found("a", "1", 5, 40));
  BOOST_TEST(rr.fetch_options().revision == 0);  // no snapshot: newest each time
  rr.put("z", "1", {});
  txn_request t = rr.commit_txn();
  BOOST_TEST(t.compares.size() == 1u);  // the read key; the blind write unchecked
  BOOST_TEST(t.failure.empty());        // no prefetch
  txn_result failed;
  BOOST_TEST(!rr.committed(failed));
  BOOST_TEST(!rr.cached("a").has_value());

  stm_core rc(stm_isolation::read_committed);
  rc.fetched("a", found("a", "1", 5, 40));
  rc.put("a", "2", {});
  BOOST_TEST(rc.commit_txn().compares.empty());  // checks nothing
}

BOOST_AUTO_TEST_CASE(backoff_grows_and_is_bounded) {
  stm_options o;
  o.backoff_base = std::chrono::milliseconds(2);
  o.backoff_max = std::chrono::milliseconds(100);
  // The first conflict's retry goes at once (its commit brought the fresh values back).
  BOOST_TEST(stm_backoff(1, o, 0.999).count() == 0);
  BOOST_TEST(stm_backoff(2, o, 0.999).count() == 3);   // < 4
  BOOST_TEST(stm_backoff(4, o, 0.999).count() == 15);  // < 16
  BOOST_TEST(stm_backoff(30, o, 0.999).count() == 99);
  BOOST_TEST(stm_backoff(30, o, 0.0).count() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
