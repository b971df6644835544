#include "coordination/election.hpp"
#include "client/access.hpp"

#include "recipes/lock/lock_recipe.hpp"

namespace coordination {

namespace asio = boost::asio;

namespace {

leader_info to_info(const std::string& name, const key_value& kv) {
  leader_info i;
  i.name = name;
  i.key = kv.key;
  i.value = kv.value;
  i.create_revision = kv.create_revision;
  i.mod_revision = kv.mod_revision;
  i.lease = kv.lease;
  return i;
}

void check_name(const std::string& name) {
  if (name.empty())
    throw coordination_error(error::invalid_argument, "election name: must not be empty");
}

}  // namespace

leadership::leadership(lock_handle h, std::string value)
    : handle_(std::move(h)), value_(std::move(value)) {}

asio::awaitable<void> leadership::proclaim(std::string value) {
  if (!handle_.held())
    throw coordination_error(error::not_leader, "election " + name() + ": not the leader");
  put_options keep;
  keep.lease = handle_.lease();
  std::vector<txn_op> ops;
  ops.push_back(put_op{handle_.key(), value, keep});
  bool gone = false;
  detail::span_scope span(detail::tracer_of(handle_), "election.proclaim");
  span.attr("key", key());
  try {
    co_await handle_.guarded_txn({}, std::move(ops));  // only while the key is still ours
  } catch (const coordination_error& e) {
    if (e.code() != error::lock_lost) {
      span.fail(e.code(), e.diagnostic());
      throw;
    }
    gone = true;
  }
  if (gone) {
    coordination_error lost(error::not_leader,
                            "election " + name() + ": the leader key is gone (" + key() + ")");
    span.fail(lost.code(), lost.diagnostic());
    throw lost;
  }
  span.ok();
  value_ = std::move(value);
}

asio::awaitable<void> leadership::resign() {
  co_await handle_.release();
}

leader_observer::leader_observer(client& c, std::string name)
    : client_(std::make_unique<client>(detail::access::share(c))), name_(std::move(name)) {
  check_name(name_);
}

void leader_observer::cancel() {
  cancelled_ = true;
  stream_.cancel();
}

asio::awaitable<std::optional<leader_info>> leader_observer::next() {
  if (!client_) throw coordination_error(error::cancelled, "empty leader_observer");
  const std::string prefix = name_ + "/";
  auto check = [&] {
    if (cancelled_) throw coordination_error(error::cancelled, "leader observer cancelled");
  };
  for (;;) {
    check();
    if (!pending_.empty()) {
      auto i = std::move(pending_.front());
      pending_.pop_front();
      co_return i;
    }
    if (vacant_from_ > 0) {
      // Nobody leads (reported): the first key created from here on is the next leader.
      watch_options first;
      first.prefix = true;
      first.start_revision = vacant_from_;
      first.filter_delete = true;
      bool compacted = false;
      try {
        stream_ = co_await client_->watch(prefix, first);
        check();  // (a cancel() while the watch was being made cancelled the old stream)
        while (!current_) {
          auto b = co_await stream_.next();
          if (!b.events.empty()) {
            current_ = to_info(name_, b.events.front().kv);
            next_revision_ = b.events.front().kv.mod_revision + 1;
          }
        }
      } catch (const coordination_error& e) {
        if (e.code() != error::compacted) throw;
        compacted = true;  // (no co_await in a catch handler: GCC 12)
      }
      if (compacted) {
        // next() came so late that the vacancy's revision is compacted: who leads now? Nobody:
        // still vacant (already reported), wait from now on.
        auto r = co_await client_->range(prefix, detail::first_created());
        check();
        if (r.kvs.empty()) {
          vacant_from_ = r.header.revision + 1;
          continue;
        }
        current_ = to_info(name_, r.kvs[0]);
        next_revision_ = r.header.revision + 1;
      }
      vacant_from_ = 0;
    } else if (!current_) {
      // Who leads at lookup_at_ (the deletion of the last leader's key; 0 at the start: now)?
      auto o = detail::first_created();
      o.revision = lookup_at_;
      range_result r;
      bool compacted = false;
      try {
        r = co_await client_->range(prefix, o);
      } catch (const coordination_error& e) {
        if (e.code() != error::compacted || lookup_at_ == 0) throw;
        compacted = true;  // (no co_await in a catch handler: GCC 12)
      }
      if (compacted) {
        o.revision = 0;
        r = co_await client_->range(prefix, o);
        lookup_at_ = 0;
      }
      check();
      const auto at = lookup_at_ > 0 ? lookup_at_ : r.header.revision;
      lookup_at_ = 0;
      if (r.kvs.empty()) {
        vacant_from_ = at + 1;
        co_return std::nullopt;
      }
      current_ = to_info(name_, r.kvs[0]);
      next_revision_ = at + 1;
    }
    if (current_ && !on_key_) {
      check();
      watch_options on_key;
      on_key.start_revision = next_revision_;
      stream_ = co_await client_->watch(current_->key, on_key);
      check();
      on_key_ = true;
      co_return *current_;
    }
    // The leader proclaims (puts) or goes (delete: find the next one at that revision).
    auto b = co_await stream_.next();
    for (auto& e : b.events) {
      if (e.type == event_type::del) {
        current_.reset();
        on_key_ = false;
        lookup_at_ = e.kv.mod_revision;
        stream_.cancel();
        pending_.clear();
        break;
      }
      auto create = current_->create_revision;
      current_ = to_info(name_, e.kv);
      current_->create_revision = create;
      pending_.push_back(*current_);
    }
  }
}

asio::awaitable<std::optional<leader_info>> current_leader(client& c, std::string name) {
  check_name(name);
  auto r = co_await c.range(name + "/", detail::first_created());
  if (r.kvs.empty()) co_return std::nullopt;
  co_return to_info(name, r.kvs[0]);
}

leader_observer observe_leader(client& c, std::string name) {
  return leader_observer(c, std::move(name));
}

elector::elector(session& s) : session_(detail::access::state(s)) {}

asio::awaitable<leadership> elector::campaign(std::string name, std::string value) {
  check_name(name);
  auto h = co_await detail::acquire_mutex(session_, name, true, value, "election");
  co_return leadership(std::move(h), std::move(value));
}

asio::awaitable<std::optional<leader_info>> elector::leader(std::string name) {
  return current_leader(*session_->owner, std::move(name));
}

leader_observer elector::observe(std::string name) {
  return leader_observer(*session_->owner, std::move(name));
}

}  // namespace coordination
