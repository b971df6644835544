// The request bodies of the gateway's JSON API (the encode_* half of protocol/codec.hpp).
#include "protocol/codec.hpp"

#include <charconv>
#include <string>
#include <string_view>

#include "protocol/base64.hpp"

namespace coordination::detail {

namespace {

// ---- encoding ------------------------------------------------------------------------------
// Every body is written into one string, nested objects and arrays in place: a txn of five
// operations used to build each operation and each sub-object as a string of its own and copy
// it into its parent (about 15 allocations and 14k instructions for the lock's create).

// One JSON object being written at the end of `out`; close() ends it.
class writer {
 public:
  explicit writer(std::string& out) : out_(out) { out_.push_back('{'); }
  writer& bytes(std::string_view name, std::string_view value) {
    field(name);
    out_.push_back('"');
    base64_encode_append(value, out_);
    out_.push_back('"');
    return *this;
  }
  writer& number(std::string_view name, std::int64_t v) {
    field(name);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;  // (24 characters hold any int64)
    out_.append(buf, end);
    return *this;
  }
  writer& flag(std::string_view name, bool v) {
    if (v) {
      field(name);
      out_.append("true");
    }
    return *this;
  }
  writer& raw(std::string_view name, std::string_view json_text) {
    field(name);
    out_.append(json_text);
    return *this;
  }
  // Starts the member `name`; the caller writes its value at the end of out() next.
  std::string& member(std::string_view name) {
    field(name);
    return out_;
  }
  void close() { out_.push_back('}'); }

 private:
  void field(std::string_view name) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    out_.append(name);
    out_.append("\":");
  }
  std::string& out_;
  bool first_ = true;
};

// A body of its own: its size guessed from the bytes it will carry, base64 grown by 4/3.
std::string body_for(std::size_t payload_bytes) {
  std::string out;
  out.reserve(96 + payload_bytes / 3 * 4 + payload_bytes / 8);
  return out;
}

const char* sort_order_name(sort_order o) {
  switch (o) {
    case sort_order::ascend:
      return "\"ASCEND\"";
    case sort_order::descend:
      return "\"DESCEND\"";
    default:
      return "\"NONE\"";
  }
}
const char* sort_target_name(sort_target t) {
  switch (t) {
    case sort_target::version:
      return "\"VERSION\"";
    case sort_target::create:
      return "\"CREATE\"";
    case sort_target::mod:
      return "\"MOD\"";
    case sort_target::value:
      return "\"VALUE\"";
    default:
      return "\"KEY\"";
  }
}

// etcd's "every key" is key = range_end = "\0".
std::string_view key_of(std::string_view key, bool prefix) {
  static constexpr char zero[1] = {'\0'};
  return prefix && key.empty() ? std::string_view(zero, 1) : key;
}

// "key" and, when there is one, "range_end" (a prefix's computed, else the one given).
void key_and_end(writer& w, std::string_view key, const std::string& range_end, bool prefix) {
  w.bytes("key", key_of(key, prefix));
  if (prefix) {
    auto end = prefix_range_end(key);
    if (!end.empty()) w.bytes("range_end", end);
  } else if (!range_end.empty()) {
    w.bytes("range_end", range_end);
  }
}

void append_range(std::string& out, std::string_view key, const range_options& o) {
  writer w(out);
  key_and_end(w, key, o.range_end, o.prefix);
  if (o.limit) w.number("limit", o.limit);
  if (o.revision) w.number("revision", o.revision);
  if (o.order != sort_order::none) {
    w.raw("sort_order", sort_order_name(o.order));
    w.raw("sort_target", sort_target_name(o.target));
  }
  w.flag("serializable", o.serializable).flag("keys_only", o.keys_only);
  w.flag("count_only", o.count_only);
  if (o.min_mod_revision) w.number("min_mod_revision", o.min_mod_revision);
  if (o.max_mod_revision) w.number("max_mod_revision", o.max_mod_revision);
  if (o.min_create_revision) w.number("min_create_revision", o.min_create_revision);
  if (o.max_create_revision) w.number("max_create_revision", o.max_create_revision);
  w.close();
}

void append_put(std::string& out, std::string_view key, std::string_view value,
                const put_options& o) {
  writer w(out);
  w.bytes("key", key);
  if (!o.ignore_value) w.bytes("value", value);
  if (o.lease) w.number("lease", o.lease);
  w.flag("prev_kv", o.prev_kv).flag("ignore_value", o.ignore_value);
  w.flag("ignore_lease", o.ignore_lease);
  w.close();
}

void append_delete(std::string& out, std::string_view key, const delete_options& o) {
  writer w(out);
  key_and_end(w, key, o.range_end, o.prefix);
  w.flag("prev_kv", o.prev_kv);
  w.close();
}

void append_op(std::string& out, const txn_op& op) {
  writer w(out);
  if (auto* r = std::get_if<range_op>(&op)) {
    append_range(w.member("request_range"), r->key, r->options);
  } else if (auto* p = std::get_if<put_op>(&op)) {
    append_put(w.member("request_put"), p->key, p->value, p->options);
  } else {
    auto& d = std::get<delete_op>(op);
    append_delete(w.member("request_delete_range"), d.key, d.options);
  }
  w.close();
}

void append_compare(std::string& out, const compare& c) {
  static constexpr const char* targets[] = {"\"VERSION\"", "\"CREATE\"", "\"MOD\"", "\"VALUE\"",
                                            "\"LEASE\""};
  static constexpr const char* results[] = {"\"EQUAL\"", "\"GREATER\"", "\"LESS\"",
                                            "\"NOT_EQUAL\""};
  writer w(out);
  w.bytes("key", c.key);
  if (!c.range_end.empty()) w.bytes("range_end", c.range_end);
  w.raw("target", targets[static_cast<int>(c.target)]);
  w.raw("result", results[static_cast<int>(c.result)]);
  switch (c.target) {
    case compare_target::version:
      w.number("version", c.number);
      break;
    case compare_target::create:
      w.number("create_revision", c.number);
      break;
    case compare_target::mod:
      w.number("mod_revision", c.number);
      break;
    case compare_target::value:
      w.bytes("value", c.value);
      break;
    case compare_target::lease:
      w.number("lease", c.number);
      break;
  }
  w.close();
}

template <class T, class F>
void append_array(std::string& out, const std::vector<T>& items, F&& one) {
  out.push_back('[');
  bool first = true;
  for (auto& item : items) {
    if (!first) out.push_back(',');
    first = false;
    one(out, item);
  }
  out.push_back(']');
}

std::size_t payload_of(const txn_op& op) {
  if (auto* r = std::get_if<range_op>(&op)) return 2 * r->key.size() + r->options.range_end.size();
  if (auto* p = std::get_if<put_op>(&op)) return p->key.size() + p->value.size();
  auto& d = std::get<delete_op>(op);
  return 2 * d.key.size() + d.options.range_end.size();
}

}  // namespace

