// hyperctl migrate end to end on the two-host test bed (tests/testbed: the
// main libvirtd and its peer): JSON lines of progress then the result
// document, the one-line table result, and Ctrl-C during a throttled
// migration. Skipped with the reason when the bed or its peer is absent.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "harness.hpp"

namespace hyperctl_cli_test {
namespace {

class MigrateTestbed : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("HYPERCTL_TEST_QEMU_URI");
    const char* peer = std::getenv("HYPERCTL_TEST_PEER_URI");
    if (!src || !*src) GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd";
    if (!peer || !*peer) GTEST_SKIP() << "HYPERCTL_TEST_PEER_URI not set: no peer host";
    src_ = src;
    peer_ = peer;
    if (run({"-c", src_, "list"}).status != 0) GTEST_SKIP() << src_ << " does not answer";
    if (run({"-c", peer_, "list"}).status != 0)
      GTEST_SKIP() << "the peer " << peer_ << " does not answer";
  }

  void TearDown() override {
    for (const auto& name : created_) {
      for (const auto& uri : {peer_, src_}) run({"-c", uri, "delete", name, "--force"});
      std::error_code ec;
      fs::remove("/var/log/libvirt/qemu/" + name + ".serial", ec);
    }
  }

  /// Defines and starts a test-bed guest (counter or dirty) on the source.
  std::string start_guest(const std::string& kind) {
    const char* dir = std::getenv("HYPERCTL_TESTBED_GUESTS");
    const char* script = std::getenv("HYPERCTL_TESTBED_GUEST_XML");
    if (!dir || !script) {
      ADD_FAILURE() << "HYPERCTL_TESTBED_GUESTS / HYPERCTL_TESTBED_GUEST_XML not set";
      return {};
    }
    const std::string image = std::string(dir) + "/" + kind + ".img";
    if (!fs::exists(image)) {
      ADD_FAILURE() << image << " missing (testbed.guests.build)";
      return {};
    }
    const std::string name = "hyperctl-test-climig-" + kind + "-" + std::to_string(::getpid()) +
                             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string xml;
    if (FILE* p = ::popen((std::string(script) + " " + name + " " + image).c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) xml.append(buf, n);
      ::pclose(p);
    }
    created_.push_back(name);
    auto r = run({"-c", src_, "define", "-"}, with_input(xml));
    EXPECT_EQ(r.status, 0) << r;
    r = run({"-c", src_, "start", name});
    EXPECT_EQ(r.status, 0) << r;
    return r.status == 0 ? name : std::string();
  }

  /// The VM's state on `uri`; "absent" when that host does not know it.
  std::string state_on(const std::string& uri, const std::string& name) {
    const auto r = run({"-c", uri, "-o", "json", "info", name});
    if (r.status != 0) return "absent";
    return json::parse(r.out).at("state").get<std::string>();
  }

  std::string src_, peer_;
  std::vector<std::string> created_;
};

TEST_F(MigrateTestbed, JsonPrintsProgressLinesThenTheResultDocument) {
  const std::string name = start_guest("counter");
  ASSERT_FALSE(name.empty());
  const auto r = run({"-c", src_, "-o", "json", "migrate", name, "--to", peer_, "--live"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 1u) << r;
  std::size_t progress = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json doc;
    ASSERT_NO_THROW(doc = json::parse(lines[i])) << "line " << i << ": " << lines[i];
    if (i + 1 < lines.size()) {
      EXPECT_EQ(doc.at("schema"), "hyperctl.migrate-progress/1") << lines[i];
      EXPECT_EQ(doc.at("vm"), name);
      EXPECT_TRUE(doc.at("counters").is_object()) << lines[i];
      EXPECT_TRUE(doc.at("done").is_number()) << lines[i];
      ++progress;
    } else {
      EXPECT_EQ(doc.at("schema"), "hyperctl.migrate/1") << lines[i];
      EXPECT_EQ(doc.at("result"), "ok");
      EXPECT_EQ(doc.at("mode"), "live");
      EXPECT_EQ(doc.at("target"), peer_);
      EXPECT_EQ(doc.at("target_vm").at("name"), name);
      EXPECT_EQ(doc.at("target_vm").at("state"), "running");
    }
  }
  EXPECT_GE(progress, 1u) << "no progress line: " << r;
  EXPECT_EQ(state_on(peer_, name), "running");
  EXPECT_NE(state_on(src_, name), "running");
}

TEST_F(MigrateTestbed, TablePrintsOneResultLine) {
  const std::string name = start_guest("counter");
  ASSERT_FALSE(name.empty());
  const auto r = run({"-c", src_, "migrate", name, "--to", peer_, "--live"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].rfind("VM '" + name + "' migrated live to " + peer_ + " in ", 0), 0u) << r;
  EXPECT_EQ(state_on(peer_, name), "running");
}

TEST_F(MigrateTestbed, CtrlCDuringAThrottledMigrationExits11AndLeavesTheVmOnTheSource) {
  const std::string name = start_guest("dirty");
  ASSERT_FALSE(name.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));  // reach protected mode
  RunOptions opt;
  opt.sigint_after = std::chrono::milliseconds(3000);
  const auto r =
      run({"-c", src_, "migrate", name, "--to", peer_, "--live", "--bandwidth", "1"}, opt);
  expect_error(r, 11, "cancelled");
  EXPECT_NE(r.err.find("still running on"), std::string::npos) << r;
  EXPECT_LT(r.elapsed, std::chrono::seconds(30)) << r;
  EXPECT_EQ(state_on(src_, name), "running");
  EXPECT_EQ(state_on(peer_, name), "absent");
}

}  // namespace
}  // namespace hyperctl_cli_test
