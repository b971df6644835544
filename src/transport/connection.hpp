// One HTTP/1.1 keep-alive connection to one etcd endpoint, plain TCP or TLS. It sends one request
// and reads its whole answer; it knows nothing of etcd beyond the headers the gateway wants.
// Not thread-safe: used by one coroutine at a time (the pool hands it out).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "transport/endpoint.hpp"
#include "transport/response_parser.hpp"

namespace coordination::transport {

using clock = std::chrono::steady_clock;

struct http_request {
  std::string_view path;  // "/v3/kv/put"
  std::string_view body;  // JSON
  std::string_view authorization;
  bool require_leader = false;
  std::string_view method = "POST";  // the readiness probe sends GET /version
};

struct http_response {
  unsigned status = 0;
  std::string body;
};

// Where a failed exchange stopped: before the request left (safe to resend anything), or after
// (a write may have been applied).
enum class stage { connect, send, receive };

struct exchange_result {
  std::error_code ec;    // transport error (asio/beast/ssl), or a coordination::error
  std::string_view why;  // for a protocol_error: what was wrong with the answer (static text)
  stage where = stage::receive;
  http_response response;
};

class connection {
 public:
  connection(boost::asio::any_io_executor ex, const endpoint& ep, boost::asio::ssl::context* tls);
  ~connection();

  // TCP connect (and TLS handshake) bounded by `deadline` (a passed deadline ends an operation
  // with beast::error::timeout, as for exchange() and send_streaming()).
  boost::asio::awaitable<std::error_code> connect(clock::time_point deadline);
  // Sends `req`, reads the answer (body at most `max_body` bytes), all before `deadline`.
  boost::asio::awaitable<exchange_result> exchange(const http_request& req,
                                                   clock::time_point deadline,
                                                   std::size_t max_body);
  // Same, but the answer's first bytes must come before `answer_deadline` (<= deadline): a
  // server that does not start answering by then ends the exchange with beast::error::timeout.
  boost::asio::awaitable<exchange_result> exchange(const http_request& req,
                                                   clock::time_point answer_deadline,
                                                   clock::time_point deadline,
                                                   std::size_t max_body);
  // The server has spoken on this connection: a TLS handshake, or a whole HTTP answer. A request
  // that must not be lost in a paused server goes only on a proven connection.
  bool proven() const { return proven_; }
  // For a streamed answer (the POST form of /v3/watch): sends `req` and returns; then
  // read_some() hands out the raw answer bytes as they come (a stream_reader parses them).
  // No deadline: the caller bounds it. The connection is not reusable afterwards.
  boost::asio::awaitable<std::error_code> send_streaming(const http_request& req,
                                                         clock::time_point deadline);
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(char* data,
                                                                            std::size_t size);
  // False once the server asked to close or an exchange failed; with `check_peer`, also when
  // the peer hung up while the connection was idle (one non-blocking peek: a system call).
  bool reusable(bool check_peer = true);
  void close() noexcept;
  const endpoint& remote() const { return ep_; }

 private:
  struct deadline_state;
  using tcp_socket = boost::asio::ip::tcp::socket;

  // The deadline bounds the operations in flight from arm() to the scope's end. A request is
  // first written without waiting (send()), so the deadline is set only after that.
  class deadline_scope {
   public:
    deadline_scope(connection* c, clock::time_point deadline) : c_(c), deadline_(deadline) {}
    ~deadline_scope();
    deadline_scope(const deadline_scope&) = delete;
    deadline_scope& operator=(const deadline_scope&) = delete;
    void arm();
    // A later deadline for what follows (the answer has begun: the rest may take longer).
    void extend(clock::time_point deadline);
    // Checked before each I/O step, since a cancellation reaches only an operation still
    // waiting (the watchdog may fire while a completion waits to run): the deadline passed
    // (timeout) or the connection was closed (operation_aborted); else no error.
    std::error_code halted() const;

   private:
    connection* c_;
    clock::time_point deadline_;
    bool armed_ = false;
  };
  void format_head(const http_request& req);
  template <class Stream>
  boost::asio::awaitable<std::error_code> send(Stream& s, const http_request& req,
                                               deadline_scope& bounded);
  template <class Stream>
  boost::asio::awaitable<exchange_result> exchange_on(Stream& s, const http_request& req,
                                                      std::size_t max_body, deadline_scope& bounded,
                                                      clock::time_point deadline);
  void arm(clock::time_point deadline);
  void disarm();
  static void start_wait(const std::shared_ptr<deadline_state>& state);
  // An I/O error as the caller sees it: the cancellation done by a passed deadline is a timeout.
  std::error_code io_error(const boost::system::error_code& ec) const;
  static std::error_code timed_out();
  tcp_socket& socket();

  const endpoint& ep_;
  std::optional<tcp_socket> tcp_;
  std::optional<boost::asio::ssl::stream<tcp_socket>> tls_;
  std::shared_ptr<deadline_state> deadline_;  // shared with the timer's handler
  std::unique_ptr<char[]> read_buffer_;
  std::string head_;
  response_parser parser_;
  bool keep_alive_ = false;
  bool closed_ = false;  // close() was called: a connect() in progress gives up
  bool proven_ = false;
};

}  // namespace coordination::transport
