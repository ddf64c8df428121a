// Storage of the Hyper-V backend (backends/hyperv/src/storage_ops.cpp)
// through the plugin, against the stand-in PowerShell: pools are the host's
// two folders, volumes the .vhd/.vhdx files in them.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/capabilities.hpp"
#include "storage_support.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kGiB = 1ull << 30;

class HvStorage : public HvFixture {
 protected:
  void SetUp() override {
    HvFixture::SetUp();
    host_ = std::make_unique<HvHost>(root_, "HV01");
  }
  /// Opens the host and forgets the runs of connect().
  std::unique_ptr<Connection> open() {
    auto c = host_->open();
    host_->clear_log();
    return c;
  }
  std::string in_vhd(const std::string& file) const { return host_->vhd_folder() + "\\" + file; }

  std::unique_ptr<HvHost> host_;
};

const Volume* find(const std::vector<Volume>& vols, const std::string& name) {
  for (const auto& v : vols)
    if (v.name == name) return &v;
  return nullptr;
}

TEST_F(HvStorage, PoolsAreTheHostsTwoFoldersWithTheirVolumesSizes) {
  host_->host()["DiskCapacityBytes"] = 1000 * kGiB;
  host_->host()["DiskFreeBytes"] = 300 * kGiB;
  host_->save();
  auto c = open();
  const auto pools = c->storage().list_pools();
  ASSERT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools[0].name, "vhd");
  EXPECT_EQ(pools[0].path, host_->vhd_folder());
  EXPECT_EQ(pools[1].name, "vm");
  EXPECT_EQ(pools[1].path, host_->vm_folder());
  for (const auto& p : pools) {
    EXPECT_EQ(p.type, "folder");
    EXPECT_TRUE(p.active);
    EXPECT_EQ(p.capacity_bytes, 1000 * kGiB);
    EXPECT_EQ(p.available_bytes, 300 * kGiB);
    EXPECT_EQ(p.allocation_bytes, 700 * kGiB);
  }
  EXPECT_EQ(c->storage().get_pool("vm").path, host_->vm_folder());
}

