// Migration of Hyper-V VMs (backends/hyperv/src/migration.cpp) through the
// plugin, between two stand-in hosts HV01 and HV02 (storage_support.hpp):
// each a state folder with its own wrapper as its PowerShell, opened as
// hyperv:///?shell=powershell (HV01) and hyperv:///?shell=pwsh (HV02) —
// $HYPERCTL_POWERSHELL, read at connect, picks the wrapper; ?shell= only
// gives the two connections URIs of their own, as journals record them.
// The states name each other in "peers", which Move-VM and Compare-VM use;
// the offline export folder is a real temporary folder (the stand-in writes
// the export there, as both hosts would reach a share).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "hyperctl/journal.hpp"
#include "storage_support.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kGiB = 1ull << 30;
const std::string kId = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";

class HvMigration : public HvFixture {
 protected:
  void SetUp() override {
    HvFixture::SetUp();
    src_ = std::make_unique<HvHost>(root_, "HV01");
    dst_ = std::make_unique<HvHost>(root_, "HV02");
    src_->peer(*dst_);
    dst_->peer(*src_);
    share_ = root_ / "share";
    fs::create_directories(share_);
  }
  void open() {
    a_ = src_->open("powershell");
    b_ = dst_->open("pwsh");
    src_->clear_log();
    dst_->clear_log();
  }
  const PreflightItem* item(const PreflightReport& r, const std::string& check,
                            CheckLevel level) const {
    for (const auto& i : r.items)
      if (i.check == check && i.level == level) return &i;
    return nullptr;
  }
  std::string dump(const PreflightReport& r) const {
    std::string out;
    for (const auto& i : r.items)
      out += i.check + " " + std::to_string(static_cast<int>(i.level)) + " " + i.message + " | " +
             i.fix + "\n";
    return out;
  }
  MigrationOptions offline() const {
    MigrationOptions o;
    o.mode = MigrationMode::Offline;
    o.target_pool = share_.string();
    return o;
  }
  /// The journal id in an error's detail ("journal: ID" first).
  static std::string journal_of(const Error& e) {
    const std::string d = e.detail();
    const std::string tag = "journal: ";
    if (d.rfind(tag, 0) != 0) return {};
    const auto end = d.find_first_of("\n ;", tag.size());
    return d.substr(tag.size(), end == std::string::npos ? std::string::npos : end - tag.size());
  }

  std::unique_ptr<HvHost> src_, dst_;
  std::unique_ptr<Connection> a_, b_;
  fs::path share_;
};

// ------------------------------------------------------------- preflight

TEST_F(HvMigration, PreflightOfACompatiblePairHasNoBlocker) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", 20 * kGiB}});
  open();
  const auto r = a_->migration().preflight("web", *b_, {});
  EXPECT_TRUE(r.ok()) << dump(r);
  for (const char* check : {"compatibility", "name-clash", "network", "memory", "cpu-vendor"})
    EXPECT_NE(item(r, check, CheckLevel::Ok), nullptr) << check << "\n" << dump(r);
  const auto runs = src_->runs("migrate.check");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["data"]["id"], kId);
  EXPECT_EQ(runs[0]["data"]["destination"], "HV02");
}

