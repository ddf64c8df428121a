// Storage pools and volumes, checked before and after, on two targets:
//   TestDriver/...  test:///default (in-process; no upload/download streams,
//                   no volume resize: those tests run on the real daemon only);
//   RealDaemon/...  the libvirtd at $HYPERCTL_TEST_QEMU_URI (skipped when unset).
// Every object is named hyperctl-test-... and removed in TearDown; directory
// pools live under a fresh temporary folder.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "hyperctl/connection.hpp"
#include "hyperctl/process.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMiB = 1ull << 20;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const auto v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

class Storage : public LibvirtTargetTest {
 protected:
  Storage() : LibvirtTargetTest({DeleteOptions{.force = true, .snapshots = true}}) {}

  void probe(Connection& c) override { c.storage().list_pools(); }

  void SetUp() override {
    LibvirtTargetTest::SetUp();
    if (!conn_) return;  // skipped
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-test-storage-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void cleanup() override {
    for (auto it = volumes_.rbegin(); it != volumes_.rend(); ++it) {
      try {
        st().remove_volume(it->first, it->second);
      } catch (const Error&) {
      }
    }
    for (const auto& pool : pools_) {
      try {
        for (const auto& v : st().list_volumes(pool)) st().remove_volume(pool, v.name);
      } catch (const Error&) {
      }
      try {
        st().remove_pool(pool);
      } catch (const Error&) {
      }
    }
  }

  void TearDown() override {
    LibvirtTargetTest::TearDown();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  StorageOps& st() { return conn_->storage(); }
  std::string default_pool() const { return real() ? "default" : "default-pool"; }

  /// A new directory pool under the test's temporary folder.
  Pool make_pool(const std::string& stem) {
    const std::string name = unique_name(stem);
    pools_.push_back(name);
    return st().create_pool(name, (dir_ / name).string());
  }

  Volume make_volume(const std::string& pool, const std::string& stem, std::uint64_t size,
                     const std::string& format = "qcow2") {
    VolumeSpec spec;
    spec.pool = pool;
    spec.name = unique_name(stem);
    spec.capacity_bytes = size;
    spec.format = format;
    volumes_.emplace_back(pool, spec.name);
    return st().create_volume(spec);
  }

  void track(const std::string& pool, const std::string& name) {
    volumes_.emplace_back(pool, name);
  }

  std::vector<std::string> volume_names(const std::string& pool) {
    std::vector<std::string> out;
    for (const auto& v : st().list_volumes(pool)) out.push_back(v.name);
    std::sort(out.begin(), out.end());
    return out;
  }

  bool has_pool(const std::string& name) {
    for (const auto& p : st().list_pools())
      if (p.name == name) return true;
    return false;
  }

  fs::path dir_;
  std::vector<std::string> pools_;
  std::vector<std::pair<std::string, std::string>> volumes_;
};

// ---------------------------------------------------------------- pools

TEST_P(Storage, DirectoryPoolIsCreatedStartedStoppedRefreshedAndDeletedKeepingItsFolder) {
  const std::string name = unique_name("pool");
  ASSERT_FALSE(has_pool(name));
  const Pool p = make_pool("pool");
  EXPECT_EQ(p.name, name);
  EXPECT_EQ(p.type, "dir");
  EXPECT_EQ(p.path, (dir_ / name).string());
  EXPECT_TRUE(p.active);
  EXPECT_EQ(p.autostart, std::optional<bool>(true));
  EXPECT_FALSE(p.id.empty());
  if (real()) {
    EXPECT_TRUE(fs::is_directory(p.path)) << "pool build creates the folder";
  }

  const Pool again = st().get_pool(name);
  EXPECT_EQ(again.id, p.id);
  EXPECT_TRUE(has_pool(name));

  st().stop_pool(name);
  EXPECT_FALSE(st().get_pool(name).active);
  EXPECT_ERROR_CODE(st().list_volumes(name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(st().stop_pool(name), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(st().refresh_pool(name), ErrorCode::Conflict);
  st().start_pool(name);
  EXPECT_TRUE(st().get_pool(name).active);
  EXPECT_ERROR_CODE(st().start_pool(name), ErrorCode::Conflict);
  st().refresh_pool(name);

  make_volume(name, "kept", 4 * kMiB, "raw");
  st().remove_pool(name);
  EXPECT_FALSE(has_pool(name));
  EXPECT_ERROR_CODE(st().get_pool(name), ErrorCode::NotFound);
  if (real()) {
    EXPECT_TRUE(fs::is_directory(p.path)) << "pool delete leaves the folder";
    EXPECT_EQ(std::distance(fs::directory_iterator(p.path), fs::directory_iterator{}), 1)
        << "and the volume file in it";
  }
}

TEST_P(Storage, PoolWithTakenNameOrRelativePathIsRefusedAndNothingIsDefined) {
  const Pool p = make_pool("dup");
  EXPECT_ERROR_CODE(st().create_pool(p.name, (dir_ / "elsewhere").string()),
                    ErrorCode::AlreadyExists);
  EXPECT_EQ(st().get_pool(p.name).path, p.path);

  const std::string rel = unique_name("rel");
  EXPECT_ERROR_CODE(st().create_pool(rel, "relative/dir"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(st().create_pool("a/b", (dir_ / "x").string()), ErrorCode::InvalidArgument);
  EXPECT_FALSE(has_pool(rel));
  EXPECT_FALSE(has_pool("a/b"));
}

// ---------------------------------------------------------------- volumes

TEST_P(Storage, Qcow2VolumeIsCreatedResizedClonedWithinAndAcrossPoolsAndDeleted) {
  const Pool pool = make_pool("vols");
  const Pool other = make_pool("other");
  ASSERT_TRUE(volume_names(pool.name).empty());

  const Volume v = make_volume(pool.name, "disk", 64 * kMiB);
  EXPECT_EQ(v.pool, pool.name);
  EXPECT_EQ(v.format, "qcow2");
  EXPECT_EQ(v.capacity_bytes, 64 * kMiB);
  EXPECT_EQ(v.type, "file");
  EXPECT_FALSE(v.path.empty());
  EXPECT_EQ(volume_names(pool.name), std::vector<std::string>{v.name});
  const Volume info = st().get_volume(pool.name, v.name);
  EXPECT_EQ(info.path, v.path);
  EXPECT_TRUE(info.used_by.empty());

  if (real()) {
    const Volume grown = st().resize_volume(pool.name, v.name, 128 * kMiB);
    EXPECT_EQ(grown.capacity_bytes, 128 * kMiB);
    EXPECT_EQ(st().get_volume(pool.name, v.name).capacity_bytes, 128 * kMiB);
  }
  const std::uint64_t cap = st().get_volume(pool.name, v.name).capacity_bytes;

  VolumeSpec same_pool;
  same_pool.name = unique_name("copy");
  track(pool.name, same_pool.name);
  const Volume copy = st().clone_volume(pool.name, v.name, same_pool);
  EXPECT_EQ(copy.pool, pool.name);
  EXPECT_EQ(copy.format, "qcow2") << "a clone keeps the source's format";
  EXPECT_EQ(copy.capacity_bytes, cap);

  VolumeSpec across;
  across.name = unique_name("moved");
  across.pool = other.name;
  across.format = "raw";
  track(other.name, across.name);
  if (!real()) {
    EXPECT_ERROR_CODE(st().clone_volume(pool.name, v.name, across), ErrorCode::Unsupported);
    EXPECT_TRUE(volume_names(other.name).empty());
    across.pool = pool.name;  // the rest within the pool
    track(pool.name, across.name);
  }
  const Volume moved = st().clone_volume(pool.name, v.name, across);
  EXPECT_EQ(moved.pool, across.pool);
  EXPECT_EQ(moved.format, "raw");
  EXPECT_EQ(moved.capacity_bytes, cap);
  if (real()) {
    EXPECT_EQ(volume_names(other.name), std::vector<std::string>{across.name});
  }

  EXPECT_ERROR_CODE(st().clone_volume(pool.name, v.name, same_pool), ErrorCode::AlreadyExists);

  st().remove_volume(pool.name, copy.name);
  st().remove_volume(across.pool, moved.name);
  st().remove_volume(pool.name, v.name);
  EXPECT_TRUE(volume_names(pool.name).empty());
  EXPECT_TRUE(volume_names(other.name).empty());
  if (real()) {
    EXPECT_FALSE(fs::exists(v.path));
  }
}

TEST_P(Storage, ACloneCancelledWhileCopyingLeavesNoCopy) {
  // libvirt cannot stop its copy: the cancel that arrives meanwhile (here
  // from the first progress report) is honoured by deleting the copy.
  const Volume v = make_volume(default_pool(), "clone-src", 8 * kMiB, "raw");
  const auto before = volume_names(default_pool());
  VolumeSpec target;
  target.name = unique_name("clone-dst");
  track(default_pool(), target.name);
  CancelToken cancel;
  auto err = error_of([&] {
    st().clone_volume(
        default_pool(), v.name, target, [&](const Progress&) { cancel.cancel(); }, cancel);
  });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Cancelled);
  EXPECT_NE(std::string(err->what())
                .find("cancelled; the partial copy '" + default_pool() + "/" + target.name +
                      "' was removed"),
            std::string::npos)
      << err->what();
  EXPECT_EQ(volume_names(default_pool()), before);

  // Cancelled before it starts: nothing is copied either.
  EXPECT_ERROR_CODE(st().clone_volume(default_pool(), v.name, target, {}, cancel),
                    ErrorCode::Cancelled);
  EXPECT_EQ(volume_names(default_pool()), before);
  // Not cancelled: the copy is there, and progress reached the end.
  std::uint64_t last = 0;
  const Volume copy = st().clone_volume(
      default_pool(), v.name, target, [&](const Progress& p) { last = p.done; }, CancelToken{});
  EXPECT_EQ(copy.capacity_bytes, 8 * kMiB);
  EXPECT_EQ(last, 8 * kMiB);
}

TEST_P(Storage, RawVolumeHasTheAskedCapacityAndTakenNameIsAlreadyExists) {
  const Volume v = make_volume(default_pool(), "raw", 8 * kMiB, "raw");
  EXPECT_EQ(v.format, "raw");
  EXPECT_EQ(v.capacity_bytes, 8 * kMiB);
  VolumeSpec spec{v.name, default_pool(), "qcow2", 16 * kMiB};
  EXPECT_ERROR_CODE(st().create_volume(spec), ErrorCode::AlreadyExists);
  EXPECT_EQ(st().get_volume(default_pool(), v.name).format, "raw");
}

TEST_P(Storage, BadVolumeNamesAreRefusedBeforeLibvirtAndNothingIsCreated) {
  const auto before = volume_names(default_pool());
  for (const std::string& bad : {std::string("a/b"), std::string(".."), std::string("."),
                                 std::string(""), std::string("a\nb"), std::string("tab\there"),
                                 std::string("x.hyperctl-partial"), std::string("\xff\xfe")}) {
    SCOPED_TRACE(bad);
    VolumeSpec spec{bad, default_pool(), "qcow2", kMiB};
    EXPECT_ERROR_CODE(st().create_volume(spec), ErrorCode::InvalidArgument);
  }
  VolumeSpec bad_format{unique_name("fmt"), default_pool(), "qcow2'/><x", kMiB};
  EXPECT_ERROR_CODE(st().create_volume(bad_format), ErrorCode::InvalidArgument);
  VolumeSpec zero{unique_name("zero"), default_pool(), "raw", 0};
  EXPECT_ERROR_CODE(st().create_volume(zero), ErrorCode::InvalidArgument);
  EXPECT_EQ(volume_names(default_pool()), before);
}

TEST_P(Storage, XmlMetacharactersInAVolumeNameAreDataAndRoundTrip) {
  const Volume v = make_volume(default_pool(), "<b>&'\"$x]]>", 2 * kMiB, "raw");
  EXPECT_NE(v.name.find("<b>&'\"$x]]>"), std::string::npos);
  const auto names = volume_names(default_pool());
  EXPECT_NE(std::find(names.begin(), names.end(), v.name), names.end());
  EXPECT_EQ(st().get_volume(default_pool(), v.name).name, v.name);
  if (real()) {
    EXPECT_TRUE(fs::exists(v.path));
  }
  st().remove_volume(default_pool(), v.name);
  const auto after = volume_names(default_pool());
  EXPECT_EQ(std::find(after.begin(), after.end(), v.name), after.end());
}

/// Writes 1 MiB of 0xab at guest offset `offset` of a local image, as a
/// guest would (qemu-io addresses what the guest sees, whatever the format).
void write_guest_data(const Volume& v, std::uint64_t offset) {
  process::Command cmd;
  cmd.argv = {"qemu-io", "-f", v.format, "-c", "write -P 0xab " + std::to_string(offset) + " 1M",
              v.path};
  const auto r = process::Runner().run(cmd);
  ASSERT_TRUE(r.ok()) << r.out << r.err;
}

/// A digest of a file's bytes: "not one byte changed" without holding 1 GiB.
std::uint64_t file_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(1 << 20, '\0');
  std::uint64_t h = 0;
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    const std::string_view chunk(buf.data(), static_cast<std::size_t>(in.gcount()));
    h = h * 1099511628211ull ^ std::hash<std::string_view>{}(chunk);
  }
  return h;
}

TEST_P(Storage, ShrinkNeedsTheShrinkOptionAndBelowTheRawDataAlsoForce) {
  if (!real()) GTEST_SKIP() << "the test driver has no virStorageVolResize";
  const Volume v = make_volume(default_pool(), "shrink-raw", 1024 * kMiB, "raw");
  write_guest_data(v, 900 * kMiB);
  const std::uint64_t digest = file_digest(v.path);
  const ResizeOptions shrink{.shrink = true};

  auto err = error_of([&] { st().resize_volume(default_pool(), v.name, 100 * kMiB); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("add --shrink"), std::string::npos) << err->what();
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 1024 * kMiB);

  // Data at 900 MiB: shrinking to 100 MiB would cut it off.
  err = error_of([&] { st().resize_volume(default_pool(), v.name, 100 * kMiB, shrink); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("holds data up to 901 MiB"), std::string::npos)
      << err->what();
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 1024 * kMiB);
  EXPECT_EQ(file_digest(v.path), digest) << "not one byte changed";

  // Above the data a shrink needs no --force.
  EXPECT_EQ(st().resize_volume(default_pool(), v.name, 950 * kMiB, shrink).capacity_bytes,
            950 * kMiB);
  const ResizeOptions force{.shrink = true, .force = true};
  EXPECT_EQ(st().resize_volume(default_pool(), v.name, 100 * kMiB, force).capacity_bytes,
            100 * kMiB);
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 100 * kMiB);
  // The same size changes nothing and is not an error; 0 is no size.
  EXPECT_EQ(st().resize_volume(default_pool(), v.name, 100 * kMiB).capacity_bytes, 100 * kMiB);
  EXPECT_ERROR_CODE(st().resize_volume(default_pool(), v.name, 0), ErrorCode::InvalidArgument);
}

TEST_P(Storage, Qcow2ShrinkIsMeasuredAgainstTheHighestGuestOffsetHoldingData) {
  if (!real()) GTEST_SKIP() << "the test driver has no virStorageVolResize";
  const Volume v = make_volume(default_pool(), "shrink-qcow2", 1024 * kMiB, "qcow2");
  write_guest_data(v, 900 * kMiB);
  ASSERT_LT(st().get_volume(default_pool(), v.name).allocation_bytes, 100 * kMiB)
      << "the file is small: its allocation says nothing about where the data is";
  const std::uint64_t digest = file_digest(v.path);

  auto err = error_of([&] {
    st().resize_volume(default_pool(), v.name, 100 * kMiB, ResizeOptions{.shrink = true});
  });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("holds data up to 901 MiB"), std::string::npos)
      << err->what();
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 1024 * kMiB);
  EXPECT_EQ(file_digest(v.path), digest) << "not one byte changed";

  const ResizeOptions force{.shrink = true, .force = true};
  EXPECT_EQ(st().resize_volume(default_pool(), v.name, 100 * kMiB, force).capacity_bytes,
            100 * kMiB);
  EXPECT_EQ(st().get_volume(default_pool(), v.name).format, "qcow2");
}

TEST_P(Storage, WhereTheDataCannotBeMeasuredAShrinkNeedsForce) {
  // The test driver's files are not on this machine: qemu-img cannot look.
  if (real()) GTEST_SKIP() << "test driver fact";
  const Volume v = make_volume(default_pool(), "blind", 4 * kMiB, "raw");
  auto err = error_of(
      [&] { st().resize_volume(default_pool(), v.name, 2 * kMiB, ResizeOptions{.shrink = true}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find("cannot see how far the data"), std::string::npos)
      << err->what();
  EXPECT_NE(std::string(err->what()).find("needs --force as well"), std::string::npos)
      << err->what();
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 4 * kMiB);
}

TEST_P(Storage, ResizeIsUnsupportedOnTheTestDriverAndChangesNothing) {
  if (real()) GTEST_SKIP() << "test driver fact";
  const Volume v = make_volume(default_pool(), "noresize", 4 * kMiB, "raw");
  EXPECT_ERROR_CODE(st().resize_volume(default_pool(), v.name, 8 * kMiB), ErrorCode::Unsupported);
  EXPECT_EQ(st().get_volume(default_pool(), v.name).capacity_bytes, 4 * kMiB);
}

TEST_P(Storage, DeletingAVolumeAVmUsesIsRefusedNamingTheVm) {
  const Volume v = make_volume(default_pool(), "used", 16 * kMiB);
  VmSpec spec;
  spec.name = unique_name("user");
  spec.memory_bytes = 64 * kMiB;
  spec.disks.push_back(DiskSpec{.path = v.path});
  created_.push_back(spec.name);
  conn_->vms().create(spec);

  EXPECT_EQ(st().get_volume(default_pool(), v.name).used_by, std::vector<std::string>{spec.name});
  auto err = error_of([&] { st().remove_volume(default_pool(), v.name); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(err->what()).find(spec.name), std::string::npos) << err->what();
  EXPECT_EQ(st().get_volume(default_pool(), v.name).path, v.path);

  conn_->vms().remove(spec.name, DeleteOptions{false, true});
  EXPECT_TRUE(st().get_volume(default_pool(), v.name).used_by.empty());
  st().remove_volume(default_pool(), v.name);
  EXPECT_ERROR_CODE(st().get_volume(default_pool(), v.name), ErrorCode::NotFound);
}

TEST_P(Storage, MissingPoolsAndVolumesAreNotFound) {
  const std::string pool = unique_name("nopool");
  const std::string vol = unique_name("novol");
  const std::string file = (dir_ / "out").string();
  const std::string in = (dir_ / "in").string();
  std::ofstream(in) << "data";
  EXPECT_ERROR_CODE(st().get_pool(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().start_pool(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().stop_pool(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().refresh_pool(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().remove_pool(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().list_volumes(pool), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().get_volume(pool, vol), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().create_volume(VolumeSpec{vol, pool, "raw", kMiB}), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(st().upload_volume(pool, vol, in, {}, {}, {}), ErrorCode::NotFound);
  for (const auto& p : {pool, default_pool()}) {
    SCOPED_TRACE(p);
    EXPECT_ERROR_CODE(st().get_volume(p, vol), ErrorCode::NotFound);
    EXPECT_ERROR_CODE(st().remove_volume(p, vol), ErrorCode::NotFound);
    EXPECT_ERROR_CODE(st().resize_volume(p, vol, kMiB), ErrorCode::NotFound);
    EXPECT_ERROR_CODE(st().clone_volume(p, vol, VolumeSpec{unique_name("c"), "", "", 0}),
                      ErrorCode::NotFound);
    EXPECT_ERROR_CODE(st().download_volume(p, vol, file, {}, {}, {}), ErrorCode::NotFound);
  }
  EXPECT_FALSE(fs::exists(file));
  auto err = error_of([&] { st().get_volume(default_pool(), vol); });
  ASSERT_TRUE(err);
  EXPECT_EQ(std::string(err->what()),
            "volume '" + default_pool() + "/" + vol + "' not found on " + uri_);
}

// ---------------------------------------------------------------- transfers

TEST_P(Storage, UploadOfAMissingOrUnreadableFileChangesNoVolume) {
  const auto before = volume_names(default_pool());
  const std::string name = unique_name("up");
  EXPECT_ERROR_CODE(
      st().upload_volume(default_pool(), name, (dir_ / "missing").string(), {}, {}, {}),
      ErrorCode::NotFound);
  // A folder cannot be read as a file (permission bits do not stop root).
  EXPECT_ERROR_CODE(st().upload_volume(default_pool(), name, dir_.string(), {}, {}, {}),
                    ErrorCode::InvalidArgument);
  const std::string empty = (dir_ / "empty").string();
  std::ofstream(empty).close();
  EXPECT_ERROR_CODE(st().upload_volume(default_pool(), name, empty, {}, {}, {}),
                    ErrorCode::InvalidArgument);
  EXPECT_EQ(volume_names(default_pool()), before);
}

TEST_P(Storage, UploadOverAnExistingVolumeNeedsOverwrite) {
  const Volume v = make_volume(default_pool(), "exists", 2 * kMiB, "raw");
  const auto before = volume_names(default_pool());
  const std::string file = (dir_ / "data").string();
  std::ofstream(file, std::ios::binary) << random_bytes(kMiB, 1);
  auto err = error_of([&] { st().upload_volume(default_pool(), v.name, file, {}, {}, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::AlreadyExists);
  EXPECT_NE(std::string(err->what()).find("--overwrite"), std::string::npos);
  const Volume after = st().get_volume(default_pool(), v.name);
  EXPECT_EQ(after.capacity_bytes, 2 * kMiB);
  EXPECT_EQ(volume_names(default_pool()), before) << "no staging volume appeared";
}

TEST_P(Storage, DownloadOverAnExistingFileIsRefusedWithoutOverwriteAndTheFileIsUnchanged) {
  const Volume v = make_volume(default_pool(), "dl", 2 * kMiB, "raw");
  const std::string file = (dir_ / "existing").string();
  std::ofstream(file) << "precious";
  auto err = error_of([&] { st().download_volume(default_pool(), v.name, file, {}, {}, {}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::AlreadyExists);
  EXPECT_EQ(read_file(file), "precious");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
  EXPECT_ERROR_CODE(st().download_volume(default_pool(), v.name, dir_.string(), {}, {}, {}),
                    ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(
      st().download_volume(default_pool(), v.name, (dir_ / "no/such/dir/f").string(), {}, {}, {}),
      ErrorCode::NotFound);
}

TEST_P(Storage, TransfersAreUnsupportedOnTheTestDriverAndLeaveNothingBehind) {
  if (real()) GTEST_SKIP() << "test driver fact";
  const Volume v = make_volume(default_pool(), "stream", 2 * kMiB, "raw");
  const auto before = volume_names(default_pool());
  const std::string file = (dir_ / "f").string();
  std::ofstream(file) << "data";
  EXPECT_ERROR_CODE(st().upload_volume(default_pool(), unique_name("new"), file, {}, {}, {}),
                    ErrorCode::Unsupported);
  EXPECT_EQ(volume_names(default_pool()), before) << "the staging volume is deleted again";
  const std::string out = (dir_ / "out").string();
  EXPECT_ERROR_CODE(st().download_volume(default_pool(), v.name, out, {}, {}, {}),
                    ErrorCode::Unsupported);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1)
      << "no file, partial or final";
}

TEST_P(Storage, UploadAndDownloadRoundTripByteForByteWithProgress) {
  if (!real()) GTEST_SKIP() << "the test driver has no volume streams";
  const std::string data = random_bytes(4 * kMiB + 12345, 42);
  const std::string in = (dir_ / "in.img").string();
  std::ofstream(in, std::ios::binary) << data;
  const std::string name = unique_name("roundtrip");
  track(default_pool(), name);

  std::uint64_t last_done = 0, calls = 0;
  st().upload_volume(default_pool(), name, in, {},
                     [&](const Progress& p) {
                       EXPECT_GE(p.done, last_done);
                       EXPECT_EQ(p.total, data.size());
                       last_done = p.done;
                       ++calls;
                     },
                     {});
  EXPECT_EQ(last_done, data.size());
  EXPECT_GE(calls, 2u);
  const Volume up = st().get_volume(default_pool(), name);
  EXPECT_EQ(up.capacity_bytes, data.size());
  EXPECT_EQ(up.format, "raw");
  for (const auto& n : volume_names(default_pool()))
    EXPECT_EQ(n.find(".hyperctl-partial"), std::string::npos) << n;

  const std::string out = (dir_ / "out.img").string();
  last_done = 0;
  st().download_volume(default_pool(), name, out, {},
                       [&](const Progress& p) { last_done = p.done; }, {});
  EXPECT_EQ(last_done, data.size());
  EXPECT_TRUE(read_file(out) == data) << "downloaded bytes differ from the uploaded ones";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 2)
      << "no partial file left";

  // Overwrite: new content replaces the volume and the local file.
  const std::string data2 = random_bytes(2 * kMiB, 7);
  std::ofstream(in, std::ios::binary | std::ios::trunc) << data2;
  TransferOptions overwrite;
  overwrite.overwrite = true;
  st().upload_volume(default_pool(), name, in, overwrite, {}, {});
  EXPECT_EQ(st().get_volume(default_pool(), name).capacity_bytes, data2.size());
  st().download_volume(default_pool(), name, out, overwrite, {}, {});
  EXPECT_TRUE(read_file(out) == data2);
}

TEST_P(Storage, UploadedQcow2ImageIsRecognisedAsQcow2) {
  if (!real()) GTEST_SKIP() << "the test driver has no volume streams";
  const Volume src = make_volume(default_pool(), "q-src", 32 * kMiB);
  const std::string file = (dir_ / "image.qcow2").string();
  st().download_volume(default_pool(), src.name, file, {}, {}, {});
  ASSERT_EQ(read_file(file).substr(0, 4), std::string("QFI\xfb"));
  const std::string name = unique_name("q-dst");
  track(default_pool(), name);
  st().upload_volume(default_pool(), name, file, {}, {}, {});
  const Volume dst = st().get_volume(default_pool(), name);
  EXPECT_EQ(dst.format, "qcow2");
  EXPECT_EQ(dst.capacity_bytes, 32 * kMiB);
}

TEST_P(Storage, CancelledTransfersLeaveNeitherAVolumeNorAFile) {
  if (!real()) GTEST_SKIP() << "the test driver has no volume streams";
  const std::string data = random_bytes(8 * kMiB, 3);
  const std::string in = (dir_ / "in.img").string();
  std::ofstream(in, std::ios::binary) << data;
  const auto before = volume_names(default_pool());
  const std::string name = unique_name("cancel");
  track(default_pool(), name);

  CancelToken cancel;
  auto cancel_midway = [&](const Progress& p) {
    if (p.done > 0) cancel.cancel();
  };
  EXPECT_ERROR_CODE(st().upload_volume(default_pool(), name, in, {}, cancel_midway, cancel),
                    ErrorCode::Cancelled);
  EXPECT_EQ(volume_names(default_pool()), before) << "no final and no staging volume";

  const Volume v = make_volume(default_pool(), "cancel-dl", 8 * kMiB, "raw");
  CancelToken cancel2;
  const std::string out = (dir_ / "out.img").string();
  EXPECT_ERROR_CODE(st().download_volume(
                        default_pool(), v.name, out, {},
                        [&](const Progress& p) {
                          if (p.done > 0) cancel2.cancel();
                        },
                        cancel2),
                    ErrorCode::Cancelled);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1)
      << "only the input file: no partial download left";
}

HYPERCTL_INSTANTIATE_TARGETS(Storage);

}  // namespace
}  // namespace hyperctl::test
