// Storage through the plugin: the one pool, a volume per distribution, and
// export/import streamed through the runner (download/upload).
#include <openssl/evp.h>

#include <atomic>
#include <thread>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

std::string sha256_of(const fs::path& p) {
  const std::string data = read_file(p);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

/// Files in `dir` (names only), sorted.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

using WslStorage = WslFake;

TEST_F(WslStorage, OnePoolAtTheLocation) {
  auto c = open();
  const auto pools = c->storage().list_pools();
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].name, "wsl");
  EXPECT_EQ(pools[0].type, "wsl");
  EXPECT_EQ(pools[0].path, location_.string());
  EXPECT_TRUE(pools[0].active);
  EXPECT_EQ(c->storage().get_pool("wsl").path, location_.string());
  EXPECT_ERROR_CODE(c->storage().get_pool("default"), ErrorCode::NotFound);
  EXPECT_EQ(open(false)->storage().get_pool("wsl").path, "");
}

TEST_F(WslStorage, AVolumePerDistribution) {
  add_distro("Ubuntu", "Running", 2);
  add_distro("Legacy", "Stopped", 1);
  auto c = open();
  const auto vols = c->storage().list_volumes("wsl");
  ASSERT_EQ(vols.size(), 2u);
  EXPECT_EQ(vols[0].name, "Ubuntu");
  EXPECT_EQ(vols[0].pool, "wsl");
  EXPECT_EQ(vols[0].path, (root_ / "disks" / "1" / "ext4.vhdx").string());
  EXPECT_EQ(vols[0].format, "vhdx");
  EXPECT_EQ(vols[0].used_by, std::vector<std::string>{"Ubuntu"});
  EXPECT_EQ(vols[1].name, "Legacy");
  EXPECT_EQ(vols[1].format, "wsl1-rootfs");
  EXPECT_EQ(vols[1].path, (root_ / "disks" / "2" / "rootfs").string());
  EXPECT_EQ(c->storage().get_volume("wsl", "Legacy").format, "wsl1-rootfs");
  EXPECT_ERROR_CODE(c->storage().get_volume("wsl", "nope"), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(c->storage().list_volumes("default"), ErrorCode::NotFound);
}

TEST_F(WslStorage, RemovingAVolumeIsRefusedPointingAtDelete) {
  add_distro("Ubuntu");
  auto c = open();
  auto e = error_of([&] { c->storage().remove_volume("wsl", "Ubuntu"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("hyperctl delete --force"), std::string::npos) << e->what();
  EXPECT_TRUE(fs::exists(root_ / "disks" / "1" / "ext4.vhdx"));
  EXPECT_ERROR_CODE(c->storage().remove_volume("wsl", "nope"), ErrorCode::NotFound);
}

TEST_F(WslStorage, ResizeUsesTheLargestExactUnit) {
  add_distro("Ubuntu");
  auto c = open();
  const std::vector<std::pair<std::uint64_t, std::string>> cases = {
      {1ull << 40, "1TB"},       {512ull << 30, "512GB"},
      {1536ull << 20, "1536MB"}, {(1ull << 30) + 1024, "1048577KB"},
      {1000, "1000B"},
  };
  for (const auto& [bytes, text] : cases) {
    const Volume v = c->storage().resize_volume("wsl", "Ubuntu", bytes);
    EXPECT_EQ(v.name, "Ubuntu");
    EXPECT_EQ(calls("--manage").back(),
              (std::vector<std::string>{"--manage", "Ubuntu", "--resize", text}));
    EXPECT_EQ(distro_state("Ubuntu")["size_bytes"], bytes) << text << " read back by wsl.exe";
  }
  EXPECT_ERROR_CODE(c->storage().resize_volume("wsl", "Ubuntu", 0), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(c->storage().resize_volume("wsl", "nope", 1 << 20), ErrorCode::NotFound);
}

TEST_F(WslStorage, ShrinkIsUnsupportedInWslsOwnWordsAndRunsNothing) {
  add_distro("Ubuntu");
  auto c = open();
  const std::size_t before = calls("--manage").size();
  const auto size_before = distro_state("Ubuntu")["size_bytes"];
  ResizeOptions shrink;
  shrink.shrink = true;
  const auto e = error_of([&] { c->storage().resize_volume("wsl", "Ubuntu", 1ull << 30, shrink); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e->what()).find("only grows"), std::string::npos) << e->what();
  EXPECT_EQ(std::string(e->what()).find("does not support"), std::string::npos)
      << "the backend's own sentence, not the core's: " << e->what();
  EXPECT_EQ(calls("--manage").size(), before) << "wsl.exe ran";
  EXPECT_EQ(distro_state("Ubuntu")["size_bytes"], size_before);
  ResizeOptions force = shrink;
  force.force = true;
  EXPECT_ERROR_CODE(c->storage().resize_volume("wsl", "Ubuntu", 1ull << 30, force),
                    ErrorCode::Unsupported);
  EXPECT_ERROR_CODE(c->storage().resize_volume("wsl", "nope", 1ull << 30, shrink),
                    ErrorCode::NotFound);
}

struct Format {
  const char* extension;
  const char* wsl_format;
};

class WslRoundTrip : public WslFake, public ::testing::WithParamInterface<Format> {};

TEST_P(WslRoundTrip, ExportThenImportPreservesEveryByte) {
  const std::string disk = pattern_bytes(700 * 1024 + 17, 7);
  add_distro("Ubuntu", "Stopped", 2, true, disk);
  auto c = open();
  const std::string ext = GetParam().extension;
  const fs::path out = root_ / "out" / ("ubuntu" + ext);
  fs::create_directories(out.parent_path());
  std::uint64_t last = 0;
  c->storage().download_volume(
      "wsl", "Ubuntu", out.string(), {}, [&](const Progress& p) { last = p.done; }, CancelToken{});
  const std::string header = std::string("FAKEWSL-EXPORT ") + GetParam().wsl_format + "\n";
  EXPECT_EQ(read_file(out), header + disk);
  EXPECT_EQ(last, header.size() + disk.size()) << "the last progress counts every byte";
  EXPECT_EQ(calls("--export"),
            (std::vector<std::vector<std::string>>{
                {"--export", "Ubuntu", "-", "--format", GetParam().wsl_format}}));
  EXPECT_EQ(files_in(out.parent_path()), std::vector<std::string>{out.filename().string()});

  std::uint64_t sent = 0;
  c->storage().upload_volume(
      "wsl", "Copy", out.string(), {}, [&](const Progress& p) { sent = p.done; }, CancelToken{});
  EXPECT_EQ(sent, header.size() + disk.size());
  std::vector<std::string> import = {"--import", "Copy", (location_ / "Copy").string(), "-"};
  if (std::string(GetParam().wsl_format) == "vhd") import.push_back("--vhd");
  EXPECT_EQ(calls("--import"), std::vector<std::vector<std::string>>{import});
  const auto copy = distro_state("Copy");
  ASSERT_FALSE(copy.is_null());
  EXPECT_EQ(read_file(location_ / "Copy" / "ext4.vhdx"), disk);
  EXPECT_EQ(c->vms().get("Copy").state, VmState::Off);

  const fs::path again = root_ / "out" / ("copy" + ext);
  c->storage().download_volume("wsl", "Copy", again.string(), {}, {}, CancelToken{});
  EXPECT_EQ(sha256_of(again), sha256_of(out));
}

INSTANTIATE_TEST_SUITE_P(Formats, WslRoundTrip,
                         ::testing::Values(Format{".tar", "tar"}, Format{".tar.gz", "tar.gz"},
                                           Format{".tgz", "tar.gz"}, Format{".tar.xz", "tar.xz"},
                                           Format{".vhdx", "vhd"}),
                         [](const auto& param_info) {
                           std::string s = param_info.param.extension + 1;
                           for (char& ch : s)
                             if (ch == '.') ch = '_';
                           return s;
                         });

TEST_F(WslStorage, AnExistingTargetIsRefusedAndUntouchedUnlessOverwrite) {
  add_distro("Ubuntu", "Stopped", 2, true, "disk bytes");
  auto c = open();
  const fs::path out = root_ / "ubuntu.tar";
  write_file(out, "precious");
  EXPECT_ERROR_CODE(c->storage().download_volume("wsl", "Ubuntu", out.string(), {}, {}, {}),
                    ErrorCode::AlreadyExists);
  EXPECT_EQ(read_file(out), "precious");
  EXPECT_TRUE(calls("--export").empty());
  TransferOptions overwrite;
  overwrite.overwrite = true;
  c->storage().download_volume("wsl", "Ubuntu", out.string(), overwrite, {}, {});
  EXPECT_EQ(read_file(out), "FAKEWSL-EXPORT tar\ndisk bytes");
}

TEST_F(WslStorage, AnUnknownExtensionOrDistributionIsRefusedBeforeRunning) {
  add_distro("Ubuntu");
  auto c = open();
  EXPECT_ERROR_CODE(
      c->storage().download_volume("wsl", "Ubuntu", (root_ / "x.zip").string(), {}, {}, {}),
      ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(
      c->storage().download_volume("wsl", "nope", (root_ / "x.tar").string(), {}, {}, {}),
      ErrorCode::NotFound);
  EXPECT_TRUE(calls("--export").empty());
  EXPECT_FALSE(fs::exists(root_ / "x.tar"));
}

TEST_F(WslStorage, WslExesRefusalToExportLeavesNoFile) {
  add_distro("Ubuntu", "Running", 2);
  auto c = open();
  const fs::path out = root_ / "out" / "u.vhdx";
  fs::create_directories(out.parent_path());
  auto e =
      error_of([&] { c->storage().download_volume("wsl", "Ubuntu", out.string(), {}, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what() << "\n" << e->detail();
  EXPECT_NE(e->detail().find("WSL_E_DISTRO_NOT_STOPPED"), std::string::npos) << e->detail();
  EXPECT_TRUE(files_in(out.parent_path()).empty());
}

TEST_F(WslStorage, AnInterruptedExportLeavesNoFile) {
  add_distro("Ubuntu", "Stopped", 2, true, pattern_bytes(1 << 20));
  auto c = open();
  const fs::path out = root_ / "out" / "u.tar";
  fs::create_directories(out.parent_path());
  ::setenv("FAKE_WSL_DIE_AFTER", "300000", 1);
  auto e =
      error_of([&] { c->storage().download_volume("wsl", "Ubuntu", out.string(), {}, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::BackendFailure) << e->what();
  EXPECT_NE(std::string(e->what()).find("signal"), std::string::npos) << e->what();
  EXPECT_TRUE(files_in(out.parent_path()).empty()) << "neither the final name nor a partial file";
}

TEST_F(WslStorage, ACancelledExportLeavesNoFile) {
  add_distro("Ubuntu", "Stopped", 2, true, pattern_bytes(2 << 20));
  auto c = open();
  const fs::path out = root_ / "out" / "u.tar.xz";
  fs::create_directories(out.parent_path());
  ::setenv("FAKE_WSL_SLOW_MS", "100", 1);
  CancelToken cancel;
  std::atomic<bool> started = false;
  std::thread canceller([&] {
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cancel.cancel();
  });
  auto e = error_of([&] {
    c->storage().download_volume(
        "wsl", "Ubuntu", out.string(), {},
        [&](const Progress& p) {
          if (p.done > 0) started = true;
        },
        cancel);
  });
  started = true;
  canceller.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  EXPECT_TRUE(files_in(out.parent_path()).empty());
}

TEST_F(WslStorage, UploadRefusesATakenNameAndNeedsALocation) {
  add_distro("Ubuntu");
  const fs::path in = root_ / "in.tar";
  write_file(in, "FAKEWSL-EXPORT tar\nbytes");
  auto c = open();
  EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", "Ubuntu", in.string(), {}, {}, {}),
                    ErrorCode::AlreadyExists);
  TransferOptions overwrite;
  overwrite.overwrite = true;
  EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", "Ubuntu", in.string(), overwrite, {}, {}),
                    ErrorCode::AlreadyExists);
  // wsl.exe compares names without case: "ubuntu" is taken too.
  EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", "ubuntu", in.string(), {}, {}, {}),
                    ErrorCode::AlreadyExists);
  // The name becomes LOCATION/<name>: nothing may climb out of the location.
  for (const std::string bad : {"..", ".", "../escape", "a/b", "a\\b"})
    EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", bad, in.string(), {}, {}, {}),
                      ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(open(false)->storage().upload_volume("wsl", "New", in.string(), {}, {}, {}),
                    ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(
      c->storage().upload_volume("wsl", "New", (root_ / "none.tar").string(), {}, {}, {}),
      ErrorCode::InvalidArgument);
  EXPECT_TRUE(calls("--import").empty());
}

TEST_F(WslStorage, ACancelledImportLeavesNoDistributionBehind) {
  const fs::path in = root_ / "in.tar";
  write_file(in, "FAKEWSL-EXPORT tar\n" + pattern_bytes(2 << 20));
  auto c = open();
  ::setenv("FAKE_WSL_SLOW_MS", "100", 1);
  CancelToken cancel;
  auto e = error_of([&] {
    c->storage().upload_volume(
        "wsl", "New", in.string(), {},
        [&](const Progress& p) {
          if (p.done > 0) cancel.cancel();
        },
        cancel);
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  ::unsetenv("FAKE_WSL_SLOW_MS");
  EXPECT_TRUE(distro_state("New").is_null()) << state().dump();
  EXPECT_FALSE(fs::exists(location_ / "New" / "ext4.vhdx"));
}

TEST_F(WslStorage, AMissingLocalLocationFolderIsCreated) {
  fs::remove_all(location_);
  const fs::path in = root_ / "in.tar";
  write_file(in, "FAKEWSL-EXPORT tar\nbytes");
  open()->storage().upload_volume("wsl", "New", in.string(), {}, {}, {});
  EXPECT_EQ(read_file(location_ / "New" / "ext4.vhdx"), "bytes");
}

TEST_F(WslStorage, AFailedImportLeavesNoDistributionBehind) {
  const fs::path in = root_ / "in.tar";
  write_file(in, "FAKEWSL-EXPORT tar\n" + pattern_bytes(1 << 20));
  auto c = open();
  ::setenv("FAKE_WSL_DIE_AFTER", "200000", 1);
  EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", "New", in.string(), {}, {}, {}),
                    ErrorCode::BackendFailure);
  ::unsetenv("FAKE_WSL_DIE_AFTER");
  EXPECT_TRUE(distro_state("New").is_null()) << state().dump();
  // Not an archive: wsl.exe's own refusal.
  const fs::path junk = root_ / "junk.tar";
  write_file(junk, "not an export");
  EXPECT_ERROR_CODE(c->storage().upload_volume("wsl", "Junk", junk.string(), {}, {}, {}),
                    ErrorCode::InvalidArgument);
  EXPECT_TRUE(distro_state("Junk").is_null());
}

}  // namespace
}  // namespace hyperctl::test
