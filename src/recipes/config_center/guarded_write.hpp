// How the config center tells whether one of its writes was applied when the answer is lost.
//
// Every write of a config key (set or remove) is one txn that compares the key's meta key's mod
// revision with the one read just before (0: absent), writes the meta key with a fresh
// `write_id`, and never deletes it (a remove leaves a tombstone meta). So of all the copies of one
// txn that may reach etcd (a resend, or a late copy applied after a member's pause), at most one
// is applied, and only as the meta key's first change after that read. When an answer is lost,
// send_guarded() reads the meta key: our id there means applied; the meta unchanged means not
// (yet) applied, and the same txn is sent again (still at most once in all); a meta changed by
// others means applied exactly when its first change after the read carried our id, which a
// watch from the read's revision + 1 tells. History compacted past that revision: outcome_unknown.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "coordination/client.hpp"

namespace coordination::detail {

struct guarded_write {
  txn_request txn;       // compares the meta's mod revision, writes the meta with write_id
  std::string meta_key;  // the config key's meta key
  std::string write_id;  // in the meta this txn writes
  std::int64_t read_revision = 0;  // the revision of the read the txn was built from
  std::int64_t meta_revision = 0;  // the meta's mod revision at that read (0: absent)
};

// Sends `w.txn`; returns the revision it was applied at, or nullopt when it was not applied and
// never will be (a compare failed). Throws outcome_unknown when that cannot be told within a few
// rounds, and what the client throws for errors that say "not applied".
boost::asio::awaitable<std::optional<std::int64_t>> send_guarded(client& c, guarded_write w);

// The write id in a meta key's JSON ("" when none).
std::string write_id_of(const std::string& meta_json);

}  // namespace coordination::detail
