// A span for the length of a scope, when the client has a tracer (a no-op object otherwise).
// The code that owns the scope calls fail() from its catch block; a span that ends without
// ok() or fail() (its coroutine was destroyed) is recorded as cancelled.
#pragma once

#include <exception>
#include <memory>
#include <string_view>

#include "coordination/observability.hpp"

namespace coordination::detail {

class span_scope {
 public:
  span_scope(tracer* t, std::string_view name) {
    if (t) span_ = t->start_span(name);
  }
  span_scope(const span_scope&) = delete;
  span_scope& operator=(const span_scope&) = delete;
  ~span_scope();

  explicit operator bool() const { return span_ != nullptr; }
  span_scope& attr(std::string_view key, std::string_view value) {
    if (span_) span_->set_attribute(key, value);
    return *this;
  }
  void ok();
  // Records the exception's code and message (coordination_error / system_error; else
  // server_error with what()).
  void fail(const std::exception_ptr& e);
  void fail(std::error_code code, std::string_view message);

 private:
  std::unique_ptr<span> span_;
};

}  // namespace coordination::detail
