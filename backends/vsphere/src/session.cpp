// One logged-in vim25 session: the URI's target, SOAP calls with fault
// translation and re-login, keep-alive, tasks, the PropertyCollector and
// datastore file transfer. The HTTPS transport is http.cpp's.
#include "session.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common.hpp"
#include "http.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/trust.hpp"
#include "secret_text.hpp"

namespace hyperctl::vsphere {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- the URI

namespace {

const char* const kKnownKeys[] = {"thumbprint",  "insecure", "keepalive", "timeout",
                                  "tasktimeout", "host",     "datastore"};

std::string known_keys() {
  std::string s;
  for (const char* k : kKnownKeys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

// Whole non-negative seconds, at most a day.
std::optional<long> seconds_of(const std::string& text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  const long v = std::stol(text);
  if (v > 86400) return std::nullopt;
  return v;
}

}  // namespace

Target parse_target(const Uri& uri, const ConnectOptions& options) {
  const std::string op = "connect";
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCode::InvalidArgument, escape::terminal_text(uri.str()) + ": " + why, op);
  };
  Target t;
  if (uri.scheme != "vsphere" && uri.scheme != "esx")
    throw bad("the vsphere backend serves vsphere:// and esx://, not " +
              escape::terminal_text(uri.scheme) + "://");
  if (!uri.transport.empty())
    throw bad("vsphere URIs take no transport (" + escape::terminal_text(uri.full_scheme()) +
              "): the connection is always HTTPS");
  t.scheme = uri.scheme;
  if (uri.host.empty()) throw bad("no host: vsphere://USER@HOST[:PORT]/[DATACENTER]");
  t.host = uri.host;
  if (uri.port) {
    if (*uri.port == 0 || *uri.port > 65535) throw bad("bad port " + std::to_string(*uri.port));
    t.port = *uri.port;
  }
  std::string dc = uri.path;
  while (!dc.empty() && dc.front() == '/') dc.erase(dc.begin());
  while (!dc.empty() && dc.back() == '/') dc.pop_back();
  t.datacenter = dc;
  t.timeout = options.timeout.count() > 0 ? options.timeout : std::chrono::seconds(30);

