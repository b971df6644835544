#include "coordination/config_center.hpp"
#include "client/access.hpp"

#include <cstdio>
#include <random>

#include <spdlog/spdlog.h>

#include "client/client_impl.hpp"
#include "protocol/text.hpp"
#include "recipes/config_center/guarded_write.hpp"

namespace coordination {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

std::string derived(const std::string& prefix, const char* what) {
  return prefix.substr(0, prefix.size() - 1) + what;
}

// What one read of a config key found: its value key and, when asked, meta and history.
struct snapshot {
  std::optional<key_value> value;
  json meta = json::object();
  std::int64_t meta_revision = 0;  // the meta key's mod revision (0: absent): every write's guard
  json history = json::array();
  std::int64_t revision = 0;
};

// A key's meta or history JSON; a key edited by hand into something else reads as empty (the
// next set rewrites it) instead of failing every later call.
json parse_json(const std::optional<key_value>& kv, json fallback, spdlog::logger& log) {
  if (!kv) return fallback;
  auto j = json::parse(kv->value, nullptr, false);
  if (j.is_discarded() || j.type() != fallback.type()) {
    log.warn("coordination: config key {} does not hold the expected JSON; ignoring it", kv->key);
    return fallback;
  }
  return j;
}

std::optional<key_value> first(const txn_op_result& r) {
  auto& range = std::get<range_result>(r);
  if (range.kvs.empty()) return std::nullopt;
  return range.kvs.front();
}

json history_entry(std::int64_t version, const std::string& value, config_time t) {
  json e{{"version", version}, {"time", to_unix_ms(t)}};
  if (detail::valid_utf8(value))
    e["value"] = value;
  else
    e["value_b64"] = detail::base64_encode(value);
  return e;
}

config_history_entry decode_entry(const json& e) {
  config_history_entry h;
  if (!e.is_object()) return h;
  h.version = e.value("version", std::int64_t{0});
  h.time = from_unix_ms(e.value("time", std::int64_t{0}));
  h.deleted = e.value("deleted", false);
  if (auto it = e.find("value"); it != e.end() && it->is_string())
    h.value = it->get<std::string>();
  else if (auto b = e.find("value_b64"); b != e.end() && b->is_string())
    h.value = detail::base64_decode(b->get<std::string>()).value_or("");
  return h;
}

void fill_meta(config_value& v, const json& meta) {
  v.create_time = from_unix_ms(meta.value("created", std::int64_t{0}));
  v.update_time = from_unix_ms(meta.value("updated", std::int64_t{0}));
  if (auto it = meta.find("metadata"); it != meta.end() && it->is_object())
    for (auto& [k, val] : it->items())
      if (val.is_string()) v.metadata[k] = val.get<std::string>();
}

// Tries a write this many times when other writers keep changing the key between our read and
// our transaction (each failure means another write succeeded).
constexpr int max_write_attempts = 64;

}  // namespace

void config_center_options::validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    throw coordination_error(error::invalid_argument, field + ": " + why);
  };
  if (prefix.empty()) bad("config.prefix", "must not be empty");
  if ((meta_prefix.empty() || (versioning && history_prefix.empty())) && prefix.back() != '/')
    bad("config.prefix", "must end with '/' when the meta and history prefixes are derived");
  auto meta = meta_prefix.empty() ? derived(prefix, ".meta/") : meta_prefix;
  auto hist = history_prefix.empty() ? derived(prefix, ".history/") : history_prefix;
  auto nested = [](const std::string& a, const std::string& b) {
    return a.compare(0, b.size(), b) == 0 || b.compare(0, a.size(), a) == 0;
  };
  if (nested(meta, prefix)) bad("config.meta_prefix", "must not overlap the config prefix");
  if (versioning && nested(hist, prefix))
    bad("config.history_prefix", "must not overlap the config prefix");
  if (versioning && nested(hist, meta))
    bad("config.history_prefix", "must not overlap the meta prefix");
  if (versioning && (max_version_history < 1 || max_version_history > 1000))
    bad("config.max_version_history", "must be between 1 and 1000");
}

