// Migration on libvirt: the preflight report on two test:/// hosts described
// by node files (no daemon), and live migration between the test bed's
// libvirtd and its peer (tests/testbed/peer.sh), skipped with the reason when
// the peer is not there.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

namespace fs = std::filesystem;

const PreflightItem* find_item(const PreflightReport& r, const std::string& check,
                               CheckLevel level) {
  for (const auto& i : r.items)
    if (i.check == check && i.level == level) return &i;
  return nullptr;
}

std::string dump(const PreflightReport& r) {
  std::string out;
  for (const auto& i : r.items)
    out += i.check + " [" + std::to_string(static_cast<int>(i.level)) + "] " + i.message +
           " | fix: " + i.fix + "\n";
  return out;
}

// Two hosts as node files. Source: VM "web1" (running, 1 GiB) on network
// lan-a with a disk in pool-a, VM "big" (64 GiB), VM "stopped" (shut off).
// Target: a VM also named "web1" (another UUID), no lan-a, no pool-a, 2 GiB.
class Preflight : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("hyperctl-migrate-preflight-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const std::string cpu =
        "<cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>"
        "<cores>2</cores><threads>1</threads><active>2</active></cpu><memory>2097152</memory>\n";
    auto domain = [](const std::string& name, const std::string& uuid, const std::string& mem,
                     const std::string& devices, int runstate) {
      return "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>" +
             name + "</name><uuid>" + uuid + "</uuid><memory unit='KiB'>" + mem +
             "</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>" + devices +
             "</devices><test:runstate>" + std::to_string(runstate) + "</test:runstate></domain>\n";
    };
    const std::string devices =
        "<disk type='file' device='disk'><source file='/pool-a/web1.img'/><target dev='vda'/>"
        "</disk><interface type='network'><source network='lan-a'/></interface>";
    {
      std::ofstream a(*dir_ / "a.xml");
      a << "<node>\n"
        << cpu << domain("web1", "11111111-1111-1111-1111-111111111111", "1048576", devices, 1)
        << domain("big", "22222222-2222-2222-2222-222222222222", "67108864", "", 1)
        << domain("stopped", "33333333-3333-3333-3333-333333333333", "65536", "", 5)
        << domain("plain", "44444444-4444-4444-4444-444444444444", "65536", "", 1)
        << "<network><name>lan-a</name><bridge name='virbrA'/></network>\n"
        << "<pool type='dir'><name>pool-a</name><target><path>/pool-a</path></target>"
           "<volume><name>web1.img</name><capacity>1048576</capacity>"
           "<allocation>1048576</allocation><target><path>/pool-a/web1.img</path></target>"
           "</volume></pool>\n</node>\n";
    }
    {
      std::ofstream b(*dir_ / "b.xml");
      b << "<node>\n"
        << cpu << domain("web1", "99999999-9999-9999-9999-999999999999", "65536", "", 5)
        << "<network><name>other</name><bridge name='virbrB'/></network>\n"
        << "<pool type='dir'><name>pool-b</name><target><path>/pool-b</path></target></pool>\n"
        << "</node>\n";
    }
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
  }
  void SetUp() override {
    src_ = open("test://" + (*dir_ / "a.xml").string());
    dst_ = open("test://" + (*dir_ / "b.xml").string());
  }

  PreflightReport check(const std::string& vm, MigrationOptions o = {}) {
    return src_->migration().preflight(vm, *dst_, o);
  }

  static fs::path* dir_;
  std::unique_ptr<Connection> src_, dst_;
};

fs::path* Preflight::dir_ = nullptr;

TEST_F(Preflight, NameClashIsABlockerWithTheFix) {
  auto r = check("web1");
  EXPECT_FALSE(r.ok());
  auto* i = find_item(r, "name-clash", CheckLevel::Blocker);
  ASSERT_NE(i, nullptr) << dump(r);
  EXPECT_NE(i->message.find("'web1'"), std::string::npos);
  EXPECT_NE(i->fix.find("delete"), std::string::npos);
  EXPECT_NE(find_item(r, "uuid-clash", CheckLevel::Ok), nullptr) << dump(r);
}

