#include "coordination/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "client/client_impl.hpp"
#include "protocol/codec.hpp"

namespace coordination {

namespace asio = boost::asio;
using transport::call_kind;

namespace detail {

namespace {
std::shared_ptr<spdlog::logger> logger_for(const client_config& c) {
  if (c.logger) return c.logger;
  if (auto existing = spdlog::get("coordination")) return existing;
  auto made = spdlog::default_logger()->clone("coordination");
  try {
    spdlog::register_logger(made);
  } catch (const spdlog::spdlog_ex&) {  // registered meanwhile by another thread
    if (auto existing = spdlog::get("coordination")) return existing;
  }
  return made;
}

const client_config& validated(const client_config& c) {
  c.validate();
  return c;
}
}  // namespace

client_impl::client_impl(asio::any_io_executor ex, client_config c)
    : executor(ex),
      config(std::move(validated(c))),
      log(logger_for(config)),
      metrics(config.metrics ? std::make_unique<client_metrics>(config.metrics) : nullptr),
      tracer(config.tracer.get()),
      tasks(ex, log),
      transport(ex, config, log, tasks, metrics.get(), tracer) {}

client_impl::~client_impl() {
  if (watches) watches->shutdown();
  tasks.close();
}

watch_hub& client_impl::hub() {
  if (!watches) {
    watches = std::make_shared<watch_hub>(*this);
    watches->post_form =
        config.watch_transport == watch_transport::post ||
        (config.watch_transport == watch_transport::automatic && !config.username.empty());
    // Made after close() (the client's first watch): shut down like the one close() shut down,
    // so its calls fail cancelled at once.
    if (tasks.closed()) watches->shutdown();
  }
  return *watches;
}

void check_key(std::string_view key, const char* field) {
  if (key.empty())
    throw coordination_error(error::invalid_argument, std::string(field) + ": must not be empty");
}

}  // namespace detail

namespace {

void check_size(const client_config& cfg, std::size_t bytes, const char* field) {
  // base64 grows the payload by 4/3; etcd's limit applies to the decoded request, so compare the
  // raw size against the limit and let the transport check the encoded body.
  if (bytes > cfg.max_request_bytes)
    throw coordination_error(error::invalid_argument,
                             std::string(field) + ": " + std::to_string(bytes) +
                                 " bytes is over etcd's request limit (" +
                                 std::to_string(cfg.max_request_bytes) + ")");
}

// [key, range_end) must not be empty: etcd would answer nothing (or delete nothing), which
// hides a swapped pair of arguments. "\0" means "every key from `key` on".
void check_range_end(std::string_view key, const std::string& range_end, bool prefix) {
  if (!prefix && !range_end.empty() && range_end <= key && range_end != std::string(1, '\0'))
    throw coordination_error(error::invalid_argument, "range_end: must be above the key");
}

}  // namespace

client::client(asio::any_io_executor ex, client_config cfg)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(cfg))) {}
client::client(std::shared_ptr<detail::client_impl> shared) : impl_(std::move(shared)) {}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

asio::any_io_executor client::get_executor() const {
  return impl_->executor;
}
const client_config& client::config() const {
  return impl_->config;
}
std::vector<std::string> client::endpoints() const {
  return impl_->transport.endpoints();
}
void client::close() {
  if (impl_->watches) impl_->watches->shutdown();
  impl_->transport.close();
  impl_->tasks.close();
}

asio::awaitable<watch_stream> client::watch(std::string key, watch_options options) {
  auto self = impl_;
  if (!(options.prefix && key.empty())) detail::check_key(key);
  if (options.start_revision < 0)
    throw coordination_error(error::invalid_argument, "start_revision: must not be negative");
  check_range_end(key, options.range_end, options.prefix);
  std::string end = options.prefix ? prefix_range_end(key) : options.range_end;
  if (options.prefix && key.empty()) key = std::string(1, '\0');
  co_return co_await self->hub().watch(std::move(key), std::move(end), std::move(options));
}

asio::awaitable<watch_stream> client::watch_prefix(std::string prefix, watch_options options) {
  options.prefix = true;
  return watch(std::move(prefix), std::move(options));
}

