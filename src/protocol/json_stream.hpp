// Splits a byte stream of concatenated JSON objects (etcd's stream answers: one
// {"result":...} per line) into whole objects, whatever the split of the input. Sans-io: feed it
// bytes, take messages out. Tracks strings and escapes, so braces inside values do not count.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace coordination::detail {

class json_stream {
 public:
  explicit json_stream(std::size_t max_message = 16u * 1024 * 1024) : max_(max_message) {}
  // protocol_error for bytes outside an object that are not white space, response_too_large for
  // an object over max_message. After an error the stream stays failed.
  std::error_code feed(std::string_view bytes);
  std::optional<std::string> next();
  // True when a message has started but not ended (a cut stream).
  bool partial() const { return depth_ > 0; }
  std::error_code error() const { return failed_; }

 private:
  std::size_t max_;
  std::string current_;
  std::deque<std::string> ready_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  std::error_code failed_;
};

}  // namespace coordination::detail
