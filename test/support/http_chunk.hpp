// One chunk of an HTTP/1.1 chunked body (size in hex, optional ";extension", CRLF, data, CRLF),
// for the tests that write answers by hand.
#pragma once

#include <cstdio>
#include <string>

namespace coordination::test {

inline std::string chunk(const std::string& data, const std::string& extension = "") {
  char size[32];
  std::snprintf(size, sizeof size, "%zx", data.size());
  return size + extension + "\r\n" + data + "\r\n";
}

}  // namespace coordination::test
