// Virtual switches (the core's networks) and the host, against fake-pwsh.
#include "support.hpp"

namespace hyperctl::test {
namespace {

class HvNetwork : public HvFake {
 protected:
  void add_switches() {
    state_["switches"].push_back({{"Id", guid_for(2, 9)},
                                  {"Name", "Internal NAT"},
                                  {"SwitchType", 1},
                                  {"NetAdapterInterfaceDescription", nullptr}});
    state_["switches"].push_back({{"Id", guid_for(3, 9)},
                                  {"Name", "lab only"},
                                  {"SwitchType", "Private"},
                                  {"NetAdapterInterfaceDescription", nullptr}});
    save();
  }
};

TEST_F(HvNetwork, ListMapsSwitchTypesInBothForms) {
  add_switches();
  for (const char* mode : {"number", "string"}) {
    ::setenv("FAKE_PWSH_STATE_AS", mode, 1);
    auto c = open();
    const auto nets = c->networks().list();
    ASSERT_EQ(nets.size(), 3u) << mode;
    EXPECT_EQ(nets[0].name, "LAN");
    EXPECT_EQ(nets[0].forward_mode, "external") << mode;
    EXPECT_EQ(nets[0].bridge, "Intel(R) Ethernet");
    EXPECT_EQ(nets[0].id, guid_for(1, 9));
    EXPECT_TRUE(nets[0].active);
    EXPECT_EQ(nets[1].forward_mode, "internal") << mode;
    EXPECT_EQ(nets[2].forward_mode, "private") << mode;
    EXPECT_TRUE(nets[0].vms.empty());  // list() does not look at VMs
  }
}

TEST_F(HvNetwork, GetNamesTheVmsOnTheSwitch) {
  add_switches();
  add_vm("web", 2);
  add_vm("db", 3);
  add_vm("lab", 3);
  state_["vms"][2]["NetworkAdapters"][0]["SwitchName"] = "lab only";
  save();
  auto c = open();
  const Network lan = c->networks().get("LAN");
  EXPECT_EQ(lan.vms, (std::vector<std::string>{"web", "db"}));
  EXPECT_EQ(c->networks().get("lab only").vms, (std::vector<std::string>{"lab"}));
  EXPECT_TRUE(c->networks().get("Internal NAT").vms.empty());
  EXPECT_EQ(c->networks().get(guid_for(2, 9)).name, "Internal NAT");
  EXPECT_ERROR_CODE(c->networks().get("lan "), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(c->networks().start("LAN"), ErrorCode::Unsupported);
}

TEST_F(HvNetwork, TwoSwitchesOfOneNameAreAmbiguous) {
  state_["switches"].push_back({{"Id", guid_for(5, 9)}, {"Name", "LAN"}, {"SwitchType", 0}});
  save();
  auto c = open();
  EXPECT_ERROR_CODE(c->networks().get("LAN"), ErrorCode::Conflict);
  EXPECT_EQ(c->networks().get(guid_for(5, 9)).forward_mode, "private");
}

class HvHost : public HvFake {};

TEST_F(HvHost, InfoReportsTheHost) {
  auto c = open();
  const HostInfo h = c->host().info();
  EXPECT_EQ(h.hostname, "HV01");
  EXPECT_EQ(h.hypervisor, "Hyper-V");
  EXPECT_EQ(h.hypervisor_version, "10.0.20348");
  EXPECT_EQ(h.manager_version, "2.0.0.0");
  EXPECT_EQ(h.cpu_vendor, "GenuineIntel");
  EXPECT_EQ(h.cpu_model, "Intel(R) Xeon(R) CPU E5-2680");
  EXPECT_EQ(h.cpus, 8u);
  EXPECT_EQ(h.memory_total_bytes, 34359738368u);
  EXPECT_EQ(h.memory_free_bytes, 8589934592u);
  EXPECT_EQ(h.extras.at("vhd_path"), "C:\\VHDs");
  EXPECT_EQ(runs("host.info").size(), 2u);  // connect, info
}

TEST_F(HvHost, AnotherHostsFactsAreItsOwn) {
  state_["host"]["ComputerName"] = "HV-LAB-7";
  state_["host"]["LogicalProcessorCount"] = 64;
  state_["host"]["ProcessorManufacturer"] = "AuthenticAMD";
  state_["host"]["ModuleVersion"] = "2.1.0.0";
  save();
  auto c = open();
  const HostInfo h = c->host().info();
  EXPECT_EQ(h.hostname, "HV-LAB-7");
  EXPECT_EQ(h.cpus, 64u);
  EXPECT_EQ(h.cpu_vendor, "AuthenticAMD");
  EXPECT_EQ(h.manager_version, "2.1.0.0");
  EXPECT_ERROR_CODE(c->host().shutdown(false), ErrorCode::Unsupported);
  // A VM's host falls back to the connection's when the record has none.
  add_vm("web", 3);
  EXPECT_EQ(c->vms().get("web").host, "HV01");  // the record's ComputerName
}

TEST_F(HvHost, AFailingHostInfoKeepsPowerShellsMessage) {
  auto c = open();
  ::setenv("FAKE_PWSH_FAIL", "host.info|ObjectNotFound|Hyper-V is not installed on this computer.",
           1);
  const auto e = error_of([&] { c->host().info(); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_NE(e->detail().find("Hyper-V is not installed"), std::string::npos);
}

}  // namespace
}  // namespace hyperctl::test
