// The libvirt backend: plugin entry point, Backend and Connection.
#include <cstdio>

#include "errors.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/plugin.hpp"
#include "ops.hpp"

namespace hyperctl::lv {

std::string quoted(const std::string& name) {
  return "'" + escape::terminal_text(name) + "'";
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
            Operation::MigrateLive,    Operation::MigrateOffline};
  }

  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    return guarded("connect", [&]() -> std::unique_ptr<Connection> {
      install_quiet_handlers();
      // libvirt parses the URI itself: transports (+ssh, +tls...) and query
      // parameters are its business, so the raw text goes through unchanged.
      const unsigned flags = options.read_only ? VIR_CONNECT_RO : 0;
      Session s;
      s.uri = uri;
      s.conn.reset(virConnectOpenAuth(uri.raw.c_str(), virConnectAuthPtrDefault, flags));
      if (!s.conn) fail(nullptr, "cannot connect to " + uri.raw, "connect", Phase::Connect);
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