asio::awaitable<delete_result> detail::delete_own_key(client_impl& impl, std::string key,
                                                      std::optional<compare> guard) {
  auto self = impl.shared_from_this();
  check_key(key);
  if (guard) {
    txn_request t;
    t.compares.push_back(std::move(*guard));
    t.success.push_back(delete_op{key, delete_options()});
    auto body = co_await self->transport.call("/v3/kv/txn", encode_txn(t), call_kind::idempotent);
    auto r = decode_txn(body);
    delete_result out;
    out.header = r.header;
    if (r.succeeded && !r.responses.empty())
      if (auto* d = std::get_if<delete_result>(&r.responses.front())) out = *d;
    co_return out;
  }
  auto body = co_await self->transport.call("/v3/kv/deleterange", encode_delete(key, {}),
                                            call_kind::idempotent);
  co_return decode_delete(body);
}

asio::awaitable<watch_stream> client::watch_range(std::string key, std::string range_end,
                                                  watch_options options) {
  // (A coroutine: an empty range_end is thrown where the caller awaits, like every error.)
  if (range_end.empty())
    throw coordination_error(error::invalid_argument, "range_end: must not be empty");
  options.prefix = false;
  options.range_end = std::move(range_end);
  co_return co_await watch(std::move(key), std::move(options));
}

asio::awaitable<range_result> client::range(std::string key, range_options options) {
  auto self = impl_;
  if (!(options.prefix && key.empty())) detail::check_key(key);
  if (options.limit < 0)
    throw coordination_error(error::invalid_argument, "limit: must not be negative");
  if (options.revision < 0)
    throw coordination_error(error::invalid_argument, "revision: must not be negative");
  check_range_end(key, options.range_end, options.prefix);
  auto body = co_await self->transport.call("/v3/kv/range", detail::encode_range(key, options),
                                            call_kind::read);
  co_return detail::decode_range(body);
}

asio::awaitable<std::optional<key_value>> client::get(std::string key) {
  auto r = co_await range(std::move(key));
  if (r.kvs.empty()) co_return std::nullopt;
  co_return std::move(r.kvs.front());
}

asio::awaitable<range_result> client::get_prefix(std::string prefix) {
  range_options o;
  o.prefix = true;
  co_return co_await range(std::move(prefix), o);
}

asio::awaitable<put_result> client::put(std::string key, std::string value, put_options options) {
  auto self = impl_;
  detail::check_key(key);
  check_size(self->config, key.size() + value.size(), "value");
  auto body = co_await self->transport.call("/v3/kv/put", detail::encode_put(key, value, options),
                                            call_kind::write);
  co_return detail::decode_put(body);
}

asio::awaitable<delete_result> client::del(std::string key, delete_options options) {
  auto self = impl_;
  if (!(options.prefix && key.empty())) detail::check_key(key);
  check_range_end(key, options.range_end, options.prefix);
  auto body = co_await self->transport.call("/v3/kv/deleterange",
                                            detail::encode_delete(key, options), call_kind::write);
  co_return detail::decode_delete(body);
}

asio::awaitable<txn_result> client::txn(txn_request request) {
  auto self = impl_;
  std::size_t bytes = 0;
  for (auto& c : request.compares) {
    detail::check_key(c.key, "compare.key");
    bytes += c.key.size() + c.value.size();
  }
  bool writes = false;
  for (auto* branch : {&request.success, &request.failure}) {
    for (auto& op : *branch) {
      std::visit(
          [&](auto& o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, put_op>) {
              detail::check_key(o.key, "txn put key");
              bytes += o.key.size() + o.value.size();
              writes = true;
            } else if constexpr (std::is_same_v<T, delete_op>) {
              if (!(o.options.prefix && o.key.empty())) detail::check_key(o.key, "txn delete key");
              writes = true;
            } else {
              if (!(o.options.prefix && o.key.empty())) detail::check_key(o.key, "txn range key");
            }
            bytes += o.key.size();
          },
          op);
    }
  }
  check_size(self->config, bytes, "txn");
  auto kind = call_kind::read;
  if (writes) kind = request.idempotent ? call_kind::idempotent : call_kind::write;
  transport::call_notes notes;
  auto body = co_await self->transport.call("/v3/kv/txn", detail::encode_txn(request), kind, notes);
  auto result = detail::decode_txn(body);
  result.earlier_attempt_reached = notes.earlier_attempt_reached;
  co_return result;
}

asio::awaitable<compact_result> client::compact(std::int64_t revision, bool physical) {
  auto self = impl_;
  if (revision <= 0)
    throw coordination_error(error::invalid_argument, "revision: must be positive");
  // Compaction is idempotent: compacting again to the same revision changes nothing.
  auto body = co_await self->transport.call(
      "/v3/kv/compaction", detail::encode_compact(revision, physical), call_kind::idempotent);
  co_return detail::decode_compact(body);
}

