// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities host_capabilities() {
  return {};
}

HostInfo VsphereHostOps::info() {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
