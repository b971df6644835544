// Sans-io parser of one HTTP/1.1 answer to a unary gateway call (the hot path: one per request).
// It keeps the status, the body and whether the connection may carry another request; the only
// header fields it looks at are Content-Length, Transfer-Encoding and Connection, none is stored.
// Bodies: Content-Length, chunked, or (neither) until the server closes. Interim 1xx answers are
// skipped. Streamed answers (watch) use stream_reader instead.
// Not thread-safe; one answer at a time, reset() before the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace coordination::transport {

class response_parser {
 public:
  explicit response_parser(std::size_t max_body = SIZE_MAX) { reset(max_body); }
  // Ready for a new answer whose body may be at most `max_body` bytes.
  void reset(std::size_t max_body);

  // Parses the front of `data`; returns how many bytes it used. It stops at the end of the
  // answer (done()): bytes after it are not part of it and are left unused. On failure `ec` is
  // protocol_error (why() says what was wrong) or response_too_large, and the parser stays
  // failed.
  std::size_t feed(std::string_view data, std::error_code& ec);
  // The server closed the connection: that ends a body delimited by the close; anywhere else
  // the answer is cut short (protocol_error).
  void feed_eof(std::error_code& ec);

  bool done() const { return state_ == state::done; }
  bool header_done() const { return state_ > state::head; }
  unsigned status() const { return status_; }
  // The server keeps the connection open after this answer (HTTP/1.1 without "close", or
  // HTTP/1.0 with "keep-alive"), and the body's end was not the connection's.
  bool keep_alive() const { return keep_alive_; }
  std::string& body() { return body_; }
  // What was wrong, for a protocol_error; empty otherwise.
  std::string_view why() const { return why_; }

  // While a Content-Length body is read: how many of its bytes are still due, and where they go.
  // A caller may read them straight there and then report them with body_written().
  std::size_t body_due() const;
  char* body_tail() { return body_.data() + filled_; }
  void body_written(std::size_t n);

  // The longest status line + header block accepted.
  static constexpr std::size_t max_header = 64 * 1024;

 private:
  enum class state {
    head,
    length_body,
    eof_body,
    chunk_size,
    chunk_data,
    chunk_end,
    trailers,
    done
  };

  // Forgets what one header block said about framing (Content-Length, codings, Connection).
  void clear_framing();
  std::size_t fail(std::error_code& ec, const char* why);  // protocol_error
  std::size_t too_large(std::error_code& ec);
  // Parses a whole header block (status line to the blank line, included).
  bool parse_head(std::string_view head, std::error_code& ec);
  bool header_field(std::string_view name, std::string_view value, std::error_code& ec);
  // Collects one CRLF-terminated line of at most `limit` bytes into line_ (the CRLF dropped);
  // returns bytes used from `data`, and whether the line is complete.
  std::size_t take_line(std::string_view data, std::size_t limit, bool& complete,
                        std::error_code& ec);

  state state_ = state::head;
  std::size_t max_body_ = SIZE_MAX;
  unsigned status_ = 0;
  bool keep_alive_ = false;
  bool http10_ = false;
  bool close_ = false;
  bool keep_alive_token_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  bool has_encoding_ = false;  // a Transfer-Encoding field (chunked_: its last coding is chunked)
  bool chunks_seen_ = false;   // "chunked" was among the codings
  bool chunk_cr_ = false;      // the CR after a chunk's data was read, the LF is due
  std::uint64_t length_ = 0;
  std::uint64_t chunk_left_ = 0;
  std::size_t filled_ = 0;  // body bytes in place (Content-Length bodies)
  std::size_t trailer_bytes_ = 0;
  std::string head_;  // header bytes gathered across feeds
  std::string line_;  // a chunk-size or trailer line gathered across feeds
  std::string body_;
  const char* why_ = "";
  std::error_code error_;
};

}  // namespace coordination::transport
