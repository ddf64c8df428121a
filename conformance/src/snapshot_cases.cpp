// Scenarios of the declared snapshot operations, on a VM with one small disk
// where the backend can remove it with its storage (QEMU keeps internal
// snapshots in the disk).
#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

const Snapshot* find(const std::vector<Snapshot>& all, const std::string& name) {
  for (const auto& s : all)
    if (s.name == name) return &s;
  return nullptr;
}

/// Takes a snapshot named `name`, deleted at the end when the backend can.
Snapshot take(Case& c, const std::string& vm, const std::string& name) {
  c.need(Operation::SnapshotCreate, "to take a snapshot");
  if (vm == c.config().existing_vm)
    c.need(Operation::SnapshotDelete, "to remove the snapshots it takes of an existing VM");
  SnapshotSpec spec;
  spec.name = name;
  spec.description = "taken by the hyperctl conformance suite";
  const Snapshot s = c.snapshots().create(vm, spec);
  if (c.declared(Operation::SnapshotDelete))
    c.on_cleanup("delete snapshot " + name,
                 [&c, vm, name] { c.snapshots().remove(vm, name, false); });
  return s;
}

void snapshot_list(Case& c) {
  const std::string vm = c.vm(true);
  const auto before = c.snapshots().list(vm);
  if (vm != c.config().existing_vm) {
    EXPECT_TRUE(before.empty()) << "a new VM has no snapshot";
  }
  if (!c.declared(Operation::SnapshotCreate)) return;
  take(c, vm, "conf-a");
  take(c, vm, "conf-b");
  const auto after = c.snapshots().list(vm);
  EXPECT_EQ(after.size(), before.size() + 2);
  const Snapshot* a = find(after, "conf-a");
  const Snapshot* b = find(after, "conf-b");
  ASSERT_TRUE(a && b) << "both snapshots are listed";
  EXPECT_LT(a - after.data(), b - after.data()) << "a parent is listed before its child";
  EXPECT_EQ(b->parent, "conf-a");
  EXPECT_TRUE(b->current) << "the last one taken is current";
}

void snapshot_create(Case& c) {
  const std::string vm = c.vm(true);
  const Snapshot s = take(c, vm, "conf-create");
  EXPECT_EQ(s.name, "conf-create");
  EXPECT_EQ(s.description, "taken by the hyperctl conformance suite");
  if (c.declared(Operation::SnapshotList)) {
    EXPECT_TRUE(find(c.snapshots().list(vm), "conf-create")) << "the snapshot is listed";
  }
  try {
    SnapshotSpec again;
    again.name = "conf-create";
    c.snapshots().create(vm, again);
    ADD_FAILURE() << "a second snapshot named conf-create was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AlreadyExists) << e.what();
  }
}

void snapshot_revert(Case& c) {
  const std::string vm = c.vm(true);
  c.bring_to(vm, VmState::Off);
  take(c, vm, "conf-off");
  if (c.declared(Operation::VmStart)) {
    // The change to undo: the VM runs now; the snapshot was taken off.
    c.bring_to(vm, VmState::Running);
    c.snapshots().revert(vm, "conf-off");
    EXPECT_EQ(c.state_of(vm), VmState::Off) << "reverted to a snapshot of the VM off";
  } else if (c.declared(Operation::VmSetResources)) {
    const unsigned vcpus = c.vm_info(vm).vcpus;
    ResourceSettings more;
    more.vcpus = vcpus + 1;
    c.vms().set_resources(vm, more);
    c.snapshots().revert(vm, "conf-off");
    EXPECT_EQ(c.vm_info(vm).vcpus, vcpus) << "the vCPU count of the snapshot is back";
  } else {
    c.need(Operation::SnapshotList, "(or vm.start, or vm.set) to see what a revert changed");
    take(c, vm, "conf-later");
    c.snapshots().revert(vm, "conf-off");
    const auto all = c.snapshots().list(vm);
    const Snapshot* s = find(all, "conf-off");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->current) << "the snapshot reverted to is current";
  }
  try {
    c.snapshots().revert(vm, "conf-no-such-snapshot");
    ADD_FAILURE() << "reverting to a missing snapshot succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
}

void snapshot_delete(Case& c) {
  const std::string vm = c.vm(true);
  take(c, vm, "conf-delete");
  c.snapshots().remove(vm, "conf-delete", false);
  if (c.declared(Operation::SnapshotList)) {
    EXPECT_FALSE(find(c.snapshots().list(vm), "conf-delete")) << "the snapshot is still listed";
  }
  try {
    c.snapshots().remove(vm, "conf-delete", false);
    ADD_FAILURE() << "deleting the snapshot twice succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
}

}  // namespace

Scenario snapshot_scenario(Operation op) {
  switch (op) {
    case Operation::SnapshotList:
      return snapshot_list;
    case Operation::SnapshotCreate:
      return snapshot_create;
    case Operation::SnapshotRevert:
      return snapshot_revert;
    case Operation::SnapshotDelete:
      return snapshot_delete;
    default:
      return nullptr;
  }
}

}  // namespace hyperctl::conformance::detail
