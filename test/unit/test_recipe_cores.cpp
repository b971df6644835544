// The counter's and the queue's decisions (recipes/counter/counter_core, recipes/queue/
// queue_core) without etcd: what a counter key may hold, overflow, the guard of each txn, and
// how the answer of a first sending and of a resend is read (the resend of an applied push or
// pop must be recognised as applied, another popper's take must not).
#include <boost/test/unit_test.hpp>
#include <set>

#include "coordination/error.hpp"
#include "protocol/text.hpp"
#include "recipes/barrier/barrier_core.hpp"
#include "recipes/counter/counter_core.hpp"
#include "recipes/queue/queue_core.hpp"
#include "unit/kv_of.hpp"
#include "unit/refusal.hpp"

using namespace coordination;
using namespace coordination::detail;
using coordination::test::kv_of;
using coordination::test::refusal;

namespace {

// A failure-branch answer whose one range found `kvs`.
txn_result failed_with(std::vector<key_value> kvs) {
  txn_result r;
  r.succeeded = false;
  range_result range;
  range.kvs = std::move(kvs);
  r.responses.emplace_back(std::move(range));
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recipe_cores)

BOOST_AUTO_TEST_CASE(counter_values_and_what_is_refused) {
  BOOST_TEST(counter_value("c", std::nullopt) == 0);
  BOOST_TEST(counter_value("c", kv_of("c", "-42", 5)) == -42);
  BOOST_TEST(counter_value("c", kv_of("c", "9223372036854775807", 5)) == INT64_MAX);
  BOOST_TEST(refusal([] {
               counter_value("jobs", kv_of("jobs", "12x", 5));
             }).find("counter 'jobs' holds '12x'") != std::string::npos);
  BOOST_TEST(refusal([] { counter_value("c", kv_of("c", "", 5)); }) != "");
  BOOST_TEST(refusal([] { counter_value("c", kv_of("c", " 1", 5)); }) != "");
  BOOST_TEST(refusal([] { counter_value("c", kv_of("c", "9223372036854775808", 5)); }) != "");
  // bytes that are not text are shown as base64, not raw
  BOOST_TEST(refusal([] {
               counter_value("c", kv_of("c", std::string("\xff\x01", 2), 5));
             }).find("base64 /wE=") != std::string::npos);
  BOOST_TEST(counter_sum("c", 2, -5) == -3);
  BOOST_TEST(refusal([] { counter_sum("c", INT64_MAX, 1); }).find("overflows") !=
             std::string::npos);
  BOOST_TEST(refusal([] { counter_sum("c", INT64_MIN, -1); }) != "");
}

BOOST_AUTO_TEST_CASE(counter_txn_is_guarded_by_what_was_seen) {
  txn_request absent = counter_write_txn("c", std::nullopt, 7);
  BOOST_REQUIRE(absent.compares.size() == 1u);
  BOOST_TEST(absent.compares[0].number == 0);  // mod revision 0: the key must still be absent
  BOOST_TEST((absent.compares[0].target == compare_target::mod));
  BOOST_TEST(!absent.idempotent);  // resent after it applied, it would add twice
  auto& put = std::get<put_op>(absent.success.at(0));
  BOOST_TEST(put.value == "7");
  BOOST_TEST(std::get<range_op>(absent.failure.at(0)).key == "c");

  txn_request present = counter_write_txn("c", kv_of("c", "6", 41), 7);
  BOOST_TEST(present.compares[0].number == 41);

  txn_result lost = failed_with({kv_of("c", "9", 44)});
  counter_attempt a = read_counter_attempt(lost);
  BOOST_TEST(!a.applied);
  BOOST_REQUIRE(a.now.has_value());
  BOOST_TEST(a.now->value == "9");
  BOOST_TEST(!read_counter_attempt(failed_with({})).now.has_value());  // deleted meanwhile
  txn_result ok;
  ok.succeeded = true;
  BOOST_TEST(read_counter_attempt(ok).applied);
}

BOOST_AUTO_TEST_CASE(queue_layout) {
  BOOST_TEST(queue_items_prefix("jobs") == "jobs/items/");
  BOOST_TEST(queue_claim_key("jobs", "00ff") == "jobs/claims/00ff");
  BOOST_TEST(refusal([] { queue_items_prefix(""); }).find("queue name") != std::string::npos);
  // priority buckets sort in priority order, and an item's bucket is found from its key
  BOOST_TEST(priority_bucket("jobs/items/", 7) == "jobs/items/00007/");
  BOOST_TEST(priority_bucket("jobs/items/", 65535) == "jobs/items/65535/");
  BOOST_TEST(priority_bucket("jobs/items/", 9) < priority_bucket("jobs/items/", 10));
  BOOST_TEST(bucket_of("jobs/items/", "jobs/items/00007/00ff") == "jobs/items/00007/");
  BOOST_TEST(bucket_of("jobs/items/", "jobs/items/00ff") == "");  // a plain queue's item
  BOOST_TEST(bucket_of("jobs/items/", "other/items/00007/00ff") == "");
  std::set<std::string> tokens;
  for (int i = 0; i < 1000; ++i) {
    std::string t = random_token();
    BOOST_TEST(t.size() == 16u);
    BOOST_TEST(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    tokens.insert(t);
  }
  BOOST_TEST(tokens.size() == 1000u);
}

BOOST_AUTO_TEST_CASE(push_is_put_if_absent_and_its_resend_is_recognised) {
  txn_request t = queue_push_txn("q/items/a", "q/claims/b", "job", 77);
  BOOST_TEST(t.idempotent);
  BOOST_REQUIRE(t.compares.size() == 2u);
  BOOST_TEST(t.compares[0].key == "q/items/a");
  BOOST_TEST(t.compares[1].key == "q/claims/b");
  for (auto& c : t.compares) {
    BOOST_TEST((c.target == compare_target::create));
    BOOST_TEST(c.number == 0);
  }
  BOOST_TEST(std::get<put_op>(t.success.at(0)).value == "job");
  BOOST_TEST(std::get<put_op>(t.success.at(1)).options.lease == 77);
  BOOST_TEST(std::get<range_op>(t.failure.at(0)).key == "q/claims/b");

  txn_result applied;
  applied.succeeded = true;
  applied.header.revision = 12;
  BOOST_TEST(read_push_answer(applied) == 12);
  // resent after it applied (the item may have been popped since): the claim is there
  BOOST_TEST(read_push_answer(failed_with({kv_of("q/claims/b", "q/items/a", 12)})) == 12);
  // the random item key was someone else's: not applied, push again
  BOOST_TEST(read_push_answer(failed_with({})) == 0);
}

BOOST_AUTO_TEST_CASE(pop_takes_an_unchanged_item_once_and_knows_its_own_take) {
  key_value item = kv_of("q/items/a", "job", 20, 18);
  txn_request t = queue_pop_txn(item, "q/claims/c", 77);
  BOOST_TEST(t.idempotent);
  BOOST_REQUIRE(t.compares.size() == 1u);
  BOOST_TEST((t.compares[0].target == compare_target::mod));
  BOOST_TEST(t.compares[0].number == 20);
  BOOST_TEST(std::get<delete_op>(t.success.at(0)).key == "q/items/a");
  auto& claim = std::get<put_op>(t.success.at(1));
  BOOST_TEST(claim.key == "q/claims/c");
  BOOST_TEST(claim.value == "q/items/a");
  BOOST_TEST(claim.options.lease == 77);

  txn_result applied;
  applied.succeeded = true;
  BOOST_TEST(read_pop_answer(applied, "q/items/a"));
  // an earlier sending took it: the claim names the item
  BOOST_TEST(read_pop_answer(failed_with({kv_of("q/claims/c", "q/items/a", 21)}), "q/items/a"));
  // another popper took it: no claim of ours
  BOOST_TEST(!read_pop_answer(failed_with({}), "q/items/a"));
  BOOST_TEST(!read_pop_answer(failed_with({kv_of("q/claims/c", "q/items/z", 21)}), "q/items/a"));
}

BOOST_AUTO_TEST_CASE(printable_text_for_messages) {
  BOOST_TEST(printable("abc") == "'abc'");
  BOOST_TEST(printable("a\nb") == "base64 YQpi");
  std::string longer(70, 'x');
  BOOST_TEST(printable(longer) == "'" + std::string(64, 'x') + "' (70 bytes)");
  // not cut inside a UTF-8 sequence
  std::string accents = std::string(63, 'x') + "\xc3\xa9";
  BOOST_TEST(printable(accents) == "'" + std::string(63, 'x') + "' (65 bytes)");
}

BOOST_AUTO_TEST_CASE(double_barrier_enter_and_leave_steps) {
  BOOST_TEST(barrier_waiters_prefix("b") == "b/waiters/");
  BOOST_TEST(barrier_ready_key("b") == "b/ready");
  BOOST_TEST((after_enter(2, 3) == enter_step::wait));
  BOOST_TEST((after_enter(3, 3) == enter_step::complete));
  BOOST_TEST((after_enter(4, 3) == enter_step::too_many));

  std::vector<key_value> three = {kv_of("b/waiters/x", "", 12), kv_of("b/waiters/l", "", 10),
                                  kv_of("b/waiters/h", "", 14)};
  // the lowest waits for the highest
  leave_step s = next_leave_step(three, "b/waiters/l");
  BOOST_TEST((s.what == leave_step::wait_for));
  BOOST_TEST(s.key == "b/waiters/h");
  BOOST_TEST(s.revision == 14);
  // any other deletes its key and waits for the lowest
  s = next_leave_step(three, "b/waiters/x");
  BOOST_TEST((s.what == leave_step::delete_and_wait));
  BOOST_TEST(s.key == "b/waiters/l");
  // a leaver whose key is gone already still waits for the lowest
  s = next_leave_step(three, "b/waiters/gone");
  BOOST_TEST((s.what == leave_step::delete_and_wait));
  // the last one finishes; nobody left: done
  BOOST_TEST(
      (next_leave_step({kv_of("b/waiters/l", "", 10)}, "b/waiters/l").what == leave_step::finish));
  BOOST_TEST((next_leave_step({}, "b/waiters/l").what == leave_step::done));
}

BOOST_AUTO_TEST_SUITE_END()
