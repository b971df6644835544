#include "coordination/types.hpp"

namespace coordination {

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');  // every key
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

namespace {
compare make(std::string key, compare_target t, compare_result r, std::int64_t n) {
  compare c;
  c.key = std::move(key);
  c.target = t;
  c.result = r;
  c.number = n;
  return c;
}
}  // namespace

compare compare::version(std::string key, compare_result r, std::int64_t v) {
  return make(std::move(key), compare_target::version, r, v);
}
compare compare::create_revision(std::string key, compare_result r, std::int64_t rev) {
  return make(std::move(key), compare_target::create, r, rev);
}
compare compare::mod_revision(std::string key, compare_result r, std::int64_t rev) {
  return make(std::move(key), compare_target::mod, r, rev);
}
compare compare::lease(std::string key, compare_result r, std::int64_t lease_id) {
  return make(std::move(key), compare_target::lease, r, lease_id);
}
compare compare::value_of(std::string key, compare_result r, std::string v) {
  compare c = make(std::move(key), compare_target::value, r, 0);
  c.value = std::move(v);
  return c;
}

}  // namespace coordination