  for (const auto& [key, value] : uri.query) {
    if (key == "thumbprint") {
      try {
        t.thumbprint = normalize_thumbprint(value);
      } catch (const Error& e) {
        throw bad(std::string("thumbprint: ") + e.what());
      }
    } else if (key == "insecure") {
      if (value == "1" || value == "true")
        t.insecure = true;
      else if (value == "0" || value == "false" || value.empty())
        t.insecure = false;
      else
        throw bad("insecure takes 0, 1, true or false, not '" + escape::terminal_text(value) + "'");
    } else if (key == "keepalive") {
      const auto s = seconds_of(value);
      if (!s)
        throw bad("keepalive takes whole seconds (0 turns it off), not '" +
                  escape::terminal_text(value) + "'");
      t.keepalive = std::chrono::seconds(*s);
    } else if (key == "timeout") {
      const auto s = seconds_of(value);
      if (!s || *s == 0)
        throw bad("timeout takes whole seconds (1 or more), not '" + escape::terminal_text(value) +
                  "'");
      t.timeout = std::chrono::seconds(*s);
    } else if (key == "tasktimeout") {
      const auto s = seconds_of(value);
      if (!s || *s == 0)
        throw bad("tasktimeout takes whole seconds (1 or more, at most a day), not '" +
                  escape::terminal_text(value) + "'");
      t.task_timeout = std::chrono::seconds(*s);
    } else if (key == "host") {
      if (value.empty()) throw bad("host= needs a host name");
      t.placement_host = value;
    } else if (key == "datastore") {
      if (value.empty()) throw bad("datastore= needs a datastore name");
      t.placement_datastore = value;
    } else {
      throw bad("unknown parameter '" + escape::terminal_text(key) + "' (known: " + known_keys() +
                ")");
    }
  }
  if (!t.thumbprint.empty() && t.insecure)
    throw bad(
        "thumbprint= and insecure=1 contradict each other: pin the certificate or skip "
        "the check, not both");
  t.user = !options.user.empty() ? options.user : uri.user;
  if (t.user.empty())
    throw bad("no user: give one in the URI (vsphere://USER@HOST/) or with the connection's user");
  return t;
}

// ---------------------------------------------------------------- objects

pugi::xml_node ObjectContent::prop(const std::string& path) const {
  const auto it = props.find(path);
  return it == props.end() ? pugi::xml_node() : it->second;
}

// ---------------------------------------------------------------- session

namespace {

const MoRef kServiceInstance{"ServiceInstance", "ServiceInstance"};

bool looks_like_html(const HttpReply& r) {
  if (r.content_type.find("html") != std::string::npos) return true;
  std::string head = r.body.substr(0, 512);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return head.find("<html") != std::string::npos ||
         head.find("<!doctype html") != std::string::npos;
}

/// Appends `secret` escaped for XML text to `out`, one character at a time,
/// so that no growing std::string holds it (a whole-text escape would leave
/// each buffer it outgrew in freed memory); each piece is wiped after use.
void append_xml_text(SecretText& out, std::string_view secret) {
  for (std::size_t i = 0; i < secret.size();) {
    const auto lead = static_cast<unsigned char>(secret[i]);
    std::size_t len = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    len = std::min(len, secret.size() - i);
    std::string piece = escape::xml_text(secret.substr(i, len));
    out.append(piece);
    OPENSSL_cleanse(piece.data(), piece.capacity());
    i += len;
  }
}

}  // namespace

SoapOutcome read_soap_answer(const HttpReply& r, const std::string& method, const std::string& op,
                             const std::string& where) {
  const std::string prefix = op.empty() ? std::string() : op + ": ";
  if (r.status == 401 || r.status == 403)
    throw Error(ErrorCode::AuthFailed,
                prefix + where + " refused " + method + " (HTTP " + std::to_string(r.status) + ")",
                op);
  if (r.body.empty())
    throw Error(ErrorCode::BackendFailure,
                prefix + where + " answered " + method + " with HTTP " + std::to_string(r.status) +
                    " and an empty body",
                op);
  if (looks_like_html(r))
    throw Error(ErrorCode::BackendFailure,
                prefix + where + " answered " + method + " with an HTML page (HTTP " +
                    std::to_string(r.status) + "), not SOAP: is it a vSphere endpoint?",
                op);
  std::shared_ptr<pugi::xml_document> doc;
  try {
    doc = xml::parse(r.body, method);
  } catch (const Error& e) {
    throw Error(e.code(),
                prefix + e.what() + " (HTTP " + std::to_string(r.status) + " from " + where + ")",
                op);
  }
  const pugi::xml_node envelope = doc->document_element();
  const pugi::xml_node soap_body = xml::child(envelope, "Body");
  if (xml::local_name(envelope) != "Envelope" || !soap_body)
    throw Error(ErrorCode::BackendFailure,
                prefix + where + " answered " + method + " (HTTP " + std::to_string(r.status) +
                    ") with XML that is not a SOAP envelope: is it a vSphere endpoint?",
                op);
  SoapOutcome out;
  if (const pugi::xml_node fault = xml::child(soap_body, "Fault")) {
    out.faulted = true;
    out.fault_message = xml::text(fault, "faultstring");
    const pugi::xml_node detail = xml::child(fault, "detail");
    pugi::xml_node first;
    for (pugi::xml_node c = detail.first_child(); c; c = c.next_sibling())
      if (c.type() == pugi::node_element) {
        first = c;
        break;
      }
    out.fault_type = fault_type_of(first);
    if (out.fault_type.empty()) out.fault_type = xml::text(fault, "faultcode");
    return out;
  }
  pugi::xml_node response;
  for (pugi::xml_node c = soap_body.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element) {
      response = c;
      break;
    }
  if (r.status != 200 || !response)
    throw Error(ErrorCode::BackendFailure,
                prefix + where + " answered " + method + " with HTTP " + std::to_string(r.status) +
                    (response ? std::string(" and no SOAP fault") : std::string(" and no answer")),
                op);
  out.reply = Reply{doc, response};
  return out;
}

struct Session::Impl {
  Target target;
  ServiceContent content;
  std::unique_ptr<Http> http;
  SecretProvider secret;
  std::optional<SecretText> password;  // in memory only, for re-login; wiped when dropped
  std::string soap_action = "urn:vim25";
  bool logged_in = false;         // the server knows our session (as far as we know)
  bool ever_logged_in = false;    // the first login worked: NotAuthenticated means expired
  bool transport_failed = false;  // the last request got no answer at all

  std::mutex mutex;  // one SOAP exchange at a time
  Clock::time_point last_use = Clock::now();

  std::thread keepalive;
  std::mutex keepalive_mutex;
  std::condition_variable keepalive_cv;
  bool stopping = false;

  // Secrets out of a text that may go into an Error's detail.
  std::string scrub(std::string text) const {
    const auto blank = [&](std::string_view secret_text) {
      if (secret_text.size() < 3) return;
      for (std::size_t p; (p = text.find(secret_text)) != std::string::npos;)
        text.replace(p, secret_text.size(), "***");
    };
    if (password) blank(password->view());
    blank(http->cookie());
    return text;
  }

