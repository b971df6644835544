// The unit tests' key_value maker.
#pragma once

#include <cstdint>
#include <string>

#include "coordination/types.hpp"

namespace coordination::test {

// `key` = `value` at mod revision `mod`, created at `create` (0: at `mod`).
inline key_value kv_of(std::string key, std::string value, std::int64_t mod,
                       std::int64_t create = 0) {
  key_value kv;
  kv.key = std::move(key);
  kv.value = std::move(value);
  kv.mod_revision = mod;
  kv.create_revision = create ? create : mod;
  return kv;
}

}  // namespace coordination::test
