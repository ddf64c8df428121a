// The CLI with hostile plugins on its search path (tests/plugins builds
// them): `backends` reports each broken one and keeps the good ones,
// `backends --check FILE` validates one file and exits with the status of
// the loader's error, and commands for a good plugin keep working while the
// broken ones sit in the same folder.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"

namespace hyperctl_cli_test {
namespace {

const std::string kGood = HYPERCTL_TEST_GOOD_PLUGIN_DIR;
const std::string kBad = HYPERCTL_TEST_BAD_PLUGIN_DIR;

/// Every file of bad/ and why it is broken.
const std::vector<std::string> kBroken = {"abi999",      "nofactory", "noabi", "throws",
                                          "throwserror", "nullptr",   "junk"};

const int kBackendFailure = hyperctl::exit_status(hyperctl::ErrorCode::BackendFailure);

/// A plugin file as the loader names it in messages (canonical path).
std::string file_in(const std::string& dir, const std::string& name) {
  const fs::path p = fs::path(dir) / ("libhyperctl-" + name + ".so");
  std::error_code ec;
  const auto c = fs::canonical(p, ec);
  return ec ? p.string() : c.string();
}

/// The good toy, then the broken plugins: the toy claims `toy` first.
RunOptions good_then_bad() {
  return with_env({{"HYPERCTL_PLUGIN_PATH", kGood + ":" + kBad}});
}

const json* plugin_named(const json& doc, const std::string& name) {
  for (const auto& p : doc.at("plugins"))
    if (p.at("name") == name) return &p;
  return nullptr;
}

/// One folder holding the toy and every broken plugin side by side.
class MixedFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& entry : fs::directory_iterator(kBad))
      fs::copy_file(entry.path(), dir_.path() / entry.path().filename());
    fs::copy_file(file_in(kGood, "toy"), dir_.path() / "libhyperctl-toy.so");
  }
  std::string folder() const { return dir_.path().string(); }
  TempDir dir_;
};

// ------------------------------------------------------------- backends --

TEST(CliPlugins, BackendsListsEachBrokenPluginWithItsErrorAndStillTheGoodOnes) {
  const auto r = run({"-o", "json", "backends"}, good_then_bad());
  expect_ok(r);
  const json doc = json::parse(r.out);
  for (const auto& name : kBroken) {
    const json* p = plugin_named(doc, name);
    ASSERT_TRUE(p) << name << " is missing from\n" << r.out;
    EXPECT_FALSE(p->at("loaded").get<bool>()) << name;
    ASSERT_TRUE(p->at("error").is_string()) << name;
    EXPECT_NE(p->at("error").get<std::string>().find(file_in(kBad, name)), std::string::npos)
        << "the error names the file: " << p->at("error");
    EXPECT_TRUE(p->at("capabilities").empty()) << name;
  }
  for (const char* good : {"toy", "libvirt"}) {
    const json* p = plugin_named(doc, good);
    ASSERT_TRUE(p) << good;
    EXPECT_TRUE(p->at("loaded").get<bool>()) << good;
    EXPECT_TRUE(p->at("error").is_null()) << good;
  }
  EXPECT_EQ(plugin_named(doc, "toy")->at("capabilities"), json({"vm.list", "vm.get"}));
}

TEST(CliPlugins, BackendsTableMarksEachBrokenPluginNotLoadedOnItsOwnRow) {
  const auto r = run({"backends"}, good_then_bad());
  expect_ok(r);
  for (const auto& name : kBroken) {
    bool row = false;
    for (const auto& l : lines_of(r.out))
      if (l.rfind(name + " ", 0) == 0) {
        row = true;
        EXPECT_NE(l.find("NOT LOADED: plugin " + file_in(kBad, name)), std::string::npos) << l;
      }
    EXPECT_TRUE(row) << name << "\n" << r.out;
  }
  // The matrix has a column for each loaded plugin, none for the broken ones.
  const auto lines = lines_of(r.out);
  const auto header = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.rfind("OPERATION", 0) == 0;
  });
  ASSERT_NE(header, lines.end()) << r.out;
  EXPECT_NE(header->find("toy"), std::string::npos) << *header;
  EXPECT_EQ(header->find("abi999"), std::string::npos) << *header;
}

