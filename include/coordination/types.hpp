/// \file
/// Plain value types of the etcd v3 API as this library exposes them: keys and values are byte
/// strings (binary safe), revisions, versions and lease ids are std::int64_t. They hold no
/// resources and are safe to copy between threads.
///
/// Thread-safety of every type here: that of a plain struct of standard types. Distinct
/// objects may be used on different threads at once; one object may be read from several
/// threads, but not written while another thread uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace coordination {

/// A point in wall-clock time (the recipes store times as ms since the Unix epoch).
using wall_time = std::chrono::system_clock::time_point;
/// `t` as milliseconds since the Unix epoch (truncated).
inline std::int64_t to_unix_ms(wall_time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
/// The wall_time `ms` milliseconds after the Unix epoch (the inverse of to_unix_ms()).
inline wall_time from_unix_ms(std::int64_t ms) {
  return wall_time(std::chrono::milliseconds(ms));
}

/// etcd's header of an answer: which cluster and member answered, and at which revision.
struct response_header {
  /// The cluster's id.
  std::uint64_t cluster_id = 0;
  /// The id of the member that answered.
  std::uint64_t member_id = 0;
  /// The key-value store's revision when the member answered.
  std::int64_t revision = 0;
  /// The member's raft term when it answered.
  std::uint64_t raft_term = 0;
};

/// One key with its value and metadata, as etcd stores it.
struct key_value {
  /// The key (any bytes).
  std::string key;
  /// The value (any bytes; empty with range_options::keys_only).
  std::string value;
  /// The revision of the key's creation (of its current life, after a delete).
  std::int64_t create_revision = 0;
  /// The revision of the key's last change.
  std::int64_t mod_revision = 0;
  /// The number of changes since its creation (1 after the create).
  std::int64_t version = 0;
  /// The lease the key is attached to; 0: none.
  std::int64_t lease = 0;
  /// Equal when every field is.
  friend bool operator==(const key_value&, const key_value&) = default;
};

/// The range_end that selects every key starting with `prefix` (etcd's rule: strip trailing 0xff
/// bytes, increment the last byte). An empty prefix selects every key ("\0").
std::string prefix_range_end(std::string_view prefix);

// ---- range -------------------------------------------------------------------------------
/// The order of a range's answer (range_options::order): `none` (by key, ascending), `ascend`,
/// `descend` (by range_options::target).
enum class sort_order { none, ascend, descend };
/// What a sorted range is sorted by (range_options::target): the key, its version, its create
/// or mod revision, or its value.
enum class sort_target { key, version, create, mod, value };

/// The options of client::range() (and of a txn's range_op).
///
/// The option types that own strings or vectors have a user-provided constructor on purpose:
/// GCC 12 destroys a brace-initialised aggregate temporary twice when it appears in a co_await
/// expression (`co_await c.range(k, range_options{})` or a `= {}` default argument), and a
/// non-aggregate is not affected.
struct range_options {
  /// Every option at its default: the single key, newest revision, no limit.
  range_options() {}
  std::string range_end;      ///< empty: the single key; see prefix_range_end()
  bool prefix = false;        ///< sets range_end to prefix_range_end(key)
  std::int64_t limit = 0;     ///< 0: no limit
  std::int64_t revision = 0;  ///< 0: newest
  bool serializable = false;  ///< answer from the member's local state (maybe stale)
  /// Leave the values out (key_value::value is empty).
  bool keys_only = false;
  /// Only range_result::count: no key_value.
  bool count_only = false;
  /// The order of the answer; none: by key.
  sort_order order = sort_order::none;
  /// What the answer is sorted by (with an order other than none).
  sort_target target = sort_target::key;
  /// Only keys whose mod_revision is at least this; 0: no bound.
  std::int64_t min_mod_revision = 0, max_mod_revision = 0;  ///< At most this one; 0: no bound
  /// Only keys whose create_revision is at least this; 0: no bound.
  std::int64_t min_create_revision = 0, max_create_revision = 0;  ///< At most this; 0: no bound
};

/// The answer to a range.
struct range_result {
  /// The answer's header.
  response_header header;
  /// The keys found, sorted by key unless range_options::order says otherwise.
  std::vector<key_value> kvs;
  /// True when range_options::limit left keys out.
  bool more = false;
  /// The number of keys in the range (not limited by range_options::limit).
  std::int64_t count = 0;
};

// ---- put / delete ------------------------------------------------------------------------
/// The options of client::put() (and of a txn's put_op).
struct put_options {
  /// Attach the key to this lease (it is deleted when the lease ends); 0: no lease.
  std::int64_t lease = 0;
  /// Return the key's previous value in put_result::prev_kv.
  bool prev_kv = false;
  /// Keep the key's current value (only the lease changes); etcd refuses it for a key that
  /// does not exist.
  bool ignore_value = false;
  /// Keep the key's current lease (only the value changes); etcd refuses it for a key that
  /// does not exist.
  bool ignore_lease = false;
};

/// The answer to a put.
struct put_result {
  /// The answer's header (its revision: the put's).
  response_header header;
  /// The key before the put, with put_options::prev_kv (none when the key was new).
  std::optional<key_value> prev_kv;
};

/// The options of client::del() (and of a txn's delete_op). Not an aggregate: see the note of
/// range_options.
struct delete_options {
  /// Every option at its default: the single key.
  delete_options() {}
  /// Delete every key in [key, range_end); empty: the single key.
  std::string range_end;
  /// Every key starting with the key (range_end becomes prefix_range_end(key)).
  bool prefix = false;
  /// Return the deleted keys in delete_result::prev_kvs.
  bool prev_kv = false;
};

/// The answer to a delete.
struct delete_result {
  /// The answer's header.
  response_header header;
  /// How many keys were deleted.
  std::int64_t deleted = 0;
  /// The deleted keys, with delete_options::prev_kv.
  std::vector<key_value> prev_kvs;
};

// ---- txn ---------------------------------------------------------------------------------
/// What a compare looks at: the key's `version`, `create` or `mod` revision, `value` or
/// `lease`.
enum class compare_target { version, create, mod, value, lease };
/// How a compare's target relates to its operand: `equal`, `greater`, `less`, `not_equal`.
enum class compare_result { equal, greater, less, not_equal };

/// One condition of a transaction: `target(key) result operand`, e.g.
/// compare::version("k", compare_result::equal, 0) for "k does not exist".
struct compare {
  /// The key compared.
  std::string key;
  /// With it, every key in [key, range_end) must satisfy the condition; empty: the one key.
  std::string range_end;
  /// What is compared.
  compare_target target = compare_target::version;
  /// The relation that must hold.
  compare_result result = compare_result::equal;
  std::int64_t number = 0;  ///< version, create/mod revision or lease
  std::string value;        ///< for compare_target::value

  /// The key's version `r` `v` (version 0: the key does not exist).
  static compare version(std::string key, compare_result r, std::int64_t v);
  /// The key's create revision `r` `rev`.
  static compare create_revision(std::string key, compare_result r, std::int64_t rev);
  /// The key's mod revision `r` `rev`.
  static compare mod_revision(std::string key, compare_result r, std::int64_t rev);
  /// The key's lease `r` `lease_id` (0: no lease).
  static compare lease(std::string key, compare_result r, std::int64_t lease_id);
  /// The key's value `r` `v` (compared byte by byte).
  static compare value_of(std::string key, compare_result r, std::string v);
};

/// A range in a transaction.
struct range_op {
  /// The key (or the range's start).
  std::string key;
  /// As for client::range().
  range_options options;
};
/// A put in a transaction.
struct put_op {
  /// The key.
  std::string key;
  /// Its new value.
  std::string value;
  /// As for client::put().
  put_options options;
};
/// A delete in a transaction.
struct delete_op {
  /// The key (or the range's start).
  std::string key;
  /// As for client::del().
  delete_options options;
};
/// One operation of a transaction's branch.
using txn_op = std::variant<range_op, put_op, delete_op>;

/// A transaction: if every compare holds, the success ops run, else the failure ops; all in one
/// revision. Not an aggregate: see the note of range_options.
struct txn_request {
  /// An empty transaction (no compares: the success branch runs).
  txn_request() {}
  /// The conditions, all of which must hold.
  std::vector<compare> compares;
  /// The operations run when every compare holds.
  std::vector<txn_op> success;
  /// The operations run otherwise.
  std::vector<txn_op> failure;
  /// The caller declares that applying this txn twice has the effect of applying it once (a
  /// put-if-absent of a key only this caller writes, say): the client may then resend it after
  /// any failure, also after it was sent, instead of failing with outcome_unknown or timeout.
  /// The answer of a resend describes the second application (e.g. the failure branch).
  bool idempotent = false;
};

/// The answer to one operation of a transaction (the alternative matches the op's).
using txn_op_result = std::variant<range_result, put_result, delete_result>;

/// The answer to a transaction.
struct txn_result {
  /// The answer's header.
  response_header header;
  /// True when every compare held (the success branch ran).
  bool succeeded = false;
  std::vector<txn_op_result> responses;  ///< one per op of the branch that ran
  /// An idempotent txn (txn_request::idempotent) only: an attempt before the one that answered
  /// reached etcd and its answer was lost. That copy was applied already, or may still be applied
  /// later (a paused member's gateway can hold it and pass it on when the member resumes): a
  /// put-if-absent whose key is deleted after this answer can be re-created by it.
  bool earlier_attempt_reached = false;
};

/// The answer to a compaction.
struct compact_result {
  /// The answer's header.
  response_header header;
};

// ---- lease -------------------------------------------------------------------------------
/// The answer to a lease grant.
struct lease_grant_result {
  /// The answer's header.
  response_header header;
  /// The lease's id.
  std::int64_t id = 0;
  std::int64_t ttl = 0;  ///< seconds granted
};

/// The answer to one lease renewal.
struct lease_keep_alive_result {
  /// The answer's header.
  response_header header;
  /// The lease's id.
  std::int64_t id = 0;
  std::int64_t ttl = 0;  ///< seconds remaining after the renewal
};

/// The answer to a lease's time-to-live query.
struct lease_time_to_live_result {
  /// The answer's header.
  response_header header;
  /// The lease's id.
  std::int64_t id = 0;
  std::int64_t ttl = 0;          ///< seconds remaining; -1 when the lease does not exist
  std::int64_t granted_ttl = 0;  ///< seconds first granted
  /// The keys attached to the lease (asked for with `with_keys`).
  std::vector<std::string> keys;
};

/// The answer to a lease revocation.
struct lease_revoke_result {
  /// The answer's header.
  response_header header;
};

// ---- cluster -----------------------------------------------------------------------------
/// A member of the etcd cluster.
struct member {
  /// The member's id.
  std::uint64_t id = 0;
  /// Its name (empty while a member added to the cluster has not started).
  std::string name;
  /// The URLs it talks raft on.
  std::vector<std::string> peer_urls;
  /// The URLs it serves clients on.
  std::vector<std::string> client_urls;
  /// A non-voting member (etcd's learner); refresh_endpoints() leaves its URLs out.
  bool is_learner = false;
};

/// The answer to a member list.
struct member_list_result {
  /// The answer's header.
  response_header header;
  /// The cluster's members.
  std::vector<member> members;
};

/// The status of one member.
struct status_result {
  /// The answer's header.
  response_header header;
  /// The member's etcd version ("3.5.17").
  std::string version;
  /// The size of its database file, in bytes.
  std::int64_t db_size = 0;
  /// The member id of the leader as this member knows it; 0: no leader.
  std::uint64_t leader = 0;
  /// Its raft index.
  std::uint64_t raft_index = 0;
  /// Its raft term.
  std::uint64_t raft_term = 0;
  std::string endpoint;  ///< which endpoint answered
  /// Set by coordinator::ping() when etcd refused the status call to this user (with auth on,
  /// /v3/maintenance/status is root-only in etcd 3.5.28-3.5.31 and 3.6.0-3.6.11): header comes
  /// from a serializable range of locks.prefix (sent with Grpc-Metadata-Hasleader, so a member
  /// without a leader still fails it), version from GET /version, raft_term from the header;
  /// db_size, leader and raft_index are then 0 (unknown, not "no leader").
  bool restricted = false;
};

}  // namespace coordination