TEST_F(HvMigration, PreflightReportsVendorSwitchMemoryAndIdClashWithFixes) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", 20 * kGiB}}, "Lab Switch");
  dst_->host()["ProcessorManufacturer"] = "AuthenticAMD";
  dst_->host()["FreeMemoryBytes"] = 512ll << 20;
  dst_->save();
  dst_->add_vm(kId, "web-old", "Off", {});
  open();
  const auto r = a_->migration().preflight(kId, *b_, {});
  EXPECT_FALSE(r.ok());
  const auto* vendor = item(r, "cpu-vendor", CheckLevel::Blocker);
  ASSERT_NE(vendor, nullptr) << dump(r);
  EXPECT_NE(vendor->fix.find("--offline"), std::string::npos);
  const auto* net = item(r, "network", CheckLevel::Blocker);
  ASSERT_NE(net, nullptr) << dump(r);
  EXPECT_NE(net->message.find("'Lab Switch'"), std::string::npos) << net->message;
  EXPECT_NE(net->fix.find("New-VMSwitch"), std::string::npos);
  const auto* mem = item(r, "memory", CheckLevel::Blocker);
  ASSERT_NE(mem, nullptr) << dump(r);
  EXPECT_FALSE(mem->fix.empty());
  const auto* clash = item(r, "name-clash", CheckLevel::Blocker);
  ASSERT_NE(clash, nullptr) << dump(r);
  // Compare-VM's own report: each incompatibility a blocker with a fix.
  int compat = 0;
  for (const auto& i : r.items)
    if (i.check == "compatibility") {
      EXPECT_EQ(i.level, CheckLevel::Blocker);
      EXPECT_FALSE(i.fix.empty()) << i.message;
      ++compat;
    }
  EXPECT_EQ(compat, 3) << dump(r);  // processor, switch, Id
}

TEST_F(HvMigration, ASameNameOnTheTargetIsOnlyAWarning) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  dst_->add_vm("99999999-2222-4333-8444-555555555555", "web", "Off", {});
  open();
  const auto r = a_->migration().preflight("web", *b_, {});
  EXPECT_TRUE(r.ok()) << dump(r);
  EXPECT_NE(item(r, "name-clash", CheckLevel::Warning), nullptr) << dump(r);
}

TEST_F(HvMigration, OfflinePreflightWantsTheVmOffAndAnExportFolder) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  dst_->host()["ProcessorManufacturer"] = "AuthenticAMD";
  dst_->save();
  open();
  MigrationOptions o;
  o.mode = MigrationMode::Offline;
  auto r = a_->migration().preflight("web", *b_, o);
  EXPECT_NE(item(r, "source-state", CheckLevel::Blocker), nullptr) << dump(r);
  EXPECT_NE(item(r, "export-folder", CheckLevel::Blocker), nullptr) << dump(r);
  EXPECT_EQ(item(r, "cpu-vendor", CheckLevel::Blocker), nullptr) << "offline copies start afresh";
  EXPECT_TRUE(src_->runs("migrate.check").empty()) << "Compare-VM -DestinationHost is for moves";
  o.shutdown_first = true;
  o.target_pool = share_.string();
  r = a_->migration().preflight("web", *b_, o);
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST_F(HvMigration, AnotherBackendsTargetIsUnsupportedNamingIt) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  open();
  std::unique_ptr<Connection> other;
  try {
    other = hv_registry().open("test:///default");
  } catch (const Error& e) {
    GTEST_SKIP() << "no libvirt test driver here: " << e.what();
  }
  auto e = error_of([&] { a_->migration().migrate("web", *other, {}, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e->what()).find(other->backend_name()), std::string::npos) << e->what();
  EXPECT_ERROR_CODE(a_->migration().preflight("web", *other, {}), ErrorCode::Unsupported);
}

TEST_F(HvMigration, ACutShortAnswerIsAWarningInPreflightAndStopsAnOfflineCopyBeforeItStarts) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  src_->set_knobs({{"FAKE_PWSH_DEPTH_TRUNCATE", "1"}});
  open();
  const auto r = a_->migration().preflight("db", *b_, offline());
  EXPECT_NE(item(r, "network", CheckLevel::Warning), nullptr) << dump(r);
  const std::string before = src_->state().dump();
  EXPECT_ERROR_CODE(a_->migration().migrate("db", *b_, offline(), {}, {}),
                    ErrorCode::BackendFailure);
  EXPECT_EQ(src_->state().dump(), before);
  EXPECT_TRUE(src_->runs("migrate.export").empty());
  EXPECT_TRUE(journals().empty());
}

// ------------------------------------------------------------- live

