// VsphereConnection: its operation groups and the shared look-ups.
#include "connection.hpp"

#include "hyperctl/escape.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {

VsphereConnection::VsphereConnection(Uri uri, std::unique_ptr<Session> session)
    : Connection(kBackendName),
      uri_(std::move(uri)),
      session_(std::move(session)),
      vms_(std::make_unique<VsphereVmOps>(*this)),
      snapshots_(std::make_unique<VsphereSnapshotOps>(*this)),
      storage_(std::make_unique<VsphereStorageOps>(*this)),
      networks_(std::make_unique<VsphereNetworkOps>(*this)),
      host_(std::make_unique<VsphereHostOps>(*this)),
      migration_(std::make_unique<VsphereMigrationOps>(*this)) {}

VsphereConnection::~VsphereConnection() = default;

VmOps& VsphereConnection::vms() {
  return *vms_;
}
SnapshotOps& VsphereConnection::snapshots() {
  return *snapshots_;
}
StorageOps& VsphereConnection::storage() {
  return *storage_;
}
NetworkOps& VsphereConnection::networks() {
  return *networks_;
}
MigrationOps& VsphereConnection::migration() {
  return *migration_;
}
HostOps& VsphereConnection::host() {
  return *host_;
}

VsphereConnection* vsphere_connection_of(Connection& c) {
  return dynamic_cast<VsphereConnection*>(&c);
}

// Placeholders until the VM owner lands them.
const std::vector<std::string>& VsphereConnection::vm_paths() {
  static const std::vector<std::string> paths;
  return paths;
}
std::vector<VmObject> VsphereConnection::all_vms(const std::string& op) {
  throw Error(ErrorCode::Unsupported, "not yet", op);
}
VmObject VsphereConnection::resolve(const VmRef&, const std::string& op) {
  throw Error(ErrorCode::Unsupported, "not yet", op);
}
VmObject VsphereConnection::refresh(const MoRef&, const std::string& op) {
  throw Error(ErrorCode::Unsupported, "not yet", op);
}
VmInfo VsphereConnection::describe(const ObjectContent&, const NameMap&) const {
  return {};
}
const Datacenter& VsphereConnection::datacenter(const std::string& op) {
  throw Error(ErrorCode::Unsupported, "not yet", op);
}

}  // namespace hyperctl::vsphere