  // One POST /sdk and its answer read; faults are returned, not thrown.
  SoapOutcome exchange(const std::string& method, const MoRef& self, std::string_view args,
                       const std::string& op,
                       std::chrono::milliseconds deadline = std::chrono::milliseconds(0)) {
    HttpReply r;
    try {
      r = http->post_sdk(soap_action, soap::envelope(method, self, args), method, op, deadline);
      transport_failed = false;
    } catch (const Error& e) {
      transport_failed = e.code() == ErrorCode::Unreachable || e.code() == ErrorCode::Timeout;
      throw;
    }
    last_use = Clock::now();
    SoapOutcome out = read_soap_answer(r, method, op, http->endpoint());
    out.fault_message = scrub(std::move(out.fault_message));
    return out;
  }

  // Login with the (cached or asked for) password. Called with `mutex` held.
  void login(const std::string& op) {
    const std::string who = target.user + "@" + http->endpoint();
    if (!password && secret)
      if (auto typed = secret("password for " + who)) password.emplace(std::move(*typed));
    if (!password)
      throw Error(ErrorCode::AuthFailed,
                  op + ": no password for " + escape::terminal_text(who) +
                      ": set HYPERCTL_PASSWORD (or HYPERCTL_PASSWORD_<CONNECTION>), store it in "
                      "the credentials file (hyperctl hosts add --password-stdin), or run on a "
                      "terminal to be asked",
                  op);
    SecretText args;
    try {
      args.append(soap::el("userName", target.user)).append("<password>");
      append_xml_text(args, password->view());
      args.append("</password>");
    } catch (const Error&) {
      password.reset();
      throw Error(ErrorCode::InvalidArgument,
                  op + ": the user name or the password holds characters XML cannot carry", op);
    }
    SoapOutcome o = exchange("Login", content.session_manager, args.view(), op);
    args.clear();
    if (o.faulted) {
      const std::string type = o.fault_type;
      if (type == "InvalidLogin" || type == "NoPermission" || type == "NotAuthenticated") {
        password.reset();
        throw Error(ErrorCode::AuthFailed,
                    op + ": login as " + escape::terminal_text(target.user) + " refused by " +
                        http->endpoint(),
                    op, "vim25 fault " + escape::terminal_text(type));
      }
      throw fault_error(type, o.fault_message, op);
    }
    if (http->cookie().empty())
      throw Error(ErrorCode::BackendFailure,
                  op + ": " + http->endpoint() + " accepted the login but set no session cookie",
                  op);
    logged_in = ever_logged_in = true;
  }

  // A file transfer answered 401: the server no longer knows the cookie. The
  // old session is logged out first (best effort: it may be gone already)
  // so that a session the server still had is not left behind, then a new
  // one is made.
  void login_again(const std::string& op) {
    std::lock_guard lock(mutex);
    if (logged_in) try {
        exchange("Logout", content.session_manager, "", op,
                 std::min<std::chrono::milliseconds>(target.timeout, std::chrono::seconds(5)));
      } catch (const Error&) {
      }
    logged_in = false;
    http->clear_cookie();
    login(op);
  }

  Reply call_locked(const std::string& method, const MoRef& self, const std::string& args,
                    const std::string& op) {
    SoapOutcome o = exchange(method, self, args, op);
    if (o.faulted && o.fault_type == "NotAuthenticated" && ever_logged_in) {
      // The server forgot the session (idle timeout, restart): once more.
      logged_in = false;
      http->clear_cookie();
      login(op);
      o = exchange(method, self, args, op);
    }
    if (o.faulted) throw fault_error(o.fault_type, o.fault_message, op);
    return o.reply;
  }

  Reply call(const std::string& method, const MoRef& self, const std::string& args,
             const std::string& op) {
    std::lock_guard lock(mutex);
    return call_locked(method, self, args, op);
  }

  void read_content() {
    const std::string op = "connect";
    SoapOutcome o = exchange("RetrieveServiceContent", kServiceInstance, "", op);
    if (o.faulted) throw fault_error(o.fault_type, o.fault_message, op);
    const pugi::xml_node rv = o.reply.returnval();
    if (!rv || !xml::child(rv, "rootFolder") || !xml::child(rv, "sessionManager"))
      throw Error(ErrorCode::BackendFailure,
                  op + ": " + http->endpoint() +
                      " answered without a vSphere service content: is it a vSphere endpoint?",
                  op);
    ServiceContent& c = content;
    c.root_folder = xml::moref(xml::child(rv, "rootFolder"));
    c.property_collector = xml::moref(xml::child(rv, "propertyCollector"));
    c.view_manager = xml::moref(xml::child(rv, "viewManager"));
    c.session_manager = xml::moref(xml::child(rv, "sessionManager"));
    c.search_index = xml::moref(xml::child(rv, "searchIndex"));
    c.file_manager = xml::moref(xml::child(rv, "fileManager"));
    c.virtual_disk_manager = xml::moref(xml::child(rv, "virtualDiskManager"));
    const pugi::xml_node about = xml::child(rv, "about");
    c.api_type = xml::text(about, "apiType");
    c.api_version = xml::text(about, "apiVersion");
    c.name = xml::text(about, "name");
    c.full_name = xml::text(about, "fullName");
    c.version = xml::text(about, "version");
    c.build = xml::text(about, "build");
    c.instance_uuid = xml::text(about, "instanceUuid");
    if (!c.api_version.empty()) {
      bool plain = true;
      for (char ch : c.api_version)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.') plain = false;
      if (plain) soap_action = "urn:vim25/" + c.api_version;
    }
  }

