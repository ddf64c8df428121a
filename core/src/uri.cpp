#include "hyperctl/uri.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string_view>

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

/// Query parameters that choose a local program to run (the ssh client, the
/// WSL backend's wsl.exe and reg.exe, libvirt's ssh command): absolute paths
/// only, so that no search path (or working folder) picks the program.
constexpr std::string_view kProgramQueryKeys[] = {"ssh", "wsl", "reg", "command"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

/// Digits and dots only: the host is meant as an IPv4 address, which must
/// be a dotted quad. getaddrinfo would also take "10.1", "167772161" or
/// "010.0.0.1" (octal), each another address than it looks.
bool is_dotted_quad(const std::string& host) {
  int parts = 0;
  std::size_t start = 0;
  for (;;) {
    const auto dot = std::min(host.find('.', start), host.size());
    const std::string part = host.substr(start, dot - start);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    if (std::stoi(part) > 255) return false;
    ++parts;
    if (dot == host.size()) break;
    start = dot + 1;
  }
  return parts == 4;
}

/// Why `host` (percent-decoded, brackets removed) is refused, or "" when it
/// is fine. The host reaches ssh's argv, libvirt, TLS and the journal: only
/// the forms DNS and the address families define get through, so that no
/// shell metacharacter, space or control character rides along. Names that
/// are not ASCII are refused rather than converted: the IDNA mapping needs a
/// library we do not link, and the A-label the user gives is what ssh, the
/// known-hosts file and the certificate name all use anyway.
std::string host_problem(const std::string& host, bool bracketed) {
  if (has_control(host)) return "the host contains a control character";
  if (bracketed) {
    // An IPv6 address, with an optional zone ("fe80::1%25eth0" decoded).
    const auto zone = host.find('%');
    const std::string address = host.substr(0, zone);
    in6_addr parsed{};
    if (::inet_pton(AF_INET6, address.c_str(), &parsed) != 1)
      return "the host in brackets is not an IPv6 address";
    if (zone != std::string::npos &&
        (zone + 1 == host.size() ||
         !std::all_of(host.begin() + long(zone) + 1, host.end(),
                      [](char c) { return is_ldh(c) || c == '.' || c == '_'; })))
      return "the IPv6 zone may hold only letters, digits, '.', '-' and '_'";
    return "";
  }
  if (host.find(':') != std::string::npos)
    return "an IPv6 address goes in brackets, as in ssh://[2001:db8::1]/";
  if (std::any_of(host.begin(), host.end(), [](unsigned char c) { return c >= 0x80; }))
    return "the host name is not ASCII; give its xn-- form (IDNA A-label)";
  if (std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; }))
    return is_dotted_quad(host) ? "" : "the host is not an IPv4 address of four numbers 0-255";
  // '_' is outside RFC 1123 but common in Windows (NetBIOS) host names and
  // harmless to every consumer of the host; one final dot is a rooted name.
  if (!std::all_of(host.begin(), host.end(),
                   [](char c) { return is_ldh(c) || c == '.' || c == '_'; }))
    return "the host may hold only letters, digits, '-', '_' and '.'";
  const std::string name =
      host.size() > 1 && host.back() == '.' ? host.substr(0, host.size() - 1) : host;
  if (name.size() > 253) return "the host name is longer than 253 characters";
  std::size_t start = 0;
  for (;;) {
    const auto dot = std::min(name.find('.', start), name.size());
    const std::size_t length = dot - start;
    if (length == 0) return "the host name has an empty label (two dots, or one at the start)";
    if (length > 63) return "a label of the host name is longer than 63 characters";
    if (name[start] == '-' || name[dot - 1] == '-')
      return "a label of the host name starts or ends with '-'";
    if (dot == name.size()) return "";
    start = dot + 1;
  }
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
  const bool bracketed = !authority.empty() && authority[0] == '[';
  if (bracketed) {
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
  } else if (std::count(authority.begin(), authority.end(), ':') > 1) {
    bad(text, "an IPv6 address goes in brackets, as in ssh://[2001:db8::1]/");
  } else if (auto colon = authority.find(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) bad(text, "the port after ':' is empty");
  } else {
    u.host = authority;
  }
  u.host = decode(u.host);
  if (!u.host.empty()) {
    const std::string problem = host_problem(u.host, bracketed);
    if (!problem.empty()) bad(text, problem);
  }
  if (has_control(u.user)) bad(text, "the user contains a control character");
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
      const std::string value =
          eq == std::string::npos ? std::string() : decode(item.substr(eq + 1));
      if (std::find(std::begin(kProgramQueryKeys), std::end(kProgramQueryKeys), key) !=
              std::end(kProgramQueryKeys) &&
          !value.empty() && (value[0] != '/' || has_control(value)))
        bad(text, "?" + key + "= names a program to run: give its absolute path");
      u.query[key] = value;
    }
    start = amp + 1;
    if (amp == query.size()) break;
  }
  return u;
}

}  // namespace hyperctl
