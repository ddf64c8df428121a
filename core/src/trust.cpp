// The trust store (hyperctl/trust.hpp): two line-oriented files edited in
// place (comments and order kept), rewritten atomically under a lock; TLS
// certificates fetched with OpenSSL over a non-blocking socket that honours
// one deadline; SSH host keys through ssh-keyscan and ssh-keygen.
#include "hyperctl/trust.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/process.hpp"
#include "posix.hpp"
#include "text.hpp"

namespace hyperctl {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kTlsFile = "tls_known_hosts";
constexpr const char* kSshFile = "ssh_known_hosts";
constexpr const char* kLockFile = ".trust.lock";
constexpr const char* kSha1Refused = "SHA-1 thumbprints are not accepted; give the SHA-256 one";
constexpr unsigned kSshDefaultPort = 22;

/// User text for a message: one line, and not longer than a line.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 120;
  if (text.size() > kMax) return escape::terminal_text(text.substr(0, kMax)) + "...";
  return escape::terminal_text(text);
}

Error invalid(const std::string& message) {
  return Error(ErrorCode::InvalidArgument, message, "trust");
}

std::string lower_ascii(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return text;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         lower_ascii(std::string(text.substr(0, prefix.size()))) == prefix;
}

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t from = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > from) out.emplace_back(line.substr(from, i - from));
  }
  return out;
}

// ---- hosts and ports

/// Why `host` cannot be stored, or nullopt. Host names and IP literals
/// only: letters, digits, '.', '-', '_', and ':' / '%' in IPv6 literals.
/// Anything else could end a field, start a comment or a pattern in
/// known_hosts, or fool a reader of the file.
std::optional<std::string> host_problem(const std::string& host) {
  if (host.empty()) return "empty host";
  if (host.size() > 253) return "host name longer than 253 characters";
  for (unsigned char c : host) {
    if (c < 0x20 || c == 0x7f) return "host holds a control character";
    if (c == ' ' || c == '\t') return "host holds a blank";
    if (c >= 0x80) return "host holds a character that is not ASCII";
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
    if (!ok) return std::string("host holds '") + char(c) + "'";
  }
  if (host.front() == '-' || host.front() == '.')
    return "host starts with '" + host.substr(0, 1) + "'";
  if (host.find(':') != std::string::npos || host.find('%') != std::string::npos) {
    const std::string address = host.substr(0, host.find('%'));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, address.c_str(), &a6) != 1)
      return "host is neither a host name nor an IPv6 address";
  }
  return std::nullopt;
}

/// The stored spelling of a host (lower case, as ssh compares them), or
/// Error(InvalidArgument) naming the problem.
std::string canonical_host(const std::string& host) {
  if (auto why = host_problem(host)) throw invalid(*why + ": '" + shown(host) + "'");
  return lower_ascii(host);
}

void check_port(unsigned port) {
  if (port == 0 || port > 65535)
    throw invalid("port " + std::to_string(port) + " is out of range (1-65535)");
}

/// "host:port", "[v6]:port".
std::string host_port(const std::string& host, unsigned port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

/// Parses a port written in a file; nullopt when it is not 1-65535.
std::optional<unsigned> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + unsigned(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return value;
}

// ---- base64 and SSH key blobs

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = std::size_t(n);
  if (text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(data.data()), int(data.size()));
  out.resize(std::size_t(n));
  return out;
}

std::string sha256_bytes(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw Error(ErrorCode::Internal, "SHA-256 failed", "trust");
  return std::string(reinterpret_cast<const char*>(md), len);
}

