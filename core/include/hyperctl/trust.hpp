// The trust store: which TLS certificates and SSH host keys the user has
// pinned, for every backend. One folder, $HYPERCTL_TRUST_DIR, else
// $XDG_CONFIG_HOME/hyperctl, else ~/.config/hyperctl, holding two files:
//   - tls_known_hosts: lines `HOST:PORT SHA256-THUMBPRINT [# comment]`
//     (IPv6 hosts in brackets: [::1]:443), the thumbprint as 32 upper-case hex
//     pairs joined by ':';
//   - ssh_known_hosts: OpenSSH's known_hosts format, so that ssh reads it
//     itself (UserKnownHostsFile), beside the user's ~/.ssh/known_hosts.
// Both are written atomically (temporary + rename), mode 0644, folder 0700.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace hyperctl {

struct TrustEntry {
  std::string kind;  ///< "tls" or "ssh"
  std::string host;  ///< without brackets
  unsigned port = 0;
  /// tls: the canonical SHA-256 thumbprint; ssh: "KEYTYPE BASE64" as in known_hosts.
  std::string key;
  /// ssh: "SHA256:..." as ssh-keygen -l prints it; tls: the same as key.
  std::string fingerprint;
};

class TrustStore {
 public:
  /// $HYPERCTL_TRUST_DIR, else $XDG_CONFIG_HOME/hyperctl, else ~/.config/hyperctl.
  static std::string default_dir();

  explicit TrustStore(std::string dir = default_dir());

  const std::string& dir() const { return dir_; }
  std::string tls_file() const;  ///< dir/tls_known_hosts
  std::string ssh_file() const;  ///< dir/ssh_known_hosts

  /// Every entry, TLS first, in file order. A malformed line:
  /// Error(InvalidArgument, "FILE:LINE: why").
  std::vector<TrustEntry> list() const;

  enum class Verdict { Trusted, Unknown, Mismatch };
  /// Whether `thumbprint` (any accepted spelling) is pinned for host:port.
  Verdict check_tls(const std::string& host, unsigned port, const std::string& thumbprint) const;

  /// Pins a TLS thumbprint for host:port, replacing an earlier pin there.
  void add_tls(const std::string& host, unsigned port, const std::string& thumbprint);
  /// Adds SSH host keys ("KEYTYPE BASE64" each) for host:port, replacing
  /// earlier keys of the same type there.
  void add_ssh(const std::string& host, unsigned port, const std::vector<std::string>& keys);
  /// Removes the entries for host:port ("" kind: both kinds). Returns how many.
  std::size_t remove(const std::string& host, unsigned port, const std::string& kind = "");

  /// The value for ssh's UserKnownHostsFile: this store's ssh file, then the
  /// user's ~/.ssh/known_hosts (ssh takes a space-separated list; a path
  /// with a space is written quoted).
  std::string ssh_user_known_hosts_option() const;

 private:
  std::string dir_;
};

/// Canonical form of a SHA-256 thumbprint given as hex with or without
/// colons, any case, optionally prefixed "SHA256:" or "sha256=". Throws
/// Error(InvalidArgument) for anything else (a SHA-1 thumbprint included:
/// "SHA-1 thumbprints are not accepted; give the SHA-256 one").
std::string normalize_thumbprint(const std::string& text);

/// SHA-256 thumbprint (canonical form) of a DER-encoded certificate.
std::string certificate_thumbprint(const std::string& der);

/// What a TLS server presents: its leaf certificate's thumbprint and subject.
struct PeerCertificate {
  std::string thumbprint;
  std::string subject;  ///< one line, e.g. "CN=vc1.example.com"
  std::string issuer;
  bool self_signed = false;
};

/// Connects to host:port, does a TLS handshake without verifying, and
/// returns the leaf certificate. Throws Error(Unreachable) naming host:port
/// (refused, timed out, no TLS), Error(Timeout) past `timeout`.
PeerCertificate fetch_peer_certificate(const std::string& host, unsigned port,
                                       std::chrono::milliseconds timeout);

/// The host keys an SSH server offers (ssh-keyscan), "KEYTYPE BASE64" each,
/// with their fingerprints. Throws Error(Unreachable).
std::vector<TrustEntry> scan_ssh_host_keys(const std::string& host, unsigned port,
                                           std::chrono::milliseconds timeout);

}  // namespace hyperctl
