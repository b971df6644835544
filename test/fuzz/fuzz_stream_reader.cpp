// The streamed-answer reader (HTTP/1.1 status and headers, chunked or length-delimited body,
// concatenated JSON objects) on arbitrary bytes fed in arbitrary splits, every message it
// yields decoded as a watch message. Properties: never a crash or another exception type; a
// split of the input never changes the messages or the error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coordination/error.hpp"
#include "protocol/codec.hpp"
#include "split_input.hpp"
#include "transport/stream_reader.hpp"

using namespace coordination;

namespace {

struct outcome {
  std::vector<std::string> messages;
  std::error_code error;
  bool done = false;
};

// Feeds `in` in pieces of the sizes in `cuts` (cycled), collecting messages.
outcome read_all(std::string_view in, std::string_view cuts) {
  outcome o;
  transport::stream_reader r(64 * 1024);
  std::size_t pos = 0, k = 0;
  while (pos < in.size() && !o.error) {
    std::size_t n = next_piece(cuts, k++, in.size() - pos);
    o.error = r.feed(in.substr(pos, n));
    pos += n;
    while (auto m = r.next_message()) o.messages.push_back(std::move(*m));
    if (r.done()) break;
  }
  o.done = r.done();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  split_input split;
  if (!split.parse(data, size)) return 0;
  auto [cuts, in] = split;

  auto whole = read_all(in, {});
  auto pieces = read_all(in, cuts);
  // Splitting the input must not change what was read: one reader's messages are a prefix of
  // the other's (a malformed header may be noticed before it is complete in one split and not
  // yet in another), and two readers that reached the end of the answer agree on everything.
  auto& a = whole.messages;
  auto& b = pieces.messages;
  if (!std::equal(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin())) __builtin_trap();
  if (whole.done && pieces.done && (a != b || !whole.error != !pieces.error)) __builtin_trap();
  if ((whole.done && !whole.error && pieces.error) || (pieces.done && !pieces.error && whole.error))
    __builtin_trap();
  for (auto& m : whole.messages) {
    try {
      (void)detail::decode_watch_message(m);
    } catch (const coordination_error&) {
    }
  }
  return 0;
}
