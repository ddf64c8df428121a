// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities snapshot_capabilities() {
  return {};
}

std::vector<Snapshot> VsphereSnapshotOps::list(const VmRef& /*vm*/) {
  unsupported(Operation::VmList);
}

Snapshot VsphereSnapshotOps::create(const VmRef& /*vm*/, const SnapshotSpec& /*spec*/) {
  unsupported(Operation::VmList);
}

void VsphereSnapshotOps::revert(const VmRef& /*vm*/, const std::string& /*snapshot*/) {
  unsupported(Operation::VmList);
}

void VsphereSnapshotOps::remove(const VmRef& /*vm*/, const std::string& /*snapshot*/,
                                bool /*with_children*/) {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
