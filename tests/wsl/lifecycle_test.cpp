// VM operations through the plugin against the stand-in wsl.exe: results
// checked in the stand-in's state.json and in what it received (its log).
#include <unistd.h>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

/// How the stand-in prints: every encoding, line ending and language.
struct Output {
  const char* label;
  const char* encoding;  ///< FAKE_WSL_ENCODING, "" for the default (UTF-8 as WSL_UTF8=1 asks)
  const char* newline;   ///< FAKE_WSL_NEWLINE
  const char* lang;      ///< FAKE_WSL_LANG
};

class WslOutputs : public WslFake, public ::testing::WithParamInterface<Output> {
 protected:
  void SetUp() override {
    WslFake::SetUp();
    const Output& o = GetParam();
    if (*o.encoding) ::setenv("FAKE_WSL_ENCODING", o.encoding, 1);
    if (*o.newline) ::setenv("FAKE_WSL_NEWLINE", o.newline, 1);
    if (*o.lang) ::setenv("FAKE_WSL_LANG", o.lang, 1);
  }
};

TEST_P(WslOutputs, ListMapsEveryDistributionAndItsFacts) {
  add_distro("Ubuntu-22.04", "Running", 2, false);
  add_distro("old.distro-1", "Stopped", 1, true);
  add_distro("Dé bian ü 名", "Installing", 2);
  add_distro("conv", "Converting", 2);
  add_distro("gone", "Uninstalling", 2);
  auto c = open();
  const auto all = c->vms().list({});
  ASSERT_EQ(all.size(), 5u);
  std::map<std::string, VmInfo> by_name;
  for (const auto& v : all) by_name[v.name] = v;
  const auto& u = by_name.at("Ubuntu-22.04");
  EXPECT_EQ(u.id, guid_for(1));
  EXPECT_EQ(u.state, VmState::Running);
  EXPECT_EQ(u.state_reason, "Running");
  EXPECT_EQ(u.backend, "wsl");
  EXPECT_EQ(u.guest_os, "linux");
  EXPECT_EQ(u.host, hostname());
  EXPECT_EQ(u.vcpus, 0u);
  EXPECT_EQ(u.memory_bytes, 0u);
  EXPECT_EQ(u.extras.at("wsl_version"), "2");
  EXPECT_EQ(u.extras.at("default"), "false");
  EXPECT_EQ(u.extras.at("state"), "Running");
  EXPECT_EQ(u.extras.at("base_path"), (root_ / "disks" / "1").string());
  ASSERT_EQ(u.disks.size(), 1u);
  EXPECT_EQ(u.disks[0].path, (root_ / "disks" / "1" / "ext4.vhdx").string());
  EXPECT_EQ(u.disks[0].format, "vhdx");

  const auto& old = by_name.at("old.distro-1");
  EXPECT_EQ(old.state, VmState::Off);
  EXPECT_EQ(old.extras.at("default"), "true");
  EXPECT_EQ(old.extras.at("wsl_version"), "1");
  ASSERT_EQ(old.disks.size(), 1u);
  EXPECT_EQ(old.disks[0].format, "wsl1-rootfs");
  EXPECT_EQ(old.disks[0].path, (root_ / "disks" / "2" / "rootfs").string());

  EXPECT_EQ(by_name.at("Dé bian ü 名").state, VmState::Transitional);
  EXPECT_EQ(by_name.at("Dé bian ü 名").state_reason, "Installing");
  EXPECT_EQ(by_name.at("Dé bian ü 名").id, guid_for(3));
  EXPECT_EQ(by_name.at("conv").state_reason, "Converting");
  EXPECT_EQ(by_name.at("gone").state, VmState::Transitional);
}

