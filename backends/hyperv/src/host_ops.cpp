// The Hyper-V host.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {

HostInfo host_info_of(const nlohmann::json& h) {
  HostInfo info;
  info.hostname = text_field(h, "ComputerName");
  info.hypervisor = "Hyper-V";
  info.hypervisor_version = text_field(h, "OsVersion");
  info.manager_version = text_field(h, "ModuleVersion");
  info.cpu_model = text_field(h, "ProcessorName");
  info.cpu_vendor = text_field(h, "ProcessorManufacturer");
  info.cpus = static_cast<unsigned>(number_field(h, "LogicalProcessorCount"));
  info.memory_total_bytes = number_field(h, "MemoryCapacity");
  info.memory_free_bytes = number_field(h, "FreeMemoryBytes");
  info.guest_types = {"hyperv"};
  for (const auto& [key, field] :
       {std::pair{"vhd_path", "VirtualHardDiskPath"}, std::pair{"vm_path", "VirtualMachinePath"}}) {
    const std::string v = text_field(h, field);
    if (!v.empty()) info.extras[key] = v;
  }
  return info;
}

HostInfo HypervHostOps::info() {
  return guarded("host.info", [&] {
    const auto result = c_.ps().run("host.info", nlohmann::json::object());
    HostInfo info = host_info_of(result.value("host", nlohmann::json::object()));
    if (info.hostname.empty()) info.hostname = c_.host_name();
    return info;
  });
}

}  // namespace hyperctl::hyperv
