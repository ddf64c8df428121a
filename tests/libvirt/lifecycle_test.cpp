// Every lifecycle operation, checked before and after, on two targets:
//   TestDriver/...  test:///default, a fresh connection per test;
//   RealDaemon/...  the libvirtd at $HYPERCTL_TEST_QEMU_URI (skipped when unset).
// test:///default keeps its state while any connection to it is open in the
// process (see DriverFacts in bad_input_test.cpp), so each test opens its
// own connection, closes it at the end, and names its VMs uniquely.
#include <gtest/gtest.h>

#include "hyperctl/connection.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

class VmLifecycle : public LibvirtTargetTest {
 protected:
  VmInfo make_vm(const std::string& stem, bool with_disk = false) {
    VmSpec spec;
    spec.name = unique_name(stem);
    spec.vcpus = 1;
    spec.memory_bytes = 64 * kMiB;
    if (with_disk) spec.disks.push_back(DiskSpec{64 * kMiB, "", "qcow2", ""});
    created_.push_back(spec.name);
    return vms().create(spec);
  }

  VmInfo make_running_vm(const std::string& stem) {
    auto info = make_vm(stem);
    vms().start(info.name);
    EXPECT_EQ(vms().get(info.name).state, VmState::Running);
    return info;
  }

  VmState state_of(const std::string& name) { return vms().get(name).state; }
};

TEST_P(VmLifecycle, CreateStartSuspendResumeForcedShutdownDeleteWithStorage) {
  const auto volumes_before = all_volume_paths(*conn_);
  VmSpec spec;
  spec.name = unique_name("we<b>&'\"$(rm -rf ~);x");
  spec.memory_bytes = 64 * kMiB;
  spec.disks.push_back(DiskSpec{64 * kMiB, "", "qcow2", ""});
  created_.push_back(spec.name);
  ASSERT_FALSE(has_vm_named(*conn_, spec.name));

  VmInfo created = vms().create(spec);
  EXPECT_EQ(created.name, spec.name);
  EXPECT_EQ(created.state, VmState::Off);
  EXPECT_EQ(created.backend, "libvirt");
  ASSERT_EQ(created.disks.size(), 1u);
  EXPECT_EQ(created.disks[0].format, "qcow2");
  EXPECT_EQ(created.disks[0].capacity_bytes, 64 * kMiB);
  EXPECT_EQ(all_volume_paths(*conn_).size(), volumes_before.size() + 1);

  vms().start(spec.name);
  EXPECT_EQ(state_of(spec.name), VmState::Running);
  vms().suspend(spec.name);
  EXPECT_EQ(state_of(spec.name), VmState::Paused);
  vms().resume(spec.name);
  EXPECT_EQ(state_of(spec.name), VmState::Running);

  int progress_calls = 0;
  ShutdownOptions opts;
  opts.timeout = std::chrono::seconds(2);
  opts.force = true;
  auto outcome = vms().shutdown(
      spec.name, opts, [&](const Progress&) { ++progress_calls; }, CancelToken{});
  if (real()) {
    // The guest has no OS: nothing answers the ACPI request, force powers off.
    EXPECT_EQ(outcome, ShutdownOutcome::ForcedOff);
    EXPECT_GE(progress_calls, 5);
  } else {
    // The test driver stops a VM at once.
    EXPECT_EQ(outcome, ShutdownOutcome::Stopped);
  }
  EXPECT_EQ(state_of(spec.name), VmState::Off);

  vms().remove(spec.name, DeleteOptions{true, false});
  EXPECT_ERROR_CODE(vms().get(spec.name), ErrorCode::NotFound);
  EXPECT_EQ(all_volume_paths(*conn_), volumes_before);
}

