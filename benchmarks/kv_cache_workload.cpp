// kv-cache: what a kv_cache of --keys keys (values of --value-size bytes, under bench/kvcache/)
// costs in memory and serves in lookups, each beside its baseline in the same run:
//   - memory: heap bytes per key held by the open cache (measured with mallinfo2 around open(),
//     the read's own buffers freed), against a std::map<std::string, std::string> filled from
//     the same range (the simplest local copy), and the payload (key + value bytes);
//   - lookups/s of kv_cache::get() (a copy of the key_value) and of a snapshot's find() (no
//     copy), against the same std::map's find(), over the keys in random order; op = one get();
//   - and a serializable get from etcd with --clients coroutines: the round trip a lookup in
//     the cache saves (`etcd_gets_per_s`).
#include <malloc.h>

#include <algorithm>
#include <coordination/kv_cache.hpp>
#include <map>
#include <random>

#include "workload.hpp"

namespace coordination::bench {

namespace {
const std::string prefix = "bench/kvcache/";
std::size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}
std::string key_of(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%08d", prefix.c_str(), i);
  return buf;
}
// Calls `lookup(key)` over `keys` (again and again) for `seconds`; lookups per second.
template <class F>
double lookups_per_s(const std::vector<std::string>& keys, double seconds, F lookup,
                     std::uint64_t& count) {
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                         std::chrono::duration<double>(seconds));
  std::size_t sink = 0, at = 0;
  count = 0;
  while (clock_type::now() < end) {
    for (int k = 0; k < 1024; ++k) {
      sink += lookup(keys[at]);
      if (++at == keys.size()) at = 0;
    }
    count += 1024;
  }
  if (sink == 42) std::puts("");  // keep the loop
  return static_cast<double>(count) /
         std::chrono::duration<double>(clock_type::now() - start).count();
}
}  // namespace

asio::awaitable<void> kv_cache_workload(const options& o, client& c, result& r) {
  std::string value(static_cast<std::size_t>(o.value_size), 'v');
  co_await c.del(prefix, [] {
    delete_options d;
    d.prefix = true;
    return d;
  }());
  for (int i = 0; i < o.keys; i += 100) {  // set-up: txns of 100 puts
    txn_request t;
    for (int k = i; k < std::min(o.keys, i + 100); ++k)
      t.success.push_back(put_op{key_of(k), value, {}});
    co_await c.txn(std::move(t));
  }
  std::vector<std::string> keys;
  for (int i = 0; i < o.keys; ++i) keys.push_back(key_of(i));
  std::shuffle(keys.begin(), keys.end(), std::mt19937(1));

  std::size_t before = heap_in_use();
  std::map<std::string, std::string> copy;
  {
    auto all = co_await c.get_prefix(prefix);
    for (auto& kv : all.kvs) copy.emplace(std::move(kv.key), std::move(kv.value));
  }
  std::size_t map_bytes = heap_in_use() - before;
  before = heap_in_use();
  kv_cache cache = co_await kv_cache::open(c, prefix);
  std::size_t cache_bytes = heap_in_use() - before;
  if (cache.list().size() != static_cast<std::size_t>(o.keys) || copy.size() != cache.list().size())
    throw std::runtime_error("kv-cache: the cache does not hold every key");

  double slice = o.duration / 4;
  std::uint64_t n = 0;
  double map_rate = lookups_per_s(
      keys, slice, [&](const std::string& k) { return copy.find(k)->second.size(); }, n);
  kv_snapshot snap = cache.list();
  double find_rate = lookups_per_s(
      keys, slice, [&](const std::string& k) { return snap.find(k)->value.size(); }, n);
  auto t0 = clock_type::now();
  double get_rate = lookups_per_s(
      keys, slice, [&](const std::string& k) { return cache.get(k)->value.size(); }, r.ops);
  r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();

  // The round trip a lookup saves: serializable gets of the same keys from etcd.
  options remote = o;
  remote.duration = slice;
  result gets;
  range_options ro;
  ro.serializable = true;
  std::vector<std::size_t> at(static_cast<std::size_t>(o.clients), 0);
  co_await closed_loop(remote, gets, [&](int i) -> asio::awaitable<void> {
    auto& pos = at[static_cast<std::size_t>(i)];
    pos = (pos + 7919) % keys.size();
    auto res = co_await c.range(keys[pos], ro);
    if (res.kvs.empty()) throw std::runtime_error("kv-cache: a key is missing in etcd");
  });
  double etcd_rate = static_cast<double>(gets.ops) / std::max(gets.seconds, 1e-9);

  double payload = 0;
  for (auto& [k, v] : copy) payload += static_cast<double>(k.size() + v.size());
  double per = static_cast<double>(o.keys);
  r.extra["keys"] = o.keys;
  r.extra["payload_bytes_per_key"] = payload / per;
  r.extra["cache_bytes_per_key"] = static_cast<double>(cache_bytes) / per;
  r.extra["baseline_map_bytes_per_key"] = static_cast<double>(map_bytes) / per;
  r.extra["cache_vs_map_memory"] =
      static_cast<double>(cache_bytes) / static_cast<double>(map_bytes);
  r.extra["get_per_s"] = get_rate;
  r.extra["snapshot_find_per_s"] = find_rate;
  r.extra["baseline_map_find_per_s"] = map_rate;
  r.extra["find_vs_map"] = find_rate / map_rate;
  r.extra["get_vs_map"] = get_rate / map_rate;
  r.extra["etcd_gets_per_s"] = etcd_rate;
  r.extra["get_vs_etcd"] = get_rate / std::max(etcd_rate, 1e-9);
  cache.close();
}

}  // namespace coordination::bench
