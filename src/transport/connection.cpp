#include "transport/connection.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <tuple>
#include <type_traits>

#include "coordination/error.hpp"
#include "detail/use_tuple.hpp"

namespace coordination::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using detail::use_tuple;

namespace {

// Big enough for a typical gateway answer (header ~250 bytes + body) in one read.
constexpr std::size_t read_buffer_size = 16 * 1024;

}  // namespace

// The deadline of the operations in flight, kept by a watchdog rather than a timer set and
// cancelled per request (each costs a system call, and each cancellation a trip through the
// event loop): one timer wait stays pending, at most `watchdog_period` ahead, and when it ends
// it looks at the current deadline: passed (with operations in flight) - it cancels them;
// ahead - it waits again; nothing in flight - it stops. So after the last request an idle
// connection keeps a wait pending for at most watchdog_period (io_context::run() returns after
// that, or at once when the connection is closed). The state is shared with the timer's
// handler, which can outlive the connection (`socket` is cleared then); a wait replaced by an
// earlier one is told apart by `generation`.
constexpr auto watchdog_period = std::chrono::seconds(1);

struct connection::deadline_state {
  explicit deadline_state(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  tcp::socket* socket = nullptr;
  unsigned generation = 0;
  bool fired = false;
  clock::time_point deadline = clock::time_point::max();       // of the operations in flight
  clock::time_point waiting_until = clock::time_point::max();  // the pending wait's end
};

connection::connection(asio::any_io_executor ex, const endpoint& ep, asio::ssl::context* tls)
    : ep_(ep), deadline_(std::make_shared<deadline_state>(ex)) {
  if (ep.tls && tls) {
    tls_.emplace(ex, *tls);
  } else {
    tcp_.emplace(ex);
  }
  deadline_->socket = &socket();
}

connection::~connection() {
  close();
  deadline_->socket = nullptr;
}

tcp::socket& connection::socket() {
  return tls_ ? tls_->next_layer() : *tcp_;
}

void connection::arm(clock::time_point deadline) {
  auto& d = *deadline_;
  d.fired = false;
  d.deadline = deadline;
  if (d.waiting_until > deadline) start_wait(deadline_);  // else that wait looks again then
}

void connection::start_wait(const std::shared_ptr<deadline_state>& state) {
  auto at = std::min(state->deadline, clock::now() + watchdog_period);
  state->waiting_until = at;
  state->timer.expires_at(at);  // (a later wait still pending ends, its generation stale)
  state->timer.async_wait([state, gen = ++state->generation](const boost::system::error_code&) {
    if (gen != state->generation) return;
    state->waiting_until = clock::time_point::max();
    if (!state->socket || state->deadline == clock::time_point::max()) return;  // idle
    if (clock::now() < state->deadline) return start_wait(state);
    state->fired = true;
    boost::system::error_code ignored;
    state->socket->cancel(ignored);  // the operations in flight end with operation_aborted
  });
}

void connection::deadline_scope::arm() {
  if (armed_) return;
  armed_ = true;
  c_->arm(deadline_);
}

void connection::deadline_scope::extend(clock::time_point deadline) {
  if (deadline <= deadline_) return;
  deadline_ = deadline;
  if (armed_) c_->arm(deadline_);  // (the pending wait finds the later deadline and waits on)
}

std::error_code connection::deadline_scope::halted() const {
  if (c_->closed_)
    return std::error_code(boost::system::error_code(asio::error::operation_aborted));
  if (c_->deadline_->fired || clock::now() >= deadline_) return timed_out();
  return {};
}

connection::deadline_scope::~deadline_scope() {
  if (armed_) c_->disarm();
}

void connection::disarm() {
  deadline_->deadline = clock::time_point::max();
}

std::error_code connection::timed_out() {
  return std::error_code(boost::system::error_code(beast::error::timeout));
}

std::error_code connection::io_error(const boost::system::error_code& ec) const {
  if (ec == asio::error::operation_aborted && deadline_->fired) return timed_out();
  return ec;
}

void connection::close() noexcept {
  keep_alive_ = false;
  closed_ = true;
  disarm();
  ++deadline_->generation;
  deadline_->waiting_until = clock::time_point::max();
  deadline_->timer.cancel();
  boost::system::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

bool connection::reusable(bool check_peer) {
  if (!keep_alive_ || !socket().is_open()) return false;
  if (!check_peer) return true;
  // An idle keep-alive connection the server closed shows as a readable EOF. Sending a write on
  // it would end in an ambiguous "sent, no answer", so find out before sending.
  char byte;
  auto n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return false;
  return n < 0;  // data before a request is garbage too: do not reuse
}

asio::awaitable<std::error_code> connection::connect(clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  deadline_scope bounded(this, deadline);
  bounded.arm();
  // (The resolver is not bounded by the deadline: a name lookup runs to its end.)
  auto [rec, results] = co_await resolver.async_resolve(ep_.host, ep_.port, use_tuple);
  if (rec) co_return io_error(rec);
  // Each address in turn (asio::async_connect would go on to the next address after the
  // watchdog's cancellation, unbounded); the first that answers.
  boost::system::error_code cec = asio::error::host_not_found;
  for (const auto& entry : results) {
    if (auto ec = bounded.halted()) co_return ec;
    boost::system::error_code ignored;
    socket().close(ignored);  // (opened again by async_connect)
    std::tie(cec) = co_await socket().async_connect(entry.endpoint(), use_tuple);
    if (!cec || cec == asio::error::operation_aborted) break;
  }
  if (cec) co_return io_error(cec);
  if (auto ec = bounded.halted()) co_return ec;
  socket().set_option(tcp::no_delay(true));
  if (tls_) {
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), ep_.host.c_str()))
      co_return make_error_code(error::tls_error);
    tls_->set_verify_callback(asio::ssl::host_name_verification(ep_.host));
    auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) co_return io_error(hec);
    if (auto ec = bounded.halted()) co_return ec;
    proven_ = true;  // the server answered the handshake
  } else {
    // Requests are first written straight away (send()): a full socket buffer must answer
    // would_block rather than block the thread.
    socket().non_blocking(true);
  }
  keep_alive_ = true;
  co_return std::error_code{};
}