asio::awaitable<lease_grant_result> client::lease_grant(std::int64_t ttl_seconds, std::int64_t id) {
  auto self = impl_;
  if (ttl_seconds <= 0) throw coordination_error(error::invalid_argument, "ttl: must be positive");
  if (id < 0) throw coordination_error(error::invalid_argument, "lease id: must not be negative");
  // Idempotent enough: a grant applied twice leaves a second lease that nobody knows, holds no
  // key and expires after its TTL. With a caller's id a second grant fails "already exists",
  // which a resend cannot tell from somebody else's lease: that one stays a plain write.
  auto kind = id == 0 ? call_kind::idempotent : call_kind::write;
  auto body = co_await self->transport.call("/v3/lease/grant",
                                            detail::encode_lease_grant(ttl_seconds, id), kind);
  co_return detail::decode_lease_grant(body);
}

asio::awaitable<lease_revoke_result> client::lease_revoke(std::int64_t id) {
  auto self = impl_;
  if (id <= 0) throw coordination_error(error::invalid_argument, "lease id: must be positive");
  // Revoking twice is harmless (the second says lease_not_found), so resending is safe.
  auto body = co_await self->transport.call("/v3/lease/revoke", detail::encode_lease_id(id),
                                            call_kind::idempotent);
  co_return detail::decode_lease_revoke(body);
}

asio::awaitable<lease_keep_alive_result> client::lease_keep_alive_once(std::int64_t id) {
  auto self = impl_;
  if (id <= 0) throw coordination_error(error::invalid_argument, "lease id: must be positive");
  auto body = co_await self->transport.call("/v3/lease/keepalive", detail::encode_lease_id(id),
                                            call_kind::idempotent);
  co_return detail::decode_lease_keep_alive(body);
}

asio::awaitable<lease_time_to_live_result> client::lease_time_to_live(std::int64_t id,
                                                                      bool with_keys) {
  auto self = impl_;
  if (id <= 0) throw coordination_error(error::invalid_argument, "lease id: must be positive");
  auto body = co_await self->transport.call(
      "/v3/lease/timetolive", detail::encode_lease_time_to_live(id, with_keys), call_kind::read);
  co_return detail::decode_lease_time_to_live(body);
}

asio::awaitable<std::vector<std::int64_t>> client::lease_leases() {
  auto self = impl_;
  auto body = co_await self->transport.call("/v3/lease/leases", "{}", call_kind::read);
  co_return detail::decode_lease_leases(body);
}

asio::awaitable<status_result> client::status(std::string endpoint) {
  auto self = impl_;
  std::string url = endpoint.empty() ? self->transport.current_endpoint() : endpoint;
  auto body =
      co_await self->transport.call_at(url, "/v3/maintenance/status", "{}", call_kind::read);
  auto r = detail::decode_status(body);
  r.endpoint = url;
  co_return r;
}

asio::awaitable<member_list_result> client::member_list() {
  auto self = impl_;
  auto body = co_await self->transport.call("/v3/cluster/member/list", "{}", call_kind::read);
  co_return detail::decode_member_list(body);
}

asio::awaitable<std::vector<std::string>> client::refresh_endpoints() {
  auto self = impl_;
  auto members = co_await member_list();
  std::vector<std::string> advertised;
  for (auto& m : members.members)
    if (!m.is_learner)
      for (auto& u : m.client_urls) advertised.push_back(u);
  if (advertised.empty())
    throw coordination_error(error::protocol_error, "member list has no client URLs");
  // Only URLs that answer HTTP: with --listen-client-http-urls the members advertise their
  // gRPC-only URLs, which close HTTP/1.1 connections. The current endpoints that still answer
  // stay (they may be such HTTP listeners); a member removed from the cluster stops answering.
  auto current = self->transport.endpoints();
  std::vector<std::string> urls;
  for (auto* list : {&advertised, &current}) {
    for (auto& u : *list) {
      if (std::find(urls.begin(), urls.end(), u) != urls.end()) continue;
      bool answers = co_await self->transport.answers_http(u);  // (no co_await inside &&)
      if (answers) urls.push_back(u);
    }
  }
  if (urls.empty())
    throw coordination_error(error::unavailable,
                             "refresh_endpoints: neither the members' client URLs nor the current "
                             "endpoints answer HTTP; endpoints kept");
  self->transport.set_endpoints(urls);
  co_return self->transport.endpoints();
}

}  // namespace coordination