TEST_F(HvStorage, AnUnknownPoolIsNotFoundNamingTheTwoPools) {
  auto c = open();
  auto e = error_of([&] { c->storage().get_pool("default"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_NE(std::string(e->what()).find("'vhd'"), std::string::npos) << e->what();
  EXPECT_ERROR_CODE(c->storage().list_volumes("default"), ErrorCode::NotFound);
}

TEST_F(HvStorage, VolumesAreTheVhdFilesOfTheFolderWithFormatTypeSizesAndUsers) {
  host_->add_vm("11111111-2222-4333-8444-555555555555", "web", "Running",
                {{"web.vhdx", 40 * kGiB}});
  host_->add_vhd(host_->vhd_folder(), "old.vhd", 2 * kGiB, "VHD", "Fixed", 2 * kGiB + 512);
  host_->add_vhd(host_->vhd_folder(), "diff.vhdx", 40 * kGiB, "VHDX", "Differencing", 8 << 20);
  host_->add_vhd(host_->vm_folder(), "elsewhere.vhdx", kGiB);
  for (const char* as : {"number", "string"}) {
    SCOPED_TRACE(as);
    host_->set_knobs({{"FAKE_PWSH_STATE_AS", as}});
    auto c = open();
    const auto vols = c->storage().list_volumes("vhd");
    ASSERT_EQ(vols.size(), 3u);
    const Volume* web = find(vols, "web");
    ASSERT_NE(web, nullptr);
    EXPECT_EQ(web->format, "vhdx");
    EXPECT_EQ(web->type, "dynamic");
    EXPECT_EQ(web->capacity_bytes, 40 * kGiB);
    EXPECT_EQ(web->allocation_bytes, 4194304u);
    EXPECT_EQ(web->path, in_vhd("web.vhdx"));
    EXPECT_EQ(web->pool, "vhd");
    EXPECT_EQ(web->used_by, std::vector<std::string>{"web"});
    const Volume* old = find(vols, "old");
    ASSERT_NE(old, nullptr);
    EXPECT_EQ(old->format, "vhd");
    EXPECT_EQ(old->type, "fixed");
    EXPECT_EQ(old->allocation_bytes, 2 * kGiB + 512);
    EXPECT_TRUE(old->used_by.empty());
    const Volume* diff = find(vols, "diff");
    ASSERT_NE(diff, nullptr);
    EXPECT_EQ(diff->type, "differencing");
    EXPECT_EQ(find(vols, "elsewhere"), nullptr);
    EXPECT_EQ(c->storage().list_volumes("vm").size(), 1u);
  }
}

TEST_F(HvStorage, GetVolumeNamesItsUsersAndAMissingOneIsNotFound) {
  host_->add_vm("11111111-2222-4333-8444-555555555555", "db", "Off", {{"db.vhdx", 10 * kGiB}});
  auto c = open();
  const Volume v = c->storage().get_volume("vhd", "db.vhdx");
  EXPECT_EQ(v.capacity_bytes, 10 * kGiB);
  EXPECT_EQ(v.used_by, std::vector<std::string>{"db"});
  const auto get = host_->runs("volume.get");
  ASSERT_EQ(get.size(), 1u);
  EXPECT_EQ(get[0]["data"]["path"], in_vhd("db.vhdx"));
  EXPECT_ERROR_CODE(c->storage().get_volume("vhd", "nope.vhdx"), ErrorCode::NotFound);
}

TEST_F(HvStorage, CreateMakesADynamicDiskWhoseExtensionIsItsFormat) {
  auto c = open();
  VolumeSpec s;
  s.name = "data.vhdx";
  s.capacity_bytes = 8 * kGiB;
  const Volume v = c->storage().create_volume(s);
  EXPECT_EQ(v.name, "data.vhdx");
  EXPECT_EQ(v.pool, "vhd");
  EXPECT_EQ(v.format, "vhdx");
  EXPECT_EQ(v.type, "dynamic");
  EXPECT_EQ(v.capacity_bytes, 8 * kGiB);
  const json rec = host_->vhd(in_vhd("data.vhdx"));
  ASSERT_FALSE(rec.is_null());
  EXPECT_EQ(rec["Size"], 8 * kGiB);
  EXPECT_EQ(rec["VhdType"], "Dynamic");
  const auto runs = host_->runs("volume.create");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["data"],
            json({{"path", in_vhd("data.vhdx")}, {"size_bytes", 8 * kGiB}, {"dynamic", true}}));

  // No extension: the format gives it (vhdx by default); another pool.
  s.name = "legacy";
  s.format = "vhd";
  s.pool = "vm";
  EXPECT_EQ(c->storage().create_volume(s).name, "legacy");
  EXPECT_FALSE(host_->vhd(host_->vm_folder() + "\\legacy.vhd").is_null());
  s = VolumeSpec{};
  s.name = "plain";
  s.capacity_bytes = kGiB;
  const Volume plain = c->storage().create_volume(s);
  EXPECT_EQ(plain.name, "plain");
  EXPECT_FALSE(host_->vhd(in_vhd("plain.vhdx")).is_null());
  EXPECT_EQ(plain.format, "vhdx");
}

TEST_F(HvStorage, AVolumeGoesByItsStemUnlessTwoFilesShareIt) {
  host_->add_vhd(host_->vhd_folder(), "one.vhdx", kGiB);
  host_->add_vhd(host_->vhd_folder(), "two.vhd", 2 * kGiB, "VHD", "Fixed", 2 * kGiB + 512);
  host_->add_vhd(host_->vhd_folder(), "two.vhdx", 3 * kGiB);
  auto c = open();
  std::vector<std::string> names;
  for (const auto& v : c->storage().list_volumes("vhd")) names.push_back(v.name);
  EXPECT_EQ(names, (std::vector<std::string>{"one", "two.vhd", "two.vhdx"}));
  EXPECT_EQ(c->storage().get_volume("vhd", "one").capacity_bytes, kGiB);
  EXPECT_EQ(c->storage().get_volume("vhd", "one.vhdx").capacity_bytes, kGiB);
  EXPECT_EQ(c->storage().get_volume("vhd", "two.vhd").capacity_bytes, 2 * kGiB);
  EXPECT_EQ(c->storage().get_volume("vhd", "two.vhdx").capacity_bytes, 3 * kGiB);
  const std::string before = host_->state().dump();
  EXPECT_ERROR_CODE(c->storage().get_volume("vhd", "two"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(c->storage().remove_volume("vhd", "two"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(c->storage().get_volume("vhd", "three"), ErrorCode::NotFound);
  EXPECT_EQ(host_->state().dump(), before);
}

TEST_F(HvStorage, ARawVolumeIsAFixedVhd) {
  auto c = open();
  VolumeSpec s;
  s.name = "image";
  s.format = "raw";
  s.capacity_bytes = kGiB;
  const Volume v = c->storage().create_volume(s);
  EXPECT_EQ(v.name, "image");
  EXPECT_EQ(v.format, "vhd");
  EXPECT_EQ(v.type, "fixed");
  EXPECT_EQ(host_->vhd(in_vhd("image.vhd"))["VhdType"], "Fixed");
  s.name = "image2.vhdx";
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::InvalidArgument);
}

TEST_F(HvStorage, CreateRefusesBadFormatsSizesAndTakenNamesWithoutChangingAnything) {
  host_->add_vhd(host_->vhd_folder(), "taken.vhdx", kGiB);
  auto c = open();
  const std::string before = host_->state().dump();
  VolumeSpec s;
  s.capacity_bytes = kGiB;
  s.name = "a.vhd";
  s.format = "vhdx";  // the extension says otherwise
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::InvalidArgument);
  s.name = "a";
  s.format = "qcow2";
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::InvalidArgument);
  s.format.clear();
  s.capacity_bytes = 0;
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::InvalidArgument);
  EXPECT_TRUE(host_->log().empty()) << "refused before PowerShell ran";
  s.capacity_bytes = kGiB;
  s.name = "taken.vhdx";
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::AlreadyExists);
  s.name = "x.vhdx";
  s.pool = "nope";
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::NotFound);
  EXPECT_EQ(host_->state().dump(), before);
}

