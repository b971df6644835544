// The registry's balancer (recipes/registry/balancer) without etcd or sockets: which instance
// pick()/connect() take by each strategy, and how down marks and open connections steer them.
#include <boost/test/unit_test.hpp>
#include <map>
#include <random>

#include "recipes/registry/balancer.hpp"

using namespace coordination;
using namespace std::chrono_literals;
using detail::balancer;
using time_point = std::chrono::steady_clock::time_point;

namespace {

const time_point t0{std::chrono::seconds(1000)};

service_info inst(std::string id, std::uint32_t weight = 1) {
  service_info i;
  i.name = "svc";
  i.instance_id = std::move(id);
  i.address = "127.0.0.1:1";
  i.weight = weight;
  return i;
}

std::vector<service_info> three() {
  return {inst("a"), inst("b"), inst("c")};
}

std::string pick_id(balancer& b, const std::vector<service_info>& l, pick_strategy s,
                    const std::set<std::string>& tried = {}, time_point now = t0,
                    std::uint64_t random = 0) {
  auto* p = b.pick(l, tried, s, now, random);
  return p ? p->instance_id : "none";
}

std::map<std::string, int> count(balancer& b, const std::vector<service_info>& l, pick_strategy s,
                                 int picks, time_point now = t0) {
  std::mt19937_64 rng(42);
  std::map<std::string, int> n;
  for (int k = 0; k < picks; ++k) ++n[pick_id(b, l, s, {}, now, rng())];
  return n;
}

balancer::options marks(int errors, std::chrono::milliseconds period) {
  balancer::options o;
  o.errors_before_down = errors;
  o.down_period = period;
  return o;
}

const pick_strategy all_strategies[] = {pick_strategy::round_robin, pick_strategy::random,
                                        pick_strategy::weighted, pick_strategy::least_connections};

}  // namespace

BOOST_AUTO_TEST_SUITE(balancer_suite)

BOOST_AUTO_TEST_CASE(an_empty_list_gives_no_instance_by_any_strategy) {
  balancer b;
  for (auto s : all_strategies) BOOST_TEST(b.pick({}, {}, s, t0, 7) == nullptr);
}

BOOST_AUTO_TEST_CASE(every_instance_tried_gives_no_instance) {
  balancer b;
  auto l = three();
  for (auto s : all_strategies) BOOST_TEST(pick_id(b, l, s, {"a", "b", "c"}) == "none");
}

BOOST_AUTO_TEST_CASE(a_single_instance_is_always_picked) {
  balancer b;
  std::vector<service_info> l{inst("only", 3)};
  for (auto s : all_strategies)
    for (int k = 0; k < 5; ++k) BOOST_TEST(pick_id(b, l, s, {}, t0, k) == "only");
}

BOOST_AUTO_TEST_CASE(the_pick_points_into_the_given_list) {
  balancer b;
  auto l = three();
  auto* p = b.pick(l, {}, pick_strategy::round_robin, t0, 0);
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST((p >= l.data() && p < l.data() + l.size()));
}

BOOST_AUTO_TEST_CASE(round_robin_takes_the_instances_in_turn) {
  balancer b;
  auto l = three();
  std::string seq;
  for (int k = 0; k < 7; ++k) seq += pick_id(b, l, pick_strategy::round_robin);
  BOOST_TEST(seq == "abcabca");
}

BOOST_AUTO_TEST_CASE(round_robin_over_10000_picks_is_exact) {
  balancer b;
  auto n = count(b, three(), pick_strategy::round_robin, 10000);
  BOOST_TEST(n["a"] == 3334);
  BOOST_TEST(n["b"] == 3333);
  BOOST_TEST(n["c"] == 3333);
}

BOOST_AUTO_TEST_CASE(round_robin_passes_over_the_tried) {
  balancer b;
  auto l = three();
  for (int k = 0; k < 6; ++k) BOOST_TEST(pick_id(b, l, pick_strategy::round_robin, {"b"}) != "b");
  BOOST_TEST(pick_id(b, l, pick_strategy::round_robin, {"a", "c"}) == "b");
}

BOOST_AUTO_TEST_CASE(random_uses_the_callers_number_modulo_the_candidates) {
  balancer b;
  auto l = three();
  BOOST_TEST(pick_id(b, l, pick_strategy::random, {}, t0, 0) == "a");
  BOOST_TEST(pick_id(b, l, pick_strategy::random, {}, t0, 4) == "b");
  BOOST_TEST(pick_id(b, l, pick_strategy::random, {}, t0, 5) == "c");
  BOOST_TEST(pick_id(b, l, pick_strategy::random, {"a"}, t0, 0) == "b");  // of b, c
}

