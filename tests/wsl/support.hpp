// Shared helpers of the WSL suites: a stand-in state folder per test
// (tests/wsl/fake), the plugin opened through the Registry as the CLI does,
// and readers of the stand-in's state.json and invocation log.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../common/expect_error.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// One registry for the process: plugin libraries stay loaded for its life.
inline Registry& registry() {
  static Registry r({HYPERCTL_TEST_WSL_PLUGIN_DIR});
  return r;
}

inline void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

/// Bytes that are not all alike, `n` of them, varying with `seed`.
inline std::string pattern_bytes(std::size_t n, unsigned seed = 1) {
  std::string out(n, '\0');
  std::uint32_t x = 2463534242u + seed;
  for (auto& ch : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = static_cast<char>(x & 0xFF);
  }
  return out;
}

/// The stand-in's knobs; every test starts with none set.
inline const char* const kKnobs[] = {"FAKE_WSL_ENCODING",   "FAKE_WSL_NEWLINE",
                                     "FAKE_WSL_LANG",       "FAKE_WSL_INBOX",
                                     "FAKE_WSL_SLOW_MS",    "FAKE_WSL_DIE_AFTER",
                                     "FAKE_WSL_NAME_CHECK", "WSL_UTF8",
                                     "WSL_DISTRO_NAME",     "WSLENV",
                                     "HYPERCTL_WSL",        "HYPERCTL_REG"};

/// A fresh stand-in state folder, a folder for imports (`location`) and
/// the invocation log, all under one temporary folder removed at the end.
class WslFake : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hyperctl-wsl-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    state_dir_ = root_ / "state";
    location_ = root_ / "distros";
    fs::create_directories(state_dir_);
    fs::create_directories(location_);
    for (const char* k : kKnobs) ::unsetenv(k);
    ::setenv("FAKE_WSL_STATE", state_dir_.c_str(), 1);
    ::setenv("FAKE_WSL_LOG", log_path().c_str(), 1);
    state_ = json{{"wsl_version", "2.3.24.0"},
                  {"kernel_version", "5.15.153.1-2"},
                  {"default_version", 2},
                  {"distros", json::array()}};
    save();
  }

  void TearDown() override {
    for (const char* k : kKnobs) ::unsetenv(k);
    ::unsetenv("FAKE_WSL_STATE");
    ::unsetenv("FAKE_WSL_LOG");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path log_path() const { return root_ / "log.jsonl"; }

  static std::string guid_for(int n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "{0b3a0000-0000-4000-8000-%012d}", n);
    return buf;
  }

  /// Adds a distribution with a disk of `disk` bytes under root/disks/<n>.
  json& add_distro(const std::string& name, const std::string& state = "Stopped", int version = 2,
                   bool is_default = false, const std::string& disk = "disk") {
    const int n = static_cast<int>(state_["distros"].size()) + 1;
    const fs::path base = root_ / "disks" / std::to_string(n);
    write_file(base / (version == 2 ? "ext4.vhdx" : "rootfs.img"), disk);
    state_["distros"].push_back({{"name", name},
                                 {"guid", guid_for(n)},
                                 {"state", state},
                                 {"version", version},
                                 {"default", is_default},
                                 {"base_path", base.string()},
                                 {"sparse", false},
                                 {"size_bytes", 1ull << 40}});
    save();
    return state_["distros"].back();
  }

  void save() { std::ofstream(state_dir_ / "state.json") << state_.dump(2); }

  /// state.json as the stand-in left it.
  json state() const { return json::parse(read_file(state_dir_ / "state.json")); }

  /// The entry of `name` in state.json, or null.
  json distro_state(const std::string& name) const {
    const json all = state();  // (a loop over state()["distros"] would outlive it)
    for (const auto& d : all["distros"])
      if (d["name"] == name) return d;
    return nullptr;
  }

  /// Every invocation logged so far (lines without "argv" left out).
  std::vector<json> log() const {
    std::vector<json> out;
    std::ifstream in(log_path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = json::parse(line);
      if (j.contains("argv")) out.push_back(j);
    }
    return out;
  }

  /// The wsl.exe invocations whose first argument is `first`.
  std::vector<std::vector<std::string>> calls(const std::string& first) const {
    std::vector<std::vector<std::string>> out;
    for (const auto& j : log()) {
      if (j["prog"] != "wsl") continue;
      auto argv = j["argv"].get<std::vector<std::string>>();
      if (!argv.empty() && argv[0] == first) out.push_back(argv);
    }
    return out;
  }

  void clear_log() { fs::remove(log_path()); }

  /// wsl:///?wsl=<fake-wsl>&reg=<fake-reg>[&location=<folder>]
  std::string uri(bool with_location = true) const {
    std::string u =
        std::string("wsl:///?wsl=") + HYPERCTL_TEST_FAKE_WSL + "&reg=" + HYPERCTL_TEST_FAKE_REG;
    if (with_location) u += "&location=" + location_.string();
    return u;
  }

  std::unique_ptr<Connection> open(bool with_location = true) {
    return registry().open(uri(with_location));
  }

  fs::path root_, state_dir_, location_;
  json state_;
};

}  // namespace hyperctl::test
