// The fleet configuration: named connections and groups of them, in one file
// under the XDG config folder ($XDG_CONFIG_HOME/hyperctl/config, else
// ~/.config/hyperctl/config) or the file given by --config.
//
// The format is line-based, like git's config files:
//
//   # comments start with '#' or ';' (whole lines only)
//   [connection kvm1]
//   uri = qemu+ssh://root@kvm1.example.com/system
//   user = root                 # not allowed: no trailing comments
//   credentials = env:KVM1_PASSWORD
//   tags = prod, kvm
//   timeout = 20s
//
//   [group prod]
//   members = kvm1, vc1, tag:windows
//
// Names: [A-Za-z0-9][A-Za-z0-9._-]* (so a name never looks like a URI).
// Keys of a connection: uri (required), user, credentials, tags, timeout
// (a number with ms, s or m; plain = seconds). Keys of a group: members
// (connection names, or tag:TAG for every connection with that tag). An
// unknown section, an unknown or repeated key, a missing uri, a bad name, a
// duplicate name (connection or group), a group member that names nothing:
// Error(InvalidArgument) "FILE:LINE: reason" (one line).
//
// Saving keeps comments and the order of what was there: a removed section's
// lines go, an added one is appended. The file holds no secrets.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hyperctl {

struct ConnectionEntry {
  std::string name;
  std::string uri;
  std::string user;  ///< empty: the URI's own user
  /// Where the secret comes from (see credentials.hpp): "" (the default
  /// chain), "env:VAR", "file" (the credentials file, key = name),
  /// "file:KEY", "prompt", "none".
  std::string credentials;
  std::vector<std::string> tags;
  std::optional<std::chrono::milliseconds> timeout;  ///< per-host deadline
  int line = 0;  ///< where its section starts (0: not from a file)
};

struct GroupEntry {
  std::string name;
  std::vector<std::string> members;  ///< connection names and tag:TAG
  int line = 0;
};

class FleetConfig {
 public:
  /// $XDG_CONFIG_HOME/hyperctl/config, else $HOME/.config/hyperctl/config.
  static std::string default_path();

  /// Reads `path`; a missing file is an empty configuration (origin kept so
  /// that save() creates it). Malformed: Error(InvalidArgument, "PATH:LINE: why").
  static FleetConfig load(const std::string& path);
  /// Parses `text`; `origin` names it in messages.
  static FleetConfig parse(const std::string& text, const std::string& origin);

  const std::string& origin() const { return origin_; }
  const std::vector<ConnectionEntry>& connections() const { return connections_; }
  const std::vector<GroupEntry>& groups() const { return groups_; }

  /// nullptr when there is none.
  const ConnectionEntry* find(const std::string& name) const;
  /// The connection named `name`; Error(NotFound) "no connection named 'x'
  /// in FILE" when there is none.
  const ConnectionEntry& get(const std::string& name) const;
  /// Connections of `group`, members expanded (tags), each once, in the
  /// group's order. Throws Error(NotFound) naming the file.
  std::vector<ConnectionEntry> group(const std::string& name) const;
  /// Connections by name, each once. Throws Error(NotFound) for an unknown
  /// name ("no connection named 'x' in FILE").
  std::vector<ConnectionEntry> select(const std::vector<std::string>& names) const;

  /// Adds a connection (its name and URI checked as load() would).
  /// Error(AlreadyExists) when a connection or group has that name.
  void add(const ConnectionEntry& entry);
  /// Removes a connection. Error(NotFound); Error(Conflict) when a group
  /// names it as a member (remove it there first).
  void remove(const std::string& name);

  /// Writes to `path` (default: origin()) atomically (temporary + rename),
  /// creating its folder (mode 0700) when missing.
  void save(const std::string& path = "") const;

 private:
  std::string origin_;
  std::vector<std::string> lines_;  ///< the text as read, for save()
  std::vector<ConnectionEntry> connections_;
  std::vector<GroupEntry> groups_;
  struct Span {
    std::string name;
    bool is_group;
    std::size_t first, last;  ///< line indexes [first, last)
  };
  std::vector<Span> spans_;
};

/// True when `text` is a valid connection/group name.
bool valid_connection_name(const std::string& text);

/// A timeout as the file writes it: "2m", "20s", "500ms".
std::string format_timeout(std::chrono::milliseconds timeout);

}  // namespace hyperctl
