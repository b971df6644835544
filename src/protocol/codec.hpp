// etcd v3 gateway JSON <-> the library's types. Encoders write the request body directly (keys and
// values base64, numbers as JSON numbers); decoders accept int64 fields as strings or numbers,
// treat missing fields as zero (the gateway omits zero values), and throw
// coordination_error(protocol_error) for anything that is not a valid answer.
#pragma once

#include <string>
#include <string_view>

#include "coordination/types.hpp"

namespace coordination::detail {

std::string encode_range(std::string_view key, const range_options& o);
std::string encode_put(std::string_view key, std::string_view value, const put_options& o);
std::string encode_delete(std::string_view key, const delete_options& o);
std::string encode_txn(const txn_request& t);
std::string encode_compact(std::int64_t revision, bool physical);
std::string encode_lease_grant(std::int64_t ttl, std::int64_t id);
std::string encode_lease_id(std::int64_t id);  // revoke, keep-alive
std::string encode_lease_time_to_live(std::int64_t id, bool keys);

range_result decode_range(std::string_view body);
put_result decode_put(std::string_view body);
delete_result decode_delete(std::string_view body);
txn_result decode_txn(std::string_view body);
compact_result decode_compact(std::string_view body);
lease_grant_result decode_lease_grant(std::string_view body);
lease_revoke_result decode_lease_revoke(std::string_view body);
// The keep-alive stream's first {"result":{...}} line. Throws lease_not_found when TTL is absent
// (etcd's way of saying the lease is gone).
lease_keep_alive_result decode_lease_keep_alive(std::string_view body);
lease_time_to_live_result decode_lease_time_to_live(std::string_view body);
std::vector<std::int64_t> decode_lease_leases(std::string_view body);
status_result decode_status(std::string_view body);
// GET /version's answer: {"etcdserver":"3.5.30","etcdcluster":"3.5.0"} -> "3.5.30".
std::string decode_server_version(std::string_view body);
member_list_result decode_member_list(std::string_view body);

// ---- watch ----
struct watch_create {
  std::int64_t watch_id = 0;
  std::string key;
  std::string range_end;
  std::int64_t start_revision = 0;
  bool prev_kv = false;
  bool progress_notify = false;
  bool filter_put = false;
  bool filter_delete = false;
  bool fragment = false;
};
std::string encode_watch_create(const watch_create& w);
std::string encode_watch_cancel(std::int64_t watch_id);
// (No progress_request: from 3.4.25/3.5.8 etcd drops it silently while a watcher on the stream
// is unsynced, so nothing may wait for its answer; the library never sends one.)

struct watch_event_wire {
  bool is_delete = false;
  key_value kv;
  std::optional<key_value> prev_kv;
};

// One message of a watch stream: a {"result":{...}} or an {"error":{...}} line.
struct watch_message {
  response_header header;
  std::int64_t watch_id = 0;
  bool created = false;
  bool canceled = false;
  bool fragment = false;
  std::int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<watch_event_wire> events;
  // Set for an {"error":...} message: the stream ends after it.
  std::optional<std::string> stream_error;
  int stream_error_code = 0;  // its gRPC code
};
watch_message decode_watch_message(std::string_view body);

}  // namespace coordination::detail