BOOST_AUTO_TEST_CASE(random_over_30000_picks_is_uniform_within_3_percent) {
  balancer b;
  auto n = count(b, three(), pick_strategy::random, 30000);
  BOOST_REQUIRE(n.size() == 3u);
  for (auto& [id, k] : n) BOOST_TEST(std::abs(k - 10000) < 300, id << ": " << k);
}

BOOST_AUTO_TEST_CASE(random_never_returns_a_tried_instance) {
  balancer b;
  auto l = three();
  for (std::uint64_t r = 0; r < 20; ++r)
    BOOST_TEST(pick_id(b, l, pick_strategy::random, {"c"}, t0, r) != "c");
}

BOOST_AUTO_TEST_CASE(weighted_is_exactly_proportional_over_each_run_of_the_total_weight) {
  balancer b;
  std::vector<service_info> l{inst("w1", 1), inst("w2", 2), inst("w7", 7)};
  for (int run = 0; run < 3; ++run) {
    auto n = count(b, l, pick_strategy::weighted, 10);
    BOOST_TEST(n["w1"] == 1);
    BOOST_TEST(n["w2"] == 2);
    BOOST_TEST(n["w7"] == 7);
  }
}

BOOST_AUTO_TEST_CASE(weighted_over_10000_picks_matches_the_weights) {
  balancer b;
  std::vector<service_info> l{inst("w1", 1), inst("w2", 2), inst("w7", 7)};
  auto n = count(b, l, pick_strategy::weighted, 10000);
  BOOST_TEST(n["w1"] == 1000);
  BOOST_TEST(n["w2"] == 2000);
  BOOST_TEST(n["w7"] == 7000);
}

BOOST_AUTO_TEST_CASE(weighted_spreads_the_heaviest_instead_of_bursting) {
  // nginx's smooth weighted round robin on 5, 1, 1: a a b a c a a.
  balancer b;
  std::vector<service_info> l{inst("a", 5), inst("b", 1), inst("c", 1)};
  std::string seq;
  for (int k = 0; k < 7; ++k) seq += pick_id(b, l, pick_strategy::weighted);
  BOOST_TEST(seq == "aabacaa");
}

BOOST_AUTO_TEST_CASE(weighted_never_picks_weight_zero) {
  balancer b;
  std::vector<service_info> l{inst("zero", 0), inst("one", 1), inst("two", 2)};
  auto n = count(b, l, pick_strategy::weighted, 300);
  BOOST_TEST(n["zero"] == 0);
  BOOST_TEST(n["one"] == 100);
  BOOST_TEST(n["two"] == 200);
}

BOOST_AUTO_TEST_CASE(weighted_with_every_weight_zero_falls_back_to_round_robin) {
  balancer b;
  std::vector<service_info> l{inst("a", 0), inst("b", 0)};
  std::string seq;
  for (int k = 0; k < 4; ++k) seq += pick_id(b, l, pick_strategy::weighted);
  BOOST_TEST(seq == "abab");
}

BOOST_AUTO_TEST_CASE(weighted_passes_over_the_tried) {
  balancer b;
  std::vector<service_info> l{inst("a", 9), inst("b", 1)};
  for (int k = 0; k < 5; ++k) BOOST_TEST(pick_id(b, l, pick_strategy::weighted, {"a"}) == "b");
}

BOOST_AUTO_TEST_CASE(weighted_shares_a_down_instances_picks_among_the_others) {
  balancer b;
  std::vector<service_info> l{inst("w1", 1), inst("w2", 2), inst("w7", 7)};
  BOOST_TEST(b.note_error("w7", t0));
  auto n = count(b, l, pick_strategy::weighted, 3000, t0 + 1ms);
  BOOST_TEST(n["w7"] == 0);
  BOOST_TEST(n["w1"] == 1000);
  BOOST_TEST(n["w2"] == 2000);
}

BOOST_AUTO_TEST_CASE(retain_forgets_the_weights_of_instances_that_are_gone) {
  balancer b;
  std::vector<service_info> l;
  for (int k = 0; k < 100; ++k) l.push_back(inst("i" + std::to_string(k)));
  count(b, l, pick_strategy::weighted, 100);
  BOOST_TEST(b.weights_kept() == 100u);
  std::vector<service_info> left{l[3], l[50]};
  b.retain(left);
  BOOST_TEST(b.weights_kept() == 2u);
  b.retain({});
  BOOST_TEST(b.weights_kept() == 0u);
}

