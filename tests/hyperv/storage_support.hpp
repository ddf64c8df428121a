// Stand-in Hyper-V hosts for the storage and migration suites: each host is
// a state folder for fake-pwsh (tests/hyperv/fake) with its own wrapper
// script (test-only shell: the backend itself runs argv only) that sets
// FAKE_HYPERV_STATE and the host's knobs, then execs fake-pwsh.
//
// The backend reads its PowerShell program from $HYPERCTL_POWERSHELL once,
// at connect, and keeps it in the connection: so each host is opened with
// the variable pointing at its own wrapper, and two hosts are two
// connections that each run their own "powershell". Hosts know each other
// through the state's "peers" map (ComputerName -> state folder), which
// Move-VM's emulation uses.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
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
inline Registry& hv_registry() {
  static Registry r({HYPERCTL_TEST_HYPERV_PLUGIN_DIR});
  return r;
}

/// A single-quoted POSIX shell word (for the test wrappers only).
inline std::string sh_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The stand-in's knobs; every test starts with none set.
inline const char* const kHvKnobs[] = {
    "FAKE_HYPERV_STATE",        "FAKE_PWSH_LOG",     "FAKE_PWSH_STATE_AS",
    "FAKE_PWSH_WARNING",        "FAKE_PWSH_CRASH",   "FAKE_PWSH_FAIL",
    "FAKE_PWSH_DEPTH_TRUNCATE", "FAKE_PWSH_SLOW_MS", "HYPERCTL_POWERSHELL"};

/// One stand-in Hyper-V host.
class HvHost {
 public:
  HvHost(const fs::path& root, const std::string& computer_name) : dir_(root / computer_name) {
    fs::create_directories(dir_ / "state");
    state_ = {{"host",
               {{"ComputerName", computer_name},
                {"LogicalProcessorCount", 8},
                {"MemoryCapacity", 17179869184LL},
                {"FreeMemoryBytes", 8589934592LL},
                {"ProcessorManufacturer", "GenuineIntel"},
                {"VirtualHardDiskPath", "C:\\Hyper-V\\" + computer_name + "\\Virtual Hard Disks"},
                {"VirtualMachinePath", "C:\\Hyper-V\\" + computer_name},
                {"DiskCapacityBytes", 1099511627776LL},
                {"DiskFreeBytes", 549755813888LL}}},
              {"vms", json::array()},
              {"switches", json::array({{{"Id", "5b1e3c2a-0000-4000-8000-000000000001"},
                                         {"Name", "Default Switch"},
                                         {"SwitchType", "Internal"}}})},
              {"vhds", json::array()},
              {"peers", json::object()}};
    save();
    set_knobs({});
  }

  const fs::path& dir() const { return dir_; }
  std::string name() const { return state_["host"]["ComputerName"]; }
  fs::path wrapper() const { return dir_ / "pwsh.sh"; }
  fs::path log_path() const { return dir_ / "log.jsonl"; }
  std::string vhd_folder() const { return state_["host"]["VirtualHardDiskPath"]; }
  std::string vm_folder() const { return state_["host"]["VirtualMachinePath"]; }

  /// Rewrites the wrapper with these knobs for fake-pwsh.
  void set_knobs(const std::map<std::string, std::string>& knobs) {
    std::string body = "#!/bin/sh\nexport FAKE_HYPERV_STATE=" + sh_word((dir_ / "state").string()) +
                       "\nexport FAKE_PWSH_LOG=" + sh_word(log_path().string()) + "\n";
    for (const auto& [k, v] : knobs) body += "export " + k + "=" + sh_word(v) + "\n";
    body += "exec " + sh_word(HYPERCTL_TEST_FAKE_PWSH) + " \"$@\"\n";
    const fs::path tmp = dir_ / "pwsh.sh.tmp";
    std::ofstream(tmp, std::ios::binary) << body;
    ::chmod(tmp.c_str(), 0755);
    fs::rename(tmp, wrapper());
  }

