#include "recipes/registry/registry_state.hpp"
#include "client/access.hpp"
#include "detail/backoff.hpp"

#include <boost/asio/connect.hpp>
#include <nlohmann/json.hpp>

#include "coordination/with_timeout.hpp"
#include "detail/cancelled.hpp"
#include "protocol/text.hpp"
#include "recipes/lock/late_copies.hpp"
#include "recipes/registry/record.hpp"

namespace coordination::detail {

using nlohmann::json;
using namespace std::chrono_literals;

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

asio::awaitable<session*> registry_state::session_for(std::chrono::seconds ttl) {
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

void registry_state::lease_lost(std::chrono::seconds ttl) {
  if (closed) return;
  auto& slot = leases[ttl];
  if (slot.recovering) return;
  slot.recovering = true;
  log().warn("coordination: registry lease ({} s TTL) lost; registering its instances again",
             ttl.count());
  detail::impl_of(owner).tasks.spawn("registering services again after a lease loss",
                                     recover(shared_from_this(), ttl));
}

asio::awaitable<void> registry_state::recover(std::shared_ptr<registry_state> self,
                                              std::chrono::seconds ttl) {
  backoff wait(100ms, 5s);
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
                       wait.peek().count());
    }
    pause.expires_after(wait.next());
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  self->leases[ttl].recovering = false;
}

void registry_state::watch_late_copies(const std::string& key, std::int64_t lease,
                                       std::int64_t after) {
  for (auto& [ttl, slot] : leases) {
    if (!slot.s || slot.s->lease() != lease) continue;
    late_copy_watch w;
    w.key = key;
    w.after = after;
    w.what = "registration";
    // A registration of ours there now (registered again) is left alone; so is everything once
    // the registry is gone.
    w.in_use = [weak = weak_from_this(), key] {
      auto self = weak.lock();
      return !self || self->closed || self->registrations.contains(key) ||
             self->registering.contains(key);
    };
    sweep_late_copies(access::state(*slot.s), std::move(w));
  }
}

asio::awaitable<std::int64_t> registry_state::put_registration(const registration& reg,
                                                               std::int64_t lease, bool replace,
                                                               const std::set<std::int64_t>& ours) {
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
    txn_result r;
    std::exception_ptr failed;
    try {
      r = co_await owner.txn(std::move(t));
    } catch (...) {
      failed = std::current_exception();
    }
    if (failed) {
      if (create_may_apply_later(failed)) watch_late_copies(key, lease, 0);
      std::rethrow_exception(failed);
    }
    if (r.succeeded) {
      if (r.earlier_attempt_reached) watch_late_copies(key, lease, r.header.revision);
      co_return r.header.revision;
    }
    auto& found = std::get<range_result>(r.responses.at(0)).kvs;
    if (found.empty()) continue;  // deleted meanwhile
    if (r.earlier_attempt_reached) watch_late_copies(key, lease, found[0].create_revision);
    auto& existing = found.front();
    if (existing.lease != lease && !replace && !ours.count(existing.lease))
      throw coordination_error(error::conflict,
                               "instance " + reg.info.instance_id + " of service " + reg.info.name +
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

asio::awaitable<void> registry_state::write_health(const std::string& name, const std::string& id,
                                                   health_status status) {
  auto key = key_of(name, id);
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto kv = co_await owner.get(key);
    if (!kv)
      throw coordination_error(error::not_found, "service " + name + " has no instance " + id);
    auto j = json::parse(kv->value, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw coordination_error(error::protocol_error, key + " does not hold a registration record");
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

asio::awaitable<void> registry_state::check_loop(std::shared_ptr<registry_state> self,
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

std::shared_ptr<service_cache> registry_state::cache_for(const std::string& name) {
  auto& slot = caches[name];
  if (!slot) {
    slot = std::make_shared<service_cache>(
        executor, balancer::options{options.errors_before_down, options.down_period});
    slot->name = name;
    slot->prefix = service_prefix(name);
    slot->metrics = detail::impl_of(owner).metrics.get();
    if (!detail::impl_of(owner).tasks.spawn("discovery cache of service " + name,
                                            cache_loop(shared_from_this(), slot)))
      slot->stop();  // the client is closed
  }
  return slot;
}

asio::awaitable<std::shared_ptr<service_cache>> registry_state::ready_cache(
    const std::string& name) {
  check_name(name);
  check_open();
  auto c = cache_for(name);
  while (!c->ready && !c->load_error && !c->stopped) {
    co_await detail::wait_signal(c->ready_signal, "service " + name);
  }
  if (c->load_error) std::rethrow_exception(c->load_error);
  if (!c->ready) throw coordination_error(error::cancelled, "the service registry is closed");
  co_return c;
}

namespace {
// One change of a service's keys (from its kv_cache) applied to the instances by id.
void apply_change(service_cache& c, const kv_change& ch, spdlog::logger& log) {
  auto id = ch.kv.key.substr(c.prefix.size());
  if (ch.type == event_type::del) {
    c.instances.erase(id);
  } else if (auto i = decode_record(ch.kv, c.prefix, c.name)) {
    c.instances[id] = std::move(*i);
  } else {
    log.warn("coordination: ignoring {}: not a registration record", ch.kv.key);
    c.instances.erase(id);
  }
}
}  // namespace

// The instances follow a kv_cache of the service's prefix: it reads the keys, keeps its watch,
// and reads again after compaction; each of its updates is decoded and published.
asio::awaitable<void> registry_state::cache_loop(std::shared_ptr<registry_state> self,
                                                 std::shared_ptr<service_cache> c) {
  struct stop_at_exit {  // (also when the client's close() cancels this loop: readers wake)
    std::shared_ptr<service_cache> c;
    ~stop_at_exit() {
      if (!c->stopped) c->stop();
    }
  } guard{c};
  try {
    kv_cache cache = co_await kv_cache::open(self->owner, c->prefix);
    if (c->stopped) co_return;  // (the cache closes with its handle)
    c->changes = cache.watch();
    for (const key_value& kv : cache.list())
      apply_change(*c, kv_change{event_type::put, kv, std::nullopt}, self->log());
    c->kv.emplace(std::move(cache));
  } catch (const std::exception&) {
    c->load_error = std::current_exception();
    c->ready_signal.cancel();
    auto it = self->caches.find(c->name);
    if (it != self->caches.end() && it->second == c) self->caches.erase(it);
    co_return;
  }
  c->publish();
  c->ready = true;
  c->ready_signal.cancel();
  for (;;) {
    kv_cache_update u;
    try {
      u = co_await c->changes.next();
    } catch (const coordination_error&) {
      break;  // cancelled: the registry, the cache or the client closed
    }
    if (std::uint64_t n = c->kv->reloads(); n > c->reloads_counted) {  // (not the overflows)
      self->counters.cache_reloads += n - c->reloads_counted;
      c->reloads_counted = n;
    }
    for (const kv_change& ch : u.changes) apply_change(*c, ch, self->log());
    if (!u.changes.empty()) c->publish();
  }
}

void registry_state::note_error(const std::string& name, const std::string& id) {
  auto it = caches.find(name);
  if (it == caches.end()) return;
  if (it->second->lb.note_error(id, steady::now())) {
    log().info("coordination: instance {} of {} marked down for {} ms", id, name,
               options.down_period.count());
  }
}

void registry_state::shutdown() {
  if (closed) return;
  closed = true;
  for (auto& [k, reg] : registrations) reg->stop();
  for (auto& [n, c] : caches) c->stop();
}

}  // namespace coordination::detail
