// trust list|add|remove: the TLS thumbprints and SSH host keys every backend
// trusts (hyperctl/trust.hpp). `add` contacts the host, shows what it
// presents and pins it only when the user vouches for it: --thumbprint that
// matches, --yes, or "y" on the terminal.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "app.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/trust.hpp"
#include "hyperctl/uri.hpp"
#include "output.hpp"
#include "support.hpp"

namespace hyperctl::cli {
namespace {

constexpr const char* kSchema = "hyperctl.trust/1";

struct TrustArgs {
  std::string target;
  bool tls = false;
  bool ssh = false;
  std::string thumbprint;
  bool yes = false;
  unsigned timeout_s = 10;
};

/// What TARGET names: the kind of key, the host and the port.
struct Target {
  std::string kind;  ///< "tls", "ssh", or "" (remove: both)
  std::string host;
  std::optional<unsigned> port;
};

Error invalid(const std::string& message) {
  return Error(ErrorCode::InvalidArgument, message, "trust");
}

std::string flag_kind(const TrustArgs& a) {
  return a.tls ? "tls" : a.ssh ? "ssh" : "";
}

/// The port of HOST given with --tls or --ssh and no port.
unsigned default_port(const std::string& kind) {
  return kind == "tls" ? 443 : 22;
}

/// The port a URI without one is reached on: 22 over SSH, 443 for vSphere,
/// ESXi and https, 16514 (libvirtd's TLS port) for libvirt's TLS transports
/// (qemu+tls://, xen+tls://...; a libvirt scheme given --tls as well).
unsigned default_port(const Uri& uri, const std::string& kind) {
  static const std::set<std::string> https = {"vsphere", "esx", "https"};
  if (kind != "tls") return 22;
  if (uri.transport.empty() && https.count(uri.scheme)) return 443;
  return 16514;
}

/// "host:port", "[v6]:port".
std::string where(const std::string& host, unsigned port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

unsigned parse_port(const std::string& text, const std::string& target) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    throw invalid("bad port in " + squote(target));
  const unsigned port = unsigned(std::stoul(text));
  if (port == 0 || port > 65535) throw invalid("port out of range (1-65535) in " + squote(target));
  return port;
}

/// The kind of key a URI scheme is reached with, or "" when it is neither.
std::string scheme_kind(const Uri& uri) {
  static const std::set<std::string> tls = {"vsphere", "esx", "https"};
  static const std::set<std::string> ssh = {"ssh", "hyperv", "wsl"};
  if (uri.transport == "ssh" || ssh.count(uri.scheme)) return "ssh";
  if (uri.transport.empty() && tls.count(uri.scheme)) return "tls";
  if (uri.transport == "tls") return "tls";  // libvirt's qemu+tls://, xen+tls://...
  return "";
}

/// TARGET: a URI (its scheme gives the kind, --tls/--ssh only when it does
/// not), or HOST[:PORT] / [IPv6][:PORT] with --tls or --ssh (`need_kind`:
/// add must know the kind; remove without one means both).
Target parse_target(const std::string& text, const std::string& flag, bool need_kind) {
  Target t;
  if (text.find("://") != std::string::npos) {
    const Uri uri = Uri::parse(text);
    const std::string kind = scheme_kind(uri);
    if (!kind.empty() && !flag.empty() && kind != flag)
      throw invalid(uri.full_scheme() + ":// is reached over " + (kind == "tls" ? "TLS" : "SSH") +
                    ", not " + (flag == "tls" ? "TLS" : "SSH"));
    t.kind = kind.empty() ? flag : kind;
    if (t.kind.empty())
      throw invalid("cannot tell whether " + uri.full_scheme() +
                    ":// is reached over TLS or SSH: give --tls or --ssh");
    if (uri.host.empty()) throw invalid("the URI " + squote(text) + " names no host");
    t.host = uri.host;
    t.port = uri.port.value_or(default_port(uri, t.kind));
    if (*t.port == 0 || *t.port > 65535)
      throw invalid("port out of range (1-65535) in " + squote(text));
    return t;
  }
  t.kind = flag;
  if (need_kind && t.kind.empty())
    throw invalid(squote(text) +
                  " needs --tls or --ssh (or give a URI: vsphere://HOST, ssh://HOST:PORT)");
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) throw invalid("missing ']' in " + squote(text));
    t.host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw invalid("expected [ADDRESS]:PORT, not " + squote(text));
      t.port = parse_port(rest.substr(1), text);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    t.host = text.substr(0, colon);
    t.port = parse_port(text.substr(colon + 1), text);
  } else {
    t.host = text;  // a name, or an IPv6 address without a port
  }
  if (need_kind && !t.port) t.port = default_port(t.kind);
  return t;
}

