// The one place where a missing operation becomes ErrorCode::Unsupported.
#include "hyperctl/connection.hpp"

#include "hyperctl/error.hpp"

namespace hyperctl {

void OperationGroup::unsupported(Operation op) const {
  throw Error(ErrorCode::Unsupported,
              "the " + backend_ + " backend does not support " + std::string(to_string(op)),
              std::string(to_string(op)));
}

std::vector<VmInfo> VmOps::list(const VmFilter&) {
  unsupported(Operation::VmList);
}
VmInfo VmOps::get(const VmRef&) {
  unsupported(Operation::VmGet);
}
VmInfo VmOps::create(const VmSpec&) {
  unsupported(Operation::VmCreate);
}
PortableVm VmOps::describe(const VmRef&) {
  unsupported(Operation::MigrateCross);
}
VmInfo VmOps::create_from(const PortableVm&, const PortableCreate&) {
  unsupported(Operation::MigrateCross);
}
std::string StorageOps::export_disk(const std::string&, const std::string&, const std::string&,
                                    const ProgressFn&, const CancelToken&) {
  unsupported(Operation::MigrateCross);
}
ImportFormat StorageOps::import_format(const std::string&) {
  unsupported(Operation::MigrateCross);
}
Volume StorageOps::import_disk(const VolumeSpec&, const std::string&, const ProgressFn&,
                               const CancelToken&) {
  unsupported(Operation::MigrateCross);
}
VmInfo VmOps::define(const std::string&) {
  unsupported(Operation::VmDefine);
}
void VmOps::start(const VmRef&) {
  unsupported(Operation::VmStart);
}
ShutdownOutcome VmOps::shutdown(const VmRef&, const ShutdownOptions&, const ProgressFn&,
                                const CancelToken&) {
  unsupported(Operation::VmShutdown);
}
void VmOps::power_off(const VmRef&) {
  unsupported(Operation::VmPowerOff);
}
void VmOps::reboot(const VmRef&) {
  unsupported(Operation::VmReboot);
}
void VmOps::reset(const VmRef&) {
  unsupported(Operation::VmReset);
}
void VmOps::suspend(const VmRef&) {
  unsupported(Operation::VmSuspend);
}
void VmOps::resume(const VmRef&) {
  unsupported(Operation::VmResume);
}
void VmOps::save(const VmRef&) {
  unsupported(Operation::VmSave);
}
DeleteReport VmOps::remove(const VmRef&, const DeleteOptions& options) {
  unsupported(options.with_storage ? Operation::VmDeleteWithStorage : Operation::VmDelete);
}
VmInfo VmOps::set_resources(const VmRef&, const ResourceSettings&) {
  unsupported(Operation::VmSetResources);
}
void VmOps::set_autostart(const VmRef&, bool) {
  unsupported(Operation::VmAutostart);
}
VmInfo VmOps::set_property(const VmRef&, const std::string&, const std::string&) {
  unsupported(Operation::VmSetProperty);
}
std::string VmOps::export_config(const VmRef&) {
  unsupported(Operation::VmExportConfig);
}

std::vector<Snapshot> SnapshotOps::list(const VmRef&) {
  unsupported(Operation::SnapshotList);
}
Snapshot SnapshotOps::create(const VmRef&, const SnapshotSpec&) {
  unsupported(Operation::SnapshotCreate);
}
void SnapshotOps::revert(const VmRef&, const std::string&) {
  unsupported(Operation::SnapshotRevert);
}
void SnapshotOps::remove(const VmRef&, const std::string&, bool) {
  unsupported(Operation::SnapshotDelete);
}

std::vector<Pool> StorageOps::list_pools() {
  unsupported(Operation::PoolList);
}
Pool StorageOps::get_pool(const std::string&) {
  unsupported(Operation::PoolInfo);
}
Pool StorageOps::create_pool(const std::string&, const std::string&) {
  unsupported(Operation::PoolCreate);
}
void StorageOps::start_pool(const std::string&) {
  unsupported(Operation::PoolStart);
}
void StorageOps::stop_pool(const std::string&) {
  unsupported(Operation::PoolStop);
}
void StorageOps::refresh_pool(const std::string&) {
  unsupported(Operation::PoolRefresh);
}
void StorageOps::remove_pool(const std::string&) {
  unsupported(Operation::PoolDelete);
}
std::vector<Volume> StorageOps::list_volumes(const std::string&) {
  unsupported(Operation::VolumeList);
}
Volume StorageOps::get_volume(const std::string&, const std::string&) {
  unsupported(Operation::VolumeInfo);
}
Volume StorageOps::create_volume(const VolumeSpec&) {
  unsupported(Operation::VolumeCreate);
}
void StorageOps::remove_volume(const std::string&, const std::string&) {
  unsupported(Operation::VolumeDelete);
}
Volume StorageOps::resize_volume(const std::string&, const std::string&, std::uint64_t,
                                 const ResizeOptions&) {
  unsupported(Operation::VolumeResize);
}
Volume StorageOps::clone_volume(const std::string&, const std::string&, const VolumeSpec&,
                                const ProgressFn&, const CancelToken&) {
  unsupported(Operation::VolumeClone);
}
void StorageOps::upload_volume(const std::string&, const std::string&, const std::string&,
                               const TransferOptions&, const ProgressFn&, const CancelToken&) {
  unsupported(Operation::VolumeUpload);
}
void StorageOps::download_volume(const std::string&, const std::string&, const std::string&,
                                 const TransferOptions&, const ProgressFn&, const CancelToken&) {
  unsupported(Operation::VolumeDownload);
}

std::vector<Network> NetworkOps::list() {
  unsupported(Operation::NetworkList);
}
Network NetworkOps::get(const std::string&) {
  unsupported(Operation::NetworkInfo);
}
void NetworkOps::start(const std::string&) {
  unsupported(Operation::NetworkStart);
}
void NetworkOps::stop(const std::string&) {
  unsupported(Operation::NetworkStop);
}

PreflightReport MigrationOps::preflight(const VmRef&, Connection&, const MigrationOptions&) {
  unsupported(Operation::MigratePreflight);
}
VmInfo MigrationOps::migrate(const VmRef&, Connection&, const MigrationOptions& options,
                             const ProgressFn&, const CancelToken&) {
  unsupported(options.mode == MigrationMode::Live ? Operation::MigrateLive
                                                  : Operation::MigrateOffline);
}

VmInfo MigrationOps::resume(const std::string&, Connection&, const ProgressFn&,
                            const CancelToken&) {
  unsupported(Operation::MigrateOffline);
}
void MigrationOps::rollback(const std::string&, Connection&) {
  unsupported(Operation::MigrateOffline);
}

HostInfo HostOps::info() {
  unsupported(Operation::HostInfo);
}
void HostOps::shutdown(bool) {
  unsupported(Operation::HostShutdown);
}

// Groups a backend does not override: every call answers Unsupported.
struct Connection::Unsupported {
  explicit Unsupported(const std::string& b)
      : vms(b), snapshots(b), storage(b), networks(b), migration(b), host(b) {}
  VmOps vms;
  SnapshotOps snapshots;
  StorageOps storage;
  NetworkOps networks;
  MigrationOps migration;
  HostOps host;
};

Connection::Connection(std::string backend_name) : backend_(std::move(backend_name)) {}
Connection::~Connection() = default;

Connection::Unsupported& Connection::fallback() {
  if (!unsupported_) unsupported_ = std::make_unique<Unsupported>(backend_);
  return *unsupported_;
}

VmOps& Connection::vms() {
  return fallback().vms;
}
SnapshotOps& Connection::snapshots() {
  return fallback().snapshots;
}
StorageOps& Connection::storage() {
  return fallback().storage;
}
NetworkOps& Connection::networks() {
  return fallback().networks;
}
MigrationOps& Connection::migration() {
  return fallback().migration;
}
HostOps& Connection::host() {
  return fallback().host;
}

}  // namespace hyperctl