asio::awaitable<exchange_result> connection::exchange(const http_request& req,
                                                      clock::time_point deadline,
                                                      std::size_t max_body) {
  return exchange(req, deadline, deadline, max_body);
}

asio::awaitable<exchange_result> connection::exchange(const http_request& req,
                                                      clock::time_point answer_deadline,
                                                      clock::time_point deadline,
                                                      std::size_t max_body) {
  keep_alive_ = false;  // true again only after a complete keep-alive answer
  deadline_scope bounded(this, std::min(answer_deadline, deadline));
  exchange_result r;
  if (tls_)
    r = co_await exchange_on(*tls_, req, max_body, bounded, deadline);
  else
    r = co_await exchange_on(*tcp_, req, max_body, bounded, deadline);
  co_return r;
}

void connection::format_head(const http_request& req) {
  head_.clear();
  head_.append(req.method)
      .append(" ")
      .append(req.path)
      .append(" HTTP/1.1\r\nHost: ")
      .append(ep_.host);
  head_.append(":").append(ep_.port);
  head_.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  head_.append(std::to_string(req.body.size()));
  if (!req.authorization.empty()) head_.append("\r\nAuthorization: ").append(req.authorization);
  if (req.require_leader) head_.append("\r\nGrpc-Metadata-Hasleader: true");
  head_.append("\r\n\r\n");
}

