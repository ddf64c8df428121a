// hyperctl against the stand-in PowerShell (tests/hyperv/fake): the same
// commands as on every backend, end to end through the real executable and
// the plugin, checked through what the stand-in recorded (its host state and
// the requests it received).
#include <algorithm>
#include <fstream>
#include <map>

#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kWeb = "6f1a2b3c-0000-4000-8000-0000000000a1";
const std::string kDb = "6f1a2b3c-0000-4000-8000-0000000000a2";
const std::string kOdd = "6f1a2b3c-0000-4000-8000-0000000000a3";
const std::string kHostile = "web 1&x'q\"$(whoami);ü名";
const std::string kVhdFolder = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks";

class CliHyperv : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = tmp_.path() / "state";
    fs::create_directories(state_dir_);
    host_ = {{"ComputerName", "HV01"},
             {"LogicalProcessorCount", 16},
             {"MemoryCapacity", 68719476736ull},
             {"FreeMemoryBytes", 34359738368ull},
             {"OsVersion", "10.0.20348"},
             {"ProcessorName", "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz"},
             {"ProcessorManufacturer", "GenuineIntel"},
             {"VirtualHardDiskPath", kVhdFolder},
             {"VirtualMachinePath", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"},
             {"ModuleVersion", "2.0.0.0"}};
    add_vm(kWeb, "web01", 2, 4, 4ull << 30);
    add_vm(kDb, "db01", 3, 2, 2ull << 30);
    add_vm(kOdd, kHostile, 3, 1, 1ull << 30);
    vms_[0]["Snapshots"].push_back({{"Id", "6f1a2b3c-0000-4000-8000-0000000000c1"},
                                    {"Name", "before-upgrade"},
                                    {"ParentSnapshotName", nullptr},
                                    {"CreationTime", "2026-11-20T10:00:00Z"},
                                    {"SnapshotType", 5}});
    vms_[0]["ParentSnapshotName"] = "before-upgrade";
    switches_ = json::array({{{"Id", "0f6c1e2d-0000-4000-8000-0000000000aa"},
                              {"Name", "Default Switch"},
                              {"SwitchType", 1},
                              {"NetAdapterInterfaceDescription", nullptr}},
                             {{"Id", "0f6c1e2d-0000-4000-8000-0000000000bb"},
                              {"Name", "External"},
                              {"SwitchType", 2},
                              {"NetAdapterInterfaceDescription", "Intel(R) Ethernet I350"}}});
    save();
  }

  void add_vm(const std::string& id, const std::string& name, int state, int cpus,
              std::uint64_t memory) {
    const std::string disk = kVhdFolder + "\\" + name + ".vhdx";
    vms_.push_back({{"Id", id},
                    {"Name", name},
                    {"State", state},
                    {"Status", "Operating normally"},
                    {"ProcessorCount", cpus},
                    {"MemoryAssigned", state == 2 ? memory : 0},
                    {"MemoryStartup", memory},
                    {"DynamicMemoryEnabled", false},
                    {"UptimeSeconds", state == 2 ? 7200 : 0},
                    {"Generation", 2},
                    {"Version", "10.0"},
                    {"Path", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"},
                    {"Notes", ""},
                    {"ComputerName", "HV01"},
                    {"CheckpointType", 5},
                    {"ParentSnapshotName", nullptr},
                    {"HardDrives", json::array({{{"Path", disk},
                                                 {"ControllerType", 1},
                                                 {"ControllerNumber", 0},
                                                 {"ControllerLocation", 0}}})},
                    {"NetworkAdapters", json::array({{{"Name", "Network Adapter"},
                                                      {"MacAddress", "00155D0001" + id.substr(34)},
                                                      {"SwitchName", "Default Switch"}}})},
                    {"Snapshots", json::array()}});
    vhds_.push_back({{"Path", disk},
                     {"VhdFormat", 3},
                     {"VhdType", 3},
                     {"Size", 42949672960ull},
                     {"FileSize", 8589934592ull},
                     {"ParentPath", nullptr},
                     {"Attached", state == 2}});
  }

  void save() {
    const json doc = {{"host", host_},
                      {"vms", vms_},
                      {"switches", switches_},
                      {"vhds", vhds_},
                      {"peers", json::object()}};
    std::ofstream(state_dir_ / "state.json") << doc.dump(2);
  }
  json state() const { return json::parse(read_file(state_dir_ / "state.json")); }
  json vm(const std::string& id) const {
    const json all = state();
    for (const auto& v : all["vms"])
      if (v["Id"] == id) return v;
    return nullptr;
  }
  /// The requests the stand-in received, in order.
  std::vector<json> requests() const {
    std::vector<json> all;
    std::ifstream in(tmp_.path() / "pwsh.log");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) all.push_back(json::parse(line));
    return all;
  }
  std::vector<json> requests(const std::string& op) const {
    std::vector<json> out;
    for (const auto& r : requests())
      if (r["op"] == op) out.push_back(r);
    return out;
  }

  Result hyperctl(std::vector<std::string> args,
                  std::map<std::string, std::optional<std::string>> knobs = {}) const {
    std::map<std::string, std::optional<std::string>> env = {
        {"HYPERCTL_POWERSHELL", std::string(FAKE_PWSH)},
        {"FAKE_HYPERV_STATE", state_dir_.string()},
        {"FAKE_PWSH_LOG", (tmp_.path() / "pwsh.log").string()},
        {"FAKE_PWSH_FAIL", std::nullopt},
        {"FAKE_PWSH_SLOW_MS", std::nullopt},
        {"FAKE_PWSH_STATE_AS", std::nullopt},
        {"FAKE_PWSH_WARNING", std::nullopt},
        {"FAKE_PWSH_CRASH", std::nullopt},
        {"FAKE_PWSH_DEPTH_TRUNCATE", std::nullopt}};
    for (const auto& [k, v] : knobs) env[k] = v;
    args.insert(args.begin(), {"-c", "hyperv:///"});
    return run(args, with_env(env));
  }

  TempDir tmp_;
  fs::path state_dir_;
  json host_, vms_ = json::array(), switches_, vhds_ = json::array();
};

