/// \file
/// coordination::config_center — configuration values in etcd with versions, compare-and-set,
/// metadata, a bounded history that survives etcd's compaction, typed JSON values and watches.
///
/// Layout (prefix "/coordination/config/" by default; keys given to the API are relative to it):
/// \code{.unparsed}
///   <prefix><key>          the plain value, as set: `etcdctl get /coordination/config/app/x`
///   <meta prefix><key>     JSON: create/update times (ms since the epoch), the metadata map and
///                          the last write's id; after a remove, a tombstone {"deleted": true}
///   <history prefix><key>  JSON array of the latest max_version_history versions, newest first
/// \endcode
/// The meta and history prefixes default to the prefix with ".meta/" / ".history/" in place of
/// the trailing "/" ("/coordination/config.meta/..."), so `etcdctl get --prefix` on the config
/// prefix shows values only. All three keys change in one etcd transaction.
///
/// Versions are etcd's own version of the value key: 1 when created, +1 per set, and 0 for a key
/// that does not exist (so a removed and re-created key starts at 1 again; its history keeps the
/// older versions and a delete marker between them). A write made around this API (etcdctl put)
/// changes the value and its version but not the meta or history keys.
///
/// The meta key is the guard of every write: each set() and remove() compares its mod revision
/// and rewrites it with the write's id, and a remove leaves it as a tombstone (about 60 bytes per
/// removed key, read again by list()), so that a copy of an old write that a paused member
/// applies late cannot land after a newer one, and a write whose answer was lost can be told
/// applied or not (docs/reliability.md).
///
/// Thread-safety: like the client, on the client's executor only. Every request of a call is
/// bounded by the client's request_timeout (a set() or remove() makes several: see each), and a
/// call is cancelled by Asio terminal cancellation; a cancelled set() may or may not have been
/// applied (like any write, see error::outcome_unknown).
///
/// \code
/// config_center cfg(etcd);                          // keys under /coordination/config/
/// co_await cfg.set("app/max_conns", 64);            // any nlohmann::json type, or a string
/// auto v = co_await cfg.get("app/max_conns");       // value, version, times, metadata
/// co_await cfg.set("app/mode", "fast", v.version);  // compare-and-set: conflict if it moved
/// auto w = co_await cfg.watch_prefix("app/");       // create / update / delete with old and new
/// config_change c = co_await w.next();
/// \endcode
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "coordination/client.hpp"
#include "coordination/error.hpp"
#include "coordination/watch.hpp"

