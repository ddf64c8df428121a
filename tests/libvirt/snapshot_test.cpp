// Snapshots on two targets (test:///default and the real libvirtd at
// $HYPERCTL_TEST_QEMU_URI, skipped when unset): the tree order, revert of
// state and configuration, delete with and without children, hostile names.
#include <gtest/gtest.h>

#include <regex>

#include "hyperctl/connection.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

class Snapshots : public LibvirtTargetTest {
 protected:
  SnapshotOps& snaps() { return conn_->snapshots(); }

  /// A VM with a 64 MiB qcow2 disk: QEMU keeps internal snapshots in it.
  std::string make_vm(const std::string& stem) {
    VmSpec spec;
    spec.name = unique_name(stem);
    spec.memory_bytes = 64 * kMiB;
    spec.disks.push_back(DiskSpec{64 * kMiB, "", "qcow2", ""});
    created_.push_back(spec.name);
    vms().create(spec);
    return spec.name;
  }

  std::vector<std::string> names(const std::string& vm) {
    std::vector<std::string> out;
    for (const auto& s : snaps().list(vm)) out.push_back(s.name);
    return out;
  }

  Snapshot take(const std::string& vm, const std::string& name, const std::string& desc = "") {
    SnapshotSpec spec;
    spec.name = name;
    spec.description = desc;
    return snaps().create(vm, spec);
  }
};

const Snapshot* find(const std::vector<Snapshot>& list, const std::string& name) {
  for (const auto& s : list)
    if (s.name == name) return &s;
  return nullptr;
}

TEST_P(Snapshots, ListIsATreeInPreorderWithParentsAndCurrent) {
  const auto vm = make_vm("snap-tree");
  EXPECT_TRUE(snaps().list(vm).empty());
  take(vm, "s1", "first");
  take(vm, "s2");  // child of s1 (current)
  snaps().revert(vm, "s1");
  take(vm, "s3");  // second child of s1
  auto list = snaps().list(vm);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "s1");
  EXPECT_EQ(list[0].parent, "");
  EXPECT_EQ(list[0].description, "first");
  EXPECT_GT(list[0].created_unix, 1500000000);
  EXPECT_EQ(list[0].vm_state, VmState::Off);
  EXPECT_FALSE(list[0].disk_only);
  for (std::size_t i = 1; i < 3; ++i) EXPECT_EQ(list[i].parent, "s1") << list[i].name;
  EXPECT_TRUE(find(list, "s3")->current);
  EXPECT_FALSE(find(list, "s1")->current);
  EXPECT_FALSE(find(list, "s2")->current);
}

TEST_P(Snapshots, DeletingOneSnapshotMovesItsChildrenUp) {
  const auto vm = make_vm("snap-reparent");
  take(vm, "root");
  take(vm, "mid");
  take(vm, "leaf");
  ASSERT_EQ(find(snaps().list(vm), "leaf")->parent, "mid");
  snaps().remove(vm, "mid", false);
  auto list = snaps().list(vm);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(find(list, "leaf")->parent, "root");
  EXPECT_EQ(find(list, "mid"), nullptr);
}

TEST_P(Snapshots, DeletingWithChildrenRemovesTheSubtree) {
  const auto vm = make_vm("snap-subtree");
  take(vm, "keep");
  take(vm, "top");
  take(vm, "below");
  ASSERT_EQ(snaps().list(vm).size(), 3u);
  snaps().remove(vm, "top", true);
  EXPECT_EQ(names(vm), std::vector<std::string>{"keep"});
}

// The acceptance scenario: snapshot of a running VM, a change of power state
// and configuration, revert: state and configuration come back.
TEST_P(Snapshots, RevertToRunningSnapshotRestoresStateAndConfiguration) {
  const auto vm = make_vm("snap-revert");
  vms().start(vm);
  ASSERT_EQ(vms().get(vm).state, VmState::Running);
  const auto before = vms().get(vm);
  auto snap = take(vm, "running", "taken while running");
  EXPECT_EQ(snap.vm_state, VmState::Running);
  EXPECT_TRUE(snap.current);

  vms().power_off(vm);
  ResourceSettings more;
  more.memory_bytes = 96 * kMiB;
  more.vcpus = 2;
  vms().set_resources(vm, more);
  auto changed = vms().get(vm);
  ASSERT_EQ(changed.state, VmState::Off);
  ASSERT_EQ(changed.vcpus, 2u);

  snaps().revert(vm, "running");
  auto after = vms().get(vm);
  EXPECT_EQ(after.state, VmState::Running);
  EXPECT_EQ(after.vcpus, before.vcpus);
  EXPECT_EQ(after.max_memory_bytes, before.max_memory_bytes);

  snaps().remove(vm, "running", false);
  EXPECT_TRUE(snaps().list(vm).empty());
  EXPECT_EQ(vms().get(vm).state, VmState::Running);
}

