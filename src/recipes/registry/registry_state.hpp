// The state behind a service_registry: its leases (one session per TTL), registrations, health
// checks and discovery caches, with the coroutines that keep them (owned by the client's task
// group). The pick itself is balancer's (sans-io); records and names are record.hpp's.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/kv_cache.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "recipes/registry/balancer.hpp"

namespace coordination::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

struct service_subscriber {
  explicit service_subscriber(asio::any_io_executor ex) : signal(ex, steady::time_point::max()) {}
  std::deque<service_list> queue;
  service_list delivered;  // the last list next() returned (the deltas' base)
  asio::steady_timer signal;
  bool cancelled = false;
  static constexpr std::size_t max_queued = 1024;
  void push(service_list l) {
    queue.push_back(std::move(l));
    if (queue.size() > max_queued) queue.pop_front();
    signal.cancel();
  }
  void cancel() {
    cancelled = true;
    signal.cancel();
  }
};

struct service_cache {
  service_cache(asio::any_io_executor ex, balancer::options o)
      : ready_signal(ex, steady::time_point::max()), lb(o) {}
  std::string name, prefix;
  std::map<std::string, service_info> instances;  // by instance id
  service_list all = std::make_shared<const std::vector<service_info>>();
  service_list healthy = all;
  bool ready = false;
  bool stopped = false;
  std::exception_ptr load_error;
  asio::steady_timer ready_signal;
  std::vector<std::weak_ptr<service_subscriber>> subscribers;
  std::optional<kv_cache> kv;  // the prefix's keys, kept current by its watch
  kv_cache_watch changes;      // kv's change stream, from the snapshot the instances start at
  std::uint64_t reloads_counted = 0;          // kv's re-reads already added to the registry's stats
  balancer lb;                                // picks, open service_connections, down marks
  detail::client_metrics* metrics = nullptr;  // the owner's, or null
  bool counted = false;                       // in the metrics' cached services
  std::size_t counted_instances = 0;

  // Metrics: this cache's services (1 while live) and instances, as deltas.
  void report() {
    if (!metrics) return;
    bool live = !stopped;
    std::size_t now = live ? instances.size() : 0;
    metrics->registry_cache_delta(
        static_cast<std::int64_t>(live) - static_cast<std::int64_t>(counted),
        static_cast<std::int64_t>(now) - static_cast<std::int64_t>(counted_instances));
    counted = live;
    counted_instances = now;
  }

  void publish() {
    auto a = std::make_shared<std::vector<service_info>>();
    auto h = std::make_shared<std::vector<service_info>>();
    a->reserve(instances.size());
    for (auto& [id, i] : instances) {
      a->push_back(i);
      if (i.health == health_status::healthy) h->push_back(i);
    }
    lb.retain(*a);
    all = std::move(a);
    healthy = std::move(h);
    report();
    std::erase_if(subscribers, [&](auto& w) {
      auto s = w.lock();
      if (!s || s->cancelled) return true;
      s->push(all);
      return false;
    });
  }

  void stop() {
    stopped = true;
    report();
    if (kv) kv->close();
    changes.cancel();
    ready_signal.cancel();
    for (auto& w : subscribers)
      if (auto s = w.lock()) s->cancel();
    subscribers.clear();
  }
};

struct registration {
  explicit registration(asio::any_io_executor ex) : check_timer(ex) {}
  service_info info;
  std::chrono::seconds ttl{};
  std::function<asio::awaitable<bool>()> check;
  bool active = true;
  asio::steady_timer check_timer;
  void stop() {
    active = false;
    check_timer.cancel();
  }
};

struct lease_slot {
  std::optional<session> s;
  std::set<std::int64_t> old_leases;  // leases of this registry that were lost
  bool recovering = false;
};

// Connects to a service instance's "host:port" within `timeout`.
asio::awaitable<tcp::socket> connect_to(asio::any_io_executor ex, const std::string& address,
                                        std::chrono::milliseconds timeout);

struct registry_state : std::enable_shared_from_this<registry_state> {
  registry_state(client& c, registry_options o)
      : owner(detail::access::share(c)),
        executor(c.get_executor()),
        options(std::move(o)),
        rng(std::random_device{}()) {}

  client owner;
  asio::any_io_executor executor;
  registry_options options;
  std::mt19937_64 rng;
  std::map<std::chrono::seconds, lease_slot> leases;
  std::map<std::string, std::shared_ptr<registration>> registrations;  // by etcd key
  // Keys whose register_service() is writing them (not yet in registrations): the late-copy
  // watch leaves them alone.
  std::multiset<std::string> registering;
  std::map<std::string, std::shared_ptr<service_cache>> caches;  // by service name
  registry_stats counters;
  bool closed = false;

  spdlog::logger& log() { return *detail::impl_of(owner).log; }
  std::string service_prefix(const std::string& name) const { return options.prefix + name + "/"; }
  std::string key_of(const std::string& name, const std::string& id) const {
    return service_prefix(name) + id;
  }

  void check_open() const {
    if (closed) throw coordination_error(error::cancelled, "the service registry is closed");
  }

  // ---- leases ------------------------------------------------------------------------------
  asio::awaitable<session*> session_for(std::chrono::seconds ttl);

  void lease_lost(std::chrono::seconds ttl);

  static asio::awaitable<void> recover(std::shared_ptr<registry_state> self,
                                       std::chrono::seconds ttl);

  // Writes a registration bound to `lease`: creates the key, or takes it over when it is bound
  // to this lease, one of `ours`, or `replace`. Throws conflict when someone else holds it.
  asio::awaitable<std::int64_t> put_registration(const registration& reg, std::int64_t lease,
                                                 bool replace, const std::set<std::int64_t>& ours);
  // A create of `key` on `lease` that may be applied again late: the lease's session deletes a
  // copy made after revision `after` while this registry does not hold the key.
  void watch_late_copies(const std::string& key, std::int64_t lease, std::int64_t after);

  // ---- health ------------------------------------------------------------------------------
  asio::awaitable<void> write_health(const std::string& name, const std::string& id,
                                     health_status status);

  static asio::awaitable<void> check_loop(std::shared_ptr<registry_state> self,
                                          std::shared_ptr<registration> reg);

  // ---- discovery cache ---------------------------------------------------------------------
  std::shared_ptr<service_cache> cache_for(const std::string& name);

  asio::awaitable<std::shared_ptr<service_cache>> ready_cache(const std::string& name);

  static asio::awaitable<void> cache_loop(std::shared_ptr<registry_state> self,
                                          std::shared_ptr<service_cache> c);

  // One healthy instance not in `tried` (see balancer::pick), or nullptr.
  const service_info* choose(service_cache& c, const service_list& list,
                             const std::set<std::string>& tried, pick_strategy strategy) {
    return c.lb.pick(*list, tried, strategy, steady::now(), rng());
  }

  void note_error(const std::string& name, const std::string& id);

  void shutdown();
};

}  // namespace coordination::detail
