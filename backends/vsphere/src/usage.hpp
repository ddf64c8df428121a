// Which datastore files the registered VMs stand on, so that no command
// deletes or replaces what a VM uses: a disk's backing file and every parent
// under it (a VM with snapshots or a linked clone writes to a delta whose
// parent is another disk), a CD-ROM's image, and every file in a VM's own
// folders (.vmx, .nvram, .vmsd, logs, snapshot deltas, swap...).
// volume delete and volume upload --overwrite refuse such files; vm.delete
// with storage keeps those another VM uses.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"
#include "connection.hpp"

namespace hyperctl::vsphere {

/// The files one VM uses, as datastore paths taken apart (raw datastore
/// names).
struct VmFiles {
  MoRef ref;
  std::string name;                  ///< decoded
  std::vector<DatastorePath> disks;  ///< disk backings and their parents, in device order
  std::map<std::string, std::uint64_t> capacity;  ///< "[ds] rel" of a disk -> its capacity
  std::vector<DatastorePath> media;               ///< CD-ROM and floppy images
  /// Its folders: the .vmx's, and the snapshot, suspend and log folders when
  /// elsewhere. A folder that is the datastore's root (rel "") holds the
  /// VM's files only by their name (`stem`.*, `stem`-*).
  std::vector<DatastorePath> folders;
  std::string stem;  ///< the .vmx's name without ".vmx"
};

/// Every VM the session sees (all datacenters: a datastore may be shared),
/// templates included: one retrieve_all.
std::vector<VmFiles> registered_vm_files(VsphereConnection& c, const std::string& op);

/// The users of datastore files, from the VMs given.
class FileUse {
 public:
  FileUse() = default;
  /// Every VM in `vms` but the one whose ref is `except` (may be empty).
  explicit FileUse(const std::vector<VmFiles>& vms, const MoRef& except = {});

  /// The VMs (names) that use `rel` on datastore `raw_ds`: as a disk, a
  /// parent disk or an image; for a disk's data extent ("x-flat.vmdk",
  /// "x-delta.vmdk", "x-sesparse.vmdk", "x-ctk.vmdk") through its descriptor
  /// "x.vmdk"; or because it lies in one of their folders.
  std::vector<std::string> users(const std::string& raw_ds, const std::string& rel) const;
  /// The capacity a VM's device gives the disk `rel`; 0 when none does.
  std::uint64_t capacity(const std::string& raw_ds, const std::string& rel) const;

 private:
  void add(const std::string& raw_ds, const std::string& rel, const std::string& vm);
  std::map<std::string, std::vector<std::string>> files_;  ///< ds '\n' rel -> VM names
  std::map<std::string, std::uint64_t> capacity_;
  struct Folder {
    DatastorePath where;
    std::string stem;
    std::string vm;
  };
  std::vector<Folder> folders_;
};

/// `rel` lies in the VM folder `folder` (a root folder: by the VM's `stem`).
bool in_vm_folder(const DatastorePath& folder, const std::string& stem, const std::string& raw_ds,
                  const std::string& rel);

/// "'a', 'b'" for messages.
std::string vm_names(const std::vector<std::string>& names);

/// What vm.delete with storage does to a VM's files, worked out before
/// anything changes (storage_ops.cpp): the VM's folders and the disks it
/// stands on (parents included) go, except files another VM uses (`kept`).
struct StoragePlan {
  struct Item {
    DatastorePath where;
    bool folder = false;  ///< a folder deleted whole (nothing in it is kept)
    bool disk = false;    ///< a disk outside the VM's folders: descriptor and extents
  };
  MoRef datacenter;  ///< the VM's (vCenter: the file calls name it); empty on ESXi
  std::vector<Item> doomed;
  std::vector<DatastorePath> disks;  ///< the VM's disks that go (for the report)
  std::vector<KeptDisk> kept;
};

/// The plan for `vm` (its files: `mine`), keeping what `others` use.
StoragePlan plan_vm_storage(VsphereConnection& c, const VmObject& vm, const VmFiles& mine,
                            const FileUse& others, const std::string& op);

/// Deletes what `plan` dooms, each on its own; a file already gone (the
/// server's Destroy_Task took it) counts as deleted. What could not be
/// deleted is added to `failed` ("'[ds] path': why").
DeleteReport delete_planned(VsphereConnection& c, const StoragePlan& plan,
                            std::vector<std::string>& failed, const std::string& op);

}  // namespace hyperctl::vsphere
