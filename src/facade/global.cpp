// The global default coordinator and the free functions on it (include/coordination/global.hpp).
#include "coordination/global.hpp"

#include <memory>

#include "coordination/error.hpp"

namespace coordination {

namespace asio = boost::asio;

namespace {
std::unique_ptr<coordinator>& global_slot() {
  static std::unique_ptr<coordinator> slot;
  return slot;
}
}  // namespace

void init(asio::any_io_executor ex, config cfg) {
  global_slot() = std::make_unique<coordinator>(ex, std::move(cfg));
}

bool initialized() {
  return global_slot() != nullptr;
}

coordinator& global_coordinator() {
  if (!global_slot())
    throw coordination_error(error::not_initialized,
                             "call coordination::init(executor, config) before the global API");
  return *global_slot();
}

asio::awaitable<void> shutdown() {
  if (!global_slot()) co_return;
  co_await global_slot()->close();
  global_slot().reset();
}

// (Coroutines, so that "not initialized" is thrown where the caller awaits, like every error.)
asio::awaitable<status_result> ping() {
  co_return co_await global_coordinator().ping();
}
asio::awaitable<lock_handle> acquire_lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().lock(std::move(name), ttl);
}
asio::awaitable<lock_handle> try_acquire_lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().try_lock(std::move(name), ttl);
}
asio::awaitable<lock_handle> acquire_reentrant_lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().reentrant_lock(std::move(name), ttl);
}
asio::awaitable<lock_handle> acquire_read_lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().read_lock(std::move(name), ttl);
}
asio::awaitable<lock_handle> acquire_write_lock(std::string name, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().write_lock(std::move(name), ttl);
}
asio::awaitable<service_connection> get_service_connection(std::string name,
                                                           pick_strategy strategy) {
  co_return co_await global_coordinator().registry().connect(std::move(name), strategy);
}
asio::awaitable<void> delete_config(std::string key, std::optional<std::int64_t> expected_version) {
  co_await global_coordinator().config_center().remove(std::move(key), expected_version);
}
asio::awaitable<service_info> register_service(service_info info, std::chrono::seconds ttl) {
  co_return co_await global_coordinator().registry().register_service(std::move(info), ttl);
}
asio::awaitable<void> deregister_service(std::string name, std::string instance_id) {
  co_await global_coordinator().registry().deregister(std::move(name), std::move(instance_id));
}
asio::awaitable<service_list> discover_services(std::string name) {
  co_return co_await global_coordinator().registry().discover(std::move(name));
}
asio::awaitable<config_value> get_config(std::string key) {
  co_return co_await global_coordinator().config_center().get(std::move(key));
}
asio::awaitable<config_value> set_config(std::string key, std::string value,
                                         config_set_options options) {
  co_return co_await global_coordinator().config_center().set(std::move(key), std::move(value),
                                                              std::move(options));
}
asio::awaitable<config_watch> watch_config(std::string key) {
  co_return co_await global_coordinator().config_center().watch(std::move(key));
}
asio::awaitable<leadership> campaign(std::string election, std::string value) {
  co_return co_await global_coordinator().campaign(std::move(election), std::move(value));
}

}  // namespace coordination