TEST_F(HvStorage, AVolumeNameIsOneFileNameOfItsPoolFolder) {
  host_->add_vhd(host_->vhd_folder(), "ok.vhdx", kGiB);
  auto c = open();
  const std::string before = host_->state().dump();
  for (const std::string bad :
       {"..\\up.vhdx", "../up.vhdx", "sub\\a.vhdx", "sub/a.vhdx", "C:x.vhdx", "a.vhdx:stream",
        "w*.vhdx", "q?.vhdx", "quo\"te.vhdx", "pi|pe.vhdx", "new\nline.vhdx", "..", "",
        "trailing.vhdx.", "a..b.vhdx"}) {
    SCOPED_TRACE(bad);
    VolumeSpec s;
    s.name = bad;
    s.capacity_bytes = kGiB;
    EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::InvalidArgument);
    EXPECT_ERROR_CODE(c->storage().get_volume("vhd", bad), ErrorCode::InvalidArgument);
    EXPECT_ERROR_CODE(c->storage().resize_volume("vhd", bad, 2 * kGiB), ErrorCode::InvalidArgument);
    EXPECT_ERROR_CODE(c->storage().remove_volume("vhd", bad), ErrorCode::InvalidArgument);
    EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", bad, s), ErrorCode::InvalidArgument);
    VolumeSpec t = s;
    t.name = bad;
    EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "ok.vhdx", t), ErrorCode::InvalidArgument);
  }
  EXPECT_TRUE(host_->log().empty()) << "no PowerShell ran for a bad name";
  EXPECT_EQ(host_->state().dump(), before);
}