  /// hyperv:///?shell=... opened with this host's wrapper as its PowerShell.
  /// (?shell= only tells two local URIs apart; $HYPERCTL_POWERSHELL wins.)
  std::unique_ptr<Connection> open(const std::string& shell = "powershell") {
    ::setenv("HYPERCTL_POWERSHELL", wrapper().c_str(), 1);
    std::unique_ptr<Connection> c;
    try {
      c = hv_registry().open(uri(shell));
    } catch (...) {
      ::unsetenv("HYPERCTL_POWERSHELL");
      throw;
    }
    ::unsetenv("HYPERCTL_POWERSHELL");
    return c;
  }
  static std::string uri(const std::string& shell) { return "hyperv:///?shell=" + shell; }

  void peer(const HvHost& other) {
    state_["peers"][other.name()] = (other.dir_ / "state").string();
    save();
  }

  json& host() { return state_["host"]; }

  /// Adds a VHD record; returns its path.
  std::string add_vhd(const std::string& folder, const std::string& file, std::uint64_t size,
                      const std::string& format = "VHDX", const std::string& type = "Dynamic",
                      std::uint64_t file_size = 4194304) {
    load();
    const std::string path = folder + "\\" + file;
    state_["vhds"].push_back({{"Path", path},
                              {"VhdFormat", format},
                              {"VhdType", type},
                              {"Size", size},
                              {"FileSize", file_size},
                              {"ParentPath", nullptr}});
    save();
    return path;
  }

  /// Adds a VM with one disk per entry of `disks` (created in the VHD folder).
  json add_vm(const std::string& id, const std::string& vm_name, const std::string& state,
              const std::vector<std::pair<std::string, std::uint64_t>>& disks,
              const std::string& switch_name = "Default Switch") {
    json drives = json::array();
    int loc = 0;
    for (const auto& [file, size] : disks) {
      const std::string path = add_vhd(vhd_folder(), file, size);
      drives.push_back({{"Path", path},
                        {"ControllerType", "SCSI"},
                        {"ControllerNumber", 0},
                        {"ControllerLocation", loc++}});
    }
    load();
    json nics = json::array();
    if (!switch_name.empty())
      nics.push_back({{"Name", "Network Adapter"},
                      {"MacAddress", "00155D000001"},
                      {"SwitchName", switch_name}});
    json vm = {{"Id", id},
               {"Name", vm_name},
               {"State", state},
               {"ProcessorCount", 2},
               {"MemoryStartup", 1073741824},
               {"MemoryAssigned", state == "Running" ? 1073741824 : 0},
               {"DynamicMemoryEnabled", false},
               {"Generation", 2},
               {"Version", "9.0"},
               {"Path", vm_folder()},
               {"ComputerName", name()},
               {"HardDrives", drives},
               {"NetworkAdapters", nics},
               {"Snapshots", json::array()}};
    state_["vms"].push_back(vm);
    save();
    return vm;
  }

  void save() { std::ofstream(dir_ / "state" / "state.json") << state_.dump(2); }
  void load() { state_ = json::parse(read_file(dir_ / "state" / "state.json")); }

  /// state.json as the stand-in left it.
  json state() const { return json::parse(read_file(dir_ / "state" / "state.json")); }

  /// The VMs in state.json whose Name (or Id) is `key`.
  std::vector<json> vms(const std::string& key) const {
    std::vector<json> out;
    const json all = state();
    for (const auto& vm : all["vms"])
      if (vm.value("Name", "") == key || vm.value("Id", "") == key) out.push_back(vm);
    return out;
  }
  json vhd(const std::string& path) const {
    const json all = state();
    for (const auto& v : all["vhds"])
      if (v.value("Path", "") == path) return v;
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

 private:
  fs::path dir_;
  json state_;
};

/// A temporary root (removed at the end), journals in it, knobs cleared.
class HvFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-hvstore-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (const char* k : kHvKnobs) ::unsetenv(k);
    ::setenv("HYPERCTL_STATE_DIR", (root_ / "journals").c_str(), 1);
  }
  void TearDown() override {
    for (const char* k : kHvKnobs) ::unsetenv(k);
    ::unsetenv("HYPERCTL_STATE_DIR");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::vector<fs::path> journals() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_ / "journals" / "journal", ec))
      out.push_back(e.path());
    return out;
  }

  fs::path root_;
};

}  // namespace hyperctl::test
