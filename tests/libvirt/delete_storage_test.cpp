// vm.delete with storage never deletes what another VM uses, follows backing
// chains, and needs DeleteOptions::snapshots for a VM with snapshots; on two
// targets (test:///default and the real libvirtd at $HYPERCTL_TEST_QEMU_URI,
// skipped when unset). Every check reads the host back: files, volumes, VMs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "hyperctl/connection.hpp"
#include "hyperctl/process.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMiB = 1ull << 20;

class DeleteStorage : public LibvirtTargetTest {
 protected:
  VmInfo make_vm_with_disk(const std::string& stem) {
    return make_vm(stem, {DiskSpec{.size_bytes = 64 * kMiB, .format = "qcow2"}});
  }

  /// Defines a second VM from `from`'s exported configuration: same disks.
  std::string define_copy(const std::string& from, const std::string& stem) {
    const std::string name = unique_name(stem);
    std::string xml = vms().export_config(from);
    xml = std::regex_replace(xml, std::regex("<uuid>[^<]*</uuid>"), "");
    const std::string old_name = "<name>" + from + "</name>";
    const auto at = xml.find(old_name);
    EXPECT_NE(at, std::string::npos);
    xml.replace(at, old_name.size(), "<name>" + name + "</name>");
    created_.push_back(name);
    vms().define(xml);
    return name;
  }

  /// The volume exists in a pool and, on the real host, its file too.
  bool volume_exists(const std::string& path) {
    const auto paths = all_volume_paths(*conn_);
    const bool listed = std::find(paths.begin(), paths.end(), path) != paths.end();
    if (real()) {
      EXPECT_EQ(listed, fs::exists(path)) << path;
    }
    return listed || (real() && fs::exists(path));
  }
};

TEST_P(DeleteStorage, DiskOfARunningVmSurvivesDeleteWithStorageOfAVmSharingIt) {
  // The reproduction: b defined from a's exported config, a running.
  const auto a = make_vm_with_disk("share-a");
  ASSERT_EQ(a.disks.size(), 1u);
  const std::string disk = a.disks[0].path;
  const std::string b = define_copy(a.name, "share-b");
  vms().start(a.name);

  const DeleteReport report = vms().remove(b, DeleteOptions{.with_storage = true});
  EXPECT_TRUE(report.deleted.empty());
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].disk, disk);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + a.name + "'");
  EXPECT_ERROR_CODE(vms().get(b), ErrorCode::NotFound);
  EXPECT_TRUE(volume_exists(disk));
  EXPECT_EQ(vms().get(a.name).state, VmState::Running);
}

TEST_P(DeleteStorage, OwnDisksGoAndADiskAnotherVmUsesStays) {
  const auto a = make_vm_with_disk("mixed-a");
  const std::string shared = a.disks[0].path;
  const auto b = make_vm(
      "mixed-b", {DiskSpec{.size_bytes = 16 * kMiB, .format = "qcow2"}, DiskSpec{.path = shared}});
  ASSERT_EQ(b.disks.size(), 2u);
  const std::string own = b.disks[0].path;
  ASSERT_NE(own, shared);

  const DeleteReport report = vms().remove(b.name, DeleteOptions{.with_storage = true});
  EXPECT_EQ(report.deleted, std::vector<std::string>{own});
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].disk, shared);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + a.name + "'");
  EXPECT_FALSE(volume_exists(own));
  EXPECT_TRUE(volume_exists(shared));
  EXPECT_EQ(vms().get(a.name).disks.at(0).path, shared);
}

TEST_P(DeleteStorage, ADiskATransientVmUsesSurvives) {
  if (!real()) GTEST_SKIP() << "virsh cannot reach the test driver of this process";
  // A transient VM exists only while it runs: started from XML with
  // `virsh create`, which hyperctl has no call for.
  const auto a = make_vm_with_disk("transient-a");
  const std::string disk = a.disks[0].path;
  const std::string t = unique_name("transient-t");
  std::string xml = vms().export_config(a.name);
  xml = std::regex_replace(xml, std::regex("<uuid>[^<]*</uuid>"), "");
  const std::string old_name = "<name>" + a.name + "</name>";
  xml.replace(xml.find(old_name), old_name.size(), "<name>" + t + "</name>");
  const fs::path file = fs::temp_directory_path() / (t + ".xml");
  {
    std::ofstream out(file);
    out << xml;
  }
  process::Command cmd;
  cmd.argv = {"virsh", "-q", "-c", uri_, "create", file.string()};
  const auto r = process::Runner().run(cmd);
  fs::remove(file);
  ASSERT_TRUE(r.ok()) << r.err;
  created_.push_back(t);
  ASSERT_FALSE(vms().get(t).persistent);

  const DeleteReport report = vms().remove(a.name, DeleteOptions{.with_storage = true});
  EXPECT_TRUE(report.deleted.empty());
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + t + "'");
  EXPECT_TRUE(fs::exists(disk));
  EXPECT_EQ(vms().get(t).state, VmState::Running);
  vms().power_off(t);  // gone with it; the disk is a volume nobody uses now
  EXPECT_ERROR_CODE(vms().get(t), ErrorCode::NotFound);
  EXPECT_TRUE(fs::exists(disk));
  conn_->storage().remove_volume("default", fs::path(disk).filename().string());
}

