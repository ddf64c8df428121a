#include "hyperctl/uri.hpp"

#include <algorithm>
#include <cctype>

#include "hyperctl/error.hpp"

namespace hyperctl {

namespace {

/// The URI as an error may show it: whatever stands between "://" and the
/// last '@' is replaced, since it may hold a password. A password with '#',
/// '/' or '?' in it makes the URI malformed before its ':' is seen, so this
/// looks at the whole text, not at the authority the parser found.
std::string redacted(const std::string& text) {
  const auto sep = text.find("://");
  const auto at = text.rfind('@');
  if (sep == std::string::npos || at == std::string::npos || at < sep + 3) return text;
  return text.substr(0, sep + 3) + "***" + text.substr(at);
}

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, "malformed URI '" + redacted(text) + "': " + why,
              "uri.parse");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string percent_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      throw Error(ErrorCode::InvalidArgument, "bad percent escape in '" + text + "'");
    }
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0)
      throw Error(ErrorCode::InvalidArgument, "bad percent escape in '" + text + "'");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Uri Uri::parse(const std::string& text) {
  // percent_decode's own message quotes its input, which may be userinfo.
  const auto decode = [&text](const std::string& part) {
    try {
      return percent_decode(part);
    } catch (const Error&) {
      bad(text, "a '%' is not followed by two hex digits");
    }
  };
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f)
      throw Error(ErrorCode::InvalidArgument, "malformed URI: it contains a control character",
                  "uri.parse");
  }
  if (text.empty()) bad(text, "it is empty");
  const auto sep = text.find("://");
  if (sep == std::string::npos) bad(text, "expected SCHEME://[USER@]HOST[:PORT]/PATH");
  Uri u;
  u.raw = text;

  const std::string full = text.substr(0, sep);
  if (full.empty()) bad(text, "the scheme is empty");
  if (!std::isalpha(static_cast<unsigned char>(full[0])))
    bad(text, "the scheme must start with a letter");
  for (char c : full) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      bad(text, "the scheme may hold only letters, digits, '+', '-' and '.'");
  }
  const auto plus = full.find('+');
  u.scheme = lower(full.substr(0, plus));
  if (plus != std::string::npos) {
    u.transport = lower(full.substr(plus + 1));
    if (u.transport.empty() || u.transport.find('+') != std::string::npos)
      bad(text, "the transport after '+' is empty or repeated");
  }

  std::string rest = text.substr(sep + 3);
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.erase(q);
  }
  if (auto f = rest.find('#'); f != std::string::npos) bad(text, "fragments ('#') are not used");
  std::string authority = rest;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    u.path = decode(rest.substr(slash));
  }

  if (auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    if (userinfo.find(':') != std::string::npos) {
      // Never echo the text: it holds a password.
      throw Error(ErrorCode::InvalidArgument,
                  "a password in the URI is refused: give it through HYPERCTL_PASSWORD, a "
                  "credentials file or the prompt",
                  "uri.parse");
    }
    u.user = decode(userinfo);
    if (u.user.empty()) bad(text, "the user before '@' is empty");
    authority.erase(0, at + 1);
  }

  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) bad(text, "unclosed '[' in the host");
    u.host = authority.substr(1, close - 1);
    if (u.host.empty()) bad(text, "empty IPv6 address");
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad(text, "unexpected text after ']'");
      port = after.substr(1);
      if (port.empty()) bad(text, "the port after ':' is empty");
    }
  } else if (auto colon = authority.find(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) bad(text, "the port after ':' is empty");
  } else {
    u.host = authority;
  }
  u.host = decode(u.host);
  for (char c : u.host) {
    if (c == ' ' || c == '/' || c == '@' || c == '\\') bad(text, "invalid character in the host");
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
      bad(text, "the port must be a number from 1 to 65535");
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535) bad(text, "the port must be a number from 1 to 65535");
    u.port = static_cast<unsigned>(p);
  }

  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    auto amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    const std::string item = query.substr(start, amp - start);
    if (!item.empty()) {
      const auto eq = item.find('=');
      const std::string key = decode(item.substr(0, eq));
      if (key.empty()) bad(text, "a query parameter has no name");
      if (lower(key) == "password" || lower(key) == "passwd") {
        throw Error(ErrorCode::InvalidArgument,
                    "a password in the URI is refused: give it through HYPERCTL_PASSWORD, a "
                    "credentials file or the prompt",
                    "uri.parse");
      }
      u.query[key] = eq == std::string::npos ? std::string() : decode(item.substr(eq + 1));
    }
    start = amp + 1;
    if (amp == query.size()) break;
  }
  return u;
}

}  // namespace hyperctl
