// The HTTPS transport: cpprestsdk's client on OpenSSL with the TLS policy of
// session.hpp, the session cookie, the trace line and network errors.
#include "http.hpp"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <cpprest/containerstream.h>
#include <cpprest/filestream.h>
#include <cpprest/http_client.h>
#include <boost/asio/ssl.hpp>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/trust.hpp"

namespace hyperctl::vsphere {

namespace http = web::http;
namespace client = web::http::client;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kCookieName = "vmware_soap_session";

// What the certificate check saw, shared between the OpenSSL callback (on
// cpprestsdk's threads) and the session (for messages).
struct TlsState {
  std::string host;
  unsigned port = 0;
  std::string pin;  // canonical thumbprint from the URI, or empty
  bool insecure = false;

  enum class Refusal { None, PinMismatch, StoreMismatch, Untrusted, StoreUnreadable };
  std::mutex mutex;
  std::string seen;    // thumbprint of the last leaf certificate presented
  std::string pinned;  // the trust store's thumbprint on a mismatch
  std::string why;     // OpenSSL's reason for an untrusted certificate
  Refusal refusal = Refusal::None;

  void record(const std::string& thumb, Refusal r, std::string pinned_thumb = {},
              std::string reason = {}) {
    std::lock_guard lock(mutex);
    seen = thumb;
    refusal = r;
    pinned = std::move(pinned_thumb);
    why = std::move(reason);
  }
};

std::string stored_thumbprint(const TrustStore& store, const std::string& host, unsigned port) {
  for (const TrustEntry& e : store.list())
    if (e.kind == "tls" && e.host == host && e.port == port) return e.key;
  return {};
}

// SSL_CTX_set_cert_verify_callback: replaces OpenSSL's chain verification.
// Pin and insecure decide alone; the trust store next; else X509_verify_cert,
// which runs the system CAs and cpprestsdk's own per-certificate callback
// (the RFC 2818 host-name check).
int verify_certificate(X509_STORE_CTX* ctx, void* arg) {
  auto* state = static_cast<TlsState*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(ctx);
  if (state == nullptr || leaf == nullptr) return 0;
  std::string thumb;
  try {
    const int len = i2d_X509(leaf, nullptr);
    if (len <= 0) return 0;
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509(leaf, &p) != len) return 0;
    thumb = certificate_thumbprint(der);
  } catch (...) {
    return 0;
  }
  using R = TlsState::Refusal;
  if (!state->pin.empty()) {
    const bool ok = thumb == state->pin;
    state->record(thumb, ok ? R::None : R::PinMismatch);
    if (!ok) X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return ok ? 1 : 0;
  }
  if (state->insecure) {
    state->record(thumb, R::None);
    return 1;
  }
  try {
    const TrustStore store;
    switch (store.check_tls(state->host, state->port, thumb)) {
      case TrustStore::Verdict::Trusted:
        state->record(thumb, R::None);
        return 1;
      case TrustStore::Verdict::Mismatch:
        state->record(thumb, R::StoreMismatch, stored_thumbprint(store, state->host, state->port));
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
      case TrustStore::Verdict::Unknown:
        break;
    }
  } catch (const std::exception& e) {
    state->record(thumb, R::StoreUnreadable, {}, e.what());
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  const int ok = X509_verify_cert(ctx);
  if (ok > 0) {
    state->record(thumb, R::None);
    return ok;
  }
  const int err = X509_STORE_CTX_get_error(ctx);
  const bool names_host =
      X509_check_ip_asc(leaf, state->host.c_str(), 0) == 1 ||
      X509_check_host(leaf, state->host.data(), state->host.size(), 0, nullptr) == 1;
  const bool chain_error = err != X509_V_OK && err != X509_V_ERR_UNSPECIFIED;
  std::string why = chain_error ? X509_verify_cert_error_string(err) : "";
  if (!names_host)
    why += (why.empty() ? "" : "; ") + std::string("its host names do not include ") + state->host;
  if (why.empty()) why = "refused by the verification";
  state->record(thumb, R::Untrusted, {}, why);
  return ok;
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

bool trace_enabled() {
  const char* v = std::getenv("HYPERCTL_TRACE");
  return v != nullptr && std::string(v) == "1";
}

std::string cookie_from(const http::http_headers& headers) {
  // cpprestsdk joins repeated Set-Cookie headers with ", ".
  const auto it = headers.find("Set-Cookie");
  if (it == headers.end()) return {};
  const std::string& all = it->second;
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

// A one-shot signal a cpprestsdk continuation opens and the caller waits on
// with a deadline.
class Latch {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, deadline, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// The largest SOAP answer read. A vCenter's biggest answers are property
// pages: a listing of 10,000 VMs with their whole device lists is about
// 76 MB today. Past this a host is broken or hostile, and reading on would
// only end when memory does (in a fleet run: for every host at once).
constexpr std::uint64_t kMaxAnswerBytes = std::uint64_t{256} << 20;

// Thrown inside the reply's continuations when the answer passes the limit.
struct AnswerTooLarge : std::runtime_error {
  AnswerTooLarge() : std::runtime_error("answer too large") {}
};

// Reads a response body into `bytes`, 64 KiB at a time, and stops (throwing
// AnswerTooLarge) once it holds more than kMaxAnswerBytes. The caller cancels
// the request then, which closes the connection: cpprestsdk would otherwise
// go on buffering what the host sends.
struct CappedBody {
  concurrency::streams::istream in;
  concurrency::streams::container_buffer<std::vector<unsigned char>> bytes;
};

pplx::task<void> read_capped(std::shared_ptr<CappedBody> body) {
  return body->in.read(body->bytes, 64 * 1024).then([body](std::size_t n) -> pplx::task<void> {
    if (n == 0) return pplx::task_from_result();
    if (body->bytes.collection().size() > kMaxAnswerBytes) throw AnswerTooLarge();
    return read_capped(body);
  });
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
  std::chrono::milliseconds timeout;
  std::shared_ptr<TlsState> tls;
  bool trace = trace_enabled();
  mutable std::mutex cookie_mutex;
  std::string cookie;
  std::unique_ptr<client::http_client> soap_client;  // deadline: ours (post_sdk)
  std::unique_ptr<client::http_client> file_client;  // timeout: cpprestsdk's, per chunk

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

  void take_cookie(const http::http_response& response) {
    std::string c = cookie_from(response.headers());
    if (c.empty()) return;
    std::lock_guard lock(cookie_mutex);
    cookie = std::move(c);
  }

  // The Error for a request that failed below HTTP.
  [[noreturn]] void fail(const std::exception& e, int errc, const std::string& what,
                         const std::string& operation) const {
    const std::string op = operation.empty() ? std::string() : operation + ": ";
    {
      std::lock_guard lock(tls->mutex);
      using R = TlsState::Refusal;
      switch (tls->refusal) {
        case R::None:
          break;
        case R::PinMismatch:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " (SHA-256 " + tls->seen +
                          ") is not the one pinned in the URI (thumbprint=" + tls->pin +
                          "); refused",
                      operation);
        case R::StoreMismatch:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " changed: it is SHA-256 " +
                          tls->seen + ", the trust store pins " +
                          (tls->pinned.empty() ? std::string("another") : tls->pinned) +
                          "; if the change is expected: hyperctl trust add --tls " + endpoint +
                          " --thumbprint " + tls->seen,
                      operation);
        case R::StoreUnreadable:
          throw Error(ErrorCode::AuthFailed,
                      op + "cannot check the TLS certificate of " + endpoint +
                          " against the trust store: " + escape::terminal_text(tls->why),
                      operation);
        case R::Untrusted:
          throw Error(ErrorCode::AuthFailed,
                      op + "the TLS certificate of " + endpoint + " is not trusted (SHA-256 " +
                          tls->seen + ", " + escape::terminal_text(tls->why) +
                          "); if it is the right one, pin it: hyperctl trust add --tls " +
                          endpoint + " --thumbprint " + tls->seen +
                          ", or add ?thumbprint=" + tls->seen + " to the URI",
                      operation);
      }
    }
    const std::string detail = escape::terminal_text(e.what()) +
                               (errc != 0 ? " (error " + std::to_string(errc) + ")" : "");
    if (errc == ETIMEDOUT)
      throw Error(ErrorCode::Timeout,
                  op + endpoint + " did not answer " + what + " within " + duration_text(timeout),
                  operation, detail);
    const std::string text = e.what();
    if (text.find("resolving") != std::string::npos)
      throw Error(ErrorCode::Unreachable,
                  op + "cannot connect to " + endpoint + ": the host name does not resolve",
                  operation, detail);
    if (errc == ECONNREFUSED || text.find("Failed to connect") != std::string::npos)
      throw Error(ErrorCode::Unreachable,
                  op + "cannot connect to " + endpoint +
                      ": connection refused (nothing listens there) or host unreachable",
                  operation, detail);
    if (text.find("andshake") != std::string::npos)
      throw Error(ErrorCode::Unreachable,
                  op + "the TLS handshake with " + endpoint + " failed (is it an HTTPS endpoint?)",
                  operation, detail);
    if (errc == ECONNRESET || text.find("status line") != std::string::npos ||
        text.find("end of file") != std::string::npos)
      throw Error(ErrorCode::Unreachable,
                  op + endpoint + " closed the connection without answering " + what, operation,
                  detail);
    throw Error(
        ErrorCode::Unreachable,
        op + "the request " + what + " to " + endpoint + " failed: " + escape::terminal_text(text),
        operation, detail);
  }
};

namespace {

// At exit, OpenSSL frees its global state in an atexit handler; cpprestsdk's
// thread pool is joined by a later-running exit handler of its own, and its
// threads still close pooled TLS connections then, touching that freed state
// (seen: a heap corruption about once in 300 runs of `hyperctl list`). OpenSSL
// is told, before its first use in the process, to leave its state for the
// operating system to reclaim instead. Without effect when something else
// initialised OpenSSL first (then its atexit order is that caller's).
void keep_openssl_until_exit() {
  static const bool done = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
    return true;
  }();
  (void)done;
}

}  // namespace

Http::Http(const Target& target) : impl_(std::make_unique<Impl>()) {
  keep_openssl_until_exit();
  impl_->endpoint = bracketed(target.host) + ":" + std::to_string(target.port);
  impl_->timeout = target.timeout;
  impl_->tls = std::make_shared<TlsState>();
  impl_->tls->host = target.host;
  impl_->tls->port = target.port;
  impl_->tls->pin = target.thumbprint;
  impl_->tls->insecure = target.insecure;

  client::http_client_config config;
  config.set_validate_certificates(true);
  std::shared_ptr<TlsState> state = impl_->tls;
  config.set_ssl_context_callback([state](boost::asio::ssl::context& ctx) {
    SSL_CTX_set_cert_verify_callback(ctx.native_handle(), &verify_certificate, state.get());
  });
  const web::uri base("https://" + impl_->endpoint);
  // File transfers: the timeout is for each read or write of the body.
  config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(target.timeout));
  impl_->file_client = std::make_unique<client::http_client>(base, config);
  // SOAP: post_sdk's deadline ends a call first; this one never should.
  config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(
      target.timeout * 2 + std::chrono::seconds(30)));
  impl_->soap_client = std::make_unique<client::http_client>(base, config);
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

