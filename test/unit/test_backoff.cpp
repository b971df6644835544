// detail::backoff (src/detail/backoff.hpp): doubling from base to cap, jitter within
// [pause / 2, pause], reset after a success.
#include <boost/test/unit_test.hpp>

#include "detail/backoff.hpp"

using coordination::detail::backoff;
using ms = std::chrono::milliseconds;

BOOST_AUTO_TEST_SUITE(backoff_suite)

BOOST_AUTO_TEST_CASE(doubles_from_base_up_to_the_cap) {
  backoff b(ms(200), ms(2000));
  std::vector<long> seen;
  for (int i = 0; i < 7; ++i) seen.push_back(b.next().count());
  std::vector<long> expected{200, 400, 800, 1600, 2000, 2000, 2000};
  BOOST_TEST(seen == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_half_and_whole_of_the_pause) {
  for (double u : {0.0, 0.25, 0.5, 0.999, 1.0}) {
    backoff b(ms(100), ms(1000));
    long whole = 100;
    for (int i = 0; i < 6; ++i) {
      auto p = b.next(u).count();
      BOOST_TEST_CONTEXT("u=" << u << " step " << i) {
        BOOST_TEST(p >= whole / 2);
        BOOST_TEST(p <= whole);
      }
      whole = std::min(whole * 2, 1000L);
    }
  }
  backoff lo(ms(100), ms(1000));
  BOOST_TEST(lo.next(0.0).count() == 50);
  BOOST_TEST(lo.next(-3.0).count() == 100);  // (clamped to 0: half of 200)
}

BOOST_AUTO_TEST_CASE(reset_starts_again_from_base) {
  backoff b(ms(50), ms(400));
  b.next();
  b.next();
  BOOST_TEST(b.peek().count() == 200);
  b.reset();
  BOOST_TEST(b.next().count() == 50);
}

BOOST_AUTO_TEST_CASE(odd_settings_stay_sane) {
  backoff cap_below_base(ms(300), ms(100));  // the cap is raised to the base
  BOOST_TEST(cap_below_base.next().count() == 300);
  BOOST_TEST(cap_below_base.next().count() == 300);
  backoff no_growth(ms(10), ms(100), 0.5);  // a multiplier below 1 counts as 1
  BOOST_TEST(no_growth.next().count() == 10);
  BOOST_TEST(no_growth.next().count() == 10);
  backoff huge(ms(1), ms(std::chrono::hours(24)), 1e6);
  BOOST_TEST(huge.next().count() == 1);
  BOOST_TEST(huge.next().count() == 1'000'000);
  BOOST_TEST(huge.next().count() == 86'400'000);  // (1e12 capped)
}

BOOST_AUTO_TEST_SUITE_END()
