// The decisions of the kv_cache (sans-io): the chunked, copy-on-write map behind its snapshots
// (kv_editor), applying watch batches and re-reads to it (kv_cache_core), the difference of two
// snapshots, the confirming txn of wait_for_revision(), and a change stream's bounded queue
// (kv_update_queue). No sockets, timers or coroutines: tested without etcd
// (test/unit/test_kv_cache_core.cpp). See include/coordination/kv_cache.hpp.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordination/kv_cache.hpp"

namespace coordination::detail {

// What the library may do with a kv_snapshot that its users may not: make one of shared chunks,
// and reach them (diffs, edits).
struct kv_snapshot_access {
  static kv_snapshot make(std::shared_ptr<const kv_root> root, std::int64_t revision) {
    return kv_snapshot(std::move(root), revision);
  }
  static const std::shared_ptr<const kv_root>& root(const kv_snapshot& s) { return s.root(); }
};

// A chunk holds at most this many keys; a fuller one is split in two halves.
inline constexpr std::size_t kv_chunk_max = 128;

// Edits a copy of a snapshot's root: the chunk index is copied once, and each chunk the edits
// touch once; every other chunk stays shared with the base.
class kv_editor {
 public:
  explicit kv_editor(const std::shared_ptr<const kv_root>& base);
  // Puts `kv` (by its key); returns the value it replaced, if any.
  std::optional<key_value> put(key_value kv);
  // Removes `key`; returns what it held, or nullopt when absent.
  std::optional<key_value> erase(std::string_view key);
  const key_value* find(std::string_view key) const;
  // The edited root (the editor is spent).
  std::shared_ptr<const kv_root> commit();

 private:
  std::size_t chunk_for(std::string_view key) const;  // the chunk whose keys' range holds key
  kv_chunk& writable(std::size_t i);                  // chunk i, copied on first write

  std::shared_ptr<kv_root> root_;
  std::vector<bool> owned_;  // per chunk: made by this editor (writable in place)
};

// A root holding `kvs` (sorted by key, no duplicates) in chunks of 3/4 of kv_chunk_max.
std::shared_ptr<const kv_root> build_root(std::vector<key_value> kvs);

// The changes that turn `from` into `to`, in key order: puts for keys new or changed (by
// mod_revision), dels for keys gone (their kv's mod_revision is `revision`). Chunks the two
// share are skipped whole.
std::vector<kv_change> diff_snapshots(const kv_snapshot& from, const kv_snapshot& to,
                                      std::int64_t revision);

// A cache's state: its snapshot, and how watch batches, re-reads and confirmations move it.
class kv_cache_core {
 public:
  // Replaces everything with `kvs` (a read of the whole prefix at `revision`, sorted by key);
  // returns the difference from the state before.
  std::vector<kv_change> reset(std::vector<key_value> kvs, std::int64_t revision);
  // Applies a watch batch as one step. Events at or below revision() are skipped (they are in
  // the state already: a confirmation or a re-read covered them). A batch with no event (a
  // progress notification) moves revision() to its revision. Returns the changes, in event
  // order.
  std::vector<kv_change> apply(const watch_batch& b);
  // A confirming txn (confirm_txn()) found the prefix unchanged up to `revision`.
  void confirm(std::int64_t revision);

  const kv_snapshot& snapshot() const { return snap_; }
  std::int64_t revision() const { return snap_.revision(); }

 private:
  kv_snapshot snap_;
};

// The read-only txn that checks whether the prefix [key, range_end) is at `revision` what a
// cache of `size` keys at that revision holds: no key modified after `revision`, and as many
// keys. (Every key then existed unchanged at `revision`, so the two sets are equal.)
txn_request confirm_txn(const std::string& key, const std::string& range_end,
                        std::int64_t revision);
// The revision the answer confirms the cache at, or nullopt when a change is still due.
std::optional<std::int64_t> read_confirmation(const txn_result& r, std::size_t size);

// A change stream's queue: at most `max` updates; an overflow drops them all and the next
// take() is the difference from the last snapshot taken to the newest one (resynced).
class kv_update_queue {
 public:
  kv_update_queue(kv_snapshot start, std::size_t max) : delivered_(std::move(start)), max_(max) {}
  void push(kv_cache_update u);
  bool ready() const { return !queue_.empty() || overflowed_; }
  // The next update (ready() must hold).
  kv_cache_update take();

 private:
  std::deque<kv_cache_update> queue_;
  kv_snapshot delivered_;  // after the last update taken
  kv_snapshot newest_;     // after the last update pushed
  std::size_t max_;
  bool overflowed_ = false;
};

}  // namespace coordination::detail