TEST_F(Preflight, MissingNetworkIsABlockerWithTheFix) {
  auto r = check("web1");
  auto* i = find_item(r, "network", CheckLevel::Blocker);
  ASSERT_NE(i, nullptr) << dump(r);
  EXPECT_NE(i->message.find("'lan-a'"), std::string::npos);
  EXPECT_NE(i->fix.find("create network 'lan-a'"), std::string::npos) << i->fix;
}

TEST_F(Preflight, MissingPoolIsABlockerWithTheFix) {
  auto r = check("web1");
  auto* i = find_item(r, "pool", CheckLevel::Blocker);
  ASSERT_NE(i, nullptr) << dump(r);
  EXPECT_NE(i->message.find("'pool-a'"), std::string::npos);
  EXPECT_NE(i->fix.find("create pool 'pool-a'"), std::string::npos) << i->fix;
  // Without --copy-storage, shared storage cannot be proven: a warning.
  auto* s = find_item(r, "storage", CheckLevel::Warning);
  ASSERT_NE(s, nullptr) << dump(r);
  EXPECT_NE(s->fix.find("--copy-storage"), std::string::npos);
}

TEST_F(Preflight, MemoryShortfallIsABlockerWithTheFix) {
  auto r = check("big");
  auto* i = find_item(r, "memory", CheckLevel::Blocker);
  ASSERT_NE(i, nullptr) << dump(r);
  EXPECT_NE(i->message.find("64.0 GiB"), std::string::npos) << i->message;
  EXPECT_FALSE(i->fix.empty());
}

TEST_F(Preflight, AVmThatFitsHasNoBlocker) {
  auto r = check("plain");
  EXPECT_TRUE(r.ok()) << dump(r);
  EXPECT_NE(find_item(r, "name-clash", CheckLevel::Ok), nullptr);
  EXPECT_NE(find_item(r, "hypervisor", CheckLevel::Ok), nullptr) << dump(r);
}

TEST_F(Preflight, LiveOfAStoppedVmIsABlockerPointingToOffline) {
  auto r = check("stopped");
  auto* i = find_item(r, "state", CheckLevel::Blocker);
  ASSERT_NE(i, nullptr) << dump(r);
  EXPECT_NE(i->fix.find("--offline"), std::string::npos);
  MigrationOptions off;
  off.mode = MigrationMode::Offline;
  EXPECT_NE(find_item(check("stopped", off), "state", CheckLevel::Ok), nullptr);
}

TEST_F(Preflight, MissingVmIsNotFound) {
  EXPECT_ERROR_CODE(check("no-such-vm"), ErrorCode::NotFound);
}

