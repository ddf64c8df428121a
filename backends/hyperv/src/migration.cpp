// Migration of Hyper-V VMs. (A placeholder: no operation yet.)
#include "migration.hpp"

#include "ops.hpp"

namespace hyperctl::hyperv {

Capabilities migration_capabilities() {
  return {};
}

}  // namespace hyperctl::hyperv
