// One session with one host or manager, grouped by concern. Every group's
// methods default to throwing ErrorCode::Unsupported (naming the backend and
// the operation), so a backend overrides only what it offers and declares
// exactly that in its Capabilities.
//
// Threading: a Connection and its groups are used from one thread at a time.
// Lifetime: objects returned by a Connection are plain values; the group
// references live as long as the Connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/portable.hpp"
#include "hyperctl/types.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl {

class Connection;

/// Base of every operation group: knows the backend name for messages.
class OperationGroup {
 public:
  explicit OperationGroup(std::string backend) : backend_(std::move(backend)) {}
  virtual ~OperationGroup() = default;
  OperationGroup(const OperationGroup&) = delete;
  OperationGroup& operator=(const OperationGroup&) = delete;

  const std::string& backend_name() const { return backend_; }

 protected:
  /// Throws Error(Unsupported): "<backend> does not support <operation>".
  [[noreturn]] void unsupported(Operation op) const;

 private:
  std::string backend_;
};

/// VM lifecycle. Every call that names a VM throws Error(NotFound) when no VM
/// matches, Error(Conflict) when the VM is in the wrong state.
class VmOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;

  /// All VMs (defined and running) that match `filter`, in the backend's order.
  virtual std::vector<VmInfo> list(const VmFilter& filter);
  virtual VmInfo get(const VmRef& vm);
  /// Creates (defines) a VM from a spec, creating new disk volumes as asked.
  /// On failure nothing created by the call is left behind.
  virtual VmInfo create(const VmSpec& spec);
  /// Defines a VM from the backend's native configuration document.
  virtual VmInfo define(const std::string& native_config);
  virtual void start(const VmRef& vm);
  /// Asks the guest to shut down and waits up to options.timeout. On timeout:
  /// powers off when options.force, else throws Error(Timeout) with the VM
  /// still running. Cancelling stops waiting and leaves the VM running.
  virtual ShutdownOutcome shutdown(const VmRef& vm, const ShutdownOptions& options,
                                   const ProgressFn& progress, const CancelToken& cancel);
  virtual void power_off(const VmRef& vm);
  virtual void reboot(const VmRef& vm);
  virtual void reset(const VmRef& vm);
  /// Pause: vCPUs stop, memory stays in RAM.
  virtual void suspend(const VmRef& vm);
  virtual void resume(const VmRef& vm);
  /// Saves memory to disk and stops the VM (managed save / hibernate);
  /// start() restores it.
  virtual void save(const VmRef& vm);
  /// Deletes the VM. A VM with snapshots needs options.snapshots (Conflict
  /// otherwise, nothing changed). With options.with_storage its disks go too,
  /// whole backing chains included, except disks another VM uses: those stay
  /// and are listed in DeleteReport::kept with the reason.
  virtual DeleteReport remove(const VmRef& vm, const DeleteOptions& options);
  /// All or nothing: every setting is validated (limits included) before
  /// anything changes; a failure leaves configuration and running VM as they
  /// were. A live change of a stopped VM is Conflict.
  virtual VmInfo set_resources(const VmRef& vm, const ResourceSettings& settings);
  virtual void set_autostart(const VmRef& vm, bool enabled);
  /// Sets one backend-specific property that has no place in the common
  /// model (WSL: "default", "version", "sparse", "location"). An unknown key
  /// or a bad value is Error(InvalidArgument) naming the keys and values the
  /// backend accepts. Returns the VM as it is afterwards.
  virtual VmInfo set_property(const VmRef& vm, const std::string& key, const std::string& value);
  /// The backend's native configuration: libvirt XML, vSphere config JSON,
  /// Hyper-V VM JSON. Never contains secrets.
  virtual std::string export_config(const VmRef& vm);

  /// The VM in the portable form (hyperctl/portable.hpp) that a migration
  /// to another family carries: every disk with the pool and volume
  /// StorageOps::export_disk reads, NICs, firmware. What the form cannot
  /// carry is named in PortableVm::left_out. (Operation::MigrateCross)
  virtual PortableVm describe(const VmRef& vm);
  /// Defines a VM from a description made by another backend, its disks
  /// being the volumes in `how.disks` (one per vm.disks, same order, made by
  /// StorageOps::import_disk). The backend chooses devices the guest already
  /// has drivers for (see docs/cross-family.md) unless `how` names them.
  /// On failure nothing created by the call is left behind.
  /// (Operation::MigrateCross)
  virtual VmInfo create_from(const PortableVm& vm, const PortableCreate& how);
};

/// Snapshots (libvirt), snapshots (vSphere), checkpoints (Hyper-V). A missing
/// snapshot is Error(NotFound).
class SnapshotOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;
  /// Every snapshot of the VM, parents before children (a tree in pre-order).
  virtual std::vector<Snapshot> list(const VmRef& vm);
  /// Takes a snapshot; spec.name empty: the backend picks one. A name that
  /// validate_snapshot_name() (hyperctl/rules.hpp) refuses is InvalidArgument.
  virtual Snapshot create(const VmRef& vm, const SnapshotSpec& spec);
  /// Returns the VM to the snapshot: disks, and memory/state when it has them.
  virtual void revert(const VmRef& vm, const std::string& snapshot);
  /// Deletes one snapshot (its children move to its parent), or with
  /// `with_children` the whole subtree.
  virtual void remove(const VmRef& vm, const std::string& snapshot, bool with_children);
};

