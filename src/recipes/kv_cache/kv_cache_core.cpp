#include "recipes/kv_cache/kv_cache_core.hpp"

#include <algorithm>

namespace coordination {

namespace {
const std::shared_ptr<const detail::kv_root>& empty_root() {
  static const auto root = std::make_shared<const detail::kv_root>();
  return root;
}
// The index of the chunk whose key range holds `key`: the last one whose first key is at or
// before it (0 when it is before every chunk).
std::size_t chunk_index(const detail::kv_root& r, std::string_view key) {
  auto it =
      std::upper_bound(r.chunks.begin(), r.chunks.end(), key,
                       [](std::string_view k, const auto& c) { return k < c->kvs.front().key; });
  return it == r.chunks.begin() ? 0 : static_cast<std::size_t>(it - r.chunks.begin()) - 1;
}
auto key_less = [](const key_value& kv, std::string_view k) { return kv.key < k; };
}  // namespace

kv_snapshot::kv_snapshot() : root_(empty_root()) {}
kv_snapshot::kv_snapshot(std::shared_ptr<const detail::kv_root> root, std::int64_t revision)
    : root_(root ? std::move(root) : empty_root()), revision_(revision) {}

const key_value* kv_snapshot::find(std::string_view key) const {
  if (root_->chunks.empty()) return nullptr;
  auto& kvs = root_->chunks[chunk_index(*root_, key)]->kvs;
  auto it = std::lower_bound(kvs.begin(), kvs.end(), key, key_less);
  return it != kvs.end() && it->key == key ? &*it : nullptr;
}

kv_snapshot::iterator kv_snapshot::lower_bound(std::string_view key) const {
  if (root_->chunks.empty()) return end();
  std::size_t c = chunk_index(*root_, key);
  auto& kvs = root_->chunks[c]->kvs;
  auto pos = static_cast<std::size_t>(std::lower_bound(kvs.begin(), kvs.end(), key, key_less) -
                                      kvs.begin());
  if (pos == kvs.size()) return {root_.get(), c + 1, 0};
  return {root_.get(), c, pos};
}

}  // namespace coordination

