/// \file
/// The global default coordinator and the free functions on it (init(), acquire_lock(),
/// register_service(), get_config(), campaign(), ...). Included by coordinator.hpp. Thread
/// model, cancellation and executor: as coordinator.hpp says.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "coordination/coordinator.hpp"

namespace coordination {

// ---- the global default coordinator --------------------------------------------------------
/// \name The global default coordinator
/// For applications that want free functions: init() once, then call them from coroutines on
/// the executor given to init(). Before init() (or after shutdown()) they throw
/// coordination_error(not_initialized).
///
/// Thread-safety: the global coordinator is one unsynchronised object, like any coordinator:
/// init(), shutdown() and every global function are called from the executor given to init()
/// (or before the executor runs).
///@{

/// Makes the global coordinator, `coordinator(ex, cfg)`: throws invalid_argument naming a bad
/// field of `cfg`. Called again, it replaces the global coordinator; the old one is destroyed
/// (like its destructor: leases revoked in the background) and must not be in use.
void init(boost::asio::any_io_executor ex, config cfg);
/// Whether there is a global coordinator (init() called, shutdown() not since).
bool initialized();
/// The global coordinator. Throws coordination_error(not_initialized) before init() or after
/// shutdown(). The reference is valid until shutdown() or the next init().
coordinator& global_coordinator();
/// close() and forget the global coordinator. Returns at once when there is none.
///
/// \par Errors
/// As coordinator::close(); when it throws, the global coordinator is kept (closed: a second
/// shutdown() then forgets it at once).
/// \par Cancellation
/// As coordinator::close(): error::cancelled, the coordinator kept.
/// \par Executor and lifetimes
/// The executor given to init(). No global call may be in flight: the coordinator is destroyed
/// when close() returns.
boost::asio::awaitable<void> shutdown();  // close() and forget the global coordinator
///@}

/// \name Global functions
/// Each is the global coordinator's call of the same meaning (coordinator::lock, try_lock,
/// reentrant_lock, read_lock, write_lock, ping, registry().connect, config_center().remove...).
///
/// For each: the errors of that call, and not_initialized (thrown where the call is awaited)
/// before init() or after shutdown(); its cancellation; the executor given to init(); its
/// arguments are copied, and the global coordinator must not be shut down or replaced (init())
/// before the awaited call ends.
///@{

/// The global coordinator's coordinator::ping().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::ping().
/// \par Cancellation
/// As coordinator::ping(): error::cancelled.
/// \par Executor and lifetimes
/// The executor given to init(); the global coordinator must stay until the await ends.
boost::asio::awaitable<status_result> ping();
/// The global coordinator's coordinator::lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock(): error::cancelled, the waiter's key removed.
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<lock_handle> acquire_lock(std::string name, std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::try_lock(): throws locked when the lock is taken.
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::try_lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> try_acquire_lock(std::string name,
                                                     std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::reentrant_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_reentrant_lock(std::string name,
                                                           std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::read_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_read_lock(std::string name,
                                                      std::chrono::seconds ttl = {});
/// The global coordinator's coordinator::write_lock().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::lock().
/// \par Cancellation
/// As coordinator::lock().
/// \par Executor and lifetimes
/// As acquire_lock().
boost::asio::awaitable<lock_handle> acquire_write_lock(std::string name,
                                                       std::chrono::seconds ttl = {});
/// The global coordinator's registry().register_service(info, ttl) (default register_options:
/// no takeover of another process's instance id).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as
/// service_registry::register_service(): invalid_argument naming a bad field, conflict when
/// another process holds the instance id, cancelled after close(), and the transport errors
/// (unavailable, timeout, outcome_unknown, ...).
/// \par Cancellation
/// As service_registry::register_service(): error::cancelled; a registration cancelled after
/// its write was sent may or may not have been stored.
/// \par Executor and lifetimes
/// The executor given to init(); `info` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<service_info> register_service(service_info info,
                                                      std::chrono::seconds ttl = {});
/// The global coordinator's registry().deregister(name, instance_id).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as
/// service_registry::deregister(): not_found when the instance is not registered,
/// invalid_argument for a bad name or id, and the transport errors (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled; a delete cancelled after it was sent may or may not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<void> deregister_service(std::string name, std::string instance_id);
/// The global coordinator's registry().discover(name): the healthy instances, from the cache
/// (the first call for a name loads it).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as service_registry::discover():
/// invalid_argument for a bad name, cancelled after close(), and the transport errors of the
/// first load (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled (a read).
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<service_list> discover_services(std::string name);
/// A TCP connection to a healthy instance picked by `strategy` (service_registry::connect).
///
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as service_registry::connect():
/// unavailable when no instance could be connected (also when there is no healthy one), and
/// the errors of discover_services().
/// \par Cancellation
/// error::cancelled (no connection is left open).
/// \par Executor and lifetimes
/// The executor given to init(); `name` is copied; the global coordinator must stay until the
/// await ends. The connection returned is used on that executor.
boost::asio::awaitable<service_connection> get_service_connection(
    std::string name, pick_strategy strategy = pick_strategy::round_robin);
/// The global coordinator's config_center().get(key).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::get():
/// not_found when the key has no value, invalid_argument for an empty key, and the transport
/// errors (unavailable, timeout, ...).
/// \par Cancellation
/// error::cancelled (a read).
/// \par Executor and lifetimes
/// The executor given to init(); `key` is copied; the global coordinator must stay until the
/// await ends.
boost::asio::awaitable<config_value> get_config(std::string key);
/// The global coordinator's config_center().set(key, value, options).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::set():
/// conflict when `options.expected_version` does not match, invalid_argument, outcome_unknown
/// (or timeout) when the write may have been applied without an answer, and the transport
/// errors (unavailable, ...).
/// \par Cancellation
/// As config_center::set(): error::cancelled; cancelled after it was sent, the set may or may
/// not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<config_value> set_config(std::string key, std::string value,
                                                config_set_options options = {});
/// Removes the value (config_center::remove): not_found when absent, conflict when
/// `expected_version` is given and is not the current version.
///
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::remove():
/// not_found, conflict, invalid_argument for an empty key, outcome_unknown (or timeout) when
/// the delete may have been applied without an answer, and the transport errors.
/// \par Cancellation
/// As config_center::remove(): error::cancelled; cancelled after it was sent, the remove may or
/// may not have been applied.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<void> delete_config(std::string key,
                                           std::optional<std::int64_t> expected_version = {});
/// The global coordinator's config_center().watch(key), with the default options (metadata
/// read).
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as config_center::watch():
/// invalid_argument for an empty key, and the errors of creating a watch (unavailable,
/// timeout, ...).
/// \par Cancellation
/// error::cancelled (no config_watch is returned).
/// \par Executor and lifetimes
/// The executor given to init(); `key` is copied; the global coordinator must stay until the
/// await ends. The config_watch returned ends when the global coordinator is closed.
boost::asio::awaitable<config_watch> watch_config(std::string key);
/// The global coordinator's coordinator::campaign().
/// \par Errors
/// not_initialized before init() or after shutdown(); otherwise as coordinator::campaign().
/// \par Cancellation
/// As coordinator::campaign(): error::cancelled, the candidate's key removed.
/// \par Executor and lifetimes
/// The executor given to init(); the arguments are copied; the global coordinator must stay
/// until the await ends.
boost::asio::awaitable<leadership> campaign(std::string election, std::string value);
///@}

}  // namespace coordination