TEST_F(HvMigration, LiveMoveTakesTheVmToTheTargetWithItsId) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", 20 * kGiB}});
  open();
  std::vector<std::string> phases;
  const VmInfo info = a_->migration().migrate(
      "web", *b_, {}, [&](const Progress& p) { phases.push_back(p.phase); }, {});
  EXPECT_EQ(info.id, kId);
  EXPECT_EQ(info.host, "HV02");
  EXPECT_EQ(info.state, VmState::Running);
  EXPECT_TRUE(src_->vms(kId).empty());
  ASSERT_EQ(dst_->vms(kId).size(), 1u);
  EXPECT_EQ(phases, (std::vector<std::string>{"check", "move"}));
  const auto live = src_->runs("migrate.live");
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["data"],
            json({{"id", kId}, {"destination", "HV02"}, {"include_storage", false}}));
  // Shared storage: the disk stays where it was.
  EXPECT_EQ(dst_->vms(kId)[0]["HardDrives"][0]["Path"], src_->vhd_folder() + "\\web.vhdx");
}

TEST_F(HvMigration, LiveMoveWithStorageRepointsTheDisksToTheTargetPath) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", 20 * kGiB}});
  open();
  MigrationOptions o;
  o.copy_storage = true;
  o.target_pool = "D:\\VMs\\web";
  a_->migration().migrate("web", *b_, o, {}, {});
  ASSERT_EQ(dst_->vms(kId).size(), 1u);
  EXPECT_EQ(dst_->vms(kId)[0]["HardDrives"][0]["Path"], "D:\\VMs\\web\\web.vhdx");
  EXPECT_FALSE(dst_->vhd("D:\\VMs\\web\\web.vhdx").is_null());
  EXPECT_TRUE(src_->vhd(src_->vhd_folder() + "\\web.vhdx").is_null());
  const auto live = src_->runs("migrate.live");
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["data"]["include_storage"], true);
  EXPECT_EQ(live[0]["data"]["destination_path"], "D:\\VMs\\web");
}

TEST_F(HvMigration, CopyStorageNeedsATargetPathAndATargetPathNeedsCopyStorage) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  open();
  MigrationOptions o;
  o.copy_storage = true;
  EXPECT_ERROR_CODE(a_->migration().migrate("web", *b_, o, {}, {}), ErrorCode::InvalidArgument);
  o.copy_storage = false;
  o.target_pool = "D:\\VMs";
  EXPECT_ERROR_CODE(a_->migration().migrate("web", *b_, o, {}, {}), ErrorCode::InvalidArgument);
  EXPECT_TRUE(src_->log().empty());
  EXPECT_EQ(src_->vms(kId).size(), 1u);
}

TEST_F(HvMigration, AnIncompatibleTargetIsRefusedBeforeMoving) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}}, "Lab Switch");
  open();
  auto e = error_of([&] { a_->migration().migrate("web", *b_, {}, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("Lab Switch"), std::string::npos) << e->what();
  EXPECT_TRUE(src_->runs("migrate.live").empty());
  EXPECT_EQ(src_->vms(kId).size(), 1u);
  EXPECT_TRUE(dst_->vms(kId).empty());
}

TEST_F(HvMigration, AFailedMoveLeavesTheVmOnTheSourceAndSaysSo) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  src_->set_knobs({{"FAKE_PWSH_FAIL",
                    "migrate.live|InvalidOperation|Virtual machine migration operation failed."}});
  open();
  const std::string before = src_->state().dump();
  auto e = error_of([&] { a_->migration().migrate("web", *b_, {}, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("is still on HV01 (Running)"), std::string::npos)
      << e->what();
  EXPECT_EQ(src_->state().dump(), before);
  EXPECT_TRUE(dst_->vms(kId).empty());
}

TEST_F(HvMigration, ATimedOutMoveKillsPowerShellAndTheVmStaysOnTheSource) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  open();
  src_->set_knobs({{"FAKE_PWSH_SLOW_MS", "1500"}});
  MigrationOptions o;
  o.timeout = std::chrono::milliseconds(2000);
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { a_->migration().migrate("web", *b_, o, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout) << e->what();
  EXPECT_NE(std::string(e->what()).find("is still on HV01"), std::string::npos) << e->what();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  src_->set_knobs({});
  std::this_thread::sleep_for(std::chrono::milliseconds(1700));  // a survivor would act now
  EXPECT_EQ(src_->vms(kId).size(), 1u);
  EXPECT_TRUE(dst_->vms(kId).empty());
}

TEST_F(HvMigration, ACancelledMoveKillsPowerShellAndTheVmStaysOnTheSource) {
  src_->add_vm(kId, "web", "Running", {{"web.vhdx", kGiB}});
  open();
  src_->set_knobs({{"FAKE_PWSH_SLOW_MS", "3000"}});
  CancelToken cancel;
  std::thread t([cancel]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(4000));
    cancel.cancel();
  });
  auto e = error_of([&] { a_->migration().migrate("web", *b_, {}, {}, cancel); });
  t.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  src_->set_knobs({});
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  EXPECT_EQ(src_->vms(kId).size(), 1u);
  EXPECT_TRUE(dst_->vms(kId).empty());
}

