#include "transport/http_transport.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <nlohmann/json.hpp>

#include "coordination/error.hpp"
#include "detail/error_mapping.hpp"

namespace coordination::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

asio::ssl::context make_tls_context(const tls_config& cfg) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  auto fail = [](const char* field, const std::string& file, const boost::system::error_code& ec) {
    return coordination_error(error::invalid_argument,
                              std::string(field) + ": cannot use '" + file + "': " + ec.message());
  };
  boost::system::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  if (cfg.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(cfg.ca_file, ec);
    if (ec) throw fail("tls.ca_file", cfg.ca_file, ec);
  }
  if (!cfg.cert_file.empty() || !cfg.key_file.empty()) {
    if (cfg.cert_file.empty() || cfg.key_file.empty())
      throw coordination_error(error::invalid_argument,
                               "tls.cert_file/tls.key_file: a client certificate needs both");
    ctx.use_certificate_chain_file(cfg.cert_file, ec);
    if (ec) throw fail("tls.cert_file", cfg.cert_file, ec);
    ctx.use_private_key_file(cfg.key_file, asio::ssl::context::pem, ec);
    if (ec) throw fail("tls.key_file", cfg.key_file, ec);
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
      throw coordination_error(error::invalid_argument, "tls.key_file: '" + cfg.key_file +
                                                            "' is not the key of tls.cert_file '" +
                                                            cfg.cert_file + "'");
  }
  ctx.set_verify_mode(cfg.verify_server ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return ctx;
}

// A std::error_code converted from Boost's compares equal to the Boost code it came from.
bool matches(const std::error_code& ec, boost::system::error_code boost_ec) {
  return ec == std::error_code(boost_ec);
}

bool is_tls_failure(const std::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == asio::ssl::error::get_stream_category() ||
         ec == make_error_code(error::tls_error);
}

std::string describe(const std::error_code& ec, std::string_view why = {}) {
  if (matches(ec, beast::error::timeout)) return "deadline passed";
  if (why.empty()) return ec.message();
  return ec.message() + ": " + std::string(why);
}

}  // namespace

http_transport::http_transport(asio::any_io_executor ex, const client_config& cfg,
                               std::shared_ptr<spdlog::logger> log, detail::client_metrics* metrics,
                               tracer* trace)
    : ex_(std::move(ex)),
      cfg_(cfg),
      log_(std::move(log)),
      rng_(std::random_device{}()),
      metrics_(metrics),
      tracer_(trace) {
  bool any_tls = false;
  for (auto& url : cfg_.endpoints) any_tls |= url.starts_with("https://");
  if (any_tls) tls_.emplace(make_tls_context(cfg_.tls));
  set_endpoints(cfg_.endpoints);
}

http_transport::~http_transport() {
  close();
}

void http_transport::set_endpoints(const std::vector<std::string>& urls) {
  std::vector<member_endpoint> next;
  for (auto& url : urls) {
    auto ep = parse_endpoint(url);
    if (ep.tls && !tls_) tls_.emplace(make_tls_context(cfg_.tls));
    member_endpoint m;
    for (auto& old : endpoints_)
      if (old.connections->remote().url == ep.url) m = old;
    if (!m.connections)
      m.connections = std::make_shared<pool>(ex_, ep, tls_ ? &*tls_ : nullptr, cfg_.pool_size);
    next.push_back(std::move(m));
  }
  if (next.empty())
    throw coordination_error(error::invalid_argument, "endpoints: the list is empty");
  for (auto& old : endpoints_) {
    bool kept = false;
    for (auto& n : next) kept |= n.connections == old.connections;
    if (!kept) old.connections->close();
  }
  endpoints_ = std::move(next);
  current_ %= endpoints_.size();
}

std::vector<std::string> http_transport::endpoints() const {
  std::vector<std::string> out;
  for (auto& e : endpoints_) out.push_back(e.connections->remote().url);
  return out;
}

std::string http_transport::current_endpoint() const {
  return endpoints_[current_].connections->remote().url;
}

std::size_t http_transport::open_connections() const {
  std::size_t n = 0;
  for (auto& e : endpoints_) n += e.connections->open_connections();
  return n;
}

void http_transport::close() {
  closed_ = true;
  for (auto& e : endpoints_) e.connections->close();
}

std::size_t http_transport::pick() {
  auto now = clock::now();
  std::size_t n = endpoints_.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t idx = (current_ + i) % n;
    if (endpoints_[idx].cooldown_until <= now) return current_ = idx;
  }
  // Everything failed recently: the one that failed longest ago.
  std::size_t best = current_;
  for (std::size_t i = 0; i < n; ++i)
    if (endpoints_[i].cooldown_until < endpoints_[best].cooldown_until) best = i;
  return current_ = best;
}

void http_transport::mark_failed(std::size_t index) {
  endpoints_[index].cooldown_until = clock::now() + cfg_.endpoint_cooldown;
  if (index == current_ && endpoints_.size() > 1) {
    current_ = (index + 1) % endpoints_.size();
    ++stats_.failovers;
    if (metrics_) metrics_->failover();
    log_->info("coordination: endpoint {} failed; moving to {}",
               endpoints_[index].connections->remote().url,
               endpoints_[current_].connections->remote().url);
  }
}

