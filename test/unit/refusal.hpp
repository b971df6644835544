// The unit tests' check of what a validation refuses.
#pragma once

#include <boost/test/unit_test.hpp>
#include <string>

#include "coordination/error.hpp"

namespace coordination::test {

// The message of the invalid_argument `f` throws ("" when it throws nothing).
template <class F>
std::string refusal(F f) {
  try {
    f();
  } catch (const coordination_error& e) {
    BOOST_TEST((e.code() == make_error_code(error::invalid_argument)));
    return e.what();
  }
  return "";
}

}  // namespace coordination::test
