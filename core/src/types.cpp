#include "hyperctl/types.hpp"

namespace hyperctl {

namespace {
struct StateName {
  VmState state;
  std::string_view name;
};
constexpr StateName kStates[] = {
    {VmState::Running, "running"},     {VmState::Paused, "paused"},
    {VmState::Suspended, "suspended"}, {VmState::Off, "off"},
    {VmState::Crashed, "crashed"},     {VmState::Transitional, "transitional"},
    {VmState::Unknown, "unknown"},
};
}  // namespace

std::string_view to_string(VmState state) {
  for (const auto& s : kStates)
    if (s.state == state) return s.name;
  return "unknown";
}

std::optional<VmState> parse_vm_state(std::string_view text) {
  for (const auto& s : kStates)
    if (s.name == text) return s.state;
  return std::nullopt;
}

}  // namespace hyperctl
