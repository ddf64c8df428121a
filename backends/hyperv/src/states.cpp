// Hyper-V VM states -> VmState, one table for both numberings (the
// PowerShell module's VMState and WMI's Msvm_ComputerSystem EnabledState,
// which agree on 2, 3, 6 and 9) and for the names ConvertTo-Json
// -EnumsAsStrings prints.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <array>
#include <cctype>
#include <string_view>

#include "powershell.hpp"

namespace hyperctl::hyperv {
namespace {

struct StateRow {
  long number;  ///< -1: a name only
  std::string_view word;
  VmState state;
};

constexpr std::array kStates = {
    StateRow{1, "Other", VmState::Unknown},
    StateRow{2, "Running", VmState::Running},
    StateRow{3, "Off", VmState::Off},
    StateRow{4, "Stopping", VmState::Transitional},
    StateRow{6, "Saved", VmState::Suspended},
    StateRow{9, "Paused", VmState::Paused},
    StateRow{10, "Starting", VmState::Transitional},
    StateRow{11, "Reset", VmState::Transitional},
    StateRow{32773, "Saving", VmState::Transitional},
    StateRow{32776, "Pausing", VmState::Transitional},
    StateRow{32777, "Resuming", VmState::Transitional},
    StateRow{32779, "FastSaved", VmState::Suspended},
    StateRow{32780, "FastSaving", VmState::Transitional},
    StateRow{32781, "ForceShutdown", VmState::Transitional},
    StateRow{32782, "ForceReboot", VmState::Transitional},
    // WMI EnabledState, v1 numbering (still seen).
    StateRow{32768, "Paused", VmState::Paused},
    StateRow{32769, "Suspended", VmState::Suspended},
    // WMI EnabledState words.
    StateRow{-1, "Enabled", VmState::Running},
    StateRow{-1, "Disabled", VmState::Off},
    StateRow{-1, "Offline", VmState::Suspended},
    StateRow{-1, "Quiesce", VmState::Paused},
};

bool same_word(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

VmState map_state(const nlohmann::json& state, std::string& state_word) {
  if (state.is_number_integer() || state.is_number_unsigned()) {
    const long n = state.get<long>();
    for (const auto& row : kStates)
      if (row.number == n) {
        state_word = std::string(row.word);
        return row.state;
      }
    state_word = std::to_string(n);
    return VmState::Unknown;
  }
  if (state.is_string()) {
    const auto word = state.get<std::string>();
    for (const auto& row : kStates)
      if (same_word(row.word, word)) {
        state_word = std::string(row.word);
        return row.state;
      }
    state_word = word;
    return VmState::Unknown;
  }
  state_word = state.is_null() ? std::string() : state.dump();
  return VmState::Unknown;
}

}  // namespace hyperctl::hyperv
