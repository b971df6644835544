/// \file
/// coordination::kv_cache — a local copy of every key under a prefix, kept current by one
/// watch: get(), list() and revision() answer from memory, with no round trip.
///
/// open() reads the prefix (in pages, all at one revision), then watches it from the next
/// revision. Each watch batch is applied as one step, so list() always shows the prefix as it
/// was at one revision. When the watch's next revision was compacted, the cache reads the
/// prefix again and reports the difference as one update marked `resynced`: every key whose
/// value changed meanwhile is reported once, with its newest value, and nothing is reported
/// twice. (Intermediate values that etcd compacted away are gone: the difference is all that can
/// be known.) A broken connection needs no re-read: the client's watch resumes from the next
/// revision; a watch etcd ends for another reason is made again from the next revision, with
/// backoff.
///
/// Snapshots: list() returns a kv_snapshot, an immutable sorted view that costs a pointer copy.
/// The cache stores keys in chunks of up to 128 shared between snapshots, so applying a change
/// copies one chunk and the chunk index, never the whole prefix.
///
/// Thread-safety: the client's executor only, like the client. A kv_snapshot is immutable and
/// may be read from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordination/client.hpp"
#include "coordination/watch.hpp"

namespace coordination {

namespace detail {
struct kv_cache_state;
struct kv_snapshot_access;
struct kv_cache_subscriber;
/// A run of keys in order (the unit a change copies).
struct kv_chunk {
  std::vector<key_value> kvs;  ///< sorted by key
};
/// The chunks of one snapshot, in key order.
struct kv_root {
  std::vector<std::shared_ptr<const kv_chunk>> chunks;  ///< none empty
  std::size_t size = 0;                                 ///< keys in all chunks
};
}  // namespace detail

/// An immutable view of a kv_cache at one revision: keys in byte order. Copying it copies one
/// pointer; it keeps its keys alive however the cache changes after it.
///
/// Thread-safety: immutable; any thread may read it.
class kv_snapshot {
 public:
  /// Iterates the keys in order (a forward iterator over const key_value).
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;  ///< forward only
    using value_type = key_value;                         ///< a key with its value
    using difference_type = std::ptrdiff_t;               ///< as for any iterator
    using pointer = const key_value*;                     ///< to a key of the snapshot
    using reference = const key_value&;                   ///< to a key of the snapshot
    iterator() = default;                                 ///< the end of an empty snapshot
    reference operator*() const { return (*root_->chunks[chunk_]).kvs[pos_]; }  ///< the key
    pointer operator->() const { return &**this; }                              ///< the key
    /// The next key.
    iterator& operator++() {
      if (++pos_ == root_->chunks[chunk_]->kvs.size()) {
        ++chunk_;
        pos_ = 0;
      }
      return *this;
    }
    /// The next key (postfix).
    iterator operator++(int) {
      auto old = *this;
      ++*this;
      return old;
    }
    /// Equal when both point at the same place.
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.chunk_ == b.chunk_ && a.pos_ == b.pos_;
    }

   private:
    friend class kv_snapshot;
    iterator(const detail::kv_root* r, std::size_t c, std::size_t p)
        : root_(r), chunk_(c), pos_(p) {}
    const detail::kv_root* root_ = nullptr;
    std::size_t chunk_ = 0, pos_ = 0;
  };

  /// An empty snapshot at revision 0.
  kv_snapshot();
  /// The key `key`, or nullptr. O(log n), no allocation; the pointer lives as long as the
  /// snapshot (or a copy of it).
  const key_value* find(std::string_view key) const;
  /// The first key at or after `key` (end() if none).
  iterator lower_bound(std::string_view key) const;
  /// How many keys.
  std::size_t size() const { return root_->size; }
  /// No key at all.
  bool empty() const { return root_->size == 0; }
  /// The revision this snapshot shows the prefix at.
  std::int64_t revision() const { return revision_; }
  /// The first key.
  iterator begin() const { return {root_.get(), 0, 0}; }
  /// Past the last key.
  iterator end() const { return {root_.get(), root_->chunks.size(), 0}; }

 private:
  friend struct detail::kv_snapshot_access;
  // The snapshot of `root` at `revision` (the library makes them), and its shared chunks (for
  // the library's diffs): detail::kv_snapshot_access (recipes/kv_cache/kv_cache_core.hpp).
  kv_snapshot(std::shared_ptr<const detail::kv_root> root, std::int64_t revision);
  const std::shared_ptr<const detail::kv_root>& root() const { return root_; }

  std::shared_ptr<const detail::kv_root> root_;
  std::int64_t revision_ = 0;
};

/// One key's change, as a kv_cache reports it.
struct kv_change {
  /// put: created or changed (kv is the new value); del: deleted (kv has the key and the
  /// deletion's revision as mod_revision).
  event_type type = event_type::put;
  /// The key as it is after the change.
  key_value kv;
  /// The key as the cache held it before the change; none for a new key.
  std::optional<key_value> prev;
};

