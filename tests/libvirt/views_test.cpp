// One fact, the same in every view: vm list vs vm info, volume list vs
// volume info, snapshot list vs what the snapshot is; on two targets
// (test:///default and the real libvirtd at $HYPERCTL_TEST_QEMU_URI, skipped
// when unset).
#include <gtest/gtest.h>

#include "hyperctl/connection.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

class Views : public LibvirtTargetTest {
 protected:
  void cleanup() override {
    for (const auto& name : volumes_) {
      try {
        conn_->storage().remove_volume(pool(), name);
      } catch (const Error&) {
      }
    }
  }
  std::string pool() const { return real() ? "default" : "default-pool"; }

  Volume make_volume(const std::string& stem, std::uint64_t bytes, const std::string& format) {
    VolumeSpec spec{unique_name(stem), pool(), format, bytes};
    volumes_.push_back(spec.name);
    return conn_->storage().create_volume(spec);
  }
  VmInfo listed(const std::string& name) {
    auto all = vms().list(VmFilter{{}, name});
    EXPECT_EQ(all.size(), 1u) << name;
    return all.empty() ? VmInfo{} : all.front();
  }

  std::vector<std::string> volumes_;
};

const DiskInfo* disk_by_target(const VmInfo& vm, const std::string& target) {
  for (const auto& d : vm.disks)
    if (d.target == target) return &d;
  return nullptr;
}

TEST_P(Views, ACdromHasTheSameCapacityInInfoAndList) {
  if (!real()) GTEST_SKIP() << "the test driver lists no disks in bulk";
  const Volume iso = make_volume("cd", 358400, "raw");
  const auto vm =
      make_vm("cd-vm", {DiskSpec{.size_bytes = 16 * kMiB, .format = "qcow2"},
                        DiskSpec{.pool = pool(), .volume = iso.name, .device = "cdrom"}});
  const auto info = vms().get(vm.name);
  const auto list = listed(vm.name);
  for (const auto& d : info.disks) {
    SCOPED_TRACE(d.target);
    const DiskInfo* l = disk_by_target(list, d.target);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(d.capacity_bytes, l->capacity_bytes);
    EXPECT_EQ(d.path, l->path);
  }
  const DiskInfo* cd = disk_by_target(info, "sda");
  ASSERT_NE(cd, nullptr);
  EXPECT_EQ(cd->device, "cdrom");
  EXPECT_EQ(cd->capacity_bytes, 358400u);
}

TEST_P(Views, VolumeListFillsUsedByAsVolumeInfoDoes) {
  const Volume used = make_volume("used", 4 * kMiB, "raw");
  const Volume free_volume = make_volume("free", 4 * kMiB, "raw");
  const auto vm = make_vm("user", {DiskSpec{.path = used.path}});
  EXPECT_EQ(conn_->storage().get_volume(pool(), used.name).used_by,
            std::vector<std::string>{vm.name});
  bool seen_used = false, seen_free = false;
  for (const auto& v : conn_->storage().list_volumes(pool())) {
    if (v.name == used.name) {
      seen_used = true;
      EXPECT_EQ(v.used_by, std::vector<std::string>{vm.name});
    }
    if (v.name == free_volume.name) {
      seen_free = true;
      EXPECT_TRUE(v.used_by.empty());
    }
    EXPECT_EQ(v.used_by, conn_->storage().get_volume(pool(), v.name).used_by) << v.name;
  }
  EXPECT_TRUE(seen_used);
  EXPECT_TRUE(seen_free);
}

TEST_P(Views, ADiskOnlySnapshotOfAStoppedVmIsListedDiskOnly) {
  if (!real()) GTEST_SKIP() << "the test driver takes no disk-only snapshots";
  const auto vm = make_vm("offline-snap", {DiskSpec{.size_bytes = 16 * kMiB, .format = "qcow2"}});
  ASSERT_EQ(vms().get(vm.name).state, VmState::Off);
  const auto made =
      conn_->snapshots().create(vm.name, SnapshotSpec{.name = "d", .disk_only = true});
  EXPECT_TRUE(made.disk_only);
  const auto list = conn_->snapshots().list(vm.name);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].disk_only);
  // A full snapshot of the same stopped VM is not disk-only.
  const auto vm2 = make_vm("offline-full", {DiskSpec{.size_bytes = 16 * kMiB, .format = "qcow2"}});
  EXPECT_FALSE(conn_->snapshots().create(vm2.name, SnapshotSpec{.name = "f"}).disk_only);
  EXPECT_FALSE(conn_->snapshots().list(vm2.name).at(0).disk_only);
}

TEST_P(Views, AVmSavedWhilePausedIsSavedInEveryViewAndComesBackPaused) {
  const auto vm = make_vm("paused-save", {});
  vms().start(vm.name);
  vms().suspend(vm.name);
  vms().save(vm.name);
  const auto info = vms().get(vm.name);
  const auto list = listed(vm.name);
  EXPECT_EQ(info.state, VmState::Suspended);
  EXPECT_EQ(info.state_reason, "saved");
  EXPECT_EQ(list.state, info.state);
  EXPECT_EQ(list.state_reason, info.state_reason);
  // Started, both views agree; QEMU restores the VM as it was saved: paused
  // (the test driver resumes it).
  vms().start(vm.name);
  const auto back = vms().get(vm.name).state;
  EXPECT_EQ(listed(vm.name).state, back);
  if (real()) {
    EXPECT_EQ(back, VmState::Paused);
    vms().resume(vm.name);
    EXPECT_EQ(vms().get(vm.name).state, VmState::Running);
  }
}

HYPERCTL_INSTANTIATE_TARGETS(Views);

}  // namespace
}  // namespace hyperctl::test