TEST(CliPlugins, PluginClaimingATakenSchemeIsRefusedNamingBothFiles) {
  const auto r = run({"-o", "json", "backends"}, good_then_bad());
  expect_ok(r);
  const json doc = json::parse(r.out);
  const json* dup = plugin_named(doc, "toydup");
  ASSERT_TRUE(dup) << r.out;
  EXPECT_FALSE(dup->at("loaded").get<bool>());
  const std::string error = dup->at("error");
  EXPECT_NE(error.find("claims the scheme 'toy'"), std::string::npos) << error;
  EXPECT_NE(error.find(file_in(kBad, "toydup")), std::string::npos) << error;
  EXPECT_NE(error.find(file_in(kGood, "toy")), std::string::npos) << error;
}

// ------------------------------------------------------ backends --check --

TEST(CliPlugins, CheckOfEachBrokenFileIsOneLineNamingItWithTheBackendFailureStatus) {
  for (const auto& name : kBroken) {
    SCOPED_TRACE(name);
    const auto r = run({"backends", "--check", kBad + "/libhyperctl-" + name + ".so"});
    expect_error(r, kBackendFailure, "hyperctl: error: plugin " + file_in(kBad, name) + " ");
  }
}

TEST(CliPlugins, CheckOfAWrongAbiShowsBothNumbers) {
  const auto r = run({"backends", "--check", file_in(kBad, "abi999")});
  expect_error(r, kBackendFailure);
  EXPECT_NE(r.err.find("built for plugin ABI 999"), std::string::npos) << r;
  EXPECT_NE(r.err.find("loads plugin ABI " + std::to_string(hyperctl::kPluginAbi) + " only"),
            std::string::npos)
      << r;
}

TEST(CliPlugins, CheckSaysWhatIsMissingFromEachBrokenPlugin) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"noabi", "exports no hyperctl_plugin_abi symbol"},
      {"nofactory", "exports no hyperctl_plugin_factory entry point"},
      {"throws", "failed to start: toy factory exploded (std::runtime_error)"},
      {"throwserror", "failed to start: toy factory exploded (hyperctl::Error)"},
      {"nullptr", "returned no backend from its factory"},
      {"junk", "cannot be loaded: "},
  };
  for (const auto& [name, words] : expected) {
    const auto r = run({"backends", "--check", file_in(kBad, name)});
    expect_error(r, kBackendFailure, words);
  }
}

TEST(CliPlugins, CheckOfFilesThatAreNoSharedLibraryOrNoFileAtAll) {
  TempDir dir;
  const std::string text = dir.write("plugin.txt", "#!/bin/sh\necho not a library\n");
  expect_error(run({"backends", "--check", text}), kBackendFailure, text + " cannot be loaded: ");
  const std::string empty = dir.write("libhyperctl-empty.so", "");
  expect_error(run({"backends", "--check", empty}), kBackendFailure, "cannot be loaded");
  const std::string missing = (dir.path() / "libhyperctl-missing.so").string();
  expect_error(run({"backends", "--check", missing}), kBackendFailure,
               missing + " is not a regular file");
  expect_error(run({"backends", "--check", dir.path().string()}), kBackendFailure,
               "is not a regular file");
}

