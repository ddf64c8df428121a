// Shared helpers of the Hyper-V suites: a stand-in host state folder per test
// (tests/hyperv/fake, fake-pwsh as $HYPERCTL_POWERSHELL), the plugin opened
// through the Registry as the CLI does, and readers of the stand-in's
// state.json and invocation log.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../common/expect_error.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// One registry for the process: plugin libraries stay loaded for its life.
inline Registry& registry() {
  static Registry r({HYPERCTL_TEST_HYPERV_PLUGIN_DIR});
  return r;
}

/// The stand-in's knobs; every test starts with none set.
inline const char* const kKnobs[] = {"FAKE_PWSH_STATE_AS",       "FAKE_PWSH_WARNING",
                                     "FAKE_PWSH_DEPTH_TRUNCATE", "FAKE_PWSH_CRASH",
                                     "FAKE_PWSH_FAIL",           "FAKE_PWSH_SLOW_MS"};

/// A GUID for test VM `n` (and checkpoints, switches: other `kind`s).
inline std::string guid_for(int n, int kind = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "4a1b%04d-0000-4000-8000-%012d", kind, n);
  return buf;
}

/// A fresh stand-in host (HV01: 8 processors, a VHD folder C:\VHDs, one
/// external switch "LAN") and the invocation log, under one temporary
/// folder removed at the end.
class HvFake : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-hv-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    state_dir_ = root_ / "state";
    fs::create_directories(state_dir_);
    for (const char* k : kKnobs) ::unsetenv(k);
    ::setenv("FAKE_HYPERV_STATE", state_dir_.c_str(), 1);
    ::setenv("FAKE_PWSH_LOG", log_path().c_str(), 1);
    ::setenv("HYPERCTL_POWERSHELL", HYPERCTL_TEST_FAKE_PWSH, 1);
    state_ = json{{"host",
                   {{"ComputerName", "HV01"},
                    {"LogicalProcessorCount", 8},
                    {"MemoryCapacity", 34359738368ull},
                    {"FreeMemoryBytes", 8589934592ull},
                    {"OsVersion", "10.0.20348"},
                    {"ProcessorName", "Intel(R) Xeon(R) CPU E5-2680"},
                    {"ProcessorManufacturer", "GenuineIntel"},
                    {"VirtualHardDiskPath", "C:\\VHDs"},
                    {"VirtualMachinePath", "C:\\VMs"},
                    {"ModuleVersion", "2.0.0.0"}}},
                  {"vms", json::array()},
                  {"switches",
                   {{{"Id", guid_for(1, 9)},
                     {"Name", "LAN"},
                     {"SwitchType", 2},
                     {"NetAdapterInterfaceDescription", "Intel(R) Ethernet"}}}},
                  {"vhds", json::array()}};
    save();
  }

  void TearDown() override {
    for (const char* k : kKnobs) ::unsetenv(k);
    ::unsetenv("FAKE_HYPERV_STATE");
    ::unsetenv("FAKE_PWSH_LOG");
    ::unsetenv("HYPERCTL_POWERSHELL");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path log_path() const { return root_ / "log.jsonl"; }

  /// Adds a VM (State as a VMState number or name) with one disk
  /// C:\VHDs\<name>-<n>.vhdx and one adapter on "LAN"; returns its Id.
  std::string add_vm(const std::string& name, const json& state = 3) {
    const int n = static_cast<int>(state_["vms"].size()) + 1;
    const std::string id = guid_for(n);
    const std::string disk = "C:\\VHDs\\" + name + "-" + std::to_string(n) + ".vhdx";
    const bool on = state == 2 || state == "Running" || state == 9 || state == "Paused";
    state_["vms"].push_back({{"Id", id},
                             {"Name", name},
                             {"State", state},
                             {"ProcessorCount", 2},
                             {"MemoryAssigned", on ? 1073741824ull : 0ull},
                             {"MemoryStartup", 1073741824ull},
                             {"DynamicMemoryEnabled", false},
                             {"UptimeSeconds", on ? 60 : 0},
                             {"Generation", 2},
                             {"Version", "9.0"},
                             {"Path", "C:\\VMs\\" + name},
                             {"Notes", ""},
                             {"ComputerName", "HV01"},
                             {"CheckpointType", 5},
                             {"ParentSnapshotName", nullptr},
                             {"HardDrives",
                              {{{"Path", disk},
                                {"ControllerType", 1},
                                {"ControllerNumber", 0},
                                {"ControllerLocation", 0}}}},
                             {"NetworkAdapters",
                              {{{"Name", "Network Adapter"},
                                {"MacAddress", "00155D0000" + std::to_string(10 + n)},
                                {"SwitchName", "LAN"}}}},
                             {"Snapshots", json::array()}});
    state_["vhds"].push_back({{"Path", disk},
                              {"VhdFormat", 3},
                              {"VhdType", 3},
                              {"Size", 10737418240ull},
                              {"FileSize", 4194304},
                              {"ParentPath", nullptr}});
    save();
    return id;
  }

  void save() { std::ofstream(state_dir_ / "state.json") << state_.dump(2); }

  /// state.json as the stand-in left it.
  json state() const { return json::parse(read_file(state_dir_ / "state.json")); }

  /// The VM of `id` in state.json, or null.
  json vm_state(const std::string& id) const {
    const json all = state();
    for (const auto& vm : all["vms"])
      if (vm["Id"] == id) return vm;
    return nullptr;
  }

  /// Every run logged so far.
  std::vector<json> log() const {
    std::vector<json> out;
    std::ifstream in(log_path());
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

  /// The logged runs of `op`.
  std::vector<json> runs(const std::string& op) const {
    std::vector<json> out;
    for (const auto& j : log())
      if (j.value("op", "") == op) out.push_back(j);
    return out;
  }

  void clear_log() { fs::remove(log_path()); }

  std::unique_ptr<Connection> open(const std::string& uri = "hyperv:///") {
    return registry().open(uri);
  }

  fs::path root_, state_dir_;
  json state_;
};

}  // namespace hyperctl::test
