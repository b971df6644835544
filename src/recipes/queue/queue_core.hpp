// The decisions of the queue recipe (sans-io): its key layout, the txns of a push and of a pop
// attempt, and what a pop's answer means.
//
// Layout under the queue's name N: items are `N/items/<16 hex digits>` (random, written only
// if absent), popped oldest first by create revision; `N/claims/<16 hex digits>` records that
// one push attempt applied, or which item one pop attempt took, on a short lease of the
// queue object's (they expire by themselves). A pop attempt is one txn: if the
// item is unchanged, delete it and put the claim; else read the claim back. Sent twice (its
// answer lost, then resent), the second sending finds the claim the first one left, so the
// attempt is idempotent and the transport may resend it after any failure: an item taken is
// never lost by a lost answer, and never taken twice (the delete is guarded by the item's mod
// revision).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "coordination/types.hpp"
#include "detail/random_token.hpp"

namespace coordination::detail {

// The queue's item prefix; invalid_argument for an empty name.
std::string queue_items_prefix(std::string_view name);
// The item prefix of `priority` in a priority queue's `items` prefix: `items` + 5 decimal
// digits + "/", so that key order is priority order (0 first, as Go's recipe).
std::string priority_bucket(std::string_view items, std::uint16_t priority);
// The bucket prefix a priority queue's item key is in (up to its last '/'); empty when `key`
// is not an item of `items`.
std::string bucket_of(std::string_view items, std::string_view key);
// The claim key of a pop attempt's `token`.
std::string queue_claim_key(std::string_view name, std::string_view token);

// Put `value` at `item_key`, and a claim of the push under `claim_key` on `lease`, if neither
// exists; the failure branch reads the claim. A resend of an applied push finds its claim (also
// after the item was popped meanwhile), so a push is never applied twice.
txn_request queue_push_txn(const std::string& item_key, const std::string& claim_key,
                           std::string value, std::int64_t lease);
// The create revision of the item a push answer describes (the put's revision, or the claim's
// on a resend of an applied push); 0 when the push did not apply (its random key was taken:
// push again with other keys).
std::int64_t read_push_answer(const txn_result& r);

// One pop attempt at `item` (as the range found it), claimed under `claim_key` on `lease`.
txn_request queue_pop_txn(const key_value& item, const std::string& claim_key, std::int64_t lease);
// True when the attempt took the item: it applied, or an earlier sending of it did (the claim
// names the item).
bool read_pop_answer(const txn_result& r, std::string_view item_key);

}  // namespace coordination::detail
