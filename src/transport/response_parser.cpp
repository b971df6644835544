#include "transport/response_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "coordination/error.hpp"

namespace coordination::transport {

namespace {

constexpr std::size_t max_line = 4096;  // a chunk-size or trailer line

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower_b[i]) return false;
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Header name bytes: visible ASCII except the separators that cannot be in a token (a table,
// one lookup per byte).
constexpr std::array<bool, 256> token_chars = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0x21; c < 0x7f; ++c) t[c] = true;
  for (char s : std::string_view("\"(),/:;<=>?@[\\]{}")) t[static_cast<unsigned char>(s)] = false;
  return t;
}();

bool is_token_char(char c) {
  return token_chars[static_cast<unsigned char>(c)];
}

bool all_token_chars(std::string_view s) {
  bool ok = true;
  for (char c : s) ok &= is_token_char(c);
  return ok;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Calls f(token) for each comma-separated, trimmed, non-empty element of a header value.
template <class F>
void for_each_token(std::string_view value, F f) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto token = trim(value.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

void response_parser::reset(std::size_t max_body) {
  state_ = state::head;
  max_body_ = max_body;
  status_ = 0;
  keep_alive_ = http10_ = chunk_cr_ = false;
  clear_framing();
  error_ = {};
  chunk_left_ = 0;
  filled_ = trailer_bytes_ = 0;
  head_.clear();
  line_.clear();
  body_.clear();
  why_ = "";
}

void response_parser::clear_framing() {
  close_ = keep_alive_token_ = chunked_ = has_length_ = has_encoding_ = chunks_seen_ = false;
  length_ = 0;
}

std::size_t response_parser::fail(std::error_code& ec, const char* why) {
  why_ = why;
  error_ = make_error_code(error::protocol_error);
  ec = error_;
  return 0;
}

std::size_t response_parser::too_large(std::error_code& ec) {
  error_ = make_error_code(error::response_too_large);
  ec = error_;
  return 0;
}

std::size_t response_parser::body_due() const {
  return state_ == state::length_body ? static_cast<std::size_t>(length_) - filled_ : 0;
}

void response_parser::body_written(std::size_t n) {
  filled_ += std::min(n, body_due());
  if (state_ == state::length_body && filled_ == length_) state_ = state::done;
}

std::size_t response_parser::take_line(std::string_view data, std::size_t limit, bool& complete,
                                       std::error_code& ec) {
  complete = false;
  auto lf = data.find('\n');
  auto part = data.substr(0, lf);
  if (line_.size() + part.size() > limit + 1)
    return fail(ec, "a chunk or trailer line is too long");
  line_.append(part);
  if (lf == std::string_view::npos) return data.size();
  if (line_.empty() || line_.back() != '\r') return fail(ec, "a line ends without CR LF");
  line_.pop_back();
  complete = true;
  return lf + 1;
}

bool response_parser::header_field(std::string_view name, std::string_view value,
                                   std::error_code& ec) {
  bool conflict = false;
  if (iequals(name, "content-length")) {
    // A number; a list of equal numbers (a duplicated field folded into one) is read as one.
    bool valid = !value.empty();
    for_each_token(value, [&](std::string_view t) {
      std::uint64_t n = 0;
      for (char c : t) {
        valid &= is_digit(c) && n <= (UINT64_MAX - 9) / 10;
        n = n * 10 + static_cast<unsigned>(c - '0');
      }
      if (valid && has_length_ && n != length_) conflict = true;
      has_length_ = true;
      length_ = n;
    });
    if (!valid || value.find_first_not_of(", \t") == std::string_view::npos)
      return fail(ec, "bad Content-Length"), false;
    if (conflict) return fail(ec, "conflicting Content-Length fields"), false;
  } else if (iequals(name, "transfer-encoding")) {
    // Only the last coding counts; when it is not chunked, the body runs to the connection's
    // end (RFC 9112 6.3) and its codings are left for the JSON decoder to refuse.
    // Codings with ;parameters, and chunked applied twice (RFC 9112 7.1), are refused.
    std::string_view last;
    bool valid = true;
    for_each_token(value, [&](std::string_view t) {
      valid &= all_token_chars(t) && !(chunks_seen_ && iequals(t, "chunked"));
      chunks_seen_ |= iequals(t, "chunked");
      last = t;
    });
    if (!valid || last.empty()) return fail(ec, "bad Transfer-Encoding"), false;
    chunked_ = iequals(last, "chunked");
    has_encoding_ = true;
  } else if (iequals(name, "connection")) {
    for_each_token(value, [&](std::string_view t) {
      if (iequals(t, "close")) close_ = true;
      if (iequals(t, "keep-alive")) keep_alive_token_ = true;
    });
  }
  return true;
}

bool response_parser::parse_head(std::string_view head, std::error_code& ec) {
  // Lines end with CR LF; a CR or LF anywhere else is refused (a bare LF taken as a line end by
  // one reader and not by another is how answers get misread). Bytes inside lines are checked
  // where they are read: the status line's head, field names, and the values of the three
  // fields used; the values of the others are skipped unread.
  std::size_t pos = 0;
  bool broken = false;
  auto next_line = [&] {
    auto lf = static_cast<const char*>(std::memchr(head.data() + pos, '\n', head.size() - pos));
    auto end = static_cast<std::size_t>(lf - head.data());  // the block ends with CRLF CRLF
    auto l = head.substr(pos, end - pos);
    pos = end + 1;
    if (l.empty() || l.back() != '\r' || std::memchr(l.data(), '\r', l.size() - 1))
      broken = true;
    else
      l.remove_suffix(1);
    return l;
  };

  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  auto line = next_line();
  if (broken) return fail(ec, "CR or LF outside a line end in the header"), false;
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' || !is_digit(line[9]) ||
      !is_digit(line[10]) || !is_digit(line[11]) || (line.size() > 12 && line[12] != ' '))
    return fail(ec, "bad status line"), false;
  if (line[7] != '0' && line[7] != '1') return fail(ec, "unsupported HTTP version"), false;
  http10_ = line[7] == '0';
  status_ = static_cast<unsigned>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  if (status_ < 100) return fail(ec, "bad status code"), false;
  clear_framing();  // (an interim 1xx answer's fields do not carry over)

  // Fields, one per line, up to the blank line. A line that starts with a space or tab
  // continues the field before it (obsolete folding, RFC 9112 5.2).
  std::string folded;
  for (;;) {
    auto field = next_line();
    if (broken) return fail(ec, "CR or LF outside a line end in the header"), false;
    if (field.empty()) break;
    if (is_space(field.front()))
      return fail(ec, "folded header line with no field before it"), false;
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(ec, "bad header line"), false;
    auto name = field.substr(0, colon);
    auto value = trim(field.substr(colon + 1));
    if (!all_token_chars(name)) return fail(ec, "bad header line"), false;
    if (is_space(head[pos])) {
      folded.assign(value);
      while (is_space(head[pos])) {
        auto more = trim(next_line());
        if (broken) return fail(ec, "CR or LF outside a line end in the header"), false;
        if (!more.empty()) folded.append(folded.empty() ? "" : " ").append(more);
      }
      value = folded;
    }
    if (!header_field(name, value, ec)) return false;
  }

  if (status_ < 200) {
    if (status_ == 101) return fail(ec, "unexpected 101 Switching Protocols"), false;
    return true;  // an interim answer: the real one follows
  }
  if (has_encoding_ && has_length_)
    return fail(ec, "both Content-Length and Transfer-Encoding"), false;
  keep_alive_ = http10_ ? keep_alive_token_ && !close_ : !close_;
  if (status_ == 204 || status_ == 304) {
    state_ = state::done;
  } else if (chunked_) {
    state_ = state::chunk_size;
  } else if (has_length_ && !has_encoding_) {
    if (length_ > max_body_) return too_large(ec), false;
    body_.resize(static_cast<std::size_t>(length_));
    filled_ = 0;
    state_ = length_ == 0 ? state::done : state::length_body;
  } else {
    keep_alive_ = false;  // the body ends when the connection does
    state_ = state::eof_body;
  }
  return true;
}

std::size_t response_parser::feed(std::string_view data, std::error_code& ec) {
  if (error_) {
    ec = error_;
    return 0;
  }
  std::size_t used = 0;
  while (used < data.size() && state_ != state::done) {
    auto rest = data.substr(used);
    switch (state_) {
      case state::head: {
        std::string_view block;
        std::size_t n = 0;
        if (head_.empty()) {
          auto end = rest.find("\r\n\r\n");
          if (end != std::string_view::npos) {
            block = rest.substr(0, end + 4);
            n = block.size();
          }
        }
        if (block.empty()) {
          std::size_t old = head_.size();
          head_.append(rest.substr(0, std::min(rest.size(), max_header + 1 - old)));
          auto end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
          if (end == std::string::npos) {
            if (head_.size() > max_header) return used + fail(ec, "header block too large");
            used += head_.size() - old;
            continue;
          }
          head_.resize(end + 4);
          block = head_;
          n = end + 4 - old;
        }
        if (block.size() > max_header) return used + fail(ec, "header block too large");
        if (!parse_head(block, ec)) return used;
        head_.clear();
        used += n;
        break;
      }
      case state::length_body: {
        auto n = std::min(rest.size(), body_due());
        std::memcpy(body_.data() + filled_, rest.data(), n);
        body_written(n);
        used += n;
        break;
      }
      case state::eof_body:
        if (rest.size() > max_body_ - body_.size()) return used + too_large(ec);
        body_.append(rest);
        used += rest.size();
        break;
      case state::chunk_size: {
        bool complete = false;
        used += take_line(rest, max_line, complete, ec);
        if (ec) return used;
        if (!complete) break;
        std::string_view l = line_;
        std::uint64_t size = 0;
        std::size_t digits = 0;
        while (digits < l.size() && hex_value(l[digits]) >= 0) {
          if (size > (UINT64_MAX >> 4)) return used + fail(ec, "chunk size too large");
          size = size * 16 + static_cast<unsigned>(hex_value(l[digits]));
          ++digits;
        }
        if (digits == 0 || (digits < l.size() && l[digits] != ';' && !is_space(l[digits])))
          return used + fail(ec, "bad chunk size");
        line_.clear();
        if (size == 0) {
          state_ = state::trailers;
        } else {
          if (size > max_body_ - body_.size()) return used + too_large(ec);
          chunk_left_ = size;
          state_ = state::chunk_data;
        }
        break;
      }
      case state::chunk_data: {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), chunk_left_));
        body_.append(rest.data(), n);
        chunk_left_ -= n;
        used += n;
        if (chunk_left_ == 0) state_ = state::chunk_end;
        break;
      }
      case state::chunk_end: {  // the CR LF after a chunk's data
        const char want = chunk_cr_ ? '\n' : '\r';
        if (rest.front() != want) return used + fail(ec, "chunk data not followed by CR LF");
        ++used;
        chunk_cr_ = !chunk_cr_;
        if (!chunk_cr_) state_ = state::chunk_size;
        break;
      }
      case state::trailers: {
        bool complete = false;
        auto n = take_line(rest, max_line, complete, ec);
        used += n;
        if (ec) return used;
        trailer_bytes_ += n;
        if (trailer_bytes_ > max_header) return used + fail(ec, "trailers too large");
        if (complete) {
          if (line_.empty()) state_ = state::done;
          line_.clear();
        }
        break;
      }
      case state::done:
        break;
    }
  }
  return used;
}

void response_parser::feed_eof(std::error_code& ec) {
  if (error_) {
    ec = error_;
    return;
  }
  if (state_ == state::eof_body) {
    state_ = state::done;
    keep_alive_ = false;
    return;
  }
  if (state_ == state::done) return;
  keep_alive_ = false;
  fail(ec, state_ == state::head && head_.empty()
               ? "the server closed the connection without answering"
               : "the server closed the connection in the middle of the answer");
}

}  // namespace coordination::transport
