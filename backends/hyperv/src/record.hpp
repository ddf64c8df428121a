// Reading fields of PowerShell's JSON records, whatever type they arrive as.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "hyperctl/error.hpp"

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

/// A non-negative number field (numbers or digit strings); 0 otherwise (also
/// for a number past 2^64).
inline std::uint64_t number_field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return 0;
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return it->get<std::int64_t>() > 0 ? it->get<std::uint64_t>() : 0;
  if (it->is_number_float()) {
    // Past 2^64 the cast would be undefined: such a number means nothing.
    const double d = it->get<double>();
    return d > 0 && d < 18446744073709551616.0 ? static_cast<std::uint64_t>(d) : 0;
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
      return 0;
    return std::stoull(s);
  }
  return 0;
}

/// `record` when it is an object (what the scripts send); anything else is a
/// broken answer: Error(BackendFailure) naming `what` ("a switch record"),
/// where value() would have thrown a JSON exception.
inline const nlohmann::json& object_record(const nlohmann::json& record, const char* what) {
  if (!record.is_object())
    throw Error(ErrorCode::BackendFailure,
                std::string("PowerShell's answer holds ") + what + " that is not an object");
  return record;
}

}  // namespace hyperctl::hyperv
