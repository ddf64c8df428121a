// hyperctl migrate: the preflight report (--check) between two test:/// hosts
// described by node files, and the bad-input lines. Live migration itself
// is proven against the test bed's peer in tests/libvirt/migration_live_test.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <set>

#include "harness.hpp"

namespace hyperctl_cli_test {
namespace {

class MigrateCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("hyperctl-cli-migrate-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string cpu =
        "<cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>"
        "<cores>2</cores><threads>1</threads><active>2</active></cpu><memory>2097152</memory>\n";
    std::ofstream(*dir_ / "a.xml")
        << "<node>" << cpu
        << "<domain type='test'><name>web1</name><memory unit='GiB'>64</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os><devices><interface type='network'>"
           "<source network='lan-a'/></interface></devices></domain>"
           "<domain type='test'><name>small</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os></domain>"
           "<network><name>lan-a</name><bridge name='virbrA'/></network></node>\n";
    std::ofstream(*dir_ / "b.xml")
        << "<node>" << cpu
        << "<domain type='test'><name>web1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os></domain></node>\n";
    src_ = new std::string("test://" + (*dir_ / "a.xml").string());
    dst_ = new std::string("test://" + (*dir_ / "b.xml").string());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
    delete src_;
    delete dst_;
  }
  static fs::path* dir_;
  static std::string *src_, *dst_;
};

fs::path* MigrateCli::dir_ = nullptr;
std::string* MigrateCli::src_ = nullptr;
std::string* MigrateCli::dst_ = nullptr;

TEST_F(MigrateCli, CheckWithBlockersPrintsTheTableAndExits5) {
  auto r = run({"-c", *src_, "migrate", "web1", "--to", *dst_, "--check"});
  EXPECT_EQ(r.status, 5) << r;
  EXPECT_TRUE(r.err.empty()) << r;
  EXPECT_EQ(r.out.rfind("CHECK", 0), 0u) << r;
  EXPECT_NE(r.out.find("name-clash  blocker"), std::string::npos) << r;
  EXPECT_NE(r.out.find("create network 'lan-a'"), std::string::npos) << r;
  EXPECT_NE(r.out.find("memory"), std::string::npos) << r;
}

TEST_F(MigrateCli, CheckAsJsonIsThePreflightDocument) {
  auto r = run({"-c", *src_, "-o", "json", "migrate", "web1", "--to", *dst_, "--check"});
  EXPECT_EQ(r.status, 5) << r;
  auto doc = json::parse(r.out);
  EXPECT_EQ(doc["schema"], "hyperctl.preflight/1");
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["mode"], "live");
  std::set<std::string> blockers;
  for (const auto& i : doc["items"])
    if (i["level"] == "blocker") {
      blockers.insert(i["check"].get<std::string>());
      EXPECT_FALSE(i["fix"].get<std::string>().empty()) << i;
    }
  EXPECT_EQ(blockers, (std::set<std::string>{"name-clash", "network", "memory"}));
}

TEST_F(MigrateCli, CheckWithoutBlockersExits0) {
  auto r = run({"-c", *src_, "migrate", "small", "--to", *dst_, "--check"});
  expect_ok(r);
  EXPECT_NE(r.out.find("no blocker"), std::string::npos) << r;
}

TEST_F(MigrateCli, TargetMayBeAConnectionNameFromTheConfig) {
  const fs::path config = *dir_ / "fleet.conf";
  std::ofstream(config) << "# named hosts\n[connection lab-b]\nuri = " << *dst_ << "\n";
  auto r = run({"-c", *src_, "--config", config.string(), "-o", "json", "migrate", "small", "--to",
                "lab-b", "--check"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc["target"], *dst_) << r;  // reported by its URI
  EXPECT_EQ(doc["ok"], true) << r;
  expect_error(run({"-c", *src_, "--config", config.string(), "migrate", "small", "--to", "lab-c",
                    "--check"}),
               3, "no connection named 'lab-c'");
}

TEST_F(MigrateCli, OtherFamilyTargetIsOfflineOnly) {
  // Refused before any connection to the target is tried.
  expect_error(run({"-c", *src_, "migrate", "small", "--to", "vsphere://vc.example/dc", "--live"}),
               2, "a VM moves between families (libvirt -> vsphere) offline only: drop --live");
}

TEST_F(MigrateCli, MissingVmIsNotFound) {
  expect_error(run({"-c", *src_, "migrate", "nope", "--to", *dst_}), 3, "'nope' not found");
}

TEST_F(MigrateCli, UnreachableTargetExits8) {
  expect_error(run({"-c", *src_, "migrate", "small", "--to", "qemu+tcp://127.0.0.1:1/system"}), 8,
               "127.0.0.1:1");
}

TEST_F(MigrateCli, BadOnStallAndMissingTargetAreUsageErrors) {
  EXPECT_EQ(run({"-c", *src_, "migrate", "small", "--to", *dst_, "--on-stall", "pray"}).status, 2);
  expect_error(run({"-c", *src_, "migrate", "small"}), 2, "--to");
  expect_error(run({"-c", *src_, "migrate", "small", "--to", *dst_, "--live", "--offline"}), 2);
}

}  // namespace
}  // namespace hyperctl_cli_test
