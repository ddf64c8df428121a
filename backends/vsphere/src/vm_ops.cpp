// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities vm_capabilities() {
  return {};
}

std::vector<VmInfo> VsphereVmOps::list(const VmFilter& /*filter*/) {
  unsupported(Operation::VmList);
}

VmInfo VsphereVmOps::get(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

VmInfo VsphereVmOps::create(const VmSpec& /*spec*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::start(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

ShutdownOutcome VsphereVmOps::shutdown(const VmRef& /*vm*/, const ShutdownOptions& /*options*/,
                                       const ProgressFn& /*progress*/,
                                       const CancelToken& /*cancel*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::power_off(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::reboot(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::reset(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::suspend(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::resume(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

void VsphereVmOps::remove(const VmRef& /*vm*/, const DeleteOptions& /*options*/) {
  unsupported(Operation::VmList);
}

VmInfo VsphereVmOps::set_resources(const VmRef& /*vm*/, const ResourceSettings& /*settings*/) {
  unsupported(Operation::VmList);
}

std::string VsphereVmOps::export_config(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
