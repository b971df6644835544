#include "coordination/registry.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "client/client_impl.hpp"
#include "coordination/session.hpp"
#include "coordination/with_timeout.hpp"
#include "detail/cancelled.hpp"
#include "protocol/text.hpp"
#include "recipes/registry/balancer.hpp"

namespace coordination {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char* to_string(health_status h) {
  switch (h) {
    case health_status::healthy:
      return "healthy";
    case health_status::unhealthy:
      return "unhealthy";
    case health_status::maintenance:
      return "maintenance";
    case health_status::unknown:
      break;
  }
  return "unknown";
}

std::optional<health_status> parse_health_status(std::string_view s) {
  for (auto h : {health_status::unknown, health_status::healthy, health_status::unhealthy,
                 health_status::maintenance})
    if (s == to_string(h)) return h;
  return std::nullopt;
}

std::optional<pick_strategy> parse_pick_strategy(std::string_view s) {
  if (s == "round-robin") return pick_strategy::round_robin;
  if (s == "random") return pick_strategy::random;
  if (s == "weighted") return pick_strategy::weighted;
  if (s == "least-conn") return pick_strategy::least_connections;
  return std::nullopt;
}

void registry_options::validate() const {
  auto bad = [](const char* field, const char* why) {
    throw coordination_error(error::invalid_argument, std::string(field) + ": " + why);
  };
  if (prefix.empty()) bad("registry.prefix", "must not be empty");
  if (ttl < 1s || ttl > 24h) bad("registry.ttl", "must be between 1 s and 24 h");
  if (health_check_interval < 10ms) bad("registry.health_check_interval", "must be >= 10 ms");
  if (errors_before_down < 1) bad("registry.errors_before_down", "must be >= 1");
  if (down_period.count() < 0) bad("registry.down_period", "must not be negative");
  if (connect_timeout.count() <= 0) bad("registry.connect_timeout", "must be positive");
}

namespace detail {

struct service_subscriber {
  explicit service_subscriber(asio::any_io_executor ex) : signal(ex, steady::time_point::max()) {}
  std::deque<service_list> queue;
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
  watch_stream stream;
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
    stream.cancel();
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

namespace {

bool valid_token(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > 128) return false;
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || extra.find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

void check_name(std::string_view name) {
  if (!valid_token(name, ""))
    throw coordination_error(
        error::invalid_argument,
        "service name: want 1-128 characters of [A-Za-z0-9._-], got '" + std::string(name) + "'");
}
void check_instance_id(std::string_view id) {
  if (!valid_token(id, ":@"))
    throw coordination_error(
        error::invalid_argument,
        "instance id: want 1-128 characters of [A-Za-z0-9._:@-], got '" + std::string(id) + "'");
}

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

std::optional<host_port> split_address(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return std::nullopt;
  host_port hp;
  hp.host = std::string(a.substr(0, colon));
  auto port = a.substr(colon + 1);
  if (port.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  hp.port = static_cast<std::uint16_t>(v);
  if (hp.host.front() == '[') {
    if (hp.host.size() < 3 || hp.host.back() != ']') return std::nullopt;
    hp.host = hp.host.substr(1, hp.host.size() - 2);
    boost::system::error_code ec;
    asio::ip::make_address_v6(hp.host, ec);
    if (ec) return std::nullopt;
  } else if (hp.host.find(':') != std::string::npos ||
             hp.host.find_first_of(" /\t") != std::string::npos) {
    return std::nullopt;
  }
  return hp;
}

void check_address(std::string_view a) {
  if (!split_address(a))
    throw coordination_error(error::invalid_argument,
                             "address: want host:port (port 1-65535, IPv6 as [addr]:port), got '" +
                                 std::string(a) + "'");
}

void check_ttl(std::chrono::seconds ttl) {
  if (ttl < 1s || ttl > 24h)
    throw coordination_error(error::invalid_argument, "ttl: must be between 1 s and 24 h, got " +
                                                          std::to_string(ttl.count()) + " s");
}

json encode_record(const service_info& i, std::chrono::seconds ttl, wall_time updated) {
  json j{{"name", i.name},
         {"id", i.instance_id},
         {"address", i.address},
         {"health", to_string(i.health)},
         {"weight", i.weight},
         {"metadata", i.metadata},
         {"registered_ms", to_unix_ms(i.register_time)},
         {"updated_ms", to_unix_ms(updated)},
         {"ttl", ttl.count()}};
  return j;
}

// A record as stored under `prefix`: name and id come from the key. nullopt for garbage.
std::optional<service_info> decode_record(const key_value& kv, const std::string& service_prefix,
                                          const std::string& name) {
  if (kv.key.size() <= service_prefix.size()) return std::nullopt;
  auto j = json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  service_info i;
  i.name = name;
  i.instance_id = kv.key.substr(service_prefix.size());
  try {
    i.address = j.value("address", "");
    i.health = parse_health_status(j.value("health", "unknown")).value_or(health_status::unknown);
    i.weight = j.value("weight", 1u);
    if (auto m = j.find("metadata"); m != j.end() && m->is_object())
      for (auto& [k, v] : m->items())
        if (v.is_string()) i.metadata[k] = v.get<std::string>();
    i.register_time = from_unix_ms(j.value("registered_ms", std::int64_t{0}));
    i.last_heartbeat = from_unix_ms(j.value("updated_ms", std::int64_t{0}));
  } catch (const json::exception&) {
    return std::nullopt;
  }
  i.lease = kv.lease;
  i.revision = kv.mod_revision;
  return i;
}

asio::awaitable<tcp::socket> connect_to(asio::any_io_executor ex, const std::string& address,
                                        std::chrono::milliseconds timeout) {
  auto hp = split_address(address);
  if (!hp) throw coordination_error(error::invalid_argument, "address: bad '" + address + "'");
  auto attempt = [ex, hp]() -> asio::awaitable<std::optional<tcp::socket>> {
    tcp::resolver resolver(ex);
    auto endpoints =
        co_await resolver.async_resolve(hp->host, std::to_string(hp->port), asio::use_awaitable);
    tcp::socket s(ex);
    co_await asio::async_connect(s, endpoints, asio::use_awaitable);
    co_return std::optional<tcp::socket>(std::move(s));
  };
  auto s = co_await with_timeout(attempt(), timeout);
  co_return std::move(*s);
}

}  // namespace

struct registry_state : std::enable_shared_from_this<registry_state> {
  registry_state(client& c, registry_options o)
      : owner(c.impl().shared_from_this()),
        executor(c.get_executor()),
        options(std::move(o)),
        rng(std::random_device{}()) {}

