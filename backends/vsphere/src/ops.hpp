// The operation groups of the vSphere backend. Each lives in its own .cpp
// (vm_ops, snapshot_ops, storage_ops, network_ops, host_ops, migration);
// helpers a group alone needs stay in that file's anonymous namespace.
#pragma once

#include "connection.hpp"
#include "hyperctl/capabilities.hpp"

namespace hyperctl::vsphere {

/// What the backend offers (backend.cpp builds its Capabilities from these).
Capabilities vm_capabilities();
Capabilities snapshot_capabilities();
Capabilities storage_capabilities();
Capabilities network_capabilities();
Capabilities host_capabilities();
Capabilities migration_capabilities();

class VsphereVmOps final : public VmOps {
 public:
  explicit VsphereVmOps(VsphereConnection& c) : VmOps(kBackendName), c_(c) {}
  std::vector<VmInfo> list(const VmFilter& filter) override;
  VmInfo get(const VmRef& vm) override;
  VmInfo create(const VmSpec& spec) override;
  void start(const VmRef& vm) override;
  ShutdownOutcome shutdown(const VmRef& vm, const ShutdownOptions& options,
                           const ProgressFn& progress, const CancelToken& cancel) override;
  void power_off(const VmRef& vm) override;
  void reboot(const VmRef& vm) override;
  void reset(const VmRef& vm) override;
  void suspend(const VmRef& vm) override;
  void resume(const VmRef& vm) override;
  /// SuspendVM_Task: vSphere's suspend is exactly a save (memory to disk);
  /// suspend (a pause in RAM) answers Unsupported.
  void save(const VmRef& vm) override;
  DeleteReport remove(const VmRef& vm, const DeleteOptions& options) override;
  VmInfo set_resources(const VmRef& vm, const ResourceSettings& settings) override;
  std::string export_config(const VmRef& vm) override;
  PortableVm describe(const VmRef& vm) override;
  VmInfo create_from(const PortableVm& vm, const PortableCreate& how) override;

  /// Device choices create() makes by itself, set by create_from.
  struct Hardware {
    std::string controller;         ///< SCSI/SATA/IDE controller type; empty: by guest id
    std::string nic_type;           ///< VirtualE1000, VirtualVmxnet3...; empty: VirtualVmxnet3
    std::vector<std::string> macs;  ///< per NIC; empty entry: generated
  };

 private:
  VsphereConnection& c_;
  VmInfo create_impl(const VmSpec& spec, const Hardware& hw);
};

class VsphereSnapshotOps final : public SnapshotOps {
 public:
  explicit VsphereSnapshotOps(VsphereConnection& c) : SnapshotOps(kBackendName), c_(c) {}
  std::vector<Snapshot> list(const VmRef& vm) override;
  Snapshot create(const VmRef& vm, const SnapshotSpec& spec) override;
  void revert(const VmRef& vm, const std::string& snapshot) override;
  void remove(const VmRef& vm, const std::string& snapshot, bool with_children) override;

 private:
  VsphereConnection& c_;
};

class VsphereStorageOps final : public StorageOps {
 public:
  explicit VsphereStorageOps(VsphereConnection& c) : StorageOps(kBackendName), c_(c) {}
  std::vector<Pool> list_pools() override;
  Pool get_pool(const std::string& name) override;
  void refresh_pool(const std::string& name) override;
  std::vector<Volume> list_volumes(const std::string& pool) override;
  Volume get_volume(const std::string& pool, const std::string& name) override;
  Volume create_volume(const VolumeSpec& spec) override;
  void remove_volume(const std::string& pool, const std::string& name) override;
  Volume clone_volume(const std::string& pool, const std::string& name, const VolumeSpec& target,
                      const ProgressFn& progress, const CancelToken& cancel) override;
  void upload_volume(const std::string& pool, const std::string& name,
                     const std::string& local_path, const TransferOptions& options,
                     const ProgressFn& progress, const CancelToken& cancel) override;
  void download_volume(const std::string& pool, const std::string& name,
                       const std::string& local_path, const TransferOptions& options,
                       const ProgressFn& progress, const CancelToken& cancel) override;
  /// A flat VMDK's extent (raw), or a sparse VMDK's own file (vmdk).
  std::string export_disk(const std::string& pool, const std::string& name,
                          const std::string& local_path, const ProgressFn& progress,
                          const CancelToken& cancel) override;
  /// Raw bytes, stored as a flat VMDK: the extent uploaded as is, and a
  /// descriptor ESXi reads (createType "vmfs").
  ImportFormat import_format(const std::string& format) override;
  Volume import_disk(const VolumeSpec& spec, const std::string& local_path,
                     const ProgressFn& progress, const CancelToken& cancel) override;
  /// "raw" when the VMDK `name` in `pool` is a descriptor with one flat
  /// extent, "vmdk" when it is a sparse VMDK in one file.
  std::string disk_format(const std::string& pool, const std::string& name);
  /// The volume name of the datastore file `rel` ("vm/vm.vmdk" -> "vm/vm").
  static std::string volume_name(const std::string& rel);

 private:
  VsphereConnection& c_;
};

class VsphereNetworkOps final : public NetworkOps {
 public:
  explicit VsphereNetworkOps(VsphereConnection& c) : NetworkOps(kBackendName), c_(c) {}
  std::vector<Network> list() override;
  Network get(const std::string& name) override;

 private:
  VsphereConnection& c_;
};

class VsphereHostOps final : public HostOps {
 public:
  explicit VsphereHostOps(VsphereConnection& c) : HostOps(kBackendName), c_(c) {}
  HostInfo info() override;

 private:
  VsphereConnection& c_;
};

class VsphereMigrationOps final : public MigrationOps {
 public:
  explicit VsphereMigrationOps(VsphereConnection& c) : MigrationOps(kBackendName), c_(c) {}
  PreflightReport preflight(const VmRef& vm, Connection& target,
                            const MigrationOptions& options) override;
  VmInfo migrate(const VmRef& vm, Connection& target, const MigrationOptions& options,
                 const ProgressFn& progress, const CancelToken& cancel) override;

 private:
  VsphereConnection& c_;
};

}  // namespace hyperctl::vsphere
