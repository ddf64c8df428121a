// Connection URIs: scheme[+transport]://[user@]host[:port][/path][?query].
// The raw text is kept: libvirt URIs are handed to libvirt unchanged.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hyperctl {

struct Uri {
  std::string raw;        ///< exactly what the user gave
  std::string scheme;     ///< lower-case, without transport: "qemu", "vsphere"
  std::string transport;  ///< "ssh" in "qemu+ssh"; empty when none
  std::string user;       ///< percent-decoded
  std::string host;       ///< without brackets for IPv6 literals; may be empty
  std::optional<unsigned> port;
  std::string path;                          ///< percent-decoded, starts with '/' or is empty
  std::map<std::string, std::string> query;  ///< percent-decoded keys and values

  /// Parses `text`. Throws Error(InvalidArgument) naming what is wrong:
  /// missing "://", empty or invalid scheme, bad port, bad percent escape,
  /// a password in the URI (passwords never travel in URIs), control chars.
  static Uri parse(const std::string& text);

  /// "scheme" or "scheme+transport", as written before "://".
  std::string full_scheme() const { return transport.empty() ? scheme : scheme + "+" + transport; }
  /// The URI for display: identical to raw (raw never holds a password).
  const std::string& str() const { return raw; }
};

/// Percent-decodes `text`; throws Error(InvalidArgument) on a bad escape.
std::string percent_decode(const std::string& text);

}  // namespace hyperctl