/// What one kv_cache_watch::next() returns: the changes of one or more revisions, in etcd's
/// event order (a resynced update: in key order, each key once).
struct kv_cache_update {
  /// The revision the changes bring the cache to.
  std::int64_t revision = 0;
  /// The changes since the previous update.
  std::vector<kv_change> changes;
  /// The whole prefix at `revision` (after these changes).
  kv_snapshot snapshot;
  /// The changes are a difference, not events: the cache read the prefix again (after
  /// compaction or a watch etcd ended), or this consumer fell more than
  /// kv_cache_options::max_queued_updates behind. Each changed key appears once, with its
  /// newest value; keys created and deleted in between do not appear.
  bool resynced = false;
};

/// The options of kv_cache::open(). A plain value.
struct kv_cache_options {
  kv_cache_options() {}  ///< not an aggregate: see the GCC 12 note in types.hpp
  /// Keys per range request while reading the prefix (all pages at one revision).
  std::int64_t page_size = 5000;
  /// Updates a kv_cache_watch may hold before its consumer takes them; beyond it the queue is
  /// dropped and next() returns one resynced update (the difference) instead.
  std::size_t max_queued_updates = 1024;
};

/// The change stream of a kv_cache (kv_cache::watch()). Move-only; destroying it (or cancel())
/// ends it.
///
/// Thread-safety: the client's executor only.
class kv_cache_watch {
 public:
  kv_cache_watch();                                      ///< an empty handle
  kv_cache_watch(kv_cache_watch&&) noexcept;             ///< takes over `other`'s stream
  kv_cache_watch& operator=(kv_cache_watch&&) noexcept;  ///< cancels this one, takes `other`'s
  ~kv_cache_watch();                                     ///< cancels

  /// The next update: the changes since the cache's state when watch() was called (for the
  /// first call) or since the previous update. Waits until there is one.
  ///
  /// \par Errors
  /// error::cancelled after cancel(), after the cache is closed or destroyed, or on an empty
  /// handle.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled and loses nothing: the next call
  /// returns what came meanwhile.
  boost::asio::awaitable<kv_cache_update> next();
  /// Ends the stream; a pending next() throws error::cancelled.
  void cancel();

 private:
  friend class kv_cache;
  explicit kv_cache_watch(std::shared_ptr<detail::kv_cache_subscriber> s);
  std::shared_ptr<detail::kv_cache_subscriber> state_;
};

/// A local copy of a prefix (see the file comment). Move-only; destroying it, or close(), stops
/// its watch. The cache's background work belongs to the client's task group: closing the
/// client stops it too. A moved-from cache throws error::invalid_argument from every call but
/// close() (which does nothing).
///
/// Thread-safety: the client's executor only.
class kv_cache {
 public:
  /// Reads every key starting with `prefix` and starts watching them.
  ///
  /// \par Errors
  /// invalid_argument for an empty prefix or bad options; the errors of a range (unavailable,
  /// timeout, permission_denied, ...). Later failures are not thrown anywhere: the cache
  /// retries its reads and watch with backoff, and is stale (revision() does not move)
  /// meanwhile.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled; nothing is left running.
  static boost::asio::awaitable<kv_cache> open(client& c, std::string prefix,
                                               kv_cache_options options = kv_cache_options());

  kv_cache(kv_cache&&) noexcept;             ///< takes over `other`'s cache
  kv_cache& operator=(kv_cache&&) noexcept;  ///< closes this one, takes `other`'s
  ~kv_cache();                               ///< close()

  /// The prefix cached.
  const std::string& prefix() const;
  /// The key `key` (a copy), or nullopt. No round trip.
  std::optional<key_value> get(std::string_view key) const;
  /// The whole prefix now, as an immutable snapshot (a pointer copy). No round trip.
  kv_snapshot list() const;
  /// The revision the cache shows the prefix at: every change up to it is applied.
  std::int64_t revision() const;
  /// How many times the cache read the prefix again (after compaction or an ended watch).
  std::uint64_t reloads() const;

  /// Returns once the cache shows the prefix at `revision` or later (read-your-writes: pass
  /// the revision a put returned). When no change under the prefix is due, it confirms with
  /// one read-only txn (no key changed since revision(), the same count; etcd scans the
  /// prefix's index for it) and moves revision() to that txn's revision. A revision etcd has
  /// not reached yet is waited for, confirming again after 50 ms, doubling up to 1 s.
  ///
  /// \par Errors
  /// error::cancelled once the cache is closed; the errors of the confirming txn.
  /// \par Cancellation
  /// Terminal cancellation throws error::cancelled.
  boost::asio::awaitable<void> wait_for_revision(std::int64_t revision);

  /// A change stream from now (see kv_cache_watch::next()). Take list() right before it for
  /// the state its first update starts from.
  kv_cache_watch watch();

  /// Stops the watch; pending waits and change streams end with error::cancelled. get() and
  /// list() keep answering from the last state.
  void close();

 private:
  explicit kv_cache(std::shared_ptr<detail::kv_cache_state> s);
  std::shared_ptr<detail::kv_cache_state> state_;
};

}  // namespace coordination