config_center::config_center(client& c, config_center_options options)
    : client_(detail::access::share(c)), options_(std::move(options)) {
  options_.validate();
  if (options_.meta_prefix.empty()) options_.meta_prefix = derived(options_.prefix, ".meta/");
  if (options_.history_prefix.empty())
    options_.history_prefix = derived(options_.prefix, ".history/");
}

std::string config_center::value_key(const std::string& key) const {
  return options_.prefix + key;
}

namespace {

// The write of `key`'s history: `newest` first, then the old entries, max_version_history in all.
put_op history_put(const config_center_options& o, const std::string& key, json newest,
                   const json& old) {
  json h = json::array();
  h.push_back(std::move(newest));
  for (auto& e : old) {
    if (h.size() >= o.max_version_history) break;
    h.push_back(e);
  }
  return put_op{o.history_prefix + key, h.dump(), put_options{}};
}

// A random 64-bit id, in hex, naming one set() call in the value's metadata.
std::string new_write_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

asio::awaitable<snapshot> read_snapshot(client& c, const config_center_options& o,
                                        const std::string& key, bool with_history) {
  txn_request t;
  t.success.push_back(range_op{o.prefix + key, range_options()});
  t.success.push_back(range_op{o.meta_prefix + key, range_options()});
  if (with_history) t.success.push_back(range_op{o.history_prefix + key, range_options()});
  auto r = co_await c.txn(std::move(t));
  snapshot s;
  auto& log = *detail::impl_of(c).log;
  s.revision = r.header.revision;
  s.value = first(r.responses.at(0));
  auto meta_kv = first(r.responses.at(1));
  if (meta_kv) s.meta_revision = meta_kv->mod_revision;
  s.meta = parse_json(meta_kv, json::object(), log);
  if (with_history) s.history = parse_json(first(r.responses.at(2)), json::array(), log);
  co_return s;
}

// A write of `key` guarded by its meta key as `s` read it (see guarded_write.hpp).
detail::guarded_write guarded(const config_center_options& o, const std::string& key,
                              const snapshot& s, const std::string& write_id) {
  detail::guarded_write w;
  w.meta_key = o.meta_prefix + key;
  w.write_id = write_id;
  w.read_revision = s.revision;
  w.meta_revision = s.meta_revision;
  w.txn.compares.push_back(
      compare::mod_revision(w.meta_key, compare_result::equal, s.meta_revision));
  return w;
}

config_value to_value(const std::string& key, const key_value& kv, const json& meta) {
  config_value v;
  v.key = key;
  v.value = kv.value;
  v.version = kv.version;
  v.revision = kv.mod_revision;
  fill_meta(v, meta);
  return v;
}

}  // namespace

asio::awaitable<std::optional<config_value>> config_center::find(std::string key) {
  detail::check_key(key, "config key");
  auto s = co_await read_snapshot(client_, options_, key, false);
  if (!s.value) co_return std::nullopt;
  co_return to_value(key, *s.value, s.meta);
}

asio::awaitable<config_value> config_center::get(std::string key) {
  auto v = co_await find(key);
  if (!v) throw coordination_error(error::not_found, "config " + key + ": no value");
  co_return std::move(*v);
}

asio::awaitable<std::int64_t> config_center::version(std::string key) {
  detail::check_key(key, "config key");
  range_options o;
  o.keys_only = true;
  auto r = co_await client_.range(value_key(key), o);
  co_return r.kvs.empty() ? 0 : r.kvs.front().version;
}

asio::awaitable<config_value> config_center::refuse(std::string key, std::string why) {
  throw coordination_error(error::invalid_argument,
                           "config " + key + ": value does not serialise as JSON: " + why);
  co_return config_value{};
}

asio::awaitable<config_value> config_center::set(std::string key, std::string value,
                                                 std::int64_t expected_version) {
  config_set_options o;
  o.expected_version = expected_version;
  co_return co_await set(std::move(key), std::move(value), std::move(o));
}

