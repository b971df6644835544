#include "protocol/base64.hpp"

#include <array>
#include <cstdint>

namespace coordination::detail {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto table = make_table();

}  // namespace

void base64_encode_append(std::string_view in, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t n = in.size();
  std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = p[i] << 16;
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    *o++ = alphabet[(v >> 18) & 63];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = '=';
  }
}

std::string base64_encode(std::string_view in) {
  std::string out;
  base64_encode_append(in, out);
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  const std::size_t n = in.size();
  if (n % 4 != 0) return std::nullopt;
  if (n == 0) return std::string();
  std::size_t pad = 0;
  if (in[n - 1] == '=') pad = in[n - 2] == '=' ? 2 : 1;
  std::string out;
  out.resize(n / 4 * 3 - pad);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  char* o = out.data();
  const std::size_t full = pad ? n - 4 : n;  // quads without padding
  for (std::size_t i = 0; i < full; i += 4) {
    std::int32_t a = table[p[i]], b = table[p[i + 1]], c = table[p[i + 2]], d = table[p[i + 3]];
    if ((a | b | c | d) < 0) return std::nullopt;  // outside the alphabet (also a misplaced '=')
    std::uint32_t w = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) |
                      (std::uint32_t(c) << 6) | std::uint32_t(d);
    o[0] = static_cast<char>(w >> 16);
    o[1] = static_cast<char>(w >> 8);
    o[2] = static_cast<char>(w);
    o += 3;
  }
  if (pad) {
    const std::size_t i = n - 4;
    std::int32_t a = table[p[i]], b = table[p[i + 1]], c = pad == 1 ? table[p[i + 2]] : 0;
    if ((a | b | c) < 0) return std::nullopt;
    // Canonical form only: the bits dropped by padding must be zero.
    if (pad == 1 && (c & 3)) return std::nullopt;
    if (pad == 2 && (b & 15)) return std::nullopt;
    std::uint32_t w = (std::uint32_t(a) << 18) | (std::uint32_t(b) << 12) | (std::uint32_t(c) << 6);
    *o++ = static_cast<char>(w >> 16);
    if (pad == 1) *o++ = static_cast<char>(w >> 8);
  }
  return out;
}

}  // namespace coordination::detail
