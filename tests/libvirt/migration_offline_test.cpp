// Offline (cold) migration between two real libvirt hosts: the main test bed
// daemon ($HYPERCTL_TEST_QEMU_URI) and the peer (tests/testbed/peer.sh,
// $HYPERCTL_TEST_PEER_URI). Streams need a real daemon on both sides; without
// the peer every test skips with the reason. Journals go to
// $HYPERCTL_STATE_DIR (a temporary folder when unset).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "../common/background_cli.hpp"
#include "../common/files.hpp"
#include "hyperctl/journal.hpp"
#include "support.hpp"

extern char** environ;

namespace hyperctl::test {
namespace {

using hyperctl_test::sha256_file;
using hyperctl_test::write_random_file;

namespace fs = std::filesystem;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

/// The hyperctl executable in the background (tests/common/background_cli.hpp).
struct Cli : hyperctl_test::BackgroundCli {
  Cli(const std::string& dir, const std::vector<std::string>& args)
      : BackgroundCli(HYPERCTL_TEST_CLI, HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR, dir, args) {}
};

struct Disk {
  std::string volume;
  std::string format;
};

class OfflineMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_uri_ = env_or_empty("HYPERCTL_TEST_QEMU_URI");
    dst_uri_ = env_or_empty("HYPERCTL_TEST_PEER_URI");
    if (src_uri_.empty()) GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd";
    if (dst_uri_.empty())
      GTEST_SKIP() << "HYPERCTL_TEST_PEER_URI not set: no second host (tests/testbed/peer.sh)";
    try {
      src_ = open(src_uri_);
      src_->storage().get_pool("default");
    } catch (const Error& e) {
      GTEST_SKIP() << "cannot use " << src_uri_ << ": " << e.what();
    }
    try {
      dst_ = open(dst_uri_);
      dst_->storage().get_pool("default");
    } catch (const Error& e) {
      src_.reset();
      GTEST_SKIP() << "cannot use the peer " << dst_uri_ << ": " << e.what();
    }
    char tmpl[] = "/tmp/hyperctl-offline-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    if (env_or_empty("HYPERCTL_STATE_DIR").empty()) {
      ::setenv("HYPERCTL_STATE_DIR", (tmp_ + "/state").c_str(), 1);
      own_state_ = true;
    }
    name_ = unique_name("offline");
  }

  void TearDown() override {
    for (auto* c : {src_.get(), dst_.get()}) {
      if (!c) continue;
      try {
        c->vms().remove(name_, DeleteOptions{false, true, true});
      } catch (const Error&) {
      }
      // A killed command's stream may hold a volume for a moment: retry.
      for (const auto& d : disks_) {
        for (int attempt = 0; attempt < 50; ++attempt) {
          try {
            c->storage().remove_volume("default", d.volume);
            break;
          } catch (const Error& e) {
            if (e.code() == ErrorCode::NotFound) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }
      }
    }
    for (const auto& id : journals_) {
      try {
        Journal::load(id).remove();
      } catch (const Error&) {
      }
    }
    if (own_state_) ::unsetenv("HYPERCTL_STATE_DIR");
    if (!tmp_.empty()) {
      std::error_code ec;
      fs::remove_all(tmp_, ec);
    }
  }

  /// A shut-off VM on the source with a raw disk of `bytes` of data (vda) and
  /// an empty qcow2 disk of 64 MiB (vdb), both in the pool "default".
  /// With `second_bytes`, vdb is a raw disk of that much data instead.
  void make_vm(std::uint64_t bytes, std::uint64_t second_bytes = 0) {
    const std::string a = name_ + "-a.raw", b = name_ + (second_bytes ? "-b.raw" : "-b.qcow2");
    disks_ = {{a, "raw"}, {b, second_bytes ? "raw" : "qcow2"}};
    write_random_file(tmp_ + "/a.raw", bytes, 42);
    src_->storage().upload_volume("default", a, tmp_ + "/a.raw", {}, nullptr, {});
    fs::remove(tmp_ + "/a.raw");
    if (second_bytes) {
      write_random_file(tmp_ + "/b.raw", second_bytes, 7);
      src_->storage().upload_volume("default", b, tmp_ + "/b.raw", {}, nullptr, {});
      fs::remove(tmp_ + "/b.raw");
    } else {
      src_->storage().create_volume(VolumeSpec{b, "default", "qcow2", 64ull << 20});
    }
    std::string devices;
    const char* devs[] = {"vda", "vdb"};
    for (std::size_t i = 0; i < disks_.size(); ++i) {
      const auto v = src_->storage().get_volume("default", disks_[i].volume);
      devices += "<disk type='file' device='disk'><driver name='qemu' type='" + disks_[i].format +
                 "'/><source file='" + v.path + "'/><target dev='" + devs[i] +
                 "' bus='virtio'/></disk>";
    }
    src_->vms().define("<domain type='qemu'><name>" + name_ +
                       "</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type "
                       "arch='x86_64'>hvm</type></os><devices>" +
                       devices + "</devices></domain>");
  }

  /// SHA-256 of each disk volume, as `c` serves it.
  std::vector<std::string> checksums(Connection& c) {
    std::vector<std::string> out;
    for (const auto& d : disks_) {
      const std::string file = tmp_ + "/check";
      c.storage().download_volume("default", d.volume, file, TransferOptions{true}, nullptr, {});
      out.push_back(sha256_file(file));
      fs::remove(file);
    }
    return out;
  }

  bool has_volume(Connection& c, const std::string& name) {
    for (const auto& v : c.storage().list_volumes("default"))
      if (v.name == name) return true;
    return false;
  }

  MigrationOptions offline(bool remove_source = false) {
    MigrationOptions o;
    o.mode = MigrationMode::Offline;
    o.remove_source = remove_source;
    o.target_pool = "default";
    return o;
  }

  /// Cancels the migration once the copy of vda has moved some bytes;
  /// returns the journal id from the error.
  std::string interrupted_migration() {
    CancelToken cancel;
    auto progress = [&](const Progress& p) {
      if (p.phase == "copy disk vda" && p.done >= (4u << 20)) cancel.cancel();
    };
    auto err =
        error_of([&] { src_->migration().migrate(name_, *dst_, offline(), progress, cancel); });
    if (!err) return {};
    EXPECT_EQ(err->code(), ErrorCode::Cancelled) << err->what();
    const std::string msg = err->what();
    const auto at = msg.find("--resume ");
    EXPECT_NE(at, std::string::npos) << msg;
    if (at == std::string::npos) return {};
    std::string id = msg.substr(at + 9, msg.find(',', at) - at - 9);
    EXPECT_NE(msg.find("--rollback " + id), std::string::npos) << msg;
    EXPECT_NE(err->detail().find(id), std::string::npos) << err->detail();
    journals_.push_back(id);
    return id;
  }

  /// Runs `hyperctl migrate --offline` and SIGKILLs it while a disk copy is
  /// running, as its journal says; returns the journal id.
  std::string killed_mid_copy() {
    Cli cli(tmp_, {"-c", src_uri_, "migrate", name_, "--to", dst_uri_, "--offline", "--target-pool",
                   "default"});
    std::string id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    std::optional<std::chrono::steady_clock::time_point> copying_since;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::vector<std::string> ids;
      try {
        ids = Journal::list();
      } catch (const Error&) {
      }
      if (ids.size() != 1) continue;
      id = ids.front();
      bool copying = false;
      try {
        const Journal j = Journal::load(id);
        for (const auto& st : j.steps())
          if (st.name.rfind("copy disk ", 0) == 0 && st.state == StepState::Running) copying = true;
      } catch (const Error&) {
      }
      if (!copying) continue;
      if (!copying_since) copying_since = std::chrono::steady_clock::now();
      if (std::chrono::steady_clock::now() - *copying_since > std::chrono::milliseconds(150)) {
        cli.kill();
        break;
      }
    }
    const int status = cli.wait();
    EXPECT_EQ(status, -SIGKILL) << "the migration ended before it was killed (status " << status
                                << ")\n"
                                << cli.out() << cli.err();
    if (!id.empty()) journals_.push_back(id);
    // Killed mid-copy: one disk copy is left running in the journal.
    bool running = false;
    const Journal j = Journal::load(id);
    for (const auto& st : j.steps())
      if (st.name.rfind("copy disk ", 0) == 0 && st.state == StepState::Running) running = true;
    EXPECT_TRUE(running) << "no disk copy was running when the process was killed";
    return id;
  }

  std::string src_uri_, dst_uri_, tmp_, name_;
  std::unique_ptr<Connection> src_, dst_;
  std::vector<Disk> disks_;
  std::vector<std::string> journals_;
  bool own_state_ = false;
};

