// Beast's HTTP/1.1 response parser as the reference reading of an answer, for the tests and the
// fuzz target of transport::response_parser. Header-only: the fuzz build compiles it with its
// own instrumentation.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace coordination::test {

struct reference_answer {
  bool complete = false;  // a whole final (>= 200) answer, no error
  std::string error;      // Beast's, when it refused
  unsigned status = 0;
  bool keep_alive = false;  // and the body did not end with the connection
  std::string body;
};

// Reads `in` with Beast, then the end of the connection when the answer needs it.
inline reference_answer beast_read(std::string_view in, std::size_t max_body,
                                   std::size_t max_header) {
  namespace http = boost::beast::http;
  http::response_parser<http::string_body> p;
  p.body_limit(max_body);
  p.header_limit(static_cast<std::uint32_t>(max_header));
  reference_answer out;
  boost::beast::error_code ec;
  std::size_t pos = 0;
  while (pos < in.size() && !p.is_done()) {
    auto n = p.put(boost::asio::buffer(in.data() + pos, in.size() - pos), ec);
    pos += n;
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0) break;
      continue;
    }
    if (ec) break;
  }
  // (Beast asserts there was something before the end)
  if (!ec && !p.is_done() && p.got_some()) p.put_eof(ec);
  if (ec || !p.is_done()) {
    out.error = ec ? ec.message() : "incomplete";
    return out;
  }
  if (p.get().result_int() < 200) return out;
  out.complete = true;
  out.status = p.get().result_int();
  out.keep_alive = p.get().keep_alive() && !p.need_eof();
  out.body = p.get().body();
  return out;
}

}  // namespace coordination::test
