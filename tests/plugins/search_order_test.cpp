// Where the registry looks for plugins, in which order, and that opening a
// URI loads only the plugin for its scheme.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "plugin_dirs.hpp"

namespace hyperctl {
namespace {

using test::plugin_dir;
using test::ScopedEnv;

std::string normal(const std::string& dir) {
  return std::filesystem::path(dir).lexically_normal().string();
}

std::ptrdiff_t index_of(const std::vector<std::string>& path, const std::string& dir) {
  auto it = std::find(path.begin(), path.end(), normal(dir));
  return it == path.end() ? -1 : it - path.begin();
}

TEST(PluginSearchPath, PluginDirsComeFirstThenTheEnvironmentThenTheBuiltInFolders) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("order-env") + "::" + plugin_dir("bad") + ":");
  Registry registry({plugin_dir("order-cli"), plugin_dir("good")});
  const auto& path = registry.search_path();

  ASSERT_GE(path.size(), 5u);
  EXPECT_EQ(path[0], normal(plugin_dir("order-cli")));
  EXPECT_EQ(path[1], normal(plugin_dir("good")));
  EXPECT_EQ(path[2], normal(plugin_dir("order-env")));  // empty entries are skipped
  EXPECT_EQ(path[3], normal(plugin_dir("bad")));
  EXPECT_EQ(path.back(), normal(HYPERCTL_TEST_BUILD_PLUGIN_DIR));
}

TEST(PluginSearchPath, ListsAFolderGivenTwiceOnce) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("good"));
  Registry registry({plugin_dir("good"), plugin_dir("good") + "/."});
  const auto& path = registry.search_path();
  EXPECT_EQ(std::count(path.begin(), path.end(), normal(plugin_dir("good"))), 1);
}

TEST(PluginSearchPath, APluginDirWinsOverTheEnvironment) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("order-env"));
  Registry registry({plugin_dir("order-cli")});
  EXPECT_EQ(registry.backend_for("toy").description(), "toy from --plugin-dir");
}

TEST(PluginSearchPath, TheEnvironmentIsUsedWithoutPluginDirs) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("order-env"));
  Registry registry;
  EXPECT_EQ(registry.backend_for("toy").description(), "toy from HYPERCTL_PLUGIN_PATH");
}

TEST(PluginSearchPath, TheFirstEnvironmentFolderWins) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("order-cli") + ":" + plugin_dir("order-env"));
  Registry registry;
  EXPECT_EQ(registry.backend_for("toy").description(), "toy from --plugin-dir");
}

// The build tree's plugin folder may hold the real libvirt plugin; a plugin
// of the same name on HYPERCTL_PLUGIN_PATH must shadow it.
TEST(PluginSearchPath, TheEnvironmentWinsOverTheBuiltInFolders) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", plugin_dir("order-env"));
  Registry registry;
  const auto& path = registry.search_path();
  EXPECT_LT(index_of(path, plugin_dir("order-env")),
            index_of(path, HYPERCTL_TEST_BUILD_PLUGIN_DIR));
  Backend& libvirt = registry.backend_for("test");
  EXPECT_EQ(libvirt.description(), "stand-in libvirt from HYPERCTL_PLUGIN_PATH");
}

TEST(PluginSearchPath, ASchemeNoPluginServesIsRefusedNamingTheFoldersSearched) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", std::nullopt);
  Registry registry({plugin_dir("good")});
  try {
    registry.backend_for("nosuchscheme");
    FAIL() << "a backend was found for 'nosuchscheme'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("nosuchscheme"), std::string::npos) << msg;
    EXPECT_NE(msg.find(normal(plugin_dir("good"))), std::string::npos) << msg;
  }
}

std::vector<std::string> loaded_names(const Registry& registry) {
  std::vector<std::string> names;
  for (const auto& info : registry.loaded()) names.push_back(info.name);
  std::sort(names.begin(), names.end());
  return names;
}

// lazy/ holds a stand-in libvirt plugin and a spy whose library sets
// HYPERCTL_TEST_SPY_LOADED when the dynamic loader maps it, a witness
// independent of the registry's own bookkeeping (Registry::loaded()). One
// test only: a library is loaded once per process.
TEST(PluginSearchPath, OpeningAUriLoadsOnlyThePluginForItsScheme) {
  ScopedEnv env("HYPERCTL_PLUGIN_PATH", std::nullopt);
  ScopedEnv spy("HYPERCTL_TEST_SPY_LOADED", std::nullopt);
  Registry registry({plugin_dir("good"), plugin_dir("lazy")});
  EXPECT_TRUE(registry.loaded().empty());

  // An unknown scheme: folders are tried in order and the search stops at the
  // first plugin serving it.
  auto toy = registry.open("toy:///");
  EXPECT_EQ(toy->backend_name(), "toy");
  EXPECT_EQ(loaded_names(registry), std::vector<std::string>{"toy"});
  EXPECT_EQ(std::getenv("HYPERCTL_TEST_SPY_LOADED"), nullptr) << "toy:/// loaded the spy plugin";

  // A known scheme goes straight to the plugin expected to serve it.
  auto test = registry.open("test:///default");
  EXPECT_EQ(test->backend_name(), "libvirt");
  EXPECT_EQ(registry.backend_for("test").description(), "stand-in libvirt");
  EXPECT_EQ(loaded_names(registry), (std::vector<std::string>{"libvirt", "toy"}));
  EXPECT_EQ(std::getenv("HYPERCTL_TEST_SPY_LOADED"), nullptr)
      << "test:///default loaded the spy plugin";

  // discover() loads the rest, and the spy does report it (so the checks
  // above can fail).
  registry.discover();
  ASSERT_NE(std::getenv("HYPERCTL_TEST_SPY_LOADED"), nullptr);
  const auto names = loaded_names(registry);
  EXPECT_NE(std::find(names.begin(), names.end(), "spy"), names.end());
}

}  // namespace
}  // namespace hyperctl
