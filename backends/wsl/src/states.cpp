// wsl.exe's state words -> VmState, in one table.
#include "wsl_exe.hpp"

namespace hyperctl::wsl {
namespace {

struct StateRow {
  const char* word;
  VmState state;
};

// THE table. wsl.exe prints these words in English in every language we
// have seen; a word not listed maps to Unknown and is kept for display.
constexpr StateRow kStateTable[] = {
    {"Running", VmState::Running},           {"Stopped", VmState::Off},
    {"Installing", VmState::Transitional},   {"Converting", VmState::Transitional},
    {"Uninstalling", VmState::Transitional},
};

}  // namespace

VmState map_state(const std::string& word) {
  for (const auto& row : kStateTable)
    if (word == row.word) return row.state;
  return VmState::Unknown;
}

}  // namespace hyperctl::wsl
