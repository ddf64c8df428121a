// `hyperctl pool ...` and `hyperctl volume ...` as a user runs them:
//   CliStorage.*         one command at a time on test:///default (each run is
//                        a new process, so a fresh test host);
//   CliStorageTestbed.*  sequences on the real libvirtd of tests/testbed, and
//                        the acceptance test: a download and an upload killed
//                        (SIGKILL) midway leave no file and no volume under
//                        the final name. Skipped without HYPERCTL_TEST_QEMU_URI.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;
using nlohmann::json;

constexpr const char* kTest = "test:///default";

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const auto v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ------------------------------------------------------------ test driver

TEST(CliStorage, PoolListShowsTheTestDriversPoolInEveryFormat) {
  auto r = run({"-c", kTest, "pool", "list"});
  expect_ok(r);
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r;
  EXPECT_NE(r.out.find("default-pool  active"), std::string::npos) << r;

  r = run({"-c", kTest, "-o", "json", "pool", "list"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.pool-list/1");
  EXPECT_EQ(doc.at("uri"), kTest);
  ASSERT_EQ(doc.at("pools").size(), 1u);
  EXPECT_EQ(doc["pools"][0].at("name"), "default-pool");
  EXPECT_EQ(doc["pools"][0].at("type"), "dir");
  EXPECT_EQ(doc["pools"][0].at("active"), true);

  r = run({"-c", kTest, "-o", "csv", "pool", "list"});
  expect_ok(r);
  EXPECT_EQ(lines_of(r.out).at(0),
            "name,id,type,path,active,autostart,capacity_bytes,allocation_bytes,available_bytes");
  EXPECT_EQ(lines_of(r.out).size(), 2u);

  r = run({"-c", kTest, "-o", "yaml", "pool", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("schema: \"hyperctl.pool-list/1\""), std::string::npos) << r;
}

TEST(CliStorage, PoolInfoAndMissingPool) {
  auto r = run({"-c", kTest, "-o", "json", "pool", "info", "default-pool"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.pool/1");
  EXPECT_EQ(doc.at("path"), "/default-pool");
  EXPECT_GT(doc.at("capacity_bytes").get<std::uint64_t>(), 0u);

  r = run({"-c", kTest, "pool", "info", "nosuch"});
  expect_error(r, 3, "storage pool 'nosuch' not found on test:///default");
  for (const char* action : {"start", "stop", "refresh", "delete"}) {
    SCOPED_TRACE(action);
    expect_error(run({"-c", kTest, "pool", action, "nosuch"}), 3);
  }
  expect_error(run({"-c", kTest, "pool", "start", "default-pool"}), 5, "already active");
}

TEST(CliStorage, PoolCreateNeedsAnAbsolutePath) {
  expect_error(run({"-c", kTest, "pool", "create", "hyperctl-test-p", "--path", "rel/dir"}), 2,
               "absolute path");
  expect_error(run({"-c", kTest, "pool", "create", "hyperctl-test-p"}), 2, "--path");
  auto r = run({"-c", kTest, "pool", "create", "hyperctl-test-p", "--path", "/nowhere/p"});
  expect_ok(r);
  EXPECT_EQ(r.out, "pool 'hyperctl-test-p' created at '/nowhere/p'\n");
}

TEST(CliStorage, VolumeListOfAnEmptyPool) {
  auto r = run({"-c", kTest, "volume", "list", "default-pool"});
  expect_ok(r);
  EXPECT_EQ(r.out, "No volumes.\n");
  r = run({"-c", kTest, "-o", "json", "volume", "list", "default-pool"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.volume-list/1");
  EXPECT_EQ(doc.at("pool"), "default-pool");
  EXPECT_TRUE(doc.at("volumes").empty());
  expect_error(run({"-c", kTest, "volume", "list", "nosuch"}), 3);
}

TEST(CliStorage, VolumeCreateReportsTheNewVolume) {
  auto r = run({"-c", kTest, "volume", "create", "default-pool/hyperctl-test-v", "--size", "10M"});
  expect_ok(r);
  EXPECT_EQ(r.out, "volume 'default-pool/hyperctl-test-v' created (qcow2, 10 MiB)\n");
  r = run({"-c", kTest, "-o", "json", "volume", "create", "default-pool/<a>&'b", "--size", "1G",
           "--format", "raw"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.volume/1");
  EXPECT_EQ(doc.at("name"), "<a>&'b");
  EXPECT_EQ(doc.at("pool"), "default-pool");
  EXPECT_EQ(doc.at("format"), "raw");
  EXPECT_EQ(doc.at("capacity_bytes"), 1ull << 30);
  EXPECT_EQ(doc.at("incomplete"), false);
}

TEST(CliStorage, BadVolumeArgumentsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {"volume", "create", "default-pool/a/b", "--size", "1M"},
      {"volume", "create", "default-pool/..", "--size", "1M"},
      {"volume", "create", "default-pool/x.hyperctl-partial", "--size", "1M"},
      {"volume", "create", "no-slash", "--size", "1M"},
      {"volume", "create", "default-pool/", "--size", "1M"},
      {"volume", "create", "default-pool/x", "--size", "0"},
      {"volume", "create", "default-pool/x", "--size", "12Q"},
      {"volume", "create", "default-pool/x", "--size", "1M", "--format", "qcow2'"},
      {"volume", "resize", "default-pool/x", "--size", "+-1G"},
      {"volume", "resize", "default-pool/x", "--size", "1024"},
      {"volume", "info", "default-pool"},
      {"volume"},
      {"pool"},
  };
  for (const auto& args : cases) {
    std::vector<std::string> argv{"-c", kTest};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run(argv);
    SCOPED_TRACE(::testing::PrintToString(args));
    expect_error(r, 2);
  }
}

TEST(CliStorage, MissingVolumesAndFilesExitThree) {
  TempDir tmp;
  expect_error(run({"-c", kTest, "volume", "info", "default-pool/nosuch"}), 3,
               "volume 'default-pool/nosuch' not found on test:///default");
  expect_error(run({"-c", kTest, "volume", "delete", "default-pool/nosuch"}), 3);
  expect_error(run({"-c", kTest, "volume", "resize", "default-pool/nosuch", "--size", "1G"}), 3);
  expect_error(run({"-c", kTest, "volume", "clone", "default-pool/nosuch", "copy"}), 3);
  const std::string out = (tmp.path() / "out").string();
  expect_error(run({"-c", kTest, "volume", "download", "default-pool/nosuch", out}), 3);
  EXPECT_FALSE(fs::exists(out));
  expect_error(run({"-c", kTest, "volume", "upload", "default-pool/hyperctl-test-u",
                    (tmp.path() / "missing").string()}),
               3, "not found");
  expect_error(
      run({"-c", kTest, "volume", "upload", "default-pool/hyperctl-test-u", tmp.path().string()}),
      2, "not a regular file");
}

TEST(CliStorage, TransfersOnTheTestDriverAreUnsupported) {
  TempDir tmp;
  const std::string file = tmp.write("data", "hello");
  expect_error(run({"-c", kTest, "volume", "upload", "default-pool/hyperctl-test-u", file}), 4);
}

// ---------------------------------------------------------- real libvirtd

/// A hyperctl process left running, to be killed midway.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("HYPERCTL_", 0) != 0) env_strings.push_back(kv);
    }
    env_strings.push_back(std::string("HYPERCTL_PLUGIN_PATH=") + HYPERCTL_TEST_PLUGIN_DIR);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{HYPERCTL_CLI};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  /// True while the process runs (reaps it when it ended).
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
      return false;
    }
    return true;
  }
  int kill_now() {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
  }
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// Waits (polling every 0.2 ms) until `ready` holds, then SIGKILLs the child.
/// Returns false when the child ended first.
template <class Ready>
bool kill_when(Child& child, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return child.kill_now() == SIGKILL;
    if (!child.running()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

class CliStorageTestbed : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = std::getenv("HYPERCTL_TEST_QEMU_URI");
    if (uri == nullptr || *uri == '\0') GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI is not set";
    uri_ = uri;
    const auto r = run({"-c", uri_, "-o", "json", "pool", "info", "default"});
    if (r.status != 0) GTEST_SKIP() << uri_ << " does not answer or has no pool 'default'";
    default_path_ = json::parse(r.out).at("path").get<std::string>();
    tag_ = std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  void TearDown() override {
    for (const auto& v : volumes_) run({"-c", uri_, "volume", "delete", v});
    for (const auto& p : pools_) {
      const auto r = run({"-c", uri_, "-o", "json", "volume", "list", p});
      if (r.status == 0) {
        // Named: a range-for over a temporary's member would read freed memory.
        const auto doc = json::parse(r.out);
        for (const auto& v : doc.at("volumes"))
          run({"-c", uri_, "volume", "delete", p + "/" + v.at("name").get<std::string>()});
      }
      run({"-c", uri_, "pool", "delete", p});
    }
  }

  Result hc(std::vector<std::string> args) {
    args.insert(args.begin(), {"-c", uri_});
    return run(args);
  }
  json hc_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"-c", uri_, "-o", "json"});
    const auto r = run(args);
    EXPECT_EQ(r.status, 0) << r;
    return r.status == 0 ? json::parse(r.out) : json::object();
  }
  std::vector<std::string> volume_names(const std::string& pool) {
    std::vector<std::string> out;
    for (const auto& v : hc_json({"volume", "list", pool}).value("volumes", json::array()))
      out.push_back(v.at("name").get<std::string>());
    return out;
  }
  bool has_volume(const std::string& pool, const std::string& name) {
    const auto names = volume_names(pool);
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  std::string uri_, default_path_, tag_;
  std::vector<std::string> volumes_, pools_;
};

TEST_F(CliStorageTestbed, PoolAndVolumeLifecycleWithTransfersAndRefusals) {
  TempDir tmp;
  const std::string pool = "hyperctl-test-cli-pool-" + tag_;
  pools_.push_back(pool);
  auto r = hc({"pool", "create", pool, "--path", (tmp.path() / "pool").string()});
  expect_ok(r);
  json p = hc_json({"pool", "info", pool});
  EXPECT_EQ(p.at("active"), true);
  EXPECT_EQ(p.at("autostart"), true);
  EXPECT_TRUE(fs::is_directory(tmp.path() / "pool"));

  const std::string vol = pool + "/hyperctl-test-disk";
  expect_ok(hc({"volume", "create", vol, "--size", "64M"}));
  r = hc({"volume", "resize", vol, "--size", "128M"});
  expect_ok(r);
  EXPECT_EQ(r.out, "volume '" + vol + "' resized from 64 MiB to 128 MiB\n");
  json v = hc_json({"volume", "info", vol});
  EXPECT_EQ(v.at("capacity_bytes"), 128ull << 20);
  EXPECT_EQ(v.at("format"), "qcow2");
  EXPECT_EQ(v.at("used_by"), json::array());

  // Shrinking without --shrink: refused, unchanged.
  expect_error(hc({"volume", "resize", vol, "--size", "4K"}), 5, "add --shrink");
  EXPECT_EQ(hc_json({"volume", "info", vol}).at("capacity_bytes"), 128ull << 20);

  const std::string copy_name = "hyperctl-test-copy-" + tag_;
  volumes_.push_back("default/" + copy_name);
  expect_ok(hc({"volume", "clone", vol, copy_name, "--to-pool", "default"}));
  EXPECT_EQ(hc_json({"volume", "info", "default/" + copy_name}).at("format"), "qcow2");
  expect_ok(hc({"volume", "clone", vol, "hyperctl-test-copy2", "--format", "raw"}));
  EXPECT_EQ(hc_json({"volume", "info", pool + "/hyperctl-test-copy2"}).at("format"), "raw");

  // Upload / download byte for byte.
  const std::string data = random_bytes(3 << 20, 11);
  const std::string in = tmp.write("in.img", data);
  const std::string up = pool + "/hyperctl-test-up";
  expect_ok(hc({"volume", "upload", up, in}));
  const std::string out = (tmp.path() / "out.img").string();
  expect_ok(hc({"volume", "download", up, out}));
  EXPECT_TRUE(read_file(out) == data);
  // Over an existing file: refused without --overwrite (already exists, 6),
  // file unchanged.
  tmp.write("keep.img", "keep me");
  const std::string keep = (tmp.path() / "keep.img").string();
  expect_error(hc({"volume", "download", up, keep}), 6, "--overwrite");
  EXPECT_EQ(read_file(keep), "keep me");
  expect_ok(hc({"volume", "download", up, keep, "--force"}));
  EXPECT_TRUE(read_file(keep) == data);
  expect_error(hc({"volume", "upload", up, in}), 6, "--overwrite");

  // A VM on the volume: delete refused naming it.
  const std::string vm = "hyperctl-test-cli-vm-" + tag_;
  const std::string path = hc_json({"volume", "info", vol}).at("path").get<std::string>();
  const std::string xml = "<domain type='qemu'><name>" + vm +
                          "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                          "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
                          "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                          "<source file='" +
                          path + "'/><target dev='vda' bus='virtio'/></disk></devices></domain>";
  ASSERT_EQ(run({"-c", uri_, "define", "-"}, with_input(xml)).status, 0);
  expect_error(hc({"volume", "delete", vol}), 5, vm);
  EXPECT_EQ(hc_json({"volume", "info", vol}).at("used_by"), json::array({vm}));
  // volume list fills used_by the same way as volume info.
  bool listed = false;
  const json listing = hc_json({"volume", "list", pool});
  for (const auto& entry : listing.at("volumes")) {
    if (entry.at("name").get<std::string>() != "hyperctl-test-disk") continue;
    listed = true;
    EXPECT_EQ(entry.at("used_by"), json::array({vm})) << entry;
  }
  EXPECT_TRUE(listed) << listing;
  expect_ok(hc({"delete", vm}));

  for (const auto& name : {"hyperctl-test-disk", "hyperctl-test-copy2", "hyperctl-test-up"})
    expect_ok(hc({"volume", "delete", pool + "/" + name}));
  EXPECT_TRUE(volume_names(pool).empty());
  r = hc({"pool", "delete", pool});
  expect_ok(r);
  expect_error(hc({"pool", "info", pool}), 3);
  EXPECT_TRUE(fs::is_directory(tmp.path() / "pool")) << "the folder stays";
}

TEST_F(CliStorageTestbed, KilledDownloadLeavesNoFileUnderTheFinalName) {
  TempDir tmp;
  const std::string name = "hyperctl-test-big-" + tag_;
  volumes_.push_back("default/" + name);
  // Sparse raw: created at once, but every byte crosses the stream.
  expect_ok(hc({"volume", "create", "default/" + name, "--size", "2G", "--format", "raw"}));
  const fs::path target = tmp.path() / "disk.img";
  Child child({"-c", uri_, "volume", "download", "default/" + name, target.string()});
  ASSERT_GT(child.pid(), 0);
  const fs::path partial =
      tmp.path() / (".disk.img.hyperctl-partial-" + std::to_string(child.pid()));
  const bool killed = kill_when(child, [&] {
    struct stat st {};
    return ::stat(partial.c_str(), &st) == 0 && st.st_size > (1 << 20);
  });
  ASSERT_TRUE(killed) << "the download ended (status " << child.status()
                      << ") before it could be killed midway";
  EXPECT_FALSE(fs::exists(target)) << "no file under the final name";
  EXPECT_TRUE(fs::exists(partial)) << "the documented partial file is what remains";
  EXPECT_LT(fs::file_size(partial), 2ull << 30);
}

TEST_F(CliStorageTestbed, CtrlCDuringADownloadCancelsAndLeavesNoFile) {
  TempDir tmp;
  const std::string name = "hyperctl-test-ctrlc-" + tag_;
  volumes_.push_back("default/" + name);
  expect_ok(hc({"volume", "create", "default/" + name, "--size", "16G", "--format", "raw"}));
  const fs::path target = tmp.path() / "disk.img";
  RunOptions opt;
  opt.sigint_after = std::chrono::milliseconds(300);
  const auto r = run({"-c", uri_, "volume", "download", "default/" + name, target.string()}, opt);
  expect_error(r, 11, "cancelled");
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "the partial file is removed on cancel";
}

TEST_F(CliStorageTestbed, KilledUploadLeavesNoVolumeClaimingToBeComplete) {
  TempDir tmp;
  const std::string name = "hyperctl-test-upk-" + tag_;
  const std::string staging = name + ".hyperctl-partial";
  volumes_.push_back("default/" + staging);
  volumes_.push_back("default/" + name);
  const std::string file = tmp.write("big.img", random_bytes(256u << 20, 5));
  ASSERT_FALSE(has_volume("default", name));

  Child child({"-c", uri_, "volume", "upload", "default/" + name, file});
  ASSERT_GT(child.pid(), 0);
  const fs::path staged = fs::path(default_path_) / staging;
  const bool killed = kill_when(child, [&] {
    struct stat st {};
    return ::stat(staged.c_str(), &st) == 0 && st.st_blocks * 512 > (1 << 20);
  });
  ASSERT_TRUE(killed) << "the upload ended (status " << child.status()
                      << ") before it could be killed midway";

  EXPECT_FALSE(has_volume("default", name)) << "no volume under the final name";
  const json list = hc_json({"volume", "list", "default"});
  bool staging_marked = false;
  for (const auto& v : list.at("volumes"))
    if (v.at("name") == staging) staging_marked = v.at("incomplete").get<bool>();
  EXPECT_TRUE(staging_marked) << "the leftover staging volume is listed as incomplete";
  // A new upload to the same name refuses until the leftover is deleted.
  expect_error(hc({"volume", "upload", "default/" + name, file}), 5, staging);
  EXPECT_FALSE(has_volume("default", name));
  expect_ok(hc({"volume", "delete", "default/" + staging}));
  EXPECT_FALSE(has_volume("default", staging));
}

}  // namespace
