// base64 as etcd's gateway uses it (standard alphabet, padded): decoding arbitrary text never
// crashes, and decode(encode(x)) == x for any bytes x.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/base64.hpp"

using namespace coordination::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)base64_decode(in);
  auto back = base64_decode(base64_encode(in));
  if (!back || *back != in) __builtin_trap();
  return 0;
}
