// Migration between families, end to end, as a user runs it: the real
// libvirtd of the test bed ($HYPERCTL_TEST_QEMU_URI) and VMware's simulator
// (tests/vsphere/sim, started here). Disks are checked byte for byte on both
// sides (the simulator's datastore is a local folder), the VM on vSphere
// through govmomi's own client (the simulator's `show`). Faults: the process
// killed during a conversion, an upload and the VM's creation, then resumed
// or rolled back; a refused upload and a failing qemu-img. Without the test
// bed or the simulator every test skips with the reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../common/background_cli.hpp"
#include "../common/files.hpp"
#include "../vsphere/support.hpp"
#include "hyperctl/journal.hpp"

namespace {

namespace fs = std::filesystem;
using hyperctl::Journal;
using hyperctl::StepState;
using hyperctl_test::BackgroundCli;
using hyperctl_test::sha256_file;
using json = nlohmann::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;

constexpr std::uint64_t kDiskBytes = 8u << 20;

struct CliRun {
  int status = -1;
  std::string out, err;
};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

/// A disk image: 3 MiB of random bytes, 4 MiB of zeros, 1 MiB random.
void write_disk(const std::string& path, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<char> buf(1 << 20);
  for (int mib = 0; mib < 8; ++mib) {
    const bool zero = mib >= 3 && mib < 7;
    for (std::size_t i = 0; i < buf.size(); i += 8) {
      const std::uint64_t v = zero ? 0 : rng();
      std::memcpy(buf.data() + i, &v, 8);
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
}

class CrossFamily : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (env_or_empty("HYPERCTL_TEST_QEMU_URI").empty()) return;
    SimOptions o;
    o.hosts = 1;
    o.clusters = 0;
    o.vms = 0;
    sim_ = Simulator::start(o, &why_).release();
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }

  void SetUp() override {
    kvm_ = env_or_empty("HYPERCTL_TEST_QEMU_URI");
    if (kvm_.empty()) GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd";
    if (!sim_) GTEST_SKIP() << why_;
    sim_->clear_injections();
    char tmpl[] = "/tmp/hyperctl-xfamily-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ::setenv("HYPERCTL_STATE_DIR", (tmp_ + "/state").c_str(), 1);
    ::setenv("HYPERCTL_PASSWORD", sim_->password().c_str(), 1);
    ::unsetenv("HYPERCTL_QEMU_IMG");
    vs_ = sim_->uri();
    name_ = "hyperctl-test-xf" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
    datastore_ = sim_->show().at("datastores").at(0).at("url").get<std::string>();
  }

  void TearDown() override {
    if (kvm_.empty() || !sim_) return;
    ::unsetenv("HYPERCTL_QEMU_IMG");
    for (const auto& id : [] {
           try {
             return Journal::list();
           } catch (...) {
             return std::vector<std::string>{};
           }
         }()) {
      cli({"-c", kvm_, "migrate", "--rollback", id});
      cli({"-c", vs_, "migrate", "--rollback", id});
    }
    for (const auto& n : names_) {
      cli({"-c", kvm_, "delete", n, "--with-storage", "--force"});
      cli({"-c", vs_, "delete", n, "--with-storage", "--force"});
    }
    for (const auto& v : volumes_) cli({"-c", kvm_, "volume", "delete", "default/" + v});
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  CliRun cli(const std::vector<std::string>& args) {
    BackgroundCli c(HYPERCTL_TEST_CLI, HYPERCTL_TEST_PLUGIN_DIR, tmp_, args);
    CliRun r;
    r.status = c.wait();
    r.out = c.out();
    r.err = c.err();
    return r;
  }

  /// A shut-off VM on libvirt with one disk holding write_disk(seed), in
  /// `format` (raw or qcow2); returns the raw image's path.
  std::string kvm_vm(const std::string& name, const std::string& format, unsigned seed) {
    const std::string raw = tmp_ + "/orig-" + std::to_string(seed) + ".raw";
    write_disk(raw, seed);
    std::string upload = raw;
    const std::string vol = "hyperctl-test-src-" + std::to_string(::getpid()) + "-" +
                            std::to_string(counter_) + "." + (format == "raw" ? "img" : "qcow2");
    if (format == "qcow2") {
      upload = tmp_ + "/orig.qcow2";
      const std::string cmd = "qemu-img convert -f raw -O qcow2 '" + raw + "' '" + upload + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    volumes_.push_back(vol);
    names_.push_back(name);
    CliRun u = cli({"-c", kvm_, "volume", "upload", "default/" + vol, upload});
    EXPECT_EQ(u.status, 0) << u.err;
    CliRun c = cli({"-c", kvm_, "create", "--name", name, "--vcpus", "2", "--memory", "320MiB",
                    "--disk", "vol:default/" + vol});
    EXPECT_EQ(c.status, 0) << c.err;
    return raw;
  }

  std::vector<std::string> migrate_args(const std::string& from, const std::string& name,
                                        const std::string& to) {
    std::vector<std::string> a = {"-c", from, "migrate", name, "--to", to, "--offline"};
    if (to == vs_) a.insert(a.end(), {"--target-pool", "LocalDS_0"});
    return a;
  }

  /// The flat extent of the volume `stem` on the simulator's datastore.
  std::string flat_of(const std::string& stem) const {
    return datastore_ + "/" + stem + "-disk0-flat.vmdk";
  }

  /// Starts the migration in the background and kills it once its journal
  /// shows a step beginning with `step` Running (and, if given, `marker`
  /// exists); returns the journal id.
  std::string killed_during(const std::vector<std::string>& args, const std::string& step,
                            const std::string& marker = {}) {
    BackgroundCli c(HYPERCTL_TEST_CLI, HYPERCTL_TEST_PLUGIN_DIR, tmp_, args);
    std::string id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool killed = false;
    while (!killed && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::vector<std::string> ids;
      try {
        ids = Journal::list();
      } catch (...) {
      }
      if (ids.size() != 1) continue;
      id = ids.front();
      try {
        const Journal j = Journal::load(id);
        for (const auto& s : j.steps())
          if (s.name.rfind(step, 0) == 0 && s.state == StepState::Running &&
              (marker.empty() || fs::exists(marker))) {
            c.kill();
            killed = true;
          }
      } catch (...) {
      }
    }
    const int st = c.wait();
    EXPECT_EQ(st, -SIGKILL) << "not killed during '" << step << "': " << c.out() << c.err();
    return id;
  }

  /// Rolls back the one journal there is, then checks that nothing of the
  /// migration is left on the simulator and that the source is off and, when
  /// `orig` is given, holds its bytes.
  void rollback_leaves_nothing(const std::string& orig) {
    const auto ids = Journal::list();
    ASSERT_EQ(ids.size(), 1u);
    const CliRun r = cli({"-c", kvm_, "migrate", "--rollback", ids.front()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(Journal::list().empty());
    EXPECT_TRUE(sim_->find_vm(name_).is_null());
    EXPECT_FALSE(fs::exists(flat_of(name_)));
    EXPECT_FALSE(fs::exists(datastore_ + "/" + name_ + "-disk0.vmdk"));
    const CliRun info = cli({"-c", kvm_, "-o", "json", "info", name_});
    ASSERT_EQ(info.status, 0) << info.err;
    const json doc = json::parse(info.out);
    EXPECT_EQ(doc.at("state"), "off");
    if (!orig.empty()) {
      EXPECT_EQ(sha256_file(doc.at("disks")[0].at("path").get<std::string>()), sha256_file(orig));
    }
  }

  /// A failed migration's stderr: one line, naming how to roll it back.
  static void expect_one_line(const CliRun& r, int status, const std::string& says) {
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--rollback"), std::string::npos) << r.err;
  }

  static Simulator* sim_;
  static std::string why_;
  static int counter_;
  std::string kvm_, vs_, tmp_, name_, datastore_;
  std::vector<std::string> names_, volumes_;
};

Simulator* CrossFamily::sim_ = nullptr;
std::string CrossFamily::why_;
int CrossFamily::counter_ = 0;

TEST_F(CrossFamily, KvmToVsphereAndBackIsByteIdentical) {
  const std::string orig = kvm_vm(name_, "raw", 1);
  const std::string want = sha256_file(orig);

  CliRun there = cli([&] {
    auto a = migrate_args(kvm_, name_, vs_);
    a.push_back("--remove-source");
    return a;
  }());
  ASSERT_EQ(there.status, 0) << there.err;
  EXPECT_NE(there.out.find("the source VM and its disks were removed"), std::string::npos)
      << there.out;
  // On vSphere, read through govmomi's client: the same vCPUs and memory,
  // one disk of the same capacity on an LSI Logic controller.
  const json vm = sim_->find_vm(name_);
  ASSERT_FALSE(vm.is_null()) << sim_->show().dump(1);
  EXPECT_EQ(vm.at("numCpu"), 2);
  EXPECT_EQ(vm.at("memoryMB"), 320);
  ASSERT_EQ(vm.at("disks").size(), 1u) << vm.dump(1);
  EXPECT_EQ(vm.at("disks")[0].at("capacityBytes"), kDiskBytes);
  EXPECT_EQ(sha256_file(flat_of(name_)), want);
  EXPECT_NE(cli({"-c", kvm_, "info", name_}).status, 0) << "the source is still on libvirt";

  CliRun back = cli([&] {
    auto a = migrate_args(vs_, name_, kvm_);
    a.push_back("--remove-source");
    return a;
  }());
  ASSERT_EQ(back.status, 0) << back.err;
  EXPECT_TRUE(sim_->find_vm(name_).is_null()) << "the source is still on vSphere";
  CliRun info = cli({"-c", kvm_, "-o", "json", "info", name_});
  ASSERT_EQ(info.status, 0) << info.err;
  const json doc = json::parse(info.out);
  EXPECT_EQ(doc.at("vcpus"), 2);
  EXPECT_EQ(doc.at("memory_bytes"), 320u << 20);
  ASSERT_EQ(doc.at("disks").size(), 1u);
  const std::string path = doc.at("disks")[0].at("path").get<std::string>();
  EXPECT_EQ(doc.at("disks")[0].at("target"), "sda");  // SATA: drivers every guest has
  EXPECT_EQ(sha256_file(path), want) << path;
  EXPECT_TRUE(Journal::list().empty());
}

/// Lines the guest wrote to the serial pty `path`, read until `want`
/// appears or `seconds` pass.
std::string read_serial(const std::string& path, const std::string& want, int seconds) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

TEST_F(CrossFamily, TheGuestBootsOnQemuAfterARoundTripThroughVsphere) {
  const std::string counter = HYPERCTL_TEST_COUNTER_IMG;
  if (!fs::exists(counter)) GTEST_SKIP() << counter << " is not built (testbed.guests.build)";
  // The disk: the counter guest's boot sector (it counts on COM1), then
  // random bytes, so that what boots is what was migrated.
  const std::string disk = tmp_ + "/boot.raw";
  fs::copy_file(counter, disk);
  {
    std::mt19937_64 rng(11);
    std::ofstream out(disk, std::ios::binary | std::ios::app);
    std::string more(2u << 20, '\0');
    for (auto& b : more) b = static_cast<char>(rng());
    out << more;
  }
  const std::string vol = "hyperctl-test-boot-" + std::to_string(::getpid()) + ".img";
  volumes_.push_back(vol);
  names_.push_back(name_);
  ASSERT_EQ(cli({"-c", kvm_, "volume", "upload", "default/" + vol, disk}).status, 0);
  ASSERT_EQ(cli({"-c", kvm_, "create", "--name", name_, "--vcpus", "1", "--memory", "64MiB",
                 "--disk", "vol:default/" + vol})
                .status,
            0);
  for (const auto& [from, to] : {std::pair{kvm_, vs_}, std::pair{vs_, kvm_}}) {
    auto a = migrate_args(from, name_, to);
    a.push_back("--remove-source");
    const CliRun r = cli(a);
    ASSERT_EQ(r.status, 0) << r.err;
  }
  CliRun info = cli({"-c", kvm_, "-o", "json", "info", name_});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_EQ(sha256_file(json::parse(info.out).at("disks")[0].at("path").get<std::string>()),
            sha256_file(disk));
  ASSERT_EQ(cli({"-c", kvm_, "start", name_}).status, 0);
  const CliRun xml = cli({"-c", kvm_, "export-config", name_});
  const auto at = xml.out.find("<serial type='pty'>");
  ASSERT_NE(at, std::string::npos) << xml.out;
  const auto src = xml.out.find("<source path='", at);
  ASSERT_NE(src, std::string::npos) << xml.out;
  const std::string pty = xml.out.substr(src + 14, xml.out.find('\'', src + 14) - src - 14);
  const std::string serial = read_serial(pty, "00000010", 60);
  cli({"-c", kvm_, "poweroff", name_});
  EXPECT_NE(serial.find("00000010"), std::string::npos)
      << "the guest did not count on its serial port (SATA disk, SeaBIOS): " << serial;
}

TEST_F(CrossFamily, AQcow2DiskIsConvertedToTheSameContent) {
  const std::string orig = kvm_vm(name_, "qcow2", 2);
  CliRun r = cli(migrate_args(kvm_, name_, vs_));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(sha256_file(flat_of(name_)), sha256_file(orig));
  // The source is left as it was.
  EXPECT_EQ(cli({"-c", kvm_, "info", name_}).status, 0);
}

TEST_F(CrossFamily, AHostileNameCrossesBothWaysAsData) {
  const std::string name = name_ + " '\"$(touch x);&<b>|ünï";
  const std::string orig = kvm_vm(name, "raw", 3);
  CliRun there = cli([&] {
    auto a = migrate_args(kvm_, name, vs_);
    a.push_back("--remove-source");
    return a;
  }());
  ASSERT_EQ(there.status, 0) << there.err;
  ASSERT_FALSE(sim_->find_vm(name).is_null()) << sim_->show().dump(1);
  CliRun back = cli([&] {
    auto a = migrate_args(vs_, name, kvm_);
    a.push_back("--remove-source");
    return a;
  }());
  ASSERT_EQ(back.status, 0) << back.err;
  CliRun info = cli({"-c", kvm_, "-o", "json", "info", name});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_EQ(json::parse(info.out).at("name"), name);
  EXPECT_EQ(sha256_file(json::parse(info.out).at("disks")[0].at("path").get<std::string>()),
            sha256_file(orig));
  EXPECT_FALSE(fs::exists(tmp_ + "/x"));
  EXPECT_FALSE(fs::exists("x"));
}

TEST_F(CrossFamily, PreflightNamesTheBlockers) {
  kvm_vm(name_, "qcow2", 4);  // internal snapshots live in qcow2
  ASSERT_EQ(cli({"-c", kvm_, "snapshot", "create", name_, "--name", "s1"}).status, 0);
  CliRun r = cli({"-c", kvm_, "-o", "json", "migrate", name_, "--to", vs_, "--offline",
                  "--target-pool", "nope", "--network-map", "a=b", "--check"});
  EXPECT_EQ(r.status, 5) << r.out << r.err;
  const json doc = json::parse(r.out);
  std::set<std::string> blockers;
  for (const auto& i : doc.at("items"))
    if (i.at("level") == "blocker") blockers.insert(i.at("check").get<std::string>());
  EXPECT_EQ(blockers, (std::set<std::string>{"snapshots", "target-pool", "network"})) << r.out;
  // The migration refuses the same way and changes nothing.
  CliRun m = cli(migrate_args(kvm_, name_, vs_));
  EXPECT_EQ(m.status, 5) << m.err;
  EXPECT_NE(m.err.find("consolidate first"), std::string::npos) << m.err;
  EXPECT_TRUE(Journal::list().empty());
  EXPECT_TRUE(sim_->find_vm(name_).is_null());
}

TEST_F(CrossFamily, KilledDuringConversionThenResumed) {
  const std::string orig = kvm_vm(name_, "qcow2", 5);
  // A qemu-img that stops at "convert" long enough to be killed there.
  const std::string slow = tmp_ + "/slow-qemu-img";
  const std::string marker = tmp_ + "/converting";
  std::ofstream(slow) << "#!/bin/sh\nif [ \"$1\" = convert ]; then : > '" << marker
                      << "'; sleep 60; fi\nexec qemu-img \"$@\"\n";
  ::chmod(slow.c_str(), 0755);
  ::setenv("HYPERCTL_QEMU_IMG", slow.c_str(), 1);
  const std::string id = killed_during(migrate_args(kvm_, name_, vs_), "convert disk ", marker);
  ASSERT_FALSE(id.empty());
  ::unsetenv("HYPERCTL_QEMU_IMG");
  CliRun r = cli({"-c", kvm_, "migrate", "--resume", id});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(sha256_file(flat_of(name_)), sha256_file(orig));
  EXPECT_TRUE(Journal::list().empty());
  EXPECT_EQ(cli({"-c", kvm_, "info", name_}).status, 0);
}

TEST_F(CrossFamily, KilledDuringUploadThenRolledBack) {
  const std::string orig = kvm_vm(name_, "raw", 6);
  sim_->inject("PUT/folder=delay:60s");
  const std::string id = killed_during(migrate_args(kvm_, name_, vs_), "import disk ");
  ASSERT_FALSE(id.empty());
  sim_->clear_injections();
  rollback_leaves_nothing(orig);
}

TEST_F(CrossFamily, KilledDuringCreationThenResumed) {
  const std::string orig = kvm_vm(name_, "raw", 7);
  sim_->inject("CreateVM_Task=delay:60s");
  const std::string id = killed_during(migrate_args(kvm_, name_, vs_), "define on target");
  ASSERT_FALSE(id.empty());
  sim_->clear_injections();
  CliRun r = cli({"-c", kvm_, "migrate", "--resume", id});
  ASSERT_EQ(r.status, 0) << r.err;
  const json vm = sim_->find_vm(name_);
  ASSERT_FALSE(vm.is_null());
  EXPECT_EQ(vm.at("numCpu"), 2);
  EXPECT_EQ(sha256_file(flat_of(name_)), sha256_file(orig));
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(CrossFamily, KilledDuringVerificationThenRolledBack) {
  const std::string orig = kvm_vm(name_, "raw", 10);
  // The read-back of the target's copy hangs: the VM is defined there by then.
  sim_->inject("GET/folder=delay:60s");
  const std::string id = killed_during(migrate_args(kvm_, name_, vs_), "verify disk ");
  ASSERT_FALSE(id.empty());
  sim_->clear_injections();
  EXPECT_FALSE(sim_->find_vm(name_).is_null()) << "the VM was not defined before the verification";
  rollback_leaves_nothing(orig);
}

TEST_F(CrossFamily, ARefusedUploadIsOneLineAndLosesNothing) {
  const std::string orig = kvm_vm(name_, "raw", 8);
  sim_->inject("PUT/folder=status:403");
  expect_one_line(cli(migrate_args(kvm_, name_, vs_)), 7, "refused the upload");  // auth-failed
  sim_->clear_injections();
  rollback_leaves_nothing(orig);
}

TEST_F(CrossFamily, AFullDatastoreIsOneLineAndLosesNothing) {
  const std::string orig = kvm_vm(name_, "raw", 12);
  sim_->inject("PUT/folder=status:507");
  expect_one_line(cli(migrate_args(kvm_, name_, vs_)), 10, "has no room");  // backend failure
  sim_->clear_injections();
  rollback_leaves_nothing(orig);
}

TEST_F(CrossFamily, AFailingQemuImgIsOneLineAndLosesNothing) {
  kvm_vm(name_, "qcow2", 9);
  const std::string bad = tmp_ + "/bad-qemu-img";
  std::ofstream(bad) << "#!/bin/sh\nif [ \"$1\" = convert ]; then echo 'qemu-img: error while "
                        "writing sector 2048: No space left on device' >&2; exit 1; fi\n"
                        "exec qemu-img \"$@\"\n";
  ::chmod(bad.c_str(), 0755);
  ::setenv("HYPERCTL_QEMU_IMG", bad.c_str(), 1);
  const CliRun r = cli(migrate_args(kvm_, name_, vs_));
  ::unsetenv("HYPERCTL_QEMU_IMG");
  expect_one_line(r, 10, "No space left on device");  // backend failure
  rollback_leaves_nothing("");  // a qcow2 source: its bytes are not the raw image's
  EXPECT_TRUE(fs::is_empty(tmp_ + "/state/journal"));
}

}  // namespace