BOOST_AUTO_TEST_CASE(retain_keeps_the_running_weights_of_instances_that_stay) {
  // After a reload with the same instances the sequence goes on where it was.
  balancer b;
  std::vector<service_info> l{inst("a", 5), inst("b", 1), inst("c", 1)};
  pick_id(b, l, pick_strategy::weighted);
  pick_id(b, l, pick_strategy::weighted);
  b.retain(l);
  std::string seq, expected = "aabacaa";
  for (int k = 0; k < 5; ++k) seq += pick_id(b, l, pick_strategy::weighted);
  BOOST_TEST(seq == expected.substr(2));
}

BOOST_AUTO_TEST_CASE(least_connections_picks_the_idle_instance) {
  balancer b;
  auto l = three();
  b.opened("a");
  b.opened("b");
  for (int k = 0; k < 5; ++k) BOOST_TEST(pick_id(b, l, pick_strategy::least_connections) == "c");
}

BOOST_AUTO_TEST_CASE(least_connections_ties_take_turns) {
  balancer b;
  auto l = three();
  std::map<std::string, int> n;
  for (int k = 0; k < 30; ++k) ++n[pick_id(b, l, pick_strategy::least_connections)];
  BOOST_TEST(n["a"] == 10);
  BOOST_TEST(n["b"] == 10);
  BOOST_TEST(n["c"] == 10);
}

BOOST_AUTO_TEST_CASE(least_connections_follows_opened_and_closed) {
  balancer b;
  auto l = three();
  for (int k = 0; k < 3; ++k) {  // fill each in turn: least-connections spreads them
    auto id = pick_id(b, l, pick_strategy::least_connections);
    b.opened(id);
  }
  BOOST_TEST(b.open_connections("a") == 1);
  BOOST_TEST(b.open_connections("b") == 1);
  BOOST_TEST(b.open_connections("c") == 1);
  b.closed("b");
  BOOST_TEST(b.open_connections("b") == 0);
  BOOST_TEST(pick_id(b, l, pick_strategy::least_connections) == "b");
}

BOOST_AUTO_TEST_CASE(closing_more_than_was_opened_never_counts_below_zero) {
  balancer b;
  b.closed("ghost");
  BOOST_TEST(b.open_connections("ghost") == 0);
  b.opened("a");
  b.closed("a");
  b.closed("a");
  BOOST_TEST(b.open_connections("a") == 0);
  b.opened("a");
  BOOST_TEST(b.open_connections("a") == 1);
}

BOOST_AUTO_TEST_CASE(least_connections_passes_over_a_down_idle_instance) {
  balancer b;
  auto l = three();
  b.opened("a");
  b.opened("b");
  b.opened("b");
  b.note_error("c", t0);
  BOOST_TEST(pick_id(b, l, pick_strategy::least_connections, {}, t0 + 1ms) == "a");
}

BOOST_AUTO_TEST_CASE(one_error_marks_down_by_default) {
  balancer b;
  BOOST_TEST(!b.is_down("a", t0));
  BOOST_TEST(b.note_error("a", t0));
  BOOST_TEST(b.is_down("a", t0));
  BOOST_TEST(!b.is_down("b", t0));
}

BOOST_AUTO_TEST_CASE(errors_before_down_counts_the_errors) {
  balancer b(marks(3, 1000ms));
  BOOST_TEST(!b.note_error("a", t0));
  BOOST_TEST(!b.note_error("a", t0));
  BOOST_TEST(!b.is_down("a", t0));
  BOOST_TEST(b.note_error("a", t0));
  BOOST_TEST(b.is_down("a", t0));
}

BOOST_AUTO_TEST_CASE(errors_are_counted_per_instance) {
  balancer b(marks(2, 1000ms));
  BOOST_TEST(!b.note_error("a", t0));
  BOOST_TEST(!b.note_error("b", t0));
  BOOST_TEST(b.note_error("a", t0));
  BOOST_TEST(!b.is_down("b", t0));
}

BOOST_AUTO_TEST_CASE(a_down_mark_lasts_the_down_period) {
  balancer b(marks(1, 1000ms));
  b.note_error("a", t0);
  BOOST_TEST(b.is_down("a", t0 + 999ms));
  BOOST_TEST(!b.is_down("a", t0 + 1000ms));
  auto l = three();
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) seen.insert(pick_id(b, l, pick_strategy::round_robin, {}, t0 + 1s));
  BOOST_TEST(seen.count("a") == 1u);
}

