// libvirt domain states -> hyperctl::VmState, through one table (states.cpp).
#pragma once

#include <string>

#include "hyperctl/types.hpp"

namespace hyperctl::lv {

struct MappedState {
  VmState state = VmState::Unknown;
  std::string word;  ///< libvirt's own word, as virsh prints it
};

/// `native` is a virDomainState; `managed_save` says whether a shut-off
/// domain has a managed-save image (then it is Suspended, "saved").
MappedState map_state(int native, bool managed_save);

/// True for states in which the domain has a running QEMU (or equivalent).
bool is_active_state(int native);

}  // namespace hyperctl::lv