/// OpenSSH's fingerprint of a key blob: "SHA256:" and unpadded base64.
std::string ssh_fingerprint(std::string_view blob) {
  std::string b64 = base64_encode(sha256_bytes(blob));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

/// Checks "KEYTYPE BASE64" (the type a name of letters, digits, '@', '.',
/// '-', '_'; the blob valid base64 whose first field is that type) and
/// returns the key's fingerprint, or the reason it is refused.
struct KeyCheck {
  std::string fingerprint;
  std::string problem;
};
KeyCheck check_ssh_key(const std::string& type, const std::string& b64) {
  KeyCheck r;
  if (type.empty() || type.size() > 64 ||
      type.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_") !=
          std::string::npos) {
    r.problem = "'" + shown(type) + "' is not an SSH key type";
    return r;
  }
  const auto blob = base64_decode(b64);
  if (!blob) {
    r.problem = "the key is not valid base64";
    return r;
  }
  // string type: uint32 length, bytes.
  if (blob->size() < 4) {
    r.problem = "the key is too short";
    return r;
  }
  const std::uint32_t n = (std::uint32_t(std::uint8_t((*blob)[0])) << 24) |
                          (std::uint32_t(std::uint8_t((*blob)[1])) << 16) |
                          (std::uint32_t(std::uint8_t((*blob)[2])) << 8) |
                          std::uint32_t(std::uint8_t((*blob)[3]));
  if (n > blob->size() - 4 || blob->substr(4, n) != type) {
    r.problem = "the key is not of type " + type;
    return r;
  }
  r.fingerprint = ssh_fingerprint(*blob);
  return r;
}

// ---- the two files

/// One line of a file: the text as read (kept when rewriting) and the entry
/// it holds, if any.
struct Line {
  std::string text;
  std::optional<TrustEntry> entry;
};

std::string read_whole(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorCode::BackendFailure,
                "cannot read " + shown(path) + ": " + std::strerror(errno), "trust");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t from = 0;
  while (from < text.size()) {
    auto end = text.find('\n', from);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(from, end - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    from = end + 1;
  }
  return lines;
}

/// Parses a TLS line's "HOST:PORT" word; returns the problem or fills host/port.
std::optional<std::string> parse_tls_address(const std::string& word, std::string& host,
                                             unsigned& port) {
  std::string h, p;
  if (!word.empty() && word.front() == '[') {
    const auto close = word.find(']');
    if (close == std::string::npos || close + 1 >= word.size() || word[close + 1] != ':')
      return "expected [IPv6]:PORT";
    h = word.substr(1, close - 1);
    p = word.substr(close + 2);
    if (h.find(':') == std::string::npos) return "brackets are for IPv6 addresses only";
  } else {
    const auto colon = word.rfind(':');
    if (colon == std::string::npos) return "expected HOST:PORT";
    h = word.substr(0, colon);
    p = word.substr(colon + 1);
    if (h.find(':') != std::string::npos) return "an IPv6 address goes in brackets: [ADDRESS]:PORT";
  }
  if (auto why = host_problem(h)) return *why;
  const auto value = parse_port(p);
  if (!value) return "bad port '" + shown(p) + "'";
  host = lower_ascii(h);
  port = *value;
  return std::nullopt;
}

/// Parses an ssh line's host field: "host" (port 22) or "[host]:port".
std::optional<std::string> parse_ssh_address(const std::string& word, std::string& host,
                                             unsigned& port) {
  if (word.front() == '|') return "hashed host names are not supported in this file";
  if (word.front() == '@')
    return "markers (@cert-authority, @revoked) are not supported in this file";
  if (word.find(',') != std::string::npos) return "one host per line in this file";
  std::string h = word;
  unsigned p = kSshDefaultPort;
  if (word.front() == '[') {
    const auto close = word.find(']');
    if (close == std::string::npos || close + 1 >= word.size() || word[close + 1] != ':')
      return "expected [HOST]:PORT";
    h = word.substr(1, close - 1);
    const auto value = parse_port(word.substr(close + 2));
    if (!value) return "bad port '" + shown(word.substr(close + 2)) + "'";
    p = *value;
  }
  if (auto why = host_problem(h)) return *why;
  host = lower_ascii(h);
  port = p;
  return std::nullopt;
}

/// The ssh file's host field, as ssh looks it up.
std::string ssh_address(const std::string& host, unsigned port) {
  if (port == kSshDefaultPort) return host;
  return "[" + host + "]:" + std::to_string(port);
}

std::vector<Line> read_file(const std::string& path, bool tls) {
  const std::string text = read_whole(path);
  std::vector<Line> lines;
  std::map<std::string, std::size_t> seen;  // tls host:port, ssh host:port:type -> line
  std::size_t number = 0;
  for (auto& raw : split_lines(text)) {
    ++number;
    Line line{raw, std::nullopt};
    const auto fail = [&](const std::string& why) {
      return invalid(shown(path) + ":" + std::to_string(number) + ": " + why);
    };
    const std::string t = text::trim(raw, " \t\r\n");
    if (t.empty() || t.front() == '#') {
      lines.push_back(std::move(line));
      continue;
    }
    for (unsigned char c : raw)
      if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) throw fail("control character");
    const auto w = words(t);
    TrustEntry e;
    if (tls) {
      if (w.size() < 2) throw fail("expected HOST:PORT SHA256-THUMBPRINT");
      if (w.size() > 2 && w[2].front() != '#')
        throw fail("unexpected text after the thumbprint (a comment starts with '#')");
      if (auto why = parse_tls_address(w[0], e.host, e.port)) throw fail(*why);
      try {
        e.key = normalize_thumbprint(w[1]);
      } catch (const Error& err) {
        throw fail(err.what());
      }
      e.kind = "tls";
      e.fingerprint = e.key;
      const std::string id = host_port(e.host, e.port);
      if (auto it = seen.find(id); it != seen.end())
        throw fail(id + " is pinned already on line " + std::to_string(it->second));
      seen[id] = number;
    } else {
      if (w.size() < 3) throw fail("expected HOST KEYTYPE BASE64 [COMMENT]");
      if (auto why = parse_ssh_address(w[0], e.host, e.port)) throw fail(*why);
      const KeyCheck k = check_ssh_key(w[1], w[2]);
      if (!k.problem.empty()) throw fail(k.problem);
      e.kind = "ssh";
      e.key = w[1] + " " + w[2];
      e.fingerprint = k.fingerprint;
      const std::string id = host_port(e.host, e.port) + " " + w[1];
      if (auto it = seen.find(id); it != seen.end())
        throw fail("a " + w[1] + " key for " + host_port(e.host, e.port) + " is on line " +
                   std::to_string(it->second) + " already");
      seen[id] = number;
    }
    line.entry = std::move(e);
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string errno_text() {
  return std::strerror(errno);
}

std::string join_lines(const std::vector<Line>& lines) {
  std::string out;
  for (const auto& l : lines) out += l.text + "\n";
  return out;
}

/// An exclusive lock on the store for one read-modify-write.
class StoreLock {
 public:
  explicit StoreLock(const std::string& dir) {
    posix::make_dirs(dir, 0700, "trust");
    const std::string path = (fs::path(dir) / kLockFile).string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0)
      throw Error(ErrorCode::BackendFailure,
                  "cannot lock the trust store " + shown(path) + ": " + errno_text(), "trust");
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~StoreLock() { ::close(fd_); }
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

/// One path as a word of ssh's UserKnownHostsFile list: '%' doubled (ssh
/// expands %-tokens there), and double quotes around it, with \ and "
/// escaped, when it holds a blank, a quote or a backslash.
std::string ssh_path_word(const std::string& path) {
  std::string out;
  bool quote = false;
  for (char c : path) {
    if (c == '%') {
      out += "%%";
      continue;
    }
    if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\') quote = true;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return quote ? "\"" + out + "\"" : out;
}

// ---- TLS

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// getaddrinfo on its own thread, so that a slow resolver cannot outlast the
/// deadline; an abandoned lookup frees its own result.
struct Lookup {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;
  int rc = 0;
  addrinfo* result = nullptr;
};

std::shared_ptr<Lookup> resolve(const std::string& host, unsigned port) {
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, port] {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    std::lock_guard<std::mutex> lock(lookup->m);
    if (lookup->abandoned) {
      if (res) ::freeaddrinfo(res);
      return;
    }
    lookup->rc = rc;
    lookup->result = res;
    lookup->done = true;
    lookup->cv.notify_all();
  }).detach();
  return lookup;
}

bool is_ip_literal(const std::string& host) {
  in_addr a4{};
  in6_addr a6{};
  const std::string address = host.substr(0, host.find('%'));
  return ::inet_pton(AF_INET, address.c_str(), &a4) == 1 ||
         ::inet_pton(AF_INET6, address.c_str(), &a6) == 1;
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : int(std::min<long long>(left.count(), 1 << 30));
}

std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string name_line(const X509_NAME* name) {
  if (!name) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) return {};
  // RFC 2253 order (most specific first), UTF-8 kept as is.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, std::size_t(n)) : std::string();
}

std::string canonical_hex(std::string_view bytes) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i) out += ':';
    const auto b = std::uint8_t(bytes[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string normalize_thumbprint(const std::string& text) {
  std::string t = text::trim(text, " \t\r\n");
  const auto refuse = [&](const std::string& why) {
    return invalid("'" + shown(text) + "' is not a SHA-256 thumbprint: " + why);
  };
  if (starts_with_ci(t, "sha256:") || starts_with_ci(t, "sha256="))
    t = t.substr(7);
  else if (starts_with_ci(t, "sha1:") || starts_with_ci(t, "sha1=") || starts_with_ci(t, "sha-1"))
    throw invalid(kSha1Refused);
  std::string hex;
  const bool colons = t.find(':') != std::string::npos;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (colons && i % 3 == 2) {
      if (c != ':') throw refuse("hex pairs are joined by ':' throughout, or not at all");
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(c))) throw refuse("expected hexadecimal digits");
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (colons && t.size() % 3 != 2) throw refuse("hex pairs are joined by ':' throughout");
  if (hex.size() == 40) throw invalid(kSha1Refused);
  if (hex.size() != 64)
    throw refuse("expected 64 hexadecimal digits, got " + std::to_string(hex.size()));
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    if (i) out += ':';
    out += hex.substr(i, 2);
  }
  return out;
}