TEST_P(Snapshots, RevertToMissingSnapshotIsNotFoundAndChangesNothing) {
  const auto vm = make_vm("snap-missing");
  take(vm, "only");
  const auto state_before = vms().get(vm).state;
  auto err = error_of([&] { snaps().revert(vm, "no-such-snapshot"); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::NotFound);
  EXPECT_EQ(std::string(err->what()), "snapshot 'no-such-snapshot' of VM '" + vm + "' not found");
  EXPECT_EQ(err->operation(), "snapshot.revert");
  EXPECT_EQ(vms().get(vm).state, state_before);
  EXPECT_EQ(names(vm), std::vector<std::string>{"only"});
  EXPECT_ERROR_CODE(snaps().remove(vm, "no-such-snapshot", true), ErrorCode::NotFound);
  EXPECT_EQ(names(vm), std::vector<std::string>{"only"});
}

TEST_P(Snapshots, MissingVmIsNotFound) {
  const auto ghost = unique_name("snap-ghost");
  EXPECT_ERROR_CODE(snaps().list(ghost), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(take(ghost, "x"), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(snaps().revert(ghost, "x"), ErrorCode::NotFound);
}

TEST_P(Snapshots, XmlMetacharactersAndNonAsciiInNamesAndDescriptionsStayIntact) {
  const auto vm = make_vm("snap-hostile");
  const std::string name = "a<b>&c'\"$(x);\xC3\xA9\xE6\x97\xA5\xE6\x9C\xAC";
  const std::string desc = "</description><name>evil</name> & \xF0\x9F\x98\x80";
  auto created = take(vm, name, desc);
  EXPECT_EQ(created.name, name);
  auto list = snaps().list(vm);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, name);
  EXPECT_EQ(list[0].description, desc);
  snaps().remove(vm, name, false);
  EXPECT_TRUE(snaps().list(vm).empty());
}

TEST_P(Snapshots, BadNamesAreRefusedBeforeAnythingIsCreated) {
  const auto vm = make_vm("snap-badname");
  EXPECT_ERROR_CODE(take(vm, "a/b"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(take(vm, "line\nbreak"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(take(vm, "bad\xFF"), ErrorCode::InvalidArgument);
  // The core's rule (hyperctl/rules.hpp), in the core's words.
  EXPECT_ERROR_CODE(take(vm, std::string(256, 'n')), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(take(vm, "del\x7f"), ErrorCode::InvalidArgument);
  auto err = error_of([&] { take(vm, "a/b"); });
  ASSERT_TRUE(err);
  EXPECT_EQ(std::string(err->what()),
            "snapshot name 'a/b' contains '/', which other tools read as a path");
  EXPECT_TRUE(snaps().list(vm).empty());
  // libvirt's own limit: its metadata file "<name>.xml.new" is a file name.
  EXPECT_ERROR_CODE(take(vm, std::string(248, 'n')), ErrorCode::InvalidArgument);
  EXPECT_TRUE(snaps().list(vm).empty());
  take(vm, std::string(247, 'n'));
  snaps().remove(vm, std::string(247, 'n'), false);
  take(vm, "dup");
  EXPECT_ERROR_CODE(take(vm, "dup"), ErrorCode::AlreadyExists);
  EXPECT_EQ(names(vm), std::vector<std::string>{"dup"});
}

TEST_P(Snapshots, UnnamedSnapshotGetsATimestampName) {
  const auto vm = make_vm("snap-auto");
  auto snap = snaps().create(vm, SnapshotSpec{});
  EXPECT_TRUE(std::regex_match(snap.name, std::regex("snap-[0-9]{8}-[0-9]{6}"))) << snap.name;
  EXPECT_EQ(names(vm), std::vector<std::string>{snap.name});
}

TEST_P(Snapshots, DiskOnlyWhereTheDriverCannotIsUnsupportedAndCreatesNothing) {
  if (real()) GTEST_SKIP() << "QEMU takes disk-only (external) snapshots; not exercised here";
  const auto vm = make_vm("snap-diskonly");
  SnapshotSpec spec;
  spec.name = "disk";
  spec.disk_only = true;
  auto err = error_of([&] { snaps().create(vm, spec); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(err->what()).find("disk-only"), std::string::npos) << err->what();
  EXPECT_TRUE(snaps().list(vm).empty());
}

HYPERCTL_INSTANTIATE_TARGETS(Snapshots);

}  // namespace
}  // namespace hyperctl::test
