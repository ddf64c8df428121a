// Placeholder until its owner lands the real one: every method is Unsupported.
#include "ops.hpp"

namespace hyperctl::vsphere {

Capabilities migration_capabilities() {
  return {};
}

PreflightReport VsphereMigrationOps::preflight(const VmRef& /*vm*/, Connection& /*target*/,
                                               const MigrationOptions& /*options*/) {
  unsupported(Operation::VmList);
}

VmInfo VsphereMigrationOps::migrate(const VmRef& /*vm*/, Connection& /*target*/,
                                    const MigrationOptions& /*options*/,
                                    const ProgressFn& /*progress*/, const CancelToken& /*cancel*/) {
  unsupported(Operation::VmList);
}

}  // namespace hyperctl::vsphere