asio::awaitable<config_value> config_center::set(std::string key, std::string value,
                                                 config_set_options options) {
  detail::check_key(key, "config key");
  if (options.expected_version && *options.expected_version < 0)
    throw coordination_error(error::invalid_argument, "expected_version: must not be negative");
  if (options_.validation && options_.validator) {
    if (auto why = options_.validator(key, value))
      throw coordination_error(error::invalid_argument, "config " + key + ": " + *why);
  }
  json new_metadata;
  if (options.metadata) {
    new_metadata = json::object();
    for (auto& [k, v] : *options.metadata) new_metadata[k] = v;
    detail::dump_json(new_metadata, "metadata");
  }
  detail::span_scope span(detail::impl_of(client_).tracer, "config.set");
  span.attr("key", key);
  try {
    // Names this write in the meta, so that a write whose answer was lost is told applied or
    // not (recipes/config_center/guarded_write.hpp) instead of coming back as a conflict or
    // being written twice.
    const std::string write_id = new_write_id();
    for (int attempt = 0; attempt < max_write_attempts; ++attempt) {
      auto s = co_await read_snapshot(client_, options_, key, options_.versioning);
      if (attempt > 0 && s.value && s.meta.value("write_id", std::string()) == write_id) {
        // A copy of ours that an earlier attempt saw refused was applied after all (possible
        // only when the value key is deleted around the config center): ours is the newest.
        config_value v = to_value(key, *s.value, s.meta);
        span.attr("version", std::to_string(v.version));
        span.ok();
        co_return v;
      }
      std::int64_t current = s.value ? s.value->version : 0;
      if (options.expected_version && *options.expected_version != current)
        throw coordination_error(error::conflict, "config " + key + ": expected version " +
                                                      std::to_string(*options.expected_version) +
                                                      ", found " + std::to_string(current));
      auto now = std::chrono::system_clock::now();
      json meta = s.value ? s.meta : json::object();
      if (!s.value || !meta.contains("created")) meta["created"] = to_unix_ms(now);
      meta["updated"] = to_unix_ms(now);
      if (options.metadata) meta["metadata"] = new_metadata;
      if (!meta.contains("metadata")) meta["metadata"] = json::object();
      meta["write_id"] = write_id;

      detail::guarded_write w = guarded(options_, key, s, write_id);
      txn_request& t = w.txn;
      if (s.value)
        t.compares.push_back(
            compare::mod_revision(value_key(key), compare_result::equal, s.value->mod_revision));
      else
        t.compares.push_back(compare::version(value_key(key), compare_result::equal, 0));
      t.success.push_back(put_op{value_key(key), value, put_options{}});
      t.success.push_back(
          put_op{options_.meta_prefix + key, detail::dump_json(meta, "metadata"), put_options{}});
      if (options_.versioning) {
        t.success.push_back(
            history_put(options_, key, history_entry(current + 1, value, now), s.history));
      }
      auto applied = co_await detail::send_guarded(client_, std::move(w));
      if (applied) {
        config_value v;
        v.key = key;
        v.value = std::move(value);
        v.version = current + 1;
        v.revision = *applied;
        fill_meta(v, meta);
        span.attr("version", std::to_string(v.version));
        span.ok();
        co_return v;
      }
    }
    throw coordination_error(error::conflict, "config " + key + ": changed by others " +
                                                  std::to_string(max_write_attempts) +
                                                  " times in a row while setting it");
  } catch (...) {
    span.fail(std::current_exception());
    throw;
  }
}

