// hyperctl against the stand-in wsl.exe and reg.exe (tests/wsl/fake): the
// same commands as on every backend, checked through what the stand-in
// recorded (its state file and the argv it received).
#include <openssl/evp.h>

#include <fstream>
#include <iomanip>
#include <random>

#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string sha256_of(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::ostringstream hex;
  for (unsigned i = 0; i < len; ++i)
    hex << std::hex << std::setw(2) << std::setfill('0') << int(md[i]);
  return hex.str();
}

const std::string kHostile = "web 1&x%PATH%^'q\"$(id);ü名";

class CliWsl : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "hyperctl-cli-wsl-XXXXXX").string();
    dir_ = ::mkdtemp(templ.data());
    state_ = dir_ / "state";
    fs::create_directories(state_);
    fs::create_directories(dir_ / "distros");
    add("Ubuntu-22.04", "Running", 2, true, "{11111111-2222-4333-8444-555555555501}");
    add("alpine.test-1", "Stopped", 2, false, "{11111111-2222-4333-8444-555555555502}");
    add("legacy", "Stopped", 1, false, "{11111111-2222-4333-8444-555555555503}");
    add("busy", "Installing", 2, false, "{11111111-2222-4333-8444-555555555504}");
    add(kHostile, "Stopped", 2, false, "{11111111-2222-4333-8444-555555555505}");
    save();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void add(const std::string& name, const std::string& state, int version, bool is_default,
           const std::string& guid) {
    const fs::path base = dir_ / "distros" / guid;
    fs::create_directories(base);
    std::string disk(300 * 1024 + distros_.size(), '\0');
    std::mt19937 rng(unsigned(distros_.size() + 1));
    for (auto& c : disk) c = char(rng());
    std::ofstream(base / (version == 2 ? "ext4.vhdx" : "rootfs.img"), std::ios::binary) << disk;
    distros_.push_back({{"name", name},
                        {"guid", guid},
                        {"state", state},
                        {"version", version},
                        {"default", is_default},
                        {"base_path", base.string()}});
  }
  void save() {
    json doc = {{"wsl_version", "2.3.24.0"}, {"default_version", 2}, {"distros", distros_}};
    std::ofstream(state_ / "state.json") << doc.dump(2);
  }
  json state() const { return json::parse(read_file(state_ / "state.json")); }
  json distro(const std::string& name) const {
    const json all = state();
    for (const auto& d : all["distros"])
      if (d["name"] == name) return d;
    return nullptr;
  }
  /// Every argv the stand-in received, in order.
  std::vector<std::vector<std::string>> calls() const {
    std::vector<std::vector<std::string>> all;
    std::ifstream in(dir_ / "wsl.log");
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line);
      if (j.contains("argv")) all.push_back(j["argv"].get<std::vector<std::string>>());
    }
    return all;
  }

  RunOptions env() const {
    return with_env({{"HYPERCTL_WSL", std::string(FAKE_WSL)},
                     {"HYPERCTL_REG", std::string(FAKE_REG)},
                     {"FAKE_WSL_STATE", state_.string()},
                     {"FAKE_WSL_LOG", (dir_ / "wsl.log").string()}});
  }
  Result hyperctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", uri()});
    return run(args, env());
  }
  std::string uri() const { return "wsl:///?location=" + (dir_ / "imported").string(); }

  fs::path dir_, state_;
  json distros_ = json::array();
};

