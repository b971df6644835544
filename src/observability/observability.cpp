#include "coordination/observability.hpp"

#include <spdlog/spdlog.h>

#include <boost/system/system_error.hpp>

#include <chrono>
#include <string>

#include "coordination/error.hpp"
#include "observability/tracing.hpp"

namespace coordination {

std::string error_name(std::error_code code) {
  if (code.category() == category()) {
    switch (static_cast<error>(code.value())) {
#define COORD_NAME(e) \
  case error::e:      \
    return #e;
      COORD_NAME(ok)
      COORD_NAME(invalid_argument)
      COORD_NAME(unavailable)
      COORD_NAME(timeout)
      COORD_NAME(cancelled)
      COORD_NAME(outcome_unknown)
      COORD_NAME(auth_failed)
      COORD_NAME(permission_denied)
      COORD_NAME(not_found)
      COORD_NAME(lease_not_found)
      COORD_NAME(conflict)
      COORD_NAME(compacted)
      COORD_NAME(protocol_error)
      COORD_NAME(response_too_large)
      COORD_NAME(tls_error)
      COORD_NAME(session_expired)
      COORD_NAME(locked)
      COORD_NAME(lock_lost)
      COORD_NAME(server_error)
      COORD_NAME(not_leader)
      COORD_NAME(not_initialized)
#undef COORD_NAME
    }
  }
  return std::string(code.category().name()) + ":" + std::to_string(code.value());
}

namespace {

class spdlog_span final : public span {
 public:
  spdlog_span(std::shared_ptr<spdlog::logger> log, spdlog::level::level_enum level,
              std::string_view name)
      : log_(std::move(log)), level_(level), name_(name), start_(clock::now()) {}

  void set_attribute(std::string_view key, std::string_view value) override {
    attributes_ += ' ';
    attributes_ += key;
    attributes_ += '=';
    // Keys and values are bytes: keep the line printable.
    for (unsigned char ch : value.substr(0, 200)) {
      if (ch >= 0x20 && ch < 0x7f)
        attributes_ += static_cast<char>(ch);
      else
        attributes_ += fmt::format("\\x{:02x}", ch);
    }
    if (value.size() > 200) attributes_ += "...";
  }
  void set_error(std::error_code code, std::string_view message) override {
    error_ = error_name(code) + ": " + std::string(message);
  }
  void end() override {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start_).count();
    if (error_.empty())
      log_->log(level_, "trace: {} {}.{:03d} ms{}", name_, us / 1000, static_cast<int>(us % 1000),
                attributes_);
    else
      log_->warn("trace: {} {}.{:03d} ms{} error={}", name_, us / 1000, static_cast<int>(us % 1000),
                 attributes_, error_);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::shared_ptr<spdlog::logger> log_;
  spdlog::level::level_enum level_;
  std::string name_;
  clock::time_point start_;
  std::string attributes_;
  std::string error_;
};

class spdlog_tracer final : public tracer {
 public:
  spdlog_tracer(std::shared_ptr<spdlog::logger> log, spdlog::level::level_enum level)
      : log_(std::move(log)), level_(level) {}
  std::unique_ptr<span> start_span(std::string_view name) override {
    auto log = log_ ? log_ : spdlog::get("coordination");
    if (!log) log = spdlog::default_logger();
    if (!log->should_log(level_) && !log->should_log(spdlog::level::warn)) return nullptr;
    return std::make_unique<spdlog_span>(std::move(log), level_, name);
  }

 private:
  std::shared_ptr<spdlog::logger> log_;
  spdlog::level::level_enum level_;
};

}  // namespace

std::shared_ptr<tracer> make_spdlog_tracer(std::shared_ptr<spdlog::logger> logger, int level) {
  if (level < spdlog::level::trace || level > spdlog::level::off)
    throw coordination_error(
        error::invalid_argument,
        "level: not an spdlog level (0 trace .. 6 off): " + std::to_string(level));
  return std::make_shared<spdlog_tracer>(std::move(logger),
                                         static_cast<spdlog::level::level_enum>(level));
}

namespace detail {

span_scope::~span_scope() {
  if (span_) {
    span_->set_error(make_error_code(error::cancelled), "ended before completing");
    span_->end();
  }
}

void span_scope::ok() {
  if (!span_) return;
  span_->end();
  span_.reset();
}

void span_scope::fail(std::error_code code, std::string_view message) {
  if (!span_) return;
  span_->set_error(code, message);
  span_->end();
  span_.reset();
}

void span_scope::fail(const std::exception_ptr& e) {
  if (!span_ || !e) return;
  try {
    std::rethrow_exception(e);
  } catch (const coordination_error& ce) {
    fail(ce.code(), ce.diagnostic());
  } catch (const std::system_error& se) {
    fail(se.code(), se.what());
  } catch (const boost::system::system_error& se) {
    fail(std::error_code(se.code()), se.what());
  } catch (const std::exception& ex) {
    fail(make_error_code(error::server_error), ex.what());
  } catch (...) {
    fail(make_error_code(error::server_error), "unknown exception");
  }
}

}  // namespace detail
}  // namespace coordination