TEST_F(HvStorage, ResizeGrowsAndShrinksOnlyWhenAskedToAndNotBelowTheData) {
  host_->add_vhd(host_->vhd_folder(), "d.vhdx", 10 * kGiB, "VHDX", "Dynamic", 3 * kGiB);
  auto c = open();
  Volume v = c->storage().resize_volume("vhd", "d.vhdx", 20 * kGiB);
  EXPECT_EQ(v.capacity_bytes, 20 * kGiB);
  EXPECT_EQ(host_->vhd(in_vhd("d.vhdx"))["Size"], 20 * kGiB);

  // Smaller without ResizeOptions::shrink: refused before PowerShell runs.
  const auto refused = [&](std::uint64_t bytes, const ResizeOptions& o, const char* what) {
    const std::string before = host_->state().dump();
    host_->clear_log();
    auto e = error_of([&] { c->storage().resize_volume("vhd", "d.vhdx", bytes, o); });
    ASSERT_TRUE(e) << what;
    EXPECT_EQ(e->code(), ErrorCode::Conflict) << what << ": " << e->what();
    EXPECT_NE(std::string(e->what()).find("nothing was changed"), std::string::npos) << e->what();
    EXPECT_TRUE(host_->runs("volume.resize").empty()) << what << " reached Resize-VHD";
    EXPECT_EQ(host_->state().dump(), before) << what;
  };
  refused(4 * kGiB, {}, "a shrink without shrink");
  ResizeOptions shrink;
  shrink.shrink = true;
  // Below the 3 GiB the file holds: also needs force.
  refused(2 * kGiB, shrink, "a shrink below the data without force");

  v = c->storage().resize_volume("vhd", "d.vhdx", 4 * kGiB, shrink);
  EXPECT_EQ(v.capacity_bytes, 4 * kGiB);
  EXPECT_EQ(host_->vhd(in_vhd("d.vhdx"))["Size"], 4 * kGiB);

  // With force it reaches Resize-VHD, which refuses below its minimum size itself.
  ResizeOptions force = shrink;
  force.force = true;
  const std::string before = host_->state().dump();
  host_->clear_log();
  EXPECT_ERROR_CODE(c->storage().resize_volume("vhd", "d.vhdx", 2 * kGiB, force),
                    ErrorCode::InvalidArgument);
  EXPECT_EQ(host_->runs("volume.resize").size(), 1u);
  EXPECT_EQ(host_->state().dump(), before);
  EXPECT_ERROR_CODE(c->storage().resize_volume("vhd", "d.vhdx", 0), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(c->storage().resize_volume("vhd", "gone.vhdx", kGiB), ErrorCode::NotFound);
}

TEST_F(HvStorage, CloneConvertsBetweenVhdAndVhdxByTheTargetsExtension) {
  host_->add_vhd(host_->vhd_folder(), "src.vhdx", 10 * kGiB, "VHDX", "Fixed", 10 * kGiB + 4194304);
  auto c = open();
  VolumeSpec t;
  t.name = "copy.vhd";
  const Volume v = c->storage().clone_volume("vhd", "src.vhdx", t);
  EXPECT_EQ(v.name, "copy.vhd");
  EXPECT_EQ(v.format, "vhd");
  EXPECT_EQ(v.type, "fixed");
  EXPECT_EQ(v.capacity_bytes, 10 * kGiB);
  const auto conv = host_->runs("volume.convert");
  ASSERT_EQ(conv.size(), 1u);
  EXPECT_EQ(conv[0]["data"],
            json({{"path", in_vhd("src.vhdx")}, {"destination", in_vhd("copy.vhd")}}));
  EXPECT_FALSE(host_->vhd(in_vhd("src.vhdx")).is_null()) << "the source stays";

  // Into the other pool, named without extension (the source's format), grown.
  t = VolumeSpec{};
  t.name = "bigger";
  t.pool = "vm";
  t.capacity_bytes = 12 * kGiB;
  const Volume b = c->storage().clone_volume("vhd", "src.vhdx", t);
  EXPECT_EQ(b.name, "bigger");
  EXPECT_EQ(b.pool, "vm");
  EXPECT_EQ(b.capacity_bytes, 12 * kGiB);
  EXPECT_EQ(host_->vhd(host_->vm_folder() + "\\bigger.vhdx")["Size"], 12 * kGiB);
}

TEST_F(HvStorage, CloneRefusesATakenTargetItselfOrASmallerSize) {
  host_->add_vhd(host_->vhd_folder(), "src.vhdx", 10 * kGiB);
  host_->add_vhd(host_->vhd_folder(), "taken.vhdx", kGiB);
  auto c = open();
  const std::string before = host_->state().dump();
  VolumeSpec t;
  t.name = "taken.vhdx";
  EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "src.vhdx", t), ErrorCode::AlreadyExists);
  t.name = "SRC.VHDX";
  EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "src.vhdx", t), ErrorCode::AlreadyExists);
  t.name = "small.vhdx";
  t.capacity_bytes = kGiB;
  EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "src.vhdx", t), ErrorCode::InvalidArgument);
  t.capacity_bytes = 0;
  EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "gone.vhdx", t), ErrorCode::NotFound);
  EXPECT_EQ(host_->state().dump(), before);
}