  void keepalive_loop() {
    std::unique_lock lock(keepalive_mutex);
    while (!stopping) {
      Clock::time_point due;
      {
        std::lock_guard call_lock(mutex);
        due = last_use + target.keepalive;
      }
      if (keepalive_cv.wait_until(lock, due, [&] { return stopping; })) break;
      lock.unlock();
      {
        std::lock_guard call_lock(mutex);
        if (Clock::now() >= last_use + target.keepalive) {
          if (logged_in) try {
              call_locked("CurrentTime", kServiceInstance, "", "keepalive");
            } catch (...) {
              // The next real call reports the problem (and logs in again).
            }
          last_use = Clock::now();
        }
      }
      lock.lock();
    }
  }
};

Session::Session(const Uri& uri, const ConnectOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.target = parse_target(uri, options);
  s.secret = options.secret;
  s.http = std::make_unique<Http>(s.target);
  if (s.target.insecure) {
    const std::string line = "hyperctl: warning: not verifying the TLS certificate of " +
                             s.http->endpoint() + " (insecure=1)\n";
    [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
  }
  {
    std::lock_guard lock(s.mutex);
    s.read_content();
    s.login("connect");
  }
  if (s.target.keepalive.count() > 0) s.keepalive = std::thread([&s] { s.keepalive_loop(); });
}

Session::~Session() {
  Impl& s = *impl_;
  if (s.keepalive.joinable()) {
    {
      std::lock_guard lock(s.keepalive_mutex);
      s.stopping = true;
    }
    s.keepalive_cv.notify_all();
    s.keepalive.join();
  }
  try {
    std::lock_guard lock(s.mutex);
    // Not when the server just failed to answer (that would be another
    // full timeout), and never for longer than a few seconds.
    if (s.logged_in && !s.transport_failed)
      s.exchange("Logout", s.content.session_manager, "", "disconnect",
                 std::min<std::chrono::milliseconds>(s.target.timeout, std::chrono::seconds(5)));
  } catch (...) {
    // Logging out is a courtesy: the session expires on its own.
  }
  s.password.reset();  // wiped
}

const Target& Session::target() const {
  return impl_->target;
}
const ServiceContent& Session::content() const {
  return impl_->content;
}
std::string Session::endpoint() const {
  return impl_->http->endpoint();
}
std::uint64_t Session::requests() const {
  return impl_->http->requests();
}

Reply Session::call(const std::string& method, const MoRef& self, const std::string& args,
                    const std::string& operation) {
  return impl_->call(method, self, args, operation);
}

// ---------------------------------------------------------------- tasks

namespace {

// Polls in a row that may show a task info without a known state before the
// answer counts as malformed.
constexpr int kStatelessPolls = 5;

}  // namespace

Reply Session::wait_task(const MoRef& task, const std::string& operation, const std::string& phase,
                         const ProgressFn& progress, const CancelToken* cancel,
                         std::chrono::milliseconds timeout) {
  const auto started = Clock::now();
  const std::chrono::milliseconds deadline =
      timeout.count() > 0 ? timeout : impl_->target.task_timeout;
  const std::chrono::milliseconds grace =
      std::min<std::chrono::milliseconds>(kCancelGrace, deadline);
  const std::string what = "the task " + escape::terminal_text(task.value);
  enum class Stop { None, Cancel, Deadline } stop = Stop::None;
  Clock::time_point asked_at;
  auto delay = std::chrono::milliseconds(100);
  int stateless = 0;
  const auto ask_cancel = [&](Stop why) {
    stop = why;
    asked_at = Clock::now();
    delay = std::chrono::milliseconds(100);
    try {
      call("CancelTask", task, "", operation);
    } catch (const Error&) {
      // Not cancellable, or already over: the next poll says.
    }
  };
  for (;;) {
    const ObjectContent oc = retrieve_one(task, {"info"}, operation, what);
    const pugi::xml_node info = oc.prop("info");
    const std::string state = xml::text(info, "state");
    if (state == "success") return Reply{oc.doc, xml::child(info, "result")};
    if (state == "error") {
      const pugi::xml_node err = xml::child(info, "error");
      const std::string type = fault_type_of(xml::child(err, "fault"));
      // Only the fault our cancel request causes is ours; any other is the
      // task's own failure and keeps its code.
      if (type == "RequestCanceled" && stop == Stop::Deadline)
        throw Error(ErrorCode::Timeout,
                    operation + ": " + what + " did not finish within " + duration_text(deadline) +
                        " and was cancelled",
                    operation);
      if (type == "RequestCanceled" && stop == Stop::Cancel)
        throw Error(ErrorCode::Cancelled, operation + ": cancelled", operation);
      throw fault_error(type, xml::text(err, "localizedMessage"), operation);
    }
    if (state == "running" || state == "queued") {
      stateless = 0;
    } else if (++stateless >= kStatelessPolls) {
      throw Error(
          ErrorCode::BackendFailure,
          operation + ": " + endpoint() + " answered " + std::to_string(stateless) +
              " times in a row with a task info for " + what +
              (state.empty() ? std::string(" without a state")
                             : " in the unknown state '" + escape::terminal_text(state) + "'"),
          operation);
    }
    if (progress && (state == "running" || state == "queued")) {
      Progress p;
      p.phase = phase;
      p.done =
          static_cast<std::uint64_t>(std::clamp<std::int64_t>(xml::i64(info, "progress"), 0, 100));
      p.total = 100;
      p.unit = "percent";
      progress(p);
    }
    if (stop == Stop::None && cancel && cancel->cancelled()) ask_cancel(Stop::Cancel);
    if (stop == Stop::None && Clock::now() - started >= deadline) ask_cancel(Stop::Deadline);
    if (stop != Stop::None && Clock::now() - asked_at >= grace) {
      if (stop == Stop::Deadline)
        throw Error(ErrorCode::Timeout,
                    operation + ": " + what + " did not finish within " + duration_text(deadline) +
                        "; it was asked to cancel but has not ended, and may still finish on " +
                        endpoint(),
                    operation);
      throw Error(ErrorCode::Cancelled,
                  operation + ": cancelled; " + what + " did not end within " +
                      duration_text(grace) + " of the cancel request and may still finish on " +
                      endpoint(),
                  operation);
    }
    // Sleep until the next poll, but not past the deadline or the grace's
    // end; after a cancel request, look again soon.
    const auto now = Clock::now();
    const auto next_event = stop == Stop::None ? started + deadline : asked_at + grace;
    auto nap = std::min<Clock::duration>(delay, next_event - now);
    if (nap < std::chrono::milliseconds(10)) nap = std::chrono::milliseconds(10);
    std::this_thread::sleep_for(nap);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

Reply Session::run_task(const std::string& method, const MoRef& self, const std::string& args,
                        const std::string& operation, const std::string& phase,
                        const ProgressFn& progress, const CancelToken* cancel,
                        std::chrono::milliseconds timeout) {
  const Reply started = call(method, self, args, operation);
  const MoRef task = xml::moref(started.returnval());
  if (task.empty() || task.type != "Task")
    throw Error(ErrorCode::BackendFailure,
                operation + ": " + endpoint() + " answered " + method + " without a task",
                operation);
  return wait_task(task, operation, phase, progress, cancel, timeout);
}

// ---------------------------------------------------------------- properties

namespace {

std::string prop_spec(const std::string& type, const std::vector<std::string>& paths) {
  std::string inner = soap::el("type", type) + soap::el("all", "false");
  for (const std::string& p : paths) inner += soap::el("pathSet", p);
  return soap::raw("propSet", inner);
}

}  // namespace

std::string read_retrieve_result(const Reply& reply, std::vector<ObjectContent>& out) {
  const pugi::xml_node rv = reply.returnval();
  for (const pugi::xml_node obj : xml::children(rv, "objects")) {
    ObjectContent oc;
    oc.obj = xml::moref(xml::child(obj, "obj"));
    oc.doc = reply.doc;
    for (const pugi::xml_node ps : xml::children(obj, "propSet"))
      oc.props[xml::text(ps, "name")] = xml::child(ps, "val");
    bool gone = false;
    for (const pugi::xml_node ms : xml::children(obj, "missingSet"))
      if (fault_type_of(xml::path(ms, "fault.fault")) == "ManagedObjectNotFound" ||
          fault_type_of(xml::child(ms, "fault")) == "ManagedObjectNotFound")
        gone = true;
    if (gone && oc.props.empty()) continue;
    out.push_back(std::move(oc));
  }
  return xml::text(rv, "token");
}

namespace {

// The page after `token` (ContinueRetrievePropertiesEx). A page that fails
// ends the paging with CancelRetrievePropertiesEx (best effort: not when the
// server did not answer at all), so the server drops what it still holds.
Reply next_page(Session& s, const std::string& token, const std::string& operation) {
  const MoRef& collector = s.content().property_collector;
  try {
    return s.call("ContinueRetrievePropertiesEx", collector, soap::el("token", token), operation);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Timeout && e.code() != ErrorCode::Unreachable) try {
        s.call("CancelRetrievePropertiesEx", collector, soap::el("token", token), operation);
      } catch (const Error&) {
        // The first error is the one to report.
      }
    throw;
  }
}

// The objects of a RetrievePropertiesEx answer and of the pages that follow
// it, token by token.
void read_pages(Session& s, const Reply& first, std::vector<ObjectContent>& out,
                const std::string& operation) {
  std::string token = read_retrieve_result(first, out);
  while (!token.empty()) token = read_retrieve_result(next_page(s, token, operation), out);
}

/// `o` in a document of its own (its <val> nodes copied), so that it outlives
/// the page it came in without keeping that page's document alive.
ObjectContent detached(const ObjectContent& o) {
  ObjectContent out;
  out.obj = o.obj;
  out.doc = std::make_shared<pugi::xml_document>();
  pugi::xml_node root = out.doc->append_child("props");
  for (const auto& [path, val] : o.props) out.props[path] = root.append_copy(val);
  return out;
}

/// Adds the properties of `more` (the same object, from the next page) to
/// `held`, a detached object.
void merge_into(ObjectContent& held, const ObjectContent& more) {
  pugi::xml_node root = held.doc->first_child();
  for (const auto& [path, val] : more.props) held.props[path] = root.append_copy(val);
}

}  // namespace

void Session::retrieve_each(const std::vector<PropertyRequest>& what, const std::string& operation,
                            const MoRef& container,
                            const std::function<void(ObjectContent&&)>& each) {
  const ServiceContent& c = content();
  std::string view_args = soap::moref("container", container.empty() ? c.root_folder : container);
  for (const PropertyRequest& r : what) view_args += soap::el("type", r.type);
  view_args += soap::el("recursive", "true");
  const MoRef view =
      xml::moref(call("CreateContainerView", c.view_manager, view_args, operation).returnval());
  if (view.empty())
    throw Error(ErrorCode::BackendFailure,
                operation + ": " + endpoint() + " created no container view", operation);
  const auto destroy_view = [&] {
    try {
      call("DestroyView", view, "", operation);
    } catch (const Error&) {
      // The view dies with the session anyway.
    }
  };
  try {
    std::string spec;
    for (const PropertyRequest& r : what) spec += prop_spec(r.type, r.paths);
    spec += soap::raw("objectSet",
                      soap::moref("obj", view) + soap::el("skip", "true") +
                          soap::typed("selectSet", "TraversalSpec",
                                      soap::el("name", "view") + soap::el("type", "ContainerView") +
                                          soap::el("path", "view") + soap::el("skip", "false")));
    Reply page =
        call("RetrievePropertiesEx", c.property_collector,
             soap::raw("specSet", spec) +
                 soap::raw("options", soap::el("maxObjects", std::to_string(kPageObjects))),
             operation);
    // The last object of a page is held back (detached) until the next page
    // shows whether it goes on there; so `each` sees every object whole, and
    // only one page's document is alive at a time.
    std::optional<ObjectContent> held;
    for (;;) {
      std::vector<ObjectContent> objects;
      const std::string token = read_retrieve_result(page, objects);
      std::size_t first = 0;
      if (held && !objects.empty() && objects.front().obj == held->obj) {
        merge_into(*held, objects.front());
        first = 1;
      }
      if (held && (first < objects.size() || token.empty())) {
        each(std::move(*held));
        held.reset();
      }
      std::size_t end = objects.size();
      if (!token.empty() && first < end) held = detached(objects[--end]);
      for (std::size_t i = first; i < end; ++i) each(std::move(objects[i]));
      objects.clear();
      page = Reply{};  // this page's document goes before the next is read
      if (token.empty()) break;
      page = next_page(*this, token, operation);
    }
  } catch (const Error& e) {
    // A server that did not answer is not asked again (that would be another
    // full timeout).
    if (e.code() != ErrorCode::Timeout && e.code() != ErrorCode::Unreachable) destroy_view();
    throw;
  } catch (...) {
    destroy_view();
    throw;
  }
  destroy_view();
}

std::vector<ObjectContent> Session::retrieve_all(const std::vector<PropertyRequest>& what,
                                                 const std::string& operation,
                                                 const MoRef& container) {
  std::vector<ObjectContent> out;
  retrieve_each(what, operation, container,
                [&](ObjectContent&& o) { out.push_back(std::move(o)); });
  return out;
}

std::vector<ObjectContent> Session::retrieve(const std::vector<MoRef>& objects,
                                             const std::vector<std::string>& paths,
                                             const std::string& operation) {
  std::vector<ObjectContent> out;
  if (objects.empty()) return out;
  const ServiceContent& c = content();
  const auto one_call = [&](const std::vector<MoRef>& objs) {
    std::map<std::string, bool> types;
    std::string spec;
    for (const MoRef& o : objs)
      if (!types[o.type]) {
        types[o.type] = true;
        spec += prop_spec(o.type, paths);
      }
    for (const MoRef& o : objs)
      spec += soap::raw("objectSet", soap::moref("obj", o) + soap::el("skip", "false"));
    spec += soap::el("reportMissingObjectsInResults", "true");
    std::vector<ObjectContent> got;
    read_pages(*this,
               call("RetrievePropertiesEx", c.property_collector,
                    soap::raw("specSet", spec) + soap::raw("options", ""), operation),
               got, operation);
    return got;
  };
  try {
    out = one_call(objects);
  } catch (const Error& e) {
    // A server that faults the whole request for one vanished object
    // (ManagedObjectNotFound): ask per object, leaving out the missing ones.
    if (e.code() != ErrorCode::NotFound) throw;
    out.clear();
    if (objects.size() > 1)
      for (const MoRef& o : objects) try {
          for (ObjectContent& oc : one_call({o})) out.push_back(std::move(oc));
        } catch (const Error& e2) {
          if (e2.code() != ErrorCode::NotFound) throw;
        }
  }
  return out;
}

ObjectContent Session::retrieve_one(const MoRef& object, const std::vector<std::string>& paths,
                                    const std::string& operation, const std::string& what) {
  std::vector<ObjectContent> got = retrieve({object}, paths, operation);
  for (ObjectContent& oc : got)
    if (oc.obj == object) return std::move(oc);
  throw Error(ErrorCode::NotFound,
              operation + ": " + escape::terminal_text(what) + " no longer exists on " + endpoint(),
              operation);
}

// ---------------------------------------------------------------- files

namespace {

std::string folder_url(const Session& s, const std::string& datacenter,
                       const std::string& datastore, const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  const std::string dc =
      !datacenter.empty() ? datacenter : (s.is_vcenter() ? std::string() : "ha-datacenter");
  std::string url = "/folder/" + percent_encode_path(p) + "?";
  if (!dc.empty()) url += "dcPath=" + percent_encode_query(dc) + "&";
  url += "dsName=" + percent_encode_query(datastore);
  return url;
}

/// "[ds] path" for a message (common.hpp's datastore_path, made terminal-safe).
std::string ds_path(const std::string& datastore, const std::string& path) {
  return escape::terminal_text(datastore_path(datastore, path));
}

}  // namespace

void check_download_target(const std::string& local_path, bool overwrite,
                           const std::string& operation) {
  std::error_code ec;
  const auto st = fs::symlink_status(local_path, ec);
  if (ec || !fs::exists(st)) return;
  if (!overwrite)
    throw Error(ErrorCode::AlreadyExists,
                operation + ": the local file '" + escape::terminal_text(local_path) +
                    "' already exists; ask to overwrite it (nothing was downloaded)",
                operation);
  if (fs::is_directory(st))
    throw Error(
        ErrorCode::InvalidArgument,
        operation + ": the local path '" + escape::terminal_text(local_path) + "' is a folder",
        operation);
}

namespace {

// The download's temporary file: made with O_EXCL under a random name in the
// target's folder (so the final rename stays on one file system), written
// through its descriptor (/proc/self/fd/N: the same file even if its name is
// swapped meanwhile), removed unless taken.
class TempFile {
 public:
  TempFile(const std::string& target, const std::string& operation) {
    const fs::path t(target);
    const fs::path dir = t.has_parent_path() ? t.parent_path() : fs::path(".");
    std::string base = t.filename().string();
    if (base.size() > 100) base.resize(100);
    std::string tmpl = (dir / ("." + base + ".hyperctl-XXXXXX.part")).string();
    fd_ = ::mkostemps(tmpl.data(), 5, O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      throw Error(err == ENOENT || err == ENOTDIR ? ErrorCode::NotFound : ErrorCode::BackendFailure,
                  operation + ": cannot create a file next to '" + escape::terminal_text(target) +
                      "': " + std::strerror(err),
                  operation);
    }
    path_ = tmpl;
    struct stat st {};
    if (::fstat(fd_, &st) == 0) dev_ = st.st_dev, ino_ = st.st_ino;
    const std::string proc = "/proc/self/fd/" + std::to_string(fd_);
    std::error_code ec;
    write_path_ = fs::exists(proc, ec) ? proc : path_;
  }
  ~TempFile() {
    if (!path_.empty() && ours()) ::unlink(path_.c_str());
    if (fd_ >= 0) ::close(fd_);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// Where the HTTP client writes (the descriptor's own path when /proc has it).
  const std::string& write_path() const { return write_path_; }
  const std::string& path() const { return path_; }
  /// Whether the temporary name still names the file this made.
  bool ours() const {
    struct stat st {};
    return ::lstat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev_ &&
           st.st_ino == ino_;
  }
  /// The file is in place: nothing to remove any more.
  void taken() { path_.clear(); }

 private:
  int fd_ = -1;
  std::string path_, write_path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// Moves `from` to `to` unless `to` exists (then false): renameat2's
// RENAME_NOREPLACE, or link + unlink where the file system lacks it. Other
// failures: errno set, and false with `failed`.
bool move_no_replace(const std::string& from, const std::string& to, bool& failed) {
  failed = false;
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    failed = true;
    return false;
  }
  if (::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());
    return true;
  }
  if (errno == EEXIST) return false;
  failed = true;
  return false;
}

}  // namespace

void Session::download(const std::string& datacenter, const std::string& datastore,
                       const std::string& path, const std::string& local_path, bool overwrite,
                       const ProgressFn& progress, const CancelToken& cancel,
                       const std::string& operation) {
  check_download_target(local_path, overwrite, operation);
  TempFile temp(local_path, operation);
  const auto report = [&](std::uint64_t done, std::uint64_t total) {
    if (!progress) return;
    Progress p;
    p.phase = "download";
    p.done = done;
    p.total = total;
    p.unit = "bytes";
    progress(p);
  };
  const std::string url = folder_url(*this, datacenter, datastore, path);
  int status = impl_->http->get_to_file(url, temp.write_path(), report, cancel, operation);
  if (status == 401) {
    impl_->login_again(operation);
    status = impl_->http->get_to_file(url, temp.write_path(), report, cancel, operation);
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->last_use = Clock::now();
  }
  if (status != 200) transfer_failed(status, "download of", datastore, path, operation);
  // A cancel seen at the last progress report still counts: no file.
  if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, operation + ": cancelled", operation);
  const std::string where = escape::terminal_text(local_path);
  if (!temp.ours())
    throw Error(ErrorCode::BackendFailure,
                operation + ": the temporary file " + escape::terminal_text(temp.path()) +
                    " was replaced during the download; nothing was put at '" + where + "'",
                operation);
  bool failed = false;
  if (overwrite) {
    failed = ::rename(temp.path().c_str(), local_path.c_str()) != 0;
  } else if (!move_no_replace(temp.path(), local_path, failed) && !failed) {
    throw Error(ErrorCode::AlreadyExists,
                operation + ": the local file '" + where +
                    "' appeared during the download; it was left as it is (ask to overwrite it)",
                operation);
  }
  if (failed)
    throw Error(ErrorCode::BackendFailure,
                operation + ": cannot move the download into place at '" + where +
                    "': " + std::strerror(errno),
                operation);
  temp.taken();
}

void Session::upload(const std::string& datacenter, const std::string& datastore,
                     const std::string& path, const std::string& local_path,
                     const ProgressFn& progress, const CancelToken& cancel,
                     const std::string& operation) {
  std::error_code ec;
  if (!fs::is_regular_file(local_path, ec))
    throw Error(ErrorCode::NotFound,
                operation + ": " + escape::terminal_text(local_path) + " is not a readable file",
                operation);
  const auto report = [&](std::uint64_t done, std::uint64_t total) {
    if (!progress) return;
    Progress p;
    p.phase = "upload";
    p.done = done;
    p.total = total;
    p.unit = "bytes";
    progress(p);
  };
  const std::string url = folder_url(*this, datacenter, datastore, path);
  int status = impl_->http->put_from_file(url, local_path, report, cancel, operation);
  if (status == 401) {
    impl_->login_again(operation);
    status = impl_->http->put_from_file(url, local_path, report, cancel, operation);
  }
  {
    std::lock_guard lock(impl_->mutex);
    impl_->last_use = Clock::now();
  }
  if (status / 100 == 2) {
    // Cancelled at the last progress report: the caller undoes the upload.
    if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, operation + ": cancelled", operation);
    return;
  }
  transfer_failed(status, "upload to", datastore, path, operation);
}

void Session::transfer_failed(int status, const std::string& what, const std::string& datastore,
                              const std::string& path, const std::string& operation) const {
  const std::string code = "HTTP " + std::to_string(status);
  if (status == 404)
    throw Error(ErrorCode::NotFound,
                operation + ": " + endpoint() + " answered the " + what + " " +
                    ds_path(datastore, path) + " with " + code +
                    (what == "upload to" ? ": its folder does not exist" : ": not found"),
                operation);
  if (status == 401 || status == 403)
    throw Error(ErrorCode::AuthFailed,
                operation + ": " + endpoint() + " refused the " + what + " " +
                    ds_path(datastore, path) + " (" + code +
                    (status == 403 ? ": this user may not access datastore files)" : ")"),
                operation);
  if (status == 507)  // Insufficient Storage: the datastore is full
    throw Error(ErrorCode::BackendFailure,
                operation + ": datastore " + datastore + " on " + endpoint() +
                    " has no room for the " + what + " " + ds_path(datastore, path) + " (" + code +
                    " Insufficient Storage); free space there or choose another datastore",
                operation);
  throw Error(ErrorCode::BackendFailure,
              operation + ": the " + what + " " + ds_path(datastore, path) + " on " + endpoint() +
                  " failed with " + code,
              operation);
}

}  // namespace hyperctl::vsphere
