// The conformance suite (hyperctl::conformance) against the Hyper-V backend
// on the stand-in PowerShell: Conformance/hyperv.*. The stand-in's host state
// lives in a temporary folder made here, holding one VM, off (the existing
// VM), and one switch; the folder is removed at exit.
//
// Conformance/hyperv_real.* runs the same suite against a real Hyper-V host
// when HYPERCTL_TEST_HYPERV_URI is set (e.g. hyperv:/// from inside WSL, or
// hyperv://admin@hv01/), on the VM HYPERCTL_TEST_HYPERV_VM when set. Unset,
// those tests skip; set, the stand-in's skip (the program of
// $HYPERCTL_POWERSHELL would apply to both).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "hyperctl/conformance.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "hyperctl-hv-conf-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path root = tmpl;
  const fs::path state = root / "state";
  fs::create_directories(state);
  const nlohmann::json doc = {
      {"host", {{"ComputerName", "HV01"}, {"VirtualHardDiskPath", "C:\\VHDs"}}},
      {"vms",
       {{{"Id", "6c0f0000-0000-4000-8000-00000000c0f1"},
         {"Name", "hyperctl-conf-vm"},
         {"State", 3},
         {"ProcessorCount", 1},
         {"MemoryAssigned", 0},
         {"MemoryStartup", 536870912},
         {"Generation", 2},
         {"ComputerName", "HV01"},
         {"CheckpointType", 5},
         {"ParentSnapshotName", nullptr},
         {"HardDrives",
          {{{"Path", "C:\\VHDs\\hyperctl-conf-vm.vhdx"},
            {"ControllerType", 1},
            {"ControllerNumber", 0},
            {"ControllerLocation", 0}}}},
         {"NetworkAdapters",
          {{{"Name", "Network Adapter"}, {"MacAddress", "00155D00C0F1"}, {"SwitchName", "LAN"}}}},
         {"Snapshots", nlohmann::json::array()}}}},
      {"switches",
       {{{"Id", "6c0f0000-0000-4000-8000-0000000005a1"}, {"Name", "LAN"}, {"SwitchType", 2}}}},
      {"vhds",
       {{{"Path", "C:\\VHDs\\hyperctl-conf-vm.vhdx"},
         {"VhdFormat", 3},
         {"VhdType", 3},
         {"Size", 10737418240},
         {"FileSize", 4194304}}}}};
  std::ofstream(state / "state.json") << doc.dump(2);
  const char* real_uri = std::getenv("HYPERCTL_TEST_HYPERV_URI");
  const char* real_vm = std::getenv("HYPERCTL_TEST_HYPERV_VM");
  const bool real = real_uri && *real_uri;
  // $HYPERCTL_POWERSHELL applies to every connection of the process: the
  // stand-in runs only when no real host is asked for.
  ::setenv("FAKE_HYPERV_STATE", state.c_str(), 1);
  if (!real) ::setenv("HYPERCTL_POWERSHELL", HYPERCTL_TEST_FAKE_PWSH, 1);
  for (const char* knob :
       {"FAKE_PWSH_STATE_AS", "FAKE_PWSH_WARNING", "FAKE_PWSH_DEPTH_TRUNCATE", "FAKE_PWSH_CRASH",
        "FAKE_PWSH_FAIL", "FAKE_PWSH_SLOW_MS", "FAKE_PWSH_LOG"})
    ::unsetenv(knob);

  hyperctl::conformance::register_tests({
      .name = "hyperv",
      .uri = "hyperv:///",
      .plugin_dirs = {HYPERCTL_TEST_HYPERV_PLUGIN_DIR},
      .existing_vm = "hyperctl-conf-vm",
      .pool = "vhd",
      .network = "LAN",
      .skip_reason = real ? "HYPERCTL_TEST_HYPERV_URI is set: the real host is tested instead" : "",
  });
  hyperctl::conformance::register_tests({
      .name = "hyperv_real",
      .uri = real ? real_uri : "hyperv:///",
      .plugin_dirs = {HYPERCTL_TEST_HYPERV_PLUGIN_DIR},
      .existing_vm = real_vm ? real_vm : "",
      .pool = "vhd",
      .skip_reason = real ? "" : "HYPERCTL_TEST_HYPERV_URI not set: no real Hyper-V host",
  });
  const int status = RUN_ALL_TESTS();
  std::error_code ec;
  fs::remove_all(root, ec);
  return status;
}
