// The same backend over ssh (wsl://user@127.0.0.1:PORT/) through the sshd
// test bed (tests/testbed/sshd.sh, fixture ssh_daemon); skipped without it.
// The remote shell does not see this process's environment, so wsl.exe and
// reg.exe are wrapper scripts that set the stand-in's state folder and log.
#include <sys/stat.h>

#include <regex>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

class WslSsh : public WslFake {
 protected:
  void SetUp() override {
    WslFake::SetUp();
    const char* state = std::getenv("HYPERCTL_TESTBED_SSH_STATE");
    if (!state || !*state) GTEST_SKIP() << "HYPERCTL_TESTBED_SSH_STATE not set: no sshd test bed";
    const fs::path dir = state;
    if (fs::exists(dir / "unavailable")) GTEST_SKIP() << read_file(dir / "unavailable");
    const auto line = [&](const char* f) {
      std::string v = read_file(dir / f);
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      return v;
    };
    if (line("port").empty()) GTEST_SKIP() << "the sshd test bed is not running (" << dir << ")";
    const fs::path wsl = wrapper("wsl", HYPERCTL_TEST_FAKE_WSL);
    const fs::path reg = wrapper("reg", HYPERCTL_TEST_FAKE_REG);
    remote_ = "wsl://" + line("user") + "@" + line("host") + ":" + line("port") +
              "/?wsl=" + wsl.string() + "&reg=" + reg.string() + "&location=" + location_.string() +
              "&identity=" + (dir / "id_ed25519").string() +
              "&known_hosts=" + (dir / "known_hosts").string();
    host_ = line("host");
  }

  /// A script running `program` with this test's state folder and log.
  fs::path wrapper(const std::string& name, const std::string& program) {
    const fs::path p = root_ / ("remote-" + name);
    write_file(p, "#!/bin/sh\nFAKE_WSL_STATE='" + state_dir_.string() + "' FAKE_WSL_LOG='" +
                      log_path().string() + "' exec '" + program + "' \"$@\"\n");
    ::chmod(p.c_str(), 0755);
    return p;
  }

  std::string remote_, host_;
};

TEST_F(WslSsh, ListStartAndStopOverSsh) {
  add_distro("Debian", "Stopped", 2, true);
  auto c = registry().open(remote_);
  const VmInfo info = c->vms().get("Debian");
  EXPECT_EQ(info.id, guid_for(1)) << "reg.exe over ssh too";
  EXPECT_EQ(info.host, host_);
  c->vms().start("Debian");
  EXPECT_EQ(distro_state("Debian")["state"], "Running");
  // No detached keeper over ssh: a command that returns at once boots it.
  EXPECT_EQ(
      calls("--distribution"),
      (std::vector<std::vector<std::string>>{{"--distribution", "Debian", "--exec", "true"}}));
  for (const auto& j : log())
    if (j["prog"] == "wsl") {
      EXPECT_EQ(j["env"].value("WSL_UTF8", ""), "1") << j.dump();
      EXPECT_EQ(j["env"].value("WSLENV", ""), "WSL_UTF8") << j.dump();
    }
  c->vms().power_off("Debian");
  EXPECT_EQ(distro_state("Debian")["state"], "Stopped");
}

TEST_F(WslSsh, HostileNamesCrossTheRemoteShellByteForByte) {
  auto c = registry().open(remote_);
  for (const std::string name : {"it's $(id) `uname` \"q\" & ; | ^ %PATH% ü 名", "a\nb"}) {
    SCOPED_TRACE(name);
    clear_log();
    const fs::path archive = root_ / "in.tar";
    write_file(archive, "FAKEWSL-EXPORT tar\n" + name);
    try {
      c->storage().upload_volume("wsl", name, archive.string(), {}, {}, CancelToken{});
    } catch (const Error& e) {
      // The stand-in checks names as wsl.exe does and refuses these; what
      // matters is what it received.
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    }
    const auto imports = calls("--import");
    ASSERT_EQ(imports.size(), 1u);
    EXPECT_EQ(imports[0].at(1), name);
  }
}

TEST_F(WslSsh, ExportStreamsBackThroughSsh) {
  const std::string disk = pattern_bytes(300 * 1024, 3);
  add_distro("Debian", "Stopped", 2, true, disk);
  auto c = registry().open(remote_);
  const fs::path out = root_ / "out" / "debian.tar";
  fs::create_directories(out.parent_path());
  c->storage().download_volume("wsl", "Debian", out.string(), {}, {}, CancelToken{});
  EXPECT_EQ(read_file(out), "FAKEWSL-EXPORT tar\n" + disk);
}

TEST_F(WslSsh, AMissingRemoteWslExeIsUnreachable) {
  const std::string uri =
      std::regex_replace(remote_, std::regex("wsl=[^&]*"), "wsl=/nonexistent/wsl.exe");
  auto e = error_of([&] { registry().open(uri); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what() << "\n" << e->detail();
  EXPECT_NE(std::string(e->what()).find("/nonexistent/wsl.exe"), std::string::npos) << e->what();
}

TEST_F(WslSsh, HostInfoOverSsh) {
  auto c = registry().open(remote_);
  const HostInfo h = c->host().info();
  EXPECT_EQ(h.hostname, host_);
  EXPECT_EQ(h.hypervisor_version, "2.3.24.0");
  EXPECT_GT(h.cpus, 0u);
  EXPECT_GT(h.memory_total_bytes, 0u);
}

}  // namespace
}  // namespace hyperctl::test
