// HypervConnection: the look-ups every operation group shares.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "connection.hpp"

#include <algorithm>
#include <cctype>

#include "hyperctl/escape.hpp"
#include "migration.hpp"
#include "ops.hpp"
#include "record.hpp"
#include "storage_ops.hpp"

namespace hyperctl::hyperv {

std::string quoted(const std::string& name) {
  return "'" + escape::terminal_text(name) + "'";
}

std::string guid_key(const std::string& text) {
  std::string key = text;
  if (key.size() >= 2 && key.front() == '{' && key.back() == '}')
    key = key.substr(1, key.size() - 2);
  if (key.size() != 36) return {};
  for (std::size_t i = 0; i < key.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? key[i] != '-' : !std::isxdigit(static_cast<unsigned char>(key[i]))) return {};
    key[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
  }
  return key;
}

HypervConnection::HypervConnection(Uri uri, PowerShell ps, std::string host_name)
    : Connection(kBackendName),
      uri_(std::move(uri)),
      ps_(std::move(ps)),
      host_name_(std::move(host_name)),
      vms_(std::make_unique<HypervVmOps>(*this)),
      snapshots_(std::make_unique<HypervSnapshotOps>(*this)),
      storage_(std::make_unique<HypervStorageOps>(*this)),
      networks_(std::make_unique<HypervNetworkOps>(*this)),
      host_(std::make_unique<HypervHostOps>(*this)),
      migration_(std::make_unique<HypervMigrationOps>(*this)) {}

HypervConnection::~HypervConnection() = default;

VmOps& HypervConnection::vms() {
  return *vms_;
}
SnapshotOps& HypervConnection::snapshots() {
  return *snapshots_;
}
StorageOps& HypervConnection::storage() {
  return *storage_;
}
NetworkOps& HypervConnection::networks() {
  return *networks_;
}
MigrationOps& HypervConnection::migration() {
  return *migration_;
}
HostOps& HypervConnection::host() {
  return *host_;
}

nlohmann::json HypervConnection::list_vms(const std::string& op, const std::string& subject) const {
  nlohmann::json vms =
      ps_.run("vm.list", nlohmann::json::object(), subject).value("vms", nlohmann::json::array());
  if (!vms.is_array())
    throw Error(ErrorCode::BackendFailure, "vm.list answered without a list of VMs", op);
  return vms;
}

nlohmann::json HypervConnection::resolve(const VmRef& ref, const std::string& op) const {
  if (ref.value.empty())
    throw Error(ErrorCode::InvalidArgument, "no VM named (an empty name or Id)", op);
  const nlohmann::json vms = list_vms(op, quoted(ref.value));
  const std::string key = guid_key(ref.value);
  if (!key.empty())
    for (const auto& vm : vms)
      if (guid_key(text_field(vm, "Id")) == key) return vm;
  std::vector<const nlohmann::json*> named;
  for (const auto& vm : vms)
    if (text_field(vm, "Name") == ref.value) named.push_back(&vm);
  if (named.size() == 1) return *named.front();
  if (named.size() > 1) {
    std::string ids;
    for (const auto* vm : named) ids += (ids.empty() ? "" : ", ") + text_field(*vm, "Id");
    throw Error(ErrorCode::Conflict,
                std::to_string(named.size()) + " VMs are named " + quoted(ref.value) + " on " +
                    escape::terminal_text(host_name_) + "; name one by its Id (" +
                    escape::terminal_text(ids) + ")",
                op);
  }
  throw Error(ErrorCode::NotFound,
              "no VM " + quoted(ref.value) + " on " + escape::terminal_text(host_name_), op);
}

VmInfo HypervConnection::describe(const nlohmann::json& vm) const {
  // The scripts send objects; anything else is a broken answer, and value()
  // below would throw a JSON exception on it.
  if (!vm.is_object())
    throw Error(ErrorCode::BackendFailure, "the answer of " + escape::terminal_text(host_name_) +
                                               " holds a VM record that is not an object");
  VmInfo info;
  info.id = text_field(vm, "Id");
  info.name = text_field(vm, "Name");
  info.backend = kBackendName;
  info.host = text_field(vm, "ComputerName");
  if (info.host.empty()) info.host = host_name_;
  info.state = map_state(vm.value("State", nlohmann::json()), info.state_reason);
  info.vcpus = static_cast<unsigned>(number_field(vm, "ProcessorCount"));
  const std::uint64_t assigned = number_field(vm, "MemoryAssigned");
  info.memory_bytes = assigned ? assigned : number_field(vm, "MemoryStartup");
  info.persistent = true;

  const auto drives = vm.value("HardDrives", nlohmann::json());
  if (drives.is_array()) {
    for (const auto& d : drives) {
      if (!d.is_object()) continue;
      DiskInfo disk;
      disk.path = text_field(d, "Path");
      disk.device = "disk";
      std::string word;
      const auto type = d.value("ControllerType", nlohmann::json());
      if (type.is_string())
        word = type.get<std::string>();
      else if (type.is_number())  // compared as JSON numbers: no cast to overflow
        word = type == 0 ? "IDE" : type == 1 ? "SCSI" : "PMEM";
      disk.target = lower_ascii(word) + std::to_string(number_field(d, "ControllerNumber")) + ":" +
                    std::to_string(number_field(d, "ControllerLocation"));
      disk.format = format_of_name(disk.path);
      info.disks.push_back(disk);
    }
  } else if (!drives.is_null()) {
    info.extras["disks"] = "unknown (the host's answer was cut short)";
  }
  const auto nics = vm.value("NetworkAdapters", nlohmann::json());
  if (nics.is_array()) {
    for (const auto& n : nics) {
      if (!n.is_object()) continue;
      NicInfo nic;
      nic.mac = text_field(n, "MacAddress");
      nic.network = text_field(n, "SwitchName");
      info.nics.push_back(nic);
    }
  } else if (!nics.is_null()) {
    info.extras["nics"] = "unknown (the host's answer was cut short)";
  }
  for (const char* k : {"Status", "Version", "Path", "Notes"}) {
    const std::string v = text_field(vm, k);
    if (!v.empty()) {
      std::string key = k;
      key[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[0])));
      info.extras[key] = v;
    }
  }
  if (vm.contains("Generation"))
    info.extras["generation"] = std::to_string(number_field(vm, "Generation"));
  if (vm.contains("UptimeSeconds"))
    info.extras["uptime_seconds"] = std::to_string(number_field(vm, "UptimeSeconds"));
  if (vm.contains("DynamicMemoryEnabled") && vm["DynamicMemoryEnabled"].is_boolean())
    info.extras["dynamic_memory"] = vm["DynamicMemoryEnabled"].get<bool>() ? "true" : "false";
  return info;
}

HypervConnection* hyperv_connection_of(Connection& c) {
  return dynamic_cast<HypervConnection*>(&c);
}

}  // namespace hyperctl::hyperv