HttpReply Http::post_sdk(const std::string& soap_action, WipedString body,
                         const std::string& method, const std::string& operation,
                         std::chrono::milliseconds deadline) {
  http::http_request request(http::methods::POST);
  request.set_request_uri(web::uri("/sdk"));
  request.headers().add("SOAPAction", soap_action);
  const std::string cookie = impl_->cookie_header();
  if (!cookie.empty()) request.headers().add("Cookie", cookie);
  // The request's stream owns the body from here (no copy is made), and its
  // allocator wipes it when cpprestsdk lets go of it.
  const auto length = body.size();
  request.set_body(concurrency::streams::bytestream::open_istream<WipedString>(std::move(body)),
                   length, "text/xml; charset=utf-8");
  const auto started = Clock::now();
  ++requests_;
  HttpReply reply;
  // The deadline is ours, not cpprestsdk's: its timer, on a connection that
  // served a request before, silently sends the request again on a new
  // connection, and a vim25 call must never be sent twice (a slow
  // CreateVM_Task would create the VM twice). Cancelling the request at the
  // deadline ends it for good; cpprestsdk's own timeout is only a backstop.
  pplx::cancellation_token_source cts;
  auto latch = std::make_shared<Latch>();
  using Answer = std::pair<http::http_response, std::vector<unsigned char>>;
  pplx::task<Answer> answer =
      impl_->soap_client->request(request, cts.get_token()).then([](http::http_response response) {
        // A declared length past the limit is refused before reading.
        if (response.headers().has(http::header_names::content_length) &&
            response.headers().content_length() > kMaxAnswerBytes)
          throw AnswerTooLarge();
        auto capped = std::make_shared<CappedBody>();
        capped->in = response.body();
        return read_capped(capped).then(
            [response, capped] { return Answer(response, std::move(capped->bytes.collection())); });
      });
  answer.then([latch](const pplx::task<Answer>&) { latch->open(); });
  const bool timed_out =
      !latch->wait_until(started + (deadline.count() > 0 ? deadline : impl_->timeout));
  if (timed_out) cts.cancel();
  try {
    Answer a = answer.get();
    reply.status = a.first.status_code();
    reply.content_type = a.first.headers().content_type();
    impl_->take_cookie(a.first);
    reply.body.assign(a.second.begin(), a.second.end());
  } catch (const AnswerTooLarge&) {
    cts.cancel();  // closes the connection: nothing more is read
    impl_->trace_line("POST", "/sdk " + method, "too-large", kMaxAnswerBytes, started);
    throw Error(ErrorCode::BackendFailure,
                (operation.empty() ? std::string() : operation + ": ") + impl_->endpoint +
                    " answered " + method + " with more than " +
                    std::to_string(kMaxAnswerBytes >> 20) + " MiB; refused (not a vSphere answer)",
                operation);
  } catch (const std::exception& e) {
    impl_->trace_line("POST", "/sdk " + method, timed_out ? "timeout" : "error", 0, started);
    const auto* he = dynamic_cast<const http::http_exception*>(&e);
    impl_->fail(e, timed_out ? ETIMEDOUT : (he ? he->error_code().value() : 0), method, operation);
  }
  impl_->trace_line("POST", "/sdk " + method, std::to_string(reply.status), reply.body.size(),
                    started);
  return reply;
}