asio::awaitable<void> config_center::remove(std::string key,
                                            std::optional<std::int64_t> expected_version) {
  detail::check_key(key, "config key");
  detail::span_scope span(detail::impl_of(client_).tracer, "config.remove");
  span.attr("key", key);
  try {
    const std::string write_id = new_write_id();
    for (int attempt = 0; attempt < max_write_attempts; ++attempt) {
      auto s = co_await read_snapshot(client_, options_, key, options_.versioning);
      if (attempt > 0 && !s.value && s.meta.value("write_id", std::string()) == write_id) {
        span.ok();  // (as in set(): a copy of ours seen refused was applied after all)
        co_return;
      }
      if (!s.value) throw coordination_error(error::not_found, "config " + key + ": no value");
      if (expected_version && *expected_version != s.value->version)
        throw coordination_error(error::conflict, "config " + key + ": expected version " +
                                                      std::to_string(*expected_version) +
                                                      ", found " +
                                                      std::to_string(s.value->version));
      auto now = to_unix_ms(std::chrono::system_clock::now());
      detail::guarded_write w = guarded(options_, key, s, write_id);
      txn_request& t = w.txn;
      t.compares.push_back(
          compare::mod_revision(value_key(key), compare_result::equal, s.value->mod_revision));
      t.success.push_back(delete_op{value_key(key), delete_options()});
      // The meta stays, as a tombstone: the guard of the next write (a late copy of an old
      // create must not apply after a remove).
      json tombstone{{"deleted", true}, {"updated", now}, {"write_id", write_id}};
      t.success.push_back(put_op{options_.meta_prefix + key, tombstone.dump(), put_options{}});
      if (options_.versioning) {
        json marker{{"version", 0}, {"deleted", true}, {"time", now}};
        t.success.push_back(history_put(options_, key, std::move(marker), s.history));
      }
      if (co_await detail::send_guarded(client_, std::move(w))) {
        span.ok();
        co_return;
      }
    }
    throw coordination_error(error::conflict, "config " + key + ": changed by others " +
                                                  std::to_string(max_write_attempts) +
                                                  " times in a row while removing it");
  } catch (...) {
    span.fail(std::current_exception());
    throw;
  }
}

asio::awaitable<std::vector<config_value>> config_center::list(std::string prefix) {
  txn_request t;
  range_options all;
  all.range_end = prefix_range_end(options_.prefix + prefix);
  t.success.push_back(range_op{options_.prefix + prefix, all});
  range_options metas;
  metas.range_end = prefix_range_end(options_.meta_prefix + prefix);
  t.success.push_back(range_op{options_.meta_prefix + prefix, metas});
  auto r = co_await client_.txn(std::move(t));
  auto& values = std::get<range_result>(r.responses.at(0)).kvs;
  auto& meta_kvs = std::get<range_result>(r.responses.at(1)).kvs;
  std::map<std::string, const key_value*> meta_of;
  for (auto& kv : meta_kvs) meta_of[kv.key.substr(options_.meta_prefix.size())] = &kv;
  std::vector<config_value> out;
  out.reserve(values.size());
  for (auto& kv : values) {
    auto key = kv.key.substr(options_.prefix.size());
    json meta = json::object();
    if (auto it = meta_of.find(key); it != meta_of.end())
      meta = parse_json(*it->second, json::object(), *detail::impl_of(client_).log);
    out.push_back(to_value(key, kv, meta));
  }
  co_return out;
}

asio::awaitable<std::vector<config_history_entry>> config_center::history(std::string key,
                                                                          std::size_t limit) {
  detail::check_key(key, "config key");
  auto kv = co_await client_.get(options_.history_prefix + key);
  auto h = parse_json(kv, json::array(), *detail::impl_of(client_).log);
  std::vector<config_history_entry> out;
  for (auto& e : h) {
    if (limit && out.size() >= limit) break;
    out.push_back(decode_entry(e));
  }
  co_return out;
}

asio::awaitable<config_watch> config_center::watch(std::string key, config_watch_options options) {
  detail::check_key(key, "config key");
  watch_options o;
  o.prev_kv = true;
  auto s = co_await client_.watch(value_key(key), o);
  co_return config_watch(std::move(s), client_, options_.prefix.size(), options_.meta_prefix,
                         options);
}

asio::awaitable<config_watch> config_center::watch_prefix(std::string prefix,
                                                          config_watch_options options) {
  watch_options o;
  o.prev_kv = true;
  o.prefix = true;
  auto s = co_await client_.watch(options_.prefix + prefix, o);
  co_return config_watch(std::move(s), client_, options_.prefix.size(), options_.meta_prefix,
                         options);
}

// ---- config_watch --------------------------------------------------------------------------

config_watch::config_watch(watch_stream stream, client& c, std::size_t strip,
                           std::string meta_prefix, config_watch_options options)
    : stream_(std::move(stream)),
      client_(std::make_shared<client>(detail::access::share(c))),
      strip_(strip),
      meta_prefix_(std::move(meta_prefix)),
      options_(options) {}

