// The libvirt backend: plugin entry point, Backend and Connection.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "errors.hpp"
#include "hyperctl/credentials.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/lingering.hpp"
#include "hyperctl/plugin.hpp"
#include "ops.hpp"

namespace hyperctl::lv {

std::string quoted(const std::string& name) {
  return "'" + escape::terminal_text(name) + "'";
}

std::string human_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  std::string out = std::to_string(ms / 1000);
  if (ms % 1000) {
    std::string frac = std::to_string(1000 + ms % 1000).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + " s";
}

namespace {

bool looks_like_uuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

DomPtr Session::find_domain(const VmRef& ref, const std::string& operation) const {
  if (ref.value.empty()) throw Error(ErrorCode::InvalidArgument, "no VM named", operation);
  if (looks_like_uuid(ref.value)) {
    DomPtr dom(virDomainLookupByUUIDString(get(), ref.value.c_str()));
    if (dom) return dom;
    auto e = take_last_error(get());
    if (e.code != VIR_ERR_NO_DOMAIN && e.code != VIR_ERR_INVALID_ARG)
      fail(e, "cannot look up VM " + quoted(ref.value), operation);
  }
  DomPtr dom(virDomainLookupByName(get(), ref.value.c_str()));
  if (dom) return dom;
  auto e = take_last_error(get());
  if (e.code == VIR_ERR_NO_DOMAIN)
    throw Error(ErrorCode::NotFound, "VM " + quoted(ref.value) + " not found on " + uri.raw,
                operation, e.detail());
  fail(e, "cannot look up VM " + quoted(ref.value), operation);
}

namespace {

// ------------------------------------------------------- authentication --
//
// libvirt asks for credentials through a callback (SASL on qemu+tcp/tls, the
// test driver's <auth> node file, libssh transports...). Ours answers from
// ConnectOptions: the user name from options.user, else the URI's, and the
// secret from options.secret (the credentials store: environment, file,
// prompt). The callback is called from C: nothing may be thrown through it,
// so what went wrong is kept here and turned into an Error afterwards.

struct AuthState {
  const Uri* uri = nullptr;
  const ConnectOptions* options = nullptr;
  std::string user;  ///< the user name given, for the prompt
  bool no_user = false;
  bool no_secret = false;
  bool other_request = false;
  std::exception_ptr error;  ///< thrown by the secret provider
};

std::string auth_user(const AuthState& st) {
  return st.options->user.empty() ? st.uri->user : st.options->user;
}

/// A malloc'd copy for libvirt, which frees the result itself.
bool give(virConnectCredentialPtr cred, const std::string& value) {
  char* copy = static_cast<char*>(std::malloc(value.size() + 1));
  if (!copy) return false;
  std::memcpy(copy, value.c_str(), value.size() + 1);
  cred->result = copy;
  cred->resultlen = static_cast<unsigned int>(value.size());
  return true;
}

extern "C" int answer_credentials(virConnectCredentialPtr creds, unsigned int count, void* data) {
  auto& st = *static_cast<AuthState*>(data);
  try {
    for (unsigned int i = 0; i < count; ++i) {
      virConnectCredentialPtr cred = &creds[i];
      switch (cred->type) {
        case VIR_CRED_AUTHNAME: {
          const std::string user = auth_user(st);
          if (user.empty()) {
            st.no_user = true;
            return -1;
          }
          st.user = user;
          if (!give(cred, user)) return -1;
          break;
        }
        case VIR_CRED_PASSPHRASE:
        case VIR_CRED_NOECHOPROMPT: {
          if (st.user.empty()) st.user = auth_user(st);
          std::optional<std::string> secret;
          if (st.options->secret) {
            secret = st.options->secret("Password for " +
                                        (st.user.empty() ? std::string() : st.user + " on ") +
                                        st.uri->raw);
          }
          if (!secret) {
            st.no_secret = true;
            return -1;
          }
          const bool given = give(cred, *secret);
          std::fill(secret->begin(), secret->end(), '\0');
          if (!given) return -1;
          break;
        }
        default:
          st.other_request = true;
          return -1;
      }
    }
    return 0;
  } catch (...) {
    st.error = std::current_exception();
    return -1;
  }
}

/// Opens `uri` answering libvirt's questions from `options`; throws Error.
virConnectPtr open_with_auth(const Uri& uri, const ConnectOptions& options, unsigned flags) {
  AuthState st;
  st.uri = &uri;
  st.options = &options;
  int types[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE, VIR_CRED_NOECHOPROMPT};
  virConnectAuth auth{types, sizeof types / sizeof types[0], answer_credentials, &st};
  virConnectPtr conn = virConnectOpenAuth(uri.raw.c_str(), &auth, flags);
  if (conn) return conn;
  const LastError e = take_last_error(nullptr);
  if (st.error) std::rethrow_exception(st.error);  // e.g. a refused credentials file
  if (st.no_user)
    throw Error(ErrorCode::AuthFailed,
                "cannot connect to " + uri.raw +
                    ": it asks for a user name; give one in the URI (USER@HOST) or as the "
                    "connection's user",
                "connect", e.detail());
  if (st.no_secret)
    throw Error(
        ErrorCode::AuthFailed,
        "cannot connect to " + uri.raw + ": it asks for " +
            (st.user.empty() ? std::string("a password") : "the password of " + quoted(st.user)) +
            " and none was given (set HYPERCTL_PASSWORD_<NAME> for a named connection or "
            "HYPERCTL_PASSWORD, put it in the credentials file, or run on a terminal to "
            "be asked)",
        "connect", e.detail());
  if (st.other_request)
    throw Error(ErrorCode::AuthFailed,
                "cannot connect to " + uri.raw +
                    ": it asks for a kind of credential hyperctl does not answer",
                "connect", e.detail());
  fail(e, "cannot connect to " + uri.raw, "connect", Phase::Connect);
}

// ------------------------------------------------------------- deadline --
//
// virConnectOpenAuth cannot be interrupted, and a daemon that accepts the
// connection but never answers (a hung libvirtd, a port forwarded to nothing)
// would keep it forever. So it runs on a thread of its own and connect()
// waits at most options.timeout for it, leaving out the time the user spends
// at a password prompt (prompt_wait_total()). Past that, connect() fails
// with Timeout and the thread is left to end by itself, counted as lingering
// work; a connection it opens late is closed there. Transports that run a
// program of their own (+ssh, +ext) are not timed: ssh may be asking the
// user something on the terminal (a password, a new host key), and its own
// ConnectTimeout applies.

struct OpenAttempt {
  std::mutex mutex;
  std::condition_variable changed;
  bool done = false;
  virConnectPtr conn = nullptr;
  std::exception_ptr error;
  std::unique_ptr<LingeringWork> lingering;  ///< set when the caller gave up
  Uri uri;
  ConnectOptions options;
};

bool timed_transport(const Uri& uri) {
  return uri.transport != "ssh" && uri.transport != "ext";
}

virConnectPtr open_with_deadline(const Uri& uri, const ConnectOptions& options, unsigned flags) {
  if (!timed_transport(uri) || options.timeout.count() <= 0)
    return open_with_auth(uri, options, flags);
  auto attempt = std::make_shared<OpenAttempt>();
  attempt->uri = uri;
  attempt->options = options;
  std::thread([attempt, flags] {
    virConnectPtr conn = nullptr;
    std::exception_ptr error;
    try {
      install_quiet_handlers();
      conn = open_with_auth(attempt->uri, attempt->options, flags);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(attempt->mutex);
    if (attempt->lingering) {  // given up on: nobody takes the result
      if (conn) virConnectClose(conn);
      attempt->lingering.reset();
      return;
    }
    attempt->conn = conn;
    attempt->error = error;
    attempt->done = true;
    attempt->changed.notify_all();
  }).detach();

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto prompts_at_start = prompt_wait_total();
  std::unique_lock lock(attempt->mutex);
  while (!attempt->done) {
    // The deadline only moves later, by the time spent at prompts: waking
    // at an old one just computes the new one.
    const auto deadline = start + options.timeout + (prompt_wait_total() - prompts_at_start);
    if (Clock::now() >= deadline) {
      attempt->lingering = std::make_unique<LingeringWork>();
      throw Error(
          ErrorCode::Timeout,
          "cannot connect to " + uri.raw + ": no answer within " + human_duration(options.timeout),
          "connect");
    }
    attempt->changed.wait_until(lock, deadline);
  }
  if (attempt->error) std::rethrow_exception(attempt->error);
  return attempt->conn;
}

class LibvirtConnection final : public Connection {
 public:
  explicit LibvirtConnection(Session session)
      : Connection(kBackendName),
        session_(std::move(session)),
        vms_(session_),
        host_(session_),
        networks_(session_),
        storage_(session_),
        snapshots_(session_),
        migration_(session_) {}

  const Uri& uri() const override { return session_.uri; }
  VmOps& vms() override { return vms_; }
  HostOps& host() override { return host_; }
  NetworkOps& networks() override { return networks_; }
  StorageOps& storage() override { return storage_; }
  SnapshotOps& snapshots() override { return snapshots_; }
  MigrationOps& migration() override { return migration_; }
  Session& session() { return session_; }

 private:
  Session session_;
  LibvirtVmOps vms_;
  LibvirtHostOps host_;
  LibvirtNetworkOps networks_;
  LibvirtStorageOps storage_;
  LibvirtSnapshotOps snapshots_;
  LibvirtMigrationOps migration_;
};

class LibvirtBackend final : public Backend {
 public:
  LibvirtBackend() { install_quiet_handlers(); }

  std::string name() const override { return kBackendName; }
  std::string description() const override {
    return "KVM/QEMU, Xen, LXC and the test driver through the libvirt C API";
  }
  std::vector<std::string> schemes() const override { return {"test", "qemu", "xen", "lxc"}; }

  Capabilities capabilities() const override {
    return {Operation::VmList,         Operation::VmGet,
            Operation::VmCreate,       Operation::VmDefine,
            Operation::VmStart,        Operation::VmShutdown,
            Operation::VmPowerOff,     Operation::VmReboot,
            Operation::VmReset,        Operation::VmSuspend,
            Operation::VmResume,       Operation::VmSave,
            Operation::VmDelete,       Operation::VmDeleteWithStorage,
            Operation::VmSetResources, Operation::VmAutostart,
            Operation::VmExportConfig, Operation::PoolList,
            Operation::PoolInfo,       Operation::PoolCreate,
            Operation::PoolStart,      Operation::PoolStop,
            Operation::PoolRefresh,    Operation::PoolDelete,
            Operation::VolumeList,     Operation::VolumeInfo,
            Operation::VolumeCreate,   Operation::VolumeDelete,
            Operation::VolumeResize,   Operation::VolumeClone,
            Operation::VolumeUpload,   Operation::VolumeDownload,
            Operation::NetworkList,    Operation::NetworkInfo,
            Operation::NetworkStart,   Operation::NetworkStop,
            Operation::SnapshotList,   Operation::SnapshotCreate,
            Operation::SnapshotRevert, Operation::SnapshotDelete,
            Operation::HostInfo,       Operation::MigratePreflight,
            Operation::MigrateLive,    Operation::MigrateOffline,
            Operation::MigrateCross};
  }

  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    return guarded("connect", [&]() -> std::unique_ptr<Connection> {
      install_quiet_handlers();
      // libvirt parses the URI itself: transports (+ssh, +tls...) and query
      // parameters are its business, so the raw text goes through unchanged.
      const unsigned flags = options.read_only ? VIR_CONNECT_RO : 0;
      Session s;
      s.uri = uri;
      s.conn.reset(open_with_deadline(uri, options, flags));
      quiet_connection(s.conn.get());
      const char* type = virConnectGetType(s.conn.get());
      if (!type) fail(s.conn.get(), "cannot identify the hypervisor at " + uri.raw, "connect");
      s.driver = type;
      return std::make_unique<LibvirtConnection>(std::move(s));
    });
  }
};

std::unique_ptr<Backend> make_backend() {
  return std::make_unique<LibvirtBackend>();
}

}  // namespace

Session* session_of(Connection& connection) {
  auto* c = dynamic_cast<LibvirtConnection*>(&connection);
  return c ? &c->session() : nullptr;
}
}  // namespace hyperctl::lv

HYPERCTL_PLUGIN(hyperctl::lv::make_backend)
