// coordination::config_center — configuration values in etcd with versions, compare-and-set,
// metadata, a bounded history that survives etcd's compaction, typed JSON values and watches.
//
// Layout (prefix "/coordination/config/" by default; keys given to the API are relative to it):
//   <prefix><key>          the plain value, as set: `etcdctl get /coordination/config/app/x`
//   <meta prefix><key>     JSON: create/update times (ms since the epoch) and the metadata map
//   <history prefix><key>  JSON array of the latest max_version_history versions, newest first
// The meta and history prefixes default to the prefix with ".meta/" / ".history/" in place of
// the trailing "/" ("/coordination/config.meta/..."), so `etcdctl get --prefix` on the config
// prefix shows values only. All three keys change in one etcd transaction.
//
// Versions are etcd's own version of the value key: 1 when created, +1 per set, and 0 for a key
// that does not exist (so a removed and re-created key starts at 1 again; its history keeps the
// older versions and a delete marker between them). A write made around this API (etcdctl put)
// changes the value and its version but not the meta or history keys.
//
// Thread-safety: like the client, on the client's executor only. Every call completes within
// the client's request_timeout and is cancelled by Asio terminal cancellation; a cancelled set()
// may or may not have been applied (like any write, see error::outcome_unknown).
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

using config_time = wall_time;

struct config_value {
  std::string key;  // relative to the prefix
  std::string value;
  std::int64_t version = 0;   // etcd's version of the value key
  std::int64_t revision = 0;  // etcd revision of the last change
  config_time create_time{};  // from the meta key (zero when written around this API)
  config_time update_time{};
  std::map<std::string, std::string> metadata;
};

struct config_history_entry {
  std::int64_t version = 0;  // 0 for a delete marker
  std::string value;
  config_time time{};
  bool deleted = false;  // the key was removed at `time`
};

enum class config_change_type { create, update, del };

// One change of a config value, with the whole value before and after it, as get() returns
// them: value, version, revision, and (when the watch reads meta, the default) metadata and
// create/update times as they were at that revision. The times and metadata are empty for a
// value written around this API, and when etcd has compacted the revision away before the
// change was read (a watcher far behind).
struct config_change {
  config_change_type type = config_change_type::update;
  std::string key;                        // relative to the prefix
  std::optional<config_value> old_value;  // none for a create
  std::optional<config_value> new_value;  // none for a delete
  std::int64_t version = 0;               // new_value's version; 0 for a delete
  std::int64_t revision = 0;              // the etcd revision of the change
  // When this client received the change (etcd keeps no times; the writer's clock is in
  // config_value::update_time and the history).
  config_time timestamp{};
};

struct config_center_options {
  config_center_options() {}  // not an aggregate: see the GCC 12 note in types.hpp
  std::string prefix = "/coordination/config/";
  std::string meta_prefix;     // empty: derived from prefix (see above)
  std::string history_prefix;  // empty: derived from prefix
  bool versioning = true;      // keep a history
  std::size_t max_version_history = 10;
  // Called before set() writes: return a message to reject the value (set throws
  // invalid_argument with it), nullopt to accept. Only when `validation` is on.
  std::function<std::optional<std::string>(const std::string& key, const std::string& value)>
      validator;
  bool validation = true;
  // Throws invalid_argument naming the field.
  void validate() const;
};

struct config_set_options {
  config_set_options() {}
  // nullopt: unconditional; 0: create only; n: only if the current version is n. A mismatch
  // throws error::conflict and writes nothing.
  std::optional<std::int64_t> expected_version;
  // nullopt keeps the key's metadata; a map replaces it.
  std::optional<std::map<std::string, std::string>> metadata;
};

struct config_watch_options {
  config_watch_options() {}
  // Read each change's metadata and times: one etcd read per batch of events (a batch is what
  // one etcd response carries; one set() is one batch), none when off.
  bool with_meta = true;
};

// A stream of changes under a config key or prefix, in revision order, each once, across
// reconnects and etcd restarts (it is a watch_stream underneath: one etcd watch per call).
// Cancelled when destroyed. Made by config_center::watch / watch_prefix.
class config_watch {
 public:
  config_watch() = default;
  config_watch(watch_stream stream, client& c, std::size_t strip, std::string meta_prefix,
               config_watch_options options);
  // The next change; throws like watch_stream::next (compacted, cancelled, ...). A failed read
  // of the meta throws too and loses nothing: the next call reads it again.
  boost::asio::awaitable<config_change> next();
  void cancel() { stream_.cancel(); }
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

class config_center {
 public:
  // Throws invalid_argument for bad options.
  explicit config_center(client& c, config_center_options options = {});

  // Throws not_found when the key has no value.
  boost::asio::awaitable<config_value> get(std::string key);
  // nullopt when the key has no value.
  boost::asio::awaitable<std::optional<config_value>> find(std::string key);
  // 0 when the key has no value.
  boost::asio::awaitable<std::int64_t> version(std::string key);

  // Writes `value` (with metadata, times and a history entry); returns what is stored now.
  boost::asio::awaitable<config_value> set(std::string key, std::string value,
                                           config_set_options options = {});
  boost::asio::awaitable<config_value> set(std::string key, std::string value,
                                           std::int64_t expected_version);
  // Any type nlohmann::json can serialise, stored as its JSON text.
  template <class T>
  requires(!std::is_convertible_v<const T&, std::string>) boost::asio::awaitable<config_value> set(
      std::string key, const T& value, config_set_options options = {}) {
    return set(std::move(key), nlohmann::json(value).dump(), std::move(options));
  }
  template <class T>
  requires(!std::is_convertible_v<const T&, std::string>) boost::asio::awaitable<config_value> set(
      std::string key, const T& value, std::int64_t expected_version) {
    return set(std::move(key), nlohmann::json(value).dump(), expected_version);
  }

  // Removes the value and its meta key; the history keeps a delete marker. Throws not_found
  // when there is no value, conflict when expected_version is given and does not match.
  boost::asio::awaitable<void> remove(std::string key,
                                      std::optional<std::int64_t> expected_version = {});
  // Every value whose key starts with `prefix` (relative), sorted by key.
  boost::asio::awaitable<std::vector<config_value>> list(std::string prefix);
  // The latest versions, newest first (at most `limit`; 0: all that are kept).
  boost::asio::awaitable<std::vector<config_history_entry>> history(std::string key,
                                                                    std::size_t limit = 0);

  // The value parsed as JSON into T (nlohmann::json's from_json). A value that is not JSON or
  // not a T throws invalid_argument naming the key.
  template <class T>
  boost::asio::awaitable<T> get_as(std::string key) {
    auto v = co_await get(std::move(key));
    co_return parse_as<T>(v);
  }

  // Changes of one key / every key under `prefix` (relative), from now on.
  boost::asio::awaitable<config_watch> watch(std::string key, config_watch_options options = {});
  boost::asio::awaitable<config_watch> watch_prefix(std::string prefix,
                                                    config_watch_options options = {});

  const config_center_options& options() const { return options_; }
  std::string value_key(const std::string& key) const;  // the etcd key of a config key

 private:
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
