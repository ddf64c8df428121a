// A connection of the vSphere backend: its Session and the look-ups every
// operation group shares (VM resolution and description, the datacenter).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"
#include "session.hpp"

namespace hyperctl::vsphere {

class VsphereVmOps;
class VsphereSnapshotOps;
class VsphereStorageOps;
class VsphereNetworkOps;
class VsphereHostOps;
class VsphereMigrationOps;

/// A VM as listed: its reference, its description, and the raw properties.
struct VmObject {
  MoRef ref;
  VmInfo info;
  ObjectContent raw;
};

/// moref value -> display name, for hosts, datastores and networks.
using NameMap = std::map<MoRef, std::string>;

struct Datacenter {
  MoRef ref;
  std::string name;  ///< decoded
  /// Its inventory path under the root folder, names as stored (encoded):
  /// "DC0", or "Folder1/DC0" for a datacenter in a folder. What /folder
  /// transfers take as dcPath.
  std::string path;
  MoRef vm_folder, host_folder, datastore_folder, network_folder;
};

class VsphereConnection final : public Connection {
 public:
  VsphereConnection(Uri uri, std::unique_ptr<Session> session);
  ~VsphereConnection() override;

  const Uri& uri() const override { return uri_; }
  VmOps& vms() override;
  SnapshotOps& snapshots() override;
  StorageOps& storage() override;
  NetworkOps& networks() override;
  MigrationOps& migration() override;
  HostOps& host() override;

  Session& session() { return *session_; }

  /// The VirtualMachine paths describe() reads; get and resolve ask for
  /// exactly these (plus name of HostSystem, Datastore, Network).
  static const std::vector<std::string>& vm_paths();
  /// The VirtualMachine paths list_vms() reads: what a listing shows, no
  /// devices (summary.config, runtime.powerState, runtime.host,
  /// summary.storage: 1.4 KB a VM from the simulator instead of 8).
  static const std::vector<std::string>& list_paths();
  /// The VMs that match `filter`, light: name, ids, state, vCPUs, memory,
  /// guest id, host name, disk_bytes (provisioned: summary.storage committed +
  /// uncommitted), extras moref, template, bios_uuid; no disks, NICs or
  /// datastores (get() has them). One retrieve_each of list_paths() and the
  /// host names, read page by page. A VM being created (no config summary
  /// yet) has its moref as id and is named by one more call for such VMs
  /// only. Templates are included.
  std::vector<VmInfo> list_vms(const VmFilter& filter, const std::string& op);
  /// The VM `ref` names: its instance UUID (any case), else its BIOS UUID,
  /// else its moref value ("vm-42"), else its exact (decoded) name. Two VMs
  /// with that id or name: Error(Conflict) listing them with their ids. A
  /// reference that is one VM's id and exactly the name of a different VM:
  /// Error(Conflict) naming both with their ids (the same VM both ways is
  /// fine). None: Error(NotFound) naming the reference and the endpoint.
  /// Two round trips whatever the number of VMs: the names of every VM
  /// (and their UUIDs when `ref` could be one: 32 hex digits and hyphens),
  /// with the host, datastore and network names, then the chosen VM's
  /// vm_paths(); a conflict reads the instance UUIDs of the VMs it names.
  /// Scoped to the URI's datacenter when it names one.
  VmObject resolve(const VmRef& ref, const std::string& op);
  /// The same VM again after a change (one retrieve of vm_paths + names).
  VmObject refresh(const MoRef& vm, const std::string& op);
  /// VmInfo of one VM's properties: state from runtime.powerState
  /// (poweredOn Running, poweredOff Off, suspended Suspended), disks
  /// (VirtualDisk: "[ds] path", capacity, format vmdk, target "scsi0:0" from
  /// controller bus and unit), CD-ROMs with an ISO image (device cdrom,
  /// format iso, "[ds] path", capacity 0: the device does not say), NICs (MAC, network name, model
  /// e1000/vmxnet3), host name, guest id, extras: moref, template, bios_uuid, datastores.
  VmInfo describe(const ObjectContent& vm, const NameMap& names) const;

  /// The datacenter the connection works in: the URI path's, else the only
  /// one. Several and none named: Error(InvalidArgument) listing them. One
  /// lookup per connection.
  const Datacenter& datacenter(const std::string& op);

 private:
  Uri uri_;
  std::unique_ptr<Session> session_;
  std::optional<Datacenter> datacenter_;
  std::unique_ptr<VsphereVmOps> vms_;
  std::unique_ptr<VsphereSnapshotOps> snapshots_;
  std::unique_ptr<VsphereStorageOps> storage_;
  std::unique_ptr<VsphereNetworkOps> networks_;
  std::unique_ptr<VsphereHostOps> host_;
  std::unique_ptr<VsphereMigrationOps> migration_;
};

/// The VsphereConnection behind `c`; nullptr for another backend's.
VsphereConnection* vsphere_connection_of(Connection& c);

/// Runs `f`, turning any foreign exception into an Error.
template <class F>
decltype(auto) guarded(const std::string& op, F&& f) {
  return guard_foreign("the vsphere backend", op, std::forward<F>(f));
}

}  // namespace hyperctl::vsphere
