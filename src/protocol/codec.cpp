#include "protocol/codec.hpp"

#include <simdjson.h>
#include <charconv>
#include <optional>

#include "coordination/error.hpp"
#include "protocol/base64.hpp"

namespace coordination::detail {

namespace {

// ---- decoding ------------------------------------------------------------------------------
// simdjson's DOM: one parser per thread, reused, so after the first answers a decode allocates
// nothing but its results (nlohmann's DOM cost a map node and strings per field: about 40% of
// the client's CPU for a put). A parser keeps about 15 bytes per byte of the largest answer it
// parsed (its tape, structural indexes and string buffer: 15 MB after a 1 MB range, measured),
// so answers over 64 KiB get a parser of their own and the thread's keeps at most about 1 MB.

namespace dom = simdjson::dom;
using element = dom::element;

[[noreturn]] void bad(const std::string& what) {
  throw coordination_error(error::protocol_error, "unexpected answer from etcd: " + what);
}

std::optional<element> member_of(element obj, const char* name) {
  dom::object o;
  if (obj.get_object().get(o)) bad(std::string("expected an object around '") + name + "'");
  element v;
  if (o.at_key(name).get(v) || v.is_null()) return std::nullopt;
  return v;
}

// The member's value as a number (etcd's gateway writes 64-bit integers as strings).
std::int64_t i64_value(element v, const char* name) {
  std::int64_t out = 0;
  if (!v.get_int64().get(out)) return out;
  std::string_view s;
  if (!v.get_string().get(s)) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size()) return out;
  }
  bad(std::string("field '") + name + "' is not an integer");
}

std::uint64_t u64_value(element v, const char* name) {
  std::uint64_t out = 0;
  if (!v.get_uint64().get(out)) return out;
  std::string_view s;
  if (!v.get_string().get(s)) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size()) return out;
  }
  bad(std::string("field '") + name + "' is not an unsigned integer");
}

std::int64_t i64(element obj, const char* name) {
  auto v = member_of(obj, name);
  return v ? i64_value(*v, name) : 0;
}

std::uint64_t u64(element obj, const char* name) {
  auto v = member_of(obj, name);
  return v ? u64_value(*v, name) : 0;
}

bool boolean(element obj, const char* name) {
  auto v = member_of(obj, name);
  if (!v) return false;
  bool out = false;
  if (v->get_bool().get(out)) bad(std::string("field '") + name + "' is not a boolean");
  return out;
}

std::string_view text_view_value(element v, const char* name) {
  std::string_view out;
  if (v.get_string().get(out)) bad(std::string("field '") + name + "' is not a string");
  return out;
}

std::string_view text_view(element obj, const char* name) {
  auto v = member_of(obj, name);
  return v ? text_view_value(*v, name) : std::string_view{};
}

std::string text(element obj, const char* name) {
  return std::string(text_view(obj, name));
}

std::string bytes_value(element v, const char* name) {
  auto decoded = base64_decode(text_view_value(v, name));
  if (!decoded) bad(std::string("field '") + name + "' is not base64");
  return std::move(*decoded);
}

// Calls f(key, value) for each non-null member of `obj`, in one pass (for the objects every
// answer carries, where a lookup per field would scan the members again each time).
template <class F>
void each_member(element obj, const char* what, F f) {
  dom::object o;
  if (obj.get_object().get(o)) bad(std::string(what) + " is not an object");
  for (auto field : o)
    if (!field.value.is_null()) f(field.key, field.value);
}

// An empty array / object for absent members: each a document of its own (its elements point
// into its parser), parsed once, read-only afterwards.
element empty_array() {
  static dom::parser p;
  static const element e = p.parse(std::string_view("[]")).value_unsafe();
  return e;
}
element empty_object() {
  static dom::parser p;
  static const element e = p.parse(std::string_view("{}")).value_unsafe();
  return e;
}

dom::array array(element obj, const char* name) {
  auto v = member_of(obj, name);
  dom::array out;
  if (!v) return empty_array().get_array().value_unsafe();
  if (v->get_array().get(out)) bad(std::string("field '") + name + "' is not an array");
  return out;
}

element object(element obj, const char* name) {
  auto v = member_of(obj, name);
  if (!v) return empty_object();
  if (!v->is_object()) bad(std::string("field '") + name + "' is not an object");
  return *v;
}