TEST_F(Preflight, LiveMigrateOfAStoppedVmIsAConflictAndChangesNothing) {
  auto err = error_of([&] { src_->migration().migrate("stopped", *dst_, {}, {}, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("--offline"), std::string::npos) << err->what();
  EXPECT_EQ(src_->vms().get("stopped").state, VmState::Off);
}

// ---------------------------------------------------------------- live, on the test bed

/// Skips unless HYPERCTL_TEST_PEER_URI and HYPERCTL_TEST_QEMU_URI name
/// daemons that answer. Guests come from HYPERCTL_TESTBED_GUESTS
/// (tests/testbed/guests: counter.img, dirty.img) via guest_xml.sh.
class LiveMigration : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("HYPERCTL_TEST_QEMU_URI");
    const char* peer = std::getenv("HYPERCTL_TEST_PEER_URI");
    if (!src || !*src) GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd";
    if (!peer || !*peer) GTEST_SKIP() << "HYPERCTL_TEST_PEER_URI not set: no peer host";
    try {
      src_ = open(src);
      src_->vms().list({});
    } catch (const Error& e) {
      GTEST_SKIP() << "cannot connect to " << src << ": " << e.what();
    }
    try {
      dst_ = open(peer);
      dst_->vms().list({});
    } catch (const Error& e) {
      GTEST_SKIP() << "the peer " << peer << " does not answer: " << e.what();
    }
  }
  void TearDown() override {
    for (const auto& name : created_) {
      for (Connection* c : {dst_.get(), src_.get()}) {
        if (!c) continue;
        try {
          c->vms().remove(name, DeleteOptions{false, true});
        } catch (const Error&) {
        }
      }
      std::error_code ec;
      fs::remove("/var/log/libvirt/qemu/" + name + ".serial", ec);
    }
  }

  /// Defines and starts a test-bed guest (counter or dirty) on the source;
  /// skips when the images are not built.
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
    const std::string name = "hyperctl-test-mig-" + kind + "-" + std::to_string(::getpid());
    const std::string cmd = std::string(script) + " " + name + " " + image;
    std::string xml;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) xml.append(buf, n);
      ::pclose(p);
    }
    created_.push_back(name);
    src_->vms().define(xml);
    src_->vms().start(name);
    return name;
  }

  static std::string serial_last(const fs::path& file) {
    std::ifstream in(file);
    std::string line, prev, last;
    while (std::getline(in, line)) {
      prev = last;
      last = line;
    }
    return prev;  // the last line may be half written
  }

  std::unique_ptr<Connection> src_, dst_;
  std::vector<std::string> created_;
};

VmState state_on(Connection& c, const std::string& name) {
  try {
    return c.vms().get(name).state;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::NotFound) return VmState::Unknown;
    throw;
  }
}

TEST_F(LiveMigration, UnreachableTargetIsUnreachable) {
  EXPECT_ERROR_CODE(open("qemu+tcp://127.0.0.1:1/system"), ErrorCode::Unreachable);
}

TEST_F(LiveMigration, MissingVmIsNotFoundAndTargetUntouched) {
  const auto before = dst_->vms().list({}).size();
  EXPECT_ERROR_CODE(src_->migration().migrate("hyperctl-test-no-such-vm", *dst_, {}, {}, {}),
                    ErrorCode::NotFound);
  EXPECT_EQ(dst_->vms().list({}).size(), before);
}

TEST_F(LiveMigration, CountingGuestMovesAndKeepsCounting) {
  const std::string name = start_guest("counter");
  ASSERT_FALSE(name.empty());
  const fs::path src_serial = "/var/log/libvirt/qemu/" + name + ".serial";
  std::string before;
  for (int i = 0; i < 100 && before.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    before = serial_last(src_serial);
  }
  ASSERT_FALSE(before.empty()) << "the counter guest wrote nothing to " << src_serial;

  auto pre = src_->migration().preflight(name, *dst_, {});
  EXPECT_TRUE(pre.ok()) << dump(pre);
  std::vector<Progress> seen;
  const VmInfo moved =
      src_->migration().migrate(name, *dst_, {}, [&](const Progress& p) { seen.push_back(p); }, {});
  EXPECT_EQ(moved.name, name);
  EXPECT_EQ(moved.state, VmState::Running);
  EXPECT_EQ(state_on(*dst_, name), VmState::Running);
  EXPECT_EQ(state_on(*src_, name), VmState::Off);

  const char* peer_state = std::getenv("HYPERCTL_TESTBED_PEER_STATE");
  if (!peer_state) return;
  const fs::path peer_serial = fs::path(peer_state) / "tree/log/qemu" / (name + ".serial");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::ifstream in(peer_serial);
  // The guest may have been paused in the middle of a line: the target's log
  // then starts with the rest of it ("45" of "00002045"). Its second line is
  // the first whole one.
  std::string partial, first;
  std::getline(in, partial);
  std::getline(in, first);
  ASSERT_FALSE(first.empty()) << peer_serial;
  const auto a = std::stoull(before, nullptr, 16), b = std::stoull(first, nullptr, 16);
  EXPECT_GE(b, a) << "the count restarted on the target (" << first << " < " << before << ")";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(std::stoull(serial_last(peer_serial), nullptr, 16), b) << "no counting on the target";
}

