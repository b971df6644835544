// The unary-answer parser (transport::response_parser) on arbitrary bytes fed in arbitrary
// splits. Properties: never a crash; a split of the input never changes the outcome; and every
// answer Beast's HTTP parser reads completely as a final (2xx-5xx) answer is read the same way:
// same status, body and keep-alive, as long as its header block is plain printable ASCII (on
// other bytes the two legitimately differ: Beast reads "chunked\xb3" as chunked, we do not).
// Deliberate differences, where we refuse what Beast reads: both Content-Length and
// Transfer-Encoding (RFC 9112 6.3 calls it a smuggling sign to be handled as an error), and a
// Transfer-Encoding that is not a list of codings ("chunked H": Beast reads it as chunked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../support/beast_reference.hpp"
#include "split_input.hpp"
#include "transport/response_parser.hpp"

namespace {

struct outcome {
  std::error_code error;
  bool done = false;
  unsigned status = 0;
  bool keep_alive = false;
  std::string body;
  std::size_t used = 0;
  std::string_view why;
};

constexpr std::size_t max_body = 1 << 20;

// Feeds `in` in pieces of the sizes in `cuts` (cycled), then the end of the connection.
outcome ours(std::string_view in, std::string_view cuts) {
  coordination::transport::response_parser p(max_body);
  outcome o;
  std::size_t pos = 0, k = 0;
  while (pos < in.size() && !o.error && !p.done()) {
    std::size_t n = next_piece(cuts, k++, in.size() - pos);
    auto used = p.feed(in.substr(pos, n), o.error);
    if (used > n) __builtin_trap();
    o.used += used;
    pos += n;
    if (!o.error && used < n && !p.done()) __builtin_trap();  // only the end leaves bytes
  }
  if (!o.error) p.feed_eof(o.error);
  o.done = p.done();
  o.status = p.status();
  o.keep_alive = p.keep_alive();
  o.body = p.body();
  o.why = p.why();
  return o;
}

// The header blocks up to the end of the input are printable ASCII, CR, LF and HT.
bool plain_ascii_head(std::string_view in) {
  auto end = in.rfind("\r\n\r\n");
  for (char c : in.substr(0, end == std::string_view::npos ? in.size() : end)) {
    auto u = static_cast<unsigned char>(c);
    if (!(u == '\r' || u == '\n' || u == '\t' || (u >= 0x20 && u < 0x7f))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  split_input split;
  if (!split.parse(data, size)) return 0;
  auto [cuts, in] = split;

  auto whole = ours(in, {});
  auto pieces = ours(in, cuts);
  if (whole.error != pieces.error || whole.done != pieces.done || whole.status != pieces.status ||
      whole.body != pieces.body || (!whole.error && whole.used != pieces.used) ||
      whole.keep_alive != pieces.keep_alive)
    __builtin_trap();
  if (whole.done && whole.error) __builtin_trap();

  if (!plain_ascii_head(in) || whole.why == "both Content-Length and Transfer-Encoding" ||
      whole.why == "bad Transfer-Encoding")
    return 0;
  auto ref = coordination::test::beast_read(in, max_body,
                                            coordination::transport::response_parser::max_header);
  if (ref.complete && (!whole.done || whole.status != ref.status || whole.body != ref.body ||
                       whole.keep_alive != ref.keep_alive))
    __builtin_trap();
  return 0;
}
