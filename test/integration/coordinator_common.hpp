// The integration tests' coordinator config: test_config() against the test etcd, every prefix
// under a fresh test prefix.
#pragma once

#include <string>

#include "common.hpp"
#include "coordination/coordinator.hpp"

namespace coordination::test {

inline config scoped_config(const std::string& name) {
  auto c = test_config();
  c.etcd = config_for(shared_endpoints());
  auto p = unique_prefix(name);
  c.locks.prefix = p + "locks/";
  c.registry.prefix = p + "services/";
  c.config_center.prefix = p + "config/";
  c.elections_prefix = p + "elections/";
  return c;
}

}  // namespace coordination::test
