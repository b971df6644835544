// What the facade's files share: the error of a bad setting and the log level names.
#pragma once

#include <spdlog/common.h>

#include <optional>
#include <string>

namespace coordination::detail {

// Throws coordination_error(invalid_argument) "<field>: <why>".
[[noreturn]] void bad(const std::string& field, const std::string& why);
// "trace", "debug", "info", "warn"/"warning", "error"/"err", "critical", "off".
std::optional<spdlog::level::level_enum> parse_level(const std::string& s);

}  // namespace coordination::detail