asio::awaitable<std::string> http_transport::call(std::string_view path, std::string body,
                                                  call_kind kind) {
  return call(path, std::move(body), kind, clock::now() + cfg_.request_timeout);
}

asio::awaitable<std::string> http_transport::call(std::string_view path, std::string body,
                                                  call_kind kind, clock::time_point deadline) {
  co_return co_await run(std::nullopt, path, std::move(body), kind, true, deadline);
}

asio::awaitable<std::string> http_transport::call_at(std::string_view url, std::string_view path,
                                                     std::string body, call_kind kind) {
  return call_at(url, path, std::move(body), kind, clock::now() + cfg_.request_timeout);
}

asio::awaitable<std::string> http_transport::call_at(std::string_view url, std::string_view path,
                                                     std::string body, call_kind kind,
                                                     clock::time_point deadline) {
  auto wanted = parse_endpoint(std::string(url), "endpoint").url;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (endpoints_[i].connections->remote().url != wanted) continue;
    co_return co_await run(i, path, std::move(body), kind, true, deadline);
  }
  throw coordination_error(error::invalid_argument,
                           "endpoint: '" + std::string(url) + "' is not one of the client's");
}

asio::awaitable<std::string> http_transport::authorization(clock::time_point deadline) {
  if (cfg_.username.empty()) co_return std::string();
  if (token_.empty()) co_await authenticate(deadline);
  co_return token_;
}

asio::awaitable<void> http_transport::authenticate(clock::time_point deadline) {
  nlohmann::json creds{{"name", cfg_.username}, {"password", cfg_.password}};
  // The token request shares the caller's deadline.
  auto body = co_await run(std::nullopt, "/v3/auth/authenticate", creds.dump(), call_kind::read,
                           false, deadline);
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("token") || !j["token"].is_string())
    throw coordination_error(error::protocol_error, "authenticate: answer has no token");
  token_ = j["token"].get<std::string>();
  log_->debug("coordination: authenticated as '{}'", cfg_.username);
}

asio::awaitable<std::string> http_transport::run(std::optional<std::size_t> fixed,
                                                 std::string_view path, std::string body,
                                                 call_kind kind, bool authenticated,
                                                 clock::time_point deadline) {
  const auto started = clock::now();
  detail::span_scope span(tracer_, tracer_ ? "etcd " + std::string(path) : std::string());
  std::error_code failure;
  std::string result;
  try {
    result = co_await attempts(fixed, path, std::move(body), kind, authenticated, deadline, span);
  } catch (const coordination_error& e) {
    failure = e.code();
    span.fail(e.code(), e.diagnostic());
    if (metrics_) metrics_->call_done(path, clock::now() - started, failure);
    throw;
  } catch (const boost::system::system_error& e) {
    // Asio throws operation_aborted at a co_await once the caller cancelled the coroutine.
    bool aborted = e.code() == asio::error::operation_aborted;
    failure = aborted ? make_error_code(error::cancelled) : std::error_code(e.code());
    span.fail(failure, e.what());
    if (metrics_) metrics_->call_done(path, clock::now() - started, failure);
    if (aborted) throw coordination_error(error::cancelled, std::string(path));
    throw;
  }
  span.ok();
  if (metrics_) metrics_->call_done(path, clock::now() - started, failure);
  co_return result;
}

