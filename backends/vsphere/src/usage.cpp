// The datastore files registered VMs use (usage.hpp).
#include "usage.hpp"

#include <algorithm>

namespace hyperctl::vsphere {
namespace {

std::string key_of(const std::string& raw_ds, const std::string& rel) {
  return raw_ds + '\n' + rel;
}

bool ends_with_ci(const std::string& s, std::string_view tail) {
  return s.size() > tail.size() &&
         lower_ascii(s.substr(s.size() - tail.size())) == std::string(tail);
}

/// The folder a datastore path names ("[ds] vm1/" or "[ds] vm1").
std::optional<DatastorePath> folder_path(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return split_datastore_path(text);
}

VmFiles files_of(const ObjectContent& o) {
  VmFiles vm;
  vm.ref = o.obj;
  vm.name = decode_name(xml::text(o.prop("name")));
  for (pugi::xml_node d : xml::elements(o.prop("config.hardware.device"))) {
    const pugi::xml_node backing = xml::child(d, "backing");
    if (!backing) continue;
    if (xml::xsi_type(d) == "VirtualDisk") {
      const std::int64_t bytes = xml::i64(d, "capacityInBytes", -1);
      const std::uint64_t capacity =
          bytes >= 0
              ? static_cast<std::uint64_t>(bytes)
              : static_cast<std::uint64_t>(std::max<std::int64_t>(0, xml::i64(d, "capacityInKB")))
                    << 10;
      // The backing's parents: a delta's base disk (snapshots, linked clones).
      int depth = 0;
      for (pugi::xml_node b = backing; b && depth < 256; b = xml::child(b, "parent"), ++depth) {
        const std::string file = xml::text(b, "fileName");
        if (auto where = split_datastore_path(file)) {
          vm.disks.push_back(*where);
          if (depth == 0 && capacity) vm.capacity[key_of(where->datastore, where->rel)] = capacity;
        }
      }
    } else if (auto where = split_datastore_path(xml::text(backing, "fileName"))) {
      // A CD-ROM's or floppy's image, a serial port's file...
      vm.media.push_back(*where);
    }
  }
  const pugi::xml_node files = o.prop("config.files");
  if (auto vmx = split_datastore_path(xml::text(files, "vmPathName"))) {
    std::string leaf = leaf_of_path(vmx->rel);
    if (ends_with_ci(leaf, ".vmx")) leaf.resize(leaf.size() - 4);
    vm.stem = leaf;
    vm.folders.push_back({vmx->datastore, folder_of_path(vmx->rel)});
  }
  for (const char* dir : {"snapshotDirectory", "suspendDirectory", "logDirectory"})
    if (auto where = folder_path(xml::text(files, dir))) {
      const bool known = std::any_of(vm.folders.begin(), vm.folders.end(), [&](const auto& f) {
        return f.datastore == where->datastore && f.rel == where->rel;
      });
      if (!known) vm.folders.push_back(*where);
    }
  return vm;
}

}  // namespace

std::vector<VmFiles> registered_vm_files(VsphereConnection& c, const std::string& op) {
  std::vector<VmFiles> out;
  for (const auto& o : c.session().retrieve_all(
           {{"VirtualMachine", {"name", "config.hardware.device", "config.files"}}}, op))
    if (o.obj.type == "VirtualMachine") out.push_back(files_of(o));
  return out;
}

bool in_vm_folder(const DatastorePath& folder, const std::string& stem, const std::string& raw_ds,
                  const std::string& rel) {
  if (folder.datastore != raw_ds) return false;
  if (!folder.rel.empty())
    return rel.size() > folder.rel.size() && rel.compare(0, folder.rel.size(), folder.rel) == 0 &&
           rel[folder.rel.size()] == '/';
  // The datastore's root holds many VMs' files and others: only those named
  // after the VM are its own.
  if (stem.empty() || !folder_of_path(rel).empty()) return false;
  return rel.size() > stem.size() && rel.compare(0, stem.size(), stem) == 0 &&
         (rel[stem.size()] == '.' || rel[stem.size()] == '-');
}

FileUse::FileUse(const std::vector<VmFiles>& vms, const MoRef& except) {
  for (const auto& vm : vms) {
    if (!except.empty() && vm.ref == except) continue;
    for (const auto& d : vm.disks) add(d.datastore, d.rel, vm.name);
    for (const auto& m : vm.media) add(m.datastore, m.rel, vm.name);
    for (const auto& [key, bytes] : vm.capacity) capacity_[key] = bytes;
    for (const auto& f : vm.folders) folders_.push_back({f, vm.stem, vm.name});
  }
}

void FileUse::add(const std::string& raw_ds, const std::string& rel, const std::string& vm) {
  auto& names = files_[key_of(raw_ds, rel)];
  if (std::find(names.begin(), names.end(), vm) == names.end()) names.push_back(vm);
}

std::vector<std::string> FileUse::users(const std::string& raw_ds, const std::string& rel) const {
  std::vector<std::string> out;
  auto note = [&](const std::string& vm) {
    if (std::find(out.begin(), out.end(), vm) == out.end()) out.push_back(vm);
  };
  auto add_file = [&](const std::string& file) {
    if (auto it = files_.find(key_of(raw_ds, file)); it != files_.end())
      for (const auto& n : it->second) note(n);
  };
  add_file(rel);
  for (std::string_view extent : {"-flat.vmdk", "-delta.vmdk", "-sesparse.vmdk", "-ctk.vmdk"})
    if (ends_with_ci(rel, extent)) add_file(rel.substr(0, rel.size() - extent.size()) + ".vmdk");
  for (const auto& f : folders_)
    if (in_vm_folder(f.where, f.stem, raw_ds, rel)) note(f.vm);
  return out;
}

std::uint64_t FileUse::capacity(const std::string& raw_ds, const std::string& rel) const {
  const auto it = capacity_.find(key_of(raw_ds, rel));
  return it == capacity_.end() ? 0 : it->second;
}

std::string vm_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + quoted(n);
  return out;
}

}  // namespace hyperctl::vsphere