std::string certificate_thumbprint(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, long(der.size()));
  if (!cert) {
    ERR_clear_error();
    throw invalid("not a DER-encoded certificate");
  }
  X509_free(cert);
  return canonical_hex(sha256_bytes(der));
}

PeerCertificate fetch_peer_certificate(const std::string& host_in, unsigned port,
                                       std::chrono::milliseconds timeout) {
  const std::string host = canonical_host(host_in);
  check_port(port);
  if (timeout.count() <= 0) throw invalid("the TLS deadline must be above 0 ms");
  const std::string where = host_port(host, port);
  const auto deadline = Clock::now() + timeout;
  const std::string op = "trust.fetch";
  const auto timed_out = [&](const std::string& stage) {
    return Error(ErrorCode::Timeout,
                 where + ": no " + stage + " within " + std::to_string(timeout.count()) + " ms",
                 op);
  };

  // Resolve.
  auto lookup = resolve(host, port);
  addrinfo* addresses = nullptr;
  {
    std::unique_lock<std::mutex> lock(lookup->m);
    if (!lookup->cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
      lookup->abandoned = true;
      throw timed_out("address for the host");
    }
    if (lookup->rc != 0)
      throw Error(ErrorCode::Unreachable,
                  "cannot reach " + where + ": " + ::gai_strerror(lookup->rc), op);
    addresses = lookup->result;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(addresses, &::freeaddrinfo);

  // Connect: each address in turn, non-blocking, within the deadline.
  Fd sock;
  std::string last_error = "no address";
  for (addrinfo* a = addresses; a && sock.fd < 0; a = a->ai_next) {
    Fd s;
    s.fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (s.fd < 0) {
      last_error = errno_text();
      continue;
    }
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = errno_text();
        continue;
      }
      pollfd p{s.fd, POLLOUT, 0};
      int r;
      while ((r = ::poll(&p, 1, ms_left(deadline))) < 0 && errno == EINTR) {
      }
      if (r == 0) throw timed_out("connection");
      int err = 0;
      socklen_t len = sizeof err;
      if (r < 0 || ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        last_error = std::strerror(err);
        continue;
      }
    }
    std::swap(sock.fd, s.fd);
  }
  if (sock.fd < 0)
    throw Error(ErrorCode::Unreachable, "cannot reach " + where + ": " + last_error, op);

  // Handshake, not verifying: we only want to see the certificate. The
  // lowest security level lets an old host show an old certificate too.
  posix::SigpipeBlock no_sigpipe;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) throw Error(ErrorCode::Internal, "OpenSSL: no TLS context", op, openssl_errors());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_security_level(ctx.get(), 0);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!ssl || SSL_set_fd(ssl.get(), sock.fd) != 1)
    throw Error(ErrorCode::Internal, "OpenSSL: no TLS session", op, openssl_errors());
  // SNI carries host names only (RFC 6066), not addresses.
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  SSL_set_connect_state(ssl.get());
  for (;;) {
    const int r = SSL_connect(ssl.get());
    if (r == 1) break;
    const int e = SSL_get_error(ssl.get(), r);
    short events = 0;
    if (e == SSL_ERROR_WANT_READ)
      events = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
      events = POLLOUT;
    else {
      std::string detail = openssl_errors();
      if (e == SSL_ERROR_SYSCALL && errno != 0)
        detail += (detail.empty() ? "" : "; ") + errno_text();
      throw Error(ErrorCode::Unreachable,
                  where + " did not complete a TLS handshake (no TLS service there?)", op, detail);
    }
    pollfd p{sock.fd, events, 0};
    int pr;
    while ((pr = ::poll(&p, 1, ms_left(deadline))) < 0 && errno == EINTR) {
    }
    if (pr == 0) throw timed_out("TLS handshake");
  }

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  X509* raw = SSL_get1_peer_certificate(ssl.get());
#else
  X509* raw = SSL_get_peer_certificate(ssl.get());
