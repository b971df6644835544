#include "recipes/config_center/guarded_write.hpp"

#include <nlohmann/json.hpp>

#include "coordination/with_timeout.hpp"

namespace coordination::detail {

namespace asio = boost::asio;

namespace {

// Enough rounds for a lost answer or two in a row; after them the outcome is left unknown.
constexpr int max_rounds = 4;
constexpr std::chrono::seconds watch_limit{10};

// Whether the meta key's first change after the read carried our id (its revision if so).
asio::awaitable<std::optional<std::int64_t>> first_change(client& c, const guarded_write& w) {
  watch_options o;
  o.start_revision = w.read_revision + 1;
  try {
    auto stream = co_await c.watch(w.meta_key, o);
    for (;;) {
      auto batch = co_await with_timeout(stream.next(), watch_limit);
      if (batch.events.empty()) continue;
      auto& e = batch.events.front();
      if (e.type == event_type::put && write_id_of(e.kv.value) == w.write_id)
        co_return e.kv.mod_revision;
      co_return std::nullopt;
    }
  } catch (const coordination_error& e) {
    if (e.code() != error::compacted && e.code() != error::timeout) throw;
    throw coordination_error(error::outcome_unknown,
                             w.meta_key + ": a write whose answer was lost may have been applied " +
                                 "(its history is gone: " + e.what() + ")");
  }
}

}  // namespace

std::string write_id_of(const std::string& meta_json) {
  auto j = nlohmann::json::parse(meta_json, nullptr, false);
  if (!j.is_object()) return {};
  auto it = j.find("write_id");
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

namespace {

// What send_guarded() does once a copy may have been applied: any failure but a cancellation
// leaves the outcome unknown (an `unavailable` would promise "not applied").
[[noreturn]] void unknown_after(const coordination_error& e, const std::string& meta_key) {
  if (e.code() == error::cancelled || e.code() == error::outcome_unknown) throw e;
  throw coordination_error(
      error::outcome_unknown,
      meta_key + ": a write whose answer was lost may have been applied (" + e.what() + ")");
}

}  // namespace

asio::awaitable<std::optional<std::int64_t>> send_guarded(client& c, guarded_write w) {
  w.txn.idempotent = false;    // (a lost answer must come back here, not be resent blindly)
  bool more_than_one = false;  // copies sent: a failed compare may then be our own earlier copy
  std::string lost;
  for (int round = 0; round < max_rounds; ++round) {
    bool unknown = false;
    std::optional<coordination_error> failure;
    try {
      txn_request copy = w.txn;
      auto r = co_await c.txn(std::move(copy));
      if (r.succeeded) co_return r.header.revision;
      if (!more_than_one) co_return std::nullopt;  // our only copy failed its compare
    } catch (const coordination_error& e) {
      if (e.code() == error::outcome_unknown || e.code() == error::timeout) {
        lost = e.what();
        unknown = true;
      } else if (!more_than_one) {
        throw;  // (nothing of ours can have been applied: the error says so)
      } else {
        failure = e;
      }
    }
    if (failure) unknown_after(*failure, w.meta_key);
    more_than_one = true;
    std::optional<key_value> meta;
    try {
      meta = co_await c.get(w.meta_key);
    } catch (const coordination_error& e) {
      failure = e;
    }
    if (failure) unknown_after(*failure, w.meta_key);
    if (meta && write_id_of(meta->value) == w.write_id) co_return meta->mod_revision;
    const std::int64_t now = meta ? meta->mod_revision : 0;
    if (now != w.meta_revision) {
      std::optional<std::int64_t> first;
      try {
        first = co_await first_change(c, w);
      } catch (const coordination_error& e) {
        failure = e;
      }
      if (failure) unknown_after(*failure, w.meta_key);
      co_return first;
    }
    // Unchanged: no copy of ours was applied so far. After a lost answer, the same txn again
    // (whichever copy lands first is the only one); after a failed compare, the value key was
    // changed around the config center, and no copy can ever apply.
    if (!unknown) co_return std::nullopt;
  }
  throw coordination_error(error::outcome_unknown,
                           lost + " (the answers of " + std::to_string(max_rounds) +
                               " copies were lost; it may have been applied)");
}

}  // namespace coordination::detail
