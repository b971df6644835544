#include "transport/ws_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <tuple>

#include "coordination/error.hpp"
#include "detail/use_tuple.hpp"

namespace coordination::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using detail::use_tuple;

ws_connection::ws_connection(asio::any_io_executor ex, const endpoint& ep, asio::ssl::context* tls)
    : ep_(ep) {
  if (ep.tls && tls)
    tls_.emplace(ex, *tls);
  else
    plain_.emplace(ex);
}

ws_connection::~ws_connection() {
  close();
}

beast::tcp_stream& ws_connection::tcp() {
  return tls_ ? beast::get_lowest_layer(*tls_) : beast::get_lowest_layer(*plain_);
}

void ws_connection::close() noexcept {
  boost::system::error_code ignored;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp().socket().close(ignored);
}

asio::awaitable<std::error_code> ws_connection::connect(const ws_options& o) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto& stream = tcp();
  stream.expires_at(o.handshake_deadline);
  auto [rec, results] = co_await resolver.async_resolve(ep_.host, ep_.port, use_tuple);
  if (rec) co_return rec;
  auto [cec, _] = co_await stream.async_connect(results, use_tuple);
  if (cec) co_return cec;
  stream.socket().set_option(tcp::no_delay(true));
  auto decorate = [o](websocket::request_type& req) {
    if (!o.authorization.empty()) req.set(beast::http::field::authorization, o.authorization);
    if (o.require_leader) req.set("Grpc-Metadata-Hasleader", "true");
  };
  websocket::stream_base::timeout t;
  t.handshake_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      o.handshake_deadline - std::chrono::steady_clock::now());
  t.idle_timeout = o.idle_timeout;
  t.keep_alive_pings = true;
  std::string host = ep_.host + ":" + ep_.port;
  auto handshake = [&](auto& ws) -> asio::awaitable<std::error_code> {
    ws.set_option(websocket::stream_base::decorator(decorate));
    ws.read_message_max(o.max_message);
    ws.auto_fragment(false);
    ws.text(true);
    auto [hec] = co_await ws.async_handshake(host, "/v3/watch", use_tuple);
    if (hec) co_return hec;
    // After the handshake the websocket's own timers take over from the TCP deadline.
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(t);
    co_return std::error_code{};
  };
  if (tls_) {
    if (!SSL_set_tlsext_host_name(tls_->next_layer().native_handle(), ep_.host.c_str()))
      co_return make_error_code(error::tls_error);
    tls_->next_layer().set_verify_callback(asio::ssl::host_name_verification(ep_.host));
    auto [tec] =
        co_await tls_->next_layer().async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (tec) co_return tec;
    co_return co_await handshake(*tls_);
  }
  co_return co_await handshake(*plain_);
}

asio::awaitable<std::pair<std::error_code, std::string>> ws_connection::read() {
  buffer_.clear();
  // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_)
    result = co_await tls_->async_read(buffer_, use_tuple);
  else
    result = co_await plain_->async_read(buffer_, use_tuple);
  auto [ec, n] = result;
  if (ec) co_return std::pair<std::error_code, std::string>(ec, std::string());
  co_return std::pair<std::error_code, std::string>(std::error_code{},
                                                    beast::buffers_to_string(buffer_.data()));
}

asio::awaitable<std::error_code> ws_connection::write(const std::string& frame) {
  // (if/else, not ?: — GCC 12 mishandles co_await inside a conditional expression)
  std::tuple<boost::system::error_code, std::size_t> result;
  if (tls_)
    result = co_await tls_->async_write(asio::buffer(frame), use_tuple);
  else
    result = co_await plain_->async_write(asio::buffer(frame), use_tuple);
  auto [ec, n] = result;
  co_return ec;
}

}  // namespace coordination::transport