asio::awaitable<config_change> config_watch::next() {
  while (pending_.empty()) {
    auto batch = co_await stream_.next();
    auto now = std::chrono::system_clock::now();
    for (auto& e : batch.events) {
      config_change c;
      c.key = e.kv.key.size() >= strip_ ? e.kv.key.substr(strip_) : e.kv.key;
      c.revision = e.kv.mod_revision;
      c.timestamp = now;
      if (e.prev_kv) c.old_value = to_value(c.key, *e.prev_kv, json::object());
      if (e.type == event_type::del) {
        c.type = config_change_type::del;
      } else {
        c.type = e.kv.version == 1 ? config_change_type::create : config_change_type::update;
        c.new_value = to_value(c.key, e.kv, json::object());
        c.version = e.kv.version;
      }
      pending_.push_back(std::move(c));
    }
    meta_unread_ = options_.with_meta && !pending_.empty();
  }
  if (meta_unread_) {
    co_await read_meta();  // (throws with pending_ kept: the next call reads again)
    meta_unread_ = false;
  }
  auto c = std::move(pending_.front());
  pending_.pop_front();
  co_return c;
}

// The meta of the pending changes' values, as it was at their revisions: the new value's at the
// change's revision (set() writes value and meta in one txn), the old value's just before it.
// One read-only txn per 128 ranges (etcd's default --max-txn-ops).
asio::awaitable<void> config_watch::read_meta() {
  std::vector<std::pair<config_value*, std::int64_t>> wanted;  // (value, revision of its meta)
  for (auto& c : pending_) {
    if (c.new_value) wanted.emplace_back(&*c.new_value, c.revision);
    if (c.old_value) wanted.emplace_back(&*c.old_value, c.revision - 1);
  }
  auto& log = *detail::impl_of(*client_).log;
  constexpr std::size_t max_ops = 128;
  for (std::size_t from = 0; from < wanted.size(); from += max_ops) {
    const auto to = std::min(wanted.size(), from + max_ops);
    // Serializable first: a past revision reads the same on every member, and a txn of
    // serializable ranges is answered without a round of raft. A member behind the watch's
    // (answering "future revision") is asked again, linearizably.
    auto request = [&](bool serializable) {
      txn_request t;
      t.idempotent = true;  // reads only
      for (auto i = from; i < to; ++i) {
        range_options o;
        o.revision = wanted[i].second;
        o.serializable = serializable;
        t.success.push_back(range_op{meta_prefix_ + wanted[i].first->key, o});
      }
      return t;
    };
    txn_result r;
    bool compacted = false, behind = false;
    try {
      r = co_await client_->txn(request(true));
    } catch (const coordination_error& e) {
      behind = e.code() == error::invalid_argument &&
               std::string_view(e.what()).find("future revision") != std::string_view::npos;
      compacted = e.code() == error::compacted;
      if (!behind && !compacted) throw;
    }
    if (behind) {
      try {
        r = co_await client_->txn(request(false));
      } catch (const coordination_error& e) {
        if (e.code() != error::compacted) throw;
        compacted = true;
      }
    }
    if (!compacted) {
      for (auto i = from; i < to; ++i) {
        auto& v = *wanted[i].first;
        v.metadata.clear();
        fill_meta(v, parse_json(first(r.responses.at(i - from)), json::object(), log));
      }
      continue;
    }
    // Some revision is compacted (the watcher is far behind): read each meta on its own, and
    // deliver the compacted ones without theirs.
    for (auto i = from; i < to; ++i) {
      auto& v = *wanted[i].first;
      range_options o;
      o.revision = wanted[i].second;
      range_result one;
      bool gone = false;
      try {
        one = co_await client_->range(meta_prefix_ + v.key, o);
      } catch (const coordination_error& e) {
        if (e.code() != error::compacted) throw;
        gone = true;
      }
      v.metadata.clear();
      if (gone) {
        log.debug("coordination: config watch: the meta of {} at {} is compacted away", v.key,
                  o.revision);
        continue;
      }
      std::optional<key_value> kv;
      if (!one.kvs.empty()) kv = std::move(one.kvs.front());
      fill_meta(v, parse_json(kv, json::object(), log));
    }
  }
}

}  // namespace coordination
