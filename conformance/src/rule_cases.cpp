// The rules every backend keeps whatever it declares (issue 23; DESIGN.md,
// "Rules every backend keeps"): each is one test, rule_<name>, built from the
// operations the backend declares, that skips naming what it lacks. A rule
// broken leaves a failure, and the check that nothing changed runs on every
// refusal: a refused operation must leave VMs, disks and snapshots as they were.
#include <algorithm>

#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

/// Runs `f`, which must throw Error(`code`); anything else is a failure.
/// True when it threw that code.
bool refused(const std::function<void()>& f, ErrorCode code, const std::string& what) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << what << ": " << to_string(e.code()) << " (expected "
                              << to_string(code) << "): " << e.what();
    return e.code() == code;
  }
  ADD_FAILURE() << what << " was not refused";
  return false;
}

/// The spec of a VM this rule makes: Config::vm_spec or the small default.
VmSpec vm_spec_for(Case& c, const std::string& name) {
  VmSpec spec;
  if (c.config().vm_spec) spec = *c.config().vm_spec;
  if (!c.config().vm_spec) {
    spec.vcpus = 1;
    spec.memory_bytes = 64 * kMiB;
  }
  spec.name = name;
  return spec;
}

bool volume_exists(Case& c, const std::string& pool, const std::string& name) {
  if (c.declared(Operation::VolumeInfo)) {
    try {
      c.storage().get_volume(pool, name);
      return true;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::NotFound) return false;
      throw;
    }
  }
  for (const auto& v : c.storage().list_volumes(pool))
    if (v.name == name) return true;
  return false;
}

std::uint64_t capacity_of(Case& c, const std::string& pool, const std::string& name) {
  if (c.declared(Operation::VolumeInfo)) return c.storage().get_volume(pool, name).capacity_bytes;
  for (const auto& v : c.storage().list_volumes(pool))
    if (v.name == name) return v.capacity_bytes;
  ADD_FAILURE() << "volume " << pool << "/" << name << " is no longer listed";
  return 0;
}

// ---- 1. delete --with-storage keeps a disk another VM uses

void in_use_disk_kept(Case& c) {
  c.need(Operation::VmCreate, "to make two VMs sharing a disk");
  c.need(Operation::VmDeleteWithStorage, "(the rule is about it)");
  if (c.config().pool.empty())
    c.skip("needs Config::pool: the pool the VMs' disk is made in and looked up");
  if (c.config().vm_spec && !c.config().vm_spec->disks.empty())
    c.skip("the " + c.backend_name() +
           " backend makes VMs from an image (Config::vm_spec): a VM cannot be made on "
           "another VM's disk");
  c.need(Operation::VolumeList, "to find the volume behind the first VM's disk");
  const std::string pool = c.config().pool;

  const std::string a = c.new_vm("a", true);
  const VmInfo a_info = c.vm_info(a);
  ASSERT_EQ(a_info.disks.size(), 1u) << "VM " << a << " was made with one disk";
  std::string volume;
  for (const auto& v : c.storage().list_volumes(pool))
    if (v.path == a_info.disks[0].path) volume = v.name;
  ASSERT_FALSE(volume.empty()) << "no volume of pool " << pool << " has the path "
                               << a_info.disks[0].path << " of VM " << a << "'s disk";

  VmSpec b = vm_spec_for(c, c.name_for("b"));
  DiskSpec shared;
  shared.pool = pool;
  shared.volume = volume;
  b.disks = {shared};
  c.vms().create(b);
  // Without storage: should the rule be broken, the disk is gone already.
  c.on_cleanup("delete VM " + b.name, [&c, name = b.name] {
    c.vms().remove(name, DeleteOptions{false, true, true});
  });

  const DeleteReport report = c.vms().remove(b.name, DeleteOptions{true, true, false});
  EXPECT_EQ(c.vm_info(a).name, a) << "VM " << a << " must survive the delete of " << b.name;
  EXPECT_TRUE(volume_exists(c, pool, volume)) << "volume " << pool << "/" << volume << ", which VM "
                                              << a << " uses, was deleted with VM " << b.name;
  const auto names_it = [&](const std::string& disk) {
    return disk == volume || disk == a_info.disks[0].path || disk.find(volume) != std::string::npos;
  };
  EXPECT_TRUE(std::any_of(report.kept.begin(), report.kept.end(),
                          [&](const KeptDisk& k) { return names_it(k.disk); }))
      << "the DeleteReport does not list " << volume << " as kept";
  for (const auto& k : report.kept)
    EXPECT_FALSE(k.reason.empty()) << "kept " << k.disk << " without a reason";
  EXPECT_TRUE(std::none_of(report.deleted.begin(), report.deleted.end(), names_it))
      << "the DeleteReport lists " << volume << " as deleted";
}

