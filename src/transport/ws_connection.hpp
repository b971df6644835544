// One WebSocket connection to an endpoint's /v3/watch (plain or TLS): the gateway's full-duplex
// watch stream. Text frames out are WatchRequests, frames in are {"result":...} messages.
// Not thread-safe; one reader and one writer at a time (the watch hub's link does that).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "transport/endpoint.hpp"

namespace coordination::transport {

struct ws_options {
  std::chrono::steady_clock::time_point handshake_deadline;
  // Without any frame (or pong) for this long the connection counts as dead; pings go out after
  // half of it.
  std::chrono::milliseconds idle_timeout{10000};
  std::string authorization;  // token, sent on the upgrade request
  bool require_leader = true;
  std::size_t max_message = 16u * 1024 * 1024;
};

class ws_connection {
 public:
  ws_connection(boost::asio::any_io_executor ex, const endpoint& ep,
                boost::asio::ssl::context* tls);
  ~ws_connection();

  boost::asio::awaitable<std::error_code> connect(const ws_options& o);
  // One whole message (text frame(s)); an error when the connection ends.
  boost::asio::awaitable<std::pair<std::error_code, std::string>> read();
  boost::asio::awaitable<std::error_code> write(const std::string& frame);
  void close() noexcept;
  const endpoint& remote() const { return ep_; }

 private:
  using plain_ws = boost::beast::websocket::stream<boost::beast::tcp_stream>;
  using tls_ws =
      boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>>;
  boost::beast::tcp_stream& tcp();

  endpoint ep_;
  std::optional<plain_ws> plain_;
  std::optional<tls_ws> tls_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace coordination::transport
