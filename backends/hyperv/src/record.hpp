// Reading fields of PowerShell's JSON records, whatever type they arrive as.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace hyperctl::hyperv {

/// A string field; numbers and booleans as text; "" when absent or null.
inline std::string text_field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_primitive()) return it->dump();
  return {};
}

/// A non-negative number field (numbers or digit strings); 0 otherwise.
inline std::uint64_t number_field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return 0;
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return it->get<std::int64_t>() > 0 ? it->get<std::uint64_t>() : 0;
  if (it->is_number_float())
    return it->get<double>() > 0 ? static_cast<std::uint64_t>(it->get<double>()) : 0;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
      return 0;
    return std::stoull(s);
  }
  return 0;
}

}  // namespace hyperctl::hyperv
