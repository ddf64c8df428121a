// The HTTPS transport: HTTP/1.1 with Boost.Beast on Asio and OpenSSL, run on
// the calling thread. Each connection has an io_context of its own that only
// the thread using the connection runs, so a deadline, a cancel or an answer
// past the limit closes the socket on the thread that reads it: nothing in
// here races a thread of its own. Then the TLS policy of session.hpp, the
// session cookie, the trace line and the network errors.
#include "http.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/trust.hpp"

namespace hyperctl::vsphere {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCodeB = boost::system::error_code;

constexpr const char* kCookieName = "vmware_soap_session";

// The largest SOAP answer read. A vCenter's biggest answers are property
// pages: a listing of 10,000 VMs with their whole device lists is about
// 76 MB today. Past this a host is broken or hostile, and reading on would
// only end when memory does (in a fleet run: for every host at once).
constexpr std::uint64_t kMaxAnswerBytes = std::uint64_t{256} << 20;
// The answer to a file upload is a status and a short page.
constexpr std::uint64_t kMaxUploadAnswerBytes = std::uint64_t{1} << 20;
// A vSphere answer's header is a few hundred bytes.
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
// Kept-alive connections waiting for the next request, and for how long: a
// connection the host may have dropped meanwhile is not worth a failed call.
constexpr std::size_t kMaxIdleConnections = 4;
constexpr auto kMaxIdleTime = std::chrono::seconds(50);
// How often a wait looks at its deadline, the cancel token and the progress.
constexpr auto kSlice = std::chrono::milliseconds(50);

// ---------------------------------------------------------------- TLS policy

// What one connection's certificate check saw (for the error message).
struct TlsSeen {
  enum class Refusal { None, PinMismatch, StoreMismatch, Untrusted, StoreUnreadable };
  std::string seen;    // thumbprint of the leaf certificate presented
  std::string pinned;  // the trust store's thumbprint on a mismatch
  std::string why;     // the reason for an untrusted certificate
  Refusal refusal = Refusal::None;

  void record(std::string thumb, Refusal r, std::string pinned_thumb = {},
              std::string reason = {}) {
    seen = std::move(thumb);
    refusal = r;
    pinned = std::move(pinned_thumb);
    why = std::move(reason);
  }
};

// The policy of session.hpp for one endpoint, and the system's CAs, read
// only when a certificate gets that far (a pin or the trust store decides
// without them).
struct TlsPolicy {
  std::string host;
  unsigned port = 0;
  std::string pin;  // canonical thumbprint from the URI, or empty
  bool insecure = false;
  bool host_is_ip = false;

  std::once_flag cas_once;
  X509_STORE* cas = nullptr;

  TlsPolicy() = default;
  TlsPolicy(const TlsPolicy&) = delete;
  TlsPolicy& operator=(const TlsPolicy&) = delete;
  ~TlsPolicy() { X509_STORE_free(cas); }

  // The CA file and directory OpenSSL is configured with (SSL_CERT_FILE and
  // SSL_CERT_DIR when set), loaded once.
  X509_STORE* system_cas() {
    std::call_once(cas_once, [this] {
      cas = X509_STORE_new();
      if (cas != nullptr) X509_STORE_set_default_paths(cas);
    });
    return cas;
  }
};

// The SSL object's slot for its connection's TlsSeen (Asio keeps its own
// data in the application slot).
int seen_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

std::string stored_thumbprint(const TrustStore& store, const std::string& host, unsigned port) {
  for (const TrustEntry& e : store.list())
    if (e.kind == "tls" && e.host == host && e.port == port) return e.key;
  return {};
}

std::string der_thumbprint(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &p) != len) return {};
  return certificate_thumbprint(der);
}