#endif
  if (!raw) throw Error(ErrorCode::Unreachable, where + " presented no certificate", op);
  std::unique_ptr<X509, decltype(&X509_free)> cert(raw, &X509_free);
  const int der_len = i2d_X509(cert.get(), nullptr);
  if (der_len <= 0) throw Error(ErrorCode::BackendFailure, where + ": unreadable certificate", op);
  std::string der(std::size_t(der_len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(cert.get(), &out);

  PeerCertificate pc;
  pc.thumbprint = canonical_hex(sha256_bytes(der));
  pc.subject = name_line(X509_get_subject_name(cert.get()));
  pc.issuer = name_line(X509_get_issuer_name(cert.get()));
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  pc.self_signed = X509_check_issued(cert.get(), cert.get()) == X509_V_OK && key &&
                   X509_verify(cert.get(), key) == 1;
  ERR_clear_error();
  return pc;
}

std::vector<TrustEntry> scan_ssh_host_keys(const std::string& host_in, unsigned port,
                                           std::chrono::milliseconds timeout) {
  const std::string host = canonical_host(host_in);
  check_port(port);
  if (timeout.count() <= 0) throw invalid("the SSH scan deadline must be above 0 ms");
  const std::string where = host_port(host, port);
  const std::string op = "trust.scan";
  // Our deadline is the runner's; ssh-keyscan's own (whole seconds, per
  // connection) is set past it so that it never gives up first.
  const auto secs = (timeout.count() + 999) / 1000 + 1;

  process::Runner local;
  process::Command scan;
  scan.argv = {"ssh-keyscan", "-T", std::to_string(secs), "-p", std::to_string(port), "--", host};
  scan.timeout = timeout;
  scan.operation = op;
  process::Result found;
  try {
    found = local.run(scan);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Timeout) throw;
    throw Error(ErrorCode::Timeout,
                where + ": no SSH host key within " + std::to_string(timeout.count()) + " ms", op);
  }

  std::vector<std::string> keys;
  for (const auto& line : split_lines(found.out)) {
    const auto w = words(line);
    if (w.empty() || w[0].front() == '#' || w.size() < 3) continue;
    const KeyCheck k = check_ssh_key(w[1], w[2]);
    if (!k.problem.empty())
      throw Error(ErrorCode::BackendFailure, where + " offered a key hyperctl cannot read", op,
                  k.problem);
    keys.push_back(w[1] + " " + w[2]);
  }
  if (keys.empty()) {
    // ssh-keyscan says little (nothing for a refused port): its last line
    // when there is one, else the usual causes.
    const auto said = split_lines(text::trim(found.err, " \t\r\n"));
    throw Error(ErrorCode::Unreachable,
                "no SSH host key from " + where +
                    (said.empty() ? " (connection refused, unknown host, or no SSH server there)"
                                  : ": " + shown(text::trim(said.back(), " \t\r\n"))),
                op, text::trim(found.err, " \t\r\n"));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  // Fingerprints as ssh-keygen prints them; the comment is the key's index.
  process::Command print;
  print.argv = {"ssh-keygen", "-l", "-f", "-"};
  for (std::size_t i = 0; i < keys.size(); ++i)
    print.stdin_data += keys[i] + " " + std::to_string(i) + "\n";
  print.timeout = std::chrono::seconds(30);
  print.operation = op;
  const process::Result listed = local.run(print);
  if (!listed.ok())
    throw Error(ErrorCode::BackendFailure, "ssh-keygen could not read the keys of " + where, op,
                text::trim(listed.err, " \t\r\n"));
  std::map<std::size_t, std::string> fingerprints;
  for (const auto& line : split_lines(listed.out)) {
    // BITS SHA256:... INDEX (TYPE)
    const auto w = words(line);
    if (w.size() < 3 || w[1].rfind("SHA256:", 0) != 0) continue;
    if (w[2].empty() || w[2].find_first_not_of("0123456789") != std::string::npos) continue;
    fingerprints[std::stoul(w[2])] = w[1];
  }
  std::vector<TrustEntry> entries;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto it = fingerprints.find(i);
    if (it == fingerprints.end())
      throw Error(ErrorCode::BackendFailure,
                  "ssh-keygen printed no fingerprint for a key of " + where, op,
                  text::trim(listed.err, " \t\r\n"));
    entries.push_back(TrustEntry{"ssh", host, port, keys[i], it->second});
  }
  return entries;
}