std::string lower_ascii(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return text;
}

// ---- output

JsonValue entry_Json(const TrustEntry& e, const PeerCertificate* cert = nullptr) {
  JsonValue j = {{"kind", e.kind},
                 {"host", e.host},
                 {"port", e.port},
                 {"fingerprint", e.fingerprint},
                 {"key", e.key}};
  if (cert) {
    j["subject"] = cert->subject;
    j["issuer"] = cert->issuer;
    j["self_signed"] = cert->self_signed;
  }
  return j;
}

JsonValue trust_doc(const std::string& operation, const TrustStore& store,
                    const std::vector<TrustEntry>& entries, const PeerCertificate* cert = nullptr) {
  JsonValue list = JsonValue::array();
  for (const auto& e : entries) list.push_back(entry_Json(e, e.kind == "tls" ? cert : nullptr));
  return {{"schema", kSchema}, {"operation", operation}, {"dir", store.dir()}, {"entries", list}};
}

std::string entries_table(const std::vector<TrustEntry>& entries) {
  Table t({"KIND", "HOST", "PORT", "FINGERPRINT"}, {Align::Left, Align::Left, Align::Right});
  for (const auto& e : entries) t.add_row({e.kind, e.host, std::to_string(e.port), e.fingerprint});
  return t.render();
}

std::string entries_csv(const std::vector<TrustEntry>& entries) {
  std::string out = csv_row({"kind", "host", "port", "fingerprint", "key"});
  for (const auto& e : entries)
    out += csv_row({e.kind, e.host, std::to_string(e.port), e.fingerprint, e.key});
  return out;
}

/// The entries in the format asked for; `text` is the table view.
void print_entries(Format format, const JsonValue& doc, const std::vector<TrustEntry>& entries,
                   const std::string& text) {
  switch (format) {
    case Format::Json:
      write_stdout(to_json_text(doc));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(doc));
      break;
    case Format::Csv:
      write_stdout(entries_csv(entries));
      break;
    case Format::Table:
      write_stdout(text);
      break;
  }
}

/// The pins of one host, port and kind already in the store.
std::vector<TrustEntry> pinned_now(const std::vector<TrustEntry>& all, const std::string& kind,
                                   const std::string& host, unsigned port) {
  std::vector<TrustEntry> out;
  for (const auto& e : all)
    if (e.kind == kind && e.host == host && e.port == port) out.push_back(e);
  return out;
}

std::string key_type(const TrustEntry& e) {
  return e.key.substr(0, e.key.find(' '));
}

/// What the host presents, and how that compares with an earlier pin.
std::string tls_details(const std::string& at, const PeerCertificate& cert,
                        const std::vector<TrustEntry>& before) {
  std::string out = "TLS certificate of " + printable(at) +
                    "\n  Subject:     " + printable(cert.subject) +
                    "\n  Issuer:      " + printable(cert.issuer) +
                    "\n  Self-signed: " + (cert.self_signed ? "yes" : "no") +
                    "\n  SHA-256:     " + cert.thumbprint + "\n";
  for (const auto& e : before)
    out +=
        e.key == cert.thumbprint ? "  (already pinned)\n" : "  REPLACES the pinned " + e.key + "\n";
  return out;
}

std::string ssh_details(const std::string& at, const std::vector<TrustEntry>& keys,
                        const std::vector<TrustEntry>& before) {
  std::string out = "SSH host keys of " + printable(at) + "\n";
  for (const auto& k : keys) {
    out += "  " + printable(key_type(k)) + "  " + k.fingerprint;
    for (const auto& e : before)
      if (key_type(e) == key_type(k))
        out += e.key == k.key ? "  (already pinned)" : "  REPLACES the pinned " + e.fingerprint;
    out += "\n";
  }
  return out;
}

/// How the user answered on the terminal.
enum class Answer { NotAsked, Yes, No };

/// Shows `details` on the terminal and asks; Yes only for y/yes typed
/// there. Never asks when standard input is not a terminal (scripts, tests).
Answer confirm_on_terminal(const std::string& details, const std::string& question) {
  if (!::isatty(STDIN_FILENO)) return Answer::NotAsked;
  const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Answer::NotAsked;
  const std::string text = details + question + " [y/N] ";
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  std::string answer;
  char c = 0;
  while (ok && answer.size() < 16 && ::read(fd, &c, 1) == 1 && c != '\n') answer += c;
  ::close(fd);
  answer = lower_ascii(answer);
  while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
  return answer == "y" || answer == "yes" ? Answer::Yes : Answer::No;
}

