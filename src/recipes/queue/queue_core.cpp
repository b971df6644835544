#include "recipes/queue/queue_core.hpp"

#include <cstdio>

#include "coordination/error.hpp"

namespace coordination::detail {

std::string queue_items_prefix(std::string_view name) {
  if (name.empty()) throw coordination_error(error::invalid_argument, "queue name: empty");
  return std::string(name) + "/items/";
}

std::string priority_bucket(std::string_view items, std::uint16_t priority) {
  char digits[8];
  std::snprintf(digits, sizeof digits, "%05u", static_cast<unsigned>(priority));
  return std::string(items) + digits + "/";
}

std::string bucket_of(std::string_view items, std::string_view key) {
  if (key.size() <= items.size() || key.substr(0, items.size()) != items) return {};
  auto slash = key.rfind('/');
  if (slash == std::string_view::npos || slash < items.size()) return {};
  return std::string(key.substr(0, slash + 1));
}

std::string queue_claim_key(std::string_view name, std::string_view token) {
  return std::string(name) + "/claims/" + std::string(token);
}

namespace {
// Adds the claim to `t`: put with the success branch, read back by the failure branch, which
// makes `t` idempotent.
void claimed(txn_request& t, const std::string& claim_key, const std::string& item_key,
             std::int64_t lease) {
  put_op claim;
  claim.key = claim_key;
  claim.value = item_key;
  claim.options.lease = lease;
  t.success.emplace_back(std::move(claim));
  range_op read;
  read.key = claim_key;
  t.failure.emplace_back(std::move(read));
  t.idempotent = true;
}
}  // namespace

txn_request queue_push_txn(const std::string& item_key, const std::string& claim_key,
                           std::string value, std::int64_t lease) {
  txn_request t;
  t.compares.push_back(compare::create_revision(item_key, compare_result::equal, 0));
  t.compares.push_back(compare::create_revision(claim_key, compare_result::equal, 0));
  put_op put;
  put.key = item_key;
  put.value = std::move(value);
  t.success.emplace_back(std::move(put));
  claimed(t, claim_key, item_key, lease);
  return t;
}

std::int64_t read_push_answer(const txn_result& r) {
  if (r.succeeded) return r.header.revision;
  if (r.responses.empty()) return 0;
  auto* range = std::get_if<range_result>(&r.responses[0]);
  if (!range || range->kvs.empty()) return 0;
  return range->kvs[0].create_revision;
}

txn_request queue_pop_txn(const key_value& item, const std::string& claim_key, std::int64_t lease) {
  txn_request t;
  t.compares.push_back(compare::mod_revision(item.key, compare_result::equal, item.mod_revision));
  delete_op del;
  del.key = item.key;
  t.success.emplace_back(std::move(del));
  claimed(t, claim_key, item.key, lease);
  return t;
}

bool read_pop_answer(const txn_result& r, std::string_view item_key) {
  if (r.succeeded) return true;
  if (r.responses.empty()) return false;
  auto* range = std::get_if<range_result>(&r.responses[0]);
  return range && !range->kvs.empty() && range->kvs[0].value == item_key;
}

}  // namespace coordination::detail
