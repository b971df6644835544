#include "coordination/registry.hpp"
#include "client/access.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "detail/cancelled.hpp"
#include "protocol/text.hpp"
#include "recipes/registry/record.hpp"
#include "recipes/registry/registry_state.hpp"

namespace coordination {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

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
asio::awaitable<service_update> service_watch::next() {
  auto s = state_;
  if (!s) throw coordination_error(error::cancelled, "empty service_watch");
  while (s->queue.empty() && !s->cancelled) {
    co_await detail::wait_signal(s->signal, "service_watch::next");
  }
  if (s->queue.empty()) throw coordination_error(error::cancelled, "service watch cancelled");
  auto l = std::move(s->queue.front());
  s->queue.pop_front();
  auto update = detail::diff_instances(s->delivered, l);
  s->delivered = std::move(l);
  co_return update;
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

  detail::span_scope span(detail::impl_of(self->owner).tracer, "registry.register");
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
    // (the registry's late-copy watches leave the key alone from here on)
    self->registering.insert(key);
    struct done_registering {
      detail::registry_state& st;
      const std::string& key;
      ~done_registering() { st.registering.erase(st.registering.find(key)); }
    } registering{*self, key};
    auto revision = co_await self->put_registration(*reg, info.lease, options.replace, ours);
    reg->info.revision = revision;
    if (auto old = self->registrations.find(key); old != self->registrations.end())
      old->second->stop();
    self->registrations[key] = reg;
    if (self->options.enable_health_check)
      detail::impl_of(self->owner)
          .tasks.spawn("health check of " + key, detail::registry_state::check_loop(self, reg));
    span.ok();
    co_return reg->info;
  } catch (...) {
    span.fail(std::current_exception());
    throw;
  }
}

asio::awaitable<void> service_registry::deregister(std::string name, std::string instance_id) {
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
  detail::span_scope span(detail::impl_of(self->owner).tracer, "registry.deregister");
  span.attr("name", name).attr("instance", instance_id);
  try {
    // Reads the instance, then deletes that incarnation of it (a txn on its create revision):
    // resent after any failure, since deleting it twice is deleting it once, and a late copy
    // cannot delete a later registration of the same id.
    auto now = co_await self->owner.get(key);
    if (!now && !own)
      throw coordination_error(error::not_found,
                               "service " + name + " has no instance " + instance_id);
    if (now) {
      std::optional<compare> that =
          compare::create_revision(key, compare_result::equal, now->create_revision);
      co_await detail::delete_own_key(detail::impl_of(self->owner), key, that);
    }
  } catch (...) {
    span.fail(std::current_exception());
    throw;
  }
  span.ok();
}

asio::awaitable<void> service_registry::update_health(std::string name, std::string instance_id,
                                                      health_status status) {
  auto self = state_;
  self->check_open();
  detail::check_name(name);
  detail::check_instance_id(instance_id);
  co_await self->write_health(name, instance_id, status);
}

asio::awaitable<service_list> service_registry::discover(std::string name) {
  auto self = state_;
  if (auto it = self->caches.find(name); it != self->caches.end() && it->second->ready)
    co_return it->second->healthy;
  auto c = co_await self->ready_cache(name);
  co_return c->healthy;
}

asio::awaitable<service_list> service_registry::discover_all(std::string name) {
  auto self = state_;
  auto c = co_await self->ready_cache(name);
  co_return c->all;
}

service_list service_registry::cached(const std::string& name, bool healthy_only) const {
  auto it = state_->caches.find(name);
  if (it == state_->caches.end() || !it->second->ready) return nullptr;
  return healthy_only ? it->second->healthy : it->second->all;
}

asio::awaitable<service_watch> service_registry::watch(std::string name) {
  auto self = state_;
  auto c = co_await self->ready_cache(name);
  auto sub = std::make_shared<detail::service_subscriber>(self->executor);
  sub->queue.push_back(c->all);
  c->subscribers.push_back(sub);
  co_return detail::access::make_service_watch(std::move(sub));
}

asio::awaitable<service_info> service_registry::pick(std::string name, pick_strategy strategy) {
  auto self = state_;
  auto c = co_await self->ready_cache(name);
  auto list = c->healthy;
  auto* chosen = self->choose(*c, list, {}, strategy);
  if (!chosen)
    throw coordination_error(error::not_found, "service " + name + " has no healthy instance");
  co_return *chosen;
}

asio::awaitable<service_connection> service_registry::connect(std::string name,
                                                              pick_strategy strategy) {
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
      auto sock =
          co_await detail::connect_to(self->executor, pick.address, self->options.connect_timeout);
      c->lb.opened(pick.instance_id);
      co_return detail::access::make_service_connection(std::move(sock), pick, c);
    } catch (const std::exception& e) {
      detail::rethrow_if_cancelled(e);
      last_error = pick.instance_id + " (" + pick.address + "): " + e.what();
      self->note_error(name, pick.instance_id);
    }
  }
  throw coordination_error(error::unavailable,
                           "no instance of service " + name + " could be connected (tried " +
                               std::to_string(tried.size()) + "); last: " + last_error);
}

void service_registry::note_error(const std::string& name, const std::string& instance_id) {
  state_->note_error(name, instance_id);
}

asio::awaitable<wall_time> service_registry::heartbeat(std::string name, std::string instance_id) {
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
  auto self = state_;
  if (!self || self->closed) co_return;
  auto regs = self->registrations;
  self->shutdown();
  for (auto& [key, reg] : regs) {
    try {
      // Our own registration, on our lease: a late copy cannot delete a re-registration of the
      // same id by another process (another lease).
      std::optional<compare> ours;
      if (auto slot = self->leases.find(reg->ttl); slot != self->leases.end() && slot->second.s)
        ours = compare::lease(key, compare_result::equal, slot->second.s->lease());
      co_await detail::delete_own_key(detail::impl_of(self->owner), key, ours);
    } catch (const std::exception& e) {
      detail::rethrow_if_cancelled(e);
      self->log().info("coordination: deregistering {} failed: {}", key, e.what());
    }
  }
  self->registrations.clear();
  for (auto& [ttl, slot] : self->leases)
    if (slot.s) co_await slot.s->close();
  self->leases.clear();
}

}  // namespace coordination