TEST_P(WslOutputs, AnErrorOfWslExeKeepsItsOriginalTextInDetail) {
  add_distro("Debian", "Stopped", 2);
  auto c = open();
  // Converting to the version it has: wsl.exe's own refusal.
  auto e = error_of([&] { c->vms().set_property("Debian", "version", "2"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what() << "\n" << e->detail();
  const std::string what = e->what();
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_NE(what.find("vm.set-property"), std::string::npos) << what;
  EXPECT_NE(what.find("'Debian'"), std::string::npos) << what;
  EXPECT_NE(e->detail().find("WSL_E_VM_MODE_INVALID_STATE"), std::string::npos) << e->detail();
  if (std::string(GetParam().lang) == "fr") {
    EXPECT_NE(e->detail().find("Code d'erreur\xC2\xA0:"), std::string::npos) << e->detail();
  } else {
    EXPECT_NE(e->detail().find("Error code:"), std::string::npos) << e->detail();
  }
}

INSTANTIATE_TEST_SUITE_P(Outputs, WslOutputs,
                         ::testing::Values(Output{"utf8", "", "", ""},
                                           Output{"utf16", "utf16", "", ""},
                                           Output{"utf16bom", "utf16bom", "", ""},
                                           Output{"utf16_crcrlf", "utf16", "crcrlf", ""},
                                           Output{"utf8_crcrlf", "utf8", "crcrlf", ""},
                                           Output{"utf16_french", "utf16", "", "fr"},
                                           Output{"utf8_french_crcrlf", "utf8", "crcrlf", "fr"}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.label);
                         });

using WslLifecycle = WslFake;

TEST_F(WslLifecycle, EveryRunAsksForUtf8AndWslenvOnlyInsideWsl) {
  add_distro("Debian");
  open()->vms().list({});
  auto entries = log();
  ASSERT_FALSE(entries.empty());
  for (const auto& j : entries) {
    if (j["prog"] != "wsl") continue;
    EXPECT_EQ(j["env"].value("WSL_UTF8", ""), "1") << j.dump();
    EXPECT_FALSE(j["env"].contains("WSLENV")) << "not inside WSL: " << j.dump();
  }
  clear_log();
  ::setenv("WSL_DISTRO_NAME", "Debian", 1);
  ::setenv("WSLENV", "USERPROFILE/p", 1);
  open()->vms().list({});
  entries = log();
  ASSERT_FALSE(entries.empty());
  for (const auto& j : entries) {
    if (j["prog"] != "wsl") continue;
    EXPECT_EQ(j["env"].value("WSL_UTF8", ""), "1") << j.dump();
    EXPECT_EQ(j["env"].value("WSLENV", ""), "USERPROFILE/p:WSL_UTF8") << j.dump();
  }
}

TEST_F(WslLifecycle, EmptyListIsNotAnError) {
  auto c = open();
  EXPECT_TRUE(c->vms().list({}).empty());
}

TEST_F(WslLifecycle, ListFiltersByStateAndNameGlob) {
  add_distro("Ubuntu-22.04", "Running");
  add_distro("Ubuntu-24.04", "Stopped");
  add_distro("Debian", "Stopped");
  auto c = open();
  const auto names = [](const std::vector<VmInfo>& v) {
    std::vector<std::string> out;
    for (const auto& i : v) out.push_back(i.name);
    return out;
  };
  EXPECT_EQ(names(c->vms().list(VmFilter{{}, "Ubuntu-*"})),
            (std::vector<std::string>{"Ubuntu-22.04", "Ubuntu-24.04"}));
  EXPECT_EQ(names(c->vms().list(VmFilter{{VmState::Off}, ""})),
            (std::vector<std::string>{"Ubuntu-24.04", "Debian"}));
  EXPECT_EQ(names(c->vms().list(VmFilter{{VmState::Off}, "U*"})),
            (std::vector<std::string>{"Ubuntu-24.04"}));
  EXPECT_TRUE(c->vms().list(VmFilter{{VmState::Paused}, ""}).empty());
}

TEST_F(WslLifecycle, GetMatchesTheGuidThenTheExactNameThenTheNameInAnyCase) {
  add_distro("Debian");
  add_distro(guid_for(1));  // a distribution named like the other's GUID
  auto c = open();
  EXPECT_EQ(c->vms().get(guid_for(1)).name, "Debian") << "an id wins over a name";
  std::string bare = guid_for(1).substr(1, 36);
  EXPECT_EQ(c->vms().get(bare).name, "Debian") << "without braces";
  for (char& ch : bare) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(c->vms().get(bare).name, "Debian") << "any case";
  EXPECT_EQ(c->vms().get("Debian").id, guid_for(1));
  // wsl.exe itself compares names without case.
  EXPECT_EQ(c->vms().get("debian").name, "Debian");
  EXPECT_EQ(c->vms().get("DEBIAN").id, guid_for(1));
  EXPECT_ERROR_CODE(c->vms().get("Deb"), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(c->vms().get(""), ErrorCode::InvalidArgument);
}

TEST_F(WslLifecycle, NotFoundNamesTheOperationAndTheDistributionOnOneLine) {
  auto c = open();
  auto e = error_of([&] { c->vms().start("no\nsuch"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_EQ(e->operation(), "vm.start");
  EXPECT_EQ(std::string(e->what()), "vm.start: no WSL distribution 'no\\nsuch' on " + uri());
}

TEST_F(WslLifecycle, IdFallsBackToTheNameWithoutRegistry) {
  add_distro("Debian");
  auto c = registry().open(std::string("wsl:///?wsl=") + HYPERCTL_TEST_FAKE_WSL +
                           "&reg=/nonexistent/reg.exe");
  EXPECT_EQ(c->vms().get("Debian").id, "Debian");
  EXPECT_TRUE(c->vms().get("Debian").disks.empty()) << "no BasePath known";
}

TEST_F(WslLifecycle, StartKeepsItRunningThroughADetachedWslExe) {
  add_distro("Debian", "Stopped");
  auto c = open();
  c->vms().start("Debian");
  EXPECT_EQ(distro_state("Debian")["state"], "Running");
  EXPECT_EQ(c->vms().get("Debian").state, VmState::Running);
  const auto runs = calls("--distribution");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0],
            (std::vector<std::string>{"--distribution", "Debian", "--exec", "sleep", "infinity"}));
  EXPECT_ERROR_CODE(c->vms().start("Debian"), ErrorCode::Conflict);
  EXPECT_ERROR_CODE(c->vms().start("nope"), ErrorCode::NotFound);
}

TEST_F(WslLifecycle, StartOfATransitionalDistributionIsConflict) {
  add_distro("inst", "Installing");
  auto c = open();
  EXPECT_ERROR_CODE(c->vms().start("inst"), ErrorCode::Conflict);
  EXPECT_TRUE(calls("--distribution").empty());
}

TEST_F(WslLifecycle, ShutdownTerminatesAndIsAlreadyOffWhenStopped) {
  add_distro("Debian", "Running");
  auto c = open();
  EXPECT_EQ(c->vms().shutdown("Debian", {}, {}, CancelToken{}), ShutdownOutcome::Stopped);
  EXPECT_EQ(distro_state("Debian")["state"], "Stopped");
  EXPECT_EQ(calls("--terminate"),
            (std::vector<std::vector<std::string>>{{"--terminate", "Debian"}}));
  EXPECT_EQ(c->vms().shutdown("Debian", {}, {}, CancelToken{}), ShutdownOutcome::AlreadyOff);
  EXPECT_EQ(calls("--terminate").size(), 1u) << "nothing run for a stopped distribution";
}

TEST_F(WslLifecycle, PowerOffTerminatesARunningOneOnly) {
  add_distro("Debian", "Running");
  auto c = open();
  c->vms().power_off("Debian");
  EXPECT_EQ(distro_state("Debian")["state"], "Stopped");
  EXPECT_ERROR_CODE(c->vms().power_off("Debian"), ErrorCode::Conflict);
}

TEST_F(WslLifecycle, DeleteIsRefusedWithoutForceAndUnregistersWithIt) {
  add_distro("Debian", "Running");
  auto c = open();
  auto e = error_of([&] { c->vms().remove("Debian", DeleteOptions{false, false}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict);
  EXPECT_NE(std::string(e->what()).find("--force"), std::string::npos) << e->what();
  EXPECT_FALSE(distro_state("Debian").is_null()) << "still registered";
  EXPECT_TRUE(calls("--unregister").empty());
  const fs::path disk = root_ / "disks" / "1" / "ext4.vhdx";
  ASSERT_TRUE(fs::exists(disk));
  c->vms().remove("Debian", DeleteOptions{false, true});
  EXPECT_TRUE(distro_state("Debian").is_null());
  EXPECT_FALSE(fs::exists(disk));
  EXPECT_EQ(calls("--unregister"),
            (std::vector<std::vector<std::string>>{{"--unregister", "Debian", "--force"}}));
  EXPECT_ERROR_CODE(c->vms().get("Debian"), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(c->vms().remove("Debian", DeleteOptions{true, true}), ErrorCode::NotFound);
}

TEST_F(WslLifecycle, DeleteWithStorageReportsTheDistributionsDisk) {
  add_distro("Debian");
  add_distro("Ubuntu");
  auto c = open();
  const fs::path debian = root_ / "disks" / "1" / "ext4.vhdx";
  const fs::path ubuntu = root_ / "disks" / "2" / "ext4.vhdx";
  ASSERT_TRUE(fs::exists(debian));
  const std::string listed = c->storage().get_volume("wsl", "Debian").path;
  const DeleteReport report = c->vms().remove("Debian", DeleteOptions{true, true});
  EXPECT_FALSE(fs::exists(debian));
  EXPECT_TRUE(fs::exists(ubuntu)) << "another distribution's disk";
  EXPECT_EQ(report.deleted, std::vector<std::string>{listed});
  EXPECT_TRUE(report.kept.empty());
  // Without storage the report is empty, as the contract says (the disk
  // still goes: --unregister takes it, which is why force is needed).
  const DeleteReport plain = c->vms().remove("Ubuntu", DeleteOptions{false, true});
  EXPECT_TRUE(plain.deleted.empty());
  EXPECT_TRUE(plain.kept.empty());
}

TEST_F(WslLifecycle, CreateImportsAnArchiveUnderTheLocation) {
  const std::string disk = pattern_bytes(100000);
  const fs::path archive = root_ / "in" / "rootfs.tar.gz";
  write_file(archive, "FAKEWSL-EXPORT tar.gz\n" + disk);
  auto c = open();
  VmSpec spec;
  spec.name = "Alpine-3.20";
  spec.disks.push_back(DiskSpec{0, archive.string()});
  spec.extras["version"] = "1";
  const VmInfo info = c->vms().create(spec);
  EXPECT_EQ(info.name, "Alpine-3.20");
  EXPECT_EQ(info.state, VmState::Off);
  EXPECT_EQ(info.extras.at("wsl_version"), "1");
  EXPECT_NE(info.id, "Alpine-3.20") << "the registry GUID";
  EXPECT_EQ(calls("--import"), (std::vector<std::vector<std::string>>{
                                   {"--import", "Alpine-3.20", (location_ / "Alpine-3.20").string(),
                                    archive.string(), "--version", "1"}}));
  const auto st = distro_state("Alpine-3.20");
  ASSERT_FALSE(st.is_null());
  EXPECT_EQ(st["version"], 1);
  EXPECT_EQ(read_file(location_ / "Alpine-3.20" / "rootfs.img"), disk);
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::AlreadyExists);
}

TEST_F(WslLifecycle, AFailedCreateLeavesNoDistributionAndATakenNameLeavesTheDiskAlone) {
  // An import wsl.exe dies in (killed mid-copy: the name stays Installing).
  const fs::path archive = root_ / "in" / "big.tar";
  write_file(archive, "FAKEWSL-EXPORT tar\n" + pattern_bytes(300000));
  ::setenv("FAKE_WSL_DIE_AFTER", "100000", 1);
  auto c = open();
  VmSpec spec;
  spec.name = "halfway";
  spec.disks.push_back(DiskSpec{0, archive.string()});
  EXPECT_TRUE(error_of([&] { c->vms().create(spec); }));
  ::unsetenv("FAKE_WSL_DIE_AFTER");
  EXPECT_TRUE(distro_state("halfway").is_null()) << "the half-imported name was left registered";
  EXPECT_FALSE(calls("--unregister").empty());

  // A taken name is refused before wsl.exe runs: nothing is unregistered
  // and the user's disk is untouched. (That a failed --import-in-place is
  // never undone by an unregister, which would delete the user's file, is
  // in vm_ops.cpp; the stand-in cannot make an in-place import fail half way.)
  clear_log();
  const fs::path vhdx = root_ / "in" / "mine.vhdx";
  write_file(vhdx, "the user's own disk");
  add_distro("taken");
  save();
  spec.name = "taken";
  spec.disks[0].path = vhdx.string();
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::AlreadyExists);
  EXPECT_TRUE(calls("--unregister").empty());
  EXPECT_EQ(read_file(vhdx), "the user's own disk");
}

TEST_F(WslLifecycle, CreateRegistersAVhdxInPlaceAndImportsAVhdWithVhd) {
  const fs::path vhdx = root_ / "in" / "my.vhdx";
  write_file(vhdx, "vhdx bytes");
  auto c = open();
  VmSpec spec;
  spec.name = "inplace";
  spec.disks.push_back(DiskSpec{0, vhdx.string()});
  const VmInfo info = c->vms().create(spec);
  EXPECT_EQ(info.extras.at("wsl_version"), "2");
  ASSERT_EQ(info.disks.size(), 1u);
  EXPECT_EQ(info.disks[0].path, vhdx.string()) << "registered where it is, under its own name";
  EXPECT_EQ(
      calls("--import-in-place"),
      (std::vector<std::vector<std::string>>{{"--import-in-place", "inplace", vhdx.string()}}));

  const fs::path vhd = root_ / "in" / "exported.vhd";
  write_file(vhd, "FAKEWSL-EXPORT vhd\nvhd bytes");
  spec.name = "fromvhd";
  spec.disks[0].path = vhd.string();
  c->vms().create(spec);
  EXPECT_EQ(calls("--import"),
            (std::vector<std::vector<std::string>>{
                {"--import", "fromvhd", (location_ / "fromvhd").string(), vhd.string(), "--vhd"}}));
  EXPECT_EQ(read_file(location_ / "fromvhd" / "ext4.vhdx"), "vhd bytes");
}

TEST_F(WslLifecycle, CreateRefusesWhatWslCannotImport) {
  auto c = open();
  VmSpec spec;
  spec.name = "x";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);  // no file
  const fs::path odd = root_ / "in" / "disk.qcow2";
  write_file(odd, "q");
  spec.disks.push_back(DiskSpec{0, odd.string()});
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.disks[0].path = (root_ / "in" / "missing.tar").string();
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  const fs::path tar = root_ / "in" / "ok.tar";
  write_file(tar, "FAKEWSL-EXPORT tar\n");
  spec.disks[0].path = tar.string();
  spec.extras["version"] = "3";
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  spec.extras = {{"memory", "1G"}};
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  EXPECT_TRUE(calls("--import").empty());
  // No ?location=: the message says how to give one.
  spec.extras.clear();
  auto no_location = open(false);
  auto e = error_of([&] { no_location->vms().create(spec); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(e->what()).find("?location="), std::string::npos) << e->what();
}

TEST_F(WslLifecycle, CreateWithANameWslRejectsIsInvalidArgument) {
  const fs::path tar = root_ / "in" / "ok.tar";
  write_file(tar, "FAKEWSL-EXPORT tar\nx");
  auto c = open();
  VmSpec spec;
  spec.name = "bad name";
  spec.disks.push_back(DiskSpec{0, tar.string()});
  EXPECT_ERROR_CODE(c->vms().create(spec), ErrorCode::InvalidArgument);
  EXPECT_TRUE(distro_state("bad name").is_null());
}

TEST_F(WslLifecycle, SetPropertyDefaultVersionSparseLocation) {
  add_distro("Ubuntu", "Stopped", 2, true);
  add_distro("Debian", "Stopped", 2, false, "debian disk");
  auto c = open();
  VmInfo info = c->vms().set_property("Debian", "default", "true");
  EXPECT_EQ(info.extras.at("default"), "true");
  EXPECT_EQ(distro_state("Debian")["default"], true);
  EXPECT_EQ(c->vms().get("Ubuntu").extras.at("default"), "false");
  EXPECT_ERROR_CODE(c->vms().set_property("Debian", "default", "false"),
                    ErrorCode::InvalidArgument);

  info = c->vms().set_property("Debian", "version", "1");
  EXPECT_EQ(info.extras.at("wsl_version"), "1");
  EXPECT_EQ(calls("--set-version"),
            (std::vector<std::vector<std::string>>{{"--set-version", "Debian", "1"}}));
  EXPECT_ERROR_CODE(c->vms().set_property("Debian", "version", "3"), ErrorCode::InvalidArgument);
  c->vms().set_property("Debian", "version", "2");

  c->vms().set_property("Debian", "sparse", "true");
  EXPECT_EQ(distro_state("Debian")["sparse"], true);
  c->vms().set_property("Debian", "sparse", "false");
  EXPECT_EQ(distro_state("Debian")["sparse"], false);
  EXPECT_ERROR_CODE(c->vms().set_property("Debian", "sparse", "maybe"), ErrorCode::InvalidArgument);

  const fs::path moved = root_ / "moved" / "debian";
  info = c->vms().set_property("Debian", "location", moved.string());
  EXPECT_EQ(info.extras.at("base_path"), moved.string());
  EXPECT_EQ(read_file(moved / "ext4.vhdx"), "debian disk");
  EXPECT_EQ(calls("--manage").back(),
            (std::vector<std::string>{"--manage", "Debian", "--move", moved.string()}));

  auto e = error_of([&] { c->vms().set_property("Debian", "memory", "1G"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  for (const char* key : {"default", "version", "sparse", "location"})
    EXPECT_NE(std::string(e->what()).find(key), std::string::npos) << e->what();
  EXPECT_ERROR_CODE(c->vms().set_property("nope", "default", "true"), ErrorCode::NotFound);
}

TEST_F(WslLifecycle, SetPropertyOfARunningDistributionIsWslExesConflict) {
  add_distro("Debian", "Running");
  auto c = open();
  EXPECT_ERROR_CODE(c->vms().set_property("Debian", "location", (root_ / "m").string()),
                    ErrorCode::Conflict);
}

TEST_F(WslLifecycle, ExportConfigIsAJsonDocumentOfTheFacts) {
  add_distro("Debian", "Running", 2, true);
  auto c = open();
  const auto doc = json::parse(c->vms().export_config("Debian"));
  EXPECT_EQ(doc["name"], "Debian");
  EXPECT_EQ(doc["id"], guid_for(1));
  EXPECT_EQ(doc["state"], "Running");
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["default"], true);
  EXPECT_EQ(doc["base_path"], (root_ / "disks" / "1").string());
  EXPECT_EQ(doc["registry"]["guid"], guid_for(1));
  EXPECT_EQ(doc["registry"]["name"], "Debian");
  EXPECT_ERROR_CODE(c->vms().export_config("nope"), ErrorCode::NotFound);
}

TEST_F(WslLifecycle, OldInboxWslExeConnectsButCannotList) {
  add_distro("Debian");
  ::setenv("FAKE_WSL_INBOX", "1", 1);
  auto c = open();
  auto e = error_of([&] { c->vms().list({}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e->what()).find("update WSL"), std::string::npos) << e->what();
  EXPECT_NE(e->detail().find("Invalid command line option"), std::string::npos) << e->detail();
  EXPECT_EQ(c->host().info().hypervisor_version, "inbox");
}

TEST_F(WslLifecycle, AMissingWslExeIsUnreachableNamingIt) {
  auto e = error_of([&] { registry().open("wsl:///?wsl=/nonexistent/bin/wsl.exe"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable);
  EXPECT_NE(std::string(e->what()).find("/nonexistent/bin/wsl.exe"), std::string::npos)
      << e->what();
  // The same through HYPERCTL_WSL.
  ::setenv("HYPERCTL_WSL", "/nonexistent/other/wsl.exe", 1);
  e = error_of([&] { registry().open("wsl:///"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable);
  EXPECT_NE(std::string(e->what()).find("/nonexistent/other/wsl.exe"), std::string::npos)
      << e->what();
}

TEST_F(WslLifecycle, EnvironmentVariablesNameThePrograms) {
  add_distro("Debian");
  ::setenv("HYPERCTL_WSL", HYPERCTL_TEST_FAKE_WSL, 1);
  ::setenv("HYPERCTL_REG", HYPERCTL_TEST_FAKE_REG, 1);
  auto c = registry().open("wsl:///");
  EXPECT_EQ(c->vms().get("Debian").id, guid_for(1)) << "reg.exe from HYPERCTL_REG";
}

TEST_F(WslLifecycle, BadUrisAreInvalidArgument) {
  EXPECT_ERROR_CODE(registry().open(uri() + "&colour=blue"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(registry().open("wsl:///somewhere"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(registry().open("wsl+tls:///"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(registry().open("wsl:///?identity=/x"), ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace hyperctl::test