// ---------------------------------------------------------------------------

std::string TrustStore::default_dir() {
  fs::path dir;
  if (const char* d = std::getenv("HYPERCTL_TRUST_DIR"); d && *d)
    dir = d;
  else {
    dir = posix::user_config_dir(/*passwd_fallback=*/true);
    if (dir.empty())
      throw invalid("cannot find the trust store: set HYPERCTL_TRUST_DIR, XDG_CONFIG_HOME or HOME");
  }
  return fs::absolute(dir).lexically_normal().string();
}

TrustStore::TrustStore(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) throw invalid("the trust store needs a folder");
  dir_ = fs::absolute(dir_).lexically_normal().string();
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string TrustStore::tls_file() const {
  return (fs::path(dir_) / kTlsFile).string();
}

std::string TrustStore::ssh_file() const {
  return (fs::path(dir_) / kSshFile).string();
}

std::vector<TrustEntry> TrustStore::list() const {
  std::vector<TrustEntry> out;
  for (const bool tls : {true, false})
    for (auto& line : read_file(tls ? tls_file() : ssh_file(), tls))
      if (line.entry) out.push_back(std::move(*line.entry));
  return out;
}

TrustStore::Verdict TrustStore::check_tls(const std::string& host, unsigned port,
                                          const std::string& thumbprint) const {
  const std::string h = canonical_host(host);
  check_port(port);
  const std::string tp = normalize_thumbprint(thumbprint);
  for (const auto& line : read_file(tls_file(), true))
    if (line.entry && line.entry->host == h && line.entry->port == port)
      return line.entry->key == tp ? Verdict::Trusted : Verdict::Mismatch;
  return Verdict::Unknown;
}