namespace coordination {

/// The config center's times: wall-clock, stored as ms since the Unix epoch (see wall_time).
using config_time = wall_time;

/// A config value as stored: the value key's value and version, with the meta key's times and
/// metadata. A plain value type (no thread-safety concern).
struct config_value {
  std::string key;  ///< relative to the prefix
  /// The value as set: any bytes (JSON text for the typed set()).
  std::string value;
  std::int64_t version = 0;   ///< etcd's version of the value key
  std::int64_t revision = 0;  ///< etcd revision of the last change
  config_time create_time{};  ///< from the meta key (zero when written around this API)
  /// From the meta key: the writer's clock at the last set().
  config_time update_time{};
  /// From the meta key (empty when none).
  std::map<std::string, std::string> metadata;
};

/// One entry of a key's history (config_center::history()): a version that was set, or a delete
/// marker. A plain value type.
struct config_history_entry {
  std::int64_t version = 0;  ///< 0 for a delete marker
  /// The value of that version (empty for a delete marker).
  std::string value;
  /// When it was set (or removed), by the writer's clock.
  config_time time{};
  bool deleted = false;  ///< the key was removed at `time`
};

/// What a config_change did to its key: `create` (the key got a value: version 1), `update`
/// (set again: version 2 or more) or `del` (removed).
enum class config_change_type { create, update, del };

/// One change of a config value, with the whole value before and after it, as get() returns
/// them: value, version, revision, and (when the watch reads meta, the default) metadata and
/// create/update times as they were at that revision. The times and metadata are empty for a
/// value written around this API, and when etcd has compacted the revision away before the
/// change was read (a watcher far behind). A plain value type.
struct config_change {
  /// Create, update or delete.
  config_change_type type = config_change_type::update;
  std::string key;                        ///< relative to the prefix
  std::optional<config_value> old_value;  ///< none for a create
  std::optional<config_value> new_value;  ///< none for a delete
  std::int64_t version = 0;               ///< new_value's version; 0 for a delete
  std::int64_t revision = 0;              ///< the etcd revision of the change
  /// When this client received the change (etcd keeps no times; the writer's clock is in
  /// config_value::update_time and the history).
  config_time timestamp{};
};

/// Where a config_center keeps its keys and how it writes them. Checked by validate() (the
/// config_center constructor runs it). A plain value type.
struct config_center_options {
  config_center_options() {}  ///< not an aggregate: see the GCC 12 note in types.hpp
  /// The value keys: "<prefix><key>".
  std::string prefix = "/coordination/config/";
  std::string meta_prefix;     ///< empty: derived from prefix (see above)
  std::string history_prefix;  ///< empty: derived from prefix
  bool versioning = true;      ///< keep a history
  /// Versions kept per key (1 to 1000, with versioning).
  std::size_t max_version_history = 10;
  /// Called before set() writes: return a message to reject the value (set throws
  /// invalid_argument with it), nullopt to accept. Only when `validation` is on. Called on the
  /// client's executor, from the set() call.
  std::function<std::optional<std::string>(const std::string& key, const std::string& value)>
      validator;
  /// Whether set() calls `validator` (when there is one).
  bool validation = true;
  /// Throws invalid_argument naming the field.
  ///
  /// (A prefix that is empty, or that does not end with '/' while a prefix is derived from it;
  /// meta, history and value prefixes that overlap; max_version_history outside 1 to 1000.)
  void validate() const;
};

/// Conditions and metadata of one config_center::set(). A plain value type.
struct config_set_options {
  /// Not an aggregate: see the GCC 12 note in types.hpp.
  config_set_options() {}
  /// nullopt: unconditional; 0: create only; n: only if the current version is n. A mismatch
  /// throws error::conflict and writes nothing.
  std::optional<std::int64_t> expected_version;
  /// nullopt keeps the key's metadata; a map replaces it.
  std::optional<std::map<std::string, std::string>> metadata;
};

/// Options of config_center::watch() / watch_prefix(). A plain value type.
struct config_watch_options {
  /// Not an aggregate: see the GCC 12 note in types.hpp.
  config_watch_options() {}
  /// Read each change's metadata and times: one etcd read per batch of events (a batch is what
  /// one etcd response carries; one set() is one batch), none when off.
  bool with_meta = true;
};

/// A stream of changes under a config key or prefix, in revision order, each once, across
/// reconnects and etcd restarts (it is a watch_stream underneath: one etcd watch per call).
/// Cancelled when destroyed. Made by config_center::watch / watch_prefix.
///
/// Move-only. It keeps its own handle on the client: the config_center that made it need not
/// outlive it; client::close() ends it. Thread-safety: like the client, on the client's executor
/// only; one next() at a time.
class config_watch {
 public:
  /// An empty watch: next() throws invalid_argument (an empty watch_stream).
  config_watch() = default;
  /// Wraps `stream`, a watch (with prev_kv) of value keys: `strip` characters (the config
  /// prefix) are cut from each key, and the meta of each value is read under `meta_prefix`.
  /// Made by config_center::watch / watch_prefix; applications need not call it.
  config_watch(watch_stream stream, client& c, std::size_t strip, std::string meta_prefix,
               config_watch_options options);
  /// The next change; throws like watch_stream::next (compacted, cancelled, ...). A failed read
  /// of the meta throws too and loses nothing: the next call reads it again.
  ///
  /// Waits until a change comes (there is no deadline of its own: bound it with with_timeout()).
  /// A meta read that finds its revision compacted is not an error: the change comes without
  /// metadata and times.
  /// \par Errors
  /// error::compacted (the watch's next revision was compacted: watch again, from now),
  /// error::cancelled after cancel() or client::close(), invalid_argument on an empty
  /// config_watch, the error that ended the watch, and the meta read's (unavailable, timeout,
  /// ... as for any read).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; the watch stays usable and nothing is
  /// lost (a change whose meta read was cancelled comes with the next call). It writes nothing.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. This config_watch
  /// must outlive the awaited call.
  boost::asio::awaitable<config_change> next();
  /// Stops the watch; a pending or later next() throws error::cancelled (see watch_stream::cancel).
  void cancel() { stream_.cancel(); }
  /// The watch_stream underneath (its id(), last_revision(), compact_revision()).
  const watch_stream& stream() const { return stream_; }

