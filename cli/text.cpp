#include "text.hpp"

#include <locale.h>
#include <wchar.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "hyperctl/escape.hpp"

namespace hyperctl::cli {
namespace {

constexpr char32_t kInvalid = 0xFFFFFFFF;

/// One code point at `pos` (kInvalid, length 1, for a malformed byte).
char32_t decode(std::string_view s, std::size_t pos, std::size_t& len) {
  return escape::decode_utf8(s, pos, len).value_or(kInvalid);
}

bool is_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/// Line and paragraph separators and bidi overrides: printable in theory, but
/// they reorder or break what a terminal shows.
bool is_format_hazard(char32_t cp) {
  return cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

std::string hex_escape(const char* fmt, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

bool in(char32_t cp, char32_t lo, char32_t hi) {
  return cp >= lo && cp <= hi;
}

bool is_zero_width(char32_t cp) {
  return in(cp, 0x0300, 0x036F) || in(cp, 0x0483, 0x0489) || in(cp, 0x0591, 0x05BD) ||
         in(cp, 0x0610, 0x061A) || in(cp, 0x064B, 0x065F) || in(cp, 0x0E31, 0x0E31) ||
         in(cp, 0x0E34, 0x0E3A) || in(cp, 0x0E47, 0x0E4E) || in(cp, 0x1AB0, 0x1AFF) ||
         in(cp, 0x1DC0, 0x1DFF) || in(cp, 0x200B, 0x200F) || in(cp, 0x20D0, 0x20FF) ||
         in(cp, 0xFE00, 0xFE0F) || in(cp, 0xFE20, 0xFE2F) || in(cp, 0xE0100, 0xE01EF);
}

bool is_wide(char32_t cp) {
  return in(cp, 0x1100, 0x115F) || in(cp, 0x231A, 0x231B) || in(cp, 0x2329, 0x232A) ||
         in(cp, 0x23E9, 0x23EC) || in(cp, 0x25FD, 0x25FE) || in(cp, 0x2614, 0x2615) ||
         in(cp, 0x2E80, 0x303E) || in(cp, 0x3041, 0x33FF) || in(cp, 0x3400, 0x4DBF) ||
         in(cp, 0x4E00, 0x9FFF) || in(cp, 0xA000, 0xA4CF) || in(cp, 0xA960, 0xA97F) ||
         in(cp, 0xAC00, 0xD7A3) || in(cp, 0xF900, 0xFAFF) || in(cp, 0xFE10, 0xFE19) ||
         in(cp, 0xFE30, 0xFE6F) || in(cp, 0xFF00, 0xFF60) || in(cp, 0xFFE0, 0xFFE6) ||
         in(cp, 0x1F300, 0x1F64F) || in(cp, 0x1F900, 0x1F9FF) || in(cp, 0x20000, 0x2FFFD) ||
         in(cp, 0x30000, 0x3FFFD);
}

/// A UTF-8 LC_CTYPE locale for wcwidth(): glibc's width table follows
/// Unicode's EastAsianWidth and emoji data and is kept current with each
/// release, which a table of our own would not be. Null when the system has
/// no UTF-8 locale (then the ranges above stand in).
locale_t utf8_ctype() {
  static const locale_t loc = [] {
    for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"})
      if (locale_t l = ::newlocale(LC_CTYPE_MASK, name, static_cast<locale_t>(0))) return l;
    return static_cast<locale_t>(0);
  }();
  return loc;
}

/// Columns of one code point; `table` says whether wcwidth() may be asked.
std::size_t codepoint_width(char32_t cp, bool table) {
  if (table) {
    const int w = ::wcwidth(static_cast<wchar_t>(cp));
    // -1: unassigned or not printable; printable() escaped the controls.
    return w < 0 ? 1 : static_cast<std::size_t>(w);
  }
  return is_zero_width(cp) ? 0 : is_wide(cp) ? 2 : 1;
}

std::string yaml_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t pos = 0; pos < s.size();) {
    std::size_t len = 1;
    const char32_t cp = decode(s, pos, len);
    if (cp == kInvalid) {
      out += "\\uFFFD";  // YAML cannot carry raw bytes; keep the place visible
    } else if (cp == '"') {
      out += "\\\"";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (is_control(cp)) {
      out += hex_escape("\\x%02X", static_cast<unsigned>(cp));
    } else if (is_format_hazard(cp)) {
      out += hex_escape("\\u%04X", static_cast<unsigned>(cp));
    } else {
      out.append(s.substr(pos, len));
    }
    pos += len;
  }
  out += '"';
  return out;
}

bool plain_key(const std::string& key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  const char c0 = key[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) return false;
  // Words YAML 1.1 readers turn into booleans or null.
  static const char* const kReserved[] = {"y",     "Y",    "n",    "N",    "yes",  "Yes",   "YES",
                                          "no",    "No",   "NO",   "on",   "On",   "ON",    "off",
                                          "Off",   "OFF",  "true", "True", "TRUE", "false", "False",
                                          "FALSE", "null", "Null", "NULL"};
  return std::none_of(std::begin(kReserved), std::end(kReserved),
                      [&](const char* r) { return key == r; });
}

std::string yaml_key(const std::string& key) {
  return plain_key(key) ? key : yaml_string(key);
}

std::string yaml_scalar(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::value_t::null:
      return "null";
    case JsonValue::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case JsonValue::value_t::string:
      return yaml_string(v.get_ref<const std::string&>());
    case JsonValue::value_t::array:
      return "[]";
    case JsonValue::value_t::object:
      return "{}";
    default:
      return v.dump();  // numbers
  }
}

bool is_collection(const JsonValue& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void emit(const JsonValue& v, std::size_t indent, std::string& out);

/// Emits a value that follows "key:" or "- ".
void emit_after(const JsonValue& v, std::size_t indent, std::string& out, bool in_seq) {
  if (!is_collection(v)) {
    out += ' ';
    out += yaml_scalar(v);
    out += '\n';
  } else if (v.is_object() && in_seq) {
    // "- key: value" with the following keys aligned under the first.
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      if (first) {
        out += ' ';
        first = false;
      } else {
        out.append(indent, ' ');
      }
      out += yaml_key(key) + ':';
      if (is_collection(item)) {
        out += '\n';
        emit(item, indent + 2, out);
      } else {
        emit_after(item, indent + 2, out, false);
      }
    }
  } else {
    out += '\n';
    emit(v, indent, out);
  }
}

void emit(const JsonValue& v, std::size_t indent, std::string& out) {
  if (v.is_object()) {
    for (const auto& [key, item] : v.items()) {
      out.append(indent, ' ');
      out += yaml_key(key) + ':';
      if (item.is_array() && !item.empty()) {
        out += '\n';
        emit(item, indent + 2, out);
      } else {
        emit_after(item, indent + 2, out, false);
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      out.append(indent, ' ');
      out += '-';
      emit_after(item, indent + 2, out, true);
    }
  }
}

}  // namespace

std::string printable(std::string_view text) {
  return escape::terminal_text(text);
}

std::size_t display_width(std::string_view text) {
  // The thread's locale only for this count: the process keeps "C".
  const locale_t utf8 = utf8_ctype();
  const locale_t previous = utf8 ? ::uselocale(utf8) : static_cast<locale_t>(0);
  std::size_t width = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t len = 1;
    const char32_t cp = decode(text, pos, len);
    width += cp == kInvalid ? 1 : codepoint_width(cp, utf8 != static_cast<locale_t>(0));
    pos += len;
  }
  if (utf8) ::uselocale(previous);
  return width;
}

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), Align::Left);
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (auto& c : cells) c = printable(c);
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  const std::size_t n = headers_.size();
  std::vector<std::size_t> widths(n, 0);
  for (std::size_t i = 0; i < n; ++i) widths[i] = display_width(headers_[i]);
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < n; ++i) widths[i] = std::max(widths[i], display_width(row[i]));

  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t pad = widths[i] - display_width(cells[i]);
      const bool last = i + 1 == n;
      if (align_[i] == Align::Right) {
        l.append(pad, ' ');
        l += cells[i];
      } else {
        l += cells[i];
        if (!last) l.append(pad, ' ');
      }
      if (!last) l += "  ";
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l;
    out += '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string csv_field(std::string_view text) {
  // A spreadsheet runs a cell that starts with = + - @ (or tab, CR) as a
  // formula: a VM named "=HYPERLINK(...)" would be code. Such a field gets a
  // leading apostrophe and quotes, as OWASP's CSV-injection advice says.
  const bool formula =
      !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos;
  const bool quote = formula || text.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!text.empty() && (text.front() == ' ' || text.back() == ' '));
  if (!quote) return std::string(text);
  std::string out = formula ? "\"'" : "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_field(fields[i]);
  }
  out += '\n';
  return out;
}

std::string to_yaml(const JsonValue& value) {
  std::string out;
  if (is_collection(value)) {
    emit(value, 0, out);
  } else {
    out = yaml_scalar(value) + "\n";
  }
  return out;
}

std::string to_json_text(const JsonValue& value) {
  return value.dump(2, ' ', false, JsonValue::error_handler_t::replace) + "\n";
}

}  // namespace hyperctl::cli