  client owner;
  asio::any_io_executor executor;
  registry_options options;
  std::mt19937_64 rng;
  std::map<std::chrono::seconds, lease_slot> leases;
  std::map<std::string, std::shared_ptr<registration>> registrations;  // by etcd key
  std::map<std::string, std::shared_ptr<service_cache>> caches;        // by service name
  registry_stats counters;
  bool closed = false;

  spdlog::logger& log() { return *owner.impl().log; }
  std::string service_prefix(const std::string& name) const { return options.prefix + name + "/"; }
  std::string key_of(const std::string& name, const std::string& id) const {
    return service_prefix(name) + id;
  }

  void check_open() const {
    if (closed) throw coordination_error(error::cancelled, "the service registry is closed");
  }

  // ---- leases ------------------------------------------------------------------------------
  asio::awaitable<session*> session_for(std::chrono::seconds ttl) {
    {
      auto& slot = leases[ttl];
      if (slot.s && !slot.s->lost()) co_return &*slot.s;
    }
    session_options so;
    so.ttl = ttl;
    auto made = co_await session::create(owner, so);
    check_open();
    auto& slot = leases[ttl];
    if (slot.s && !slot.s->lost()) {  // another call made one meanwhile
      co_await made.close();
      co_return &*slot.s;
    }
    if (slot.s) slot.old_leases.insert(slot.s->lease());
    slot.s.emplace(std::move(made));
    std::weak_ptr<registry_state> weak = shared_from_this();
    slot.s->on_lost([weak, ttl](std::error_code) {
      if (auto self = weak.lock()) self->lease_lost(ttl);
    });
    co_return &*slot.s;
  }

