// The watch hub's cores (watch/watch_mux) without etcd or sockets: revisions, dedup after a
// resume, fragments, progress, back-pressure, create matching, refusals, placement and backoff.
#include <boost/test/unit_test.hpp>

#include "coordination/error.hpp"
#include "watch/watch_mux.hpp"

using namespace coordination;
using namespace coordination::detail;
using namespace std::chrono_literals;

namespace {

watch_event_wire put(std::string key, std::int64_t rev) {
  watch_event_wire e;
  e.kv.key = std::move(key);
  e.kv.mod_revision = rev;
  return e;
}

watch_message events(std::int64_t header, std::vector<watch_event_wire> es, bool fragment = false) {
  watch_message m;
  m.header.revision = header;
  m.watch_id = 1;
  m.events = std::move(es);
  m.fragment = fragment;
  return m;
}

watch_message progress(std::int64_t header) {
  return events(header, {});
}

watch_options from(std::int64_t start, std::size_t max_queued = 4096) {
  watch_options o;
  o.start_revision = start;
  o.max_queued_events = max_queued;
  return o;
}

std::vector<std::int64_t> revisions(const watch_batch& b) {
  std::vector<std::int64_t> out;
  for (auto& e : b.events) out.push_back(e.kv.mod_revision);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(watch_cursor_suite)

BOOST_AUTO_TEST_CASE(a_watch_from_now_is_created_from_revision_zero) {
  watch_cursor c("k", "", from(0));
  auto r = c.create_request(7);
  BOOST_TEST(r.watch_id == 7);
  BOOST_TEST(r.key == "k");
  BOOST_TEST(r.start_revision == 0);
  BOOST_TEST(c.next_revision() == 0);
}

BOOST_AUTO_TEST_CASE(the_creation_fixes_now_for_a_watch_from_now) {
  watch_cursor c("k", "", from(0));
  c.created(41);
  BOOST_TEST(c.next_revision() == 42);
  c.created(50);  // a later re-creation does not move it
  BOOST_TEST(c.next_revision() == 42);
}

BOOST_AUTO_TEST_CASE(a_watch_from_a_revision_keeps_it_on_creation) {
  watch_cursor c("k", "", from(10));
  c.created(41);
  BOOST_TEST(c.next_revision() == 10);
  BOOST_TEST(c.create_request(1).start_revision == 10);
}

BOOST_AUTO_TEST_CASE(the_create_request_carries_the_options) {
  watch_options o;
  o.prev_kv = true;
  o.progress_notify = true;
  o.filter_put = true;
  o.filter_delete = false;
  o.fragment = true;
  watch_cursor c("a", "b", o);
  auto r = c.create_request(3);
  BOOST_TEST(r.range_end == "b");
  BOOST_TEST(r.prev_kv);
  BOOST_TEST(r.progress_notify);
  BOOST_TEST(r.filter_put);
  BOOST_TEST(!r.filter_delete);
  BOOST_TEST(r.fragment);
}

BOOST_AUTO_TEST_CASE(events_become_a_batch_and_advance_the_next_revision) {
  watch_cursor c("k", "", from(10));
  auto m = events(12, {put("k", 10), put("k", 11), put("k", 12)});
  auto out = c.on_message(m);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST(out.batch->revision == 12);
  std::vector<std::int64_t> want{10, 11, 12};
  BOOST_TEST(revisions(*out.batch) == want, boost::test_tools::per_element());
  BOOST_TEST(c.next_revision() == 13);
  BOOST_TEST(c.queued_events() == 3u);
  BOOST_TEST(out.duplicates == 0u);
  BOOST_TEST(!out.pause);
}

BOOST_AUTO_TEST_CASE(a_resumed_watch_drops_events_already_delivered) {
  watch_cursor c("k", "", from(10));
  auto first = events(12, {put("k", 10), put("k", 11), put("k", 12)});
  c.on_message(first);
  // The link broke; re-created from 13, but etcd replays from an older point (a compaction-free
  // replay may overlap): the overlap is dropped.
  BOOST_TEST(c.create_request(2).start_revision == 13);
  auto again = events(14, {put("k", 12), put("k", 13), put("k", 14)});
  auto out = c.on_message(again);
  BOOST_REQUIRE(out.batch.has_value());
  std::vector<std::int64_t> want{13, 14};
  BOOST_TEST(revisions(*out.batch) == want, boost::test_tools::per_element());
  BOOST_TEST(out.duplicates == 1u);
}

BOOST_AUTO_TEST_CASE(an_answer_of_only_duplicates_queues_nothing) {
  watch_cursor c("k", "", from(10));
  auto first = events(12, {put("k", 12)});
  c.on_message(first);
  auto again = events(12, {put("k", 11), put("k", 12)});
  auto out = c.on_message(again);
  BOOST_TEST(!out.batch.has_value());
  BOOST_TEST(out.duplicates == 2u);
  BOOST_TEST(c.next_revision() == 13);
}

BOOST_AUTO_TEST_CASE(several_events_of_one_revision_are_kept_together) {
  watch_cursor c("k", "", from(10));
  auto m = events(10, {put("a", 10), put("b", 10), put("c", 10)});  // one txn
  auto out = c.on_message(m);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST(out.batch->events.size() == 3u);
  BOOST_TEST(c.next_revision() == 11);
}

BOOST_AUTO_TEST_CASE(a_delete_event_keeps_its_type) {
  watch_cursor c("k", "", from(1));
  auto d = put("k", 5);
  d.is_delete = true;
  auto m = events(5, {d});
  auto out = c.on_message(m);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST((out.batch->events[0].type == event_type::del));
}

BOOST_AUTO_TEST_CASE(fragments_are_held_until_the_last_part) {
  watch_cursor c("k", "", from(1));
  auto p1 = events(20, {put("a", 20), put("b", 20)}, true);
  auto p2 = events(20, {put("c", 20)}, true);
  auto last = events(20, {put("d", 20)});
  auto o1 = c.on_message(p1);
  BOOST_TEST(o1.fragment);
  BOOST_TEST(!o1.batch.has_value());
  auto o2 = c.on_message(p2);
  BOOST_TEST(!o2.batch.has_value());
  BOOST_TEST(c.held_fragments() == 3u);
  auto o3 = c.on_message(last);
  BOOST_REQUIRE(o3.batch.has_value());
  BOOST_TEST(o3.batch->events.size() == 4u);
  BOOST_TEST(o3.batch->events.front().kv.key == "a");
  BOOST_TEST(o3.batch->events.back().kv.key == "d");
  BOOST_TEST(c.held_fragments() == 0u);
  BOOST_TEST(c.next_revision() == 21);
}

BOOST_AUTO_TEST_CASE(a_last_part_without_events_still_ends_the_revision) {
  watch_cursor c("k", "", from(1));
  auto p1 = events(20, {put("a", 20)}, true);
  c.on_message(p1);
  auto last = events(20, {});
  auto out = c.on_message(last);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST(out.batch->events.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_revision_cut_short_by_a_broken_link_is_asked_for_whole_again) {
  watch_cursor c("k", "", from(1));
  auto p1 = events(20, {put("a", 20)}, true);
  c.on_message(p1);
  auto r = c.create_request(2);  // re-created: the held part is dropped
  BOOST_TEST(r.start_revision == 1);
  BOOST_TEST(c.held_fragments() == 0u);
  auto whole = events(20, {put("a", 20), put("b", 20)});
  auto out = c.on_message(whole);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST(out.batch->events.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_progress_notification_advances_without_a_batch) {
  watch_cursor c("k", "", from(10));
  auto m = progress(30);
  auto out = c.on_message(m);
  BOOST_TEST(!out.batch.has_value());
  BOOST_TEST(c.next_revision() == 31);
}

BOOST_AUTO_TEST_CASE(a_progress_notification_is_delivered_when_asked_for) {
  auto o = from(10);
  o.progress_notify = true;
  watch_cursor c("k", "", o);
  auto m = progress(30);
  auto out = c.on_message(m);
  BOOST_REQUIRE(out.batch.has_value());
  BOOST_TEST(out.batch->events.empty());
  BOOST_TEST(out.batch->revision == 30);
  BOOST_TEST(c.queued_events() == 0u);
}

BOOST_AUTO_TEST_CASE(an_old_progress_notification_changes_nothing) {
  auto o = from(10);
  o.progress_notify = true;
  watch_cursor c("k", "", o);
  auto m = progress(5);
  auto out = c.on_message(m);
  BOOST_TEST(!out.batch.has_value());
  BOOST_TEST(c.next_revision() == 10);
}

BOOST_AUTO_TEST_CASE(the_created_answer_is_not_a_progress_notification) {
  auto o = from(10);
  o.progress_notify = true;
  watch_cursor c("k", "", o);
  auto m = progress(30);
  m.created = true;
  auto out = c.on_message(m);
  BOOST_TEST(!out.batch.has_value());
  BOOST_TEST(c.next_revision() == 10);  // events from 10 may still come
}

BOOST_AUTO_TEST_CASE(the_queue_over_its_limit_pauses_the_watch) {
  watch_cursor c("k", "", from(1, 4));
  auto a = events(3, {put("k", 1), put("k", 2), put("k", 3)});
  BOOST_TEST(!c.on_message(a).pause);
  auto b = events(5, {put("k", 4), put("k", 5)});
  BOOST_TEST(c.on_message(b).pause);  // 5 > 4
  BOOST_TEST(c.queued_events() == 5u);
}

BOOST_AUTO_TEST_CASE(a_paused_watch_may_resume_once_its_queue_is_half_empty) {
  watch_cursor c("k", "", from(1, 4));
  auto a = events(3, {put("k", 1), put("k", 2), put("k", 3)});
  auto b = events(5, {put("k", 4), put("k", 5)});
  auto ba = c.on_message(a).batch;
  auto bb = c.on_message(b).batch;
  BOOST_TEST(!c.may_resume());
  BOOST_TEST(c.consumed(*ba));  // 2 left <= 4 / 2
  BOOST_TEST(c.queued_events() == 2u);
}

BOOST_AUTO_TEST_CASE(consuming_sets_the_last_delivered_revision) {
  watch_cursor c("k", "", from(1));
  auto a = events(9, {put("k", 7), put("k", 8)});
  auto b = c.on_message(a).batch;
  c.consumed(*b);
  BOOST_TEST(c.last_revision() == 8);
  c.consumed(watch_batch{12, {}});  // a progress batch
  BOOST_TEST(c.last_revision() == 12);
  c.consumed(watch_batch{10, {}});  // never backwards
  BOOST_TEST(c.last_revision() == 12);
}

BOOST_AUTO_TEST_CASE(a_max_queue_of_zero_counts_as_one) {
  watch_cursor c("k", "", from(1, 0));
  auto a = events(1, {put("k", 1)});
  BOOST_TEST(!c.on_message(a).pause);
  auto b = events(2, {put("k", 2)});
  BOOST_TEST(c.on_message(b).pause);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(create_queue_suite)

BOOST_AUTO_TEST_CASE(a_created_answer_with_its_id_is_taken_off) {
  create_queue q;
  q.sent(1);
  q.sent(2);
  BOOST_TEST((q.answered(2) == std::optional<std::int64_t>(2)));
  BOOST_TEST(q.pending() == 1u);
}

BOOST_AUTO_TEST_CASE(a_refused_create_is_the_oldest_pending) {
  create_queue q;
  q.sent(5);
  q.sent(6);
  BOOST_TEST((q.answered(-1) == std::optional<std::int64_t>(5)));
  BOOST_TEST((q.answered(-1) == std::optional<std::int64_t>(6)));
  BOOST_TEST(q.pending() == 0u);
}

BOOST_AUTO_TEST_CASE(a_refusal_with_nothing_pending_matches_nobody) {
  create_queue q;
  BOOST_TEST(!q.answered(-1).has_value());
}

BOOST_AUTO_TEST_CASE(answers_after_a_refusal_keep_matching_in_order) {
  create_queue q;
  q.sent(1);
  q.sent(2);
  q.sent(3);
  BOOST_TEST((q.answered(1) == std::optional<std::int64_t>(1)));
  BOOST_TEST((q.answered(-1) == std::optional<std::int64_t>(2)));
  BOOST_TEST((q.answered(3) == std::optional<std::int64_t>(3)));
}

BOOST_AUTO_TEST_CASE(an_answer_for_an_unknown_id_is_returned_as_is) {
  create_queue q;
  q.sent(1);
  BOOST_TEST((q.answered(9) == std::optional<std::int64_t>(9)));
  BOOST_TEST(q.pending() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(watch_refusals)

BOOST_AUTO_TEST_CASE(a_missing_token_over_websocket_switches_to_post) {
  auto r = classify_refusal("etcdserver: user name is empty", false);
  BOOST_TEST(r.use_post_form);
  auto t = classify_refusal("etcdserver: invalid auth token", false);
  BOOST_TEST(t.use_post_form);
}

BOOST_AUTO_TEST_CASE(a_missing_token_over_post_is_an_auth_failure) {
  auto r = classify_refusal("etcdserver: user name is empty", true);
  BOOST_TEST(!r.use_post_form);
  BOOST_TEST((r.code == make_error_code(error::auth_failed)));
  BOOST_TEST(r.message.find("user name is empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_permission_refusal_is_permission_denied) {
  auto r = classify_refusal("etcdserver: permission denied", false);
  BOOST_TEST(!r.use_post_form);
  BOOST_TEST((r.code == make_error_code(error::permission_denied)));
}

BOOST_AUTO_TEST_CASE(another_refusal_is_a_server_error_naming_the_reason) {
  auto r = classify_refusal("something odd", false);
  BOOST_TEST((r.code == make_error_code(error::server_error)));
  BOOST_TEST(r.message == "etcd refused the watch: something odd");
}

BOOST_AUTO_TEST_CASE(a_cancel_with_a_compact_revision_is_compacted) {
  watch_message m;
  m.canceled = true;
  m.compact_revision = 77;
  auto [code, message] = classify_cancel(m, 50);
  BOOST_TEST((code == make_error_code(error::compacted)));
  BOOST_TEST(message.find("from revision 50") != std::string::npos, message);
  BOOST_TEST(message.find("up to revision 77") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(a_cancel_for_permission_is_permission_denied) {
  watch_message m;
  m.canceled = true;
  m.cancel_reason = "etcdserver: permission denied";
  BOOST_TEST((classify_cancel(m, 1).first == make_error_code(error::permission_denied)));
}

BOOST_AUTO_TEST_CASE(another_cancel_is_a_server_error) {
  watch_message m;
  m.canceled = true;
  m.cancel_reason = "mvcc: required revision is a future revision";
  auto [code, message] = classify_cancel(m, 1);
  BOOST_TEST((code == make_error_code(error::server_error)));
  BOOST_TEST(message.find("future revision") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(watch_placement)

BOOST_AUTO_TEST_CASE(the_first_watch_opens_a_link) {
  BOOST_TEST(!choose_link({}, 1000, 16).has_value());
}

BOOST_AUTO_TEST_CASE(a_link_with_room_is_filled_first) {
  BOOST_TEST((choose_link({1000, 999, 0}, 1000, 16) == std::optional<std::size_t>(1)));
}

BOOST_AUTO_TEST_CASE(full_links_make_a_new_one_while_under_the_link_limit) {
  BOOST_TEST(!choose_link({1000, 1000}, 1000, 16).has_value());
}

BOOST_AUTO_TEST_CASE(at_the_link_limit_the_least_loaded_full_link_takes_it) {
  BOOST_TEST((choose_link({1002, 1001, 1003}, 1000, 3) == std::optional<std::size_t>(1)));
}

BOOST_AUTO_TEST_CASE(a_thousand_watches_on_two_per_link_use_five_hundred_links_at_most) {
  // Simulate placing: each watch goes where choose_link says.
  std::vector<std::size_t> loads;
  for (int k = 0; k < 1000; ++k) {
    auto at = choose_link(loads, 2, 500);
    if (at)
      ++loads[*at];
    else
      loads.push_back(1);
  }
  BOOST_TEST(loads.size() == 500u);
  for (auto l : loads) BOOST_TEST(l == 2u);
}

BOOST_AUTO_TEST_CASE(over_the_link_limit_watches_spread_evenly) {
  std::vector<std::size_t> loads;
  for (int k = 0; k < 100; ++k) {
    auto at = choose_link(loads, 10, 4);
    if (at)
      ++loads[*at];
    else
      loads.push_back(1);
  }
  BOOST_TEST(loads.size() == 4u);
  for (auto l : loads) BOOST_TEST(l == 25u);
}

BOOST_AUTO_TEST_CASE(post_streams_fold_the_smallest_at_the_limit) {
  BOOST_TEST(!link_to_fold({3, 1}, 3).has_value());
  BOOST_TEST((link_to_fold({3, 1, 2}, 3) == std::optional<std::size_t>(1)));
  BOOST_TEST(!link_to_fold({}, 1).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(watch_resume_delay)

BOOST_AUTO_TEST_CASE(the_first_failure_waits_25_to_50_ms) {
  BOOST_TEST(resume_delay(0, 0.0).count() == 25);
  BOOST_TEST(resume_delay(0, 0.999).count() <= 50);
}

BOOST_AUTO_TEST_CASE(the_delay_doubles_with_each_failure) {
  BOOST_TEST(resume_delay(1, 0.0).count() == 50);
  BOOST_TEST(resume_delay(2, 0.0).count() == 100);
  BOOST_TEST(resume_delay(3, 0.0).count() == 200);
}

BOOST_AUTO_TEST_CASE(the_delay_is_capped_at_2_s) {
  BOOST_TEST(resume_delay(6, 0.999).count() <= 2000);
  BOOST_TEST(resume_delay(50, 0.0).count() == 1000);
  BOOST_TEST(resume_delay(50, 0.999).count() <= 2000);
  BOOST_TEST(resume_delay(50, 0.999).count() >= 1990);
}

BOOST_AUTO_TEST_CASE(a_random_number_out_of_range_is_clamped) {
  BOOST_TEST(resume_delay(0, -3.0).count() == 25);
  BOOST_TEST(resume_delay(0, 7.0).count() == 50);
  BOOST_TEST(resume_delay(-1, 0.0).count() == 25);
}

BOOST_AUTO_TEST_SUITE_END()
