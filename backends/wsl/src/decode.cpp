// Decoding and parsing what wsl.exe and reg.exe print.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "wsl_exe.hpp"

namespace hyperctl::wsl {
namespace {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr char32_t kReplacement = 0xFFFD;

std::string from_utf16le(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() / 2 + 4);
  const auto unit = [&](std::size_t i) -> char16_t {
    return static_cast<char16_t>(static_cast<unsigned char>(raw[i]) |
                                 (static_cast<unsigned char>(raw[i + 1]) << 8));
  };
  std::size_t i = 0;
  for (; i + 1 < raw.size(); i += 2) {
    const char16_t u = unit(i);
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (i + 3 < raw.size()) {
        const char16_t low = unit(i + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          append_utf8(out, 0x10000 + ((char32_t(u) - 0xD800) << 10) + (char32_t(low) - 0xDC00));
          i += 2;
          continue;
        }
      }
      append_utf8(out, kReplacement);
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      append_utf8(out, kReplacement);
    } else if (u != 0) {
      append_utf8(out, u);
    }
  }
  if (i < raw.size()) append_utf8(out, kReplacement);  // a lone odd byte
  return out;
}

std::string from_utf8(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    std::size_t len = 1;
    const auto cp = escape::decode_utf8(raw, i, len);
    if (!cp)
      append_utf8(out, kReplacement);
    else if (*cp != 0)
      out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

/// \r\r\n and \r\n (any number of \r before \n) become \n.
std::string normalise_newlines(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      std::size_t j = i;
      while (j < text.size() && text[j] == '\r') ++j;
      if (j < text.size() && text[j] == '\n') {
        i = j - 1;  // the \n is copied next
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r") == std::string::npos;
}

/// Spaces, tabs and the no-break spaces some languages put around colons.
std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  const auto space_at_front = [&](std::size_t i) -> std::size_t {
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') return 1;
    if (s.compare(i, 2, "\xC2\xA0") == 0) return 2;
    if (s.compare(i, 3, "\xE2\x80\xAF") == 0) return 3;
    return 0;
  };
  const auto space_at_back = [&](std::size_t end) -> std::size_t {
    if (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r') return 1;
    if (end >= 2 && s.compare(end - 2, 2, "\xC2\xA0") == 0) return 2;
    if (end >= 3 && s.compare(end - 3, 3, "\xE2\x80\xAF") == 0) return 3;
    return 0;
  };
  while (b < e) {
    const auto n = space_at_front(b);
    if (!n) break;
    b += n;
  }
  while (e > b) {
    const auto n = space_at_back(e);
    if (!n) break;
    e -= n;
  }
  return s.substr(b, e - b);
}

/// A line split into the columns wsl.exe pads with: one string per UTF-16
/// code unit (wsl.exe counts widths in them), a character outside the BMP
/// followed by an empty placeholder.
std::vector<std::string> columns_of(const std::string& line) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < line.size();) {
    std::size_t len = 1;
    const auto cp = escape::decode_utf8(line, i, len);
    out.push_back(line.substr(i, len));
    if (cp && *cp >= 0x10000) out.emplace_back();
    i += len;
  }
  return out;
}

std::string join(const std::vector<std::string>& cols, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < std::min(to, cols.size()); ++i) out += cols[i];
  return out;
}

/// Start offsets of the header's titles: runs of non-spaces separated by two
/// or more spaces (a title may hold one space), else by single spaces.
std::vector<std::size_t> title_offsets(const std::vector<std::string>& cols, std::size_t min_gap) {
  std::vector<std::size_t> out;
  std::size_t gap = min_gap;  // the line start counts as a gap
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (cols[i] == " " || cols[i] == "\t") {
      ++gap;
      continue;
    }
    if (gap >= min_gap) out.push_back(i);
    gap = 0;
  }
  return out;
}

[[noreturn]] void bad_shape(const std::string& what, const std::string& line) {
  throw Error(ErrorCode::BackendFailure,
              "unexpected output from wsl.exe --list --verbose (" + what + "): '" +
                  escape::terminal_text(line) + "'",
              "vm.list", line);
}

bool parse_version_number(const std::string& text, int& out) {
  if (text.empty() || text.size() > 3) return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  out = std::atoi(text.c_str());
  return true;
}

/// A row without usable offsets: the last two words are the state and the
/// version, the rest is the name.
bool split_from_right(const std::string& row, ListedDistro& d) {
  std::string body = row;
  if (!body.empty() && body[0] == '*') body = body.substr(1);
  body = trim(body);
  const auto v = body.find_last_of(' ');
  if (v == std::string::npos) return false;
  if (!parse_version_number(body.substr(v + 1), d.version)) return false;
  body = trim(body.substr(0, v));
  const auto s = body.find_last_of(' ');
  if (s == std::string::npos) return false;
  d.state = body.substr(s + 1);
  d.name = trim(body.substr(0, s));
  return !d.name.empty() && !d.state.empty();
}

std::string value_after_colon(const std::string& line) {
  const auto c = line.find(':');
  return c == std::string::npos ? std::string() : trim(line.substr(c + 1));
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string decode_output(std::string_view raw) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(raw[i]); };
  if (raw.size() >= 2 && byte(0) == 0xFF && byte(1) == 0xFE)
    return normalise_newlines(from_utf16le(raw.substr(2)));
  if (raw.size() >= 3 && byte(0) == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF)
    return normalise_newlines(from_utf8(raw.substr(3)));
  // UTF-8 text never holds NUL; UTF-16LE of ASCII has one in every odd byte.
  for (std::size_t i = 1; i < raw.size(); i += 2)
    if (raw[i] == '\0') return normalise_newlines(from_utf16le(raw));
  return normalise_newlines(from_utf8(raw));
}