TEST_F(OfflineMigrationTest, CopiesTwoDisksAndKeepsTheSource) {
  make_vm(16u << 20);
  const auto before = checksums(*src_);
  const auto xml_before = src_->vms().export_config(name_);
  const auto uuid = src_->vms().get(name_).id;

  std::vector<std::string> phases;
  auto info = src_->migration().migrate(name_, *dst_, offline(),
                                        [&](const Progress& p) {
                                          if (phases.empty() || phases.back() != p.phase)
                                            phases.push_back(p.phase);
                                        },
                                        {});
  EXPECT_EQ(info.name, name_);
  EXPECT_EQ(info.id, uuid);
  EXPECT_EQ(info.state, VmState::Off);
  EXPECT_EQ(checksums(*dst_), before);
  EXPECT_EQ(dst_->vms().get(name_).disks.size(), 2u);
  for (const auto& d : dst_->vms().get(name_).disks)
    EXPECT_EQ(d.path.rfind(dst_->storage().get_pool("default").path, 0), 0u) << d.path;
  // Without remove_source: the source is as it was.
  EXPECT_EQ(src_->vms().export_config(name_), xml_before);
  EXPECT_EQ(checksums(*src_), before);
  EXPECT_TRUE(Journal::list().empty());
  for (const char* phase :
       {"copy disk vda", "copy disk vdb", "define on target", "verify disk vda", "verify disk vdb"})
    EXPECT_NE(std::find(phases.begin(), phases.end(), phase), phases.end()) << phase;
}