TEST_F(HvStorage, RemoveRefusesAVolumeAVmUsesNamingTheVm) {
  host_->add_vm("11111111-2222-4333-8444-555555555555", "app", "Off", {{"app.vhdx", kGiB}});
  host_->add_vhd(host_->vhd_folder(), "spare.vhdx", kGiB);
  auto c = open();
  const std::string before = host_->state().dump();
  auto e = error_of([&] { c->storage().remove_volume("vhd", "app.vhdx"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("'app'"), std::string::npos) << e->what();
  EXPECT_TRUE(host_->runs("volume.delete").empty());
  EXPECT_EQ(host_->state().dump(), before);

  c->storage().remove_volume("vhd", "spare.vhdx");
  EXPECT_TRUE(host_->vhd(in_vhd("spare.vhdx")).is_null());
  EXPECT_FALSE(host_->vhd(in_vhd("app.vhdx")).is_null());
  EXPECT_ERROR_CODE(c->storage().remove_volume("vhd", "spare.vhdx"), ErrorCode::NotFound);
}

TEST_F(HvStorage, TheDeleteScriptChecksUsersAgainWhenTheListIsCutShort) {
  // Depth-truncated HardDrives: hyperctl cannot see the user; the script can.
  host_->add_vm("11111111-2222-4333-8444-555555555555", "app", "Off", {{"app.vhdx", kGiB}});
  host_->set_knobs({{"FAKE_PWSH_DEPTH_TRUNCATE", "1"}});
  auto c = open();
  EXPECT_ERROR_CODE(c->storage().remove_volume("vhd", "app.vhdx"), ErrorCode::Conflict);
  EXPECT_FALSE(host_->vhd(in_vhd("app.vhdx")).is_null());
}

TEST_F(HvStorage, RemoveRefusesTheBaseDiskUnderACheckpointsDifferencingDisk) {
  // With a checkpoint, the VM's drive is an .avhdx: its base disk is still in use.
  host_->add_vm("11111111-2222-4333-8444-555555555555", "app", "Off", {{"app.vhdx", kGiB}});
  auto c = open();
  c->snapshots().create("app", {"s1", "", false});
  const std::string before = host_->state().dump();
  auto e = error_of([&] { c->storage().remove_volume("vhd", "app.vhdx"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what() + e->detail()).find("app"), std::string::npos) << e->what();
  EXPECT_FALSE(host_->vhd(in_vhd("app.vhdx")).is_null()) << "the base disk was deleted";
  EXPECT_EQ(host_->state().dump(), before);
}

TEST_F(HvStorage, ACancelledCloneLeavesNoCopy) {
  host_->add_vhd(host_->vhd_folder(), "src.vhdx", 10 * kGiB);
  auto c = open();
  VolumeSpec t;
  t.name = "copy";
  // Before it starts: nothing runs.
  CancelToken early;
  early.cancel();
  EXPECT_ERROR_CODE(c->storage().clone_volume("vhd", "src.vhdx", t, {}, early),
                    ErrorCode::Cancelled);
  EXPECT_TRUE(host_->runs("volume.convert").empty());
  // While Convert-VHD runs (every run sleeps; the cancel comes once the
  // convert is logged, before it acts): PowerShell is killed, no file is left.
  host_->set_knobs({{"FAKE_PWSH_SLOW_MS", "1500"}});
  CancelToken cancel;
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    while (!done && host_->runs("volume.convert").empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancel.cancel();
  });
  const auto e = error_of([&] { c->storage().clone_volume("vhd", "src.vhdx", t, {}, cancel); });
  done = true;
  canceller.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  EXPECT_NE(std::string(e->what()).find("no copy was left"), std::string::npos) << e->what();
  host_->set_knobs({});
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));  // the killed run's sleep
  EXPECT_TRUE(host_->vhd(in_vhd("copy.vhdx")).is_null()) << "the copy was made";
}

