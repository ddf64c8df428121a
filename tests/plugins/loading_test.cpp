// The registry refuses broken plugins with a sentence naming the file, never
// crashes on them, and keeps serving the good plugin afterwards.
#include <algorithm>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"
#include "hyperctl/registry.hpp"
#include "plugin_dirs.hpp"

namespace hyperctl {
namespace {

using test::plugin_dir;
using test::plugin_file;

const std::vector<std::string> kBadPlugins = {"abi999",      "nofactory", "noabi", "throws",
                                              "throwserror", "nullptr",   "junk"};

class PluginLoading : public ::testing::Test {
 protected:
  // The caller's HYPERCTL_PLUGIN_PATH must not add plugins to these tests.
  test::ScopedEnv no_env_path_{"HYPERCTL_PLUGIN_PATH", std::nullopt};
};

// Loads `path` expecting a refusal; returns the error.
Error refusal(Registry& registry, const std::string& path) {
  try {
    registry.load_file(path);
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "foreign exception escaped the registry: " << e.what();
    return Error(ErrorCode::Internal, e.what());
  }
  ADD_FAILURE() << path << " was loaded, expected a refusal";
  return Error(ErrorCode::Internal, "loaded");
}

bool factory_ran(const std::string& name) {
  return std::getenv(("HYPERCTL_TEST_FACTORY_RAN_" + name).c_str()) != nullptr;
}

TEST_F(PluginLoading, LoadsTheToyPluginAndListsItsVms) {
  Registry registry;
  Backend& toy = registry.load_file(plugin_file("good", "toy"));
  EXPECT_EQ(toy.name(), "toy");
  EXPECT_EQ(toy.schemes(), std::vector<std::string>{"toy"});

  auto conn = registry.open("toy:///");
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(conn->backend_name(), "toy");
  const auto vms = conn->vms().list({});
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0].name, "alpha");
  EXPECT_EQ(conn->vms().get("beta").state, VmState::Off);
}

TEST_F(PluginLoading, LoadingTheSameFileTwiceGivesTheSameBackend) {
  Registry registry;
  Backend& first = registry.load_file(plugin_file("good", "toy"));
  Backend& second = registry.load_file(plugin_dir("good") + "/../good/libhyperctl-toy.so");
  EXPECT_EQ(&first, &second);
}

TEST_F(PluginLoading, RefusesAWrongAbiNamingTheFileAndBothNumbersWithoutCallingTheFactory) {
  Registry registry;
  const std::string path = plugin_file("bad", "abi999");
  const Error e = refusal(registry, path);
  const std::string msg = e.what();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_TRUE(std::regex_search(msg, std::regex("(^|[^0-9])999([^0-9]|$)"))) << msg;
  // Our number, after the word ABI (the version "0.1.0" must not satisfy this).
  EXPECT_TRUE(
      std::regex_search(msg, std::regex("ABI[^0-9]*" + std::to_string(kPluginAbi) + "([^0-9]|$)")))
      << msg;
  EXPECT_FALSE(factory_ran("abi999")) << "the factory ran before the ABI number was checked";
}

TEST_F(PluginLoading, RefusesAPluginWithoutAFactoryNamingTheMissingSymbol) {
  Registry registry;
  const std::string path = plugin_file("bad", "nofactory");
  const std::string msg = refusal(registry, path).what();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(kFactorySymbol), std::string::npos) << msg;
}

TEST_F(PluginLoading, RefusesAPluginWithoutAnAbiNumberWithoutCallingTheFactory) {
  Registry registry;
  const std::string path = plugin_file("bad", "noabi");
  const std::string msg = refusal(registry, path).what();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(kAbiSymbol), std::string::npos) << msg;
  EXPECT_FALSE(factory_ran("noabi"));
}

TEST_F(PluginLoading, TurnsAStdExceptionFromTheFactoryIntoAnErrorNamingTheFile) {
  Registry registry;
  const std::string path = plugin_file("bad", "throws");
  const std::string msg = refusal(registry, path).what();
  EXPECT_TRUE(factory_ran("throws"));
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("toy factory exploded (std::runtime_error)"), std::string::npos) << msg;
}

TEST_F(PluginLoading, TurnsAnErrorFromTheFactoryIntoAnErrorNamingTheFile) {
  Registry registry;
  const std::string path = plugin_file("bad", "throwserror");
  const std::string msg = refusal(registry, path).what();
  EXPECT_TRUE(factory_ran("throwserror"));
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("toy factory exploded (hyperctl::Error)"), std::string::npos) << msg;
}