std::string encode_range(std::string_view key, const range_options& o) {
  auto out = body_for(2 * key.size() + o.range_end.size());
  append_range(out, key, o);
  return out;
}

std::string encode_put(std::string_view key, std::string_view value, const put_options& o) {
  auto out = body_for(key.size() + value.size());
  append_put(out, key, value, o);
  return out;
}

std::string encode_delete(std::string_view key, const delete_options& o) {
  auto out = body_for(2 * key.size() + o.range_end.size());
  append_delete(out, key, o);
  return out;
}

std::string encode_txn(const txn_request& t) {
  std::size_t payload = 0;
  for (auto& c : t.compares) payload += c.key.size() + c.range_end.size() + c.value.size();
  for (auto* ops : {&t.success, &t.failure})
    for (auto& op : *ops) payload += payload_of(op);
  auto out = body_for(payload + 96 * (t.compares.size() + t.success.size() + t.failure.size()));
  writer w(out);
  append_array(w.member("compare"), t.compares, append_compare);
  append_array(w.member("success"), t.success, append_op);
  append_array(w.member("failure"), t.failure, append_op);
  w.close();
  return out;
}

std::string encode_compact(std::int64_t revision, bool physical) {
  auto out = body_for(0);
  writer(out).number("revision", revision).flag("physical", physical).close();
  return out;
}

std::string encode_lease_grant(std::int64_t ttl, std::int64_t id) {
  auto out = body_for(0);
  writer w(out);
  w.number("TTL", ttl);
  if (id) w.number("ID", id);
  w.close();
  return out;
}

std::string encode_lease_id(std::int64_t id) {
  auto out = body_for(0);
  writer(out).number("ID", id).close();
  return out;
}

std::string encode_lease_time_to_live(std::int64_t id, bool keys) {
  auto out = body_for(0);
  writer(out).number("ID", id).flag("keys", keys).close();
  return out;
}

std::string encode_watch_create(const watch_create& w) {
  auto out = body_for(w.key.size() + w.range_end.size());
  writer outer(out);
  writer c(outer.member("create_request"));
  c.bytes("key", w.key);
  if (!w.range_end.empty()) c.bytes("range_end", w.range_end);
  if (w.start_revision) c.number("start_revision", w.start_revision);
  c.flag("progress_notify", w.progress_notify).flag("prev_kv", w.prev_kv);
  if (w.filter_put || w.filter_delete) {
    std::string filters = "[";
    if (w.filter_put) filters += "\"NOPUT\"";
    if (w.filter_delete) filters += std::string(w.filter_put ? "," : "") + "\"NODELETE\"";
    filters += "]";
    c.raw("filters", filters);
  }
  c.number("watch_id", w.watch_id);
  c.flag("fragment", w.fragment);
  c.close();
  outer.close();
  return out;
}

std::string encode_watch_cancel(std::int64_t watch_id) {
  auto out = body_for(0);
  writer outer(out);
  writer(outer.member("cancel_request")).number("watch_id", watch_id).close();
  outer.close();
  return out;
}

}  // namespace coordination::detail
