// snapshot, network and host commands and the new create options of the
// hyperctl executable: single commands on test:///default (each process
// starts a fresh test host), and sequences against the real libvirtd of the
// tests/testbed fixture (CliSnapNetTestbed.*, skipped when it is absent).
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;
using nlohmann::json;

const char* const kDefault = "test:///default";

TEST(CliNetwork, ListTableShowsTheDefaultNetworkWithItsFields) {
  const auto r = run({"-c", kDefault, "network", "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r;
  EXPECT_EQ(lines[0].rfind("NAME", 0), 0u);
  for (const char* field :
       {"default", "yes", "nat", "virbr0", "192.168.122.1/24", "192.168.122.2-192.168.122.254"})
    EXPECT_NE(lines[1].find(field), std::string::npos) << field << "\n" << r;
}

TEST(CliNetwork, ListJsonFollowsTheNetworkListSchema) {
  const auto r = run({"-c", kDefault, "-o", "json", "network", "list"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.network-list/1");
  EXPECT_EQ(doc.at("uri"), kDefault);
  ASSERT_EQ(doc.at("networks").size(), 1u);
  const auto& n = doc.at("networks")[0];
  EXPECT_EQ(n.at("name"), "default");
  EXPECT_EQ(n.at("active"), true);
  EXPECT_EQ(n.at("autostart"), false);
  EXPECT_EQ(n.at("forward_mode"), "nat");
  EXPECT_EQ(n.at("address"), "192.168.122.1/24");
  EXPECT_EQ(n.at("dhcp_start"), "192.168.122.2");
  EXPECT_EQ(n.at("dhcp_end"), "192.168.122.254");
  EXPECT_FALSE(n.contains("vms"));
}

TEST(CliNetwork, InfoNamesTheAttachedVmsInEveryFormat) {
  auto r = run({"-c", kDefault, "-o", "json", "network", "info", "default"});
  expect_ok(r);
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.network/1");
  EXPECT_EQ(doc.at("vms"), json::array({"test"}));
  r = run({"-c", kDefault, "network", "info", "default"});
  expect_ok(r);
  EXPECT_NE(r.out.find("VMs:"), std::string::npos) << r;
  r = run({"-c", kDefault, "-o", "csv", "network", "info", "default"});
  expect_ok(r);
  EXPECT_EQ(lines_of(r.out).size(), 2u) << r;
  r = run({"-c", kDefault, "-o", "yaml", "network", "info", "default"});
  expect_ok(r);
  EXPECT_NE(r.out.find("schema: \"hyperctl.network/1\""), std::string::npos) << r;
}

TEST(CliNetwork, ExitStatusesForMissingAndWrongState) {
  expect_error(run({"-c", kDefault, "network", "info", "nowhere"}), 3, "network 'nowhere'");
  expect_error(run({"-c", kDefault, "network", "start", "default"}), 5, "already active");
  const auto r = run({"-c", kDefault, "-o", "json", "network", "stop", "default"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.result/1");
  EXPECT_EQ(doc.at("operation"), "network.stop");
  EXPECT_EQ(doc.at("network"), "default");
  expect_error(run({"-c", kDefault, "network"}), 2);
}

TEST(CliHost, InfoJsonHasTheHostFacts) {
  const auto r = run({"-c", kDefault, "-o", "json", "host", "info"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.host/1");
  EXPECT_EQ(doc.at("hypervisor"), "TEST");
  EXPECT_EQ(doc.at("cpus"), 16);
  EXPECT_GT(doc.at("memory_total_bytes").get<std::uint64_t>(), 0u);
  EXPECT_EQ(doc.at("guest_types"), json::array({"test"}));
  EXPECT_TRUE(doc.at("cpu_features").is_array());
  const auto table = run({"-c", kDefault, "host", "info"});
  expect_ok(table);
  EXPECT_NE(table.out.find("CPUs:"), std::string::npos) << table;
  const auto csv = run({"-c", kDefault, "-o", "csv", "host", "info"});
  expect_ok(csv);
  EXPECT_EQ(lines_of(csv.out).size(), 2u) << csv;
}

TEST(CliSnapshot, ListOfAVmWithoutSnapshotsIsEmpty) {
  auto r = run({"-c", kDefault, "snapshot", "list", "test"});
  expect_ok(r);
  EXPECT_EQ(r.out, "No snapshots.\n");
  r = run({"-c", kDefault, "-o", "json", "snapshot", "list", "test"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.snapshot-list/1");
  EXPECT_EQ(doc.at("vm"), "test");
  EXPECT_TRUE(doc.at("snapshots").empty());
}

TEST(CliSnapshot, CreateReportsTheNameEvenAHostileOne) {
  const std::string name = "s<&>'\"\xC3\xA9";
  const auto r = run({"-c", kDefault, "-o", "json", "snapshot", "create", "test", "--name", name,
                      "--description", "a & b"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("operation"), "snapshot.create");
  EXPECT_EQ(doc.at("vm"), "test");
  EXPECT_EQ(doc.at("snapshot"), name);
  const auto unnamed = run({"-c", kDefault, "snapshot", "create", "test"});
  expect_ok(unnamed);
  EXPECT_NE(unnamed.out.find("snapshot 'snap-"), std::string::npos) << unnamed;
}

TEST(CliSnapshot, ExitStatuses) {
  expect_error(run({"-c", kDefault, "snapshot", "revert", "test", "nope"}), 3,
               "snapshot 'nope' of VM 'test' not found");
  expect_error(run({"-c", kDefault, "snapshot", "delete", "test", "nope", "--children"}), 3);
  expect_error(run({"-c", kDefault, "snapshot", "list", "ghost"}), 3, "ghost");
  expect_error(run({"-c", kDefault, "snapshot", "create", "test", "--disk-only"}), 4, "disk-only");
  expect_error(run({"-c", kDefault, "snapshot", "create", "test", "--name", "a/b"}), 2);
  expect_error(run({"-c", kDefault, "snapshot", "revert", "test"}), 2);
}

TEST(CliCreate, DiskIsoAndFirmwareOptions) {
  auto r = run({"-c", kDefault, "-o", "json", "create", "--name", "hyperctl-test-opts", "--disk",
                "16M:raw@default-pool", "--firmware", "uefi", "--network", "default"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  ASSERT_EQ(doc.at("disks").size(), 1u);
  EXPECT_EQ(doc.at("disks")[0].at("format"), "raw");
  EXPECT_EQ(doc.at("extras").at("firmware"), "efi");
  EXPECT_EQ(doc.at("nics")[0].at("network"), "default");
}

TEST(CliCreate, BadDiskIsoAndFirmwareAreRefusedWithTheirStatus) {
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--firmware", "coreboot"}), 2);
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--disk", "10G:qcow2@"}), 2,
               "no pool");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--disk", "10Q:qcow2"}), 2);
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--disk", "vol:nopool"}), 2,
               "vol:POOL/NAME");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--iso", "/nonexistent/x.iso"}), 3,
               "ISO '/nonexistent/x.iso'");
  expect_error(
      run({"-c", kDefault, "create", "--name", "x", "--disk", "vol:default-pool/nothere.qcow2"}), 3,
      "nothere.qcow2");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--network", "nonet"}), 3, "nonet");
}

class CliSnapNetTestbed : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = std::getenv("HYPERCTL_TEST_QEMU_URI");
    if (uri == nullptr || *uri == '\0') GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI is not set";
    uri_ = uri;
    if (run({"-c", uri_, "list"}).status != 0) GTEST_SKIP() << uri_ << " does not answer";
    name_ = std::string("hyperctl-test-clisnap-") + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override {
    if (created_) run({"-c", uri_, "delete", name_, "--force", "--with-storage"});
  }
  json info() {
    const auto r = run({"-c", uri_, "-o", "json", "info", name_});
    EXPECT_EQ(r.status, 0) << r;
    return r.status == 0 ? json::parse(r.out) : json::object();
  }
  std::string uri_, name_;
  bool created_ = false;
};

TEST_F(CliSnapNetTestbed, SnapshotWhileRunningRevertAndDelete) {
  auto r = run({"-c", uri_, "create", "--name", name_, "--memory", "64M", "--disk",
                "64M:qcow2@default", "--start"});
  ASSERT_EQ(r.status, 0) << r;
  created_ = true;
  ASSERT_EQ(info().at("state"), "running");
  r = run({"-c", uri_, "snapshot", "create", name_, "--name", "s1", "--description", "live"});
  ASSERT_EQ(r.status, 0) << r;
  r = run({"-c", uri_, "snapshot", "create", name_, "--name", "s2"});
  ASSERT_EQ(r.status, 0) << r;
  r = run({"-c", uri_, "snapshot", "list", name_});
  ASSERT_EQ(r.status, 0) << r;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r;
  EXPECT_EQ(lines[1].rfind("s1 ", 0), 0u) << r;
  EXPECT_EQ(lines[2].rfind("  s2 ", 0), 0u) << "child indented\n" << r;
  EXPECT_NE(lines[2].find('*'), std::string::npos) << "s2 is current\n" << r;

  ASSERT_EQ(run({"-c", uri_, "poweroff", name_}).status, 0);
  ASSERT_EQ(run({"-c", uri_, "set", name_, "--vcpus", "2"}).status, 0);
  ASSERT_EQ(info().at("vcpus"), 2);
  r = run({"-c", uri_, "snapshot", "revert", name_, "s1"});
  ASSERT_EQ(r.status, 0) << r;
  auto after = info();
  EXPECT_EQ(after.at("state"), "running");
  EXPECT_EQ(after.at("vcpus"), 1);

  expect_error(run({"-c", uri_, "snapshot", "revert", name_, "nope"}), 3, "nope");
  EXPECT_EQ(info().at("state"), "running");
  r = run({"-c", uri_, "snapshot", "delete", name_, "s1", "--children"});
  ASSERT_EQ(r.status, 0) << r;
  r = run({"-c", uri_, "-o", "json", "snapshot", "list", name_});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(json::parse(r.out).at("snapshots").empty());
}

TEST_F(CliSnapNetTestbed, UefiWithoutFirmwareIsRefusedAndNothingIsCreated) {
  const auto before = run({"-c", uri_, "-o", "json", "volume", "list", "default"});
  auto r = run({"-c", uri_, "create", "--name", name_, "--disk", "16M", "--firmware", "uefi"});
  if (r.status == 0) {
    created_ = true;
    GTEST_SKIP() << "this host has EFI firmware";
  }
  expect_error(r, 4, "no UEFI firmware");
  EXPECT_NE(run({"-c", uri_, "info", name_}).status, 0);
  const auto after = run({"-c", uri_, "-o", "json", "volume", "list", "default"});
  if (before.status == 0) {
    EXPECT_EQ(after.out, before.out);
  }
}

TEST_F(CliSnapNetTestbed, NetworkListAndHostInfoAnswer) {
  auto r = run({"-c", uri_, "-o", "json", "network", "list"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(json::parse(r.out).at("schema"), "hyperctl.network-list/1");
  r = run({"-c", uri_, "-o", "json", "host", "info"});
  ASSERT_EQ(r.status, 0) << r;
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc.at("arch"), "x86_64");
  EXPECT_FALSE(doc.at("cpu_vendor").get<std::string>().empty());
  EXPECT_GT(doc.at("cpus").get<unsigned>(), 0u);
}

}  // namespace