void TrustStore::add_tls(const std::string& host, unsigned port, const std::string& thumbprint) {
  const std::string h = canonical_host(host);
  check_port(port);
  const std::string tp = normalize_thumbprint(thumbprint);
  StoreLock lock(dir_);
  auto lines = read_file(tls_file(), true);
  Line fresh{host_port(h, port) + " " + tp, TrustEntry{"tls", h, port, tp, tp}};
  bool placed = false;
  std::vector<Line> kept;
  for (auto& line : lines) {
    if (line.entry && line.entry->host == h && line.entry->port == port) {
      if (!placed) kept.push_back(fresh);
      placed = true;
      continue;
    }
    kept.push_back(std::move(line));
  }
  if (!placed) kept.push_back(fresh);
  posix::replace_file(tls_file(), join_lines(kept), 0644, "trust");
}

void TrustStore::add_ssh(const std::string& host, unsigned port,
                         const std::vector<std::string>& keys) {
  const std::string h = canonical_host(host);
  check_port(port);
  if (keys.empty()) throw invalid("no SSH host key to add for " + host_port(h, port));
  std::map<std::string, Line> fresh;  // by key type
  for (const auto& key : keys) {
    const auto w = words(key);
    if (w.size() != 2)
      throw invalid("an SSH host key is \"KEYTYPE BASE64\", not '" + shown(key) + "'");
    const KeyCheck k = check_ssh_key(w[0], w[1]);
    if (!k.problem.empty())
      throw invalid("SSH host key for " + host_port(h, port) + ": " + k.problem);
    fresh[w[0]] = Line{ssh_address(h, port) + " " + w[0] + " " + w[1],
                       TrustEntry{"ssh", h, port, w[0] + " " + w[1], k.fingerprint}};
  }
  StoreLock lock(dir_);
  auto lines = read_file(ssh_file(), false);
  std::vector<Line> kept;
  std::set<std::string> placed;
  for (auto& line : lines) {
    if (line.entry && line.entry->host == h && line.entry->port == port) {
      const std::string type = words(line.entry->key)[0];
      if (auto it = fresh.find(type); it != fresh.end()) {
        kept.push_back(it->second);
        placed.insert(type);
        continue;
      }
    }
    kept.push_back(std::move(line));
  }
  for (auto& [type, line] : fresh)
    if (!placed.count(type)) kept.push_back(line);
  posix::replace_file(ssh_file(), join_lines(kept), 0644, "trust");
}