 private:
  boost::asio::awaitable<void> read_meta();
  watch_stream stream_;
  std::shared_ptr<client> client_;
  std::size_t strip_ = 0;
  std::string meta_prefix_;
  config_watch_options options_;
  std::deque<config_change> pending_;
  bool meta_unread_ = false;  // pending_ waits for read_meta()
};

/// Configuration values in etcd (see the file's description for the layout, versions and
/// history). Cheap to create; many config centers may share one client.
///
/// Thread-safety: like the client, on the client's executor only; calls may overlap (each
/// set() and remove() is a compare-and-set that retries on its own when another writer got in
/// between). It keeps its own handle on the client, so the `client` object it was made from
/// need not outlive it; client::close() ends its calls (they then throw error::cancelled).
///
/// Common to its awaitables:
/// - Errors: invalid_argument for an empty key (before anything is sent), and the transport
///   errors of every request (unavailable, timeout, auth_failed, permission_denied,
///   protocol_error, ...; see error). Reads are resent after any failure within the request
///   timeout; set() and remove() are compare-and-set transactions resent like reads, so when a
///   request of theirs may have reached etcd and still fails they throw outcome_unknown (or
///   timeout), never unavailable: the write may or may not have been applied.
/// - Cancellation: Asio terminal cancellation throws error::cancelled. A set() or remove()
///   cancelled after its transaction was sent may or may not have been applied: read the key
///   back.
/// - Executor and lifetimes: they run on the awaiting coroutine's executor, which must be the
///   client's. The config_center must outlive each awaited call; the arguments are taken by
///   value (copied or moved into the operation).
class config_center {
 public:
  /// Throws invalid_argument for bad options.
  ///
  /// (See config_center_options::validate(); derives the meta and history prefixes when they are
  /// empty.) Shares `c`'s connections: `c` itself need not outlive the config_center.
  explicit config_center(client& c, config_center_options options = {});

  /// Throws not_found when the key has no value.
  ///
  /// One read of the value and meta keys (one transaction).
  /// \par Errors
  /// not_found when the key has no value, invalid_argument for an empty key, and the transport
  /// errors of every request (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read: nothing to undo).
  /// \par Executor and lifetimes
  /// The client's executor; the config_center must outlive the awaited call; `key` is copied.
  boost::asio::awaitable<config_value> get(std::string key);
  /// nullopt when the key has no value.
  ///
  /// As get(), without not_found.
  /// \par Errors
  /// invalid_argument for an empty key, and the transport errors of every request (unavailable,
  /// timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// As get().
  boost::asio::awaitable<std::optional<config_value>> find(std::string key);
  /// 0 when the key has no value.
  ///
  /// One keys-only read of the value key.
  /// \par Errors
  /// invalid_argument for an empty key, and the transport errors of every request (unavailable,
  /// timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// As get().
  boost::asio::awaitable<std::int64_t> version(std::string key);