TEST_F(CliWsl, ListShowsEveryDistributionWithItsStateAndRegistryId) {
  const Result r = hyperctl({"-o", "json", "list"});
  ASSERT_EQ(r.status, 0) << r;
  const json doc = json::parse(r.out);
  std::map<std::string, json> by_name;
  for (const auto& vm : doc["vms"]) by_name[vm["name"].get<std::string>()] = vm;
  ASSERT_EQ(by_name.size(), 5u) << r.out;
  EXPECT_EQ(by_name["Ubuntu-22.04"]["state"], "running");
  EXPECT_EQ(by_name["alpine.test-1"]["state"], "off");
  EXPECT_EQ(by_name["busy"]["state"], "transitional");
  EXPECT_EQ(by_name[kHostile]["state"], "off");
  EXPECT_NE(by_name["legacy"]["id"].get<std::string>().find("555555555503"), std::string::npos)
      << by_name["legacy"];
  EXPECT_EQ(by_name["Ubuntu-22.04"]["backend"], "wsl");

  const Result table = hyperctl({"list", "--state", "running"});
  ASSERT_EQ(table.status, 0) << table;
  EXPECT_NE(table.out.find("Ubuntu-22.04"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("alpine.test-1"), std::string::npos) << table.out;
}

TEST_F(CliWsl, DeleteIsRefusedWithoutForceAndThenUnregisters) {
  Result r = hyperctl({"delete", "alpine.test-1"});
  EXPECT_EQ(r.status, 5) << r;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_FALSE(distro("alpine.test-1").is_null()) << "refused, yet it is gone";
  for (const auto& argv : calls())
    EXPECT_TRUE(std::find(argv.begin(), argv.end(), "--unregister") == argv.end())
        << "wsl.exe was asked to unregister without --force";

  r = hyperctl({"delete", "--force", "alpine.test-1"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(distro("alpine.test-1").is_null());
}

TEST_F(CliWsl, HostileNameReachesWslExeAsOneArgument) {
  const Result r = hyperctl({"start", "--", kHostile});
  ASSERT_EQ(r.status, 0) << r;
  bool seen = false;
  for (const auto& argv : calls())
    seen = seen || std::find(argv.begin(), argv.end(), kHostile) != argv.end();
  EXPECT_TRUE(seen) << "no wsl.exe call carried the name as one argument";
  EXPECT_EQ(distro(kHostile)["state"], "Running");
}

TEST_F(CliWsl, SetPropertyDefaultAndUnknownKey) {
  Result r = hyperctl({"set", "legacy", "--property", "default=true"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(distro("legacy")["default"], true);
  EXPECT_EQ(distro("Ubuntu-22.04")["default"], false);

  r = hyperctl({"set", "legacy", "--property", "colour=blue"});
  EXPECT_EQ(r.status, 2) << r;
  EXPECT_NE(r.err.find("default"), std::string::npos) << "names the known keys: " << r.err;
  r = hyperctl({"set", "legacy", "--property", "novalue"});
  EXPECT_EQ(r.status, 2) << r;
}

TEST_F(CliWsl, HostShutdownStopsEveryDistribution) {
  const Result r = hyperctl({"host", "shutdown"});
  ASSERT_EQ(r.status, 0) << r;
  const json all = state();
  for (const auto& d : all["distros"]) {
    if (d["name"] != "busy") {
      EXPECT_EQ(d["state"], "Stopped") << d;
    }
  }
}

TEST_F(CliWsl, MissingDistributionIsNotFoundInOneLine) {
  Result r = hyperctl({"info", "no-such-distro"});
  EXPECT_EQ(r.status, 3) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find("no-such-distro"), std::string::npos) << r.err;
  r = hyperctl({"--debug", "start", "no-such-distro"});
  EXPECT_EQ(r.status, 3) << r;
  EXPECT_NE(r.err.find("operation=vm.start"), std::string::npos) << r.err;
}

TEST_F(CliWsl, WslExeRefusalKeepsItsOwnTextUnderDebug) {
  // The state says stopped, wsl.exe's own view (a running distribution
  // cannot be moved) decides: a conflict, with its text in --debug.
  distros_[1]["state"] = "Running";
  save();
  const Result r = hyperctl(
      {"--debug", "set", "alpine.test-1", "--property", "location=" + (dir_ / "moved").string()});
  EXPECT_EQ(r.status, 5) << r;
  EXPECT_NE(r.err.find("WSL_E_DISTRO_NOT_STOPPED"), std::string::npos) << r.err;
}

TEST_F(CliWsl, ExportThenImportKeepsTheBytes) {
  const fs::path archive = dir_ / "alpine.vhdx";
  Result r = hyperctl({"volume", "download", "wsl/alpine.test-1", archive.string()});
  ASSERT_EQ(r.status, 0) << r;
  const std::string exported = read_file(archive);
  const fs::path disk =
      fs::path(distro("alpine.test-1")["base_path"].get<std::string>()) / "ext4.vhdx";
  EXPECT_NE(exported.find(read_file(disk)), std::string::npos) << "the export holds the disk";

  r = hyperctl({"volume", "download", "wsl/alpine.test-1", archive.string()});
  EXPECT_EQ(r.status, 6) << "an existing file is not replaced without --overwrite: " << r;
  EXPECT_EQ(read_file(archive), exported);

  r = hyperctl({"volume", "upload", "wsl/copy-1", archive.string()});
  ASSERT_EQ(r.status, 0) << r;
  const json copy = distro("copy-1");
  ASSERT_FALSE(copy.is_null());
  EXPECT_EQ(sha256_of(read_file(fs::path(copy["base_path"].get<std::string>()) / "ext4.vhdx")),
            sha256_of(read_file(disk)));
}

TEST_F(CliWsl, BackendsListsWslWithItsOperations) {
  const Result r = run({"-o", "json", "backends"}, env());
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_NE(r.out.find("\"wsl\""), std::string::npos) << r.out;
}

}  // namespace
