#include "domain_xml.hpp"

#include <algorithm>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

using escape::xml_attr;
using escape::xml_text;

// vda..vdz, sda.. for SATA/SCSI disks and CD-ROMs, hda.. for IDE: 26 of
// each is plenty for a new VM.
std::string target_name(const char* prefix, std::size_t index) {
  if (index >= 26)
    throw Error(ErrorCode::InvalidArgument, "a new VM can have at most 26 disks", "vm.create");
  return std::string(prefix) + static_cast<char>('a' + index);
}

}  // namespace

std::string build_domain_xml(const DomainPlan& plan) {
  std::string x;
  x += "<domain type='" + xml_attr(plan.domain_type) + "'>\n";
  x += "  <name>" + xml_text(plan.name) + "</name>\n";
  x += "  <memory unit='KiB'>" + std::to_string(plan.memory_kib) + "</memory>\n";
  x += "  <currentMemory unit='KiB'>" + std::to_string(plan.memory_kib) + "</currentMemory>\n";
  x += "  <vcpu>" + std::to_string(plan.vcpus) + "</vcpu>\n";
  x += "  <os";
  if (!plan.firmware.empty()) x += " firmware='" + xml_attr(plan.firmware) + "'";
  x += ">\n    <type";
  if (!plan.arch.empty()) x += " arch='" + xml_attr(plan.arch) + "'";
  x += ">" + xml_text(plan.os_type) + "</type>\n";
  const bool has_cdrom =
      std::any_of(plan.disks.begin(), plan.disks.end(), [](const DiskPlan& d) { return d.cdrom; });
  if (plan.os_type == "exe") {
    x += "    <init>/sbin/init</init>\n";
  } else {
    if (has_cdrom) x += "    <boot dev='cdrom'/>\n";
    x += "    <boot dev='hd'/>\n";
  }
  x += "  </os>\n";
  if (plan.acpi) x += "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n";
  x += "  <devices>\n";
  std::size_t disks = 0, sd = 0, hd = 0;
  for (const auto& d : plan.disks) {
    const char* kind = d.block_device ? "block" : "file";
    const char* source_attr = d.block_device ? "dev" : "file";
    x += std::string("    <disk type='") + kind + "' device='" + (d.cdrom ? "cdrom" : "disk") +
         "'>\n";
    if (plan.domain_type != "test" && !d.format.empty())
      x += "      <driver name='qemu' type='" + xml_attr(d.format) + "'/>\n";
    else if (!d.format.empty())
      x += "      <driver type='" + xml_attr(d.format) + "'/>\n";
    x += std::string("      <source ") + source_attr + "='" + xml_attr(d.path) + "'/>\n";
    if (d.cdrom) {
      x += "      <target dev='" + target_name("sd", sd++) + "' bus='sata'/>\n";
      x += "      <readonly/>\n";
    } else if (d.bus.empty() || d.bus == "virtio") {
      x += "      <target dev='" + target_name("vd", disks++) + "' bus='virtio'/>\n";
    } else if (d.bus == "sata" || d.bus == "scsi") {
      x += "      <target dev='" + target_name("sd", sd++) + "' bus='" + d.bus + "'/>\n";
    } else if (d.bus == "ide") {
      x += "      <target dev='" + target_name("hd", hd++) + "' bus='ide'/>\n";
    } else {
      throw Error(ErrorCode::InvalidArgument,
                  "disk bus '" + xml_attr(d.bus) + "' is none of virtio, sata, scsi, ide",
                  "vm.create");
    }
    x += "    </disk>\n";
  }
  for (const auto& net : plan.networks) {
    x += "    <interface type='network'>\n";
    x += "      <source network='" + xml_attr(net) + "'/>\n";
    if (plan.domain_type != "lxc") x += "      <model type='virtio'/>\n";
    x += "    </interface>\n";
  }
  for (const auto& nic : plan.nics) {
    x += "    <interface type='network'>\n";
    if (!nic.mac.empty()) x += "      <mac address='" + xml_attr(nic.mac) + "'/>\n";
    x += "      <source network='" + xml_attr(nic.network) + "'/>\n";
    if (!nic.model.empty()) x += "      <model type='" + xml_attr(nic.model) + "'/>\n";
    x += "    </interface>\n";
  }
  if (plan.serial_console)
    x += "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
         "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  x += "  </devices>\n</domain>\n";
  return x;
}

DomainDetails parse_domain_xml(const std::string& xml) {
  auto doc = XmlDoc::parse(xml, "a domain description");
  DomainDetails out;
  out.name = doc.value("/domain/name");
  out.uuid = doc.value("/domain/uuid");
  out.domain_type = doc.value("/domain/@type");
  out.os_type = doc.value("/domain/os/type");
  out.firmware = doc.value("/domain/os/@firmware");
  out.loader = !doc.select("/domain/os/loader").empty();
  for (const auto& m : doc.select("/domain/metadata/*"))
    if (m.name() == "libosinfo" && m.child("os")) out.libosinfo_os = m.child("os").attr("id");
  for (const auto& disk : doc.select("/domain/devices/disk")) {
    DiskInfo info;
    DiskSource src;
    info.device = src.device = disk.attr("device").empty() ? "disk" : disk.attr("device");
    info.target = src.target = disk.child("target").attr("dev");
    src.bus = disk.child("target").attr("bus");
    info.format = disk.child("driver").attr("type");
    auto source = disk.child("source");
    const std::string type = disk.attr("type");
    if (type == "volume") {
      src.pool = source.attr("pool");
      src.volume = source.attr("volume");
      info.path = src.pool + "/" + src.volume;
    } else if (type == "block") {
      src.path = info.path = source.attr("dev");
    } else if (type == "dir") {
      src.path = info.path = source.attr("dir");
    } else if (type == "network") {
      info.path = source.attr("protocol") + ":" + source.attr("name");
    } else {
      src.path = info.path = source.attr("file");
    }
    for (auto b = disk.child("backingStore"); b; b = b.child("backingStore")) {
      auto bs = b.child("source");
      std::string file = bs.attr("file").empty() ? bs.attr("dev") : bs.attr("file");
      if (file.empty()) break;
      src.backing.push_back(std::move(file));
    }
    out.disks.push_back(std::move(info));
    out.sources.push_back(std::move(src));
  }
  for (const auto& iface : doc.select("/domain/devices/interface")) {
    NicInfo nic;
    nic.mac = iface.child("mac").attr("address");
    auto source = iface.child("source");
    for (const char* key : {"network", "bridge", "dev", "portgroup"}) {
      nic.network = source.attr(key);
      if (!nic.network.empty()) break;
    }
    nic.model = iface.child("model").attr("type");
    out.nics.push_back(std::move(nic));
  }
  return out;
}

}  // namespace hyperctl::lv
