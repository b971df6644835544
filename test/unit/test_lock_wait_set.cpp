// The lock recipes' cores (recipes/lock/wait_set) without etcd: whom a waiter waits for, which
// deletion completes which waiter, what the shared deletion stream can vouch for, and the local
// FIFO of coroutines sharing a session.
#include <boost/test/unit_test.hpp>

#include "recipes/lock/wait_set.hpp"

using namespace coordination;
using namespace coordination::detail;

namespace {

key_value kv(std::string key, std::int64_t create_revision) {
  key_value k;
  k.key = std::move(key);
  k.create_revision = create_revision;
  k.mod_revision = create_revision;
  return k;
}

std::vector<deletion_index::waiter_id> ids(const std::vector<deletion_index::completion>& c) {
  std::vector<deletion_index::waiter_id> out;
  for (auto& x : c) out.push_back(x.id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plan_wait_suite)

BOOST_AUTO_TEST_CASE(the_first_waiter_waits_for_nobody) {
  auto p = plan_wait({kv("l/a", 10)}, "l/", "l/a", 10);
  BOOST_TEST(!p.own_key_gone);
  BOOST_TEST(p.predecessors.empty());
}

BOOST_AUTO_TEST_CASE(a_waiter_waits_for_every_earlier_key_newest_first) {
  auto p = plan_wait({kv("l/c", 30), kv("l/b", 20), kv("l/a", 10)}, "l/", "l/c", 30);
  BOOST_TEST(!p.own_key_gone);
  std::vector<std::string> want{"l/b", "l/a"};
  BOOST_TEST(p.predecessors == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(our_key_missing_from_the_range_means_it_expired) {
  auto p = plan_wait({kv("l/b", 20), kv("l/a", 10)}, "l/", "l/c", 30);
  BOOST_TEST(p.own_key_gone);
  BOOST_TEST(p.predecessors.empty());
}

BOOST_AUTO_TEST_CASE(an_empty_range_means_our_key_expired) {
  BOOST_TEST(plan_wait({}, "l/", "l/c", 30).own_key_gone);
}

BOOST_AUTO_TEST_CASE(a_key_of_the_same_name_created_again_is_not_ours) {
  // Our key went (lease expired) and another session's re-creation is newer: not ours.
  auto p = plan_wait({kv("l/c", 35), kv("l/a", 10)}, "l/", "l/c", 30);
  BOOST_TEST(p.own_key_gone);
}

BOOST_AUTO_TEST_CASE(a_reader_waits_for_the_earlier_writers_only) {
  // blockers "rw/write/": our read key is not among them, so nothing of ours to check.
  auto p = plan_wait({kv("rw/write/b", 20), kv("rw/write/a", 10)}, "rw/write/", "rw/read/r", 25);
  BOOST_TEST(!p.own_key_gone);
  std::vector<std::string> want{"rw/write/b", "rw/write/a"};
  BOOST_TEST(p.predecessors == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_reader_with_no_writer_before_it_goes_ahead) {
  auto p = plan_wait({}, "rw/write/", "rw/read/r", 25);
  BOOST_TEST(!p.own_key_gone);
  BOOST_TEST(p.predecessors.empty());
}

BOOST_AUTO_TEST_CASE(a_writer_waits_for_earlier_readers_and_writers) {
  auto p = plan_wait(
      {kv("rw/write/w", 40), kv("rw/read/r2", 30), kv("rw/write/a", 20), kv("rw/read/r1", 10)},
      "rw/", "rw/write/w", 40);
  BOOST_TEST(!p.own_key_gone);
  BOOST_TEST(p.predecessors.size() == 3u);
  BOOST_TEST(p.predecessors.front() == "rw/read/r2");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(deletion_index_suite)

BOOST_AUTO_TEST_CASE(a_new_index_covers_from_its_start) {
  deletion_index d(101);
  BOOST_TEST(d.covers(100));  // every deletion after 100 goes through it
  BOOST_TEST(d.covers(150));
  BOOST_TEST(!d.covers(99));  // 100 itself may have been a deletion it never saw
  BOOST_TEST(!d.failed());
  BOOST_TEST(d.through() == 0);
}

BOOST_AUTO_TEST_CASE(a_deletion_completes_the_waiter_for_that_key) {
  deletion_index d(101);
  auto w = d.wait("l/a", 100);
  BOOST_TEST(d.waiting() == 1u);
  auto done = d.deleted("l/a", 105);
  BOOST_REQUIRE(done.size() == 1u);
  BOOST_TEST(done[0].id == w);
  BOOST_TEST(done[0].revision == 105);
  BOOST_TEST(d.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(a_deletion_of_another_key_completes_nobody) {
  deletion_index d(101);
  d.wait("l/a", 100);
  BOOST_TEST(d.deleted("l/b", 105).empty());
  BOOST_TEST(d.waiting() == 1u);
}

BOOST_AUTO_TEST_CASE(a_deletion_at_or_before_the_waiters_revision_does_not_complete_it) {
  deletion_index d(101);
  d.wait("l/a", 110);  // the key existed at 110: a deletion at 108 was of an earlier life
  BOOST_TEST(d.deleted("l/a", 108).empty());
  BOOST_TEST(d.deleted("l/a", 110).empty());
  BOOST_TEST(d.deleted("l/a", 111).size() == 1u);
}

BOOST_AUTO_TEST_CASE(one_deletion_completes_every_waiter_for_the_key) {
  deletion_index d(101);
  auto a = d.wait("l/a", 100);
  auto b = d.wait("l/a", 102);
  d.wait("l/b", 100);
  auto done = ids(d.deleted("l/a", 103));
  BOOST_TEST(done.size() == 2u);
  BOOST_TEST((std::find(done.begin(), done.end(), a) != done.end()));
  BOOST_TEST((std::find(done.begin(), done.end(), b) != done.end()));
  BOOST_TEST(d.waiting() == 1u);
}

BOOST_AUTO_TEST_CASE(waiter_ids_are_distinct) {
  deletion_index d(1);
  auto a = d.wait("k", 0);
  auto b = d.wait("k", 0);
  BOOST_TEST(a != b);
}

BOOST_AUTO_TEST_CASE(a_cancelled_waiter_is_not_completed) {
  deletion_index d(101);
  auto w = d.wait("l/a", 100);
  d.cancel(w);
  BOOST_TEST(d.waiting() == 0u);
  BOOST_TEST(d.deleted("l/a", 105).empty());
  d.cancel(w);  // twice: nothing
  d.cancel(12345);
}

BOOST_AUTO_TEST_CASE(a_deletion_seen_before_the_wait_is_found_by_deleted_after) {
  deletion_index d(101);
  d.deleted("l/a", 105);
  BOOST_TEST(d.deleted_after("l/a", 100) == 105);
  BOOST_TEST(d.deleted_after("l/a", 105) == 0);  // not after 105
  BOOST_TEST(d.deleted_after("l/b", 100) == 0);
}

BOOST_AUTO_TEST_CASE(deleted_after_reports_the_latest_deletion) {
  deletion_index d(101);
  d.deleted("l/a", 105);
  d.deleted("l/a", 120);  // created again and deleted again
  BOOST_TEST(d.deleted_after("l/a", 100) == 120);
  BOOST_TEST(d.deleted_after("l/a", 110) == 120);
}

BOOST_AUTO_TEST_CASE(deleted_after_a_revision_the_index_does_not_cover_is_unknown) {
  deletion_index d(101);
  d.deleted("l/a", 105);
  BOOST_TEST(d.deleted_after("l/a", 50) == 0);  // (the caller checks covers() first)
}

BOOST_AUTO_TEST_CASE(through_follows_the_newest_deletion) {
  deletion_index d(101);
  d.deleted("l/a", 105);
  d.deleted("l/b", 107);
  BOOST_TEST(d.through() == 107);
}

BOOST_AUTO_TEST_CASE(deleted_since_tells_once_the_stream_is_far_enough) {
  deletion_index d(101);
  d.deleted("l/x", 104);
  BOOST_TEST(!d.deleted_since("l/a", 100, 110).has_value());  // only as far as 104
  d.deleted("l/y", 111);
  auto gone = d.deleted_since("l/a", 100, 110);
  BOOST_REQUIRE(gone.has_value());
  BOOST_TEST(!*gone);
  d.deleted("l/a", 112);
  BOOST_TEST(d.deleted_since("l/a", 100, 110).value());
}

BOOST_AUTO_TEST_CASE(deleted_since_a_revision_before_the_start_cannot_tell) {
  deletion_index d(101);
  d.deleted("l/x", 200);
  BOOST_TEST(!d.deleted_since("l/a", 90, 150).has_value());
}

BOOST_AUTO_TEST_CASE(forgotten_deletions_shrink_what_the_index_covers) {
  deletion_index d(101, 3);
  d.deleted("l/a", 102);
  d.deleted("l/b", 103);
  d.deleted("l/c", 104);
  BOOST_TEST(d.covers(100));
  d.deleted("l/d", 105);  // l/a at 102 is forgotten
  BOOST_TEST(d.remembered() == 3u);
  BOOST_TEST(!d.covers(100));
  BOOST_TEST(!d.covers(101));
  BOOST_TEST(d.covers(102));
  BOOST_TEST(d.deleted_after("l/b", 102) == 103);
}

BOOST_AUTO_TEST_CASE(a_key_deleted_again_is_not_forgotten_with_its_older_deletion) {
  deletion_index d(101, 2);
  d.deleted("l/a", 102);
  d.deleted("l/a", 103);
  d.deleted("l/b", 104);  // the 102 entry goes; l/a's latest (103) stays
  BOOST_TEST(d.deleted_after("l/a", 102) == 103);
}

BOOST_AUTO_TEST_CASE(memory_stays_bounded_over_many_deletions) {
  deletion_index d(1, 100);
  for (int k = 0; k < 10000; ++k) d.deleted("l/" + std::to_string(k), 2 + k);
  BOOST_TEST(d.remembered() == 100u);
}

BOOST_AUTO_TEST_CASE(a_failed_stream_completes_every_waiter_with_revision_zero) {
  deletion_index d(101);
  d.wait("l/a", 100);
  d.wait("l/b", 100);
  auto done = d.fail();
  BOOST_TEST(done.size() == 2u);
  for (auto& c : done) BOOST_TEST(c.revision == 0);
  BOOST_TEST(d.failed());
  BOOST_TEST(d.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(a_failed_stream_vouches_for_nothing) {
  deletion_index d(101);
  d.deleted("l/a", 105);
  d.fail();
  BOOST_TEST(!d.covers(101));
  BOOST_TEST(d.deleted_after("l/a", 100) == 0);
  BOOST_TEST(!d.deleted_since("l/a", 100, 105).has_value());
  BOOST_TEST(d.deleted("l/a", 106).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fifo_gate_suite)

BOOST_AUTO_TEST_CASE(a_free_gate_is_entered_at_once) {
  fifo_gate g;
  BOOST_TEST(g.idle());
  BOOST_TEST(!g.enter().has_value());
  BOOST_TEST(g.busy());
  BOOST_TEST(!g.idle());
}

BOOST_AUTO_TEST_CASE(a_busy_gate_queues_tickets) {
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  auto b = g.enter();
  BOOST_TEST(a.has_value());
  BOOST_TEST(b.has_value());
  BOOST_TEST(*a != *b);
  BOOST_TEST(g.queued() == 2u);
}

BOOST_AUTO_TEST_CASE(leaving_hands_the_gate_on_in_order) {
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  auto b = g.enter();
  BOOST_TEST((g.leave() == a));
  BOOST_TEST(g.busy());
  BOOST_TEST((g.leave() == b));
  BOOST_TEST(!g.leave().has_value());
  BOOST_TEST(g.idle());
}

BOOST_AUTO_TEST_CASE(the_gate_is_free_again_after_the_last_leaves) {
  fifo_gate g;
  g.enter();
  g.leave();
  BOOST_TEST(!g.enter().has_value());
}

BOOST_AUTO_TEST_CASE(a_withdrawn_ticket_is_skipped) {
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  auto b = g.enter();
  BOOST_TEST(g.withdraw(*a));
  BOOST_TEST((g.leave() == b));
}

BOOST_AUTO_TEST_CASE(withdrawing_a_ticket_that_holds_the_gate_says_so) {
  // Handed the gate while giving up: the waiter must leave() to pass it on.
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  auto b = g.enter();
  BOOST_TEST((g.leave() == a));
  BOOST_TEST(!g.withdraw(*a));
  BOOST_TEST((g.leave() == b));
}

BOOST_AUTO_TEST_CASE(withdrawing_an_unknown_ticket_changes_nothing) {
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  BOOST_TEST(!g.withdraw(999));
  BOOST_TEST(g.queued() == 1u);
  BOOST_TEST((g.leave() == a));
}

BOOST_AUTO_TEST_CASE(every_withdrawn_leaves_the_gate_free_after_the_holder) {
  fifo_gate g;
  g.enter();
  auto a = g.enter();
  auto b = g.enter();
  g.withdraw(*b);
  g.withdraw(*a);
  BOOST_TEST(!g.leave().has_value());
  BOOST_TEST(g.idle());
}

BOOST_AUTO_TEST_SUITE_END()
