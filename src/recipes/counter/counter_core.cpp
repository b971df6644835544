#include "recipes/counter/counter_core.hpp"

#include <charconv>
#include <limits>

#include "coordination/error.hpp"
#include "protocol/text.hpp"

namespace coordination::detail {

std::int64_t counter_value(std::string_view key, const std::optional<key_value>& kv) {
  if (!kv) return 0;
  const std::string& v = kv->value;
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size())
    throw coordination_error(error::invalid_argument, "counter " + printable(key) + " holds " +
                                                          printable(v) +
                                                          ", not a decimal integer of 64 bits");
  return out;
}

std::int64_t counter_sum(std::string_view key, std::int64_t a, std::int64_t d) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, d, &out))
    throw coordination_error(error::invalid_argument, "counter " + printable(key) + ": " +
                                                          std::to_string(a) + " + " +
                                                          std::to_string(d) + " overflows");
  return out;
}

txn_request counter_write_txn(const std::string& key, const std::optional<key_value>& seen,
                              std::int64_t value) {
  txn_request t;
  t.compares.push_back(
      compare::mod_revision(key, compare_result::equal, seen ? seen->mod_revision : 0));
  put_op put;
  put.key = key;
  put.value = std::to_string(value);
  t.success.emplace_back(std::move(put));
  range_op read;
  read.key = key;
  t.failure.emplace_back(std::move(read));
  return t;
}

counter_attempt read_counter_attempt(const txn_result& r) {
  counter_attempt out;
  out.applied = r.succeeded;
  if (r.succeeded || r.responses.empty()) return out;
  if (auto* range = std::get_if<range_result>(&r.responses[0]); range && !range->kvs.empty())
    out.now = range->kvs.front();
  return out;
}

}  // namespace coordination::detail