TEST(CliPlugins, CheckOfTheToyPrintsItsDescriptionAndCapabilities) {
  const auto r = run({"backends", "--check", file_in(kGood, "toy")});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  auto has_line = [&](const std::string& start, const std::string& rest) {
    for (const auto& l : lines)
      if (l.rfind(start, 0) == 0 && l.find(rest) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has_line("Name:", "toy")) << r.out;
  EXPECT_TRUE(has_line("File:", file_in(kGood, "toy"))) << r.out;
  EXPECT_TRUE(has_line("ABI:", std::to_string(hyperctl::kPluginAbi))) << r.out;
  EXPECT_TRUE(has_line("Schemes:", "toy")) << r.out;
  EXPECT_TRUE(has_line("Description:", "in-memory toy backend")) << r.out;
  EXPECT_TRUE(has_line("Declares:", "2 of ")) << r.out;
  EXPECT_TRUE(has_line("vm.list ", "yes")) << r.out;
  EXPECT_TRUE(has_line("vm.get ", "yes")) << r.out;
  EXPECT_TRUE(has_line("vm.start ", "-")) << r.out;
  EXPECT_FALSE(has_line("vm.start ", "yes")) << r.out;
}

TEST(CliPlugins, CheckJsonIsTheBackendCheckDocument) {
  const auto r = run({"-o", "json", "backends", "--check", file_in(kGood, "toy")});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.backend-check/1");
  const json& p = doc.at("plugin");
  EXPECT_EQ(p.at("name"), "toy");
  EXPECT_EQ(p.at("path"), file_in(kGood, "toy"));
  EXPECT_EQ(p.at("abi"), hyperctl::kPluginAbi);
  EXPECT_TRUE(p.at("loaded").get<bool>());
  EXPECT_TRUE(p.at("error").is_null());
  EXPECT_EQ(p.at("schemes"), json({"toy"}));
  EXPECT_EQ(p.at("capabilities"), json({"vm.list", "vm.get"}));
  EXPECT_EQ(doc.at("operations").size(), hyperctl::kOperationCount);
}

TEST(CliPlugins, CheckLoadsOnlyTheFileItIsGiven) {
  // Broken plugins on every search path, and a toy twin claiming the same
  // scheme: --check neither searches nor sees them.
  const auto r =
      run({"--plugin-dir", kBad, "-o", "json", "backends", "--check", file_in(kBad, "toydup")},
          with_env({{"HYPERCTL_PLUGIN_PATH", kGood}}));
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("plugin").at("name"), "toydup");
  EXPECT_EQ(r.out.find("abi999"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(file_in(kGood, "toy") + "\""), std::string::npos) << r.out;
}

TEST(CliPlugins, CheckOfARelativePathNamesTheFileInFull) {
  const auto r = run({"backends", "--check", fs::relative(file_in(kBad, "nullptr")).string()});
  expect_error(r, kBackendFailure, file_in(kBad, "nullptr"));
}

// ---------------------------------------------- good plugins keep working --

TEST_F(MixedFolder, ToyServesItsSchemeWithBrokenPluginsInTheSameFolder) {
  const auto r = run({"--plugin-dir", folder(), "-o", "json", "-c", "toy:///", "list"});
  expect_ok(r);
  std::vector<std::string> names;
  const json doc = json::parse(r.out);
  for (const auto& vm : doc.at("vms")) names.push_back(vm.at("name"));
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta"})) << r.out;

  const auto info = run({"--plugin-dir", folder(), "-c", "toy:///", "info", "alpha"});
  expect_ok(info);
  EXPECT_NE(info.out.find("alpha"), std::string::npos) << info;
}

TEST_F(MixedFolder, ToyStillAnswersUnsupportedForWhatItLacks) {
  expect_error(run({"--plugin-dir", folder(), "-c", "toy:///", "start", "alpha"}),
               hyperctl::exit_status(hyperctl::ErrorCode::Unsupported),
               "the toy backend does not support vm.start");
}

TEST_F(MixedFolder, LibvirtServesTestUrisWithBrokenPluginsOnThePath) {
  const auto r = run({"--plugin-dir", folder(), "-c", "test:///default", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("test"), std::string::npos) << r;
}

TEST_F(MixedFolder, BackendsListsAllOfThemAndExitsZero) {
  const auto r = run({"--plugin-dir", folder(), "-o", "json", "backends"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  for (const auto& name : kBroken) {
    const json* p = plugin_named(doc, name);
    ASSERT_TRUE(p) << name;
    EXPECT_FALSE(p->at("loaded").get<bool>()) << name;
  }
  const json* toy = plugin_named(doc, "toy");
  ASSERT_TRUE(toy);
  EXPECT_TRUE(toy->at("loaded").get<bool>());
  const json* dup = plugin_named(doc, "toydup");
  ASSERT_TRUE(dup);
  EXPECT_NE(dup->at("error").get<std::string>().find(file_in(folder(), "toy")), std::string::npos)
      << dup->at("error");
}

TEST(CliPlugins, UnknownSchemeWithBrokenPluginsSaysHowManyFailed) {
  const auto r = run({"-c", "nosuch:///", "list"}, with_env({{"HYPERCTL_PLUGIN_PATH", kBad}}));
  expect_error(r, hyperctl::exit_status(hyperctl::ErrorCode::Unsupported),
               "no backend serves the scheme 'nosuch'");
  EXPECT_NE(r.err.find("plugin(s) failed to load: see 'hyperctl backends'"), std::string::npos)
      << r;
}

}  // namespace
}  // namespace hyperctl_cli_test