asio::awaitable<std::string> http_transport::attempts(std::optional<std::size_t> fixed,
                                                      std::string_view path, std::string body,
                                                      call_kind kind, bool authenticated,
                                                      clock::time_point deadline,
                                                      detail::span_scope& span) {
  if (body.size() > cfg_.max_request_bytes)
    throw coordination_error(error::invalid_argument, "request: " + std::to_string(body.size()) +
                                                          " bytes is over max_request_bytes (" +
                                                          std::to_string(cfg_.max_request_bytes) +
                                                          ")");
  const bool use_auth = authenticated && !cfg_.username.empty();
  bool reauthenticated = false;
  auto interval = cfg_.retry.initial_interval;
  std::error_code last_code = make_error_code(error::unavailable);
  std::string last_message;
  const int max_attempts = cfg_.retry.max_retries + static_cast<int>(endpoints_.size());

  auto deadline_error = [&](std::string what) {
    return coordination_error(error::timeout, std::string(path) + ": " + what);
  };

  for (int attempt = 0;; ++attempt) {
    if (closed_) throw coordination_error(error::cancelled, "client closed");
    if (use_auth && token_.empty()) co_await authenticate(deadline);
    std::size_t index = fixed ? *fixed : pick();
    auto pool_ptr = endpoints_[index].connections;
    const std::string& url = pool_ptr->remote().url;
    bool resend = false;

    auto [acquire_ec, conn] = co_await pool_ptr->acquire(deadline, cfg_.dial_timeout);
    if (acquire_ec) {
      if (acquire_ec == error::cancelled)
        throw coordination_error(error::cancelled, std::string(path));
      if (is_tls_failure(acquire_ec))
        throw coordination_error(error::tls_error, url + ": " + acquire_ec.message());
      if (clock::now() >= deadline) throw deadline_error("no connection to " + url + " in time");
      if (matches(acquire_ec, asio::error::operation_aborted))
        throw coordination_error(error::cancelled, std::string(path));
      last_code = make_error_code(error::unavailable);
      last_message = "connect to " + url + ": " + describe(acquire_ec);
      mark_failed(index);
      resend = true;
    } else {
      http_request req{path, body, use_auth ? std::string_view(token_) : std::string_view{},
                       cfg_.require_leader};
      ++stats_.requests;
      if (metrics_) metrics_->http_request();
      span.attr("endpoint", url);
      auto res = co_await conn->exchange(req, deadline, cfg_.max_response_bytes);
      if (res.ec) {
        conn->close();
        conn.reset();
        bool sent = res.where == stage::receive;
        std::string lost = sent && kind == call_kind::write
                               ? " (the request was sent and may have been applied)"
                               : "";
        if (res.ec == error::response_too_large)
          throw coordination_error(error::response_too_large,
                                   url + std::string(path) +
                                       ": answer is over max_response_bytes (" +
                                       std::to_string(cfg_.max_response_bytes) + ")");
        if (matches(res.ec, beast::error::timeout) || clock::now() >= deadline)
          throw deadline_error("no answer from " + url + " in time" + lost);
        if (matches(res.ec, asio::error::operation_aborted))
          throw coordination_error(error::cancelled, std::string(path) + lost);
        if (is_tls_failure(res.ec) && !sent)
          throw coordination_error(error::tls_error, url + ": " + res.ec.message());
        mark_failed(index);
        if (sent && kind == call_kind::write)
          throw coordination_error(error::outcome_unknown, url + std::string(path) + ": " +
                                                               describe(res.ec, res.why) + lost);
        last_code = make_error_code(error::unavailable);
        last_message = url + std::string(path) + ": " + describe(res.ec, res.why);
        resend = true;
      } else {
        conn.reset();  // back to the pool
        if (res.response.status / 100 == 2) {
          endpoints_[index].cooldown_until = {};
          co_return std::move(res.response.body);
        }
        auto mapped = detail::map_gateway_error(res.response.status, res.response.body);
        last_code = mapped.code;
        last_message = mapped.message;
        switch (mapped.action) {
          case detail::disposition::fail:
            throw coordination_error(mapped.code, std::move(mapped.message));
          case detail::disposition::reauthenticate:
            if (!use_auth || reauthenticated)
              throw coordination_error(mapped.code, std::move(mapped.message));
            reauthenticated = true;
            ++stats_.reauthentications;
            if (metrics_) metrics_->reauthentication();
            token_.clear();
            log_->debug("coordination: auth token refused, authenticating again");
            --attempt;
            continue;
          case detail::disposition::retry_if_read:
            if (kind == call_kind::write) {
              if (mapped.code == error::timeout)
                throw coordination_error(error::outcome_unknown,
                                         url + std::string(path) + ": " + mapped.message);
              throw coordination_error(error::outcome_unknown,
                                       url + std::string(path) + ": " + mapped.message +
                                           " (the request may have been applied)");
            }
            [[fallthrough]];
          case detail::disposition::retry:
            if (mapped.code == error::unavailable) mark_failed(index);
            resend = true;
            break;
        }
      }
    }
    if (!resend || attempt + 1 >= max_attempts)
      throw coordination_error(
          last_code, last_message + " (after " + std::to_string(attempt + 1) + " attempts)");
    ++stats_.retries;
    if (metrics_) metrics_->retry();
    span.attr("retry", last_message);
    // Straight to another endpoint when there is a fresh one; otherwise wait first.
    bool fresh_elsewhere = false;
    if (!fixed) {
      auto now = clock::now();
      for (std::size_t i = 0; i < endpoints_.size(); ++i)
        fresh_elsewhere |= i != index && endpoints_[i].cooldown_until <= now;
    }
    if (!fresh_elsewhere) {
      auto cap = std::min(interval, cfg_.retry.max_interval);
      std::uniform_int_distribution<long> jitter(cap.count() / 2, std::max<long>(cap.count(), 1));
      auto wait = std::chrono::milliseconds(jitter(rng_));
      if (clock::now() + wait >= deadline)
        throw deadline_error(last_message + " (no time left for another attempt)");
      asio::steady_timer timer(ex_, wait);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) throw coordination_error(error::cancelled, std::string(path));
      interval = std::chrono::milliseconds(
          static_cast<long>(static_cast<double>(interval.count()) * cfg_.retry.multiplier));
    }
    log_->debug("coordination: {} attempt {} failed ({}); retrying", path, attempt + 1,
                last_message);
  }
}

}  // namespace coordination::transport
