// Leader election with etcd's own recipe (Go's concurrency.Election): a candidate's key is
// `<name>/<lease id in hex>` on its session's lease, holding its proposal; the leader is the key
// with the lowest create revision under `<name>/`; a candidate waits for the deletion of the keys
// created before its own. So this library and `etcdctl elect <name>` see and respect each
// other's leaders (both directions).
//
// A leadership is a lock underneath: it has the same fencing token (the key's create revision),
// the same lost-notification (session lost, key deleted by someone else) and guarded_txn().
// Leadership is not exclusion on its own: a leader paused past its lease still believes it leads
// (see lock.hpp); guard the writes it makes.
//
// Thread-safety: the client's executor only. campaign() waits until leader and is cancelled by
// Asio terminal cancellation (the candidate's key is removed); leader_observer::next() waits for
// the next change and is cancellable.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <deque>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "coordination/lock.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"

namespace coordination {

struct leader_info {
  std::string name;                  // the election
  std::string key;                   // <name>/<lease hex>
  std::string value;                 // the leader's proposal
  std::int64_t create_revision = 0;  // the leader's fencing token
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

class leadership {
 public:
  leadership() = default;
  leadership(lock_handle h, std::string value);

  const std::string& name() const { return handle_.name(); }
  const std::string& key() const { return handle_.key(); }
  const std::string& value() const { return value_; }
  std::int64_t fencing_token() const { return handle_.fencing_token(); }
  std::int64_t lease() const { return handle_.lease(); }
  // Not resigned and not lost, as far as this process knows.
  bool held() const { return handle_.held(); }

  // Replaces the proposal while still leader; throws not_leader otherwise.
  boost::asio::awaitable<void> proclaim(std::string value);
  // Gives the leadership up (deletes the key if it is still ours). Idempotent.
  boost::asio::awaitable<void> resign();
  // lock_lost when leadership is lost (session lost, key deleted), cancelled after resign().
  boost::asio::awaitable<std::error_code> wait_lost() { return handle_.wait_lost(); }
  // Applies `ops` only while still leader (see lock_handle::guarded_txn).
  boost::asio::awaitable<txn_result> guarded_txn(std::vector<compare> compares,
                                                 std::vector<txn_op> ops) {
    return handle_.guarded_txn(std::move(compares), std::move(ops));
  }
  lock_handle& handle() { return handle_; }

 private:
  lock_handle handle_;
  std::string value_;
};

// Leader changes of one election. The first next() returns who leads now, or nullopt when
// nobody does. Then every new proposal of that leader, every next leader, and nullopt when the
// leader's key goes (resigned, or its lease expired) and no candidate is left to succeed it;
// then the next leader, once one campaigns. Successive results are never both nullopt. A
// successor is looked up at the revision of the leader key's deletion, so a vacancy is reported
// even when a new candidate comes right after it. Cancelled when destroyed or by cancel().
class leader_observer {
 public:
  leader_observer() = default;
  leader_observer(client& c, std::string name);
  // Throws cancelled after cancel(), or the watch's error.
  boost::asio::awaitable<std::optional<leader_info>> next();
  void cancel();

 private:
  std::unique_ptr<client> client_;
  std::string name_;
  std::optional<leader_info> current_;
  std::int64_t next_revision_ = 0;  // watch the current key from here
  std::int64_t lookup_at_ = 0;      // find the leader at this revision (0: now)
  std::int64_t vacant_from_ = 0;    // > 0: vacancy reported, wait for a candidate from here
  bool on_key_ = false;             // stream_ watches current_'s key
  watch_stream stream_;
  std::deque<leader_info> pending_;
  bool cancelled_ = false;
};

// The current leader of `name`, or nullopt when nobody campaigns.
boost::asio::awaitable<std::optional<leader_info>> current_leader(client& c, std::string name);
// A stream of `name`'s leaders (see leader_observer).
leader_observer observe_leader(client& c, std::string name);

// Campaigns on one session. Cheap to create.
class elector {
 public:
  explicit elector(session& s);
  // Waits until this candidate leads `name`, then returns its leadership. Campaigning again with
  // the same session while a campaign of it is queued or leading waits in a local FIFO (one key
  // per session, as in etcd's recipe).
  boost::asio::awaitable<leadership> campaign(std::string name, std::string value);
  boost::asio::awaitable<std::optional<leader_info>> leader(std::string name);
  leader_observer observe(std::string name);

 private:
  std::shared_ptr<detail::session_state> session_;
};

}  // namespace coordination
