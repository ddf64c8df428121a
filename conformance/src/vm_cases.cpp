// Scenarios of the declared VM lifecycle operations: each drives a VM into
// the state the operation starts from, calls it, and checks the state after.
#include <algorithm>

#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

bool listed(Case& c, const VmFilter& filter, const std::string& vm) {
  for (const auto& v : c.vms().list(filter))
    if (v.name == vm) return true;
  return false;
}

/// The VM is gone: get answers NotFound, or list no longer shows it.
void expect_gone(Case& c, const std::string& vm) {
  if (c.declared(Operation::VmGet)) {
    try {
      c.vms().get(vm);
      ADD_FAILURE() << "VM " << vm << " still exists";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
    }
  }
  if (c.declared(Operation::VmList)) {
    EXPECT_FALSE(listed(c, {}, vm)) << vm << " is still listed";
  }
}

void expect_not_found(const std::function<void()>& f, const char* what) {
  try {
    f();
    ADD_FAILURE() << what << " of a missing VM succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << what << ": " << e.what();
  }
}

void vm_list(Case& c) {
  const auto all = c.vms().list({});
  for (const auto& v : all) {
    EXPECT_FALSE(v.name.empty()) << "a listed VM has no name";
    EXPECT_EQ(v.backend, c.backend_name()) << v.name;
  }
  std::string vm;
  try {
    vm = c.vm();
  } catch (const Skip&) {
    return;  // nothing to look for; the listing itself worked
  }
  const VmState state = c.state_of(vm);
  EXPECT_TRUE(listed(c, {}, vm)) << vm << " is not listed";
  EXPECT_TRUE(listed(c, VmFilter{{state}, ""}, vm)) << "filter by its state " << to_string(state);
  const VmState other = state == VmState::Crashed ? VmState::Off : VmState::Crashed;
  EXPECT_FALSE(listed(c, VmFilter{{other}, ""}, vm)) << "filter by another state";
  const auto by_name = c.vms().list(VmFilter{{}, vm});
  ASSERT_EQ(by_name.size(), 1u) << "the name glob '" << vm << "' matches one VM";
  EXPECT_EQ(by_name[0].name, vm);
  EXPECT_TRUE(c.vms().list(VmFilter{{}, vm + "-no-such-suffix"}).empty());
}

void vm_get(Case& c) {
  const std::string vm = c.vm();
  const VmInfo info = c.vms().get(vm);
  EXPECT_EQ(info.name, vm);
  EXPECT_FALSE(info.id.empty()) << "no stable id";
  EXPECT_EQ(info.backend, c.backend_name());
  if (!info.id.empty()) {
    EXPECT_EQ(c.vms().get(info.id).name, vm) << "looked up by id";
  }
  expect_not_found([&] { c.vms().get(c.name_for("missing")); }, "vm.get");
}

void vm_create(Case& c) {
  const std::string name = c.name_for();
  if (c.declared(Operation::VmList)) {
    ASSERT_FALSE(listed(c, {}, name));
  }
  const std::string vm = c.new_vm("");
  EXPECT_EQ(vm, name);
  EXPECT_EQ(c.state_of(vm), VmState::Off) << "a new VM is off";
  if (c.declared(Operation::VmList)) {
    EXPECT_TRUE(listed(c, {}, vm));
  }
  // The name is taken now.
  VmSpec again;
  if (c.config().vm_spec) again = *c.config().vm_spec;
  again.name = vm;
  if (!c.config().vm_spec) again.memory_bytes = 64 * kMiB;
  try {
    c.vms().create(again);
    ADD_FAILURE() << "a second VM named " << vm << " was created";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AlreadyExists) << e.what();
  }
}

void vm_define(Case& c) {
  c.need(Operation::VmExportConfig, "to get a native configuration to define");
  c.need(Operation::VmDelete, "to remove the VM before defining it again");
  const std::string vm = c.new_vm("");
  const std::string config = c.vms().export_config(vm);
  c.vms().remove(vm, {});
  expect_gone(c, vm);
  const VmInfo back = c.vms().define(config);
  EXPECT_EQ(back.name, vm);
  EXPECT_EQ(c.state_of(vm), VmState::Off);
}

void vm_start(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Off);
  c.vms().start(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Running);
}

void vm_shutdown(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  ShutdownOptions options;
  options.timeout = std::chrono::seconds(3);
  options.force = true;
  const auto outcome = c.vms().shutdown(vm, options, {}, CancelToken{});
  EXPECT_TRUE(outcome == ShutdownOutcome::Stopped || outcome == ShutdownOutcome::ForcedOff);
  EXPECT_EQ(c.state_of(vm), VmState::Off);
  EXPECT_EQ(c.vms().shutdown(vm, options, {}, CancelToken{}), ShutdownOutcome::AlreadyOff);
}

void vm_poweroff(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  c.vms().power_off(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Off);
}

void vm_reboot(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  c.vms().reboot(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Running);
}

void vm_reset(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  c.vms().reset(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Running);
}

void vm_suspend(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  c.vms().suspend(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Paused);
}

void vm_resume(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Paused);
  c.vms().resume(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Running);
}

