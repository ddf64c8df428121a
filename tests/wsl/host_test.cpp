// Host facts and the shutdown of all of WSL, through the plugin.
#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

using WslHost = WslFake;

TEST_F(WslHost, InfoReportsVersionsAndDefaults) {
  state_["wsl_version"] = "2.9.1.0";
  state_["kernel_version"] = "6.6.36.3-1";
  state_["default_version"] = 1;
  save();
  add_distro("Ubuntu");
  add_distro("Debian", "Stopped", 2, true);
  for (const char* lang : {"", "fr"}) {
    SCOPED_TRACE(lang);
    if (*lang) ::setenv("FAKE_WSL_LANG", lang, 1);
    const HostInfo h = open()->host().info();
    EXPECT_EQ(h.hypervisor, "WSL");
    EXPECT_EQ(h.hypervisor_version, "2.9.1.0");
    EXPECT_EQ(h.extras.at("kernel_version"), "6.6.36.3-1");
    EXPECT_EQ(h.extras.at("windows_version"), "10.0.22631.4460");
    EXPECT_EQ(h.extras.at("default_version"), "1");
    EXPECT_EQ(h.extras.at("default_distribution"), "Debian");
    EXPECT_FALSE(h.hostname.empty());
    EXPECT_GT(h.cpus, 0u);
    EXPECT_GT(h.memory_total_bytes, 0u);
  }
}

TEST_F(WslHost, InfoWithoutDistributions) {
  const HostInfo h = open()->host().info();
  EXPECT_EQ(h.hypervisor_version, "2.3.24.0");
  EXPECT_EQ(h.extras.count("default_distribution"), 0u);
}

TEST_F(WslHost, InboxWslExeHasNoVersionButAnswers) {
  add_distro("Ubuntu");
  ::setenv("FAKE_WSL_INBOX", "1", 1);
  const HostInfo h = open()->host().info();
  EXPECT_EQ(h.hypervisor, "WSL");
  EXPECT_EQ(h.hypervisor_version, "inbox");
}

TEST_F(WslHost, ShutdownStopsEveryDistribution) {
  add_distro("Ubuntu", "Running");
  add_distro("Debian", "Running");
  auto c = open();
  c->host().shutdown(false);
  EXPECT_EQ(distro_state("Ubuntu")["state"], "Stopped");
  EXPECT_EQ(distro_state("Debian")["state"], "Stopped");
  c->vms().start("Debian");
  c->host().shutdown(true);
  EXPECT_EQ(distro_state("Debian")["state"], "Stopped");
  EXPECT_EQ(calls("--shutdown"),
            (std::vector<std::vector<std::string>>{{"--shutdown"}, {"--shutdown", "--force"}}));
}

}  // namespace
}  // namespace hyperctl::test
