// A test:/// host described by a node file with 2,000 domains, generated at
// run time: listing, filtering and acting on one VM among many.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

constexpr int kDomains = 2000;

// Domain i: i % 3 == 0 running, 1 paused, 2 shut off (libvirt runstates 1, 3, 5).
VmState expected_state(int i) {
  switch (i % 3) {
    case 0:
      return VmState::Running;
    case 1:
      return VmState::Paused;
    default:
      return VmState::Off;
  }
}

std::string domain_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%04d", i);
  return buf;
}

class ManyVmsNodeFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("hyperctl-libvirt-node-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    const auto file = *dir_ / "node.xml";
    std::ofstream out(file);
    out << "<node>\n";
    const int runstate[] = {1, 3, 5};
    for (int i = 0; i < kDomains; ++i) {
      out << "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
          << "<name>" << domain_name(i) << "</name>"
          << "<memory unit='KiB'>" << (65536 + 1024 * (i % 4)) << "</memory>"
          << "<vcpu>" << (1 + i % 4) << "</vcpu>"
          << "<os><type>hvm</type></os>"
          << "<test:runstate>" << runstate[i % 3] << "</test:runstate></domain>\n";
    }
    out << "<pool type='dir'><name>default-pool</name><target><path>/default-pool</path>"
           "</target></pool>\n</node>\n";
    out.close();
    ASSERT_TRUE(out.good());
    uri_ = new std::string("test://" + file.string());
  }

  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
    delete uri_;
  }

  void SetUp() override { conn_ = open(*uri_); }

  static std::filesystem::path* dir_;
  static std::string* uri_;
  std::unique_ptr<Connection> conn_;
};

std::filesystem::path* ManyVmsNodeFile::dir_ = nullptr;
std::string* ManyVmsNodeFile::uri_ = nullptr;

TEST_F(ManyVmsNodeFile, ListReturnsEveryVmWithItsState) {
  auto t0 = std::chrono::steady_clock::now();
  auto all = conn_->vms().list({});
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  RecordProperty("list_ms", static_cast<int>(ms));
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kDomains));
  std::map<std::string, const VmInfo*> by_name;
  for (const auto& v : all) by_name[v.name] = &v;
  ASSERT_EQ(by_name.size(), static_cast<std::size_t>(kDomains));
  for (int i = 0; i < kDomains; ++i) {
    const VmInfo& v = *by_name.at(domain_name(i));
    ASSERT_EQ(v.state, expected_state(i)) << v.name;
    ASSERT_EQ(v.vcpus, static_cast<unsigned>(1 + i % 4)) << v.name;
    ASSERT_EQ(v.memory_bytes, (65536ull + 1024 * (i % 4)) * 1024) << v.name;
    ASSERT_EQ(v.id.size(), 36u);
  }
}

TEST_F(ManyVmsNodeFile, StateFilterSelectsExactlyThoseStates) {
  auto paused = conn_->vms().list(VmFilter{{VmState::Paused}, ""});
  EXPECT_EQ(paused.size(), 667u);  // 1, 4, ..., 1999
  for (const auto& v : paused) EXPECT_EQ(v.state, VmState::Paused);
  auto off_or_running = conn_->vms().list(VmFilter{{VmState::Off, VmState::Running}, ""});
  EXPECT_EQ(off_or_running.size(), 1333u);
  EXPECT_TRUE(conn_->vms().list(VmFilter{{VmState::Crashed}, ""}).empty());
}

TEST_F(ManyVmsNodeFile, NameGlobFiltersAndCombinesWithState) {
  EXPECT_EQ(conn_->vms().list(VmFilter{{}, "node-00*"}).size(), 100u);
  EXPECT_EQ(conn_->vms().list(VmFilter{{}, "node-1?9[05]"}).size(), 20u);
  auto running = conn_->vms().list(VmFilter{{VmState::Running}, "node-000?"});
  std::vector<std::string> names;
  for (const auto& v : running) names.push_back(v.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"node-0000", "node-0003", "node-0006", "node-0009"}));
  EXPECT_TRUE(conn_->vms().list(VmFilter{{}, "nomatch-*"}).empty());
}

TEST_F(ManyVmsNodeFile, GetStartAndPowerOffOneVmAmongMany) {
  auto& vms = conn_->vms();
  auto off = vms.get("node-1502");
  EXPECT_EQ(off.state, VmState::Off);
  EXPECT_EQ(off.vcpus, 3u);
  vms.start("node-1502");
  EXPECT_EQ(vms.get("node-1502").state, VmState::Running);
  EXPECT_EQ(vms.list(VmFilter{{VmState::Running}, ""}).size(), 668u);  // 667 + 1

  EXPECT_EQ(vms.get("node-1500").state, VmState::Running);
  vms.power_off("node-1500");
  EXPECT_EQ(vms.get("node-1500").state, VmState::Off);
  EXPECT_EQ(vms.get("node-1501").state, VmState::Paused);  // neighbours untouched
  EXPECT_EQ(vms.list(VmFilter{{VmState::Running}, ""}).size(), 667u);
}

}  // namespace
}  // namespace hyperctl::test
