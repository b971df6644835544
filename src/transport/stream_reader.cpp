#include "transport/stream_reader.hpp"

#include <boost/beast/http/error.hpp>

#include "coordination/error.hpp"

namespace coordination::transport {

namespace http = boost::beast::http;

stream_reader::stream_reader(std::size_t max_message)
    : messages_(max_message), max_message_(max_message) {
  // Not eager until the header has been checked: a length-delimited body is read into one
  // string, which Beast reserves as soon as the body starts, whatever Content-Length says.
  parser_.eager(false);
  parser_.body_limit(boost::none);  // bounded per message by json_stream instead
  on_chunk_ = [this](std::uint64_t, boost::beast::string_view body,
                     boost::beast::error_code& ec) -> std::size_t {
    if (auto e = messages_.feed(std::string_view(body.data(), body.size()))) {
      failed_ = e;
      ec = http::error::bad_chunk;
    }
    return body.size();  // consumed here: the string body stays empty
  };
  parser_.on_chunk_body(on_chunk_);
}

std::error_code stream_reader::feed(std::string_view bytes) {
  if (failed_) return failed_;
  if (parser_.is_done()) {
    pending_.append(bytes);
    return {};
  }
  pending_.append(bytes);
  std::size_t used = 0;
  while (used < pending_.size() && !parser_.is_done()) {
    boost::beast::error_code ec;
    auto n = parser_.put(boost::asio::buffer(pending_.data() + used, pending_.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) break;
    if (ec) {
      if (!failed_) failed_ = make_error_code(error::protocol_error);
      return failed_;
    }
    if (!header_checked_ && parser_.is_header_done()) {
      header_checked_ = true;
      auto length = parser_.content_length();
      if (!parser_.chunked() && length && *length > max_message_)
        return failed_ = make_error_code(error::response_too_large);
      parser_.eager(true);
    }
    if (n == 0) break;
  }
  pending_.erase(0, used);
  if (parser_.is_done() && !parser_.chunked() && !body_fed_) {
    body_fed_ = true;
    if (auto e = messages_.feed(parser_.get().body())) return failed_ = e;
  }
  return {};
}

}  // namespace coordination::transport
