// Uri::parse and percent_decode: connection URIs come from the command
// line, the config file and scripts.
#include <cctype>
#include <cstdint>
#include <string_view>

#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"
#include "support.hpp"

using namespace hyperctl;

namespace {

bool same(const Uri& a, const Uri& b) {
  return a.raw == b.raw && a.scheme == b.scheme && a.transport == b.transport && a.user == b.user &&
         a.host == b.host && a.port == b.port && a.path == b.path && a.query == b.query;
}

// The password of "scheme://user:PASSWORD@host" as the whole text has it
// (between the first ':' after "://" and the last '@'), when it looks like
// one: 8 or more letters, digits and URI punctuation, a letter and a digit
// among them, and nowhere else in the text. (Looser candidates let the
// fuzzer build a "password" out of the message's own words.)
std::string password_of(const std::string& text) {
  const auto sep = text.find("://");
  const auto at = text.rfind('@');
  if (sep == std::string::npos || at == std::string::npos || at < sep + 3) return {};
  const auto colon = text.find(':', sep + 3);
  if (colon == std::string::npos || colon > at) return {};
  std::string secret = text.substr(colon + 1, at - colon - 1);
  const std::string rest = text.substr(0, sep + 3) + text.substr(at);
  if (secret.size() < 8 || rest.find(secret) != std::string::npos) return {};
  bool letter = false, digit = false;
  for (const unsigned char c : secret) {
    if (std::isalpha(c))
      letter = true;
    else if (std::isdigit(c))
      digit = true;
    else if (std::string_view("#/?:._~-!$").find(static_cast<char>(c)) == std::string_view::npos)
      return {};
  }
  return letter && digit ? secret : std::string();
}

// Whether `secret` is in the message because the message's own words hold
// it ("credentials file"), not because it echoes the URI: the same URI with
// the password blanked out gives a message that still holds it.
bool fixed_text(const std::string& text, const std::string& secret) {
  std::string blanked = text;
  const auto at = text.find(':', text.find("://") + 3) + 1;  // where password_of took it
  blanked.replace(at, secret.size(), std::string(secret.size(), '*'));
  try {
    (void)Uri::parse(blanked);
  } catch (const Error& e) {
    return std::string(e.what()).find(secret) != std::string::npos;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  try {
    const Uri u = Uri::parse(text);
    fuzz::check(u.str() == text, "the URI keeps its text");
    fuzz::check(!u.scheme.empty(), "a parsed URI has a scheme");
    fuzz::check(u.path.empty() || u.path[0] == '/', "the path starts with '/'");
    fuzz::check(!u.port || (*u.port >= 1 && *u.port <= 65535), "the port is in range");
    fuzz::check(u.full_scheme().find("://") == std::string::npos, "the scheme has no '://'");
    // Printed and parsed again: the same URI.
    fuzz::check(same(Uri::parse(u.str()), u), "parse(str()) gives the same URI");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad URI is InvalidArgument");
    const std::string secret = password_of(text);
    if (!secret.empty() && std::string(e.what()).find(secret) != std::string::npos)
      fuzz::check(fixed_text(text, secret), "an error never echoes the URI's password");
  }
  try {
    const std::string decoded = percent_decode(text);
    fuzz::check(decoded.size() <= text.size(), "decoding never lengthens");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad escape is InvalidArgument");
  }
  return 0;
}