std::size_t TrustStore::remove(const std::string& host, unsigned port, const std::string& kind) {
  const std::string h = canonical_host(host);
  check_port(port);
  if (!kind.empty() && kind != "tls" && kind != "ssh")
    throw invalid("kind '" + shown(kind) + "' is neither tls nor ssh");
  std::error_code ec;
  if (!fs::exists(tls_file(), ec) && !fs::exists(ssh_file(), ec)) return 0;  // nothing to lock
  std::size_t removed = 0;
  StoreLock lock(dir_);
  for (const bool tls : {true, false}) {
    if (!kind.empty() && (kind == "tls") != tls) continue;
    const std::string file = tls ? tls_file() : ssh_file();
    auto lines = read_file(file, tls);
    std::vector<Line> kept;
    for (auto& line : lines) {
      if (line.entry && line.entry->host == h && line.entry->port == port) {
        ++removed;
        continue;
      }
      kept.push_back(std::move(line));
    }
    if (kept.size() != lines.size()) posix::replace_file(file, join_lines(kept), 0644, "trust");
  }
  return removed;
}

std::string TrustStore::ssh_user_known_hosts_option() const {
  std::string option = ssh_path_word(ssh_file());
  const std::string home = posix::home_dir(/*passwd_fallback=*/true);
  if (!home.empty())
    option += " " + ssh_path_word((fs::path(home) / ".ssh" / "known_hosts").string());
  return option;
}

}  // namespace hyperctl