void vm_save(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Running);
  c.vms().save(vm);
  EXPECT_EQ(c.state_of(vm), VmState::Suspended);
  if (c.declared(Operation::VmStart)) {
    c.vms().start(vm);
    EXPECT_EQ(c.state_of(vm), VmState::Running) << "start restores a saved VM";
  }
}

void vm_delete(Case& c) {
  const std::string vm = c.new_vm("");
  if (c.config().delete_needs_force) {
    try {
      c.vms().remove(vm, {});
      ADD_FAILURE() << "Config::delete_needs_force, yet vm.delete without force went through";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Conflict) << e.what();
    }
    EXPECT_EQ(c.vm_info(vm).name, vm) << "a refused delete must leave the VM";
    c.vms().remove(vm, DeleteOptions{false, true});
  } else {
    c.vms().remove(vm, {});
  }
  expect_gone(c, vm);
}

void vm_delete_storage(Case& c) {
  const std::string vm = c.new_vm("", true);
  const VmInfo info = c.vm_info(vm);
  ASSERT_EQ(info.disks.size(), 1u) << "the VM was made with one disk";
  const std::string path = info.disks[0].path;
  c.vms().remove(vm, DeleteOptions{true, c.config().delete_needs_force});
  expect_gone(c, vm);
  if (c.declared(Operation::VolumeList) && !c.config().pool.empty()) {
    for (const auto& v : c.storage().list_volumes(c.config().pool)) {
      EXPECT_NE(v.path, path) << "the VM's disk is still in pool " << c.config().pool;
    }
  }
}

void vm_set(Case& c) {
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Off);
  const VmInfo before = c.vm_info(vm);
  ResourceSettings more;
  more.vcpus = before.vcpus + 1;
  more.memory_bytes = before.memory_bytes * 2;
  if (vm == c.config().existing_vm) {
    c.on_cleanup("restore resources of " + vm, [&c, vm, before] {
      ResourceSettings back;
      back.vcpus = before.vcpus;
      back.memory_bytes = before.memory_bytes;
      c.vms().set_resources(vm, back);
    });
  }
  const VmInfo changed = c.vms().set_resources(vm, more);
  EXPECT_EQ(changed.vcpus, *more.vcpus);
  EXPECT_EQ(changed.memory_bytes, *more.memory_bytes);
  const VmInfo after = c.vm_info(vm);
  EXPECT_EQ(after.vcpus, *more.vcpus);
  EXPECT_EQ(after.memory_bytes, *more.memory_bytes);
}

void vm_autostart(Case& c) {
  const std::string vm = c.vm();
  const auto before = c.vm_info(vm).autostart;
  if (vm == c.config().existing_vm && before)
    c.on_cleanup("restore autostart of " + vm,
                 [&c, vm, was = *before] { c.vms().set_autostart(vm, was); });
  c.vms().set_autostart(vm, true);
  EXPECT_EQ(c.vm_info(vm).autostart, std::optional<bool>(true));
  c.vms().set_autostart(vm, false);
  EXPECT_EQ(c.vm_info(vm).autostart, std::optional<bool>(false));
}

void vm_export_config(Case& c) {
  const std::string vm = c.vm();
  const std::string config = c.vms().export_config(vm);
  EXPECT_FALSE(config.empty()) << "an empty configuration";
  expect_not_found([&] { c.vms().export_config(c.name_for("missing")); }, "vm.export-config");
}

void vm_set_property(Case& c) {
  const std::string vm = c.vm();
  try {
    c.vms().set_property(vm, "hyperctl-conformance-no-such-key", "1");
    ADD_FAILURE() << "an unknown property key was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument)
        << "an unknown key must be invalid-argument: " << e.what();
  }
  for (const auto& [key, value] : c.config().properties) {
    const VmInfo after = c.vms().set_property(vm, key, value);
    EXPECT_EQ(after.name, c.vm_info(vm).name) << key << "=" << value;
  }
  expect_not_found(
      [&] {
        const auto props = c.config().properties;
        c.vms().set_property(c.name_for("missing"), props.empty() ? "x" : props.front().first,
                             props.empty() ? "y" : props.front().second);
      },
      "vm.set-property");
}

}  // namespace

Scenario vm_scenario(Operation op) {
  switch (op) {
    case Operation::VmList:
      return vm_list;
    case Operation::VmGet:
      return vm_get;
    case Operation::VmCreate:
      return vm_create;
    case Operation::VmDefine:
      return vm_define;
    case Operation::VmStart:
      return vm_start;
    case Operation::VmShutdown:
      return vm_shutdown;
    case Operation::VmPowerOff:
      return vm_poweroff;
    case Operation::VmReboot:
      return vm_reboot;
    case Operation::VmReset:
      return vm_reset;
    case Operation::VmSuspend:
      return vm_suspend;
    case Operation::VmResume:
      return vm_resume;
    case Operation::VmSave:
      return vm_save;
    case Operation::VmDelete:
      return vm_delete;
    case Operation::VmDeleteWithStorage:
      return vm_delete_storage;
    case Operation::VmSetResources:
      return vm_set;
    case Operation::VmAutostart:
      return vm_autostart;
    case Operation::VmExportConfig:
      return vm_export_config;
    case Operation::VmSetProperty:
      return vm_set_property;
    default:
      return nullptr;
  }
}

}  // namespace hyperctl::conformance::detail
