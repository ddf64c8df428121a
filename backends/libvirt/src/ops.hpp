// The operation groups of a libvirt connection.
#pragma once

#include <memory>

#include "hyperctl/connection.hpp"
#include "session.hpp"

namespace hyperctl::lv {

class LibvirtVmOps final : public VmOps {
 public:
  explicit LibvirtVmOps(Session& session) : VmOps(kBackendName), s_(session) {}

  std::vector<VmInfo> list(const VmFilter& filter) override;
  VmInfo get(const VmRef& vm) override;
  VmInfo create(const VmSpec& spec) override;
  VmInfo define(const std::string& native_config) override;
  void start(const VmRef& vm) override;
  ShutdownOutcome shutdown(const VmRef& vm, const ShutdownOptions& options,
                           const ProgressFn& progress, const CancelToken& cancel) override;
  void power_off(const VmRef& vm) override;
  void reboot(const VmRef& vm) override;
  void reset(const VmRef& vm) override;
  void suspend(const VmRef& vm) override;
  void resume(const VmRef& vm) override;
  void save(const VmRef& vm) override;
  DeleteReport remove(const VmRef& vm, const DeleteOptions& options) override;
  VmInfo set_resources(const VmRef& vm, const ResourceSettings& settings) override;
  void set_autostart(const VmRef& vm, bool enabled) override;
  std::string export_config(const VmRef& vm) override;
  PortableVm describe(const VmRef& vm) override;
  VmInfo create_from(const PortableVm& vm, const PortableCreate& how) override;

 private:
  Session& s_;
  VmInfo describe(virDomainPtr dom, const std::string& operation);
  PortableVm describe_impl(const VmRef& vm);
  VmInfo create_from_impl(const PortableVm& vm, const PortableCreate& how);
  VmInfo create_impl(const VmSpec& spec);
  DeleteReport remove_impl(const VmRef& vm, const DeleteOptions& options);
  ShutdownOutcome shutdown_impl(const VmRef& vm, const ShutdownOptions& options,
                                const ProgressFn& progress, const CancelToken& cancel);
  VmInfo define_xml(const std::string& xml, const std::string& operation);
};

class LibvirtHostOps final : public HostOps {
 public:
  explicit LibvirtHostOps(Session& session) : HostOps(kBackendName), s_(session) {}
  HostInfo info() override;

 private:
  Session& s_;
};

class LibvirtNetworkOps final : public NetworkOps {
 public:
  explicit LibvirtNetworkOps(Session& session) : NetworkOps(kBackendName), s_(session) {}
  std::vector<Network> list() override;
  Network get(const std::string& name) override;
  void start(const std::string& name) override;
  void stop(const std::string& name) override;

 private:
  Session& s_;
};

class LibvirtSnapshotOps final : public SnapshotOps {
 public:
  explicit LibvirtSnapshotOps(Session& session) : SnapshotOps(kBackendName), s_(session) {}
  std::vector<Snapshot> list(const VmRef& vm) override;
  Snapshot create(const VmRef& vm, const SnapshotSpec& spec) override;
  void revert(const VmRef& vm, const std::string& snapshot) override;
  void remove(const VmRef& vm, const std::string& snapshot, bool with_children) override;

 private:
  Session& s_;
};

class LibvirtStorageOps final : public StorageOps {
 public:
  explicit LibvirtStorageOps(Session& session) : StorageOps(kBackendName), s_(session) {}
  std::vector<Pool> list_pools() override;
  Pool get_pool(const std::string& name) override;
  Pool create_pool(const std::string& name, const std::string& path) override;
  void start_pool(const std::string& name) override;
  void stop_pool(const std::string& name) override;
  void refresh_pool(const std::string& name) override;
  void remove_pool(const std::string& name) override;

  std::vector<Volume> list_volumes(const std::string& pool) override;
  Volume get_volume(const std::string& pool, const std::string& name) override;
  Volume create_volume(const VolumeSpec& spec) override;
  void remove_volume(const std::string& pool, const std::string& name) override;
  Volume resize_volume(const std::string& pool, const std::string& name,
                       std::uint64_t capacity_bytes, const ResizeOptions& options) override;
  Volume clone_volume(const std::string& pool, const std::string& name, const VolumeSpec& target,
                      const ProgressFn& progress, const CancelToken& cancel) override;
  void upload_volume(const std::string& pool, const std::string& name,
                     const std::string& local_path, const TransferOptions& options,
                     const ProgressFn& progress, const CancelToken& cancel) override;
  void download_volume(const std::string& pool, const std::string& name,
                       const std::string& local_path, const TransferOptions& options,
                       const ProgressFn& progress, const CancelToken& cancel) override;
  std::string export_disk(const std::string& pool, const std::string& name,
                          const std::string& local_path, const ProgressFn& progress,
                          const CancelToken& cancel) override;
  ImportFormat import_format(const std::string& format) override;
  Volume import_disk(const VolumeSpec& spec, const std::string& local_path,
                     const ProgressFn& progress, const CancelToken& cancel) override;

 private:
  Session& s_;
};

class LibvirtMigrationOps final : public MigrationOps {
 public:
  explicit LibvirtMigrationOps(Session& session) : MigrationOps(kBackendName), s_(session) {}
  PreflightReport preflight(const VmRef& vm, Connection& target,
                            const MigrationOptions& options) override;
  VmInfo migrate(const VmRef& vm, Connection& target, const MigrationOptions& options,
                 const ProgressFn& progress, const CancelToken& cancel) override;
  /// Offline migrations only (migration_offline.cpp).
  VmInfo resume(const std::string& journal_id, Connection& target, const ProgressFn& progress,
                const CancelToken& cancel) override;
  void rollback(const std::string& journal_id, Connection& target) override;

 private:
  Session& s_;
};

/// The Session of a connection opened by this backend; nullptr for a
/// connection of another backend (backend.cpp).
Session* session_of(Connection& connection);

}  // namespace hyperctl::lv
