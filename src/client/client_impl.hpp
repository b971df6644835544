// What a client owns, visible to the library's own upper layers.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <typeindex>
#include <typeinfo>

#include "coordination/client_config.hpp"
#include "detail/task_group.hpp"
#include "observability/metrics.hpp"
#include "transport/http_transport.hpp"
#include "watch/watch_hub.hpp"

namespace coordination::detail {

struct client_impl : std::enable_shared_from_this<client_impl> {
  client_impl(boost::asio::any_io_executor ex, client_config c);
  boost::asio::any_io_executor executor;
  client_config config;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<client_metrics> metrics;  // null without client_config::metrics
  coordination::tracer* tracer;             // config.tracer, or null
  task_group tasks;  // every background coroutine of this client (close() cancels them)
  transport::http_transport transport;
  std::shared_ptr<watch_hub> watches;  // created on the first watch

  // State an upper layer keeps per client, one object per type T (made on first use, destroyed
  // with the client). The client layer knows nothing of what they are (e.g. the lock recipes'
  // shared deletion streams, recipes/lock/waiting.cpp).
  template <class T>
  T& extension() {
    auto& slot = extensions_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>();
    return *std::static_pointer_cast<T>(slot);
  }

  ~client_impl();
  watch_hub& hub();

 private:
  std::map<std::type_index, std::shared_ptr<void>> extensions_;
};

// Deletes `key`, a key only this caller creates (a lock key named after its own lease): resent
// after any failure, since deleting it twice has the effect of once. With a `guard` (the key's
// create revision, or its lease), only while it holds (a txn): a late copy of this delete,
// applied after a paused member resumes, cannot delete the name's next incarnation (the same
// session's next lock, a re-registration of the same instance id).
boost::asio::awaitable<delete_result> delete_own_key(client_impl& impl, std::string key,
                                                     std::optional<compare> guard = std::nullopt);

// Throws invalid_argument naming `field` when `key` is empty.
void check_key(std::string_view key, const char* field = "key");

}  // namespace coordination::detail
