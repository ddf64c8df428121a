// A VM described the same way on every backend: what a migration between
// families (and an OVF import or export) carries from one hypervisor's
// configuration to another's. Each backend maps its native configuration
// (libvirt XML, a vSphere config spec, a Hyper-V VM) from and to it
// (VmOps::describe, VmOps::create_from).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hyperctl/types.hpp"

namespace hyperctl {

struct PortableDisk {
  std::string id;                      ///< the source's device name: vda, sda, scsi0:1, "SCSI 0:1"
  std::string bus;                     ///< virtio, sata, scsi, ide, nvme
  std::string format;                  ///< the bytes export_disk gives: raw, qcow2, vmdk, vhdx, vpc
  std::uint64_t capacity_bytes = 0;    ///< guest-visible size
  std::uint64_t allocation_bytes = 0;  ///< what it takes on its store; 0 when unknown
  /// Where the source keeps it: the arguments of StorageOps::export_disk.
  std::string pool;
  std::string volume;
  std::string path;  ///< its file on the source's host, for messages
};

struct PortableNic {
  std::string mac;      ///< 52:54:00:12:34:56; empty: the target picks one
  std::string network;  ///< network, bridge, port group or switch
  std::string model;    ///< the source's model: virtio, e1000, e1000e, vmxnet3, rtl8139, synthetic
};

struct PortableVm {
  std::string name;
  std::string id;      ///< the source's stable id (for messages and journals)
  std::string family;  ///< the backend that described it ("libvirt")
  unsigned vcpus = 1;
  std::uint64_t memory_bytes = 0;
  std::string firmware = "bios";  ///< "bios" or "uefi"
  std::string guest_os;           ///< the source's own word (libvirt metadata, vSphere guestId)
  /// "linux", "windows" or "other": what device choices depend on.
  std::string os_family = "other";
  std::vector<PortableDisk> disks;  ///< boot disk first
  std::vector<PortableNic> nics;
  /// What the description leaves out, one clause each ("the media in sda is
  /// not carried"): reported as warnings.
  std::vector<std::string> left_out;
};

/// How VmOps::create_from builds the VM.
struct PortableCreate {
  std::vector<Volume> disks;  ///< disks[i] holds vm.disks[i]
  std::string disk_bus;       ///< empty: the backend's choice for a guest from elsewhere
  bool new_mac = false;       ///< let the target pick MAC addresses
};

/// What StorageOps::import_disk takes: the disk format to convert to, and
/// the extension of the volume's name (".qcow2", ".vmdk", ".vhdx").
struct ImportFormat {
  std::string format;
  std::string extension;
};

/// JSON text of a description (for journals) and back; from_json throws
/// Error(InvalidArgument) on text it did not write.
std::string portable_to_json(const PortableVm& vm);
PortableVm portable_from_json(const std::string& text);

}  // namespace hyperctl