std::vector<ListedDistro> parse_list_verbose(const std::string& text) {
  const auto lines = lines_of(text);
  std::size_t i = 0;
  while (i < lines.size() && blank(lines[i])) ++i;
  if (i == lines.size()) return {};
  const auto header = columns_of(lines[i]);
  auto titles = title_offsets(header, 2);
  if (titles.size() != 3) titles = title_offsets(header, 1);
  if (titles.size() != 3) {
    // Some versions print the "no installed distributions" sentence with
    // success; there is no table then.
    if (text.find("no installed distributions") != std::string::npos) return {};
    bad_shape("no NAME STATE VERSION header", lines[i]);
  }
  const std::size_t state_at = titles[1], version_at = titles[2];
  std::vector<ListedDistro> out;
  for (++i; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    const auto row = columns_of(lines[i]);
    ListedDistro d;
    d.is_default = !row.empty() && row[0] == "*";
    const std::size_t name_at = row.size() >= 2 && (row[0] == "*" || row[0] == " ") ? 2 : 0;
    // The header's offsets hold when the row is aligned with it: a space
    // just before each column and a word at its start.
    const bool aligned = row.size() > version_at && state_at > name_at &&
                         row[state_at - 1] == " " && row[state_at] != " " &&
                         row[version_at - 1] == " " && row[version_at] != " ";
    bool ok = false;
    if (aligned) {
      d.name = trim(join(row, name_at, state_at));
      d.state = trim(join(row, state_at, version_at));
      ok = !d.name.empty() && !d.state.empty() &&
           parse_version_number(trim(join(row, version_at, row.size())), d.version);
    }
    if (!ok) {
      ListedDistro r;
      r.is_default = d.is_default;
      if (!split_from_right(lines[i], r)) bad_shape("a row without NAME STATE VERSION", lines[i]);
      d = r;
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<RegistryDistro> parse_registry(const std::string& text) {
  std::vector<RegistryDistro> out;
  // (No std::optional here: GCC 12 warns about it, wrongly, under -O2.)
  RegistryDistro current;
  bool in_distro = false;
  const auto flush = [&] {
    if (in_distro && !current.name.empty()) out.push_back(current);
    current = RegistryDistro{};
    in_distro = false;
  };
  for (const auto& raw_line : lines_of(text)) {
    if (blank(raw_line)) continue;
    if (starts_with(raw_line, "HKEY_")) {
      flush();
      const auto slash = raw_line.find_last_of('\\');
      const std::string key = trim(raw_line.substr(slash == std::string::npos ? 0 : slash + 1));
      if (key.size() > 2 && key.front() == '{' && key.back() == '}') {
        in_distro = true;
        current.guid = key;
      }
      continue;
    }
    if (!in_distro || (raw_line[0] != ' ' && raw_line[0] != '\t')) continue;
    // "    NAME    REG_TYPE    VALUE": fields separated by four spaces; the
    // value is the rest of the line, spaces included.
    std::string line = raw_line;
    while (!line.empty() && line.back() == '\r') line.pop_back();
    const auto b = line.find_first_not_of(" \t");
    const auto sep1 = line.find("    ", b);
    if (sep1 == std::string::npos) continue;
    const std::string name = line.substr(b, sep1 - b);
    const auto t = line.find_first_not_of(' ', sep1);
    if (t == std::string::npos) continue;
    const auto sep2 = line.find("    ", t);
    const std::string type =
        line.substr(t, sep2 == std::string::npos ? std::string::npos : sep2 - t);
    const std::string value = sep2 == std::string::npos ? std::string() : line.substr(sep2 + 4);
    if (name == "DistributionName") {
      current.name = value;
    } else if (name == "BasePath") {
      current.base_path = value;
      // Windows keeps some paths in their \\?\ form.
      if (starts_with(current.base_path, "\\\\?\\"))
        current.base_path = current.base_path.substr(4);
    } else if (name == "Flags" && type == "REG_DWORD") {
      current.version = (std::strtol(value.c_str(), nullptr, 0) & 0x8) ? 2 : 1;
    } else if (name == "VhdFileName") {
      current.vhd_file_name = value;
    }
  }
  flush();
  return out;
}

VersionInfo parse_version(const std::string& text) {
  VersionInfo v;
  std::vector<std::string> values;
  bool english = false;
  for (const auto& line : lines_of(text)) {
    if (line.find(':') == std::string::npos) continue;
    const std::string value = value_after_colon(line);
    values.push_back(value);
    const std::string t = trim(line);
    if (starts_with(t, "WSL version")) {
      v.wsl_version = value;
      english = true;
    } else if (starts_with(t, "Kernel version")) {
      v.kernel_version = value;
      english = true;
    } else if (starts_with(t, "Windows version")) {
      v.windows_version = value;
      english = true;
    }
  }
  if (!english && !values.empty()) {
    v.wsl_version = values.front();
    if (values.size() >= 2) v.kernel_version = values[1];
    if (values.size() >= 3) v.windows_version = values.back();
  }
  return v;
}

StatusInfo parse_status(const std::string& text) {
  StatusInfo s;
  std::vector<std::string> values;
  bool english = false;
  for (const auto& line : lines_of(text)) {
    if (line.find(':') == std::string::npos) continue;
    const std::string value = value_after_colon(line);
    values.push_back(value);
    const std::string t = trim(line);
    if (starts_with(t, "Default Distribution")) {
      s.default_distribution = value;
      english = true;
    } else if (starts_with(t, "Default Version")) {
      s.default_version = value;
      english = true;
    }
  }
  if (!english && values.size() >= 2) {
    s.default_distribution = values[0];
    s.default_version = values[1];
  }
  if (s.default_version != "1" && s.default_version != "2") s.default_version.clear();
  return s;
}

}  // namespace hyperctl::wsl
