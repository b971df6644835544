// The decisions of the counter recipe (sans-io): how a counter's value is read from its key,
// the one txn of an add or a compare-and-set attempt, and what its answer means. No I/O: the
// coroutines of counter.cpp send what these build.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "coordination/types.hpp"

namespace coordination::detail {

// The counter's value in `kv` (absent: 0). A value that is not a decimal int64 throws
// coordination_error(invalid_argument) naming the key and what it holds.
std::int64_t counter_value(std::string_view key, const std::optional<key_value>& kv);

// a + d, or invalid_argument naming the counter when it would overflow int64.
std::int64_t counter_sum(std::string_view key, std::int64_t a, std::int64_t d);

// One attempt: if the key is still as `seen` (its mod revision; 0 when absent) put `value`,
// else read it back (one round trip either way).
txn_request counter_write_txn(const std::string& key, const std::optional<key_value>& seen,
                              std::int64_t value);

// What an attempt's answer says: applied, or the key as it now is (nullopt: absent).
struct counter_attempt {
  bool applied = false;
  std::optional<key_value> now;
};
counter_attempt read_counter_attempt(const txn_result& r);

}  // namespace coordination::detail