/// Pools (libvirt pools, vSphere datastores, Hyper-V folders) and the
/// volumes (virtual disks, ISOs) in them. Names are pool-relative; a missing
/// pool or volume is Error(NotFound).
class StorageOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;
  virtual std::vector<Pool> list_pools();
  virtual Pool get_pool(const std::string& name);
  /// Defines, builds (creates the folder) and starts a directory pool that
  /// starts with its host.
  virtual Pool create_pool(const std::string& name, const std::string& path);
  virtual void start_pool(const std::string& name);
  virtual void stop_pool(const std::string& name);
  /// Rescans the pool for volumes added or removed behind its back.
  virtual void refresh_pool(const std::string& name);
  /// Stops and forgets the pool; its folder and volumes stay on disk.
  virtual void remove_pool(const std::string& name);

  virtual std::vector<Volume> list_volumes(const std::string& pool);
  /// One volume, with the VMs that use it (Volume::used_by).
  virtual Volume get_volume(const std::string& pool, const std::string& name);
  virtual Volume create_volume(const VolumeSpec& spec);
  /// Refuses (Conflict, naming the VMs) a volume a VM uses.
  virtual void remove_volume(const std::string& pool, const std::string& name);
  /// Sets the capacity to `capacity_bytes`. A smaller capacity needs
  /// options.shrink and, below the data the volume holds, options.force
  /// (check_resize() in hyperctl/rules.hpp says both in one sentence);
  /// refused, nothing changes (Conflict).
  virtual Volume resize_volume(const std::string& pool, const std::string& name,
                               std::uint64_t capacity_bytes, const ResizeOptions& options = {});
  /// Copies `name` to `target` (target.pool may be another pool). Cancelled,
  /// it leaves no copy (Cancelled), or says that it could not stop it.
  virtual Volume clone_volume(const std::string& pool, const std::string& name,
                              const VolumeSpec& target, const ProgressFn& progress = {},
                              const CancelToken& cancel = {});
  /// Streams a local file into the volume (works over remote connections).
  /// Interrupted or failed, it leaves no volume that claims to be complete.
  virtual void upload_volume(const std::string& pool, const std::string& name,
                             const std::string& local_path, const TransferOptions& options,
                             const ProgressFn& progress, const CancelToken& cancel);
  /// Streams the volume into a local file. The file appears under its final
  /// name only once complete; an interrupted download leaves none.
  virtual void download_volume(const std::string& pool, const std::string& name,
                               const std::string& local_path, const TransferOptions& options,
                               const ProgressFn& progress, const CancelToken& cancel);

  /// A VM disk's bytes copied into a new local file `local_path`; returns
  /// their format ("raw", "qcow2", "vmdk", "vhdx"). vSphere gives a flat
  /// disk's extent (raw). Interrupted or failed, it leaves no file.
  /// (Operation::MigrateCross)
  virtual std::string export_disk(const std::string& pool, const std::string& name,
                                  const std::string& local_path, const ProgressFn& progress,
                                  const CancelToken& cancel);
  /// What import_disk takes for a disk whose bytes are `format` at its
  /// source: the format the caller converts to, and the volume name's
  /// extension. (Operation::MigrateCross)
  virtual ImportFormat import_format(const std::string& format);
  /// A new volume `spec.name` in `spec.pool`, of spec.capacity_bytes, holding
  /// the disk in `local_path` (in import_format's format). A name in use is
  /// AlreadyExists; failed or cancelled, no volume is left behind.
  /// export_disk of the new volume gives back the same bytes.
  /// (Operation::MigrateCross)
  virtual Volume import_disk(const VolumeSpec& spec, const std::string& local_path,
                             const ProgressFn& progress, const CancelToken& cancel);
};

class NetworkOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;
  virtual std::vector<Network> list();
  /// One network, with the VMs attached to it (Network::vms).
  virtual Network get(const std::string& name);
  virtual void start(const std::string& name);
  virtual void stop(const std::string& name);
};

class MigrationOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;
  virtual PreflightReport preflight(const VmRef& vm, Connection& target,
                                    const MigrationOptions& options);
  /// Moves the VM to `target`. If anything fails or is cancelled, the VM keeps
  /// running (or stays defined) on the source. Offline migrations record each
  /// step in a Journal (hyperctl/journal.hpp); the journal id is in the
  /// error's detail when one is interrupted.
  virtual VmInfo migrate(const VmRef& vm, Connection& target, const MigrationOptions& options,
                         const ProgressFn& progress, const CancelToken& cancel);
  /// Completes the interrupted offline migration journalled as `journal_id`
  /// (this connection is its source, `target` its target).
  virtual VmInfo resume(const std::string& journal_id, Connection& target,
                        const ProgressFn& progress, const CancelToken& cancel);
  /// Undoes what the journalled offline migration did on the target; the
  /// source is left exactly as it was.
  virtual void rollback(const std::string& journal_id, Connection& target);
};

class HostOps : public OperationGroup {
 public:
  using OperationGroup::OperationGroup;
  virtual HostInfo info();
  /// Stops the hypervisor itself with everything it runs (WSL: every
  /// distribution and the utility VM, `wsl --shutdown`). `force` skips the
  /// graceful path where the platform has one.
  virtual void shutdown(bool force);
};

/// One open session. Backends derive from it and override the groups they
/// implement; the others answer Unsupported.
class Connection {
 public:
  explicit Connection(std::string backend_name);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& backend_name() const { return backend_; }
  /// The URI this connection was opened with (no password ever).
  virtual const Uri& uri() const = 0;

  virtual VmOps& vms();
  virtual SnapshotOps& snapshots();
  virtual StorageOps& storage();
  virtual NetworkOps& networks();
  virtual MigrationOps& migration();
  virtual HostOps& host();

 private:
  std::string backend_;
  struct Unsupported;
  std::unique_ptr<Unsupported> unsupported_;
  Unsupported& fallback();
};

}  // namespace hyperctl