BOOST_AUTO_TEST_CASE(after_a_down_mark_the_count_starts_again) {
  balancer b(marks(2, 100ms));
  b.note_error("a", t0);
  BOOST_TEST(b.note_error("a", t0));
  BOOST_TEST(!b.note_error("a", t0 + 200ms));  // one error after the mark: not down again yet
  BOOST_TEST(!b.is_down("a", t0 + 200ms));
  BOOST_TEST(b.note_error("a", t0 + 200ms));
  BOOST_TEST(b.is_down("a", t0 + 250ms));
}

BOOST_AUTO_TEST_CASE(an_error_while_down_extends_the_mark) {
  balancer b(marks(1, 1000ms));
  b.note_error("a", t0);
  b.note_error("a", t0 + 800ms);
  BOOST_TEST(b.is_down("a", t0 + 1500ms));
  BOOST_TEST(!b.is_down("a", t0 + 1800ms));
}

BOOST_AUTO_TEST_CASE(a_zero_down_period_never_keeps_an_instance_down) {
  balancer b(marks(1, 0ms));
  BOOST_TEST(b.note_error("a", t0));
  BOOST_TEST(!b.is_down("a", t0));
}

BOOST_AUTO_TEST_CASE(round_robin_skips_a_down_instance) {
  balancer b;
  auto l = three();
  b.note_error("b", t0);
  for (int k = 0; k < 9; ++k) BOOST_TEST(pick_id(b, l, pick_strategy::round_robin) != "b");
}

BOOST_AUTO_TEST_CASE(when_every_instance_is_down_all_are_candidates_again) {
  balancer b;
  auto l = three();
  for (auto& i : l) b.note_error(i.instance_id, t0);
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) seen.insert(pick_id(b, l, pick_strategy::round_robin));
  BOOST_TEST(seen.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_down_instance_is_taken_when_the_others_were_tried) {
  // connect(): b refused, c down; a is the last untried and down too: still tried.
  balancer b;
  auto l = three();
  b.note_error("a", t0);
  b.note_error("c", t0);
  BOOST_TEST(pick_id(b, l, pick_strategy::round_robin, {"b"}) != "b");
  BOOST_TEST(pick_id(b, l, pick_strategy::random, {"b", "c"}, t0, 3) == "a");
}

BOOST_AUTO_TEST_CASE(random_skips_a_down_instance) {
  balancer b;
  auto l = three();
  b.note_error("a", t0);
  for (std::uint64_t r = 0; r < 10; ++r)
    BOOST_TEST(pick_id(b, l, pick_strategy::random, {}, t0, r) != "a");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_names)

BOOST_AUTO_TEST_CASE(pick_strategy_names_parse_and_others_are_refused) {
  BOOST_TEST((parse_pick_strategy("round-robin") == pick_strategy::round_robin));
  BOOST_TEST((parse_pick_strategy("random") == pick_strategy::random));
  BOOST_TEST((parse_pick_strategy("weighted") == pick_strategy::weighted));
  BOOST_TEST((parse_pick_strategy("least-conn") == pick_strategy::least_connections));
  BOOST_TEST(!parse_pick_strategy("round_robin").has_value());
  BOOST_TEST(!parse_pick_strategy("").has_value());
  BOOST_TEST(!parse_pick_strategy("Random").has_value());
}

BOOST_AUTO_TEST_CASE(health_status_names_round_trip) {
  for (auto h : {health_status::unknown, health_status::healthy, health_status::unhealthy,
                 health_status::maintenance}) {
    auto back = parse_health_status(to_string(h));
    BOOST_TEST((back == h), to_string(h));
  }
  BOOST_TEST(!parse_health_status("ok").has_value());
}

BOOST_AUTO_TEST_CASE(registry_options_name_the_bad_field) {
  registry_options o;
  o.errors_before_down = 0;
  try {
    o.validate();
    BOOST_ERROR("errors_before_down 0 accepted");
  } catch (const coordination_error& e) {
    BOOST_TEST(std::string(e.what()).find("errors_before_down") != std::string::npos, e.what());
  }
  registry_options d;
  d.down_period = -1ms;
  try {
    d.validate();
    BOOST_ERROR("a negative down_period accepted");
  } catch (const coordination_error& e) {
    BOOST_TEST(std::string(e.what()).find("down_period") != std::string::npos, e.what());
  }
  BOOST_CHECK_NO_THROW(registry_options{}.validate());
}

BOOST_AUTO_TEST_SUITE_END()
