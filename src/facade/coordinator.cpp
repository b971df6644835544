#include "coordination/coordinator.hpp"
#include "client/access.hpp"

#include <spdlog/spdlog.h>

#include <prometheus/registry.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>

#include "client/client_impl.hpp"
#include "detail/cancelled.hpp"
#include "facade/facade_internal.hpp"
#include "protocol/codec.hpp"

namespace coordination {

namespace asio = boost::asio;
using namespace std::chrono_literals;
namespace {

using detail::bad;
using detail::parse_level;

registry_options registry_options_of(const config& c, const std::string& scope) {
  registry_options o;
  o.prefix = c.registry.prefix + scope;
  o.ttl = c.registry.ttl;
  o.enable_health_check = c.registry.enable_health_check;
  o.health_check_interval = c.registry.health_check_interval;
  return o;
}

config_center_options config_options_of(const config& c, const std::string& scope) {
  config_center_options o;
  const auto& root = c.config_center.prefix;
  o.prefix = root + scope;
  auto base = root.substr(0, root.size() - 1);
  o.meta_prefix = base + ".meta/" + scope;
  o.history_prefix = base + ".history/" + scope;
  o.versioning = c.config_center.versioning;
  o.max_version_history = c.config_center.max_history;
  o.validation = c.config_center.validation;
  return o;
}

std::string scope_of(const std::string& module) {
  if (module.empty() || module.find('/') != std::string::npos)
    bad("module name", "must be non-empty and contain no '/'");
  return module + "/";
}

}  // namespace

namespace detail {

struct coordinator_state {
  coordinator_state(asio::any_io_executor ex, config c)
      : settings(std::move(c)),
        etcd(ex, client_settings(settings)),
        registry(etcd, registry_options_of(settings, "")),
        config_center(etcd, config_options_of(settings, "")),
        session_ready(ex, std::chrono::steady_clock::time_point::max()) {}

  // The client's config from the coordinator's: validated, with the logger at log_level and
  // the metrics registry / tracer that enable_metrics / enable_tracing ask for (also written
  // back into `c`, so metrics() finds the registry).
  static client_config client_settings(config& c) {
    c.validate();
    auto cc = c.etcd;
    if (!cc.logger) {
      auto existing = spdlog::get("coordination");
      cc.logger = existing ? existing : spdlog::default_logger()->clone("coordination");
    }
    cc.logger->set_level(*parse_level(c.log_level));
    if (c.enable_metrics && !cc.metrics) cc.metrics = std::make_shared<prometheus::Registry>();
    if (c.enable_tracing && !cc.tracer) cc.tracer = make_spdlog_tracer(cc.logger);
    c.etcd.metrics = cc.metrics;
    c.etcd.tracer = cc.tracer;
    return cc;
  }

  config settings;
  client etcd;
  service_registry registry;
  coordination::config_center config_center;
  // Shared with the handles current_session() and locks() give out: a replacement after a loss
  // leaves those valid (on the lost session).
  std::shared_ptr<session> current;
  std::shared_ptr<locker> locks;
  std::shared_ptr<locker> reentrant_locks;
  bool creating_session = false;
  asio::steady_timer session_ready;
  std::vector<std::weak_ptr<held_lock>> handed_out;
  std::vector<std::weak_ptr<service_registry>> module_registries;
  bool closed = false;

