#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/rules.hpp"

using hyperctl::ErrorCode;
using hyperctl::ResizeOptions;

namespace {
constexpr std::uint64_t kMiB = 1ull << 20;

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.code();
  }
  return ErrorCode::Internal;  // nothing thrown
}
}  // namespace

TEST(CheckResize, GrowingAndKeepingTheSizeNeedNoFlag) {
  EXPECT_NO_THROW(hyperctl::check_resize("p/v", 100 * kMiB, 200 * kMiB, 90 * kMiB, {}, "t"));
  EXPECT_NO_THROW(hyperctl::check_resize("p/v", 100 * kMiB, 100 * kMiB, 90 * kMiB, {}, "t"));
}

TEST(CheckResize, AShrinkNeedsTheShrinkFlagAndSaysSo) {
  try {
    hyperctl::check_resize("p/v", 1536 * kMiB, 50 * kMiB, 0, {}, "volume.resize");
    ADD_FAILURE() << "a shrink without --shrink was allowed";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Conflict);
    EXPECT_NE(std::string(e.what()).find("--shrink"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'p/v'"), std::string::npos) << e.what();
  }
  ResizeOptions shrink;
  shrink.shrink = true;
  EXPECT_NO_THROW(hyperctl::check_resize("p/v", 1536 * kMiB, 50 * kMiB, 10 * kMiB, shrink, "t"));
}

TEST(CheckResize, BelowTheDataNeedsForceAsWell) {
  ResizeOptions shrink;
  shrink.shrink = true;
  EXPECT_EQ(code_of([&] {
              hyperctl::check_resize("p/v", 1024 * kMiB, 100 * kMiB, 900 * kMiB, shrink, "t");
            }),
            ErrorCode::Conflict);
  ResizeOptions force = shrink;
  force.force = true;
  EXPECT_NO_THROW(hyperctl::check_resize("p/v", 1024 * kMiB, 100 * kMiB, 900 * kMiB, force, "t"));
  ResizeOptions force_only;
  force_only.force = true;  // --force alone does not mean --shrink
  EXPECT_EQ(
      code_of([&] { hyperctl::check_resize("p/v", 1024 * kMiB, 100 * kMiB, 0, force_only, "t"); }),
      ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { hyperctl::check_resize("p/v", 1024 * kMiB, 0, 0, force, "t"); }),
            ErrorCode::InvalidArgument);
}

TEST(ValidateSnapshotName, RefusesWhatBreaksOtherToolsTrees) {
  for (const std::string& bad : std::vector<std::string>{
           std::string(), std::string("a/b"), std::string("line\nbreak"), std::string("tab\there"),
           std::string("nul\0x", 5), std::string("del\x7f"), std::string("\xff\xfe"),
           std::string(256, 'x')}) {
    EXPECT_EQ(code_of([&] { hyperctl::validate_snapshot_name(bad, "snapshot.create"); }),
              ErrorCode::InvalidArgument)
        << bad;
  }
}

TEST(ValidateSnapshotName, AcceptsQuotesShellAndMarkupAsData) {
  for (const std::string& good :
       std::vector<std::string>{"before-upgrade", "it's \"fine\"", "$(rm -rf ~); x & y",
                                "<x a='1'>&amp;", "снимок ✓", std::string(255, 'x')})
    EXPECT_NO_THROW(hyperctl::validate_snapshot_name(good, "snapshot.create")) << good;
}

TEST(CheckDeleteSnapshots, AVmWithSnapshotsNeedsTheFlag) {
  hyperctl::DeleteOptions plain;
  EXPECT_NO_THROW(hyperctl::check_delete_snapshots("VM 'a'", 0, plain, "vm.delete"));
  try {
    hyperctl::check_delete_snapshots("VM 'a'", 2, plain, "vm.delete");
    ADD_FAILURE() << "deleted a VM with snapshots without --snapshots";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Conflict);
    EXPECT_NE(std::string(e.what()).find("2 snapshots"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--snapshots"), std::string::npos) << e.what();
  }
  hyperctl::DeleteOptions with;
  with.snapshots = true;
  EXPECT_NO_THROW(hyperctl::check_delete_snapshots("VM 'a'", 2, with, "vm.delete"));
}