std::string text_of(element e) {
  std::string_view s;
  if (!e.get_string().get(s)) return std::string(s);
  return simdjson::minify(e);
}

response_header header_of(element j) {
  response_header h;
  each_member(object(j, "header"), "header", [&](std::string_view k, element v) {
    if (k == "revision")
      h.revision = i64_value(v, "revision");
    else if (k == "cluster_id")
      h.cluster_id = u64_value(v, "cluster_id");
    else if (k == "member_id")
      h.member_id = u64_value(v, "member_id");
    else if (k == "raft_term")
      h.raft_term = u64_value(v, "raft_term");
  });
  return h;
}

key_value kv_of(element j) {
  key_value kv;
  each_member(j, "a kv", [&](std::string_view k, element v) {
    if (k == "key")
      kv.key = bytes_value(v, "key");
    else if (k == "value")
      kv.value = bytes_value(v, "value");
    else if (k == "create_revision")
      kv.create_revision = i64_value(v, "create_revision");
    else if (k == "mod_revision")
      kv.mod_revision = i64_value(v, "mod_revision");
    else if (k == "version")
      kv.version = i64_value(v, "version");
    else if (k == "lease")
      kv.lease = i64_value(v, "lease");
  });
  return kv;
}

range_result range_of(element j) {
  range_result r;
  r.header = header_of(j);
  auto kvs = array(j, "kvs");
  r.kvs.reserve(kvs.size());
  for (element kv : kvs) r.kvs.push_back(kv_of(kv));
  r.more = boolean(j, "more");
  r.count = i64(j, "count");
  return r;
}

put_result put_of(element j) {
  put_result r;
  r.header = header_of(j);
  if (auto p = member_of(j, "prev_kv")) r.prev_kv = kv_of(*p);
  return r;
}

delete_result delete_of(element j) {
  delete_result r;
  r.header = header_of(j);
  r.deleted = i64(j, "deleted");
  for (element kv : array(j, "prev_kvs")) r.prev_kvs.push_back(kv_of(kv));
  return r;
}

// Parses `body` and runs `f` on its root object.
template <class F>
auto guarded(std::string_view body, F&& f) {
  constexpr std::size_t large = std::size_t(64) << 10;
  thread_local dom::parser shared;
  thread_local std::string padded;  // simdjson reads up to SIMDJSON_PADDING bytes past the end
  std::optional<dom::parser> own;
  dom::parser* parser = body.size() > large ? &own.emplace() : &shared;
  struct shrink {  // a huge answer's copy is not kept for the next one
    ~shrink() {
      if (padded.capacity() > large + simdjson::SIMDJSON_PADDING) std::string().swap(padded);
    }
  } shrink_after;
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(body.data(), body.size());
  element root;
  if (auto err = parser->parse(padded.data(), padded.size(), false).get(root))
    bad(std::string("not JSON (") + simdjson::error_message(err) +
        "): " + std::string(body.substr(0, 120)));
  if (!root.is_object()) bad("not a JSON object");
  return f(root);
}

}  // namespace

range_result decode_range(std::string_view body) {
  return guarded(body, [](element j) { return range_of(j); });
}

put_result decode_put(std::string_view body) {
  return guarded(body, [](element j) { return put_of(j); });
}

delete_result decode_delete(std::string_view body) {
  return guarded(body, [](element j) { return delete_of(j); });
}

txn_result decode_txn(std::string_view body) {
  return guarded(body, [](element j) {
    txn_result r;
    r.header = header_of(j);
    r.succeeded = boolean(j, "succeeded");
    for (element op : array(j, "responses")) {
      if (auto x = member_of(op, "response_range"))
        r.responses.emplace_back(range_of(*x));
      else if (auto y = member_of(op, "response_put"))
        r.responses.emplace_back(put_of(*y));
      else if (auto z = member_of(op, "response_delete_range"))
        r.responses.emplace_back(delete_of(*z));
      else
        bad("txn response of an unknown kind");
    }
    return r;
  });
}

compact_result decode_compact(std::string_view body) {
  return guarded(body, [](element j) { return compact_result{header_of(j)}; });
}

lease_grant_result decode_lease_grant(std::string_view body) {
  return guarded(body, [](element j) {
    auto err = text(j, "error");
    if (!err.empty()) throw coordination_error(error::server_error, err);
    return lease_grant_result{header_of(j), i64(j, "ID"), i64(j, "TTL")};
  });
}