TEST_F(HvStorage, PowerShellErrorsMapToTheCoresCodes) {
  host_->set_knobs({{"FAKE_PWSH_FAIL",
                     "volume.create|PermissionDenied|You do not have the required permission."}});
  auto c = open();
  VolumeSpec s;
  s.name = "x.vhdx";
  s.capacity_bytes = kGiB;
  EXPECT_ERROR_CODE(c->storage().create_volume(s), ErrorCode::AuthFailed);
}

TEST_F(HvStorage, TheBackendDeclaresItsStorageButNoTransfers) {
  auto c = open();
  const Capabilities caps = hv_registry().backend_for("hyperv").capabilities();
  for (Operation op : {Operation::PoolList, Operation::PoolInfo, Operation::VolumeList,
                       Operation::VolumeInfo, Operation::VolumeCreate, Operation::VolumeDelete,
                       Operation::VolumeResize, Operation::VolumeClone})
    EXPECT_TRUE(caps.has(op)) << to_string(op);
  for (Operation op : {Operation::VolumeUpload, Operation::VolumeDownload, Operation::PoolCreate,
                       Operation::PoolDelete})
    EXPECT_FALSE(caps.has(op)) << to_string(op);
  EXPECT_ERROR_CODE(c->storage().upload_volume("vhd", "a.vhdx", "/tmp/x", {}, {}, {}),
                    ErrorCode::Unsupported);
  EXPECT_ERROR_CODE(c->storage().create_pool("p", "C:\\p"), ErrorCode::Unsupported);
}

// Characters a Windows file name may hold, PowerShell-hostile ones included:
// they travel as data, byte for byte, through every volume operation.
TEST_F(HvStorage, HostileFileNamesReachPowerShellAsDataThroughEveryOperation) {
  const std::vector<std::string> names = {"it's.vhdx",
                                          "back`tick.vhdx",
                                          "$(calc).vhdx",
                                          "semi;colon.vhdx",
                                          "amp&er.vhdx",
                                          "\xE2\x80\x98q\xE2\x80\x99.vhdx",
                                          "d\xC3\xA9j\xC3\xA0.vhdx",
                                          "sp ace $env.x @{a=1}.vhdx",
                                          "[brackets].vhdx"};
  auto c = open();
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    host_->clear_log();
    VolumeSpec s;
    s.name = name;
    s.capacity_bytes = kGiB;
    EXPECT_EQ(c->storage().create_volume(s).name, name);
    EXPECT_EQ(c->storage().get_volume("vhd", name).name, name);
    EXPECT_EQ(c->storage().resize_volume("vhd", name, 2 * kGiB).capacity_bytes, 2 * kGiB);
    VolumeSpec t;
    t.name = "copy of " + name;
    t.pool = "vm";
    EXPECT_EQ(c->storage().clone_volume("vhd", name, t).name, t.name);
    EXPECT_NE(find(c->storage().list_volumes("vhd"), name.substr(0, name.size() - 5)), nullptr);
    c->storage().remove_volume("vhd", name);
    c->storage().remove_volume("vm", t.name);
    EXPECT_TRUE(host_->vhd(in_vhd(name)).is_null());
    const auto log = host_->log();
    ASSERT_FALSE(log.empty());
    std::size_t with_path = 0;
    for (const auto& run : log) {
      EXPECT_TRUE(run.value("script_ok", false)) << run.dump();
      if (!run["data"].contains("path")) continue;
      const std::string p = run["data"]["path"];
      if (p == in_vhd(name) || p == host_->vm_folder() + "\\" + t.name) ++with_path;
    }
    EXPECT_GE(with_path, 5u) << "the name reached PowerShell verbatim";
  }
}

}  // namespace
}  // namespace hyperctl::test