/// The table view after pinning: the details again, unless the user just
/// read them on the terminal that is also our standard output.
std::string pinned_text(Answer answer, const std::string& details, const std::string& line) {
  return (answer == Answer::Yes && ::isatty(STDOUT_FILENO) ? std::string() : details) + line;
}

/// Why nothing was stored when the user did not vouch for the key.
std::string not_stored(Answer answer) {
  return answer == Answer::No
             ? "; nothing was stored (declined on the terminal)"
             : "; nothing was stored: pass --yes or --thumbprint after checking it";
}

/// An SSH fingerprint as given: "SHA256:BASE64" or the BASE64 alone.
std::string ssh_fingerprint_arg(const std::string& text) {
  std::string b64 = text.rfind("SHA256:", 0) == 0 ? text.substr(7) : text;
  if (b64.size() != 43 ||
      b64.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") !=
          std::string::npos)
    throw invalid(
        squote(text) +
        " is not an SSH host key fingerprint (SHA256:BASE64, as ssh-keygen -l prints it)");
  return "SHA256:" + b64;
}

// ---- the commands

int run_trust_list(const GlobalOptions& g) {
  const Format format = parse_format(g.output);
  const TrustStore store;
  const auto entries = store.list();
  print_entries(format, trust_doc("trust.list", store, entries), entries, entries_table(entries));
  return 0;
}

int run_trust_add(const GlobalOptions& g, const TrustArgs& a) {
  const Format format = parse_format(g.output);
  const Target t = parse_target(a.target, flag_kind(a), true);
  const unsigned port = *t.port;
  const auto timeout = std::chrono::milliseconds(std::chrono::seconds(a.timeout_s));
  if (timeout.count() <= 0) throw invalid("--timeout must be at least 1 second");
  TrustStore store;
  // The store is read first: a malformed file stops us before any contact.
  const auto before = pinned_now(store.list(), t.kind, lower_ascii(t.host), port);
  Answer answer = Answer::NotAsked;
  // The thumbprint's spelling is checked before anything is contacted.
  const std::string wanted = a.thumbprint.empty() ? std::string()
                             : t.kind == "tls"    ? normalize_thumbprint(a.thumbprint)
                                                  : ssh_fingerprint_arg(a.thumbprint);

  if (t.kind == "tls") {
    const PeerCertificate cert = fetch_peer_certificate(t.host, port, timeout);
    const std::string at = where(lower_ascii(t.host), port);
    const std::string details = tls_details(at, cert, before);
    if (!wanted.empty()) {
      if (wanted != cert.thumbprint)
        throw Error(ErrorCode::Conflict,
                    at + " presents a certificate with SHA-256 thumbprint " + cert.thumbprint +
                        ", not " + wanted + "; nothing was stored",
                    "trust.add");
    } else if (!a.yes && (answer = confirm_on_terminal(
                              details, "Pin this certificate for " + at + "?")) != Answer::Yes) {
      throw invalid(
          at + " presents " + printable(cert.subject) +
          (cert.self_signed ? " (self-signed)" : ", issued by " + printable(cert.issuer)) +
          ", SHA-256 " + cert.thumbprint + not_stored(answer));
    }
    store.add_tls(t.host, port, cert.thumbprint);
    const TrustEntry e{"tls", lower_ascii(t.host), port, cert.thumbprint, cert.thumbprint};
    print_entries(
        format, trust_doc("trust.add", store, {e}, &cert), {e},
        pinned_text(answer, details, "pinned " + at + " in " + printable(store.tls_file()) + "\n"));
    return 0;
  }

  auto keys = scan_ssh_host_keys(t.host, port, timeout);
  const std::string at = where(lower_ascii(t.host), port);
  const std::string details = ssh_details(at, keys, before);
  if (!wanted.empty()) {
    // Only the key the user vouched for: the others came over other
    // connections, which the fingerprint says nothing about.
    auto it = std::find_if(keys.begin(), keys.end(),
                           [&](const TrustEntry& k) { return k.fingerprint == wanted; });
    if (it == keys.end()) {
      std::string offered;
      for (const auto& k : keys) offered += (offered.empty() ? "" : ", ") + k.fingerprint;
      throw Error(ErrorCode::Conflict,
                  at + " offers no host key with fingerprint " + wanted + " (it offers " + offered +
                      "); nothing was stored",
                  "trust.add");
    }
    keys = {*it};
  } else if (!a.yes && (answer = confirm_on_terminal(
                            details, "Pin these host keys for " + at + "?")) != Answer::Yes) {
    std::string offered;
    for (const auto& k : keys)
      offered += (offered.empty() ? "" : ", ") + printable(key_type(k)) + " " + k.fingerprint;
    throw invalid(at + " offers " + offered + not_stored(answer));
  }
  std::vector<std::string> blobs;
  for (const auto& k : keys) blobs.push_back(k.key);
  store.add_ssh(t.host, port, blobs);
  const std::string what =
      keys.size() == 1 ? "1 host key" : std::to_string(keys.size()) + " host keys";
  print_entries(
      format, trust_doc("trust.add", store, keys), keys,
      pinned_text(answer, details,
                  "pinned " + what + " of " + at + " in " + printable(store.ssh_file()) + "\n"));
  return 0;
}