// With nothing pinned: the chain against the system's CAs and the host name
// against the certificate. Returns 1 when both hold; else 0 and why.
int verify_with_cas(TlsPolicy& policy, X509_STORE_CTX* presented, X509* leaf, std::string& why) {
  X509_STORE* cas = policy.system_cas();
  X509_STORE_CTX* check = X509_STORE_CTX_new();
  if (cas == nullptr || check == nullptr) {
    X509_STORE_CTX_free(check);
    why = "out of memory for the certificate check";
    return 0;
  }
  int ok = 0;
  int err = X509_V_ERR_UNSPECIFIED;
  if (X509_STORE_CTX_init(check, cas, leaf, X509_STORE_CTX_get0_untrusted(presented)) == 1) {
    X509_STORE_CTX_set_purpose(check, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(check);
    if (policy.host_is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, policy.host.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, policy.host.data(), policy.host.size());
    ok = X509_verify_cert(check) == 1 ? 1 : 0;
    err = X509_STORE_CTX_get_error(check);
  }
  X509_STORE_CTX_free(check);
  if (ok == 1) return 1;
  const bool names_host = policy.host_is_ip ? X509_check_ip_asc(leaf, policy.host.c_str(), 0) == 1
                                            : X509_check_host(leaf, policy.host.data(),
                                                              policy.host.size(), 0, nullptr) == 1;
  const bool chain_error = err != X509_V_OK && err != X509_V_ERR_UNSPECIFIED &&
                           err != X509_V_ERR_HOSTNAME_MISMATCH &&
                           err != X509_V_ERR_IP_ADDRESS_MISMATCH;
  why = chain_error ? X509_verify_cert_error_string(err) : "";
  if (!names_host)
    why += (why.empty() ? "" : "; ") + std::string("its host names do not include ") + policy.host;
  if (why.empty()) why = "refused by the verification";
  return 0;
}

// SSL_CTX_set_cert_verify_callback: replaces OpenSSL's chain verification.
// Pin and insecure decide alone; the trust store next; else the system's
// CAs and the host name (RFC 6125, as OpenSSL checks it).
int verify_certificate(X509_STORE_CTX* ctx, void* arg) {
  auto* policy = static_cast<TlsPolicy*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(ctx);
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* seen = ssl != nullptr ? static_cast<TlsSeen*>(SSL_get_ex_data(ssl, seen_slot())) : nullptr;
  if (policy == nullptr || leaf == nullptr || seen == nullptr) return 0;
  const auto refuse = [ctx] {
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  };
  std::string thumb;
  try {
    thumb = der_thumbprint(leaf);
    if (thumb.empty()) return refuse();
    using R = TlsSeen::Refusal;
    if (!policy->pin.empty()) {
      const bool ok = thumb == policy->pin;
      seen->record(thumb, ok ? R::None : R::PinMismatch);
      return ok ? 1 : refuse();
    }
    if (policy->insecure) {
      seen->record(thumb, R::None);
      return 1;
    }
    try {
      const TrustStore store;
      switch (store.check_tls(policy->host, policy->port, thumb)) {
        case TrustStore::Verdict::Trusted:
          seen->record(thumb, R::None);
          return 1;
        case TrustStore::Verdict::Mismatch:
          seen->record(thumb, R::StoreMismatch,
                       stored_thumbprint(store, policy->host, policy->port));
          return refuse();
        case TrustStore::Verdict::Unknown:
          break;
      }
    } catch (const std::exception& e) {
      seen->record(thumb, R::StoreUnreadable, {}, e.what());
      return refuse();
    }
    std::string why;
    if (verify_with_cas(*policy, ctx, leaf, why) == 1) {
      seen->record(thumb, R::None);
      return 1;
    }
    seen->record(thumb, R::Untrusted, {}, why);
    return refuse();
  } catch (...) {
    return refuse();
  }
}

// ---------------------------------------------------------------- helpers

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

bool is_ip_literal(const std::string& host) {
  ErrorCodeB ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

bool trace_enabled() {
  const char* v = std::getenv("HYPERCTL_TRACE");
  return v != nullptr && std::string(v) == "1";
}

// The vmware_soap_session value among a Set-Cookie header's text.
std::string cookie_from(const std::string& all) {
  const std::string key = std::string(kCookieName) + "=";
  std::size_t pos = 0;
  while ((pos = all.find(key, pos)) != std::string::npos) {
    if (pos == 0 || all[pos - 1] == ' ' || all[pos - 1] == ',' || all[pos - 1] == ';') {
      std::size_t start = pos + key.size();
      std::size_t end = start;
      if (end < all.size() && all[end] == '"') {
        const auto q = all.find('"', end + 1);
        end = q == std::string::npos ? all.size() : q + 1;
      } else {
        while (end < all.size() && all[end] != ';' && all[end] != ',') ++end;
      }
      return all.substr(start, end - start);
    }
    pos += key.size();
  }
  return {};
}

template <class Fields>
std::string cookie_from(const Fields& fields) {
  for (auto it = fields.find(bhttp::field::set_cookie); it != fields.end(); ++it) {
    if (it->name() != bhttp::field::set_cookie) break;
    std::string c = cookie_from(std::string(it->value()));
    if (!c.empty()) return c;
  }
  return {};
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------- connections

// Where a request failed below HTTP.
enum class Stage { Resolve, Connect, Handshake, Send, Receive };

// A request's failure below HTTP: the stage, Asio's code, and whether our
// deadline or the caller's cancel ended it.
struct Failure {
  Stage stage = Stage::Receive;
  ErrorCodeB ec;
  bool timed_out = false;
  bool cancelled = false;
  bool too_large = false;
  std::optional<TlsSeen> tls;  // what the certificate check saw
};

struct FailureError {
  Failure failure;
};

// One HTTPS connection. Only the thread holding it runs its io_context.
struct Connection {
  asio::io_context ioc{1};
  asio::ssl::stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  TlsSeen tls;
  Clock::time_point idle_since{};
  bool reused = false;

  explicit Connection(asio::ssl::context& ctx) : stream(ioc, ctx) {
    SSL_set_ex_data(stream.native_handle(), seen_slot(), &tls);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  tcp::socket& socket() { return beast::get_lowest_layer(stream).socket(); }

  // Ends whatever is pending on the socket: its handlers run with an error.
  void abort() {
    ErrorCodeB ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  // Idle, open, and the host has neither closed it nor sent anything (a
  // close_notify, or bytes no request asked for).
  bool reusable() {
    if (!socket().is_open() || Clock::now() - idle_since > kMaxIdleTime) return false;
    pollfd p{socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0 && buffer.size() == 0;
  }

  // Runs the io_context until `done`, one handler at a time (so that the
  // caller's turn comes as soon as its operation completes). Every slice,
  // `between` may close the socket: a deadline passed, a cancel, or it
  // reports progress.
  template <class Between>
  void run(const bool& done, Between&& between) {
    auto next = Clock::now() + kSlice;
    while (!done) {
      if (ioc.stopped()) ioc.restart();
      ioc.run_one_until(next);
      if (done) break;
      if (Clock::now() >= next) {
        between();
        next = Clock::now() + kSlice;
      }
    }
  }
};

// What a wait looks at between slices.
struct Watch {
  std::optional<Clock::time_point> deadline;  // for the stage that has none of its own
  const CancelToken* cancel = nullptr;
  std::function<void()> tick;  // progress, on the caller's thread
  bool timed_out = false;
  bool cancelled = false;

  template <class Stop>
  void look(Stop&& stop) {
    if (tick) tick();
    if (cancel != nullptr && cancel->cancelled() && !cancelled) {
      cancelled = true;
      stop();
    } else if (deadline && Clock::now() >= *deadline && !timed_out) {
      timed_out = true;
      stop();
    }
  }
};

// One request's connection and the operation in flight on it.
struct Exchange {
  std::unique_ptr<Connection> c;
  Watch watch;
  ErrorCodeB ec;  // how the last step ended
  // File transfers: each read or write may take this long (a SOAP call has
  // one deadline for all of it instead, set on the stream once).
  std::optional<std::chrono::milliseconds> per_step;

  // Starts one operation (`start(handler)`) and runs the connection until it
  // completes; a cancel closes the socket on the way and throws.
  template <class Start>
  void step(Start&& start, Stage stage) {
    if (per_step) beast::get_lowest_layer(c->stream).expires_after(*per_step);
    bool done = false;
    start([this, &done](const ErrorCodeB& e, auto&&...) {
      ec = e;
      done = true;
    });
    c->run(done, [this] { watch.look([this] { c->abort(); }); });
    if (watch.cancelled) throw FailureError{{stage, ec, false, true}};
  }

  // An answer of at most `limit` bytes; `ec` is body_limit past it. The head
  // is read on its own first: Beast 1.74 checks a declared Content-Length
  // against the limit only then (async_read parses eagerly and loses that
  // error).
  void read_answer(bhttp::response_parser<bhttp::string_body>& parser, std::uint64_t limit) {
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(limit);
    step([&](auto h) { bhttp::async_read_header(c->stream, c->buffer, parser, h); },
         Stage::Receive);
    if (!ec && parser.content_length() && *parser.content_length() > limit)
      ec = bhttp::error::body_limit;
    if (!ec && !parser.is_done())
      step([&](auto h) { bhttp::async_read(c->stream, c->buffer, parser, h); }, Stage::Receive);
  }
};

// A file transfer's figures, reported on the caller's thread when they move.
struct Transferred {
  const std::function<void(std::uint64_t, std::uint64_t)>& progress;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  std::uint64_t reported = ~std::uint64_t{0};

  void report() {
    if (progress && done != reported) {
      progress(done, total);
      reported = done;
    }
  }
};

}  // namespace

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

std::string percent_encode_path(const std::string& path) {
  return encode(path, true);
}
std::string percent_encode_query(const std::string& value) {
  return encode(value, false);
}

struct Http::Impl {
  std::string endpoint;
  std::string host_header;
  std::string port_text;
  std::chrono::milliseconds timeout;
  TlsPolicy policy;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  bool trace = trace_enabled();
  mutable std::mutex cookie_mutex;
  std::string cookie;

  std::mutex idle_mutex;
  std::vector<std::unique_ptr<Connection>> idle;

  // One trace line per request: method and figures, never a body or cookie.
  void trace_line(const std::string& verb, const std::string& what, const std::string& outcome,
                  std::uint64_t bytes, Clock::time_point started) const {
    if (!trace) return;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    const std::string line = "hyperctl: trace: vsphere " + verb + " " + what + " " + outcome + " " +
                             std::to_string(bytes) + " B " + std::to_string(ms) + " ms\n";
    // One write so lines of concurrent requests do not interleave.
    [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
  }

  std::string cookie_header() const {
    std::lock_guard lock(cookie_mutex);
    return cookie.empty() ? std::string() : std::string(kCookieName) + "=" + cookie;
  }

  template <class Fields>
  void take_cookie(const Fields& fields) {
    std::string c = cookie_from(fields);
    if (c.empty()) return;
    std::lock_guard lock(cookie_mutex);
    cookie = std::move(c);
  }

  template <class Request>
  void common_fields(Request& request, bhttp::verb verb, const std::string& target) const {
    request.method(verb);
    request.target(target);
    request.version(11);
    request.set(bhttp::field::host, host_header);
    request.set(bhttp::field::user_agent, "hyperctl");
    const std::string c = cookie_header();
    if (!c.empty()) request.set(bhttp::field::cookie, c);
  }

  // A kept-alive connection the host has not dropped, or none.
  std::unique_ptr<Connection> take_idle() {
    std::lock_guard lock(idle_mutex);
    while (!idle.empty()) {
      std::unique_ptr<Connection> c = std::move(idle.back());
      idle.pop_back();
      if (c->reusable()) {
        c->reused = true;
        return c;
      }
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<Connection> c) {
    c->idle_since = Clock::now();
    std::lock_guard lock(idle_mutex);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(c));
  }

  // A connection for one request: a kept-alive one when `reuse`, else one
  // opened by `deadline`.
  Exchange start(Clock::time_point deadline, const CancelToken* cancel, bool reuse) {
    Exchange x;
    x.watch.cancel = cancel;
    if (reuse) x.c = take_idle();
    if (!x.c) open(x, deadline);
    return x;
  }

  // A new connection for `x`: resolves, connects and shakes hands, all of
  // it by `deadline`.
  void open(Exchange& x, Clock::time_point deadline) {
    x.c = std::make_unique<Connection>(tls);
    Connection& c = *x.c;
    bool done = false;
    ErrorCodeB ec;
    tcp::resolver::results_type found;
    {
      // The resolver has no timer of its own: the watch keeps the deadline.
      tcp::resolver resolver(c.ioc);
      resolver.async_resolve(policy.host, port_text,
                             [&](const ErrorCodeB& e, tcp::resolver::results_type r) {
                               ec = e;
                               found = std::move(r);
                               done = true;
                             });
      x.watch.deadline = deadline;
      c.run(done, [&] { x.watch.look([&] { resolver.cancel(); }); });
      x.watch.deadline.reset();
    }
    if (ec || x.watch.timed_out || x.watch.cancelled)
      throw FailureError{{Stage::Resolve, ec, x.watch.timed_out, x.watch.cancelled}};

    beast::get_lowest_layer(c.stream).expires_at(deadline);
    x.step([&](auto h) { beast::get_lowest_layer(c.stream).async_connect(found, h); },
           Stage::Connect);
    if (x.ec) throw FailureError{{Stage::Connect, x.ec, x.ec == beast::error::timeout, false}};
    c.socket().set_option(tcp::no_delay(true), ec);

    if (!policy.host_is_ip) SSL_set_tlsext_host_name(c.stream.native_handle(), policy.host.c_str());
    x.step([&](auto h) { c.stream.async_handshake(asio::ssl::stream_base::client, h); },
           Stage::Handshake);
    if (x.ec) {
      Failure f{Stage::Handshake, x.ec, x.ec == beast::error::timeout, false};
      f.tls = c.tls;
      throw FailureError{f};
    }
  }

  // The Error for a request that failed below HTTP.
  [[noreturn]] void fail(const Failure& f, const std::string& what,
                         const std::string& operation) const {
    const std::string op = operation.empty() ? std::string() : operation + ": ";
    if (f.cancelled) throw Error(ErrorCode::Cancelled, op + "cancelled", operation);
    if (f.tls) {
      const TlsSeen& seen = *f.tls;
      using R = TlsSeen::Refusal;
      switch (seen.refusal) {
        case R::None:
          break;
        case R::PinMismatch:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " (SHA-256 " + seen.seen +
                          ") is not the one pinned in the URI (thumbprint=" + policy.pin +
                          "); refused",
                      operation);
        case R::StoreMismatch:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " changed: it is SHA-256 " +
                          seen.seen + ", the trust store pins " +
                          (seen.pinned.empty() ? std::string("another") : seen.pinned) +
                          "; if the change is expected: hyperctl trust add --tls " + endpoint +
                          " --thumbprint " + seen.seen,
                      operation);
        case R::StoreUnreadable:
          throw Error(ErrorCode::AuthFailed,
                      op + "cannot check the TLS certificate of " + endpoint +
                          " against the trust store: " + escape::terminal_text(seen.why),
                      operation);
        case R::Untrusted:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " is not trusted (SHA-256 " +
                          seen.seen + ", " + escape::terminal_text(seen.why) +
                          "); if it is the right one, pin it: hyperctl trust add --tls " +
                          endpoint + " --thumbprint " + seen.seen +
                          ", or add ?thumbprint=" + seen.seen + " to the URI",
                      operation);
      }
    }
    const std::string detail =
        escape::terminal_text(f.ec.message()) + (f.ec ? " (" + std::string(f.ec.category().name()) +
                                                            " " + std::to_string(f.ec.value()) + ")"
                                                      : std::string());
    if (f.timed_out || f.ec == beast::error::timeout)
      throw Error(ErrorCode::Timeout,
                  op + endpoint + " did not answer " + what + " within " + duration_text(timeout),
                  operation, detail);
    switch (f.stage) {
      case Stage::Resolve:
        throw Error(ErrorCode::Unreachable,
                    op + "cannot connect to " + endpoint + ": the host name does not resolve",
                    operation, detail);
      case Stage::Connect:
        throw Error(ErrorCode::Unreachable,
                    op + "cannot connect to " + endpoint +
                        ": connection refused (nothing listens there) or host unreachable",
                    operation, detail);
      case Stage::Handshake:
        throw Error(
            ErrorCode::Unreachable,
            op + "the TLS handshake with " + endpoint + " failed (is it an HTTPS endpoint?)",
            operation, detail);
      case Stage::Send:
      case Stage::Receive:
        break;
    }
    if (f.ec == asio::error::eof || f.ec == asio::error::connection_reset ||
        f.ec == asio::error::broken_pipe || f.ec == asio::ssl::error::stream_truncated ||
        f.ec == bhttp::error::end_of_stream || f.ec == bhttp::error::partial_message)
      throw Error(ErrorCode::Unreachable,
                  op + endpoint + " closed the connection without answering " + what, operation,
                  detail);
    if (f.ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
      throw Error(ErrorCode::BackendFailure,
                  op + endpoint + " answered " + what + " with something that is not HTTP (" +
                      escape::terminal_text(f.ec.message()) + ")",
                  operation, detail);
    throw Error(ErrorCode::Unreachable,
                op + "the request " + what + " to " + endpoint +
                    " failed: " + escape::terminal_text(f.ec.message()),
                operation, detail);
  }
};

Http::Http(const Target& target) : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = bracketed(target.host) + ":" + std::to_string(target.port);
  impl_->host_header =
      bracketed(target.host) + (target.port == 443 ? "" : ":" + std::to_string(target.port));
  impl_->port_text = std::to_string(target.port);
  impl_->timeout = target.timeout;
  TlsPolicy& p = impl_->policy;
  p.host = target.host;
  p.port = target.port;
  p.pin = target.thumbprint;
  p.insecure = target.insecure;
  p.host_is_ip = is_ip_literal(target.host);
  SSL_CTX* ctx = impl_->tls.native_handle();
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, &verify_certificate, &impl_->policy);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

Http::~Http() = default;

const std::string& Http::endpoint() const {
  return impl_->endpoint;
}

std::string Http::cookie() const {
  std::lock_guard lock(impl_->cookie_mutex);
  return impl_->cookie;
}

void Http::clear_cookie() {
  std::lock_guard lock(impl_->cookie_mutex);
  impl_->cookie.clear();
}

// The deadline is for the whole call (connecting included) and is final: a
// vim25 call is never sent twice (a slow CreateVM_Task would create the VM
// twice). Only a request that never left (the write failed on a kept-alive
// connection the host had closed) is sent again, on a new connection.
HttpReply Http::post_sdk(const std::string& soap_action, WipedString body,
                         const std::string& method, const std::string& operation,
                         std::chrono::milliseconds deadline) {
  const auto started = Clock::now();
  const auto until = started + (deadline.count() > 0 ? deadline : impl_->timeout);
  ++requests_;
  using Body = bhttp::basic_string_body<char, std::char_traits<char>, WipingAllocator<char>>;
  bhttp::request<Body> request;
  impl_->common_fields(request, bhttp::verb::post, "/sdk");
  request.set(bhttp::field::content_type, "text/xml; charset=utf-8");
  request.set("SOAPAction", soap_action);
  request.body() = std::move(body);  // wiped when the request is freed
  request.prepare_payload();
  HttpReply reply;
  try {
    for (int attempt = 0;; ++attempt) {
      Exchange x = impl_->start(until, nullptr, attempt == 0);
      beast::get_lowest_layer(x.c->stream).expires_at(until);
      x.step([&](auto h) { bhttp::async_write(x.c->stream, request, h); }, Stage::Send);
      if (x.ec && x.c->reused && x.ec != beast::error::timeout) continue;  // never left: again
      if (x.ec) throw FailureError{{Stage::Send, x.ec, false, false}};
      bhttp::response_parser<bhttp::string_body> parser;
      x.read_answer(parser, kMaxAnswerBytes);
      if (x.ec == bhttp::error::body_limit || x.ec == bhttp::error::buffer_overflow) {
        Failure f{Stage::Receive, x.ec, false, false};
        f.too_large = true;
        throw FailureError{f};  // the connection is closed with `x`: nothing more is read
      }
      if (x.ec) throw FailureError{{Stage::Receive, x.ec, false, false}};
      auto& response = parser.get();
      reply.status = static_cast<int>(response.result_int());
      reply.content_type = std::string(response[bhttp::field::content_type]);
      impl_->take_cookie(response.base());
      reply.body = std::move(response.body());
      if (response.keep_alive()) impl_->give_back(std::move(x.c));
      break;
    }
  } catch (const FailureError& fe) {
    if (fe.failure.too_large) {
      impl_->trace_line("POST", "/sdk " + method, "too-large", kMaxAnswerBytes, started);
      throw Error(ErrorCode::BackendFailure,
                  (operation.empty() ? std::string() : operation + ": ") + impl_->endpoint +
                      " answered " + method + " with more than " +
                      std::to_string(kMaxAnswerBytes >> 20) +
                      " MiB; refused (not a vSphere answer)",
                  operation);
    }
    const bool timed_out = fe.failure.timed_out || fe.failure.ec == beast::error::timeout;
    impl_->trace_line("POST", "/sdk " + method, timed_out ? "timeout" : "error", 0, started);
    impl_->fail(fe.failure, method, operation);
  }
  impl_->trace_line("POST", "/sdk " + method, std::to_string(reply.status), reply.body.size(),
                    started);
  return reply;
}

namespace {

// A file descriptor closed with its owner.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

// File transfers: the timeout is for each read or write, not the transfer.
int Http::get_to_file(const std::string& path_and_query, const std::string& file,
                      const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                      const CancelToken& cancel, const std::string& operation) {
  const auto started = Clock::now();
  ++requests_;
  Transferred moved{progress};
  int status = 0;
  const auto cannot_write = [&] {
    return Error(
        ErrorCode::BackendFailure,
        operation + ": cannot write " + escape::terminal_text(file) + ": " + std::strerror(errno),
        operation);
  };
  try {
    Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (out.fd < 0) throw cannot_write();
    bhttp::request<bhttp::empty_body> request;
    impl_->common_fields(request, bhttp::verb::get, path_and_query);
    Exchange x = impl_->start(Clock::now() + impl_->timeout, &cancel, true);
    x.per_step = impl_->timeout;
    x.step([&](auto h) { bhttp::async_write(x.c->stream, request, h); }, Stage::Send);
    if (x.ec) throw FailureError{{Stage::Send, x.ec, false, false}};

    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    // No limit: the file is what was asked for. (Not boost::none: Beast 1.74
    // compares a length with an empty limit as "over".)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    x.step([&](auto h) { bhttp::async_read_header(x.c->stream, x.c->buffer, parser, h); },
           Stage::Receive);
    if (x.ec) throw FailureError{{Stage::Receive, x.ec, false, false}};
    status = static_cast<int>(parser.get().result_int());
    if (parser.content_length()) moved.total = *parser.content_length();
    x.watch.tick = [&moved] { moved.report(); };
    std::vector<char> chunk(256 * 1024);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      x.step([&](auto h) { bhttp::async_read(x.c->stream, x.c->buffer, parser, h); },
             Stage::Receive);
      if (x.ec && x.ec != bhttp::error::need_buffer)
        throw FailureError{{Stage::Receive, x.ec, false, false}};
      const std::size_t n = chunk.size() - parser.get().body().size;
      if (!write_all(out.fd, chunk.data(), n)) throw cannot_write();
      moved.done += n;
    }
    const int closed = ::close(out.fd);
    out.fd = -1;
    if (closed != 0) throw cannot_write();
    if (progress && status == 200) progress(moved.done, moved.total);
    if (parser.keep_alive()) impl_->give_back(std::move(x.c));
  } catch (const FailureError& fe) {
    impl_->trace_line("GET", "/folder", fe.failure.cancelled ? "cancelled" : "error", moved.done,
                      started);
    impl_->fail(fe.failure, "the download", operation);
  }
  impl_->trace_line("GET", "/folder", std::to_string(status), moved.done, started);
  return status;
}

int Http::put_from_file(const std::string& path_and_query, const std::string& file,
                        const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                        const CancelToken& cancel, const std::string& operation) {
  const auto started = Clock::now();
  ++requests_;
  Transferred moved{progress};
  int status = 0;
  try {
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (in.fd < 0 || ::fstat(in.fd, &st) != 0)
      throw Error(
          ErrorCode::NotFound,
          operation + ": cannot read " + escape::terminal_text(file) + ": " + std::strerror(errno),
          operation);
    moved.total = static_cast<std::uint64_t>(st.st_size);
    bhttp::request<bhttp::empty_body> request;
    impl_->common_fields(request, bhttp::verb::put, path_and_query);
    request.set(bhttp::field::content_type, "application/octet-stream");
    request.content_length(moved.total);
    Exchange x = impl_->start(Clock::now() + impl_->timeout, &cancel, true);
    x.per_step = impl_->timeout;
    bhttp::request_serializer<bhttp::empty_body> header(request);
    x.step([&](auto h) { bhttp::async_write_header(x.c->stream, header, h); }, Stage::Send);
    if (x.ec) throw FailureError{{Stage::Send, x.ec, false, false}};
    x.watch.tick = [&moved] { moved.report(); };
    std::vector<char> chunk(256 * 1024);
    while (moved.done < moved.total) {
      const ssize_t n = ::read(in.fd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw Error(ErrorCode::BackendFailure,
                    operation + ": " + escape::terminal_text(file) + " changed while uploading it" +
                        (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()),
                    operation);
      const auto size = static_cast<std::size_t>(
          std::min<std::uint64_t>(static_cast<std::uint64_t>(n), moved.total - moved.done));
      x.step([&](auto h) { asio::async_write(x.c->stream, asio::buffer(chunk.data(), size), h); },
             Stage::Send);
      if (x.ec) break;  // the host may have answered already (a 401): read it
      moved.done += size;
    }
    const ErrorCodeB sending = x.ec;
    bhttp::response_parser<bhttp::string_body> parser;
    x.read_answer(parser, kMaxUploadAnswerBytes);
    if (x.ec)
      throw FailureError{{sending ? Stage::Send : Stage::Receive, sending ? sending : x.ec}};
    status = static_cast<int>(parser.get().result_int());
    if (progress && status / 100 == 2) progress(moved.done, moved.total);
    if (!sending && parser.keep_alive()) impl_->give_back(std::move(x.c));
  } catch (const FailureError& fe) {
    impl_->trace_line("PUT", "/folder", fe.failure.cancelled ? "cancelled" : "error", moved.done,
                      started);
    impl_->fail(fe.failure, "the upload", operation);
  }
  impl_->trace_line("PUT", "/folder", std::to_string(status), moved.done, started);
  return status;
}

}  // namespace hyperctl::vsphere
