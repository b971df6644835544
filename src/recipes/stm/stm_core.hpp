// The decisions of run_stm (sans-io), Go's concurrency/stm.go: the read set and write set of
// an attempt, which reads go to etcd and how, the commit txn's compares per isolation level and
// its prefetching failure branch, what the commit's answer means, and the backoff after a
// conflict.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "coordination/stm.hpp"
#include "coordination/types.hpp"

namespace coordination::detail {

class stm_core;
// run_stm's way to hand an attempt's view to the user's function (its constructor is private).
struct stm_access {
  static stm_txn make(client& c, stm_core& core) { return stm_txn(c, core); }
};

class stm_core {
 public:
  explicit stm_core(stm_isolation iso) : iso_(iso) {}

  // A get answered without etcd: the attempt's own write, or what it (or the failed commit
  // before it) read. nullopt: fetch it (with fetch_options()) and call fetched().
  std::optional<std::optional<std::string>> cached(const std::string& key);
  // How to read a key not cached: at the snapshot revision once there is one (serializable
  // levels), serializable range reads for the other levels.
  range_options fetch_options() const;
  // Records a fetched key; the first read of a serializable attempt fixes its revision.
  std::optional<std::string> fetched(const std::string& key, const range_result& r);
  // The mod revision the attempt read for `key` (0: absent or not read).
  std::int64_t read_revision(const std::string& key) const;
  bool has_read(const std::string& key) const { return reads_.count(key) != 0; }

  void put(std::string key, std::string value, put_options o);
  void del(std::string key);

  // The commit: the buffered writes if the compares hold; else (serializable levels) read the
  // read set back, for the next attempt.
  txn_request commit_txn() const;
  // True when the commit applied. Otherwise the attempt's state is reset for the next one,
  // with the failure branch's reads kept as prefetched values.
  bool committed(const txn_result& r);
  // Starts an attempt afresh (a new run, or after apply threw nothing but a read failed).
  void reset();

  std::size_t reads() const { return reads_.size(); }
  std::size_t writes() const { return writes_.size(); }

 private:
  struct read {
    std::optional<key_value> kv;
    std::int64_t revision = 0;  // the header revision it was read at
  };
  struct write {
    bool is_delete = false;
    std::string value;
    put_options options;
  };
  bool serializable_level() const {
    return iso_ == stm_isolation::serializable_snapshot || iso_ == stm_isolation::serializable;
  }

  stm_isolation iso_;
  std::map<std::string, read> reads_, prefetch_;
  std::map<std::string, write> writes_;
  std::int64_t snapshot_ = 0;  // serializable levels: the first read's revision
};

// The pause before attempt `attempt` + 1 after `attempt` conflicts (`random01` in [0, 1)): none
// after the first (the failed commit brought the fresh values back, so the next attempt is
// ready at once, as Go's STM retries), then random in [0, min(backoff_max, backoff_base *
// 2^(attempt - 1))).
std::chrono::milliseconds stm_backoff(int attempt, const stm_options& o, double random01);

}  // namespace coordination::detail
