// Storage of a Hyper-V connection. (A placeholder: no operation yet.)
#include "storage_ops.hpp"

#include "ops.hpp"

namespace hyperctl::hyperv {

Capabilities storage_capabilities() {
  return {};
}

}  // namespace hyperctl::hyperv
