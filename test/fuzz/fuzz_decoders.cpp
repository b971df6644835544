// Every gateway response decoder on arbitrary bytes: the first byte picks the decoder, the rest
// is the body. A decoder may only return or throw coordination_error; anything else (another
// exception, a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coordination/error.hpp"
#include "protocol/codec.hpp"
#include "protocol/error_mapping.hpp"

using namespace coordination;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 14) {
      case 0:
        (void)detail::decode_range(body);
        break;
      case 1:
        (void)detail::decode_put(body);
        break;
      case 2:
        (void)detail::decode_delete(body);
        break;
      case 3:
        (void)detail::decode_txn(body);
        break;
      case 4:
        (void)detail::decode_compact(body);
        break;
      case 5:
        (void)detail::decode_lease_grant(body);
        break;
      case 6:
        (void)detail::decode_lease_revoke(body);
        break;
      case 7:
        (void)detail::decode_lease_keep_alive(body);
        break;
      case 8:
        (void)detail::decode_lease_time_to_live(body);
        break;
      case 9:
        (void)detail::decode_lease_leases(body);
        break;
      case 10:
        (void)detail::decode_status(body);
        break;
      case 11:
        (void)detail::decode_member_list(body);
        break;
      case 12:
        (void)detail::decode_watch_message(body);
        break;
      case 13: {
        // An error answer: any status, any body, always a mapped error with a message.
        auto m = detail::map_gateway_error(400 + (size % 200), body);
        if (!m.code) __builtin_trap();
        break;
      }
    }
  } catch (const coordination_error&) {
  }
  return 0;
}