int run_trust_remove(const GlobalOptions& g, const TrustArgs& a) {
  const Format format = parse_format(g.output);
  const Target t = parse_target(a.target, flag_kind(a), false);
  TrustStore store;
  const std::string host = lower_ascii(t.host);
  std::vector<TrustEntry> gone;
  std::set<unsigned> ports;
  for (const auto& e : store.list())
    if (e.host == host && (!t.port || e.port == *t.port) && (t.kind.empty() || e.kind == t.kind)) {
      gone.push_back(e);
      ports.insert(e.port);
    }
  // The store checks the host (and port) even when nothing matched.
  if (ports.empty()) ports.insert(t.port.value_or(443));
  std::size_t removed = 0;
  for (unsigned port : ports) removed += store.remove(t.host, port, t.kind);
  const std::string at = t.port ? where(host, *t.port) : host;
  if (removed == 0)
    throw Error(ErrorCode::NotFound,
                "nothing is pinned for " + printable(at) +
                    (t.kind.empty() ? std::string() : " (" + t.kind + ")"),
                "trust.remove");
  print_entries(format, trust_doc("trust.remove", store, gone), gone,
                "removed " + std::to_string(removed) + (removed == 1 ? " entry" : " entries") +
                    " for " + printable(at) + "\n");
  return 0;
}

}  // namespace

void add_trust_commands(CLI::App& app, const CommandContext& ctx) {
  auto* trust = app.add_subcommand(
      "trust", "Pinned TLS certificates and SSH host keys, shared by every backend");
  trust->require_subcommand(1);
  // CLI11 keeps the callbacks; the arguments must outlive this function.
  static TrustArgs add_args, remove_args;

  trust->add_subcommand("list", "List the pinned thumbprints and host keys")
      ->callback(ctx.run([g = &ctx.g] { return run_trust_list(*g); }));

  auto* add = trust->add_subcommand(
      "add", "Contact a host, show its certificate or host keys, and pin them");
  add->add_option("target", add_args.target,
                  "vsphere://HOST, esx://HOST, https://HOST (TLS, port 443); ssh://, hyperv://, "
                  "wsl://, qemu+ssh://... (SSH, port 22); or HOST:PORT with --tls or --ssh")
      ->required();
  auto* add_tls = add->add_flag("--tls", add_args.tls, "HOST:PORT speaks TLS");
  auto* add_ssh = add->add_flag("--ssh", add_args.ssh, "HOST:PORT speaks SSH");
  add_tls->excludes(add_ssh);
  add->add_option("--thumbprint", add_args.thumbprint,
                  "Pin only if the host presents this SHA-256 thumbprint (TLS) or SHA256:... "
                  "fingerprint (SSH)")
      ->type_name("FINGERPRINT");
  add->add_flag("--yes", add_args.yes, "Pin what the host presents without asking");
  add->add_option("--timeout", add_args.timeout_s, "Seconds to wait for the host")
      ->default_str("10");
  add->callback(ctx.run([g = &ctx.g] { return run_trust_add(*g, add_args); }));

  auto* remove = trust->add_subcommand(
      "remove", "Forget the pins of HOST[:PORT] (every port when none is given)");
  remove->add_option("target", remove_args.target, "HOST[:PORT], [IPv6]:PORT, or a URI")
      ->required();
  auto* rm_tls = remove->add_flag("--tls", remove_args.tls, "Only the TLS pin");
  auto* rm_ssh = remove->add_flag("--ssh", remove_args.ssh, "Only the SSH host keys");
  rm_tls->excludes(rm_ssh);
  remove->callback(ctx.run([g = &ctx.g] { return run_trust_remove(*g, remove_args); }));
}

}  // namespace hyperctl::cli
