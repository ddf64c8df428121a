#include "states.hpp"

#include <libvirt/libvirt.h>

namespace hyperctl::lv {
namespace {

struct StateRow {
  int native;
  VmState state;
  const char* word;
};

// THE table. SHUTOFF with a managed-save image is special-cased below: it is
// Suspended ("saved"), as `virsh list --managed-save` shows it.
constexpr StateRow kStateTable[] = {
    {VIR_DOMAIN_NOSTATE, VmState::Unknown, "no state"},
    {VIR_DOMAIN_RUNNING, VmState::Running, "running"},
    {VIR_DOMAIN_BLOCKED, VmState::Running, "idle"},
    {VIR_DOMAIN_PAUSED, VmState::Paused, "paused"},
    {VIR_DOMAIN_SHUTDOWN, VmState::Transitional, "in shutdown"},
    {VIR_DOMAIN_SHUTOFF, VmState::Off, "shut off"},
    {VIR_DOMAIN_CRASHED, VmState::Crashed, "crashed"},
    {VIR_DOMAIN_PMSUSPENDED, VmState::Suspended, "pmsuspended"},
};

constexpr StateRow kSavedRow = {VIR_DOMAIN_SHUTOFF, VmState::Suspended, "saved"};

}  // namespace

MappedState map_state(int native, bool managed_save) {
  if (native == VIR_DOMAIN_SHUTOFF && managed_save) return {kSavedRow.state, kSavedRow.word};
  for (const auto& row : kStateTable)
    if (row.native == native) return {row.state, row.word};
  return {VmState::Unknown, "unknown"};
}

bool is_active_state(int native) {
  return native != VIR_DOMAIN_SHUTOFF && native != VIR_DOMAIN_NOSTATE;
}

}  // namespace hyperctl::lv
