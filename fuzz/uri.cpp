// Uri::parse and percent_decode: connection URIs come from the command
// line, the config file and scripts.
#include <cstdint>

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
// (between the first ':' after "://" and the last '@'), when it is long
// enough to be told apart from the rest of a message.
std::string password_of(const std::string& text) {
  const auto sep = text.find("://");
  const auto at = text.rfind('@');
  if (sep == std::string::npos || at == std::string::npos || at < sep + 3) return {};
  const auto colon = text.find(':', sep + 3);
  if (colon == std::string::npos || colon > at) return {};
  std::string secret = text.substr(colon + 1, at - colon - 1);
  const std::string rest = text.substr(0, sep + 3) + text.substr(at);
  if (secret.size() < 8 || rest.find(secret) != std::string::npos) return {};
  return secret;
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
    fuzz::check(secret.empty() || std::string(e.what()).find(secret) == std::string::npos,
                "an error never echoes the URI's password");
  }
  try {
    const std::string decoded = percent_decode(text);
    fuzz::check(decoded.size() <= text.size(), "decoding never lengthens");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad escape is InvalidArgument");
  }
  return 0;
}
