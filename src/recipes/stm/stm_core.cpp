#include "recipes/stm/stm_core.hpp"

#include <algorithm>
#include <limits>

namespace coordination::detail {

std::optional<std::optional<std::string>> stm_core::cached(const std::string& key) {
  if (auto w = writes_.find(key); w != writes_.end()) {
    if (w->second.is_delete) return std::optional<std::string>();
    return std::optional<std::string>(w->second.value);
  }
  if (auto p = prefetch_.find(key); p != prefetch_.end() && !reads_.count(key)) {
    bool first = reads_.empty();
    auto node = prefetch_.extract(p);
    auto& r = reads_.insert(std::move(node)).position->second;
    if (first && serializable_level()) snapshot_ = r.revision;
  }
  if (auto r = reads_.find(key); r != reads_.end()) {
    if (!r->second.kv) return std::optional<std::string>();
    return std::optional<std::string>(r->second.kv->value);
  }
  return std::nullopt;
}

range_options stm_core::fetch_options() const {
  range_options o;
  if (serializable_level()) {
    if (snapshot_ != 0) {
      o.revision = snapshot_;
      o.serializable = true;
    }
  } else {
    o.serializable = true;
  }
  return o;
}

std::optional<std::string> stm_core::fetched(const std::string& key, const range_result& r) {
  bool first = reads_.empty();
  read entry;
  if (!r.kvs.empty()) entry.kv = r.kvs.front();
  entry.revision = r.header.revision;
  if (first && serializable_level()) snapshot_ = entry.revision;
  auto& stored = reads_[key] = std::move(entry);
  if (!stored.kv) return std::nullopt;
  return stored.kv->value;
}

std::int64_t stm_core::read_revision(const std::string& key) const {
  auto r = reads_.find(key);
  return r == reads_.end() || !r->second.kv ? 0 : r->second.kv->mod_revision;
}

void stm_core::put(std::string key, std::string value, put_options o) {
  writes_[std::move(key)] = write{false, std::move(value), o};
}

void stm_core::del(std::string key) {
  writes_[std::move(key)] = write{true, {}, {}};
}

txn_request stm_core::commit_txn() const {
  txn_request t;
  if (iso_ != stm_isolation::read_committed) {
    for (auto& [key, r] : reads_)
      t.compares.push_back(
          compare::mod_revision(key, compare_result::equal, r.kv ? r.kv->mod_revision : 0));
  }
  if (iso_ == stm_isolation::serializable_snapshot) {
    // Go's wset.cmps(rset.first() + 1): nothing written may have changed since the first read.
    std::int64_t first = std::numeric_limits<std::int64_t>::max() - 1;
    for (auto& [key, r] : reads_) first = std::min(first, r.revision);
    for (auto& [key, w] : writes_)
      t.compares.push_back(compare::mod_revision(key, compare_result::less, first + 1));
  }
  for (auto& [key, w] : writes_) {
    if (w.is_delete) {
      delete_op d;
      d.key = key;
      t.success.emplace_back(std::move(d));
    } else {
      put_op p;
      p.key = key;
      p.value = w.value;
      p.options = w.options;
      t.success.emplace_back(std::move(p));
    }
  }
  if (serializable_level()) {
    for (auto& [key, r] : reads_) {
      range_op g;
      g.key = key;
      t.failure.emplace_back(std::move(g));
    }
  }
  return t;
}

bool stm_core::committed(const txn_result& r) {
  if (r.succeeded) return true;
  std::map<std::string, read> next;
  if (serializable_level()) {
    std::size_t i = 0;
    for (auto& [key, old] : reads_) {
      if (i >= r.responses.size()) break;
      auto* range = std::get_if<range_result>(&r.responses[i++]);
      if (!range) continue;
      read fresh;
      if (!range->kvs.empty()) fresh.kv = range->kvs.front();
      fresh.revision = r.header.revision;
      next.emplace(key, std::move(fresh));
    }
  }
  reset();
  prefetch_ = std::move(next);
  return false;
}

void stm_core::reset() {
  reads_.clear();
  writes_.clear();
  prefetch_.clear();
  snapshot_ = 0;
}

std::chrono::milliseconds stm_backoff(int attempt, const stm_options& o, double random01) {
  if (attempt <= 1) return std::chrono::milliseconds(0);
  auto cap = o.backoff_base.count();
  for (int i = 1; i < attempt && cap < o.backoff_max.count(); ++i) cap *= 2;
  cap = std::min<std::int64_t>(cap, o.backoff_max.count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(cap) * random01));
}

}  // namespace coordination::detail
