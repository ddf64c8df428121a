// Distribution names that a shell would mangle reach wsl.exe as one
// argument each, byte for byte (checked in the stand-in's log), and come
// back intact from its list.
#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

const std::vector<std::string> kHostile = {
    "my distro", "it's",   "say \"hi\"", "a&b",    "100%PATH%", "x^y",
    "$(id)",     "a;b |c", "`uname`",    "ü-über", "名前",      "tab\there",
};

using WslHostileNames = WslFake;

TEST_F(WslHostileNames, EveryOperationPassesTheNameAsOneArgument) {
  ::setenv("FAKE_WSL_NAME_CHECK", "0", 1);
  auto c = open();
  for (const auto& name : kHostile) {
    SCOPED_TRACE(name);
    clear_log();
    const fs::path archive = root_ / "in.tar";
    write_file(archive, "FAKEWSL-EXPORT tar\n" + name);
    c->storage().upload_volume("wsl", name, archive.string(), {}, {}, CancelToken{});
    EXPECT_EQ(calls("--import").at(0).at(1), name);
    ASSERT_FALSE(distro_state(name).is_null());

    EXPECT_EQ(c->vms().get(name).name, name) << "listed back intact";
    c->vms().start(name);
    EXPECT_EQ(calls("--distribution").at(0).at(1), name);
    EXPECT_EQ(distro_state(name)["state"], "Running");
    c->vms().power_off(name);
    EXPECT_EQ(calls("--terminate").at(0), (std::vector<std::string>{"--terminate", name}));
    c->vms().set_property(name, "default", "true");
    EXPECT_EQ(calls("--set-default").at(0), (std::vector<std::string>{"--set-default", name}));
    EXPECT_EQ(distro_state(name)["default"], true);

    const fs::path out = root_ / "out.tar";
    c->storage().download_volume("wsl", name, out.string(), {}, {}, CancelToken{});
    EXPECT_EQ(read_file(out), "FAKEWSL-EXPORT tar\n" + name);
    EXPECT_EQ(calls("--export").at(0).at(1), name);
    fs::remove(out);

    c->vms().remove(name, DeleteOptions{false, true});
    EXPECT_EQ(calls("--unregister").at(0),
              (std::vector<std::string>{"--unregister", name, "--force"}));
    EXPECT_TRUE(distro_state(name).is_null());
  }
}

TEST_F(WslHostileNames, NamesFromTheStateAreListedAndFoundInEveryEncoding) {
  for (const auto& name : kHostile) add_distro(name);
  for (const char* encoding : {"utf8", "utf16", "utf16bom"}) {
    SCOPED_TRACE(encoding);
    ::setenv("FAKE_WSL_ENCODING", encoding, 1);
    auto c = open();
    const auto all = c->vms().list({});
    ASSERT_EQ(all.size(), kHostile.size());
    for (std::size_t i = 0; i < kHostile.size(); ++i) {
      EXPECT_EQ(all[i].name, kHostile[i]);
      EXPECT_EQ(all[i].id, guid_for(static_cast<int>(i) + 1)) << "matched in reg.exe's output";
    }
  }
}

TEST_F(WslHostileNames, ANewlineReachesWslExeWhichRejectsIt) {
  const std::string name = "evil\nname; rm -rf ~";
  const fs::path archive = root_ / "in.tar";
  write_file(archive, "FAKEWSL-EXPORT tar\nx");
  auto c = open();
  VmSpec spec;
  spec.name = name;
  spec.disks.push_back(DiskSpec{0, archive.string()});
  auto e = error_of([&] { c->vms().create(spec); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  const std::string what = e->what();
  EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  EXPECT_NE(what.find("evil\\nname"), std::string::npos) << what;
  const auto imports = calls("--import");
  ASSERT_EQ(imports.size(), 1u);
  EXPECT_EQ(imports[0].at(1), name);
  EXPECT_EQ(imports[0].at(2), (location_ / name).string());
}

}  // namespace
}  // namespace hyperctl::test
