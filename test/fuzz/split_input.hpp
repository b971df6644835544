// Shared by the fuzz targets that feed a parser in pieces: the input's first byte says how many
// of the next bytes (0-7) describe the piece sizes, the rest is what is parsed; next_piece()
// cycles through those sizes (1-64 bytes each; no sizes: everything at once).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

struct split_input {
  std::string_view cuts;
  std::string_view in;

  // False for an empty input (nothing to run).
  bool parse(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return false;
    std::size_t ncuts = std::min<std::size_t>(data[0] % 8, size - 1);
    cuts = std::string_view(reinterpret_cast<const char*>(data) + 1, ncuts);
    in = std::string_view(reinterpret_cast<const char*>(data) + 1 + ncuts, size - 1 - ncuts);
    return true;
  }
};

// The size of piece number `k` (counting from 0) with `left` bytes to go.
inline std::size_t next_piece(std::string_view cuts, std::size_t k, std::size_t left) {
  std::size_t n = cuts.empty() ? left : 1 + static_cast<unsigned char>(cuts[k % cuts.size()]) % 64;
  return std::min(n, left);
}