namespace {

// Waits for `task`, polling the cancel token and reporting progress from
// the caller's thread.
template <class T>
T wait_cancellable(pplx::task<T> task, pplx::cancellation_token_source& cts,
                   const CancelToken& cancel, const std::atomic<std::uint64_t>& done,
                   const std::atomic<std::uint64_t>& total,
                   const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  std::uint64_t reported = ~std::uint64_t{0};
  while (!task.is_done()) {
    if (cancel.cancelled()) cts.cancel();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::uint64_t d = done.load();
    if (progress && d != reported) {
      progress(d, total.load());
      reported = d;
    }
  }
  return task.get();
}

}  // namespace

void Http::transfer_failed(const char* verb, const char* what, const char* towards,
                           std::uint64_t done, Clock::time_point started, const CancelToken& cancel,
                           const std::string& operation) {
  const auto cancelled = [&] {
    return Error(ErrorCode::Cancelled, operation + ": cancelled", operation);
  };
  try {
    throw;
  } catch (const pplx::task_canceled&) {
    impl_->trace_line(verb, "/folder", "cancelled", done, started);
    throw cancelled();
  } catch (const http::http_exception& e) {
    impl_->trace_line(verb, "/folder", "error", done, started);
    if (cancel.cancelled()) throw cancelled();
    impl_->fail(e, e.error_code().value(), what, operation);
  } catch (const std::exception& e) {
    impl_->trace_line(verb, "/folder", "error", done, started);
    if (cancel.cancelled()) throw cancelled();
    throw Error(ErrorCode::BackendFailure,
                operation + ": " + what + " " + towards + " " + impl_->endpoint +
                    " failed: " + escape::terminal_text(e.what()),
                operation);
  }
  throw Error(ErrorCode::Internal,
              operation + ": " + what + " " + towards + " " + impl_->endpoint + " failed",
              operation);
}