TEST_F(OfflineMigrationTest, RemoveSourceDeletesTheSourceAfterVerifying) {
  make_vm(8u << 20);
  const auto before = checksums(*src_);
  src_->migration().migrate(name_, *dst_, offline(true), nullptr, {});
  EXPECT_EQ(checksums(*dst_), before);
  EXPECT_FALSE(has_vm_named(*src_, name_));
  for (const auto& d : disks_) EXPECT_FALSE(has_volume(*src_, d.volume)) << d.volume;
  EXPECT_TRUE(Journal::list().empty());
}

// --remove-source would delete what the move does not carry: refused at the
// check, with nothing copied and the source as it was.
TEST_F(OfflineMigrationTest, RemoveSourceRefusesADiskAnotherVmUses) {
  make_vm(1u << 20);
  const auto target_volumes = all_volume_paths(*dst_);
  const std::string other = name_ + "-other";
  const auto v = src_->storage().get_volume("default", disks_[0].volume);
  src_->vms().define("<domain type='qemu'><name>" + other +
                     "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type "
                     "arch='x86_64'>hvm</type></os><devices><disk type='file' "
                     "device='disk'><driver name='qemu' type='raw'/><source file='" +
                     v.path + "'/><target dev='vda' bus='virtio'/></disk></devices></domain>");
  auto err = error_of([&] { src_->migration().migrate(name_, *dst_, offline(true), nullptr, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find(other), std::string::npos) << err->what();
  src_->vms().remove(other, {});
  EXPECT_TRUE(has_vm_named(*src_, name_));
  for (const auto& d : disks_) EXPECT_TRUE(has_volume(*src_, d.volume)) << d.volume;
  EXPECT_EQ(all_volume_paths(*dst_), target_volumes);
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineMigrationTest, RemoveSourceRefusesAVmWithSnapshots) {
  // One qcow2 disk: libvirt takes internal snapshots of a shut-off VM's qcow2.
  const std::string disk = name_ + "-s.qcow2";
  disks_ = {{disk, "qcow2"}};
  src_->storage().create_volume(VolumeSpec{disk, "default", "qcow2", 64ull << 20});
  const auto v = src_->storage().get_volume("default", disk);
  src_->vms().define("<domain type='qemu'><name>" + name_ +
                     "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type "
                     "arch='x86_64'>hvm</type></os><devices><disk type='file' "
                     "device='disk'><driver name='qemu' type='qcow2'/><source file='" +
                     v.path + "'/><target dev='vda' bus='virtio'/></disk></devices></domain>");
  const auto target_volumes = all_volume_paths(*dst_);
  SnapshotSpec snap;
  snap.name = "keep-me";
  src_->snapshots().create(name_, snap);
  auto err = error_of([&] { src_->migration().migrate(name_, *dst_, offline(true), nullptr, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("1 snapshot"), std::string::npos) << err->what();
  EXPECT_EQ(src_->snapshots().list(name_).size(), 1u);
  EXPECT_TRUE(has_volume(*src_, disk));
  EXPECT_FALSE(has_vm_named(*dst_, name_));
  EXPECT_EQ(all_volume_paths(*dst_), target_volumes);
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineMigrationTest, InterruptedThenResumed) {
  make_vm(32u << 20);
  const auto before = checksums(*src_);
  const auto id = interrupted_migration();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Journal::list(), std::vector<std::string>{id});
  EXPECT_FALSE(has_vm_named(*dst_, name_));
  EXPECT_EQ(checksums(*src_), before);

  auto info = src_->migration().resume(id, *dst_, nullptr, {});
  EXPECT_EQ(info.name, name_);
  EXPECT_EQ(checksums(*dst_), before);
  EXPECT_TRUE(has_vm_named(*src_, name_));
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineMigrationTest, InterruptedThenRolledBack) {
  make_vm(32u << 20);
  const auto before = checksums(*src_);
  const auto xml_before = src_->vms().export_config(name_);
  const auto id = interrupted_migration();
  ASSERT_FALSE(id.empty());

  src_->migration().rollback(id, *dst_);
  EXPECT_FALSE(has_vm_named(*dst_, name_));
  for (const auto& d : disks_) EXPECT_FALSE(has_volume(*dst_, d.volume)) << d.volume;
  EXPECT_EQ(src_->vms().export_config(name_), xml_before);
  EXPECT_EQ(checksums(*src_), before);
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineMigrationTest, JournalOfOtherConnectionsIsRefused) {
  make_vm(8u << 20);
  const auto id = interrupted_migration();
  ASSERT_FALSE(id.empty());
  // Swapped: the journal's source is not this connection.
  auto err = error_of([&] { dst_->migration().resume(id, *src_, nullptr, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(err->what()).find(src_uri_), std::string::npos) << err->what();
  EXPECT_NE(std::string(err->what()).find(dst_uri_), std::string::npos) << err->what();
  EXPECT_ERROR_CODE(dst_->migration().rollback(id, *src_), ErrorCode::InvalidArgument);
  src_->migration().rollback(id, *dst_);
}

TEST_F(OfflineMigrationTest, RefusalsChangeNothing) {
  make_vm(1u << 20);
  const auto target_volumes = all_volume_paths(*dst_);
  // The same host.
  auto again = open(src_uri_);
  EXPECT_ERROR_CODE(src_->migration().migrate(name_, *again, offline(), nullptr, {}),
                    ErrorCode::InvalidArgument);
  // A pool the target does not have.
  auto o = offline();
  o.target_pool = "hyperctl-test-no-such-pool";
  EXPECT_ERROR_CODE(src_->migration().migrate(name_, *dst_, o, nullptr, {}), ErrorCode::NotFound);
  // A VM that does not exist.
  EXPECT_ERROR_CODE(src_->migration().migrate(name_ + "-none", *dst_, offline(), nullptr, {}),
                    ErrorCode::NotFound);
  // A name clash on the target.
  dst_->vms().define("<domain type='qemu'><name>" + name_ +
                     "</name><memory unit='MiB'>64</memory><os><type "
                     "arch='x86_64'>hvm</type></os></domain>");
  auto err = error_of([&] { src_->migration().migrate(name_, *dst_, offline(), nullptr, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("already exists"), std::string::npos) << err->what();
  dst_->vms().remove(name_, {});
  EXPECT_EQ(all_volume_paths(*dst_), target_volumes);
  EXPECT_TRUE(Journal::list().empty());
  EXPECT_ERROR_CODE(src_->migration().resume("20990101T000000Z-00000000", *dst_, nullptr, {}),
                    ErrorCode::NotFound);
}

// Acceptance (6): the real command killed mid-copy, then --resume completes it.
TEST_F(OfflineMigrationTest, CliKilledMidCopyThenResumed) {
  make_vm(256u << 20, 256u << 20);
  const auto before = checksums(*src_);
  const auto xml_before = src_->vms().export_config(name_);
  const auto id = killed_mid_copy();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(src_->vms().export_config(name_), xml_before);
  EXPECT_FALSE(has_vm_named(*dst_, name_));

  Cli resume(tmp_, {"-o", "json", "migrate", "--resume", id});
  ASSERT_EQ(resume.wait(), 0) << resume.out() << resume.err();
  EXPECT_NE(resume.out().find("\"result\":\"ok\""), std::string::npos) << resume.out();
  EXPECT_NE(resume.out().find(id), std::string::npos) << resume.out();
  EXPECT_EQ(checksums(*dst_), before);
  EXPECT_EQ(src_->vms().export_config(name_), xml_before);
  EXPECT_TRUE(Journal::list().empty());
}

// Acceptance (6): the real command killed mid-copy, then --rollback leaves
// the source exactly as before and nothing on the target.
TEST_F(OfflineMigrationTest, CliKilledMidCopyThenRolledBack) {
  make_vm(256u << 20, 256u << 20);
  const auto before = checksums(*src_);
  const auto xml_before = src_->vms().export_config(name_);
  const auto target_volumes = all_volume_paths(*dst_);
  const auto id = killed_mid_copy();
  ASSERT_FALSE(id.empty());

  Cli rollback(tmp_, {"migrate", "--rollback", id});
  ASSERT_EQ(rollback.wait(), 0) << rollback.out() << rollback.err();
  EXPECT_NE(rollback.out().find("rolled back"), std::string::npos) << rollback.out();
  EXPECT_FALSE(has_vm_named(*dst_, name_));
  EXPECT_EQ(all_volume_paths(*dst_), target_volumes);
  EXPECT_EQ(src_->vms().export_config(name_), xml_before);
  EXPECT_EQ(checksums(*src_), before);
  EXPECT_TRUE(Journal::list().empty());
}

// The command's own refusals: one line, status not 0, no journal left.
TEST_F(OfflineMigrationTest, CliRefusesAnUnknownJournal) {
  Cli cli(tmp_, {"migrate", "--resume", "20990101T000000Z-00000000"});
  EXPECT_NE(cli.wait(), 0);
  EXPECT_NE(cli.err().find("20990101T000000Z-00000000"), std::string::npos) << cli.err();
}

}  // namespace
}  // namespace hyperctl::test