namespace coordination::detail {

// ---- kv_editor ---------------------------------------------------------------------------

kv_editor::kv_editor(const std::shared_ptr<const kv_root>& base)
    : root_(std::make_shared<kv_root>(base ? *base : kv_root{})),
      owned_(root_->chunks.size(), false) {}

std::size_t kv_editor::chunk_for(std::string_view key) const {
  return chunk_index(*root_, key);
}

kv_chunk& kv_editor::writable(std::size_t i) {
  if (!owned_[i]) {
    root_->chunks[i] = std::make_shared<kv_chunk>(*root_->chunks[i]);
    owned_[i] = true;
  }
  // Made non-const by this editor (make_shared<kv_chunk> above, or in put()), and not yet
  // visible to any snapshot: writing it is safe.
  return const_cast<kv_chunk&>(*root_->chunks[i]);
}

const key_value* kv_editor::find(std::string_view key) const {
  return kv_snapshot_access::make(root_, 0).find(key);
}

std::optional<key_value> kv_editor::put(key_value kv) {
  if (root_->chunks.empty()) {
    auto c = std::make_shared<kv_chunk>();
    c->kvs.push_back(std::move(kv));
    root_->chunks.push_back(std::move(c));
    owned_.push_back(true);
    root_->size = 1;
    return std::nullopt;
  }
  std::size_t i = chunk_for(kv.key);
  auto& kvs = writable(i).kvs;
  auto it = std::lower_bound(kvs.begin(), kvs.end(), kv.key, key_less);
  if (it != kvs.end() && it->key == kv.key) {
    std::optional<key_value> old = std::move(*it);
    *it = std::move(kv);
    return old;
  }
  kvs.insert(it, std::move(kv));
  ++root_->size;
  if (kvs.size() > kv_chunk_max) {  // split in two halves
    auto upper = std::make_shared<kv_chunk>();
    auto half = kvs.begin() + static_cast<std::ptrdiff_t>(kvs.size() / 2);
    upper->kvs.assign(std::make_move_iterator(half), std::make_move_iterator(kvs.end()));
    kvs.erase(half, kvs.end());
    root_->chunks.insert(root_->chunks.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                         std::move(upper));
    owned_.insert(owned_.begin() + static_cast<std::ptrdiff_t>(i) + 1, true);
  }
  return std::nullopt;
}

std::optional<key_value> kv_editor::erase(std::string_view key) {
  if (root_->chunks.empty()) return std::nullopt;
  std::size_t i = chunk_for(key);
  {
    auto& shared = root_->chunks[i]->kvs;  // look before copying the chunk
    auto it = std::lower_bound(shared.begin(), shared.end(), key, key_less);
    if (it == shared.end() || it->key != key) return std::nullopt;
  }
  auto& kvs = writable(i).kvs;
  auto it = std::lower_bound(kvs.begin(), kvs.end(), key, key_less);
  std::optional<key_value> old = std::move(*it);
  kvs.erase(it);
  --root_->size;
  if (kvs.empty()) {
    root_->chunks.erase(root_->chunks.begin() + static_cast<std::ptrdiff_t>(i));
    owned_.erase(owned_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return old;
}

std::shared_ptr<const kv_root> kv_editor::commit() {
  owned_.clear();
  return std::move(root_);
}

std::shared_ptr<const kv_root> build_root(std::vector<key_value> kvs) {
  auto r = std::make_shared<kv_root>();
  constexpr std::size_t per_chunk = kv_chunk_max * 3 / 4;
  r->size = kvs.size();
  for (std::size_t at = 0; at < kvs.size(); at += per_chunk) {
    auto c = std::make_shared<kv_chunk>();
    auto end = std::min(kvs.size(), at + per_chunk);
    c->kvs.assign(std::make_move_iterator(kvs.begin() + static_cast<std::ptrdiff_t>(at)),
                  std::make_move_iterator(kvs.begin() + static_cast<std::ptrdiff_t>(end)));
    r->chunks.push_back(std::move(c));
  }
  return r;
}

// ---- diff --------------------------------------------------------------------------------

std::vector<kv_change> diff_snapshots(const kv_snapshot& from, const kv_snapshot& to,
                                      std::int64_t revision) {
  std::vector<kv_change> out;
  const auto& a = kv_snapshot_access::root(from)->chunks;
  const auto& b = kv_snapshot_access::root(to)->chunks;
  std::size_t ca = 0, pa = 0, cb = 0, pb = 0;
  auto advance = [](const auto& chunks, std::size_t& c, std::size_t& p) {
    if (++p == chunks[c]->kvs.size()) {
      ++c;
      p = 0;
    }
  };
  while (ca < a.size() || cb < b.size()) {
    if (ca < a.size() && cb < b.size() && pa == 0 && pb == 0 && a[ca] == b[cb]) {
      ++ca;  // a chunk both share: nothing in it changed
      ++cb;
      continue;
    }
    const key_value* x = ca < a.size() ? &a[ca]->kvs[pa] : nullptr;
    const key_value* y = cb < b.size() ? &b[cb]->kvs[pb] : nullptr;
    if (x && (!y || x->key < y->key)) {  // gone
      kv_change ch;
      ch.type = event_type::del;
      ch.kv.key = x->key;
      ch.kv.mod_revision = revision;
      ch.prev = *x;
      out.push_back(std::move(ch));
      advance(a, ca, pa);
    } else if (!x || y->key < x->key) {  // new
      out.push_back(kv_change{event_type::put, *y, std::nullopt});
      advance(b, cb, pb);
    } else {  // in both
      if (x->mod_revision != y->mod_revision || x->create_revision != y->create_revision)
        out.push_back(kv_change{event_type::put, *y, *x});
      advance(a, ca, pa);
      advance(b, cb, pb);
    }
  }
  return out;
}

// ---- kv_cache_core -----------------------------------------------------------------------

std::vector<kv_change> kv_cache_core::reset(std::vector<key_value> kvs, std::int64_t revision) {
  auto next = kv_snapshot_access::make(build_root(std::move(kvs)), revision);
  auto changes = diff_snapshots(snap_, next, revision);
  snap_ = std::move(next);
  return changes;
}

std::vector<kv_change> kv_cache_core::apply(const watch_batch& b) {
  std::vector<kv_change> changes;
  std::int64_t rev = revision();
  if (b.events.empty()) {
    if (b.revision > rev)
      snap_ = kv_snapshot_access::make(kv_snapshot_access::root(snap_), b.revision);
    return changes;
  }
  kv_editor edit(kv_snapshot_access::root(snap_));
  for (const auto& e : b.events) {
    if (e.kv.mod_revision <= revision()) continue;  // covered by a confirmation or re-read
    rev = std::max(rev, e.kv.mod_revision);
    kv_change ch;
    ch.type = e.type;
    if (e.type == event_type::del) {
      ch.prev = edit.erase(e.kv.key);
      if (!ch.prev) continue;  // not held: nothing changes
      ch.kv.key = e.kv.key;
      ch.kv.mod_revision = e.kv.mod_revision;
    } else {
      ch.kv = e.kv;
      ch.prev = edit.put(e.kv);
    }
    changes.push_back(std::move(ch));
  }
  snap_ = kv_snapshot_access::make(
      changes.empty() ? kv_snapshot_access::root(snap_) : edit.commit(), rev);
  return changes;
}

void kv_cache_core::confirm(std::int64_t revision) {
  if (revision > snap_.revision())
    snap_ = kv_snapshot_access::make(kv_snapshot_access::root(snap_), revision);
}

// ---- confirmation ------------------------------------------------------------------------

txn_request confirm_txn(const std::string& key, const std::string& range_end,
                        std::int64_t revision) {
  txn_request t;
  range_op newer;
  newer.key = key;
  newer.options.range_end = range_end;
  newer.options.min_mod_revision = revision + 1;
  newer.options.keys_only = true;
  newer.options.limit = 1;
  t.success.emplace_back(std::move(newer));
  range_op count;
  count.key = key;
  count.options.range_end = range_end;
  count.options.count_only = true;
  t.success.emplace_back(std::move(count));
  return t;
}

std::optional<std::int64_t> read_confirmation(const txn_result& r, std::size_t size) {
  if (!r.succeeded || r.responses.size() != 2) return std::nullopt;
  auto* newer = std::get_if<range_result>(&r.responses[0]);
  auto* count = std::get_if<range_result>(&r.responses[1]);
  if (!newer || !count || !newer->kvs.empty()) return std::nullopt;
  if (count->count != static_cast<std::int64_t>(size)) return std::nullopt;
  return r.header.revision;
}

// ---- kv_update_queue ---------------------------------------------------------------------

void kv_update_queue::push(kv_cache_update u) {
  newest_ = u.snapshot;
  if (overflowed_) return;
  queue_.push_back(std::move(u));
  if (queue_.size() > max_) {
    queue_.clear();
    overflowed_ = true;
  }
}

kv_cache_update kv_update_queue::take() {
  kv_cache_update u;
  if (overflowed_) {
    overflowed_ = false;
    u.revision = newest_.revision();
    u.changes = diff_snapshots(delivered_, newest_, u.revision);
    u.snapshot = newest_;
    u.resynced = true;
  } else {
    u = std::move(queue_.front());
    queue_.pop_front();
  }
  delivered_ = u.snapshot;
  return u;
}

}  // namespace coordination::detail