template <class Stream>
asio::awaitable<std::error_code> connection::send(Stream& s, const http_request& req,
                                                  deadline_scope& bounded) {
  // Nothing leaves once the deadline has passed (a connection handed over late, say).
  if (auto ec = bounded.halted()) co_return ec;
  format_head(req);
  std::size_t sent = 0;
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    // Straight away first: a request nearly always fits the socket buffer, which saves the
    // round through the event loop an asynchronous write costs even when it completes at once.
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(req.body)};
    boost::system::error_code ec;
    sent = s.write_some(bufs, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again)
      co_return io_error(ec);
  } else {
    // TLS: one buffer, so that the request goes out in one record.
    head_.append(req.body);
  }
  // What follows waits (the write's rest, then the answer): the deadline matters from here.
  bounded.arm();
  const std::size_t total =
      head_.size() + (std::is_same_v<Stream, tcp::socket> ? req.body.size() : 0);
  if (sent == total) co_return std::error_code{};
  if (auto ec = bounded.halted()) co_return ec;
  // The rest (what did not fit): head then body, from where the first write stopped.
  std::array<asio::const_buffer, 2> rest{};
  if (sent < head_.size()) {
    rest[0] = asio::buffer(head_.data() + sent, head_.size() - sent);
    if constexpr (std::is_same_v<Stream, tcp::socket>) rest[1] = asio::buffer(req.body);
  } else {
    rest[0] = asio::buffer(req.body.data() + (sent - head_.size()), total - sent);
  }
  auto [ec, n] = co_await asio::async_write(s, rest, use_tuple);
  co_return io_error(ec);
}

asio::awaitable<std::error_code> connection::send_streaming(const http_request& req,
                                                            clock::time_point deadline) {
  keep_alive_ = false;
  deadline_scope bounded(this, deadline);
  // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
  std::error_code ec;
  if (tls_)
    ec = co_await send(*tls_, req, bounded);
  else
    ec = co_await send(*tcp_, req, bounded);
  co_return ec;
}

asio::awaitable<std::pair<std::error_code, std::size_t>> connection::read_some(char* data,
                                                                               std::size_t size) {
  auto buf = asio::buffer(data, size);
  // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_)
    result = co_await tls_->async_read_some(buf, use_tuple);
  else
    result = co_await tcp_->async_read_some(buf, use_tuple);
  auto [ec, n] = result;
  co_return std::pair<std::error_code, std::size_t>(ec, n);
}

template <class Stream>
asio::awaitable<exchange_result> connection::exchange_on(Stream& s, const http_request& req,
                                                         std::size_t max_body,
                                                         deadline_scope& bounded,
                                                         clock::time_point deadline) {
  exchange_result out;
  if (auto ec = co_await send(s, req, bounded)) {
    out.ec = ec;
    out.where = stage::send;
    co_return out;
  }
  out.where = stage::receive;
  if (!read_buffer_) read_buffer_ = std::make_unique<char[]>(read_buffer_size);
  parser_.reset(max_body);
  bool extra = false;  // bytes after the answer: the connection is out of step, not reusable
  while (!parser_.done()) {
    if (auto ec = bounded.halted()) {
      out.ec = ec;
      co_return out;
    }
    // A long Content-Length body is read straight into place.
    const bool direct = parser_.body_due() >= read_buffer_size;
    auto buf = direct ? asio::buffer(parser_.body_tail(), parser_.body_due())
                      : asio::buffer(read_buffer_.get(), read_buffer_size);
    auto [rec, n] = co_await s.async_read_some(buf, use_tuple);
    if (n > 0) bounded.extend(deadline);  // the answer has begun
    std::error_code pec;
    if (rec == asio::error::eof) {  // (a TLS stream cut without close_notify is an error)
      parser_.feed_eof(pec);
    } else if (rec) {
      out.ec = io_error(rec);
      co_return out;
    } else if (direct) {
      parser_.body_written(n);
    } else {
      auto used = parser_.feed(std::string_view(read_buffer_.get(), n), pec);
      extra = used < n;
    }
    if (pec) {
      out.ec = pec;
      out.why = parser_.why();
      co_return out;
    }
    if (rec) break;  // the end of a body delimited by the connection's end
  }
  // Over TLS, bytes past the answer can wait inside OpenSSL, out of the peek's sight.
  if constexpr (!std::is_same_v<Stream, tcp::socket>) extra |= SSL_pending(s.native_handle()) > 0;
  out.response.status = parser_.status();
  out.response.body = std::move(parser_.body());
  keep_alive_ = parser_.keep_alive() && !extra && !deadline_->fired;
  proven_ = true;
  co_return out;
}

}  // namespace coordination::transport
