// Credentials in one place for every backend. A secret (password or
// passphrase) comes from, in this order unless a connection names one source:
//   1. the environment: HYPERCTL_PASSWORD_<NAME> for a named connection
//      (NAME upper-cased, every character other than A-Z and 0-9 made '_'),
//   2. the credentials file ($XDG_CONFIG_HOME/hyperctl/credentials, else
//      ~/.config/hyperctl/credentials; HYPERCTL_CREDENTIALS overrides), key =
//      the connection's name, or the URI as written for an unnamed one,
//   3. HYPERCTL_PASSWORD,
//   4. a prompt on the controlling terminal, echo off (only when allowed).
// A connection's `credentials =` narrows that to one source: env:VAR, file,
// file:KEY, prompt, or none.
//
// The credentials file: lines `KEY = SECRET` (KEY trimmed; SECRET is the rest
// of the line after '=' with surrounding blanks removed), '#' comment lines.
// It must be a regular file owned by the user and not readable or writable by
// group or others; otherwise it is refused (Error(InvalidArgument) naming the
// file, its mode and the chmod that fixes it) and never read.
//
// Secrets never reach argv, logs, error messages or --debug output: messages
// name the source (the variable, the file and key), never the value.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "hyperctl/backend.hpp"
#include "hyperctl/config.hpp"

namespace hyperctl {

class CredentialStore {
 public:
  /// $HYPERCTL_CREDENTIALS, else $XDG_CONFIG_HOME/hyperctl/credentials, else
  /// $HOME/.config/hyperctl/credentials.
  static std::string default_path();

  explicit CredentialStore(std::string path = default_path(), bool interactive = true);

  const std::string& path() const { return path_; }

  /// The secret for `entry` (nullptr: an unnamed connection to `uri`)
  /// following the order above. `prompt` is shown on the terminal. nullopt:
  /// none to be had. Throws Error(InvalidArgument) for a credentials file with
  /// loose permissions, a malformed one, or an env:VAR that is not set when
  /// the connection names it explicitly.
  std::optional<std::string> secret_for(const ConnectionEntry* entry, const std::string& uri,
                                        const std::string& prompt) const;

  /// A SecretProvider for ConnectOptions bound to this store and entry (the
  /// entry is copied; the store must outlive the provider).
  SecretProvider provider(const ConnectionEntry* entry, const std::string& uri) const;

  /// Adds or replaces KEY in the file (created with mode 0600, its folder 0700;
  /// an existing file must pass the permission check). Atomic.
  void store(const std::string& key, const std::string& secret) const;
  /// Removes KEY; false when it was not there.
  bool erase(const std::string& key) const;

 private:
  std::string path_;
  bool interactive_;
};

/// The credentials-file key a connection reads its password under: its name
/// (credentials "" or "file"), KEY ("file:KEY"), "" when it never reads the
/// file (env:VAR, prompt, none).
std::string credentials_file_key(const ConnectionEntry& connection);

/// HYPERCTL_PASSWORD_<NAME> for a connection name.
std::string credential_env_name(const std::string& connection_name);

/// Reads a secret from the controlling terminal with echo off; nullopt when
/// there is no terminal. One prompt at a time, whichever thread asks.
std::optional<std::string> prompt_secret(const std::string& prompt);

/// Marks the calling thread as waiting for the user while it lives: that
/// time goes to prompt_wait_total(). prompt_secret() uses it (its turn in
/// the queue included); a SecretProvider that asks the user some other way
/// (a dialog) should too.
class UserWait {
 public:
  UserWait();
  ~UserWait();
  UserWait(const UserWait&) = delete;
  UserWait& operator=(const UserWait&) = delete;
};

/// Wall time this process has spent with some thread waiting for the user
/// (UserWait), the wait in progress included. Deadlines that measure a
/// host's time leave it out: the wait is the user's, not the host's.
std::chrono::nanoseconds prompt_wait_total();

/// Turns the terminal's echo back on if a prompt has it off: for a program
/// about to leave with _exit() while another thread is still at a prompt.
void restore_prompt_terminal();

/// Ends the password prompt in progress, or the next one to start, as if the
/// user had typed nothing: for a handler that cancels the command (Ctrl-C),
/// so that the cancelled command does not wait for a password first.
/// Async-signal-safe (one atomic store); the prompt notices within 0.2 s.
void abandon_prompt();

}  // namespace hyperctl
