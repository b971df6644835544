// The request bodies of the gateway's JSON API (the encode_* half of protocol/codec.hpp).
#include "protocol/codec.hpp"

#include <string>
#include <string_view>

#include "protocol/base64.hpp"

namespace coordination::detail {

namespace {

// ---- encoding ------------------------------------------------------------------------------

class writer {
 public:
  writer() {
    out_.reserve(128);
    out_.push_back('{');
  }
  writer& bytes(std::string_view name, std::string_view value) {
    field(name);
    out_.push_back('"');
    base64_encode_append(value, out_);
    out_.push_back('"');
    return *this;
  }
  writer& number(std::string_view name, std::int64_t v) {
    field(name);
    out_.append(std::to_string(v));
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
  std::string done() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void field(std::string_view name) {
    if (out_.size() > 1) out_.push_back(',');
    out_.push_back('"');
    out_.append(name);
    out_.append("\":");
  }
  std::string out_;
};

std::string end_of(std::string_view key, const std::string& range_end, bool prefix) {
  return prefix ? prefix_range_end(key) : range_end;
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

std::string op_body(const txn_op& op) {
  writer w;
  if (auto* r = std::get_if<range_op>(&op)) {
    w.raw("request_range", encode_range(r->key, r->options));
  } else if (auto* p = std::get_if<put_op>(&op)) {
    w.raw("request_put", encode_put(p->key, p->value, p->options));
  } else {
    auto& d = std::get<delete_op>(op);
    w.raw("request_delete_range", encode_delete(d.key, d.options));
  }
  return w.done();
}

std::string compare_body(const compare& c) {
  static constexpr const char* targets[] = {"\"VERSION\"", "\"CREATE\"", "\"MOD\"", "\"VALUE\"",
                                            "\"LEASE\""};
  static constexpr const char* results[] = {"\"EQUAL\"", "\"GREATER\"", "\"LESS\"",
                                            "\"NOT_EQUAL\""};
  writer w;
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
  return w.done();
}

template <class T, class F>
std::string array_of(const std::vector<T>& items, F&& one) {
  std::string out = "[";
  for (auto& item : items) {
    if (out.size() > 1) out.push_back(',');
    out.append(one(item));
  }
  out.push_back(']');
  return out;
}

// etcd's "every key" is key = range_end = "\0".
std::string_view key_of(std::string_view key, bool prefix) {
  static constexpr char zero[1] = {'\0'};
  return prefix && key.empty() ? std::string_view(zero, 1) : key;
}

}  // namespace

std::string encode_range(std::string_view key, const range_options& o) {
  writer w;
  w.bytes("key", key_of(key, o.prefix));
  auto end = end_of(key, o.range_end, o.prefix);
  if (!end.empty()) w.bytes("range_end", end);
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
  return w.done();
}

std::string encode_put(std::string_view key, std::string_view value, const put_options& o) {
  writer w;
  w.bytes("key", key);
  if (!o.ignore_value) w.bytes("value", value);
  if (o.lease) w.number("lease", o.lease);
  w.flag("prev_kv", o.prev_kv).flag("ignore_value", o.ignore_value);
  w.flag("ignore_lease", o.ignore_lease);
  return w.done();
}

std::string encode_delete(std::string_view key, const delete_options& o) {
  writer w;
  w.bytes("key", key_of(key, o.prefix));
  auto end = end_of(key, o.range_end, o.prefix);
  if (!end.empty()) w.bytes("range_end", end);
  w.flag("prev_kv", o.prev_kv);
  return w.done();
}

std::string encode_txn(const txn_request& t) {
  writer w;
  w.raw("compare", array_of(t.compares, compare_body));
  w.raw("success", array_of(t.success, op_body));
  w.raw("failure", array_of(t.failure, op_body));
  return w.done();
}

std::string encode_compact(std::int64_t revision, bool physical) {
  return writer().number("revision", revision).flag("physical", physical).done();
}

std::string encode_lease_grant(std::int64_t ttl, std::int64_t id) {
  writer w;
  w.number("TTL", ttl);
  if (id) w.number("ID", id);
  return w.done();
}

std::string encode_lease_id(std::int64_t id) {
  return writer().number("ID", id).done();
}

std::string encode_lease_time_to_live(std::int64_t id, bool keys) {
  return writer().number("ID", id).flag("keys", keys).done();
}

std::string encode_watch_create(const watch_create& w) {
  writer c;
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
  return writer().raw("create_request", c.done()).done();
}

std::string encode_watch_cancel(std::int64_t watch_id) {
  return writer().raw("cancel_request", writer().number("watch_id", watch_id).done()).done();
}

}  // namespace coordination::detail