// ---- 2. no shrink without ResizeOptions::shrink

void no_shrink_without_shrink(Case& c) {
  c.need(Operation::VolumeResize, "(the rule is about it)");
  // Sizes a VHDX takes too (at least 3 MiB).
  const Volume v = c.new_volume("", 8 * kMiB, "");
  const std::uint64_t before = capacity_of(c, v.pool, v.name);
  ASSERT_GT(before, 4 * kMiB);
  refused([&] { c.storage().resize_volume(v.pool, v.name, 4 * kMiB, ResizeOptions{}); },
          ErrorCode::Conflict, "a shrink without ResizeOptions::shrink");
  EXPECT_EQ(capacity_of(c, v.pool, v.name), before) << "a refused shrink changed the capacity";

  ResizeOptions shrink;
  shrink.shrink = true;
  try {
    Volume after;
    try {
      after = c.storage().resize_volume(v.pool, v.name, 4 * kMiB, shrink);
    } catch (const Error& e) {
      // A backend that cannot see how far the data reaches counts all of it
      // as data: then the shrink needs force as well, and nothing changed.
      if (e.code() != ErrorCode::Conflict) throw;
      EXPECT_EQ(capacity_of(c, v.pool, v.name), before) << "a refused shrink changed it";
      ResizeOptions force = shrink;
      force.force = true;
      after = c.storage().resize_volume(v.pool, v.name, 4 * kMiB, force);
    }
    EXPECT_EQ(after.capacity_bytes, 4 * kMiB);
    EXPECT_EQ(capacity_of(c, v.pool, v.name), 4 * kMiB) << "the shrink asked for";
  } catch (const Error& e) {
    // A format that cannot shrink says so in the backend's own sentence.
    const std::string core_default =
        "the " + c.backend_name() + " backend does not support " + e.operation();
    if (e.code() != ErrorCode::Unsupported || e.what() == core_default) throw;
    EXPECT_EQ(capacity_of(c, v.pool, v.name), before) << "an unsupported shrink changed it";
  }
}

// ---- 3. set_resources is all or nothing

void set_all_or_nothing(Case& c) {
  c.need(Operation::VmSetResources, "(the rule is about it)");
  const std::string vm = c.vm();
  c.bring_to(vm, VmState::Off);
  const VmInfo before = c.vm_info(vm);
  if (vm == c.config().existing_vm)
    c.on_cleanup("restore resources of " + vm, [&c, vm, before] {
      ResourceSettings back;
      back.vcpus = before.vcpus;
      back.memory_bytes = before.memory_bytes;
      c.vms().set_resources(vm, back);
    });
  ResourceSettings bad;
  bad.vcpus = before.vcpus + 1;  // valid on its own
  bad.memory_bytes = 0;          // valid nowhere
  refused([&] { c.vms().set_resources(vm, bad); }, ErrorCode::InvalidArgument,
          "set_resources with a valid vCPU count and 0 bytes of memory");
  const VmInfo after = c.vm_info(vm);
  EXPECT_EQ(after.vcpus, before.vcpus) << "the vCPUs changed although the set was refused";
  EXPECT_EQ(after.memory_bytes, before.memory_bytes) << "the memory changed";
}

// ---- 4. snapshot names

