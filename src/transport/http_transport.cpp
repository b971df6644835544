#include "transport/http_transport.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <nlohmann/json.hpp>

#include "coordination/error.hpp"
#include "detail/cancelled.hpp"
#include "protocol/error_mapping.hpp"

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

}  // namespace

// The background prober of suspect endpoints: shared with its coroutine, which outlives neither
// the transport's close() (owner cleared, timer and probe connection cancelled) nor its own
// loop's end (nothing suspect left).
struct http_transport::prober_state {
  explicit prober_state(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
  http_transport* owner = nullptr;
  bool running = false;
  connection* in_flight = nullptr;
};

namespace {

constexpr std::size_t probe_max_body = 64 * 1024;

// GET /version on `c`: any whole HTTP answer proves the server is there.
asio::awaitable<exchange_result> probe_exchange(connection& c, clock::time_point deadline) {
  http_request probe;
  probe.path = "/version";
  probe.method = "GET";
  co_return co_await c.exchange(probe, deadline, probe_max_body);
}

slow_reads::settings slow_reads_settings(const client_config& cfg) {
  slow_reads::settings s;
  s.ceiling = cfg.attempt_timeout;
  return s;
}

endpoint_health::settings health_settings(const client_config& cfg) {
  endpoint_health::settings s;
  s.cooldown = cfg.endpoint_cooldown;
  return s;
}

}  // namespace

asio::awaitable<std::optional<http_response>> http_transport::get_version(const std::string& url) {
  auto remote = parse_endpoint(url, "member client URL");
  std::optional<http_response> answer;
  if (!remote.tls || tls_) {
    connection c(ex_, remote, tls_ ? &*tls_ : nullptr);
    try {
      const auto started = clock::now();
      auto cec =
          co_await c.connect(std::min(started + cfg_.dial_timeout, started + cfg_.probe_timeout));
      if (!cec) {
        auto r = co_await probe_exchange(c, clock::now() + cfg_.probe_timeout);
        if (!r.ec) answer = std::move(r.response);
      }
    } catch (const boost::system::system_error&) {  // (Asio's operation_aborted: see below)
    }
    c.close();
  }
  // (a suspension of a public call: report the caller's cancellation, detail/cancelled.hpp)
  detail::throw_if_cancelled(co_await asio::this_coro::cancellation_state, url);
  co_return answer;
}

asio::awaitable<bool> http_transport::answers_http(const std::string& url) {
  co_return (co_await get_version(url)).has_value();
}

http_transport::http_transport(asio::any_io_executor ex, const client_config& cfg,
                               std::shared_ptr<spdlog::logger> log, detail::task_group& tasks,
                               detail::client_metrics* metrics, tracer* trace)
    : ex_(std::move(ex)),
      cfg_(cfg),
      log_(std::move(log)),
      health_(0, health_settings(cfg)),
      prober_(std::make_shared<prober_state>(ex_)),
      rng_(std::random_device{}()),
      slow_reads_(slow_reads_settings(cfg)),
      tasks_(tasks),
      metrics_(metrics),
      tracer_(trace) {
  prober_->owner = this;
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
  std::vector<std::optional<std::size_t>> kept_from;
  for (auto& url : urls) {
    auto ep = parse_endpoint(url);
    if (ep.tls && !tls_) tls_.emplace(make_tls_context(cfg_.tls));
    member_endpoint m;
    std::optional<std::size_t> from;
    for (std::size_t i = 0; i < endpoints_.size(); ++i)
      if (endpoints_[i].connections->remote().url == ep.url) {
        m = endpoints_[i];
        from = i;
      }
    if (!m.connections)
      m.connections = std::make_shared<pool>(ex_, ep, tls_ ? &*tls_ : nullptr, cfg_.pool_size);
    next.push_back(std::move(m));
    kept_from.push_back(from);
  }
  if (next.empty())
    throw coordination_error(error::invalid_argument, "endpoints: the list is empty");
  for (auto& old : endpoints_) {
    bool kept = false;
    for (auto& n : next) kept |= n.connections == old.connections;
    if (!kept) old.connections->close();
  }
  endpoints_ = std::move(next);
  health_.replace(kept_from);
}

std::vector<std::string> http_transport::endpoints() const {
  std::vector<std::string> out;
  for (auto& e : endpoints_) out.push_back(e.connections->remote().url);
  return out;
}

std::string http_transport::current_endpoint() const {
  return endpoints_[health_.current()].connections->remote().url;
}

std::size_t http_transport::open_connections() const {
  std::size_t n = 0;
  for (auto& e : endpoints_) n += e.connections->open_connections();
  return n;
}

void http_transport::close() {
  closed_ = true;
  for (auto& e : endpoints_) e.connections->close();
  prober_->owner = nullptr;
  prober_->timer.cancel();
  if (prober_->in_flight) prober_->in_flight->close();
}

std::optional<std::size_t> http_transport::index_of(const std::shared_ptr<pool>& p) const {
  for (std::size_t i = 0; i < endpoints_.size(); ++i)
    if (endpoints_[i].connections == p) return i;
  return std::nullopt;
}

void http_transport::note(std::size_t index, endpoint_mark mark) {
  if (mark == endpoint_mark::none || index >= endpoints_.size()) return;
  auto now = clock::now();
  bool moved = mark == endpoint_mark::down ? health_.mark_down(index, now)
                                           : health_.mark_suspect(index, now);
  reported(endpoint_note{index, mark, moved});
}

void http_transport::reported(const endpoint_note& n) {
  if (n.mark == endpoint_mark::suspect) {
    ++stats_.suspect_marks;
    start_prober();
  }
  if (n.moved) {
    ++stats_.failovers;
    if (metrics_) metrics_->failover();
    log_->info("coordination: endpoint {} {}; moving to {}",
               endpoints_[n.endpoint].connections->remote().url,
               n.mark == endpoint_mark::down ? "failed" : "does not answer (suspect)",
               endpoints_[health_.current()].connections->remote().url);
  }
}

void http_transport::start_prober() {
  if (closed_ || prober_->running) return;
  // (a task of the client's group: a failure is logged there, and its close() cancels it)
  prober_->running = tasks_.spawn("probing suspect endpoints", probe_loop(prober_));
}

asio::awaitable<void> http_transport::probe_loop(std::shared_ptr<prober_state> st) {
  // However the loop ends (nothing suspect left, the transport closed, the task group's
  // cancellation thrown at a co_await), a later suspect mark may start it again.
  struct ended {
    prober_state& st;
    ~ended() {
      st.running = false;
      st.in_flight = nullptr;
    }
  } on_exit{*st};
  for (;;) {
    auto* t = st->owner;
    if (!t) co_return;
    auto due = t->health_.next_probe_due();
    if (!due) co_return;
    st->timer.expires_at(*due);
    co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!(t = st->owner)) co_return;
    std::vector<std::shared_ptr<pool>> pools;
    for (auto i : t->health_.start_due_probes(clock::now()))
      pools.push_back(t->endpoints_[i].connections);
    const auto probe_timeout = t->cfg_.probe_timeout;
    const auto dial_timeout = t->cfg_.dial_timeout;
    auto* tls = t->tls_ ? &*t->tls_ : nullptr;
    for (auto& p : pools) {
      connection c(t->ex_, p->remote(), tls);
      st->in_flight = &c;
      ++t->stats_.background_probes;
      auto started = clock::now();
      auto cec = co_await c.connect(std::min(started + dial_timeout, started + probe_timeout));
      bool refused = static_cast<bool>(cec);
      bool ok = false;
      if (!cec) {
        auto r = co_await probe_exchange(c, clock::now() + probe_timeout);
        ok = !r.ec;
      }
      st->in_flight = nullptr;
      c.close();
      if (!(t = st->owner)) co_return;
      auto idx = t->index_of(p);
      if (!idx) continue;
      if (ok) {
        t->health_.answered(*idx);
        t->log_->info("coordination: endpoint {} answers again", p->remote().url);
      } else if (refused && !is_timeout(cec)) {
        // Nothing listens there now (killed, restarting): an ordinary failed endpoint, tried
        // again inline after the cooldown.
        t->health_.answered(*idx);
        t->health_.mark_down(*idx, clock::now());
      } else {
        t->health_.probe_failed(*idx, clock::now());
      }
    }
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

asio::awaitable<std::string> http_transport::call(std::string_view path, std::string body,
                                                  call_kind kind, call_notes& notes) {
  co_return co_await run(std::nullopt, path, std::move(body), kind, true,
                         clock::now() + cfg_.request_timeout, &notes);
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
                                                 clock::time_point deadline, call_notes* notes) {
  const auto started = clock::now();
  detail::span_scope span(tracer_, tracer_ ? "etcd " + std::string(path) : std::string());
  std::error_code failure;
  std::string result;
  try {
    result =
        co_await attempts(fixed, path, std::move(body), kind, authenticated, deadline, span, notes);
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
    if (aborted) throw coordination_error(error::cancelled, std::string(path) + ": cancelled");
    throw;
  }
  // The answer came, but the caller cancelled meanwhile: the call reports the cancellation, so
  // that the caller's frames never resume with the cancellation pending (detail/cancelled.hpp).
  // (A write may have been applied, as for any cancelled write.)
  const bool cancelled =
      (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
  if (cancelled) {
    span.fail(make_error_code(error::cancelled), "cancelled after the answer");
    if (metrics_)
      metrics_->call_done(path, clock::now() - started, make_error_code(error::cancelled));
    throw coordination_error(error::cancelled, std::string(path) + ": cancelled");
  }
  span.ok();
  if (metrics_) metrics_->call_done(path, clock::now() - started, failure);
  co_return result;
}

asio::awaitable<std::string> http_transport::attempts(std::optional<std::size_t> fixed,
                                                      std::string_view path, std::string body,
                                                      call_kind kind, bool authenticated,
                                                      clock::time_point deadline,
                                                      detail::span_scope& span, call_notes* notes) {
  const bool use_auth = authenticated && !cfg_.username.empty();
  call_setup setup{kind, std::string(path), body.size(), fixed, use_auth, deadline, std::nullopt};
  if (kind == call_kind::read && cfg_.retry.resend_slow_reads)
    setup.early_answer = slow_reads_.bound();
  call_fsm fsm(std::move(setup), cfg_, health_);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::shared_ptr<pool> pool_ptr;
  pool::handle conn;
  exchange_result res;
  std::string url;
  std::string refused;  // why authentication failed
  call_event ev;
  // The driver: does the I/O each action names and reports how it ended. Every decision is the
  // machine's (transport/call_fsm.hpp).
  for (;;) {
    ev.now = clock::now();
    ev.closed = closed_;
    ev.have_token = !token_.empty();
    ev.random = unit(rng_);
    ev.url = url;
    ev.endpoint_now = pool_ptr ? index_of(pool_ptr) : std::nullopt;
    auto a = fsm.resume(ev);
    ev = call_event{};
    if (a.failed) after_failure(a, path, kind, fsm.policy().attempts(), url, span);
    switch (a.what) {
      case call_action::type::authenticate:
        try {
          co_await authenticate(a.until);
        } catch (const coordination_error& e) {
          ev.ec = e.code();
          refused = e.diagnostic();
          ev.diagnostic = refused;
        }
        break;
      case call_action::type::acquire: {
        pool_ptr = endpoints_[a.endpoint].connections;
        url = pool_ptr->remote().url;
        auto [ec, c] = co_await pool_ptr->acquire(a.until, cfg_.dial_timeout);
        conn = std::move(c);
        ev.ec = ec;
        ev.proven = conn && conn->proven();
        break;
      }
      case call_action::type::probe: {
        ++stats_.probes;
        auto pr = co_await probe_exchange(conn.get(), a.until);
        if (pr.ec) {
          conn->close();
          conn.reset();
        }
        ev.ec = pr.ec;
        ev.why = pr.why;
        break;
      }
      case call_action::type::exchange: {
        http_request req{path, body, use_auth ? std::string_view(token_) : std::string_view{},
                         cfg_.require_leader};
        ++stats_.requests;
        if (metrics_) metrics_->http_request();
        span.attr("endpoint", url);
        const auto sent_at = clock::now();
        res = co_await conn->exchange(req, a.answer_by, a.until, cfg_.max_response_bytes);
        if (!res.ec && kind == call_kind::read) slow_reads_.answered(clock::now() - sent_at);
        if (res.ec) conn->close();
        conn.reset();  // back to the pool, when still good
        ev.ec = res.ec;
        ev.why = res.why;
        ev.sent = res.where == stage::receive;
        ev.status = res.response.status;
        ev.body = res.response.body;
        break;
      }
      case call_action::type::wait: {
        asio::steady_timer timer(ex_, a.backoff);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        ev.ec = ec;
        break;
      }
      case call_action::type::done:
        if (notes) notes->earlier_attempt_reached = a.earlier_attempt_reached;
        co_return std::move(res.response.body);
      case call_action::type::fail:
        throw coordination_error(a.code, std::move(a.message));
    }
  }
}

void http_transport::after_failure(const call_action& a, std::string_view path, call_kind kind,
                                   int attempt, const std::string& url, detail::span_scope& span) {
  if (a.note) reported(*a.note);
  if (a.failed->error == attempt_error::slow) {
    ++stats_.slow_read_resends;
    // (a readiness probe sent again costs etcd next to nothing: only a resent request counts)
    if (a.failed->stage != attempt_stage::probe) slow_reads_.resent();
  }
  if (a.reauthenticating) {
    ++stats_.reauthentications;
    if (metrics_) metrics_->reauthentication();
    token_.clear();
    log_->debug("coordination: auth token refused, authenticating again");
  }
  if (!a.retrying) return;
  ++stats_.retries;
  if (metrics_) metrics_->retry();
  span.attr("retry", a.failed->what);
  log_->debug("coordination: {} attempt {} ({} {} at {}) failed: {}; retrying", path, attempt,
              to_string(kind), to_string(a.failed->stage), url, a.failed->what);
}

}  // namespace coordination::transport
