#include "protocol/json_stream.hpp"

#include "coordination/error.hpp"

namespace coordination::detail {

std::error_code json_stream::feed(std::string_view bytes) {
  if (failed_) return failed_;
  std::size_t start = 0;  // first byte of `bytes` that belongs to the current message
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (depth_ == 0) {
      if (c == '{') {
        depth_ = 1;
        start = i;
        continue;
      }
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      return failed_ = make_error_code(error::protocol_error);
    }
    if (in_string_) {
      if (escape_)
        escape_ = false;
      else if (c == '\\')
        escape_ = true;
      else if (c == '"')
        in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        current_.append(bytes.substr(start, i + 1 - start));
        if (current_.size() > max_) return failed_ = make_error_code(error::response_too_large);
        ready_.push_back(std::move(current_));
        current_.clear();
      }
    }
  }
  if (depth_ > 0) {
    current_.append(bytes.substr(start));
    if (current_.size() > max_) return failed_ = make_error_code(error::response_too_large);
  }
  return {};
}

std::optional<std::string> json_stream::next() {
  if (ready_.empty()) return std::nullopt;
  auto out = std::move(ready_.front());
  ready_.pop_front();
  return out;
}

}  // namespace coordination::detail
