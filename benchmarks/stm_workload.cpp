// stm-transfer / stm-transfer-bare: money moved between 10 accounts (bench/stm/<i>), one op per
// transfer. stm-transfer runs each through run_stm (default isolation: two reads, then the
// commit; a conflict re-runs it); stm-transfer-bare is the same transfer written by hand: one
// txn reading both accounts, then a txn guarded by their mod revisions, retried on conflict
// (the fewest round trips a correct transfer needs). Run them back to back on the same etcd:
// their ops/s ratio is what the STM costs. `extra.attempts_per_op` counts re-runs.
#include <coordination/stm.hpp>
#include <random>

#include "workload.hpp"

namespace coordination::bench {

namespace {
constexpr int accounts = 10;
std::string account(int i) {
  return "bench/stm/" + std::to_string(i);
}
std::int64_t amount_of(const std::optional<key_value>& kv) {
  return kv ? std::stoll(kv->value) : 0;
}
}  // namespace

asio::awaitable<void> stm_workload(const options& o, client& c, result& r, bool bare) {
  for (int i = 0; i < accounts; ++i) co_await c.put(account(i), "1000000");
  std::uint64_t attempts = 0;
  std::vector<std::mt19937> gens;
  for (int i = 0; i < o.clients; ++i) gens.emplace_back(i);
  co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
    auto& gen = gens[static_cast<std::size_t>(i)];
    int from = static_cast<int>(gen() % accounts);
    int to = (from + 1 + static_cast<int>(gen() % (accounts - 1))) % accounts;
    if (!bare) {
      stm_result res = co_await run_stm(c, [&](stm_txn& t) -> asio::awaitable<void> {
        auto a = co_await t.get(account(from));
        auto b = co_await t.get(account(to));
        std::int64_t x = a ? std::stoll(*a) : 0, y = b ? std::stoll(*b) : 0;
        t.put(account(from), std::to_string(x - 1));
        t.put(account(to), std::to_string(y + 1));
      });
      attempts += static_cast<std::uint64_t>(res.attempts);
      co_return;
    }
    for (;;) {
      ++attempts;
      txn_request read;
      read.success.push_back(range_op{account(from), {}});
      read.success.push_back(range_op{account(to), {}});
      txn_result got = co_await c.txn(std::move(read));
      auto kv_at = [&](std::size_t k) -> std::optional<key_value> {
        auto& rr = std::get<range_result>(got.responses.at(k));
        if (rr.kvs.empty()) return std::nullopt;
        return rr.kvs.front();
      };
      auto a = kv_at(0), b = kv_at(1);
      txn_request write;
      write.compares.push_back(
          compare::mod_revision(account(from), compare_result::equal, a ? a->mod_revision : 0));
      write.compares.push_back(
          compare::mod_revision(account(to), compare_result::equal, b ? b->mod_revision : 0));
      write.success.push_back(put_op{account(from), std::to_string(amount_of(a) - 1), {}});
      write.success.push_back(put_op{account(to), std::to_string(amount_of(b) + 1), {}});
      txn_result w = co_await c.txn(std::move(write));
      if (w.succeeded) co_return;
    }
  });
  r.extra["attempts_per_op"] =
      r.ops ? static_cast<double>(attempts) / static_cast<double>(r.ops) : 0.0;
}

}  // namespace coordination::bench
