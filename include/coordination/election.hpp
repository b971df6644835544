/// \file
/// Leader election with etcd's own recipe (Go's concurrency.Election): a candidate's key is
/// `<name>/<lease id in hex>` on its session's lease, holding its proposal; the leader is the key
/// with the lowest create revision under `<name>/`; a candidate waits for the deletion of the keys
/// created before its own. So this library and `etcdctl elect <name>` see and respect each
/// other's leaders (both directions).
///
/// A leadership is a lock underneath: it has the same fencing token (the key's create revision),
/// the same lost-notification (session lost, key deleted by someone else) and guarded_txn().
/// Leadership is not exclusion on its own: a leader paused past its lease still believes it leads
/// (see lock.hpp); guard the writes it makes.
///
/// Thread-safety: the client's executor only. campaign() waits until leader and is cancelled by
/// Asio terminal cancellation (the candidate's key is removed); leader_observer::next() waits for
/// the next change and is cancellable.
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

/// Who leads an election: the leader's key and proposal. A plain value.
struct leader_info {
  std::string name;                  ///< the election
  std::string key;                   ///< `<name>/<lease hex>`
  std::string value;                 ///< the leader's proposal
  std::int64_t create_revision = 0;  ///< the leader's fencing token
  /// The revision of the key's last write (the campaign or the last proclamation).
  std::int64_t mod_revision = 0;
  /// The leader's lease (its session's).
  std::int64_t lease = 0;
};

/// The leadership elector::campaign() returns: a lock_handle on the candidate's key plus the
/// proposal it holds. Destroying it while held resigns in the background (as ~lock_handle()).
///
/// Move-only. A default-constructed or moved-from leadership leads nothing: its accessors give
/// "" and 0, and proclaim() throws not_leader.
/// Thread-safety: the client's executor only.
class leadership {
 public:
  /// An empty leadership: leads nothing (held() is false).
  leadership() = default;
  /// Wraps a lock taken with `value` as its key's value (as campaign() does).
  leadership(lock_handle h, std::string value);

  /// The election's name.
  const std::string& name() const { return handle_.name(); }
  /// The candidate's key, `<name>/<lease hex>`.
  const std::string& key() const { return handle_.key(); }
  /// The current proposal (the last one proclaimed successfully).
  const std::string& value() const { return value_; }
  /// The key's create revision (see lock_handle::fencing_token()).
  std::int64_t fencing_token() const { return handle_.fencing_token(); }
  /// The lease the key is bound to (the campaigning session's).
  std::int64_t lease() const { return handle_.lease(); }
  /// Not resigned and not lost, as far as this process knows.
  bool held() const { return handle_.held(); }

  /// Replaces the proposal while still leader; throws not_leader otherwise.
  ///
  /// A put of the key guarded by its create revision (lock_handle::guarded_txn()), keeping its
  /// lease. value() changes only once the put succeeded.
  ///
  /// \par Errors
  /// not_leader when held() is false, when the key is gone, or when valid_until() of the handle
  /// has passed (nothing applied); and the transport errors of a write: unavailable,
  /// outcome_unknown or timeout when the put was sent but no answer came (it may have been
  /// applied), cancelled after client::close().
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled. A put cancelled after it was sent may
  /// still be applied (value() then keeps the old proposal).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. `value` is taken by
  /// value; the leadership must outlive the operation.
  boost::asio::awaitable<void> proclaim(std::string value);
  /// Gives the leadership up (deletes the key if it is still ours). Idempotent.
  ///
  /// \par Errors
  /// As lock_handle::release(): the transport errors of the delete (the delete is then retried
  /// in the background).
  /// \par Cancellation
  /// As lock_handle::release(): throws error::cancelled, and the key is deleted in the
  /// background.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's; the leadership must
  /// outlive the operation.
  boost::asio::awaitable<void> resign();
  /// lock_lost when leadership is lost (session lost, key deleted), cancelled after resign().
  ///
  /// \par Errors
  /// None thrown: the outcome is the returned code (see lock_handle::wait_lost()).
  /// \par Cancellation
  /// Asio terminal cancellation ends the wait: it then returns error::cancelled (it does not
  /// throw).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. The leadership must
  /// be alive when the operation starts (a `co_await` starts it at once).
  boost::asio::awaitable<std::error_code> wait_lost() { return handle_.wait_lost(); }
  /// Applies `ops` only while still leader (see lock_handle::guarded_txn).
  ///
  /// \par Errors
  /// As lock_handle::guarded_txn(): lock_lost when the leadership is gone (nothing applied), and
  /// the transport errors of a write (outcome_unknown, timeout, ...).
  /// \par Cancellation
  /// As lock_handle::guarded_txn(): throws error::cancelled; a txn cancelled after it was sent
  /// may still be applied.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. `compares` and
  /// `ops` are taken by value; the leadership must be alive when the operation starts (a
  /// `co_await` starts it at once).
  boost::asio::awaitable<txn_result> guarded_txn(std::vector<compare> compares,
                                                 std::vector<txn_op> ops) {
    return handle_.guarded_txn(std::move(compares), std::move(ops));
  }
  /// The lock underneath (e.g. for lock_handle::valid_until()).
  lock_handle& handle() { return handle_; }

