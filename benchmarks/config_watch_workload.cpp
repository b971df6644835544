// config-watch / config-watch-bare: what a config watch costs per change. Each client sets its
// own key under one prefix and waits until a second client's watch_prefix delivers that version;
// one op = set() + watch event + (config-watch only) the read of the change's meta. The two
// workloads differ only in config_watch_options::with_meta, so run them back to back on the same
// etcd: their ops/s and client CPU per op are the cost of whole values in changes.
#include <coordination/config_center.hpp>
#include <map>

#include "workload.hpp"

namespace coordination::bench {

asio::awaitable<void> config_watch_workload(const options& o, client& c, result& r,
                                            bool with_meta) {
  auto ex = co_await asio::this_coro::executor;
  config_center_options co;
  co.prefix = "bench/config-watch/";
  config_center writer(c, co);
  client other(ex, c.config());
  config_center view(other, co);
  config_watch_options wo;
  wo.with_meta = with_meta;
  auto w = co_await view.watch_prefix("", wo);
  std::map<std::string, std::int64_t> delivered;  // key -> newest version the watch gave
  std::uint64_t with_metadata = 0;
  asio::steady_timer changed(ex, clock_type::time_point::max());
  bool stop = false, watcher_done = false;
  asio::steady_timer watcher_ended(ex, clock_type::time_point::max());
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        struct on_exit {  // (this frame's state outlives the watcher: it is awaited below)
          bool& done;
          asio::steady_timer& ended;
          ~on_exit() {
            done = true;
            ended.cancel();
          }
        } mark{watcher_done, watcher_ended};
        while (!stop) {
          try {
            auto ch = co_await w.next();
            if (!ch.new_value) continue;
            delivered[ch.key] = ch.new_value->version;
            if (ch.new_value->metadata.count("client")) ++with_metadata;
          } catch (const std::exception&) {
            break;
          }
          changed.cancel();  // wake every waiting client
        }
      },
      asio::detached);
  const std::string value(static_cast<std::size_t>(o.value_size), 'v');
  co_await closed_loop(o, r, [&](int i) -> asio::awaitable<void> {
    const std::string key = "k" + std::to_string(i);
    config_set_options so;
    so.metadata = std::map<std::string, std::string>{{"client", std::to_string(i)}};
    auto v = co_await writer.set(key, value, so);
    while (delivered[key] < v.version)
      co_await changed.async_wait(asio::as_tuple(asio::use_awaitable));
  });
  stop = true;
  w.cancel();
  if (!watcher_done) co_await watcher_ended.async_wait(asio::as_tuple(asio::use_awaitable));
  r.extra["with_meta"] = with_meta;
  r.extra["changes_with_metadata"] = with_metadata;  // 0 for config-watch-bare
  other.close();
}

}  // namespace coordination::bench