  /// Writes `value` (with metadata, times and a history entry); returns what is stored now.
  ///
  /// Reads the key's value, meta and history, then writes all three in one transaction that
  /// compares the value key's mod revision; when another writer got in between, it reads and
  /// tries again (up to 64 times, and only while `options.expected_version` still holds). Each
  /// request is bounded by the request timeout, the whole call by those attempts. When a
  /// transaction's answer is lost, the set tells whether it was applied (its id in the meta key;
  /// or, when others wrote since, whether the meta's first change after its read was its own,
  /// by a watch from that revision) and returns its write, or goes on as after a lost race; it
  /// sends the same transaction again (at most once applied in all) up to 4 times.
  /// `value` may be any bytes (the history stores non-UTF-8 values base64).
  /// \par Errors
  /// invalid_argument for an empty key, a negative expected version, a value the validator
  /// rejects (its message), or metadata that is not UTF-8; conflict when
  /// `options.expected_version` does not match (nothing written) or after 64 lost races;
  /// outcome_unknown when a transaction may have been applied and that cannot be told (4 lost
  /// answers in a row, etcd unreachable meanwhile, or the history needed compacted); and the
  /// transport errors of requests before any transaction was sent (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. Cancelled after its transaction was
  /// sent, the set may or may not have been applied (like any write, see
  /// error::outcome_unknown): read the key back.
  /// \par Executor and lifetimes
  /// The client's executor; the config_center must outlive the awaited call; the arguments are
  /// copied or moved into it. The validator is called from it, on that executor.
  boost::asio::awaitable<config_value> set(std::string key, std::string value,
                                           config_set_options options = {});
  /// set() with `expected_version` as config_set_options::expected_version (0: create only; n:
  /// only if the current version is n), keeping the key's metadata.
  ///
  /// \par Errors
  /// As set(): conflict when the version does not match.
  /// \par Cancellation
  /// As set(): a set cancelled after it was sent may have been applied.
  /// \par Executor and lifetimes
  /// As set().
  boost::asio::awaitable<config_value> set(std::string key, std::string value,
                                           std::int64_t expected_version);
  /// Any type nlohmann::json can serialise, stored as its JSON text.
  ///
  /// `nlohmann::json(value).dump()`, done when called (not when awaited), then set().
  /// \par Errors
  /// As set(); invalid_argument (with nlohmann::json's message) when `value` does not
  /// serialise, e.g. a string in it that is not UTF-8: thrown where it is awaited, nothing
  /// sent.
  /// \par Cancellation
  /// As set(): a set cancelled after it was sent may have been applied.
  /// \par Executor and lifetimes
  /// As set(); `value` is serialised at the call, so it need not outlive the await.
  template <class T>
  requires(!std::is_convertible_v<const T&, std::string>) boost::asio::awaitable<config_value> set(
      std::string key, const T& value, config_set_options options = {}) {
    std::string text;
    if (!serialise(value, text)) return refuse(std::move(key), std::move(text));
    return set(std::move(key), std::move(text), std::move(options));
  }
  /// The typed set() with an expected version (0: create only; n: only if the current version
  /// is n).
  ///
  /// \par Errors
  /// As set(): conflict when the version does not match; invalid_argument when `value` does
  /// not serialise.
  /// \par Cancellation
  /// As set(): a set cancelled after it was sent may have been applied.
  /// \par Executor and lifetimes
  /// As set(); `value` is serialised at the call, so it need not outlive the await.
  template <class T>
  requires(!std::is_convertible_v<const T&, std::string>) boost::asio::awaitable<config_value> set(
      std::string key, const T& value, std::int64_t expected_version) {
    std::string text;
    if (!serialise(value, text)) return refuse(std::move(key), std::move(text));
    return set(std::move(key), std::move(text), expected_version);
  }