int Http::get_to_file(const std::string& path_and_query, const std::string& file,
                      const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                      const CancelToken& cancel, const std::string& operation) {
  namespace streams = concurrency::streams;
  const auto started = Clock::now();
  ++requests_;
  std::atomic<std::uint64_t> done{0}, total{0};
  int status = 0;
  try {
    auto out =
        streams::file_stream<std::uint8_t>::open_ostream(file, std::ios::out | std::ios::trunc)
            .get();
    http::http_request request(http::methods::GET);
    request.set_request_uri(web::uri(path_and_query));
    const std::string cookie = impl_->cookie_header();
    if (!cookie.empty()) request.headers().add("Cookie", cookie);
    request.set_response_stream(out);
    request.set_progress_handler([&done](http::message_direction::direction d, std::uint64_t n) {
      if (d == http::message_direction::download) done.store(n);
    });
    pplx::cancellation_token_source cts;
    http::http_response response = wait_cancellable(
        impl_->file_client->request(request, cts.get_token()), cts, cancel, done, total, {});
    status = response.status_code();
    total.store(response.headers().content_length());
    wait_cancellable(response.content_ready(), cts, cancel, done, total, progress);
    out.close().get();
    if (progress && status == 200) progress(done.load(), total.load());
  } catch (const Error&) {
    throw;
  } catch (...) {
    transfer_failed("GET", "the download", "from", done.load(), started, cancel, operation);
  }
  impl_->trace_line("GET", "/folder", std::to_string(status), done.load(), started);
  return status;
}

