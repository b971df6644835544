// Sans-io reader of one streamed HTTP/1.1 answer from the gateway (watch, keep-alive, observe):
// status line and headers, then a chunked (or length-delimited) body carrying JSON objects one
// after another. Feed it bytes as they arrive, in any split; take whole JSON messages out.
// The I/O around it (issue: watches) stays a thin read loop.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <optional>
#include <string>
#include <system_error>

#include "protocol/json_stream.hpp"

namespace coordination::transport {

class stream_reader {
 public:
  explicit stream_reader(std::size_t max_message = 16u * 1024 * 1024);
  stream_reader(const stream_reader&) = delete;  // the parser calls back into this object
  stream_reader& operator=(const stream_reader&) = delete;
  // Consumes all of `bytes` (keeping what it cannot parse yet). protocol_error for malformed
  // HTTP or JSON framing, response_too_large for an oversized message.
  std::error_code feed(std::string_view bytes);
  bool header_done() const { return parser_.is_header_done(); }
  unsigned status() const { return parser_.get().result_int(); }
  // Next whole JSON message of the body, if any.
  std::optional<std::string> next_message() { return messages_.next(); }
  // The answer ended (last chunk read, or content-length reached).
  bool done() const { return parser_.is_done(); }
  // Bytes read past the end of this answer (the next answer on a keep-alive connection).
  const std::string& leftover() const { return pending_; }

 private:
  std::function<std::size_t(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)>
      on_chunk_;
  boost::beast::http::response_parser<boost::beast::http::string_body> parser_;
  detail::json_stream messages_;
  std::string pending_;
  std::error_code failed_;
  bool body_fed_ = false;
  bool header_checked_ = false;  // the Content-Length was checked against max_message_
  std::size_t max_message_;
};

}  // namespace coordination::transport
