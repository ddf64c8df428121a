// VM operations of the Hyper-V backend through the plugin, against fake-pwsh:
// the real process path (argv, bootstrap, script and data on stdin, frame).
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "hyperctl/capabilities.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

using namespace std::chrono_literals;

class HvVm : public HvFake {};

TEST_F(HvVm, ListsEveryVmWithItsFacts) {
  const std::string web = add_vm("web", 2);
  add_vm("db", 3);
  auto c = open();
  const auto vms = c->vms().list({});
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0].id, web);
  EXPECT_EQ(vms[0].name, "web");
  EXPECT_EQ(vms[0].state, VmState::Running);
  EXPECT_EQ(vms[0].state_reason, "Running");
  EXPECT_EQ(vms[0].vcpus, 2u);
  EXPECT_EQ(vms[0].memory_bytes, 1073741824u);
  EXPECT_EQ(vms[0].backend, "hyperv");
  EXPECT_EQ(vms[0].host, "HV01");
  ASSERT_EQ(vms[0].disks.size(), 1u);
  EXPECT_EQ(vms[0].disks[0].path, "C:\\VHDs\\web-1.vhdx");
  EXPECT_EQ(vms[0].disks[0].target, "scsi0:0");
  EXPECT_EQ(vms[0].disks[0].format, "vhdx");
  ASSERT_EQ(vms[0].nics.size(), 1u);
  EXPECT_EQ(vms[0].nics[0].network, "LAN");
  EXPECT_EQ(vms[0].extras.at("generation"), "2");
  EXPECT_EQ(vms[1].state, VmState::Off);
  // Stopped VMs report their startup memory.
  EXPECT_EQ(vms[1].memory_bytes, 1073741824u);
}

TEST_F(HvVm, EveryRunUsesTheFixedCommandLineAndTheCheckedScript) {
  add_vm("web", 2);
  auto c = open();
  c->vms().get("web");
  const auto entries = log();
  ASSERT_GE(entries.size(), 2u);  // host.info at connect, vm.list
  for (const auto& e : entries) {
    EXPECT_TRUE(e["script_ok"].get<bool>()) << e.dump();
    const auto argv = e["argv"].get<std::vector<std::string>>();
    ASSERT_EQ(argv.size(), 8u);
    EXPECT_EQ(std::vector<std::string>(argv.begin() + 1, argv.begin() + 7),
              (std::vector<std::string>{"-NoLogo", "-NoProfile", "-NonInteractive",
                                        "-ExecutionPolicy", "Bypass", "-EncodedCommand"}));
    EXPECT_EQ(argv[7], entries[0]["argv"][7]);  // the same for every op
  }
  EXPECT_EQ(entries[0]["op"], "host.info");
}

TEST_F(HvVm, ListFiltersByStateAndNameGlob) {
  add_vm("web-1", 2);
  add_vm("web-2", 3);
  add_vm("db", 2);
  auto c = open();
  VmFilter running;
  running.states = {VmState::Running};
  EXPECT_EQ(c->vms().list(running).size(), 2u);
  VmFilter web;
  web.name_glob = "web-*";
  const auto webs = c->vms().list(web);
  ASSERT_EQ(webs.size(), 2u);
  web.states = {VmState::Off};
  const auto off = c->vms().list(web);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(off[0].name, "web-2");
  VmFilter none;
  none.name_glob = "x*";
  EXPECT_TRUE(c->vms().list(none).empty());
}