lease_revoke_result decode_lease_revoke(std::string_view body) {
  return guarded(body, [](element j) { return lease_revoke_result{header_of(j)}; });
}

lease_keep_alive_result decode_lease_keep_alive(std::string_view body) {
  auto line = body.substr(0, body.find('\n'));
  return guarded(line, [](element j) {
    if (auto e = member_of(j, "error")) {
      std::string message = e->is_object() ? text(*e, "message") : text_of(*e);
      throw coordination_error(error::unavailable, "keep-alive: " + message);
    }
    element r = object(j, "result");
    lease_keep_alive_result out{header_of(r), i64(r, "ID"), i64(r, "TTL")};
    if (out.ttl <= 0)
      throw coordination_error(error::lease_not_found,
                               "lease " + std::to_string(out.id) + " not found or expired");
    return out;
  });
}

lease_time_to_live_result decode_lease_time_to_live(std::string_view body) {
  return guarded(body, [](element j) {
    lease_time_to_live_result r{
        header_of(j), i64(j, "ID"), i64(j, "TTL"), i64(j, "grantedTTL"), {}};
    for (element k : array(j, "keys")) {
      std::string_view key;
      if (k.get_string().get(key)) bad("a lease key is not a string");
      auto decoded = base64_decode(key);
      if (!decoded) bad("a lease key is not base64");
      r.keys.push_back(std::move(*decoded));
    }
    return r;
  });
}

std::vector<std::int64_t> decode_lease_leases(std::string_view body) {
  return guarded(body, [](element j) {
    std::vector<std::int64_t> ids;
    for (element l : array(j, "leases")) ids.push_back(i64(l, "ID"));
    return ids;
  });
}

status_result decode_status(std::string_view body) {
  return guarded(body, [](element j) {
    status_result r;
    r.header = header_of(j);
    r.version = text(j, "version");
    r.db_size = i64(j, "dbSize");
    r.leader = u64(j, "leader");
    r.raft_index = u64(j, "raftIndex");
    r.raft_term = u64(j, "raftTerm");
    return r;
  });
}

std::string decode_server_version(std::string_view body) {
  return guarded(body, [](element j) { return std::string(text(j, "etcdserver")); });
}

member_list_result decode_member_list(std::string_view body) {
  return guarded(body, [](element j) {
    member_list_result r;
    r.header = header_of(j);
    for (element m : array(j, "members")) {
      member out;
      out.id = u64(m, "ID");
      out.name = text(m, "name");
      std::string_view url;
      for (element u : array(m, "peerURLs"))
        if (!u.get_string().get(url)) out.peer_urls.emplace_back(url);
      for (element u : array(m, "clientURLs"))
        if (!u.get_string().get(url)) out.client_urls.emplace_back(url);
      out.is_learner = boolean(m, "isLearner");
      r.members.push_back(std::move(out));
    }
    return r;
  });
}

watch_message decode_watch_message(std::string_view body) {
  return guarded(body, [](element j) {
    watch_message m;
    if (auto e = member_of(j, "error")) {
      if (e->is_object()) {
        m.stream_error = text(*e, "message");
        // (3.4/3.5: grpc_code, next to http_code; 3.6: code)
        const char* code_key = member_of(*e, "grpc_code") ? "grpc_code" : "code";
        m.stream_error_code = static_cast<int>(i64(*e, code_key));
      } else {
        m.stream_error = text_of(*e);
      }
      return m;
    }
    auto r = member_of(j, "result");
    if (!r || !r->is_object()) bad("a watch message has neither result nor error");
    m.header = header_of(*r);
    m.watch_id = i64(*r, "watch_id");
    m.created = boolean(*r, "created");
    m.canceled = boolean(*r, "canceled");
    m.fragment = boolean(*r, "fragment");
    m.compact_revision = i64(*r, "compact_revision");
    m.cancel_reason = text(*r, "cancel_reason");
    for (element e : array(*r, "events")) {
      watch_event_wire ev;
      auto type = text_view(e, "type");
      if (type == "DELETE")
        ev.is_delete = true;
      else if (!type.empty() && type != "PUT")
        bad("unknown event type '" + std::string(type) + "'");
      ev.kv = kv_of(object(e, "kv"));
      if (auto p = member_of(e, "prev_kv")) ev.prev_kv = kv_of(*p);
      m.events.push_back(std::move(ev));
    }
    return m;
  });
}

}  // namespace coordination::detail
