// 16 random hex digits, for the unique key suffixes of the recipes (queue items and claims,
// double barrier waiters).
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace coordination::detail {

inline std::string random_token() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::uint64_t v = gen();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 15];
  return out;
}

}  // namespace coordination::detail
