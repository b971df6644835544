// Standard base64 with padding, as etcd's gateway wants for every bytes field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coordination::detail {

std::string base64_encode(std::string_view in);
void base64_encode_append(std::string_view in, std::string& out);
// nullopt for anything but canonical padded base64 (etcd only sends that).
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace coordination::detail