TEST_F(HvVm, GetFindsByNameOrIdInAnyForm) {
  const std::string id = add_vm("web", 3);
  auto c = open();
  EXPECT_EQ(c->vms().get("web").id, id);
  std::string upper = id;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(c->vms().get("{" + upper + "}").name, "web");
  const auto e = error_of([&] { c->vms().get("nope"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_NE(std::string(e->what()).find("'nope'"), std::string::npos);
  EXPECT_NE(std::string(e->what()).find("HV01"), std::string::npos);
}

TEST_F(HvVm, ADuplicatedNameIsAmbiguousAndItsIdsAreNamed) {
  const std::string a = add_vm("twin", 3);
  const std::string b = add_vm("twin", 2);
  auto c = open();
  const auto e = error_of([&] { c->vms().start("twin"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find(a), std::string::npos) << e->what();
  EXPECT_NE(std::string(e->what()).find(b), std::string::npos) << e->what();
  EXPECT_TRUE(runs("vm.start").empty());
  c->vms().start(a);
  EXPECT_EQ(vm_state(a)["State"], 2);
}

TEST_F(HvVm, OperationsAddressTheVmByIdOnly) {
  const std::string id = add_vm("it's $(Remove-VM *) `; | & ‘x’", 3);
  auto c = open();
  c->vms().start("it's $(Remove-VM *) `; | & ‘x’");
  const auto starts = runs("vm.start");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]["data"], json({{"id", id}}));
  EXPECT_EQ(vm_state(id)["State"], 2);
}

TEST_F(HvVm, LifecycleMovesThroughTheStates) {
  const std::string id = add_vm("web", 3);
  auto c = open();
  auto& vms = c->vms();
  vms.start("web");
  EXPECT_EQ(vms.get("web").state, VmState::Running);
  vms.suspend("web");
  EXPECT_EQ(vms.get("web").state, VmState::Paused);
  vms.resume("web");
  EXPECT_EQ(vms.get("web").state, VmState::Running);
  vms.save("web");
  EXPECT_EQ(vms.get("web").state, VmState::Suspended);
  EXPECT_EQ(vms.get("web").state_reason, "Saved");
  vms.start("web");
  EXPECT_EQ(vms.get("web").state, VmState::Running);
  vms.reboot("web");
  vms.reset("web");
  EXPECT_EQ(vms.get("web").state, VmState::Running);
  EXPECT_EQ(runs("vm.reboot").size(), 1u);
  EXPECT_EQ(runs("vm.reset").size(), 1u);
  vms.power_off("web");
  EXPECT_EQ(vm_state(id)["State"], 3);
}

TEST_F(HvVm, TheWrongStateIsAConflictNamingIt) {
  add_vm("off", 3);
  add_vm("on", 2);
  auto c = open();
  auto& vms = c->vms();
  EXPECT_ERROR_CODE(vms.start("on"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.suspend("off"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.resume("on"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.reboot("off"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.reset("off"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.save("off"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms.power_off("off"), ErrorCode::Conflict);
  const auto e = error_of([&] { vms.start("on"); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("Running"), std::string::npos) << e->what();
  // Checked before anything is asked of Hyper-V.
  EXPECT_TRUE(runs("vm.start").empty());
  EXPECT_TRUE(runs("vm.poweroff").empty());
}

TEST_F(HvVm, HyperVsOwnStateRefusalIsAConflictToo) {
  const std::string id = add_vm("web", 2);
  state_["vms"][0]["NoIntegrationServices"] = true;
  save();
  auto c = open();
  const auto e = error_of([&] { c->vms().reboot("web"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(e->detail().find("shutdown integration service"), std::string::npos) << e->detail();
  EXPECT_EQ(vm_state(id)["State"], 2);
}

TEST_F(HvVm, ShutdownStopsARunningVm) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  int calls = 0;
  EXPECT_EQ(c->vms().shutdown("web", {}, [&](const Progress&) { ++calls; }, {}),
            ShutdownOutcome::Stopped);
  EXPECT_EQ(vm_state(id)["State"], 3);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(c->vms().shutdown("web", {}, {}, {}), ShutdownOutcome::AlreadyOff);
  EXPECT_EQ(runs("vm.shutdown").size(), 1u);
}

TEST_F(HvVm, ShutdownOfAPausedOrSavedVmIsAConflict) {
  add_vm("paused", 9);
  add_vm("saved", 6);
  auto c = open();
  EXPECT_ERROR_CODE(c->vms().shutdown("paused", {}, {}, {}), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(c->vms().shutdown("saved", {}, {}, {}), ErrorCode::Conflict);
}

TEST_F(HvVm, ShutdownTimeoutKillsPowerShellAndSaysTheVmMayStillStop) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  ::setenv("FAKE_PWSH_SLOW_MS", "1500", 1);
  ShutdownOptions o;
  o.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  const auto e = error_of([&] { c->vms().shutdown("web", o, {}, {}); });
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout);
  EXPECT_NE(std::string(e->what()).find("may still be shutting down"), std::string::npos);
  // The resolve run is slow too: 1.5 s; the shutdown run is cut at 0.3 s.
  EXPECT_LT(took, 3s);
  // Had fake-pwsh lived on, it would have stopped the VM after 1.5 s.
  ::unsetenv("FAKE_PWSH_SLOW_MS");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(vm_state(id)["State"], 2);
}

TEST_F(HvVm, ShutdownTimeoutWithForcePowersOff) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  ::setenv("FAKE_PWSH_SLOW_MS", "800", 1);
  ShutdownOptions o;
  o.timeout = 200ms;
  o.force = true;
  // The slow knob applies to every run: resolve and power-off take 0.8 s
  // each (they run with the connection's timeout); the shutdown is cut.
  EXPECT_EQ(c->vms().shutdown("web", o, {}, {}), ShutdownOutcome::ForcedOff);
  EXPECT_EQ(vm_state(id)["State"], 3);
  EXPECT_EQ(runs("vm.poweroff").size(), 1u);
}

TEST_F(HvVm, CancellingAShutdownKillsPowerShell) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  const auto resolved = c->vms().get("web");
  // Every run sleeps 1.5 s: the look-up ends at 1.5 s, the shutdown run
  // would act at 3 s; the cancel comes at 2 s.
  ::setenv("FAKE_PWSH_SLOW_MS", "1500", 1);
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(2000ms);
    cancel.cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto e = error_of([&] { c->vms().shutdown(resolved.id, {}, {}, cancel); });
  canceller.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2800ms);
  ::unsetenv("FAKE_PWSH_SLOW_MS");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(vm_state(id)["State"], 2);
}

TEST_F(HvVm, CreateMakesAVmWithANewDiskInTheHostsFolderAndASwitch) {
  auto c = open();
  VmSpec spec;
  spec.name = "new";
  spec.vcpus = 4;
  spec.memory_bytes = 2ull << 30;
  DiskSpec disk;
  disk.size_bytes = 20ull << 30;
  spec.disks.push_back(disk);
  spec.networks = {"LAN"};
  const VmInfo vm = c->vms().create(spec);
  EXPECT_EQ(vm.name, "new");
  EXPECT_EQ(vm.state, VmState::Off);
  EXPECT_EQ(vm.vcpus, 4u);
  EXPECT_EQ(vm.extras.at("generation"), "2");
  ASSERT_EQ(vm.disks.size(), 1u);
  EXPECT_EQ(vm.disks[0].path, "C:\\VHDs\\new.vhdx");
  ASSERT_EQ(vm.nics.size(), 1u);
  EXPECT_EQ(vm.nics[0].network, "LAN");
  const auto created = runs("vm.create");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["data"]["new_vhd_path"], "C:\\VHDs\\new.vhdx");
  EXPECT_EQ(created[0]["data"]["new_vhd_bytes"], 20ull << 30);
  EXPECT_EQ(created[0]["data"]["memory_bytes"], 2ull << 30);
  EXPECT_EQ(created[0]["data"]["switch"], "LAN");
  bool vhd = false;
  const json after = state();
  for (const auto& v : after["vhds"]) vhd = vhd || v["Path"] == "C:\\VHDs\\new.vhdx";
  EXPECT_TRUE(vhd);
  EXPECT_EQ(c->vms().get("new").id, vm.id);
}

TEST_F(HvVm, CreateWithBiosIsGenerationOneAndTakesAnExistingDisk) {
  add_vm("old", 3);  // its disk C:\VHDs\old-1.vhdx exists
  auto c = open();
  VmSpec spec;
  spec.name = "legacy";
  spec.firmware = "bios";
  DiskSpec disk;
  disk.path = "C:\\VHDs\\old-1.vhdx";
  spec.disks.push_back(disk);
  const VmInfo vm = c->vms().create(spec);
  EXPECT_EQ(vm.extras.at("generation"), "1");
  ASSERT_EQ(vm.disks.size(), 1u);
  EXPECT_EQ(vm.disks[0].path, "C:\\VHDs\\old-1.vhdx");
  EXPECT_EQ(vm.disks[0].target, "ide0:0");
  EXPECT_EQ(runs("vm.create")[0]["data"]["generation"], 1);
}

TEST_F(HvVm, CreateTakesAVolumeOfAPoolOrANewDiskInIt) {
  add_vm("old", 3);
  auto c = open();
  VmSpec spec;
  spec.name = "from-volume";
  DiskSpec disk;
  disk.pool = "vhd";
  disk.volume = "old-1.vhdx";
  spec.disks.push_back(disk);
  EXPECT_EQ(c->vms().create(spec).disks.at(0).path, "C:\\VHDs\\old-1.vhdx");
  spec.name = "in-vm-folder";
  spec.disks[0] = DiskSpec{};
  spec.disks[0].pool = "vm";
  spec.disks[0].size_bytes = 1ull << 30;
  EXPECT_EQ(c->vms().create(spec).disks.at(0).path, "C:\\VMs\\in-vm-folder.vhdx");
}

TEST_F(HvVm, CreateRefusesWhatHyperVWouldNotTake) {
  add_vm("taken", 3);
  auto c = open();
  VmSpec spec;
  spec.name = "taken";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::AlreadyExists);
  spec.name = "x";
  spec.firmware = "coreboot";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.firmware = "";
  spec.disks.resize(2);
  spec.disks[0].size_bytes = spec.disks[1].size_bytes = 1 << 30;
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.disks.resize(1);
  spec.disks[0].pool = "nope";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::NotFound);
  spec.disks[0].pool = "";
  spec.name = "a/b";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.name = "x";
  spec.disks[0].device = "cdrom";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.disks.clear();
  spec.name = "";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  EXPECT_TRUE(runs("vm.create").empty());
}

TEST_F(HvVm, AFailedCreateLeavesNothingBehind) {
  auto c = open();
  VmSpec spec;
  spec.name = "big";
  spec.vcpus = 64;  // the host has 8
  const auto e = error_of([&] { c->vms().create(spec); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(state()["vms"].empty());
  spec.vcpus = 1;
  spec.networks = {"no-such-switch"};
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::NotFound);
  EXPECT_TRUE(state()["vms"].empty());
}

TEST_F(HvVm, RemoveDeletesTheVmAndWithStorageItsDisks) {
  const std::string keep = add_vm("keep-disk", 3);
  const std::string drop = add_vm("drop-disk", 3);
  auto c = open();
  c->vms().remove("keep-disk", {});
  DeleteOptions o;
  o.with_storage = true;
  const DeleteReport report = c->vms().remove("drop-disk", o);
  const json s = state();
  EXPECT_TRUE(s["vms"].empty());
  std::set<std::string> vhds;
  for (const auto& v : s["vhds"]) vhds.insert(v["Path"]);
  EXPECT_TRUE(vhds.count("C:\\VHDs\\keep-disk-1.vhdx"));
  EXPECT_FALSE(vhds.count("C:\\VHDs\\drop-disk-2.vhdx"));
  EXPECT_EQ(runs("vm.delete")[1]["data"],
            json({{"id", drop}, {"with_storage", true}, {"snapshots", false}}));
  EXPECT_EQ(report.deleted, std::vector<std::string>{"C:\\VHDs\\drop-disk-2.vhdx"});
  EXPECT_TRUE(report.kept.empty());
  EXPECT_ERROR_CODE(c->vms().remove("keep-disk", {}), ErrorCode::NotFound);
  (void)keep;
}

/// The paths of state.json's VHD records.
std::set<std::string> vhd_paths(const json& s) {
  std::set<std::string> out;
  for (const auto& v : s["vhds"]) out.insert(v["Path"].get<std::string>());
  return out;
}

TEST_F(HvVm, DeleteWithStorageKeepsADiskAnotherVmUsesAndSaysWhy) {
  add_vm("a", 3);
  const std::string b = add_vm("b", 3);
  // b's disk is a's (as a define from a's exported configuration makes it).
  state_["vms"][1]["HardDrives"][0]["Path"] = "C:\\VHDs\\a-1.vhdx";
  save();
  auto c = open();
  DeleteOptions o;
  o.with_storage = true;
  const DeleteReport report = c->vms().remove("b", o);
  EXPECT_TRUE(vm_state(b).is_null());
  EXPECT_TRUE(vhd_paths(state()).count("C:\\VHDs\\a-1.vhdx")) << "a's disk was deleted";
  EXPECT_TRUE(report.deleted.empty());
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].disk, "C:\\VHDs\\a-1.vhdx");
  EXPECT_EQ(report.kept[0].reason, "used by VM 'a'");
  EXPECT_EQ(c->vms().get("a").disks.at(0).path, "C:\\VHDs\\a-1.vhdx");
}

TEST_F(HvVm, DeleteWithStorageKeepsABaseDiskAnotherVmsDifferencingDiskStandsOn) {
  add_vm("base", 3);
  add_vm("linked", 3);
  // linked runs on a differencing disk whose parent is base's disk.
  state_["vms"][1]["HardDrives"][0]["Path"] = "C:\\VHDs\\linked.avhdx";
  state_["vhds"].push_back({{"Path", "C:\\VHDs\\linked.avhdx"},
                            {"VhdFormat", 3},
                            {"VhdType", 4},
                            {"Size", 10737418240ull},
                            {"FileSize", 4194304},
                            {"ParentPath", "C:\\VHDs\\base-1.vhdx"}});
  save();
  auto c = open();
  DeleteOptions o;
  o.with_storage = true;
  const DeleteReport report = c->vms().remove("base", o);
  const auto left = vhd_paths(state());
  EXPECT_TRUE(left.count("C:\\VHDs\\base-1.vhdx")) << "linked's parent disk was deleted";
  EXPECT_TRUE(left.count("C:\\VHDs\\linked.avhdx"));
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].reason, "used by VM 'linked'");
  EXPECT_TRUE(report.deleted.empty());
}

TEST_F(HvVm, DeleteWithStorageAndSnapshotsTakesTheWholeCheckpointChain) {
  add_vm("web", 3);
  add_vm("other", 3);
  auto c = open();
  SnapshotSpec s;
  s.name = "before-upgrade";
  c->snapshots().create("web", s);
  const std::string avhdx = c->vms().get("web").disks.at(0).path;
  ASSERT_NE(avhdx, "C:\\VHDs\\web-1.vhdx") << "a checkpoint moves the drive onto an .avhdx";
  ASSERT_TRUE(vhd_paths(state()).count(avhdx));
  DeleteOptions o;
  o.with_storage = true;
  o.snapshots = true;
  const DeleteReport report = c->vms().remove("web", o);
  const auto left = vhd_paths(state());
  EXPECT_FALSE(left.count(avhdx));
  EXPECT_FALSE(left.count("C:\\VHDs\\web-1.vhdx")) << "the base disk under the .avhdx stayed";
  EXPECT_TRUE(left.count("C:\\VHDs\\other-2.vhdx"));
  EXPECT_EQ(report.deleted, (std::vector<std::string>{avhdx, "C:\\VHDs\\web-1.vhdx"}));
  EXPECT_TRUE(report.kept.empty());
}

TEST_F(HvVm, DeleteOfAVmWithCheckpointsNeedsSnapshotsAndChangesNothing) {
  const std::string id = add_vm("web", 2);
  state_["vms"][0]["Snapshots"] = json::array({{{"Id", guid_for(1, 5)},
                                                {"Name", "s1"},
                                                {"ParentSnapshotName", nullptr},
                                                {"CreationTime", "2026-11-26T05:00:00.0000000Z"},
                                                {"SnapshotType", 0}}});
  state_["vms"][0]["ParentSnapshotName"] = "s1";
  save();
  const std::string before = state().dump();
  auto c = open();
  DeleteOptions o;
  o.with_storage = true;
  o.force = true;
  const auto e = error_of([&] { c->vms().remove("web", o); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_EQ(std::string(e->what()),
            "VM 'web' has 1 snapshot; add --snapshots to delete them with it (nothing was "
            "deleted)");
  EXPECT_EQ(state().dump(), before) << "the refused delete changed the host";
  EXPECT_TRUE(runs("vm.poweroff").empty()) << "refused, yet the running VM was powered off";
  EXPECT_TRUE(runs("vm.delete").empty());
  o.snapshots = true;
  c->vms().remove("web", o);
  EXPECT_TRUE(vm_state(id).is_null());
}

TEST_F(HvVm, RemovingARunningVmNeedsForce) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  EXPECT_ERROR_CODE(c->vms().remove("web", {}), ErrorCode::Conflict);
  EXPECT_FALSE(vm_state(id).is_null());
  DeleteOptions o;
  o.force = true;
  c->vms().remove("web", o);
  EXPECT_TRUE(vm_state(id).is_null());
  EXPECT_EQ(runs("vm.poweroff").size(), 1u);
}

TEST_F(HvVm, SetResourcesChangesAStoppedVm) {
  const std::string id = add_vm("web", 3);
  auto c = open();
  ResourceSettings s;
  s.vcpus = 4;
  s.memory_bytes = 4ull << 30;
  const VmInfo vm = c->vms().set_resources("web", s);
  EXPECT_EQ(vm.vcpus, 4u);
  EXPECT_EQ(vm.memory_bytes, 4ull << 30);
  EXPECT_EQ(vm_state(id)["ProcessorCount"], 4);
  EXPECT_EQ(vm_state(id)["MemoryStartup"], 4ull << 30);
}

TEST_F(HvVm, ARefusedSetChangesNothing) {
  const std::string id = add_vm("web", 3);
  auto c = open();
  const std::string before = state().dump();
  ResourceSettings s;
  s.vcpus = 4;
  for (std::uint64_t bad : {(33ull << 20), (16ull << 20), 0ull}) {
    s.memory_bytes = bad;
    EXPECT_ERROR_CODE(c->vms().set_resources("web", s), ErrorCode::InvalidArgument);
  }
  EXPECT_TRUE(runs("vm.set").empty()) << "Hyper-V's limits are checked first";
  // One only Hyper-V knows (more than the host's 32 GiB): the script puts
  // the processors back.
  s.memory_bytes = 64ull << 30;
  EXPECT_ERROR_CODE(c->vms().set_resources("web", s), ErrorCode::InvalidArgument);
  EXPECT_EQ(runs("vm.set").size(), 1u);
  EXPECT_EQ(vm_state(id)["ProcessorCount"], 2);
  EXPECT_EQ(state().dump(), before);
}

TEST_F(HvVm, SetResourcesOfARunningVmSaysWhatHyperVAllows) {
  const std::string id = add_vm("web", 2);
  auto c = open();
  ResourceSettings s;
  s.vcpus = 4;
  s.live = true;
  const auto e = error_of([&] { c->vms().set_resources("web", s); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("only while the VM is off"), std::string::npos);
  ResourceSettings m;
  m.memory_bytes = 2ull << 30;
  EXPECT_ERROR_CODE(c->vms().set_resources("web", m), ErrorCode::Conflict);
  EXPECT_TRUE(runs("vm.set").empty());
  // Asked for live, it is Hyper-V's to refuse (the stand-in does).
  m.live = true;
  EXPECT_ERROR_CODE(c->vms().set_resources("web", m), ErrorCode::Conflict);
  EXPECT_EQ(runs("vm.set").size(), 1u);
  EXPECT_EQ(vm_state(id)["ProcessorCount"], 2);
}

TEST_F(HvVm, ExportConfigIsTheVmJsonWithEveryField) {
  const std::string id = add_vm("web", 3);
  auto c = open();
  const json doc = json::parse(c->vms().export_config("web"));
  EXPECT_EQ(doc["Id"], id);
  EXPECT_EQ(doc["Name"], "web");
  EXPECT_TRUE(doc.contains("AutomaticStartAction")) << doc.dump();
  EXPECT_FALSE(doc.contains("Snapshots"));
}

struct FailRow {
  const char* category;
  ErrorCode code;
};

TEST_F(HvVm, EachPowerShellCategoryBecomesItsCodeWithTheMessageInDetail) {
  add_vm("web", 3);
  auto c = open();
  const FailRow rows[] = {
      {"PermissionDenied", ErrorCode::AuthFailed},  {"ObjectNotFound", ErrorCode::NotFound},
      {"InvalidOperation", ErrorCode::Conflict},    {"InvalidArgument", ErrorCode::InvalidArgument},
      {"ResourceExists", ErrorCode::AlreadyExists}, {"ResourceUnavailable", ErrorCode::Conflict},
      {"OperationTimeout", ErrorCode::Timeout},     {"OperationStopped", ErrorCode::Cancelled},
      {"ConnectionError", ErrorCode::Unreachable},  {"NotImplemented", ErrorCode::Unsupported},
      {"WriteError", ErrorCode::BackendFailure},    {"NotSpecified", ErrorCode::BackendFailure},
  };
  for (const auto& r : rows) {
    const std::string message = std::string("The ") + r.category + " message, as Hyper-V says it.";
    ::setenv("FAKE_PWSH_FAIL", ("vm.start|" + std::string(r.category) + "|" + message).c_str(), 1);
    const auto e = error_of([&] { c->vms().start("web"); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), r.code) << r.category;
    EXPECT_EQ(e->operation(), "vm.start");
    EXPECT_NE(e->detail().find(message), std::string::npos) << e->detail();
    EXPECT_NE(std::string(e->what()).find("'web'"), std::string::npos) << e->what();
  }
}

TEST_F(HvVm, APowerShellThatCrashesIsABackendFailureWithItsDecodedText) {
  add_vm("web", 3);
  auto c = open();
  ::setenv("FAKE_PWSH_CRASH", "clixml", 1);
  const auto e = error_of([&] { c->vms().list({}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::BackendFailure);
  EXPECT_NE(std::string(e->what()).find("is not recognized"), std::string::npos) << e->what();
  EXPECT_EQ(e->detail().find("_x000D_"), std::string::npos) << e->detail();
  EXPECT_EQ(e->detail().find("<S S="), std::string::npos) << e->detail();
}

TEST_F(HvVm, WarningsAndBannersBeforeTheFrameAreIgnored) {
  add_vm("web", 2);
  ::setenv("FAKE_PWSH_WARNING", "1", 1);
  auto c = open();
  const auto vms = c->vms().list({});
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].state, VmState::Running);
}

TEST_F(HvVm, StatesReadTheSameAsNumbersOrNames) {
  add_vm("a", 2);
  add_vm("b", "Saved");
  add_vm("c", 9);
  for (const char* mode : {"number", "string"}) {
    ::setenv("FAKE_PWSH_STATE_AS", mode, 1);
    auto c = open();
    const auto vms = c->vms().list({});
    ASSERT_EQ(vms.size(), 3u);
    EXPECT_EQ(vms[0].state, VmState::Running) << mode;
    EXPECT_EQ(vms[1].state, VmState::Suspended) << mode;
    EXPECT_EQ(vms[2].state, VmState::Paused) << mode;
    EXPECT_EQ(vms[0].disks.at(0).target, "scsi0:0") << mode;
    EXPECT_EQ(vms[0].state_reason, "Running") << mode;
  }
}

TEST_F(HvVm, ADepthTruncatedAnswerLeavesDisksAndNicsUnknown) {
  add_vm("web", 2);
  ::setenv("FAKE_PWSH_DEPTH_TRUNCATE", "1", 1);
  auto c = open();
  const auto vm = c->vms().get("web");
  EXPECT_EQ(vm.state, VmState::Running);
  EXPECT_TRUE(vm.disks.empty());
  EXPECT_TRUE(vm.nics.empty());
  EXPECT_EQ(vm.extras.count("disks"), 1u);
  EXPECT_EQ(vm.extras.count("nics"), 1u);
}

TEST_F(HvVm, ATimeoutOfAnyRunIsTimeout) {
  add_vm("web", 2);
  ConnectOptions o;
  o.timeout = 300ms;
  auto c = registry().open("hyperv:///", o);
  ::setenv("FAKE_PWSH_SLOW_MS", "2000", 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR_CODE(c->vms().list({}), ErrorCode::Timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(HvUri, BadUrisAreInvalidArguments) {
  for (const char* uri : {"hyperv:///?color=blue", "hyperv:///?shell=bash", "hyperv+ssh:///",
                          "hyperv:///some/path", "hyperv:///?identity=/k"})
    EXPECT_ERROR_CODE(registry().open(uri), ErrorCode::InvalidArgument);
}

class HvConnect : public HvFake {};

TEST_F(HvConnect, RunsHostInfoOnceAndNamesTheHost) {
  auto c = open();
  EXPECT_EQ(runs("host.info").size(), 1u);
  EXPECT_EQ(c->backend_name(), "hyperv");
  EXPECT_EQ(c->uri().raw, "hyperv:///");
}

TEST_F(HvConnect, PwshIsTheSameProtocol) {
  auto c = open("hyperv:///?shell=pwsh");
  EXPECT_TRUE(c->vms().list({}).empty());
}

TEST_F(HvConnect, AProgramThatCannotStartIsUnreachable) {
  ::setenv("HYPERCTL_POWERSHELL", (root_ / "no-such-powershell").c_str(), 1);
  EXPECT_ERROR_CODE(open(), ErrorCode::Unreachable);
}

TEST_F(HvConnect, APowerShellWithoutHyperVFailsToConnect) {
  ::setenv("FAKE_PWSH_CRASH", "clixml", 1);
  EXPECT_ERROR_CODE(open(), ErrorCode::BackendFailure);
  ::unsetenv("FAKE_PWSH_CRASH");
  ::setenv("FAKE_PWSH_FAIL", "host.info|PermissionDenied|You do not have the required permission.",
           1);
  EXPECT_ERROR_CODE(open(), ErrorCode::AuthFailed);
}

TEST(HvCapabilities, DeclareWhatWorks) {
  const auto& b = registry().backend_for("hyperv");
  const Capabilities caps = b.capabilities();
  for (Operation op : {Operation::VmList,
                       Operation::VmGet,
                       Operation::VmCreate,
                       Operation::VmStart,
                       Operation::VmShutdown,
                       Operation::VmPowerOff,
                       Operation::VmReboot,
                       Operation::VmReset,
                       Operation::VmSuspend,
                       Operation::VmResume,
                       Operation::VmSave,
                       Operation::VmDelete,
                       Operation::VmDeleteWithStorage,
                       Operation::VmSetResources,
                       Operation::VmExportConfig,
                       Operation::SnapshotList,
                       Operation::SnapshotCreate,
                       Operation::SnapshotRevert,
                       Operation::SnapshotDelete,
                       Operation::NetworkList,
                       Operation::NetworkInfo,
                       Operation::HostInfo})
    EXPECT_TRUE(caps.has(op)) << to_string(op);
  for (Operation op : {Operation::VmDefine, Operation::VmAutostart, Operation::VmSetProperty,
                       Operation::NetworkStart, Operation::NetworkStop, Operation::HostShutdown})
    EXPECT_FALSE(caps.has(op)) << to_string(op);
}

}  // namespace
}  // namespace hyperctl::test
