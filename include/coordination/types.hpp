// Plain value types of the etcd v3 API as this library exposes them: keys and values are byte
// strings (binary safe), revisions, versions and lease ids are std::int64_t. They hold no
// resources and are safe to copy between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace coordination {

// A point in wall-clock time (the recipes store times as ms since the Unix epoch).
using wall_time = std::chrono::system_clock::time_point;
inline std::int64_t to_unix_ms(wall_time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline wall_time from_unix_ms(std::int64_t ms) {
  return wall_time(std::chrono::milliseconds(ms));
}

struct response_header {
  std::uint64_t cluster_id = 0;
  std::uint64_t member_id = 0;
  std::int64_t revision = 0;
  std::uint64_t raft_term = 0;
};

struct key_value {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
  friend bool operator==(const key_value&, const key_value&) = default;
};

// The range_end that selects every key starting with `prefix` (etcd's rule: strip trailing 0xff
// bytes, increment the last byte). An empty prefix selects every key ("\0").
std::string prefix_range_end(std::string_view prefix);

// ---- range -------------------------------------------------------------------------------
enum class sort_order { none, ascend, descend };
enum class sort_target { key, version, create, mod, value };

// The option types that own strings or vectors have a user-provided constructor on purpose: GCC 12
// destroys a brace-initialised aggregate temporary twice when it appears in a co_await
// expression (`co_await c.range(k, range_options{})` or a `= {}` default argument), and a
// non-aggregate is not affected.
struct range_options {
  range_options() {}
  std::string range_end;      // empty: the single key; see prefix_range_end()
  bool prefix = false;        // sets range_end to prefix_range_end(key)
  std::int64_t limit = 0;     // 0: no limit
  std::int64_t revision = 0;  // 0: newest
  bool serializable = false;  // answer from the member's local state (maybe stale)
  bool keys_only = false;
  bool count_only = false;
  sort_order order = sort_order::none;
  sort_target target = sort_target::key;
  std::int64_t min_mod_revision = 0, max_mod_revision = 0;
  std::int64_t min_create_revision = 0, max_create_revision = 0;
};

struct range_result {
  response_header header;
  std::vector<key_value> kvs;
  bool more = false;
  std::int64_t count = 0;
};

// ---- put / delete ------------------------------------------------------------------------
struct put_options {
  std::int64_t lease = 0;
  bool prev_kv = false;
  bool ignore_value = false;
  bool ignore_lease = false;
};

struct put_result {
  response_header header;
  std::optional<key_value> prev_kv;
};

struct delete_options {
  delete_options() {}
  std::string range_end;
  bool prefix = false;
  bool prev_kv = false;
};

struct delete_result {
  response_header header;
  std::int64_t deleted = 0;
  std::vector<key_value> prev_kvs;
};

// ---- txn ---------------------------------------------------------------------------------
enum class compare_target { version, create, mod, value, lease };
enum class compare_result { equal, greater, less, not_equal };

// One condition of a transaction: `target(key) result operand`, e.g.
// compare::version("k", compare_result::equal, 0) for "k does not exist".
struct compare {
  std::string key;
  std::string range_end;
  compare_target target = compare_target::version;
  compare_result result = compare_result::equal;
  std::int64_t number = 0;  // version, create/mod revision or lease
  std::string value;        // for compare_target::value

  static compare version(std::string key, compare_result r, std::int64_t v);
  static compare create_revision(std::string key, compare_result r, std::int64_t rev);
  static compare mod_revision(std::string key, compare_result r, std::int64_t rev);
  static compare lease(std::string key, compare_result r, std::int64_t lease_id);
  static compare value_of(std::string key, compare_result r, std::string v);
};

struct range_op {
  std::string key;
  range_options options;
};
struct put_op {
  std::string key;
  std::string value;
  put_options options;
};
struct delete_op {
  std::string key;
  delete_options options;
};
using txn_op = std::variant<range_op, put_op, delete_op>;

struct txn_request {
  txn_request() {}
  std::vector<compare> compares;
  std::vector<txn_op> success;
  std::vector<txn_op> failure;
  // The caller declares that applying this txn twice has the effect of applying it once (a
  // put-if-absent of a key only this caller writes, say): the client may then resend it after
  // any failure, also after it was sent, instead of failing with outcome_unknown or timeout.
  // The answer of a resend describes the second application (e.g. the failure branch).
  bool idempotent = false;
};

using txn_op_result = std::variant<range_result, put_result, delete_result>;

struct txn_result {
  response_header header;
  bool succeeded = false;
  std::vector<txn_op_result> responses;  // one per op of the branch that ran
};

struct compact_result {
  response_header header;
};

// ---- lease -------------------------------------------------------------------------------
struct lease_grant_result {
  response_header header;
  std::int64_t id = 0;
  std::int64_t ttl = 0;  // seconds granted
};

struct lease_keep_alive_result {
  response_header header;
  std::int64_t id = 0;
  std::int64_t ttl = 0;  // seconds remaining after the renewal
};

struct lease_time_to_live_result {
  response_header header;
  std::int64_t id = 0;
  std::int64_t ttl = 0;          // seconds remaining; -1 when the lease does not exist
  std::int64_t granted_ttl = 0;  // seconds first granted
  std::vector<std::string> keys;
};

struct lease_revoke_result {
  response_header header;
};

// ---- cluster -----------------------------------------------------------------------------
struct member {
  std::uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};

struct member_list_result {
  response_header header;
  std::vector<member> members;
};

struct status_result {
  response_header header;
  std::string version;
  std::int64_t db_size = 0;
  std::uint64_t leader = 0;
  std::uint64_t raft_index = 0;
  std::uint64_t raft_term = 0;
  std::string endpoint;  // which endpoint answered
  // Set by coordinator::ping() when etcd refused the status call to this user (with auth on,
  // /v3/maintenance/status is root-only in etcd 3.5.28-3.5.31 and 3.6.0-3.6.11): header comes
  // from a serializable range of locks.prefix (sent with Grpc-Metadata-Hasleader, so a member
  // without a leader still fails it), version from GET /version, raft_term from the header;
  // db_size, leader and raft_index are then 0 (unknown, not "no leader").
  bool restricted = false;
};

}  // namespace coordination
