// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities network_capabilities() {
  return {};
}

std::vector<Network> VsphereNetworkOps::list() {
  unsupported(Operation::VmList);
}

Network VsphereNetworkOps::get(const std::string& /*name*/) {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