TEST_P(DeleteStorage, ADiskAnotherVmNamesByAnUntidyPathSurvives) {
  if (!real()) GTEST_SKIP() << "the test driver finds no volume by an untidy path";
  // b names a's disk as ".../images//a-disk0.qcow2": the same file, the same
  // volume for libvirt, another string.
  const auto a = make_vm_with_disk("untidy-a");
  const std::string disk = a.disks[0].path;
  const auto slash = disk.rfind('/');
  const std::string untidy = disk.substr(0, slash) + "/" + disk.substr(slash);
  const auto b = make_vm("untidy-b", {DiskSpec{.path = untidy, .format = "qcow2"}});
  ASSERT_EQ(vms().get(b.name).disks.at(0).path, untidy) << "libvirt keeps the path as written";

  const DeleteReport report = vms().remove(a.name, DeleteOptions{.with_storage = true});
  EXPECT_TRUE(report.deleted.empty());
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + b.name + "'");
  EXPECT_TRUE(volume_exists(disk));
}

TEST_P(DeleteStorage, AVmWithSnapshotsNeedsTheSnapshotsOption) {
  const auto vm = make_vm_with_disk("snaps");
  conn_->snapshots().create(vm.name, SnapshotSpec{.name = "s1"});
  auto err = error_of([&] { vms().remove(vm.name, DeleteOptions{.with_storage = true}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_EQ(std::string(err->what()), "VM '" + vm.name +
                                          "' has 1 snapshot; add --snapshots to delete them with "
                                          "it (nothing was deleted)");
  EXPECT_EQ(vms().get(vm.name).state, VmState::Off);
  EXPECT_EQ(conn_->snapshots().list(vm.name).size(), 1u);
  EXPECT_TRUE(volume_exists(vm.disks[0].path));

  const DeleteReport report =
      vms().remove(vm.name, DeleteOptions{.with_storage = true, .snapshots = true});
  EXPECT_EQ(report.deleted, std::vector<std::string>{vm.disks[0].path});
  EXPECT_ERROR_CODE(vms().get(vm.name), ErrorCode::NotFound);
  EXPECT_FALSE(volume_exists(vm.disks[0].path));
}

TEST_P(DeleteStorage, DeleteWithStorageAfterADiskOnlySnapshotDeletesTheWholeChain) {
  if (!real()) GTEST_SKIP() << "the test driver takes no disk-only snapshots";
  const auto vm = make_vm_with_disk("chain");
  const std::string base = vm.disks[0].path;
  conn_->snapshots().create(vm.name, SnapshotSpec{.name = "s1", .disk_only = true});
  const std::string overlay = vms().get(vm.name).disks.at(0).path;
  ASSERT_NE(overlay, base) << "a disk-only snapshot puts an overlay on top";
  ASSERT_TRUE(fs::exists(overlay));

  const DeleteReport report =
      vms().remove(vm.name, DeleteOptions{.with_storage = true, .snapshots = true});
  EXPECT_EQ(report.deleted, (std::vector<std::string>{overlay, base}));
  EXPECT_TRUE(report.kept.empty());
  EXPECT_FALSE(fs::exists(overlay));
  EXPECT_FALSE(fs::exists(base));
  EXPECT_ERROR_CODE(vms().get(vm.name), ErrorCode::NotFound);
}

TEST_P(DeleteStorage, ABaseImageAnotherVmUsesStaysWhenTheOverlayGoes) {
  if (!real()) GTEST_SKIP() << "the test driver takes no disk-only snapshots";
  const auto vm = make_vm_with_disk("base");
  const std::string base = vm.disks[0].path;
  conn_->snapshots().create(vm.name, SnapshotSpec{.name = "s1", .disk_only = true});
  const std::string overlay = vms().get(vm.name).disks.at(0).path;
  ASSERT_NE(overlay, base);
  const auto other = make_vm("base-user", {DiskSpec{.path = base}});
  vms().start(other.name);

  const DeleteReport report =
      vms().remove(vm.name, DeleteOptions{.with_storage = true, .snapshots = true});
  EXPECT_EQ(report.deleted, std::vector<std::string>{overlay});
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].disk, base);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + other.name + "'");
  EXPECT_FALSE(fs::exists(overlay));
  EXPECT_TRUE(fs::exists(base));
  EXPECT_EQ(vms().get(other.name).state, VmState::Running);
}

TEST_P(DeleteStorage, AnOverlayAnotherVmUsesKeepsItsWholeChain) {
  if (!real()) GTEST_SKIP() << "the test driver takes no disk-only snapshots";
  const auto vm = make_vm_with_disk("overlay");
  const std::string base = vm.disks[0].path;
  conn_->snapshots().create(vm.name, SnapshotSpec{.name = "s1", .disk_only = true});
  const std::string overlay = vms().get(vm.name).disks.at(0).path;
  const std::string copy = define_copy(vm.name, "overlay-copy");

  const DeleteReport report =
      vms().remove(vm.name, DeleteOptions{.with_storage = true, .snapshots = true});
  EXPECT_TRUE(report.deleted.empty());
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].disk, overlay);
  EXPECT_EQ(report.kept[0].reason, "used by VM '" + copy + "'");
  EXPECT_TRUE(fs::exists(overlay));
  EXPECT_TRUE(fs::exists(base));
}

HYPERCTL_INSTANTIATE_TARGETS(DeleteStorage);

}  // namespace
}  // namespace hyperctl::test
