// Small text helpers the core's own sources share (not installed).
#pragma once

#include <string>
#include <string_view>

#include "hyperctl/escape.hpp"

namespace hyperctl::text {

/// `s` without leading and trailing `blanks`.
inline std::string trim(std::string_view s, std::string_view blanks = " \t\r") {
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(blanks);
  return std::string(s.substr(first, last - first + 1));
}

/// 'name' for messages: quoted, made safe for a terminal.
inline std::string quoted(std::string_view s) {
  return "'" + escape::terminal_text(s) + "'";
}

}  // namespace hyperctl::text