  void lease_lost(std::chrono::seconds ttl) {
    if (closed) return;
    auto& slot = leases[ttl];
    if (slot.recovering) return;
    slot.recovering = true;
    log().warn("coordination: registry lease ({} s TTL) lost; registering its instances again",
               ttl.count());
    owner.impl().tasks.spawn("registering services again after a lease loss",
                             recover(shared_from_this(), ttl));
  }

  static asio::awaitable<void> recover(std::shared_ptr<registry_state> self,
                                       std::chrono::seconds ttl) {
    auto backoff = 100ms;
    asio::steady_timer pause(self->executor);
    while (!self->closed) {
      try {
        auto* s = co_await self->session_for(ttl);
        auto ours = self->leases[ttl].old_leases;
        auto regs = self->registrations;  // a copy: entries may go while we wait
        for (auto& [key, reg] : regs) {
          if (!reg->active || reg->ttl != ttl || reg->info.lease == s->lease()) continue;
          try {
            co_await self->put_registration(*reg, s->lease(), false, ours);
            reg->info.lease = s->lease();
            ++self->counters.reregistrations;
            self->log().info("coordination: registered {} again (lease {:x})", key, s->lease());
          } catch (const coordination_error& e) {
            if (e.code() != error::conflict) throw;
            self->log().error("coordination: cannot register {} again: {}", key, e.what());
            reg->stop();
            self->registrations.erase(key);
          }
        }
        if (s->lost()) continue;  // lost again meanwhile: once more
        for (auto old : ours) {
          try {
            co_await self->owner.lease_revoke(old);
          } catch (const std::exception&) {  // gone already, or etcd busy: it expires anyway
          }
          self->leases[ttl].old_leases.erase(old);
        }
        break;
      } catch (const std::exception& e) {
        if (self->closed) break;
        self->log().info("coordination: registering again failed ({}); retrying in {} ms", e.what(),
                         backoff.count());
      }
      pause.expires_after(backoff);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
    }
    self->leases[ttl].recovering = false;
  }

  // Writes a registration bound to `lease`: creates the key, or takes it over when it is bound
  // to this lease, one of `ours`, or `replace`. Throws conflict when someone else holds it.
  asio::awaitable<std::int64_t> put_registration(const registration& reg, std::int64_t lease,
                                                 bool replace, const std::set<std::int64_t>& ours) {
    auto key = key_of(reg.info.name, reg.info.instance_id);
    auto value =
        dump_json(encode_record(reg.info, reg.ttl, std::chrono::system_clock::now()), "metadata");
    for (int attempt = 0; attempt < 8; ++attempt) {
      put_options po;
      po.lease = lease;
      txn_request t;
      t.compares.push_back(compare::create_revision(key, compare_result::equal, 0));
      t.success.push_back(put_op{key, value, po});
      t.failure.push_back(range_op{key, range_options()});
      // Resent after any failure: a put-if-absent whose resend after it was applied finds the
      // key on our lease and takes it over below (the same record).
      t.idempotent = true;
      auto r = co_await owner.txn(std::move(t));
      if (r.succeeded) co_return r.header.revision;
      auto& found = std::get<range_result>(r.responses.at(0)).kvs;
      if (found.empty()) continue;  // deleted meanwhile
      auto& existing = found.front();
      if (existing.lease != lease && !replace && !ours.count(existing.lease))
        throw coordination_error(
            error::conflict, "instance " + reg.info.instance_id + " of service " + reg.info.name +
                                 " is registered by another process; pass replace to take "
                                 "it over");
      txn_request take;
      take.compares.push_back(
          compare::mod_revision(key, compare_result::equal, existing.mod_revision));
      take.success.push_back(put_op{key, value, po});
      take.idempotent = true;  // a compare-and-set: applied at most once
      auto t2 = co_await owner.txn(std::move(take));
      if (t2.succeeded) co_return t2.header.revision;
    }
    throw coordination_error(error::conflict, "instance " + reg.info.instance_id + " of service " +
                                                  reg.info.name + " keeps changing");
  }

