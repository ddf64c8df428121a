// What a plugin provides: a Backend names itself, the URI schemes it serves,
// the operations it offers, and opens Connections.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl {

/// Asks for a secret (password, passphrase). `prompt` says what for and never
/// contains the secret. Returns nullopt when none can be had (no terminal, no
/// stored credential); the backend then fails with ErrorCode::AuthFailed.
using SecretProvider = std::function<std::optional<std::string>(const std::string& prompt)>;

struct ConnectOptions {
  std::string user;       ///< overrides the URI's user when set
  SecretProvider secret;  ///< may be empty: no secret can be had
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  bool read_only = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  /// Short lower-case name, e.g. "libvirt"; the plugin file is hyperctl-<name>.so.
  virtual std::string name() const = 0;
  /// One line for `hyperctl backends`.
  virtual std::string description() const = 0;
  /// Base schemes served, without transports: {"qemu", "test", "xen", "lxc"}.
  virtual std::vector<std::string> schemes() const = 0;
  /// What every connection of this backend offers.
  virtual Capabilities capabilities() const = 0;
  /// Opens a session. Throws Error: Unreachable, AuthFailed, InvalidArgument...
  virtual std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) = 0;
};

}  // namespace hyperctl