void snapshot_name_validation(Case& c) {
  c.need(Operation::SnapshotCreate, "(the rule is about it)");
  const std::string vm = c.vm(true);
  if (vm == c.config().existing_vm)
    c.need(Operation::SnapshotDelete, "to remove a snapshot wrongly taken of an existing VM");
  const auto count = [&] {
    return c.declared(Operation::SnapshotList) ? c.snapshots().list(vm).size() : 0;
  };
  const std::size_t before = count();
  // An empty name is not among them: it lets the backend choose one.
  for (const std::string& name : {std::string("conf/a-b"), std::string("conf-x\ny"),
                                  std::string("conf-tab\tz"), std::string(256, 'n')}) {
    SnapshotSpec spec;
    spec.name = name;
    const std::string shown = name.size() > 40 ? std::to_string(name.size()) + " bytes" : name;
    try {
      c.snapshots().create(vm, spec);
      ADD_FAILURE() << "a snapshot named '" << shown << "' was taken";
      if (c.declared(Operation::SnapshotDelete)) c.snapshots().remove(vm, name, false);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument)
          << "'" << shown << "': " << to_string(e.code()) << ": " << e.what();
    }
  }
  EXPECT_EQ(count(), before) << "a refused name left a snapshot behind";
}

// ---- 5. "already in that state" is Conflict

void already_in_state(Case& c) {
  const std::string vm = c.vm();
  std::vector<std::string> skipped;
  int checked = 0;
  const auto check = [&](Operation op, VmState from, const std::function<void()>& call) {
    if (!c.declared(op)) {
      skipped.push_back(name_of(op) + " is not declared");
      return;
    }
    try {
      c.bring_to(vm, from);
    } catch (const Skip& s) {
      skipped.push_back(name_of(op) + ": " + s.reason);
      return;
    }
    ++checked;
    refused(call, ErrorCode::Conflict,
            name_of(op) + " of a VM already " + std::string(to_string(from)));
    EXPECT_EQ(c.state_of(vm), from) << name_of(op) << " refused must leave the VM as it was";
  };
  check(Operation::VmStart, VmState::Running, [&] { c.vms().start(vm); });
  check(Operation::VmPowerOff, VmState::Off, [&] { c.vms().power_off(vm); });
  check(Operation::VmResume, VmState::Running, [&] { c.vms().resume(vm); });
  check(Operation::VmSuspend, VmState::Off, [&] { c.vms().suspend(vm); });
  if (checked == 0) {
    std::string why;
    for (const auto& s : skipped) why += (why.empty() ? "" : "; ") + s;
    c.skip("no state change to check: " + why);
  }
}

// ---- 6. delete of a VM with snapshots needs DeleteOptions::snapshots

void delete_with_snapshots(Case& c) {
  c.need(Operation::SnapshotCreate, "to give the VM a snapshot");
  c.need(Operation::VmCreate, "to make the VM it deletes");
  const bool storage = c.declared(Operation::VmDeleteWithStorage);
  if (!storage) c.need(Operation::VmDelete, "(the rule is about it)");
  const std::string vm = c.new_vm("", true);
  SnapshotSpec spec;
  spec.name = "conf-keep";
  c.snapshots().create(vm, spec);
  const auto snapshot_count = [&] {
    return c.declared(Operation::SnapshotList) ? c.snapshots().list(vm).size() : 1;
  };
  refused(
      [&] {
        c.vms().remove(vm, DeleteOptions{storage, true, false});
      },
      ErrorCode::Conflict, "deleting a VM with a snapshot without DeleteOptions::snapshots");
  EXPECT_EQ(c.vm_info(vm).name, vm) << "the refused delete removed the VM";
  EXPECT_EQ(snapshot_count(), 1u) << "the refused delete removed the snapshot";

  c.vms().remove(vm, DeleteOptions{storage, true, true});
  try {
    c.vm_info(vm);
    ADD_FAILURE() << "VM " << vm << " is still there after a delete with snapshots";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
}

}  // namespace

const std::vector<Rule>& rules() {
  static const std::vector<Rule> all = {
      {"in-use-disk-kept", in_use_disk_kept},
      {"no-shrink-without-shrink", no_shrink_without_shrink},
      {"set-all-or-nothing", set_all_or_nothing},
      {"snapshot-name-validation", snapshot_name_validation},
      {"already-in-state", already_in_state},
      {"delete-with-snapshots", delete_with_snapshots},
  };
  return all;
}

}  // namespace hyperctl::conformance::detail
