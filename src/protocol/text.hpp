// Text helpers of the recipes that store JSON: UTF-8 validity (JSON strings must be UTF-8;
// other bytes go base64, see base64.hpp).
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "coordination/error.hpp"
#include "protocol/base64.hpp"

namespace coordination::detail {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0, n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || c > 0xF4 || i + len > n) return false;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 > 0x8F))
      return false;
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// j.dump(); a string that is not UTF-8 throws invalid_argument naming `field`.
inline std::string dump_json(const nlohmann::json& j, const char* field) {
  try {
    return j.dump();
  } catch (const nlohmann::json::type_error&) {
    throw coordination_error(error::invalid_argument,
                             std::string(field) + ": keys and values must be valid UTF-8");
  }
}

// `s` for an error message: quoted when it is UTF-8 without control characters, else as
// base64; cut to 64 bytes either way.
inline std::string printable(std::string_view s) {
  bool plain = valid_utf8(s);
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) plain = false;
  std::size_t n = std::min<std::size_t>(s.size(), 64);
  while (plain && n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string_view cut = s.substr(0, n);
  std::string out = plain ? "'" + std::string(cut) + "'" : "base64 " + base64_encode(cut);
  if (cut.size() < s.size()) out += " (" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace coordination::detail