  asio::awaitable<std::shared_ptr<session>> ensure_session() {
    if (closed) throw coordination_error(error::cancelled, "the coordinator is closed");
    while (creating_session) {
      co_await detail::wait_signal(session_ready, "coordinator session");
    }
    if (current && !current->lost()) co_return current;
    creating_session = true;
    std::exception_ptr failure;
    try {
      session_options so;
      so.ttl = settings.locks.default_ttl;
      so.renew_interval = settings.locks.renew_interval;
      auto s = co_await session::create(etcd, so);
      current = std::make_shared<session>(std::move(s));
      locker_options lo;
      lo.reentrant = settings.locks.reentrant;
      locks = std::make_shared<locker>(*current, lo);
      // reentrant_lock()'s owner: the same locker when lock() is reentrant too.
      if (lo.reentrant) {
        reentrant_locks = locks;
      } else {
        lo.reentrant = true;
        reentrant_locks = std::make_shared<locker>(*current, lo);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    creating_session = false;
    session_ready.cancel();
    if (failure) std::rethrow_exception(failure);
    co_return current;
  }

  void track(const std::shared_ptr<held_lock>& h) {
    std::erase_if(handed_out, [](auto& w) { return w.expired(); });
    handed_out.push_back(h);
  }
};

}  // namespace detail

coordinator::coordinator(asio::any_io_executor ex, config cfg)
    : state_(std::make_shared<detail::coordinator_state>(ex, std::move(cfg))) {}

coordinator::~coordinator() = default;

std::string coordinator::lock_key(const std::string& name) const {
  if (name.empty()) bad("lock name", "must not be empty");
  return state_->settings.locks.prefix + name;
}

asio::awaitable<lock_handle> coordinator::take(lock_kind kind, std::string name,
                                               std::chrono::seconds ttl, int permits) {
  auto s = state_;
  auto key = lock_key(name);
  if (ttl.count() < 0) bad("ttl", "must not be negative (0: locks.default_ttl)");
  co_await s->ensure_session();
  if (ttl.count() == 0) ttl = s->settings.locks.default_ttl;
  // (kept alive: a replacement of the session meanwhile must not destroy it)
  auto locks = kind == lock_kind::reentrant ? s->reentrant_locks : s->locks;
  lock_handle h;
  switch (kind) {
    case lock_kind::mutex:
    case lock_kind::reentrant:
      h = co_await locks->lock(std::move(key), ttl);
      break;
    case lock_kind::try_mutex:
      h = co_await locks->try_lock(std::move(key), ttl);
      break;
    case lock_kind::read:
      h = co_await locks->read_lock(std::move(key), ttl);
      break;
    case lock_kind::write:
      h = co_await locks->write_lock(std::move(key), ttl);
      break;
    case lock_kind::semaphore:
      h = co_await locks->acquire_semaphore(std::move(key), permits, ttl);
      break;
  }
  if (s->closed) {  // (taken while close() ran: it must not outlive the coordinator)
    co_await h.release();
    throw coordination_error(error::cancelled, "the coordinator is closed");
  }
  s->track(detail::access::state(h));
  co_return h;
}

asio::awaitable<lock_handle> coordinator::lock(std::string name, std::chrono::seconds ttl) {
  return take(lock_kind::mutex, std::move(name), ttl);
}
asio::awaitable<lock_handle> coordinator::try_lock(std::string name, std::chrono::seconds ttl) {
  return take(lock_kind::try_mutex, std::move(name), ttl);
}
asio::awaitable<lock_handle> coordinator::reentrant_lock(std::string name,
                                                         std::chrono::seconds ttl) {
  return take(lock_kind::reentrant, std::move(name), ttl);
}
asio::awaitable<lock_handle> coordinator::read_lock(std::string name, std::chrono::seconds ttl) {
  return take(lock_kind::read, std::move(name), ttl);
}
asio::awaitable<lock_handle> coordinator::write_lock(std::string name, std::chrono::seconds ttl) {
  return take(lock_kind::write, std::move(name), ttl);
}
asio::awaitable<lock_handle> coordinator::acquire_semaphore(std::string name, int permits,
                                                            std::chrono::seconds ttl) {
  return take(lock_kind::semaphore, std::move(name), ttl, permits);
}

asio::awaitable<std::shared_ptr<locker>> coordinator::locks() {
  auto s = state_;
  co_await s->ensure_session();
  co_return s->locks;
}

asio::awaitable<leadership> coordinator::campaign(std::string election, std::string value) {
  auto s = state_;
  if (election.empty()) bad("election name", "must not be empty");
  auto session = co_await s->ensure_session();
  elector e(*session);
  auto won = co_await e.campaign(s->settings.elections_prefix + election, std::move(value));
  s->track(detail::access::state(won.handle()));
  co_return won;
}

asio::awaitable<std::optional<leader_info>> coordinator::leader(std::string election) {
  auto s = state_;  // (a coroutine: a bad name is thrown where the caller awaits)
  if (election.empty()) bad("election name", "must not be empty");
  co_return co_await current_leader(s->etcd, s->settings.elections_prefix + election);
}

leader_observer coordinator::observe(std::string election) {
  if (election.empty()) bad("election name", "must not be empty");
  return observe_leader(state_->etcd, state_->settings.elections_prefix + election);
}

service_registry& coordinator::registry() {
  return state_->registry;
}
coordination::config_center& coordinator::config_center() {
  return state_->config_center;
}
client& coordinator::etcd() {
  return state_->etcd;
}
const config& coordinator::settings() const {
  return state_->settings;
}

std::shared_ptr<prometheus::Registry> coordinator::metrics() const {
  return state_->settings.etcd.metrics;
}

asio::awaitable<std::shared_ptr<session>> coordinator::current_session() {
  return state_->ensure_session();
}

asio::awaitable<status_result> coordinator::ping() {
  auto s = state_;
  auto& http = detail::impl_of(s->etcd).transport;
  const std::string url = http.current_endpoint();
  bool refused = false;
  try {
    co_return co_await s->etcd.status(url);
  } catch (const coordination_error& e) {
    if (e.code() != error::permission_denied) throw;
    refused = true;  // (no co_await inside a catch handler: GCC 12)
  }
  // Status is root-only with auth on in etcd 3.5.28-3.5.31 and 3.6.0-3.6.11. Ask what this user
  // may: a serializable count of the lock prefix on the same member (with Hasleader, as every
  // call: a member without a leader still fails it), and the member's version.
  status_result r;
  r.restricted = refused;
  r.endpoint = url;
  range_options o;
  o.prefix = true;
  o.serializable = true;
  o.count_only = true;
  auto body =
      co_await http.call_at(url, "/v3/kv/range", detail::encode_range(s->settings.locks.prefix, o),
                            transport::call_kind::read);
  r.header = detail::decode_range(body).header;
  r.raft_term = r.header.raft_term;
  auto version = co_await http.get_version(url);
  if (version && version->status == 200) r.version = detail::decode_server_version(version->body);
  co_return r;
}

asio::awaitable<void> coordinator::close() {
  auto s = state_;
  if (s->closed) co_return;
  s->closed = true;
  // 1. The locks (and leaderships) it handed out. (A lock taken meanwhile by a waiter that was
  // already queued is released by take() itself, seeing `closed`.)
  std::exception_ptr failure;
  auto note = [&failure](std::exception_ptr e) {
    if (!failure) failure = e;
  };
  // Awaits one step; its failure is noted, not thrown (awaited at once: the references hold).
  auto attempt = [&note](asio::awaitable<void> step) -> asio::awaitable<void> {
    try {
      co_await std::move(step);
    } catch (...) {
      note(std::current_exception());
    }
  };
  auto handed_out = std::move(s->handed_out);
  s->handed_out.clear();
  for (auto& w : handed_out) {
    if (auto h = w.lock()) {
      auto again = detail::access::make_lock_handle(h);
      try {
        co_await again.release();
      } catch (const std::exception& e) {
        try {
          detail::rethrow_if_cancelled(e);  // (close() itself cancelled: thrown at the end)
        } catch (...) {
          note(std::current_exception());
        }
        detail::impl_of(s->etcd).log->info("coordination: releasing a lock on close failed: {}",
                                           e.what());
      }
    }
  }
  // 2. Its services (its modules' too); 3. its leases; 4. its connections. Each step is tried
  // even when one before it failed (etcd unreachable, close() cancelled), so that the
  // connections are closed and the background work ends whatever happens; the first failure is
  // thrown at the end. (A second close() returns at once: what failed here is not retried, and
  // the leases left behind expire after their TTL.)
  co_await attempt(s->registry.close());
  auto modules = std::move(s->module_registries);
  s->module_registries.clear();
  for (auto& m : modules)
    if (auto r = m.lock()) co_await attempt(r->close());
  s->locks.reset();
  s->reentrant_locks.reset();
  if (s->current) co_await attempt(s->current->close());
  s->current.reset();
  s->etcd.close();
  // 5. Its background work, cancelled by that close(): ended before this returns.
  co_await attempt(detail::impl_of(s->etcd).tasks.wait());
  if (failure) std::rethrow_exception(failure);
}

coordinator_module coordinator::module(std::string name) {
  return coordinator_module(*this, std::move(name));
}

namespace {
// "<module>/<name>", after checking `name` (the module's "<module>/" alone would pass the
// coordinator's own check for an empty name).
std::string scoped(const std::string& module, const std::string& name, const char* what) {
  if (name.empty()) bad(what, "must not be empty");
  return module + "/" + name;
}
}  // namespace

coordinator_module::coordinator_module(coordinator& parent, std::string name)
    : parent_(&parent), name_(std::move(name)) {
  auto scope = scope_of(name_);
  auto& cfg = parent.state_->settings;
  registry_ =
      std::make_shared<service_registry>(parent.state_->etcd, registry_options_of(cfg, scope));
  config_ = std::make_shared<coordination::config_center>(parent.state_->etcd,
                                                          config_options_of(cfg, scope));
  // (Closed by the coordinator's close(); the modules already gone are dropped here, so that
  // making modules again and again does not grow the list.)
  auto& modules = parent.state_->module_registries;
  std::erase_if(modules, [](const auto& m) { return m.expired(); });
  modules.push_back(registry_);
}

asio::awaitable<lock_handle> coordinator_module::lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await parent_->lock(scoped(name_, name, "lock name"), ttl);
}

asio::awaitable<lock_handle> coordinator_module::try_lock(std::string name,
                                                          std::chrono::seconds ttl) {
  co_return co_await parent_->try_lock(scoped(name_, name, "lock name"), ttl);
}

asio::awaitable<lock_handle> coordinator_module::reentrant_lock(std::string name,
                                                                std::chrono::seconds ttl) {
  co_return co_await parent_->reentrant_lock(scoped(name_, name, "lock name"), ttl);
}

asio::awaitable<lock_handle> coordinator_module::read_lock(std::string name,
                                                           std::chrono::seconds ttl) {
  co_return co_await parent_->read_lock(scoped(name_, name, "lock name"), ttl);
}

asio::awaitable<lock_handle> coordinator_module::write_lock(std::string name,
                                                            std::chrono::seconds ttl) {
  co_return co_await parent_->write_lock(scoped(name_, name, "lock name"), ttl);
}

asio::awaitable<lock_handle> coordinator_module::acquire_semaphore(std::string name, int permits,
                                                                   std::chrono::seconds ttl) {
  co_return co_await parent_->acquire_semaphore(scoped(name_, name, "semaphore name"), permits,
                                                ttl);
}

asio::awaitable<leadership> coordinator_module::campaign(std::string election, std::string value) {
  co_return co_await parent_->campaign(scoped(name_, election, "election name"), std::move(value));
}

}  // namespace coordination