  /// Removes the value (its meta key stays as a tombstone); the history keeps a delete marker.
  /// Throws not_found when there is no value, conflict when expected_version is given and does
  /// not match.
  ///
  /// Like set(): a read, then one compare-and-delete transaction on the value's and the meta
  /// key's mod revisions, read and tried again (up to 64 times) when another writer got in
  /// between; a lost answer is resolved as set() does. A concurrent remove that got there first
  /// makes this one end not_found (it removed nothing).
  /// \par Errors
  /// not_found when there is no value; conflict when `expected_version` does not match (nothing
  /// removed) or after 64 lost races; invalid_argument for an empty key; outcome_unknown when
  /// the transaction may have been applied and that cannot be told (as set()); and the
  /// transport errors of requests before any transaction was sent (unavailable, timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. Cancelled after its transaction was
  /// sent, the remove may or may not have been applied.
  /// \par Executor and lifetimes
  /// As get(); the arguments are copied.
  boost::asio::awaitable<void> remove(std::string key,
                                      std::optional<std::int64_t> expected_version = {});
  /// Every value whose key starts with `prefix` (relative), sorted by key.
  ///
  /// One transaction reads the values and their meta keys. An empty `prefix` lists every value.
  /// \par Errors
  /// The transport errors of every request (unavailable, timeout, response_too_large for a list
  /// over client_config::max_response_bytes, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// As get(); `prefix` is copied.
  boost::asio::awaitable<std::vector<config_value>> list(std::string prefix);
  /// The latest versions, newest first (at most `limit`; 0: all that are kept).
  ///
  /// One read of the history key; empty when the key has none (not not_found). Only versions
  /// written through this API, while `versioning` was on, are there.
  /// \par Errors
  /// invalid_argument for an empty key, and the transport errors of every request (unavailable,
  /// timeout, ...).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// As get(); the arguments are copied.
  boost::asio::awaitable<std::vector<config_history_entry>> history(std::string key,
                                                                    std::size_t limit = 0);

  /// The value parsed as JSON into T (nlohmann::json's from_json). A value that is not JSON or
  /// not a T throws invalid_argument naming the key.
  ///
  /// \par Errors
  /// As get() (not_found when the key has no value), and invalid_argument when the value is not
  /// JSON or not a T.
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (a read).
  /// \par Executor and lifetimes
  /// As get(); `key` is copied.
  template <class T>
  boost::asio::awaitable<T> get_as(std::string key) {
    auto v = co_await get(std::move(key));
    co_return parse_as<T>(v);
  }

  /// Changes of one key / every key under `prefix` (relative), from now on.
  ///
  /// Completes once etcd has created the watch (within the request timeout); the changes come
  /// from config_watch::next().
  /// \par Errors
  /// invalid_argument for an empty key, and the errors of creating a watch (unavailable,
  /// timeout, ...; see client::watch).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled (no config_watch is returned).
  /// \par Executor and lifetimes
  /// As get(); the config_watch returned does not need the config_center.
  boost::asio::awaitable<config_watch> watch(std::string key, config_watch_options options = {});
  /// Changes of every key under `prefix` (relative; empty: every key), from now on: see watch().
  ///
  /// \par Errors
  /// The errors of creating a watch (unavailable, timeout, ...; see client::watch).
  /// \par Cancellation
  /// As watch().
  /// \par Executor and lifetimes
  /// As watch().
  boost::asio::awaitable<config_watch> watch_prefix(std::string prefix,
                                                    config_watch_options options = {});

  /// The options in use, with the derived meta and history prefixes filled in.
  const config_center_options& options() const { return options_; }
  std::string value_key(const std::string& key) const;  ///< the etcd key of a config key

 private:
  // `value` as JSON text into `out`; false (with nlohmann's message in `out`) when it does not
  // serialise (a string that is not UTF-8, say).
  template <class T>
  static bool serialise(const T& value, std::string& out) {
    try {
      out = nlohmann::json(value).dump();
      return true;
    } catch (const nlohmann::json::exception& e) {
      out = e.what();
      return false;
    }
  }
  // The typed set()'s awaitable for a value that did not serialise: throws invalid_argument
  // where it is awaited, like every other error.
  static boost::asio::awaitable<config_value> refuse(std::string key, std::string why);
  template <class T>
  static T parse_as(const config_value& v) {
    try {
      return nlohmann::json::parse(v.value).template get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw coordination_error(
          error::invalid_argument,
          "config " + v.key + ": value is not the requested type: " + e.what());
    }
  }
  client client_;
  config_center_options options_;
};

}  // namespace coordination
