#include "transport/connection.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <tuple>

#include "coordination/error.hpp"

namespace coordination::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// The answer's status and body, nothing else: the gateway's header fields are not needed (Beast
// itself tracks Content-Length, chunking and keep-alive), so none are stored, which saves an
// allocation per field and about a tenth of the client's CPU per request.
class lean_response_parser : public http::basic_parser<false> {
 public:
  unsigned status = 0;
  std::string body;

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view,
                     beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    body.clear();
    if (length) body.reserve(static_cast<std::size_t>(*length));  // within body_limit()
  }
  std::size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, beast::error_code&) override {
    body.append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

}  // namespace

connection::connection(asio::any_io_executor ex, const endpoint& ep, asio::ssl::context* tls)
    : ep_(ep) {
  if (ep.tls && tls) {
    tls_.emplace(ex, *tls);
  } else {
    tcp_.emplace(ex);
  }
}

connection::~connection() {
  close();
}

beast::tcp_stream& connection::tcp() {
  return tls_ ? beast::get_lowest_layer(*tls_) : *tcp_;
}

void connection::close() noexcept {
  keep_alive_ = false;
  boost::system::error_code ignored;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp().socket().close(ignored);
}

bool connection::reusable(bool check_peer) {
  if (!keep_alive_ || !tcp().socket().is_open()) return false;
  if (!check_peer) return true;
  // An idle keep-alive connection the server closed shows as a readable EOF. Sending a write on
  // it would end in an ambiguous "sent, no answer", so find out before sending.
  char byte;
  auto n = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return false;
  return n < 0;  // data before a request is garbage too: do not reuse
}

asio::awaitable<std::error_code> connection::connect(clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto& stream = tcp();
  stream.expires_at(deadline);
  auto [rec, results] = co_await resolver.async_resolve(ep_.host, ep_.port, use_tuple);
  if (rec) co_return rec;
  auto [cec, _] = co_await stream.async_connect(results, use_tuple);
  if (cec) co_return cec;
  stream.socket().set_option(tcp::no_delay(true));
  if (tls_) {
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), ep_.host.c_str()))
      co_return make_error_code(error::tls_error);
    tls_->set_verify_callback(asio::ssl::host_name_verification(ep_.host));
    auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) co_return hec;
  }
  keep_alive_ = true;
  co_return std::error_code{};
}

asio::awaitable<exchange_result> connection::exchange(const http_request& req,
                                                      clock::time_point deadline,
                                                      std::size_t max_body) {
  tcp().expires_at(deadline);
  keep_alive_ = false;  // true again only after a complete keep-alive answer
  if (tls_) co_return co_await exchange_on(*tls_, req, max_body);
  co_return co_await exchange_on(*tcp_, req, max_body);
}

void connection::format_head(const http_request& req) {
  head_.clear();
  head_.append("POST ").append(req.path).append(" HTTP/1.1\r\nHost: ").append(ep_.host);
  head_.append(":").append(ep_.port);
  head_.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  head_.append(std::to_string(req.body.size()));
  if (!req.authorization.empty()) head_.append("\r\nAuthorization: ").append(req.authorization);
  if (req.require_leader) head_.append("\r\nGrpc-Metadata-Hasleader: true");
  head_.append("\r\n\r\n");
}

asio::awaitable<std::error_code> connection::send_streaming(const http_request& req,
                                                            clock::time_point deadline) {
  keep_alive_ = false;
  tcp().expires_at(deadline);
  format_head(req);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(req.body)};
  // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_)
    result = co_await asio::async_write(*tls_, bufs, use_tuple);
  else
    result = co_await asio::async_write(*tcp_, bufs, use_tuple);
  auto [ec, n] = result;
  tcp().expires_never();
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
                                                         std::size_t max_body) {
  exchange_result out;
  format_head(req);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(req.body)};
  auto [wec, _] = co_await asio::async_write(s, bufs, use_tuple);
  if (wec) {
    out.ec = wec;
    out.where = stage::send;
    co_return out;
  }
  lean_response_parser parser;
  parser.body_limit(max_body);
  buffer_.clear();
  auto [rec, n] = co_await http::async_read(s, buffer_, parser, use_tuple);
  out.where = stage::receive;
  if (rec) {
    out.ec = rec == http::error::body_limit ? make_error_code(error::response_too_large)
                                            : std::error_code(rec);
    co_return out;
  }
  out.response.status = parser.status;
  out.response.body = std::move(parser.body);
  keep_alive_ = parser.keep_alive() && buffer_.size() == 0;
  co_return out;
}

}  // namespace coordination::transport