TEST_F(PluginLoading, RefusesAFactoryThatReturnsNothing) {
  Registry registry;
  const std::string path = plugin_file("bad", "nullptr");
  const std::string msg = refusal(registry, path).what();
  EXPECT_TRUE(factory_ran("nullptr"));
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST_F(PluginLoading, RefusesATextFileNamedLikeAPlugin) {
  Registry registry;
  const std::string path = plugin_file("bad", "junk");
  const std::string msg = refusal(registry, path).what();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST_F(PluginLoading, RefusesAMissingFileNamingIt) {
  Registry registry;
  const std::string path = plugin_dir("bad") + "/libhyperctl-nosuchfile.so";
  const std::string msg = refusal(registry, path).what();
  EXPECT_NE(msg.find("libhyperctl-nosuchfile.so"), std::string::npos) << msg;
}

TEST_F(PluginLoading, RefusesASecondPluginClaimingATakenScheme) {
  Registry registry;
  registry.load_file(plugin_file("good", "toy"));
  const std::string path = plugin_file("bad", "toydup");
  const Error e = refusal(registry, path);
  const std::string msg = e.what();
  EXPECT_EQ(e.code(), ErrorCode::AlreadyExists) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'toy'"), std::string::npos) << msg;
  // The scheme still belongs to the first plugin.
  EXPECT_EQ(registry.backend_for("toy").name(), "toy");
}

TEST_F(PluginLoading, RefusalsAreRepeatableAndTheSame) {
  Registry registry;
  for (const auto& name : kBadPlugins) {
    const std::string path = plugin_file("bad", name);
    const std::string first = refusal(registry, path).what();
    const std::string second = refusal(registry, path).what();
    EXPECT_EQ(first, second) << name;
    EXPECT_NE(first.find(path), std::string::npos) << first;
  }
}

TEST_F(PluginLoading, TheToyPluginKeepsWorkingAfterEveryBadOneWasTried) {
  Registry registry;
  Backend& toy_before = registry.load_file(plugin_file("good", "toy"));
  for (const auto& name : kBadPlugins) refusal(registry, plugin_file("bad", name));
  refusal(registry, plugin_file("bad", "toydup"));

  EXPECT_EQ(&registry.backend_for("toy"), &toy_before);
  auto conn = registry.open("toy:///");
  EXPECT_EQ(conn->vms().list({}).size(), 2u);
}

TEST_F(PluginLoading, TheToyPluginLoadsAfterEveryBadOneWasTried) {
  Registry registry;
  for (const auto& name : kBadPlugins) refusal(registry, plugin_file("bad", name));
  registry.load_file(plugin_file("good", "toy"));
  auto conn = registry.open("toy:///");
  EXPECT_EQ(conn->vms().get("alpha").state, VmState::Running);
}

TEST_F(PluginLoading, DiscoverReportsEachBadPluginWithItsErrorAndStillListsTheToy) {
  Registry registry({plugin_dir("good"), plugin_dir("bad")});
  std::vector<PluginInfo> found;
  ASSERT_NO_THROW(found = registry.discover());

  auto info_for = [&](const std::string& path) -> const PluginInfo* {
    auto it = std::find_if(found.begin(), found.end(),
                           [&](const PluginInfo& i) { return i.path == path; });
    return it == found.end() ? nullptr : &*it;
  };

  const PluginInfo* toy = info_for(plugin_file("good", "toy"));
  ASSERT_NE(toy, nullptr);
  EXPECT_TRUE(toy->loaded);
  EXPECT_TRUE(toy->error.empty()) << toy->error;
  EXPECT_EQ(toy->name, "toy");
  EXPECT_EQ(toy->abi, kPluginAbi);
  EXPECT_EQ(toy->schemes, std::vector<std::string>{"toy"});
  EXPECT_TRUE(toy->capabilities.has(Operation::VmList));
  EXPECT_FALSE(toy->capabilities.has(Operation::VmStart));

  std::vector<std::string> bad = kBadPlugins;
  bad.push_back("toydup");
  for (const auto& name : bad) {
    const std::string path = plugin_file("bad", name);
    const PluginInfo* info = info_for(path);
    ASSERT_NE(info, nullptr) << "discover() does not report " << path;
    EXPECT_FALSE(info->loaded) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_NE(info->error.find(path), std::string::npos) << name << ": " << info->error;
  }

  // And the registry still serves the toy after all that.
  EXPECT_EQ(registry.open("toy:///")->vms().list({}).size(), 2u);
}

TEST_F(PluginLoading, AnErrorThrownInsideAPluginIsCaughtAsHyperctlError) {
  Registry registry({plugin_dir("good")});
  auto conn = registry.open("toy:///");
  try {
    conn->vms().get("no-such-vm");
    FAIL() << "get() of a missing VM returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_NE(std::string(e.what()).find("no-such-vm"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << "a plugin's hyperctl::Error was not caught as hyperctl::Error: " << e.what();
  }
}

}  // namespace
}  // namespace hyperctl