/// A migration of the dirty guest at 1 MiB/s has a middle; `interrupt`
/// breaks it there. The VM must still run on the source.
void interrupted(LiveMigration* t, Connection& src, Connection& dst, const std::string& name,
                 const std::function<void(CancelToken&)>& interrupt, ErrorCode expected,
                 const std::string& mention) {
  (void)t;
  MigrationOptions o;
  o.bandwidth_mib_s = 1;
  CancelToken cancel;
  bool fired = false;
  std::optional<Error> err;
  try {
    src.migration().migrate(
        name, dst, o,
        [&](const Progress& p) {
          if (!fired && p.done > 0) {
            fired = true;
            interrupt(cancel);
          }
        },
        cancel);
  } catch (const Error& e) {
    err = e;
  }
  ASSERT_TRUE(err) << "the migration did not fail";
  EXPECT_EQ(err->code(), expected) << err->what();
  EXPECT_NE(std::string(err->what()).find("still running on"), std::string::npos) << err->what();
  EXPECT_NE(std::string(err->what()).find(mention), std::string::npos) << err->what();
  EXPECT_EQ(state_on(src, name), VmState::Running);
}

TEST_F(LiveMigration, CancelMidwayLeavesTheVmRunningOnTheSource) {
  const std::string name = start_guest("dirty");
  ASSERT_FALSE(name.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));  // reach protected mode
  interrupted(
      this, *src_, *dst_, name, [](CancelToken& c) { c.cancel(); }, ErrorCode::Cancelled,
      "cancelled");
  EXPECT_EQ(state_on(*dst_, name), VmState::Unknown) << "left behind on the target";
}