int Http::put_from_file(const std::string& path_and_query, const std::string& file,
                        const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                        const CancelToken& cancel, const std::string& operation) {
  namespace streams = concurrency::streams;
  const auto started = Clock::now();
  ++requests_;
  std::atomic<std::uint64_t> done{0}, total{0};
  int status = 0;
  try {
    auto in = streams::file_stream<std::uint8_t>::open_istream(file, std::ios::in).get();
    const auto size = in.streambuf().size();
    total.store(size);
    http::http_request request(http::methods::PUT);
    request.set_request_uri(web::uri(path_and_query));
    const std::string cookie = impl_->cookie_header();
    if (!cookie.empty()) request.headers().add("Cookie", cookie);
    request.set_body(in, size, "application/octet-stream");
    request.set_progress_handler([&done](http::message_direction::direction d, std::uint64_t n) {
      if (d == http::message_direction::upload) done.store(n);
    });
    pplx::cancellation_token_source cts;
    http::http_response response = wait_cancellable(
        impl_->file_client->request(request, cts.get_token()), cts, cancel, done, total, progress);
    status = response.status_code();
    response.content_ready().wait();
    in.close().wait();
    if (progress && status / 100 == 2) progress(done.load(), total.load());
  } catch (const Error&) {
    throw;
  } catch (...) {
    transfer_failed("PUT", "the upload", "to", done.load(), started, cancel, operation);
  }
  impl_->trace_line("PUT", "/folder", std::to_string(status), done.load(), started);
  return status;
}

}  // namespace hyperctl::vsphere