  // ---- health ------------------------------------------------------------------------------
  asio::awaitable<void> write_health(const std::string& name, const std::string& id,
                                     health_status status) {
    auto key = key_of(name, id);
    for (int attempt = 0; attempt < 8; ++attempt) {
      auto kv = co_await owner.get(key);
      if (!kv)
        throw coordination_error(error::not_found, "service " + name + " has no instance " + id);
      auto j = json::parse(kv->value, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        throw coordination_error(error::protocol_error,
                                 key + " does not hold a registration record");
      j["health"] = to_string(status);
      j["updated_ms"] = to_unix_ms(std::chrono::system_clock::now());
      put_options keep;
      keep.ignore_lease = true;
      txn_request t;
      t.compares.push_back(compare::mod_revision(key, compare_result::equal, kv->mod_revision));
      t.success.push_back(put_op{key, j.dump(), keep});
      t.idempotent = true;  // a compare-and-set: applied at most once; a lost answer retries
      auto r = co_await owner.txn(std::move(t));
      if (r.succeeded) {
        if (auto it = registrations.find(key); it != registrations.end())
          it->second->info.health = status;
        co_return;
      }
    }
    throw coordination_error(error::conflict, "instance " + id + " of " + name + " keeps changing");
  }

  static asio::awaitable<void> check_loop(std::shared_ptr<registry_state> self,
                                          std::shared_ptr<registration> reg) {
    auto interval = self->options.health_check_interval;
    while (!self->closed && reg->active) {
      reg->check_timer.expires_after(interval);
      co_await reg->check_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->closed || !reg->active) break;
      bool ok = false;
      try {
        if (reg->check) {
          ok = co_await with_timeout(reg->check(), interval);
        } else {
          co_await connect_to(self->executor, reg->info.address, interval);
          ok = true;
        }
      } catch (const std::exception&) {
      }
      if (self->closed || !reg->active) break;
      if (reg->info.health == health_status::maintenance) continue;
      auto want = ok ? health_status::healthy : health_status::unhealthy;
      if (want == reg->info.health) continue;
      try {
        co_await self->write_health(reg->info.name, reg->info.instance_id, want);
        ++self->counters.health_changes;
        self->log().info("coordination: instance {} of {} is now {}", reg->info.instance_id,
                         reg->info.name, to_string(want));
      } catch (const std::exception& e) {
        self->log().info("coordination: recording health of {} failed: {}", reg->info.instance_id,
                         e.what());
      }
    }
  }

  // ---- discovery cache ---------------------------------------------------------------------
  std::shared_ptr<service_cache> cache_for(const std::string& name) {
    auto& slot = caches[name];
    if (!slot) {
      slot = std::make_shared<service_cache>(
          executor, balancer::options{options.errors_before_down, options.down_period});
      slot->name = name;
      slot->prefix = service_prefix(name);
      slot->metrics = owner.impl().metrics.get();
      if (!owner.impl().tasks.spawn("discovery cache of service " + name,
                                    cache_loop(shared_from_this(), slot)))
        slot->stop();  // the client is closed
    }
    return slot;
  }

