// Domain XML: generated for create(), parsed for get() and remove().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hyperctl/types.hpp"

namespace hyperctl::lv {

/// One disk of a domain to generate. Every string is user data and is
/// escaped by build_domain_xml.
struct DiskPlan {
  std::string path;
  std::string format;  ///< driver type: qcow2, raw, ...
  bool cdrom = false;
  bool block_device = false;  ///< <disk type='block'> instead of 'file'
  /// virtio (default for a disk), sata, scsi or ide; a CD-ROM is always sata.
  std::string bus;
};

/// A NIC with its MAC and model (create_from); create() uses `networks`.
struct NicPlan {
  std::string network;
  std::string mac;    ///< empty: libvirt picks one
  std::string model;  ///< virtio, e1000, e1000e, rtl8139...
};

struct DomainPlan {
  std::string domain_type;  ///< test, kvm, qemu, xen, lxc
  std::string os_type;      ///< hvm or exe
  std::string arch;         ///< empty: libvirt's default
  std::string name;
  unsigned vcpus = 1;
  std::uint64_t memory_kib = 0;
  std::vector<DiskPlan> disks;
  std::vector<std::string> networks;
  std::vector<NicPlan> nics;  ///< after `networks`
  bool acpi = false;
  /// A serial port with a console on it (a way in for a guest whose
  /// graphics drivers are not known).
  bool serial_console =
      false;  ///< <features><acpi/><apic/></features>, needed for graceful shutdown
  /// <os firmware='...'>: "efi" asks libvirt to pick a UEFI firmware; empty:
  /// the driver's default (SeaBIOS on x86 QEMU).
  std::string firmware;
};

/// The domain XML for `plan`. A plan with a CD-ROM boots from it first, then
/// from the first hard disk. Throws Error(InvalidArgument) when a string
/// cannot be carried by XML (control characters, invalid UTF-8).
std::string build_domain_xml(const DomainPlan& plan);

/// Where a disk's data lives, as the domain XML says.
struct DiskSource {
  std::string device;  ///< disk, cdrom, floppy, lun
  std::string path;    ///< file or dev; empty for type='volume'
  std::string pool;    ///< type='volume' only
  std::string volume;  ///< type='volume' only
  std::string target;
  std::string bus;  ///< <target bus=...>
  /// Files below `path` that the XML names in <backingStore> (a running VM's
  /// XML lists its whole chain), top first.
  std::vector<std::string> backing;
};

struct DomainDetails {
  std::string name;
  std::string uuid;
  std::string domain_type;
  std::string os_type;
  std::string firmware;      ///< <os firmware=...>, "" when not set
  bool loader = false;       ///< an <os><loader> (UEFI set by hand)
  std::string libosinfo_os;  ///< <metadata><libosinfo:os id=...>, "" when none
  std::vector<DiskInfo> disks;
  std::vector<DiskSource> sources;  ///< same order as disks
  std::vector<NicInfo> nics;
};

DomainDetails parse_domain_xml(const std::string& xml);

}  // namespace hyperctl::lv
