// Hostile and wrong input on test:///default: every failure has the right
// code and changes nothing; hostile names are data, never markup.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr const char* kUri = "test:///default";

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { conn_ = open(kUri); }
  void TearDown() override {
    for (const auto& name : created_) {
      try {
        conn_->vms().remove(name, DeleteOptions{false, true});
      } catch (const Error&) {
      }
    }
  }
  VmOps& vms() { return conn_->vms(); }
  std::vector<std::string> pool_volumes() {
    std::vector<std::string> out;
    for (const auto& v : conn_->storage().list_volumes("default-pool")) out.push_back(v.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> vm_names() {
    std::vector<std::string> out;
    for (const auto& v : vms().list({})) out.push_back(v.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  /// Creates, lists, gets, exports, redefines from the export and deletes
  /// (with storage) a VM named `name`, checking the name survives each step.
  void round_trip(const std::string& name) {
    const auto volumes_before = pool_volumes();
    VmSpec spec;
    spec.name = name;
    spec.memory_bytes = 64 * kMiB;
    spec.disks.push_back(DiskSpec{.size_bytes = kMiB});
    spec.networks = {"default"};
    created_.push_back(name);
    auto info = vms().create(spec);
    EXPECT_EQ(info.name, name);
    ASSERT_EQ(info.nics.size(), 1u);
    EXPECT_EQ(info.nics[0].network, "default");
    ASSERT_EQ(info.disks.size(), 1u);
    EXPECT_EQ(info.disks[0].path, "/default-pool/" + name + "-disk0.qcow2");

    int listed = 0;
    for (const auto& v : vms().list({})) listed += v.name == name && v.id == info.id;
    EXPECT_EQ(listed, 1);
    EXPECT_EQ(vms().get(name).id, info.id);
    EXPECT_EQ(vms().get(info.id).name, name);

    const std::string xml = vms().export_config(name);
    vms().remove(name, {});
    EXPECT_ERROR_CODE(vms().get(name), ErrorCode::NotFound);
    auto again = vms().define(xml);
    EXPECT_EQ(again.name, name);
    EXPECT_EQ(again.id, info.id);

    vms().remove(info.id, DeleteOptions{true, false});
    EXPECT_ERROR_CODE(vms().get(name), ErrorCode::NotFound);
    EXPECT_EQ(pool_volumes(), volumes_before);
  }

  std::unique_ptr<Connection> conn_;
  std::vector<std::string> created_;
};

TEST_F(BadInput, UnknownVmIsNotFoundForEveryOperation) {
  const std::string name = "hyperctl-test-no-such-vm";
  EXPECT_ERROR_CODE(vms().get(name), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().start(name), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().shutdown(name, {}, {}, CancelToken{}), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().power_off(name), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().suspend(name), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().remove(name, {}), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().export_config(name), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().set_autostart(name, true), ErrorCode::NotFound);
  // A well-formed UUID that matches nothing, and nothing at all.
  EXPECT_ERROR_CODE(vms().get("00000000-0000-0000-0000-000000000001"), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(vms().get(""), ErrorCode::InvalidArgument);
}

TEST_F(BadInput, DefineOfMissingOrInvalidXmlIsInvalidArgument) {
  const auto before = vm_names();
  EXPECT_ERROR_CODE(vms().define(""), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(vms().define("  \n"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(vms().define("<domain"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(vms().define("not xml at all"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(vms().define("<domain type='test'><memory>1024</memory></domain>"),
                    ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(
      vms().define("<domain type='test'><name>a/b</name><memory>1024</memory><os><type>hvm"
                   "</type></os></domain>"),
      ErrorCode::InvalidArgument);
  EXPECT_EQ(vm_names(), before);
}

TEST_F(BadInput, StartOfRunningVmIsConflictAndStateUnchanged) {
  // test:///default has one running VM, "test".
  ASSERT_EQ(vms().get("test").state, VmState::Running);
  auto err = error_of([&] { vms().start("test"); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_STREQ(err->what(), "VM 'test' is already running");
  EXPECT_EQ(vms().get("test").state, VmState::Running);
}

TEST_F(BadInput, HostileNameWithSlashIsRefusedBeforeAnythingIsCreated) {
  // libvirt itself refuses '/' in names ("name a/b cannot contain '/'").
  const auto vols = pool_volumes();
  const auto names = vm_names();
  VmSpec spec;
  spec.name = "we<b>&'\"$(rm -rf /);x";
  spec.disks.push_back(DiskSpec{.size_bytes = kMiB});
  auto err = error_of([&] { vms().create(spec); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(err->what()).find("contains '/'"), std::string::npos) << err->what();
  EXPECT_EQ(pool_volumes(), vols);
  EXPECT_EQ(vm_names(), names);
}

TEST_F(BadInput, NamesWithControlCharactersOrEmptyAreRefused) {
  const auto names = vm_names();
  for (std::string bad : {std::string("hyperctl-test-new\nline"), std::string("tab\there"),
                          std::string("nul\0x", 5), std::string(""), std::string("bad\xff")}) {
    VmSpec spec;
    spec.name = bad;
    EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::InvalidArgument);
  }
  EXPECT_EQ(vm_names(), names);
}

TEST_F(BadInput, HostileNameIsDataThroughCreateListGetExportDelete) {
  round_trip("hyperctl-test-we<b>&'\"$(rm -rf ~);x <!-- ]]> &amp; %s");
}

TEST_F(BadInput, NonAsciiNameIsDataThroughCreateListGetExportDelete) {
  round_trip("hyperctl-test-ünïcødé-名前");
}

TEST_F(BadInput, FailedDefineAfterVolumeCreationLeavesNoVolumeBehind) {
  // Disk 0 is a new volume; disk 1 an existing file with a driver type
  // libvirt rejects, so the define fails after the volume exists.
  const auto file = std::filesystem::temp_directory_path() /
                    ("hyperctl-libvirt-disk-" + std::to_string(::getpid()) + ".img");
  std::ofstream(file) << "x";
  const auto vols = pool_volumes();
  const auto names = vm_names();
  VmSpec spec;
  spec.name = "hyperctl-test-rollback";
  spec.disks.push_back(DiskSpec{.size_bytes = kMiB});
  spec.disks.push_back(DiskSpec{.path = file.string(), .format = "bogus"});
  auto err = error_of([&] { vms().create(spec); });
  std::filesystem::remove(file);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::InvalidArgument) << err->what();
  EXPECT_EQ(pool_volumes(), vols);
  EXPECT_EQ(vm_names(), names);
}

TEST_F(BadInput, FailedSecondVolumeRollsBackTheFirst) {
  const auto vols = pool_volumes();
  VmSpec spec;
  spec.name = "hyperctl-test-rollback2";
  spec.disks.push_back(DiskSpec{.size_bytes = kMiB});
  spec.disks.push_back(DiskSpec{.size_bytes = kMiB, .pool = "no-such-pool"});
  EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::NotFound);
  EXPECT_EQ(pool_volumes(), vols);
  EXPECT_FALSE(has_vm_named(*conn_, spec.name));
}

TEST_F(BadInput, CreateWithTakenNameIsAlreadyExistsAndCreatesNoVolume) {
  const auto vols = pool_volumes();
  VmSpec spec;
  spec.name = "test";
  spec.disks.push_back(DiskSpec{.size_bytes = kMiB});
  EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::AlreadyExists);
  EXPECT_EQ(pool_volumes(), vols);
  EXPECT_EQ(vms().get("test").state, VmState::Running);
}

TEST_F(BadInput, CreateWithMissingDiskFileIsNotFound) {
  VmSpec spec;
  spec.name = "hyperctl-test-missing-disk";
  spec.disks.push_back(DiskSpec{.path = "/nonexistent/hyperctl/disk.qcow2"});
  EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::NotFound);
  spec.disks = {DiskSpec{.size_bytes = kMiB, .format = "qcow2;rm"}};
  EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::InvalidArgument);
  spec.disks = {DiskSpec{}};
  EXPECT_ERROR_CODE(vms().create(spec), ErrorCode::InvalidArgument);
  EXPECT_FALSE(has_vm_named(*conn_, spec.name));
}

TEST_F(BadInput, DeleteWithStorageOfNonVolumeDiskChangesNothing) {
  // "test" runs with disk /guest/diskimage1, which is no libvirt volume.
  auto err = error_of([&] { vms().remove("test", DeleteOptions{true, true}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("'/guest/diskimage1'"), std::string::npos) << err->what();
  EXPECT_EQ(vms().get("test").state, VmState::Running);
}

TEST_F(BadInput, ConnectToAbsentDaemonIsUnreachable) {
  EXPECT_ERROR_CODE(open("qemu+unix:///system?socket=/nonexistent/hyperctl.sock"),
                    ErrorCode::Unreachable);
}

TEST_F(BadInput, ErrorsAreNotPrintedByLibvirt) {
  ::testing::internal::CaptureStderr();
  EXPECT_ERROR_CODE(vms().start("test"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(vms().define("<domain"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(vms().get("hyperctl-test-nothing"), ErrorCode::NotFound);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(BadInput, MigrationOperationsAreDeclared) {
  // Preflight, live and offline migration are all declared
  // (migration_ops.cpp, migration_offline.cpp); migrating to the same host
  // is refused as bad input, never as Unsupported.
  const auto caps = registry().backend_for("test").capabilities();
  EXPECT_TRUE(caps.has(Operation::MigratePreflight));
  EXPECT_TRUE(caps.has(Operation::MigrateLive));
  EXPECT_TRUE(caps.has(Operation::MigrateOffline));
  MigrationOptions offline;
  offline.mode = MigrationMode::Offline;
  EXPECT_ERROR_CODE(conn_->migration().migrate("test", *conn_, offline, {}, {}),
                    ErrorCode::InvalidArgument);
}

TEST(DriverFacts, TestDefaultStateIsSharedWhileAConnectionIsOpen) {
  // What the lifecycle suite relies on: two open connections to
  // test:///default see one host; once all are closed it starts afresh.
  VmSpec spec;
  spec.name = "hyperctl-test-shared-state";
  {
    auto a = open(kUri);
    auto b = open(kUri);
    a->vms().create(spec);
    EXPECT_EQ(b->vms().get(spec.name).name, spec.name);
  }
  auto c = open(kUri);
  EXPECT_ERROR_CODE(c->vms().get(spec.name), ErrorCode::NotFound);
}

TEST(DriverFacts, HostInfoNetworksAndPoolsOfTheTestDriver) {
  auto c = open(kUri);
  auto h = c->host().info();
  EXPECT_FALSE(h.hostname.empty());
  EXPECT_EQ(h.hypervisor, "TEST");
  EXPECT_EQ(h.cpus, 16u);
  EXPECT_EQ(h.arch, "i686");
  EXPECT_GT(h.memory_total_bytes, 0u);
  EXPECT_EQ(h.manager_version.substr(0, 2), "9.");
  auto nets = c->networks().list();
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].name, "default");
  EXPECT_TRUE(nets[0].active);
  auto pools = c->storage().list_pools();
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].name, "default-pool");
  EXPECT_EQ(pools[0].path, "/default-pool");
  EXPECT_ERROR_CODE(c->storage().list_volumes("no-such-pool"), ErrorCode::NotFound);
}

TEST(DriverFacts, GetOfBuiltInVmReadsDisksAndNicsFromItsXml) {
  auto c = open(kUri);
  auto vm = c->vms().get("test");
  EXPECT_EQ(vm.id, "6695eb01-f6a4-8304-79aa-97f2502e193f");
  EXPECT_EQ(vm.state, VmState::Running);
  EXPECT_EQ(vm.state_reason, "running");
  EXPECT_EQ(vm.vcpus, 2u);
  EXPECT_EQ(vm.memory_bytes, 2097152ull * 1024);
  EXPECT_EQ(vm.max_memory_bytes, 8388608ull * 1024);
  ASSERT_EQ(vm.disks.size(), 1u);
  EXPECT_EQ(vm.disks[0].target, "vda");
  EXPECT_EQ(vm.disks[0].path, "/guest/diskimage1");
  EXPECT_EQ(vm.disks[0].device, "disk");
  ASSERT_EQ(vm.nics.size(), 1u);
  EXPECT_EQ(vm.nics[0].mac, "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(vm.nics[0].network, "default");
  EXPECT_EQ(vm.extras.at("libvirt_id"), "1");
  EXPECT_EQ(vm.extras.at("driver"), "TEST");
  EXPECT_TRUE(vm.persistent);
  EXPECT_EQ(vm.guest_os, "hvm");
}

}  // namespace
}  // namespace hyperctl::test
