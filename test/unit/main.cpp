#define BOOST_TEST_MODULE coordination_unit
#include <boost/test/unit_test.hpp>
