// Endpoint health and choice (transport/endpoint_health) without sockets: which endpoint a call
// goes to, and how down and suspect endpoints come back.
#include <boost/test/unit_test.hpp>

#include "transport/endpoint_health.hpp"

using namespace coordination::transport;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

namespace {

const time_point t0{std::chrono::seconds(1000)};

endpoint_health::settings quick() {
  endpoint_health::settings s;
  s.cooldown = 1000ms;
  s.probe_initial = 250ms;
  s.probe_max = 2000ms;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(endpoint_health_suite)

BOOST_AUTO_TEST_CASE(calls_stay_on_the_current_endpoint_while_it_is_healthy) {
  endpoint_health h(3, quick());
  for (int i = 0; i < 10; ++i) BOOST_TEST(h.pick(t0) == 0u);
  BOOST_TEST(h.usable(0, t0));
  BOOST_TEST(h.usable_other_than(0, t0));
}

BOOST_AUTO_TEST_CASE(a_down_endpoint_is_skipped_for_the_cooldown_then_tried_again) {
  endpoint_health h(3, quick());
  BOOST_TEST(h.mark_down(0, t0));  // a failover: current moves on
  BOOST_TEST(h.current() == 1u);
  BOOST_TEST(!h.usable(0, t0 + 999ms));
  BOOST_TEST(h.usable(0, t0 + 1000ms));
  BOOST_TEST(h.pick(t0 + 10ms) == 1u);
  // The current one stays current after the cooldown (no flapping back).
  BOOST_TEST(h.pick(t0 + 2s) == 1u);
  // Marking a non-current endpoint is no failover.
  BOOST_TEST(!h.mark_down(2, t0));
  BOOST_TEST(h.current() == 1u);
}

BOOST_AUTO_TEST_CASE(a_suspect_endpoint_gets_no_call_until_it_answers) {
  endpoint_health h(3, quick());
  BOOST_TEST(h.mark_suspect(0, t0));
  for (std::chrono::milliseconds later : {0ms, 1000ms, 10000ms, 100000ms}) {
    BOOST_TEST(!h.usable(0, t0 + later));
    BOOST_TEST(h.pick(t0 + later) != 0u);
  }
  h.answered(0);
  BOOST_TEST(h.usable(0, t0));
  BOOST_TEST((h.state(0).condition == endpoint_condition::healthy));
}

BOOST_AUTO_TEST_CASE(a_suspect_endpoint_stays_suspect_when_its_connection_then_fails) {
  endpoint_health h(2, quick());
  h.mark_suspect(0, t0);
  h.mark_down(0, t0 + 5s);  // the cooldown would end at t0 + 6 s
  BOOST_TEST((h.state(0).condition == endpoint_condition::suspect));
  BOOST_TEST(!h.usable(0, t0 + 7s));
}

BOOST_AUTO_TEST_CASE(probes_of_a_suspect_endpoint_back_off_to_the_maximum) {
  endpoint_health h(2, quick());
  BOOST_TEST(!h.next_probe_due().has_value());
  h.mark_suspect(1, t0);
  BOOST_REQUIRE(h.next_probe_due().has_value());
  BOOST_TEST((*h.next_probe_due() == t0 + 250ms));
  BOOST_TEST(h.start_due_probes(t0 + 249ms).empty());
  auto now = t0 + 250ms;
  std::vector<long> intervals;
  for (int i = 0; i < 6; ++i) {
    auto due = h.start_due_probes(now);
    BOOST_REQUIRE(due.size() == 1u);
    BOOST_TEST(due[0] == 1u);
    // In flight: not due again, not started twice.
    BOOST_TEST(!h.next_probe_due().has_value());
    BOOST_TEST(h.start_due_probes(now + 1h).empty());
    h.probe_failed(1, now);
    auto next = *h.next_probe_due();
    intervals.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count());
    now = next;
  }
  BOOST_TEST(intervals == (std::vector<long>{500, 1000, 2000, 2000, 2000, 2000}),
             boost::test_tools::per_element());
  h.answered(1);
  BOOST_TEST(!h.next_probe_due().has_value());
  BOOST_TEST(h.usable(1, now));
}

BOOST_AUTO_TEST_CASE(a_probe_that_ends_after_the_endpoint_answered_a_call_changes_nothing) {
  endpoint_health h(2, quick());
  h.mark_suspect(0, t0);
  auto due = h.start_due_probes(t0 + 1s);
  BOOST_REQUIRE(due.size() == 1u);
  h.answered(0);  // a call there answered meanwhile
  h.probe_failed(0, t0 + 2s);
  BOOST_TEST((h.state(0).condition == endpoint_condition::healthy));
  BOOST_TEST(!h.next_probe_due().has_value());
}

BOOST_AUTO_TEST_CASE(with_nothing_usable_a_call_goes_where_the_failure_is_oldest) {
  endpoint_health h(3, quick());
  h.mark_suspect(1, t0 + 1ms);
  h.mark_down(2, t0 + 2ms);
  h.mark_suspect(0, t0 + 3ms);
  BOOST_TEST(!h.usable_other_than(0, t0 + 4ms));
  BOOST_TEST(h.pick(t0 + 4ms) == 1u);  // failed longest ago
  // Once the down one's cooldown is over it is usable again and preferred.
  BOOST_TEST(h.pick(t0 + 1002ms) == 2u);
}

BOOST_AUTO_TEST_CASE(several_suspect_endpoints_are_probed_each_on_its_own_schedule) {
  endpoint_health h(3, quick());
  h.mark_suspect(0, t0);
  h.mark_suspect(2, t0 + 100ms);
  BOOST_TEST((*h.next_probe_due() == t0 + 250ms));
  auto first = h.start_due_probes(t0 + 250ms);
  BOOST_TEST(first == (std::vector<std::size_t>{0}), boost::test_tools::per_element());
  BOOST_TEST((*h.next_probe_due() == t0 + 350ms));
  auto both = h.start_due_probes(t0 + 350ms);
  BOOST_TEST(both == (std::vector<std::size_t>{2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_new_endpoint_list_keeps_the_states_of_the_endpoints_that_stay) {
  endpoint_health h(3, quick());
  h.mark_suspect(1, t0);
  h.mark_down(2, t0);
  // New list: old 2, a new one, old 1.
  h.replace({2u, std::nullopt, 1u});
  BOOST_TEST(h.size() == 3u);
  BOOST_TEST((h.state(0).condition == endpoint_condition::down));
  BOOST_TEST((h.state(1).condition == endpoint_condition::healthy));
  BOOST_TEST((h.state(2).condition == endpoint_condition::suspect));
  BOOST_TEST(h.pick(t0) == 1u);
  h.replace({std::nullopt});
  BOOST_TEST(h.size() == 1u);
  BOOST_TEST(h.current() == 0u);
}

BOOST_AUTO_TEST_CASE(one_endpoint_has_no_failover) {
  endpoint_health h(1, quick());
  BOOST_TEST(!h.mark_down(0, t0));
  BOOST_TEST(!h.mark_suspect(0, t0));
  BOOST_TEST(h.pick(t0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