TEST_F(LiveMigration, TargetDaemonKilledMidwayLeavesTheVmRunningOnTheSource) {
  const char* peer_state = std::getenv("HYPERCTL_TESTBED_PEER_STATE");
  const char* peer_sh = std::getenv("HYPERCTL_TESTBED_PEER_SH");
  if (!peer_state || !peer_sh) GTEST_SKIP() << "HYPERCTL_TESTBED_PEER_STATE/_SH not set";
  const std::string name = start_guest("dirty");
  ASSERT_FALSE(name.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string kill = std::string(peer_sh) + " kill " + peer_state;
  const std::string restart = std::string(peer_sh) + " restart " + peer_state;
  MigrationOptions o;
  o.bandwidth_mib_s = 1;
  o.timeout = std::chrono::seconds(60);
  bool fired = false;
  std::optional<Error> err;
  try {
    src_->migration().migrate(name, *dst_, o,
                              [&](const Progress& p) {
                                if (!fired && p.done > 0) {
                                  fired = true;
                                  EXPECT_EQ(std::system(kill.c_str()), 0);
                                }
                              },
                              {});
  } catch (const Error& e) {
    err = e;
  }
  EXPECT_EQ(std::system(restart.c_str()), 0);
  ASSERT_TRUE(err) << "the migration did not fail";
  EXPECT_NE(err->code(), ErrorCode::Internal) << err->what();
  EXPECT_NE(std::string(err->what()).find("still running on"), std::string::npos) << err->what();
  EXPECT_EQ(state_on(*src_, name), VmState::Running);
  dst_.reset();  // the old connection died with the daemon
  try {
    dst_ = open(std::getenv("HYPERCTL_TEST_PEER_URI"));
  } catch (const Error&) {
  }
}

/// Runs a live migration of `name` with `o`, collecting progress; the error
/// it ends with (nullopt when it succeeded).
std::optional<Error> migrate_collecting(Connection& src, Connection& dst, const std::string& name,
                                        const MigrationOptions& o, std::vector<Progress>& seen) {
  try {
    src.migration().migrate(name, dst, o, [&](const Progress& p) { seen.push_back(p); }, {});
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

std::string last_counters(const std::vector<Progress>& seen) {
  if (seen.empty()) return "no progress";
  std::string out = std::to_string(seen.size()) + " samples, last:";
  for (const auto& [k, v] : seen.back().counters) out += " " + k + "=" + std::to_string(v);
  return out;
}

// The dirty guest rewrites 48 MiB faster than any bandwidth here can carry.
// At 1 MiB/s one pass over its memory alone takes ~48 s and the stall test
// needs four passes, so these run at 32 MiB/s: a pass in ~1.5 s, the same
// non-convergence (remaining memory back at ~46 MiB after every pass).
MigrationOptions non_converging(OnStall on_stall, std::chrono::seconds timeout) {
  MigrationOptions o;
  o.bandwidth_mib_s = 32;
  o.on_stall = on_stall;
  o.timeout = timeout;
  return o;
}

TEST_F(LiveMigration, NonConvergingWithOnStallAbortIsReportedAndTheVmStays) {
  const std::string name = start_guest("dirty");
  ASSERT_FALSE(name.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));  // reach protected mode
  std::vector<Progress> seen;
  // The timeout is a safety net: the stall must be found before it.
  auto err = migrate_collecting(*src_, *dst_, name,
                                non_converging(OnStall::Abort, std::chrono::seconds(25)), seen);
  ASSERT_TRUE(err) << "the migration of the dirty guest converged";
  EXPECT_EQ(err->code(), ErrorCode::Timeout) << err->what();
  const std::string text = err->what();
  EXPECT_NE(text.find("did not converge"), std::string::npos) << text << "\n"
                                                              << last_counters(seen);
  for (const char* fix : {"--auto-converge", "--postcopy", "--offline", "still running on"})
    EXPECT_NE(text.find(fix), std::string::npos) << fix << " missing: " << text;
  EXPECT_EQ(state_on(*src_, name), VmState::Running);
  EXPECT_EQ(state_on(*dst_, name), VmState::Unknown) << "left behind on the target";
}

TEST_F(LiveMigration, NonConvergingWithOnStallReportShowsStalledThenTimesOut) {
  const std::string name = start_guest("dirty");
  ASSERT_FALSE(name.empty());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::vector<Progress> seen;
  auto err = migrate_collecting(*src_, *dst_, name,
                                non_converging(OnStall::Report, std::chrono::seconds(8)), seen);
  ASSERT_TRUE(err) << "the migration of the dirty guest converged";
  EXPECT_EQ(err->code(), ErrorCode::Timeout) << err->what();
  EXPECT_NE(std::string(err->what()).find("did not finish within 8 s"), std::string::npos)
      << err->what();
  EXPECT_NE(std::string(err->what()).find("still running on"), std::string::npos) << err->what();
  bool stalled = false;
  for (const auto& p : seen) {
    auto it = p.counters.find("stalled");
    if (it != p.counters.end() && it->second == 1) stalled = true;
  }
  EXPECT_TRUE(stalled) << "progress never showed stalled=1; " << last_counters(seen);
  EXPECT_EQ(state_on(*src_, name), VmState::Running);
  EXPECT_EQ(state_on(*dst_, name), VmState::Unknown) << "left behind on the target";
}

TEST_F(LiveMigration, LiveOfAStoppedVmIsAConflict) {
  const std::string name = start_guest("counter");
  ASSERT_FALSE(name.empty());
  src_->vms().power_off(name);
  EXPECT_ERROR_CODE(src_->migration().migrate(name, *dst_, {}, {}, {}), ErrorCode::Conflict);
  EXPECT_EQ(state_on(*dst_, name), VmState::Unknown);
}

}  // namespace
}  // namespace hyperctl::test