// ------------------------------------------------------------- offline

TEST_F(HvMigration, OfflineCopiesTheVmWithANewIdAndKeepsTheSource) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", 20 * kGiB}, {"logs.vhdx", 5 * kGiB}});
  open();
  const std::string before = src_->state().dump();
  std::vector<std::string> phases;
  const VmInfo info = a_->migration().migrate(
      "db", *b_, offline(), [&](const Progress& p) { phases.push_back(p.phase); }, {});
  EXPECT_NE(info.id, kId);
  EXPECT_EQ(info.name, "db");
  EXPECT_EQ(info.host, "HV02");
  const auto there = dst_->vms("db");
  ASSERT_EQ(there.size(), 1u);
  EXPECT_EQ(there[0]["Id"], info.id);
  ASSERT_EQ(there[0]["HardDrives"].size(), 2u);
  const std::string folder = dst_->vhd_folder() + "\\db\\";
  for (const auto& d : there[0]["HardDrives"])
    EXPECT_EQ(d["Path"].get<std::string>().rfind(folder, 0), 0u) << d.dump();
  EXPECT_EQ(dst_->vhd(folder + "db.vhdx")["Size"], 20 * kGiB);
  EXPECT_EQ(dst_->vhd(folder + "logs.vhdx")["Size"], 5 * kGiB);
  EXPECT_EQ(src_->state().dump(), before) << "the source is kept as it was";
  EXPECT_TRUE(journals().empty());
  EXPECT_FALSE(fs::exists(share_ / "db")) << "the export folder is removed";
  const auto imp = dst_->runs("migrate.import");
  ASSERT_EQ(imp.size(), 1u);
  EXPECT_EQ(imp[0]["data"]["vhd_destination"], dst_->vhd_folder() + "\\db");
  EXPECT_EQ(imp[0]["data"]["vm_path"], dst_->vm_folder());
  for (const char* p : {"check", "export", "import", "verify", "cleanup"})
    EXPECT_NE(std::find(phases.begin(), phases.end(), p), phases.end()) << p;
}

TEST_F(HvMigration, OfflineWithRemoveSourceDeletesTheSourceOnlyAfterTheCopy) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", 20 * kGiB}});
  open();
  MigrationOptions o = offline();
  o.remove_source = true;
  a_->migration().migrate(kId, *b_, o, {}, {});
  EXPECT_TRUE(src_->vms(kId).empty());
  EXPECT_TRUE(src_->vhd(src_->vhd_folder() + "\\db.vhdx").is_null());
  EXPECT_EQ(dst_->vms("db").size(), 1u);
  // The source's delete came after the target's import.
  const auto log_a = src_->runs("vm.delete");
  ASSERT_EQ(log_a.size(), 1u);
  EXPECT_EQ(log_a[0]["data"], json({{"id", kId}, {"with_storage", true}}));
}

