#include "hyperctl/escape.hpp"

#include <cstdint>
#include <cstdio>

#include "hyperctl/error.hpp"

namespace hyperctl::escape {

namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 when malformed.
std::size_t utf8_seq(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len;
  std::uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

[[noreturn]] void refuse(const char* why) {
  throw Error(ErrorCode::InvalidArgument, std::string("text ") + why, "escape");
}

void require_utf8(std::string_view text) {
  if (!valid_utf8(text)) refuse("is not valid UTF-8");
}

std::string xml(std::string_view text, bool attribute) {
  require_utf8(text);
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_seq(text, i, cp);
    if (cp == 0xFFFE || cp == 0xFFFF) refuse("holds a character XML cannot carry (U+FFFE/U+FFFF)");
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += attribute ? "&quot;" : "\"";
        break;
      case '\'':
        out += attribute ? "&apos;" : "'";
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        if (cp < 0x20) refuse("holds a control character XML cannot carry");
        out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::optional<char32_t> decode_utf8(std::string_view text, std::size_t pos, std::size_t& len) {
  std::uint32_t cp = 0;
  len = utf8_seq(text, pos, cp);
  if (len == 0) {
    len = 1;
    return std::nullopt;
  }
  return static_cast<char32_t>(cp);
}

std::string terminal_text(std::string_view text) {
  const auto hex = [](const char* fmt, unsigned value) {
    char buf[16];
    std::snprintf(buf, sizeof buf, fmt, value);
    return std::string(buf);
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t len = 1;
    const auto cp = decode_utf8(text, pos, len);
    if (!cp) {
      out += hex("\\x%02x", static_cast<unsigned char>(text[pos]));
    } else if (*cp == '\n') {
      out += "\\n";
    } else if (*cp == '\t') {
      out += "\\t";
    } else if (*cp == '\r') {
      out += "\\r";
    } else if (*cp < 0x20 || *cp == 0x7F) {
      out += hex("\\x%02x", static_cast<unsigned>(*cp));
    } else if ((*cp >= 0x80 && *cp <= 0x9F) || *cp == 0x2028 || *cp == 0x2029 ||
               (*cp >= 0x202A && *cp <= 0x202E) || (*cp >= 0x2066 && *cp <= 0x2069) ||
               *cp == 0xFEFF) {
      // C1 controls; separators, bidi overrides and BOM reorder or break a line.
      out += hex("\\u%04x", static_cast<unsigned>(*cp));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_seq(text, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string xml_text(std::string_view text) {
  return xml(text, false);
}
std::string xml_attr(std::string_view text) {
  return xml(text, true);
}

std::string powershell_literal(std::string_view text) {
  require_utf8(text);
  std::string out = "'";
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_seq(text, i, cp);
    if (cp == 0) refuse("holds a NUL character");
    const std::string_view ch = text.substr(i, len);
    out.append(ch);
    // ' and U+2018..U+201B all end a single-quoted string; doubling escapes them.
    if (cp == '\'' || (cp >= 0x2018 && cp <= 0x201B)) out.append(ch);
    i += len;
  }
  out += "'";
  return out;
}

std::string shell_word(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\0') refuse("holds a NUL character");
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += "'";
  return out;
}

std::string json_string(std::string_view text) {
  require_utf8(text);
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace hyperctl::escape