  asio::awaitable<std::shared_ptr<service_cache>> ready_cache(const std::string& name) {
    check_name(name);
    check_open();
    auto c = cache_for(name);
    while (!c->ready && !c->load_error && !c->stopped) {
      co_await c->ready_signal.async_wait(asio::as_tuple(asio::use_awaitable));
      detail::check_cancelled(co_await asio::this_coro::cancellation_state, "service " + name);
    }
    if (c->load_error) std::rethrow_exception(c->load_error);
    if (!c->ready) throw coordination_error(error::cancelled, "the service registry is closed");
    co_return c;
  }

  static asio::awaitable<void> cache_loop(std::shared_ptr<registry_state> self,
                                          std::shared_ptr<service_cache> c) {
    struct stop_at_exit {  // (also when the client's close() cancels this loop: readers wake)
      std::shared_ptr<service_cache> c;
      ~stop_at_exit() {
        if (!c->stopped) c->stop();
      }
    } guard{c};
    bool first = true;
    asio::steady_timer pause(self->executor);
    while (!self->closed && !c->stopped) {
      std::int64_t revision = 0;
      try {
        auto r = co_await self->owner.get_prefix(c->prefix);
        if (c->stopped) break;
        c->instances.clear();
        for (auto& kv : r.kvs) {
          if (auto i = decode_record(kv, c->prefix, c->name))
            c->instances[i->instance_id] = std::move(*i);
          else
            self->log().warn("coordination: ignoring {}: not a registration record", kv.key);
        }
        revision = r.header.revision;
        if (!first) ++self->counters.cache_reloads;
        c->publish();
        c->ready = true;
        c->ready_signal.cancel();
      } catch (const std::exception& e) {
        if (first) {
          c->load_error = std::current_exception();
          c->ready_signal.cancel();
          auto it = self->caches.find(c->name);
          if (it != self->caches.end() && it->second == c) self->caches.erase(it);
          co_return;
        }
        if (self->closed || c->stopped) break;
        self->log().info("coordination: reloading service {} failed: {}", c->name, e.what());
        revision = -1;
      }
      if (revision < 0) {  // retry the reload in a second
        pause.expires_after(1s);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      first = false;
      try {
        watch_options o;
        o.prefix = true;
        o.start_revision = revision + 1;
        auto stream = co_await self->owner.watch(c->prefix, o);
        if (c->stopped) break;
        c->stream = std::move(stream);
        for (;;) {
          auto batch = co_await c->stream.next();
          for (auto& e : batch.events) {
            auto id = e.kv.key.substr(c->prefix.size());
            if (e.type == event_type::del) {
              c->instances.erase(id);
            } else if (auto i = decode_record(e.kv, c->prefix, c->name)) {
              c->instances[id] = std::move(*i);
            } else {
              self->log().warn("coordination: ignoring {}: not a registration record", e.kv.key);
              c->instances.erase(id);
            }
          }
          if (!batch.events.empty()) c->publish();
        }
      } catch (const coordination_error& e) {
        if (self->closed || c->stopped || e.code() == error::cancelled) break;
        if (e.code() != error::compacted) {
          self->log().info("coordination: watch of service {} ended: {}", c->name, e.what());
        }
      } catch (const std::exception& e) {
        if (self->closed || c->stopped) break;
        self->log().info("coordination: watch of service {} ended: {}", c->name, e.what());
      }
      // Reload from a fresh range (after compaction or a broken watch).
    }
  }

  // One healthy instance not in `tried` (see balancer::pick), or nullptr.
  const service_info* choose(service_cache& c, const service_list& list,
                             const std::set<std::string>& tried, pick_strategy strategy) {
    return c.lb.pick(*list, tried, strategy, steady::now(), rng());
  }

  void note_error(const std::string& name, const std::string& id) {
    auto it = caches.find(name);
    if (it == caches.end()) return;
    if (it->second->lb.note_error(id, steady::now())) {
      log().info("coordination: instance {} of {} marked down for {} ms", id, name,
                 options.down_period.count());
    }
  }

  void shutdown() {
    if (closed) return;
    closed = true;
    for (auto& [k, reg] : registrations) reg->stop();
    for (auto& [n, c] : caches) c->stop();
  }
};

}  // namespace detail

// ---- service_connection --------------------------------------------------------------------

service_connection::service_connection(tcp::socket s, service_info instance,
                                       std::shared_ptr<detail::service_cache> cache)
    : socket_(std::move(s)), instance_(std::move(instance)), cache_(std::move(cache)) {}
service_connection::service_connection(service_connection&& o) noexcept
    : socket_(std::move(o.socket_)),
      instance_(std::move(o.instance_)),
      cache_(std::move(o.cache_)) {}
service_connection& service_connection::operator=(service_connection&& o) noexcept {
  if (this != &o) {
    release();
    socket_ = std::move(o.socket_);
    instance_ = std::move(o.instance_);
    cache_ = std::move(o.cache_);
  }
  return *this;
}
service_connection::~service_connection() {
  release();
}
void service_connection::release() {
  if (!cache_) return;
  cache_->lb.closed(instance_.instance_id);
  cache_.reset();
}
void service_connection::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  release();
}

// ---- service_watch -------------------------------------------------------------------------

service_watch::service_watch() = default;
service_watch::service_watch(std::shared_ptr<detail::service_subscriber> s)
    : state_(std::move(s)) {}
service_watch::service_watch(service_watch&&) noexcept = default;
service_watch& service_watch::operator=(service_watch&& o) noexcept {
  if (this != &o) {
    cancel();
    state_ = std::move(o.state_);
  }
  return *this;
}
service_watch::~service_watch() {
  cancel();
}
void service_watch::cancel() {
  if (state_) state_->cancel();
}
asio::awaitable<service_list> service_watch::next() {
  try {
    auto s = state_;
    if (!s) throw coordination_error(error::cancelled, "empty service_watch");
    while (s->queue.empty() && !s->cancelled) {
      co_await s->signal.async_wait(asio::as_tuple(asio::use_awaitable));
      detail::check_cancelled(co_await asio::this_coro::cancellation_state, "service_watch::next");
    }
    if (s->queue.empty()) throw coordination_error(error::cancelled, "service watch cancelled");
    auto l = std::move(s->queue.front());
    s->queue.pop_front();
    co_return l;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_watch::next");
  }
}

// ---- service_registry ----------------------------------------------------------------------

service_registry::service_registry(client& c, registry_options options) {
  options.validate();
  state_ = std::make_shared<detail::registry_state>(c, std::move(options));
}
service_registry::service_registry(service_registry&&) noexcept = default;
service_registry& service_registry::operator=(service_registry&& o) noexcept {
  if (this != &o) {
    if (state_) state_->shutdown();
    state_ = std::move(o.state_);
  }
  return *this;
}
service_registry::~service_registry() {
  if (!state_) return;
  state_->shutdown();
  state_->leases.clear();  // each session revokes its lease in the background
}

asio::awaitable<service_info> service_registry::register_service(service_info info,
                                                                 std::chrono::seconds ttl,
                                                                 register_options options) {
  try {
    auto self = state_;
    self->check_open();
    detail::check_name(info.name);
    detail::check_instance_id(info.instance_id);
    detail::check_address(info.address);
    if (ttl.count() == 0) ttl = self->options.ttl;
    detail::check_ttl(ttl);
    if (info.weight > 1'000'000)
      throw coordination_error(error::invalid_argument, "weight: must be at most 1000000");
    for (auto& [k, v] : info.metadata)
      if (k.empty()) throw coordination_error(error::invalid_argument, "metadata: empty key");
    detail::dump_json(detail::encode_record(info, ttl, {}), "metadata");  // must be UTF-8

    detail::span_scope span(self->owner.impl().tracer, "registry.register");
    span.attr("name", info.name).attr("instance", info.instance_id);
    try {
      auto* s = co_await self->session_for(ttl);
      auto key = self->key_of(info.name, info.instance_id);
      auto reg = std::make_shared<detail::registration>(self->executor);
      auto now = std::chrono::system_clock::now();
      auto previous = self->registrations.find(key);
      info.register_time = previous != self->registrations.end()
                               ? previous->second->info.register_time
                               : std::chrono::time_point_cast<std::chrono::milliseconds>(now);
      info.lease = s->lease();
      info.last_heartbeat = std::chrono::time_point_cast<std::chrono::milliseconds>(now);
      reg->info = info;
      reg->ttl = ttl;
      reg->check = std::move(options.check);
      std::set<std::int64_t> ours;  // leases whose keys we may take over: only for our own instance
      if (previous != self->registrations.end())
        for (auto& [t, slot] : self->leases) {
          ours.insert(slot.old_leases.begin(), slot.old_leases.end());
          if (slot.s) ours.insert(slot.s->lease());
        }
      auto revision = co_await self->put_registration(*reg, info.lease, options.replace, ours);
      reg->info.revision = revision;
      if (auto old = self->registrations.find(key); old != self->registrations.end())
        old->second->stop();
      self->registrations[key] = reg;
      if (self->options.enable_health_check)
        self->owner.impl().tasks.spawn("health check of " + key,
                                       detail::registry_state::check_loop(self, reg));
      span.ok();
      co_return reg->info;
    } catch (...) {
      span.fail(std::current_exception());
      throw;
    }
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::register_service");
  }
}

asio::awaitable<void> service_registry::deregister(std::string name, std::string instance_id) {
  try {
    auto self = state_;
    self->check_open();
    detail::check_name(name);
    detail::check_instance_id(instance_id);
    auto key = self->key_of(name, instance_id);
    bool own = false;
    if (auto it = self->registrations.find(key); it != self->registrations.end()) {
      it->second->stop();
      self->registrations.erase(it);
      own = true;
    }
    detail::span_scope span(self->owner.impl().tracer, "registry.deregister");
    span.attr("name", name).attr("instance", instance_id);
    try {
      auto r = co_await self->owner.del(key);
      if (r.deleted == 0 && !own)
        throw coordination_error(error::not_found,
                                 "service " + name + " has no instance " + instance_id);
    } catch (...) {
      span.fail(std::current_exception());
      throw;
    }
    span.ok();
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::deregister");
  }
}

asio::awaitable<void> service_registry::update_health(std::string name, std::string instance_id,
                                                      health_status status) {
  try {
    auto self = state_;
    self->check_open();
    detail::check_name(name);
    detail::check_instance_id(instance_id);
    co_await self->write_health(name, instance_id, status);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::update_health");
  }
}

asio::awaitable<service_list> service_registry::discover(std::string name) {
  try {
    auto self = state_;
    if (auto it = self->caches.find(name); it != self->caches.end() && it->second->ready)
      co_return it->second->healthy;
    auto c = co_await self->ready_cache(name);
    co_return c->healthy;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::discover");
  }
}

asio::awaitable<service_list> service_registry::discover_all(std::string name) {
  try {
    auto self = state_;
    auto c = co_await self->ready_cache(name);
    co_return c->all;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::discover_all");
  }
}

service_list service_registry::cached(const std::string& name, bool healthy_only) const {
  auto it = state_->caches.find(name);
  if (it == state_->caches.end() || !it->second->ready) return nullptr;
  return healthy_only ? it->second->healthy : it->second->all;
}

asio::awaitable<service_watch> service_registry::watch(std::string name) {
  try {
    auto self = state_;
    auto c = co_await self->ready_cache(name);
    auto sub = std::make_shared<detail::service_subscriber>(self->executor);
    sub->queue.push_back(c->all);
    c->subscribers.push_back(sub);
    co_return service_watch(std::move(sub));
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::watch");
  }
}

asio::awaitable<service_info> service_registry::pick(std::string name, pick_strategy strategy) {
  try {
    auto self = state_;
    auto c = co_await self->ready_cache(name);
    auto list = c->healthy;
    auto* chosen = self->choose(*c, list, {}, strategy);
    if (!chosen)
      throw coordination_error(error::not_found, "service " + name + " has no healthy instance");
    co_return *chosen;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::pick");
  }
}

asio::awaitable<service_connection> service_registry::connect(std::string name,
                                                              pick_strategy strategy) {
  try {
    auto self = state_;
    auto c = co_await self->ready_cache(name);
    auto list = c->healthy;
    std::set<std::string> tried;
    std::string last_error = "no healthy instance";
    for (;;) {
      auto* chosen = self->choose(*c, list, tried, strategy);
      if (!chosen) break;
      const service_info& pick = *chosen;
      tried.insert(pick.instance_id);
      try {
        auto sock = co_await detail::connect_to(self->executor, pick.address,
                                                self->options.connect_timeout);
        c->lb.opened(pick.instance_id);
        co_return service_connection(std::move(sock), pick, c);
      } catch (const std::exception& e) {
        last_error = pick.instance_id + " (" + pick.address + "): " + e.what();
        self->note_error(name, pick.instance_id);
      }
    }
    throw coordination_error(error::unavailable,
                             "no instance of service " + name + " could be connected (tried " +
                                 std::to_string(tried.size()) + "); last: " + last_error);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::connect");
  }
}

void service_registry::note_error(const std::string& name, const std::string& instance_id) {
  state_->note_error(name, instance_id);
}

asio::awaitable<wall_time> service_registry::heartbeat(std::string name, std::string instance_id) {
  try {
    auto self = state_;
    detail::check_name(name);
    detail::check_instance_id(instance_id);
    auto kv = co_await self->owner.get(self->key_of(name, instance_id));
    if (!kv)
      throw coordination_error(error::not_found,
                               "service " + name + " has no instance " + instance_id);
    auto now = std::chrono::system_clock::now();
    if (kv->lease == 0) co_return now;  // not lease-bound: it does not expire
    auto t = co_await self->owner.lease_time_to_live(kv->lease);
    if (t.ttl < 0)
      throw coordination_error(error::not_found,
                               "service " + name + " instance " + instance_id + ": lease gone");
    co_return now - std::chrono::seconds(t.granted_ttl - t.ttl);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::heartbeat");
  }
}

std::vector<service_info> service_registry::registrations() const {
  std::vector<service_info> out;
  auto wall_now = std::chrono::system_clock::now();
  auto steady_now = steady::now();
  for (auto& [key, reg] : state_->registrations) {
    auto i = reg->info;
    auto slot = state_->leases.find(reg->ttl);
    if (slot != state_->leases.end() && slot->second.s) {
      auto& s = *slot->second.s;
      auto renewed = s.expires_at() - s.ttl();
      i.last_heartbeat =
          wall_now - std::chrono::duration_cast<wall_time::duration>(steady_now - renewed);
    }
    out.push_back(std::move(i));
  }
  return out;
}

registry_stats service_registry::stats() const {
  auto s = state_->counters;
  s.registrations = state_->registrations.size();
  s.cached_services = state_->caches.size();
  for (auto& [n, c] : state_->caches) s.cached_instances += c->instances.size();
  return s;
}

asio::awaitable<void> service_registry::close() {
  try {
    auto self = state_;
    if (!self || self->closed) co_return;
    auto regs = self->registrations;
    self->shutdown();
    for (auto& [key, reg] : regs) {
      try {
        co_await detail::delete_own_key(self->owner.impl(), key);  // our own registration
      } catch (const std::exception& e) {
        self->log().info("coordination: deregistering {} failed: {}", key, e.what());
      }
    }
    self->registrations.clear();
    for (auto& [ttl, slot] : self->leases)
      if (slot.s) co_await slot.s->close();
    self->leases.clear();
  } catch (const boost::system::system_error& e) {
    detail::rethrow_as_library_error(e, "service_registry::close");
  }
}

}  // namespace coordination