TEST_P(VmLifecycle, StartOfRunningVmIsConflictAndLeavesItRunning) {
  auto vm = make_running_vm("start-twice");
  auto err = error_of([&] { vms().start(vm.name); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("is already running"), std::string::npos) << err->what();
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, PowerOffStopsVmAndSecondPowerOffIsConflict) {
  auto vm = make_running_vm("poweroff");
  vms().power_off(vm.name);
  EXPECT_EQ(state_of(vm.name), VmState::Off);
  EXPECT_ERROR_CODE(vms().power_off(vm.name), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Off);
}

TEST_P(VmLifecycle, RebootAndResetKeepVmRunning) {
  auto vm = make_running_vm("reboot");
  vms().reset(vm.name);
  EXPECT_EQ(state_of(vm.name), VmState::Running);
  if (real()) {
    // A guest without an OS ignores the ACPI reboot request; libvirt accepts it.
    try {
      vms().reboot(vm.name);
    } catch (const Error& e) {
      FAIL() << e.what() << " / " << e.detail();
    }
  } else {
    vms().reboot(vm.name);
  }
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, RebootResetSuspendOfOffVmAreConflicts) {
  auto vm = make_vm("off-ops");
  EXPECT_ERROR_CODE(vms().reboot(vm.name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms().reset(vm.name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms().suspend(vm.name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms().resume(vm.name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms().save(vm.name), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Off);
}

TEST_P(VmLifecycle, SuspendOfPausedAndResumeOfRunningAreConflicts) {
  auto vm = make_running_vm("pause-twice");
  EXPECT_ERROR_CODE(vms().resume(vm.name), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Running);
  vms().suspend(vm.name);
  EXPECT_ERROR_CODE(vms().suspend(vm.name), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Paused);
  EXPECT_ERROR_CODE(vms().start(vm.name), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Paused);
}

TEST_P(VmLifecycle, SaveSuspendsToDiskAndStartRestores) {
  auto vm = make_running_vm("save");
  vms().save(vm.name);
  auto saved = vms().get(vm.name);
  EXPECT_EQ(saved.state, VmState::Suspended);
  EXPECT_EQ(saved.state_reason, "saved");
  bool listed_as_saved = false;
  for (const auto& v : vms().list(VmFilter{{VmState::Suspended}, vm.name}))
    listed_as_saved = listed_as_saved || v.name == vm.name;
  EXPECT_TRUE(listed_as_saved);
  vms().start(vm.name);
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, ShutdownOfOffVmIsAlreadyOff) {
  auto vm = make_vm("already-off");
  EXPECT_EQ(vms().shutdown(vm.name, {}, {}, CancelToken{}), ShutdownOutcome::AlreadyOff);
  EXPECT_EQ(state_of(vm.name), VmState::Off);
}

TEST_P(VmLifecycle, CancelledShutdownLeavesVmRunning) {
  auto vm = make_running_vm("cancel");
  CancelToken cancel;
  cancel.cancel();
  EXPECT_ERROR_CODE(vms().shutdown(vm.name, {}, {}, cancel), ErrorCode::Cancelled);
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, ShutdownWithoutForceTimesOutAndLeavesVmRunning) {
  if (!real()) GTEST_SKIP() << "the test driver stops a VM at once: no timeout to observe";
  auto vm = make_running_vm("timeout");
  ShutdownOptions opts;
  opts.timeout = std::chrono::milliseconds(1500);
  auto err = error_of([&] { vms().shutdown(vm.name, opts, {}, CancelToken{}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Timeout);
  EXPECT_NE(std::string(err->what()).find("did not shut down within 1.5 s; it is still running"),
            std::string::npos)
      << err->what();
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, CancelDuringShutdownWaitLeavesVmRunning) {
  if (!real()) GTEST_SKIP() << "the test driver stops a VM at once: no wait to cancel";
  auto vm = make_running_vm("cancel-wait");
  CancelToken cancel;
  int calls = 0;
  ShutdownOptions opts;
  opts.timeout = std::chrono::seconds(30);
  auto started = std::chrono::steady_clock::now();
  EXPECT_ERROR_CODE(vms().shutdown(
                        vm.name, opts,
                        [&](const Progress&) {
                          if (++calls == 3) cancel.cancel();
                        },
                        cancel),
                    ErrorCode::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(state_of(vm.name), VmState::Running);
}

TEST_P(VmLifecycle, SetResourcesChangesConfiguredVcpusAndMemory) {
  auto vm = make_vm("resources");
  ASSERT_EQ(vm.vcpus, 1u);
  ASSERT_EQ(vm.memory_bytes, 64 * kMiB);
  ResourceSettings settings;
  settings.vcpus = 2;
  settings.memory_bytes = 128 * kMiB;
  auto changed = vms().set_resources(vm.name, settings);
  EXPECT_EQ(changed.vcpus, 2u);
  EXPECT_EQ(changed.memory_bytes, 128 * kMiB);
  auto again = vms().get(vm.name);
  EXPECT_EQ(again.vcpus, 2u);
  EXPECT_EQ(again.memory_bytes, 128 * kMiB);
  EXPECT_GE(again.max_memory_bytes, 128 * kMiB);
  EXPECT_EQ(again.state, VmState::Off);
  ResourceSettings bad;
  bad.vcpus = 0;
  EXPECT_ERROR_CODE(vms().set_resources(vm.name, bad), ErrorCode::InvalidArgument);
  EXPECT_EQ(vms().get(vm.name).vcpus, 2u);
}

TEST_P(VmLifecycle, LiveChangeOfAStoppedVmIsConflictAndChangesNothing) {
  auto vm = make_vm("live-off");
  ResourceSettings settings;
  settings.vcpus = 2;
  settings.memory_bytes = 128 * kMiB;
  settings.live = true;
  auto err = error_of([&] { vms().set_resources(vm.name, settings); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_EQ(std::string(err->what()),
            "VM '" + vm.name + "' is not running; --live changes a running VM");
  const auto after = vms().get(vm.name);
  EXPECT_EQ(after.vcpus, 1u);
  EXPECT_EQ(after.memory_bytes, 64 * kMiB);
}

TEST_P(VmLifecycle, LiveChangeBeyondTheLiveMaximumChangesNeitherConfigurationNorVm) {
  // The case: set VM --vcpus 4 --memory 1G --live on a VM started
  // with 1 vCPU and 64 MiB (its live maximums).
  auto vm = make_running_vm("live-max");
  ResourceSettings settings;
  settings.vcpus = 4;
  settings.memory_bytes = 1024 * kMiB;
  settings.live = true;
  auto err = error_of([&] { vms().set_resources(vm.name, settings); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(err->what()).find("runs with at most 1 vCPUs"), std::string::npos)
      << err->what();
  EXPECT_NE(std::string(err->what()).find("nothing was changed"), std::string::npos) << err->what();
  EXPECT_EQ(vms().get(vm.name).vcpus, 1u);
  settings.vcpus.reset();
  EXPECT_ERROR_CODE(vms().set_resources(vm.name, settings), ErrorCode::InvalidArgument);
  // Stopped, the VM shows its configuration: unchanged.
  vms().power_off(vm.name);
  const auto config = vms().get(vm.name);
  EXPECT_EQ(config.vcpus, 1u);
  EXPECT_EQ(config.memory_bytes, 64 * kMiB);
  EXPECT_EQ(config.max_memory_bytes, 64 * kMiB);
}

TEST_P(VmLifecycle, ALiveFailureAfterTheConfigurationChangedRestoresTheConfiguration) {
  if (!real()) GTEST_SKIP() << "the test driver takes every vCPU count within the maximum";
  // QEMU cannot unplug a vCPU that was not hot-plugged: the live part fails
  // after the configuration already says 1 vCPU.
  VmSpec spec;
  spec.name = unique_name("live-undo");
  spec.vcpus = 2;
  spec.memory_bytes = 64 * kMiB;
  created_.push_back(spec.name);
  vms().create(spec);
  vms().start(spec.name);
  ResourceSettings settings;
  settings.vcpus = 1;
  settings.live = true;
  auto err = error_of([&] { vms().set_resources(spec.name, settings); });
  ASSERT_TRUE(err);
  EXPECT_NE(std::string(err->what()).find("cannot change the vCPUs of running"), std::string::npos)
      << err->what();
  EXPECT_NE(std::string(err->what()).find("nothing was changed"), std::string::npos) << err->what();
  EXPECT_EQ(vms().get(spec.name).vcpus, 2u);
  vms().power_off(spec.name);
  EXPECT_EQ(vms().get(spec.name).vcpus, 2u) << "the configuration was restored";
}

TEST_P(VmLifecycle, AutostartIsReportedByGetAndList) {
  auto vm = make_vm("autostart");
  EXPECT_EQ(vms().get(vm.name).autostart, std::optional<bool>(false));
  vms().set_autostart(vm.name, true);
  EXPECT_EQ(vms().get(vm.name).autostart, std::optional<bool>(true));
  auto listed = vms().list(VmFilter{{}, vm.name});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].autostart, std::optional<bool>(true));
  vms().set_autostart(vm.name, false);
  EXPECT_EQ(vms().get(vm.name).autostart, std::optional<bool>(false));
}

TEST_P(VmLifecycle, ExportedConfigDefinesTheSameVm) {
  auto vm = make_vm("export");
  const std::string xml = vms().export_config(vm.name);
  EXPECT_NE(xml.find("<domain"), std::string::npos);
  vms().remove(vm.name, {});
  EXPECT_ERROR_CODE(vms().get(vm.name), ErrorCode::NotFound);
  auto back = vms().define(xml);
  EXPECT_EQ(back.id, vm.id);
  EXPECT_EQ(back.name, vm.name);
  EXPECT_EQ(back.state, VmState::Off);
}

TEST_P(VmLifecycle, DefineWithTheUuidOfAnotherVmIsAlreadyExists) {
  auto vm = make_vm("uuid-a");
  std::string xml = vms().export_config(vm.name);
  const std::string other = unique_name("uuid-b");
  const std::string old_name = "<name>" + vm.name + "</name>";
  xml.replace(xml.find(old_name), old_name.size(), "<name>" + other + "</name>");
  created_.push_back(other);
  auto err = error_of([&] { vms().define(xml); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::AlreadyExists) << err->what();
  EXPECT_FALSE(has_vm_named(*conn_, other));
  EXPECT_EQ(vms().get(vm.id).name, vm.name);
}

TEST_P(VmLifecycle, AConfigurationLibvirtCannotRunIsUnsupported) {
  if (!real()) GTEST_SKIP() << "the test driver accepts a WWN on a virtio disk";
  // Valid XML, refused as "unsupported configuration": a WWN on a virtio disk.
  const std::string name = unique_name("unsupported");
  created_.push_back(name);
  const std::string xml = "<domain type='qemu'><name>" + name +
                          "</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>"
                          "<devices><disk type='file' device='disk'><source file='/tmp/x.img'/>"
                          "<target dev='vda' bus='virtio'/><wwn>0x5000c50015ea71ad</wwn></disk>"
                          "</devices></domain>";
  auto err = error_of([&] { vms().define(xml); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Unsupported) << err->what();
  EXPECT_FALSE(has_vm_named(*conn_, name));
}

TEST_P(VmLifecycle, ListFiltersByStateAndName) {
  auto on = make_running_vm("filter-on");
  auto off = make_vm("filter-off");
  const std::string glob = "hyperctl-test-filter-*-" + std::to_string(::getpid());
  auto names = [&](const VmFilter& f) {
    std::vector<std::string> out;
    for (const auto& v : vms().list(f)) out.push_back(v.name);
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<std::string> both = {off.name, on.name};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(names({{}, glob}), both);
  EXPECT_EQ(names({{VmState::Running}, glob}), std::vector<std::string>{on.name});
  EXPECT_EQ(names({{VmState::Off}, glob}), std::vector<std::string>{off.name});
  EXPECT_EQ(names({{VmState::Off, VmState::Running}, glob}), both);
  EXPECT_TRUE(names({{VmState::Crashed}, glob}).empty());

  for (const auto& v : vms().list({{}, glob})) {
    EXPECT_EQ(v.memory_bytes, 64 * kMiB) << v.name;
    EXPECT_EQ(v.vcpus, 1u) << v.name;
    EXPECT_FALSE(v.host.empty());
    EXPECT_EQ(v.backend, "libvirt");
    EXPECT_EQ(v.extras.count("libvirt_id"), v.name == on.name ? 1u : 0u) << v.name;
  }
}

TEST_P(VmLifecycle, GetFindsVmByUuidAndByName) {
  auto vm = make_vm("lookup");
  ASSERT_EQ(vm.id.size(), 36u);
  EXPECT_EQ(vms().get(vm.id).name, vm.name);
  EXPECT_EQ(vms().get(vm.name).id, vm.id);
}

TEST_P(VmLifecycle, DeleteOfRunningVmNeedsForce) {
  auto vm = make_running_vm("delete-running");
  EXPECT_ERROR_CODE(vms().remove(vm.name, {}), ErrorCode::Conflict);
  EXPECT_EQ(state_of(vm.name), VmState::Running);
  vms().remove(vm.name, DeleteOptions{false, true});
  EXPECT_ERROR_CODE(vms().get(vm.name), ErrorCode::NotFound);
}

TEST_P(VmLifecycle, UnknownVmIsNotFoundNamingVmAndHost) {
  const std::string name = unique_name("missing");
  auto err = error_of([&] { vms().start(name); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::NotFound);
  EXPECT_EQ(std::string(err->what()), "VM '" + name + "' not found on " + uri_);
  EXPECT_EQ(err->operation(), "vm.start");
}

HYPERCTL_INSTANTIATE_TARGETS(VmLifecycle);

}  // namespace
}  // namespace hyperctl::test