TEST_F(HvMigration, OfflineShutsARunningVmDownOnlyWhenAsked) {
  src_->add_vm(kId, "db", "Running", {{"db.vhdx", kGiB}});
  open();
  const std::string before = src_->state().dump();
  EXPECT_ERROR_CODE(a_->migration().migrate("db", *b_, offline(), {}, {}), ErrorCode::Conflict);
  EXPECT_EQ(src_->state().dump(), before);
  EXPECT_TRUE(journals().empty()) << "nothing changed: no journal kept";
  MigrationOptions o = offline();
  o.shutdown_first = true;
  a_->migration().migrate("db", *b_, o, {}, {});
  EXPECT_EQ(dst_->vms("db").size(), 1u);
  EXPECT_EQ(src_->vms(kId).at(0)["State"], "Off") << "shut down";
}

TEST_F(HvMigration, OfflineNeedsAnExportFolder) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  open();
  MigrationOptions o;
  o.mode = MigrationMode::Offline;
  auto e = error_of([&] { a_->migration().migrate("db", *b_, o, {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(e->what()).find("--target-pool"), std::string::npos) << e->what();
  EXPECT_TRUE(src_->log().empty());
  EXPECT_TRUE(journals().empty());
}

TEST_F(HvMigration, AnOfflineMigrationInterruptedAfterExportResumes) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", 20 * kGiB}});
  dst_->set_knobs(
      {{"FAKE_PWSH_FAIL", "migrate.import|OperationStopped|The operation was stopped."}});
  open();
  auto e = error_of([&] { a_->migration().migrate("db", *b_, offline(), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what() << "\n" << e->detail();
  EXPECT_NE(std::string(e->what()).find(id), std::string::npos);
  EXPECT_TRUE(dst_->vms("db").empty());
  EXPECT_TRUE(fs::exists(share_ / "db")) << "the export is kept for the resume";

  dst_->set_knobs({});
  const VmInfo info = a_->migration().resume(id, *b_, {}, {});
  EXPECT_NE(info.id, kId);
  EXPECT_EQ(dst_->vms("db").size(), 1u);
  EXPECT_EQ(src_->vms(kId).size(), 1u);
  EXPECT_EQ(src_->runs("migrate.export").size(), 1u) << "the export is not redone";
  EXPECT_TRUE(journals().empty());
  EXPECT_FALSE(fs::exists(share_ / "db"));
}

TEST_F(HvMigration, ResumeRefusesAJournalOfOtherConnections) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  dst_->set_knobs({{"FAKE_PWSH_FAIL", "migrate.import|OperationStopped|stopped"}});
  open();
  auto e = error_of([&] { a_->migration().migrate("db", *b_, offline(), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty());
  // Swapped: HV02 as the source.
  EXPECT_ERROR_CODE(b_->migration().resume(id, *a_, {}, {}), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(a_->migration().resume("20260101T000000Z-nope", *b_, {}, {}),
                    ErrorCode::NotFound);
}

TEST_F(HvMigration, RollbackLeavesTheSourceAsBeforeAndTheTargetWithoutTheImport) {
  src_->add_vm(kId, "db", "Running", {{"db.vhdx", 20 * kGiB}});
  // Fails after the import: the target's Get-VHD during verify.
  dst_->set_knobs(
      {{"FAKE_PWSH_FAIL", "volume.get|ObjectNotFound|The system cannot find the file."}});
  open();
  const json before = src_->state();
  const json target_before = dst_->state();
  MigrationOptions o = offline();
  o.shutdown_first = true;
  auto e = error_of([&] { a_->migration().migrate("db", *b_, o, {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  ASSERT_EQ(dst_->vms("db").size(), 1u) << "imported before the failure";
  const std::string new_id = dst_->vms("db")[0]["Id"];

  dst_->set_knobs({});
  a_->migration().rollback(id, *b_);
  EXPECT_TRUE(dst_->vms(new_id).empty());
  EXPECT_EQ(dst_->state()["vhds"], target_before["vhds"]);
  EXPECT_EQ(dst_->state()["vms"], target_before["vms"]);
  const json after = src_->state();
  ASSERT_EQ(after["vms"].size(), 1u);
  EXPECT_EQ(after["vms"][0]["Id"], kId);
  EXPECT_EQ(after["vms"][0]["State"], before["vms"][0]["State"]) << "started again";
  EXPECT_EQ(after["vms"][0]["HardDrives"], before["vms"][0]["HardDrives"]);
  EXPECT_EQ(after["vhds"], before["vhds"]);
  EXPECT_FALSE(fs::exists(share_ / "db"));
  EXPECT_TRUE(journals().empty());
  const auto del = dst_->runs("vm.delete");
  ASSERT_EQ(del.size(), 1u);
  EXPECT_EQ(del[0]["data"]["id"], new_id) << "only the VM this journal imported, by its Id";
}

TEST_F(HvMigration, RollbackLeavesAVmOfTheSameNameItDidNotImport) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  const std::string stranger = "77777777-2222-4333-8444-555555555555";
  dst_->add_vm(stranger, "db", "Off", {{"other.vhdx", kGiB}});
  dst_->set_knobs({{"FAKE_PWSH_FAIL", "migrate.import|OperationStopped|stopped"}});
  open();
  auto e = error_of([&] { a_->migration().migrate("db", *b_, offline(), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty());
  dst_->set_knobs({});
  a_->migration().rollback(id, *b_);
  EXPECT_EQ(dst_->vms(stranger).size(), 1u);
  EXPECT_TRUE(dst_->runs("vm.delete").empty());
  EXPECT_EQ(src_->vms(kId).size(), 1u);
}

TEST_F(HvMigration, RollbackIsRefusedOnceTheSourceRemovalStarted) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  src_->set_knobs({{"FAKE_PWSH_FAIL", "vm.delete|PermissionDenied|Access is denied."}});
  open();
  MigrationOptions o = offline();
  o.remove_source = true;
  auto e = error_of([&] { a_->migration().migrate("db", *b_, o, {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  src_->set_knobs({});
  auto r = error_of([&] { a_->migration().rollback(id, *b_); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(r->what()).find("--resume"), std::string::npos) << r->what();
  EXPECT_EQ(dst_->vms("db").size(), 1u) << "the target's copy is kept";
  // Resume finishes the job.
  a_->migration().resume(id, *b_, {}, {});
  EXPECT_TRUE(src_->vms(kId).empty());
  EXPECT_TRUE(journals().empty());
}

TEST_F(HvMigration, AFailedCleanupIsAWarningOnceTheCopyIsVerified) {
  src_->add_vm(kId, "db", "Off", {{"db.vhdx", kGiB}});
  src_->set_knobs({{"FAKE_PWSH_FAIL", "migrate.cleanup|PermissionDenied|Access is denied."}});
  open();
  MigrationOptions o = offline();
  o.remove_source = true;
  // A cleanup that fails is a warning: the VM is on the target, verified.
  std::vector<std::string> phases;
  a_->migration().migrate("db", *b_, o, [&](const Progress& p) { phases.push_back(p.phase); }, {});
  bool warned = false;
  for (const auto& p : phases) warned = warned || p.rfind("warning: the export folder", 0) == 0;
  EXPECT_TRUE(warned);
  EXPECT_TRUE(src_->vms(kId).empty());
  EXPECT_EQ(dst_->vms("db").size(), 1u);
}

// ------------------------------------------------------------- hostile names

TEST_F(HvMigration, HostileNamesMoveByIdAndCopyIntoAFolderOfTheirName) {
  const std::vector<std::string> names = {"it's", "$(calc)", "semi;colon & amp", "back`tick",
                                          "\xE2\x80\x98q\xE2\x80\x99 d\xC3\xA9j\xC3\xA0"};
  int n = 0;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    char id[64];
    std::snprintf(id, sizeof id, "0a1b2c3d-4e5f-4a6b-8c7d-%012d", ++n);
    src_->add_vm(id, name, "Running", {{"live" + std::to_string(n) + ".vhdx", kGiB}});
    src_->add_vm(std::string(id).replace(0, 1, "1"), name + " off", "Off",
                 {{"off" + std::to_string(n) + ".vhdx", kGiB}});
    open();
    const auto r = a_->migration().preflight(id, *b_, {});
    EXPECT_TRUE(r.ok()) << dump(r);
    a_->migration().migrate(id, *b_, {}, {}, {});
    EXPECT_EQ(dst_->vms(id).size(), 1u);
    EXPECT_EQ(dst_->vms(id)[0]["Name"], name);
    const VmInfo copy = a_->migration().migrate(name + " off", *b_, offline(), {}, {});
    EXPECT_EQ(copy.name, name + " off");
    const auto imp = dst_->runs("migrate.import");
    ASSERT_EQ(imp.size(), 1u);
    EXPECT_EQ(imp[0]["data"]["vhd_destination"], dst_->vhd_folder() + "\\" + name + " off");
    for (const auto& run : src_->log()) EXPECT_TRUE(run.value("script_ok", false)) << run.dump();
    for (const auto& run : dst_->log()) EXPECT_TRUE(run.value("script_ok", false)) << run.dump();
    for (const auto& run : src_->runs("migrate.live")) EXPECT_EQ(run["data"]["id"], id);
  }
}

TEST_F(HvMigration, NamesNoFileCouldCarryStillMoveLiveByTheirId) {
  const std::vector<std::string> names = {"quo\"te", "pi|pe", "new\nline", "a\\..\\b",
                                          "tab\tand \xE2\x80\x99"};
  int n = 0;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    char id[64];
    std::snprintf(id, sizeof id, "2a1b2c3d-4e5f-4a6b-8c7d-%012d", ++n);
    src_->add_vm(id, name, "Running", {{"n" + std::to_string(n) + ".vhdx", kGiB}});
    open();
    const auto r = a_->migration().preflight(name, *b_, {});
    EXPECT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(a_->migration().migrate(name, *b_, {}, {}, {}).name, name);
    ASSERT_EQ(dst_->vms(id).size(), 1u);
    EXPECT_EQ(dst_->vms(id)[0]["Name"], name);
    for (const auto& run : src_->log()) {
      EXPECT_TRUE(run.value("script_ok", false)) << run.dump();
      if (run["op"] == "migrate.live" || run["op"] == "migrate.check") {
        EXPECT_EQ(run["data"]["id"], id);
      }
    }
  }
}

TEST_F(HvMigration, ANameThatCannotBeAFolderNameCopiesIntoAFolderNamedByTheId) {
  src_->add_vm(kId, "db..old", "Off", {{"x.vhdx", kGiB}});
  open();
  a_->migration().migrate(kId, *b_, offline(), {}, {});
  const auto imp = dst_->runs("migrate.import");
  ASSERT_EQ(imp.size(), 1u);
  EXPECT_EQ(imp[0]["data"]["vhd_destination"], dst_->vhd_folder() + "\\" + kId);
}

TEST_F(HvMigration, ANameExportVmCannotUseFailsWithNothingChangedAndRollsBack) {
  // Export-VM's folder is the VM's name: the host refuses a separator in it.
  src_->add_vm(kId, "a\\..\\b", "Off", {{"x.vhdx", kGiB}});
  open();
  const std::string before = src_->state().dump();
  auto e = error_of([&] { a_->migration().migrate(kId, *b_, offline(), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  EXPECT_EQ(src_->state().dump(), before);
  EXPECT_TRUE(dst_->runs("migrate.import").empty());
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty());
  a_->migration().rollback(id, *b_);
  EXPECT_TRUE(journals().empty());
  EXPECT_EQ(src_->state().dump(), before);
}

}  // namespace
}  // namespace hyperctl::test