 private:
  lock_handle handle_;
  std::string value_;
};

/// Leader changes of one election. The first next() returns who leads now, or nullopt when
/// nobody does. Then every new proposal of that leader, every next leader, and nullopt when the
/// leader's key goes (resigned, or its lease expired) and no candidate is left to succeed it;
/// then the next leader, once one campaigns. Successive results are never both nullopt. A
/// successor is looked up at the revision of the leader key's deletion, so a vacancy is reported
/// even when a new candidate comes right after it. Cancelled when destroyed or by cancel().
///
/// Needs no session. Move-only; it shares the client's state (the client handle may be moved
/// or destroyed). Thread-safety: the client's executor only, one next() at a time.
class leader_observer {
 public:
  /// An empty observer: next() throws error::cancelled.
  leader_observer() = default;
  /// Observes the election `name` of `c` (nothing is sent before the first next()). Throws
  /// invalid_argument for an empty name.
  leader_observer(client& c, std::string name);
  /// Throws cancelled after cancel(), or the watch's error.
  ///
  /// \par Errors
  /// cancelled (after cancel(), or for an empty observer); the errors of its reads and watches
  /// (unavailable, timeout, compacted, ..., cancelled after client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled; nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's; the observer must
  /// outlive the operation and not be moved meanwhile.
  boost::asio::awaitable<std::optional<leader_info>> next();
  /// Ends the observation: a pending or later next() throws error::cancelled.
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

/// The current leader of `name`, or nullopt when nobody campaigns.
///
/// One read of the key with the lowest create revision under `<name>/`.
///
/// \par Errors
/// invalid_argument for an empty name; the transport errors of the read (unavailable, timeout,
/// ..., cancelled after client::close()).
/// \par Cancellation
/// Asio terminal cancellation throws error::cancelled; nothing is written.
/// \par Executor and lifetimes
/// Runs on the awaiting coroutine's executor, which must be `c`'s. `c` is taken by reference and
/// must outlive the operation; `name` is taken by value.
boost::asio::awaitable<std::optional<leader_info>> current_leader(client& c, std::string name);
/// A stream of `name`'s leaders (see leader_observer).
///
/// Throws invalid_argument for an empty name.
leader_observer observe_leader(client& c, std::string name);

/// Campaigns on one session. Cheap to create.
///
/// It shares the session's state (the session object may be moved); the session must stay open
/// while it campaigns or leads. Thread-safety: the client's executor only.
class elector {
 public:
  /// An elector campaigning with `s`'s lease.
  explicit elector(session& s);
  /// Waits until this candidate leads `name`, then returns its leadership. Campaigning again with
  /// the same session while a campaign of it is queued or leading waits in a local FIFO (one key
  /// per session, as in etcd's recipe).
  ///
  /// The candidate's key holds `value` from the start (observers see it once it leads).
  ///
  /// \par Errors
  /// invalid_argument for an empty name; session_expired when the session is lost, closed or
  /// orphaned before the call or while queued locally; lock_lost when the candidate's key went
  /// while it waited (a candidate queued in etcd notices its session's loss only when its turn
  /// comes); and the transport errors of its requests (unavailable, timeout, outcome_unknown,
  /// ..., cancelled after client::close()).
  /// \par Cancellation
  /// Asio terminal cancellation throws error::cancelled, and the candidate's key is removed in
  /// the background (as for locker::lock(): a cancellation during the key's create waits for
  /// its answer first).
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's. `name` and `value`
  /// are taken by value; the elector must be alive when the operation starts (a `co_await`
  /// starts it at once).
  boost::asio::awaitable<leadership> campaign(std::string name, std::string value);
  /// The current leader of `name` (see current_leader()), read with the session's client.
  ///
  /// \par Errors
  /// As current_leader().
  /// \par Cancellation
  /// As current_leader(): throws error::cancelled; nothing is written.
  /// \par Executor and lifetimes
  /// Runs on the awaiting coroutine's executor, which must be the client's; the elector must
  /// outlive the operation.
  boost::asio::awaitable<std::optional<leader_info>> leader(std::string name);
  /// A stream of `name`'s leaders (see leader_observer), with the session's client.
  ///
  /// Throws invalid_argument for an empty name.
  leader_observer observe(std::string name);

 private:
  std::shared_ptr<detail::session_state> session_;
};

}  // namespace coordination