TEST_F(CliHyperv, ListAsJsonHasEveryVmWithItsStateAndId) {
  const Result r = hyperctl({"-o", "json", "list"});
  ASSERT_EQ(r.status, 0) << r;
  const json doc = json::parse(r.out);
  std::map<std::string, json> by_name;
  for (const auto& v : doc["vms"]) by_name[v["name"].get<std::string>()] = v;
  ASSERT_EQ(by_name.size(), 3u) << r.out;
  EXPECT_EQ(by_name["web01"]["state"], "running");
  EXPECT_EQ(by_name["web01"]["id"], kWeb);
  EXPECT_EQ(by_name["web01"]["vcpus"], 4);
  EXPECT_EQ(by_name["web01"]["backend"], "hyperv");
  EXPECT_EQ(by_name["db01"]["state"], "off");
  EXPECT_EQ(by_name["db01"]["id"], kDb);
  EXPECT_EQ(by_name[kHostile]["id"], kOdd) << "the name came back byte for byte";
}

TEST_F(CliHyperv, ListAsATableAndFilteredByState) {
  const Result r = hyperctl({"list"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_NE(r.out.find("web01"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("db01"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("running"), std::string::npos) << r.out;

  const Result running = hyperctl({"list", "--state", "running"});
  ASSERT_EQ(running.status, 0) << running;
  EXPECT_NE(running.out.find("web01"), std::string::npos) << running.out;
  EXPECT_EQ(running.out.find("db01"), std::string::npos) << running.out;
}

TEST_F(CliHyperv, InfoShowsOneVmWithDisksAndNics) {
  const Result r = hyperctl({"-o", "json", "info", "web01"});
  ASSERT_EQ(r.status, 0) << r;
  const json v = json::parse(r.out);
  EXPECT_EQ(v["id"], kWeb);
  EXPECT_EQ(v["state"], "running");
  EXPECT_EQ(v["vcpus"], 4);
  EXPECT_EQ(v["memory_bytes"], 4ull << 30);
  ASSERT_EQ(v["disks"].size(), 1u) << v;
  EXPECT_EQ(v["disks"][0]["path"], kVhdFolder + "\\web01.vhdx");
  ASSERT_EQ(v["nics"].size(), 1u) << v;
  EXPECT_EQ(v["nics"][0]["network"], "Default Switch");

  // By its Id too, in any case and with braces, as Hyper-V prints them.
  std::string upper = kDb;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  const Result by_id = hyperctl({"-o", "json", "info", "{" + upper + "}"});
  ASSERT_EQ(by_id.status, 0) << by_id;
  EXPECT_EQ(json::parse(by_id.out)["name"], "db01");
}

TEST_F(CliHyperv, CreateMakesTheVmOnTheHost) {
  const Result r = hyperctl({"-o", "json", "create", "--name", "new01", "--vcpus", "2", "--memory",
                             "1G", "--disk", "10G", "--network", "Default Switch"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(json::parse(r.out)["name"], "new01") << r.out;
  json made;
  const json all = state();
  for (const auto& v : all["vms"])
    if (v["Name"] == "new01") made = v;
  ASSERT_FALSE(made.is_null()) << "no VM new01 in the host state";
  EXPECT_EQ(made["ProcessorCount"], 2);
  EXPECT_EQ(made["MemoryStartup"], 1ull << 30);
  const auto creates = requests("vm.create");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0]["data"]["name"], "new01");
  EXPECT_EQ(creates[0]["data"]["switch"], "Default Switch");
  EXPECT_EQ(creates[0]["data"]["new_vhd_bytes"], 10ull << 30) << creates[0];
}

TEST_F(CliHyperv, StartThenShutdownWithForce) {
  Result r = hyperctl({"start", "db01"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(vm(kDb)["State"], 2);
  r = hyperctl({"shutdown", "--force", "db01"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(vm(kDb)["State"], 3);
  EXPECT_EQ(requests("vm.shutdown").size(), 1u) << "graceful first";
}

TEST_F(CliHyperv, SnapshotCreateListRevertDelete) {
  Result r = hyperctl({"snapshot", "create", "web01", "--name", "s1"});
  ASSERT_EQ(r.status, 0) << r;
  r = hyperctl({"-o", "json", "snapshot", "list", "web01"});
  ASSERT_EQ(r.status, 0) << r;
  std::vector<std::string> names;
  const json doc = json::parse(r.out);
  const json& list = doc.is_array() ? doc : doc["snapshots"];
  for (const auto& s : list) names.push_back(s["name"]);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"before-upgrade", "s1"})) << r.out;

  r = hyperctl({"snapshot", "revert", "web01", "before-upgrade"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(vm(kWeb)["ParentSnapshotName"], "before-upgrade");
  r = hyperctl({"snapshot", "delete", "web01", "s1"});
  ASSERT_EQ(r.status, 0) << r;
  const json web = vm(kWeb);
  ASSERT_EQ(web["Snapshots"].size(), 1u) << web;
  EXPECT_EQ(web["Snapshots"][0]["Name"], "before-upgrade");

  r = hyperctl({"snapshot", "revert", "web01", "no-such"});
  expect_error(r, 3, "no-such");
}

TEST_F(CliHyperv, NetworkListShowsTheSwitches) {
  const Result r = hyperctl({"-o", "json", "network", "list"});
  ASSERT_EQ(r.status, 0) << r;
  const json doc = json::parse(r.out);
  const json& list = doc.is_array() ? doc : doc["networks"];
  std::map<std::string, json> by_name;
  for (const auto& n : list) by_name[n["name"].get<std::string>()] = n;
  ASSERT_EQ(by_name.size(), 2u) << r.out;
  EXPECT_EQ(by_name["Default Switch"]["forward_mode"], "internal") << r.out;
  EXPECT_EQ(by_name["External"]["forward_mode"], "external") << r.out;
  const Result table = hyperctl({"network", "list"});
  ASSERT_EQ(table.status, 0) << table;
  EXPECT_NE(table.out.find("Default Switch"), std::string::npos) << table.out;
}

TEST_F(CliHyperv, HostInfoComesFromTheHost) {
  const Result r = hyperctl({"-o", "json", "host", "info"});
  ASSERT_EQ(r.status, 0) << r;
  const json h = json::parse(r.out);
  EXPECT_EQ(h["hostname"], "HV01");
  EXPECT_EQ(h["hypervisor"], "Hyper-V");
  EXPECT_EQ(h["cpus"], 16);
  EXPECT_EQ(h["memory_total_bytes"], 68719476736ull);
  EXPECT_EQ(h["memory_free_bytes"], 34359738368ull);
}

TEST_F(CliHyperv, DeleteWithStorageRemovesTheVmAndItsDisk) {
  const Result r = hyperctl({"delete", "db01", "--with-storage"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(vm(kDb).is_null()) << "db01 is still on the host";
  const json all = state();
  for (const auto& v : all["vhds"]) EXPECT_NE(v["Path"], kVhdFolder + "\\db01.vhdx");
  EXPECT_EQ(all["vhds"].size(), 2u) << "the other VMs' disks stay";
  EXPECT_FALSE(vm(kWeb).is_null());
}

TEST_F(CliHyperv, AMissingVmIsExit3InOneLine) {
  const Result r = hyperctl({"info", "no-such-vm"});
  expect_error(r, 3, "no-such-vm");
  const Result start = hyperctl({"start", "no-such-vm"});
  expect_error(start, 3, "no-such-vm");
  EXPECT_TRUE(requests("vm.start").empty()) << "nothing was started";
}

TEST_F(CliHyperv, PermissionDeniedIsExit7AndDebugShowsPowerShellsMessage) {
  const std::map<std::string, std::optional<std::string>> fail = {
      {"FAKE_PWSH_FAIL",
       "vm.start|PermissionDenied|You do not have the required permission to complete this "
       "task. Contact the administrator of the authorization policy for the computer 'HV01'."}};
  Result r = hyperctl({"start", "db01"}, fail);
  expect_error(r, 7);
  EXPECT_EQ(vm(kDb)["State"], 3) << "not started";
  r = hyperctl({"--debug", "start", "db01"}, fail);
  EXPECT_EQ(r.status, 7) << r;
  EXPECT_NE(r.err.find("You do not have the required permission to complete this task."),
            std::string::npos)
      << r;
}

TEST_F(CliHyperv, ATimeoutIsExit9) {
  // Every run takes 2.5 s; the graceful shutdown may take 1: Stop-VM is
  // still waiting when the deadline ends PowerShell, and without --force
  // that is a timeout, with the VM left running.
  const Result r =
      hyperctl({"shutdown", "--timeout", "1", "web01"}, {{"FAKE_PWSH_SLOW_MS", "2500"}});
  expect_error(r, 9, "web01");
  EXPECT_LT(r.elapsed, std::chrono::seconds(20)) << r;
  EXPECT_EQ(vm(kWeb)["State"], 2) << "still running";
  EXPECT_EQ(requests("vm.poweroff").size(), 0u) << "not forced off";
}

TEST_F(CliHyperv, ShutdownForceTurnsOffAGuestThatDoesNotStopInTime) {
  const Result r =
      hyperctl({"shutdown", "--timeout", "1", "--force", "web01"}, {{"FAKE_PWSH_SLOW_MS", "2500"}});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(vm(kWeb)["State"], 3) << "off";
  EXPECT_EQ(requests("vm.shutdown").size(), 1u) << "graceful first";
  EXPECT_EQ(requests("vm.poweroff").size(), 1u) << "then turned off";
}

TEST_F(CliHyperv, ConnectingToAHostThatNeverAnswersIsExit9) {
  // connect's host.info outlives the connection's 30 s.
  const Result r = hyperctl({"list"}, {{"FAKE_PWSH_SLOW_MS", "40000"}});
  expect_error(r, 9);
  EXPECT_LT(r.elapsed, std::chrono::seconds(38)) << r;
}

}  // namespace
