// The test bed itself (support.hpp, sim/): the simulator starts in both modes
// with the inventory asked for, its second session (show, files) reads it,
// its certificate is the one the ready line names, fault injection answers
// the way it says and only as often as asked, and nothing outlives a test.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "hyperctl/error.hpp"
#include "hyperctl/trust.hpp"
#include "support.hpp"

namespace {

using vsphere_test::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;

bool process_alive(int pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

class VpxSim : public vsphere_test::SimTest<VpxSim> {
 public:
  static SimOptions sim_options() {
    return {.mode = "vpx", .vms = 2, .hosts = 2, .clusters = 1, .cluster_hosts = 2};
  }
};

TEST_F(VpxSim, InventoryIsWhatWasAskedFor) {
  const json inv = sim().show();
  // 2 VMs on each of the 2 standalone hosts and 2 in the cluster.
  EXPECT_EQ(inv["vms"].size(), 6u) << inv.dump(1);
  EXPECT_EQ(sim().vm_count(), 6);
  EXPECT_EQ(inv["hosts"].size(), 4u);
  ASSERT_EQ(inv["clusters"].size(), 1u);
  EXPECT_EQ(inv["clusters"][0]["hosts"].size(), 2u);
  EXPECT_EQ(inv["datacenters"].size(), 1u);
  EXPECT_EQ(inv["datastores"].size(), 1u);
  EXPECT_EQ(inv["product"]["apiType"], "VirtualCenter");
  std::set<std::string> names, uuids;
  for (const auto& vm : inv["vms"]) {
    names.insert(vm["name"].get<std::string>());
    uuids.insert(vm["instanceUuid"].get<std::string>());
    EXPECT_FALSE(vm["moref"].get<std::string>().empty());
    EXPECT_FALSE(vm["host"].get<std::string>().empty()) << vm.dump();
    EXPECT_EQ(vm["powerState"], "poweredOn") << "autostart is the default";
    EXPECT_GE(vm["disks"].size(), 1u);
    EXPECT_GE(vm["nics"].size(), 1u);
    EXPECT_EQ(vm["currentSnapshot"], "");
  }
  EXPECT_EQ(names.size(), 6u);
  EXPECT_EQ(uuids.size(), 6u);
}

TEST_F(VpxSim, CertificateIsTheOneTheReadyLineNames) {
  const auto peer =
      hyperctl::fetch_peer_certificate(sim().host(), sim().port(), std::chrono::seconds(10));
  EXPECT_EQ(peer.thumbprint, hyperctl::normalize_thumbprint(sim().thumbprint()));
  EXPECT_TRUE(peer.self_signed);
  EXPECT_EQ(sim().uri().rfind("vsphere://hyper@127.0.0.1:", 0), 0u) << sim().uri();
  EXPECT_NE(sim().uri().find("?thumbprint=" + sim().thumbprint()), std::string::npos);
  EXPECT_EQ(sim().uri_without_pin().find("thumbprint"), std::string::npos);
}

TEST_F(VpxSim, SecondSessionChecksThePinAndThePassword) {
  const std::string bin = HYPERCTL_TEST_VCSIM;
  std::string other_pin = "AA";
  for (int i = 1; i < 32; ++i) other_pin += ":AA";
  auto wrong_pin = vsphere_test::run(
      {bin, "show", "-url", sim().sdk_url(), "-user", sim().user(), "-thumbprint", other_pin},
      {{"HYPERCTL_VCSIM_PASSWORD", sim().password()}});
  EXPECT_NE(wrong_pin.status, 0) << wrong_pin;
  EXPECT_NE(wrong_pin.err.find("thumbprint"), std::string::npos) << wrong_pin;

  auto wrong_password = vsphere_test::run({bin, "show", "-url", sim().sdk_url(), "-user",
                                           sim().user(), "-thumbprint", sim().thumbprint()},
                                          {{"HYPERCTL_VCSIM_PASSWORD", sim().password() + "x"}});
  EXPECT_NE(wrong_password.status, 0) << wrong_password;
  EXPECT_NE(wrong_password.err.find("Login failure"), std::string::npos) << wrong_password;
}

TEST_F(VpxSim, FilesListsEachVmsConfiguration) {
  const json inv = sim().show();
  const std::string ds = inv["datastores"][0]["name"];
  const json files = sim().files(ds);
  std::set<std::string> paths;
  for (const auto& f : files) paths.insert(f["path"].get<std::string>());
  for (const auto& vm : inv["vms"]) {
    std::string vmx = vm["vmPathName"];  // "[LocalDS_0] DC0_H0_VM0/DC0_H0_VM0.vmx"
    ASSERT_EQ(vmx.rfind("[" + ds + "] ", 0), 0u) << vmx;
    vmx.erase(0, ds.size() + 3);
    EXPECT_TRUE(paths.count(vmx)) << vmx << " not in " << files.dump();
  }
  // A subfolder alone.
  const std::string first = inv["vms"][0]["name"];
  const json sub = sim().files(ds, first);
  ASSERT_FALSE(sub.empty());
  for (const auto& f : sub)
    EXPECT_EQ(f["path"].get<std::string>().rfind(first + "/", 0), 0u) << sub.dump();
}

// Each mode breaks the second session's first call; "*1" lets the next one
// through, and the stats count every call the simulator saw.
TEST_F(VpxSim, InjectionBreaksTheCallThenLetsItThrough) {
  const std::pair<const char*, const char*> modes[] = {
      {"fault", "injected fault"},
      {"notauth", "not authenticated"},
      {"malformed", ""},
      {"truncated", ""},
      {"html500", ""},
      {"close", ""},
  };
  for (const auto& [mode, message] : modes) {
    SCOPED_TRACE(mode);
    sim().inject(std::string("RetrieveServiceContent=") + mode + "*1");
    sim().reset_stats();
    try {
      (void)sim().show();
      ADD_FAILURE() << "show succeeded despite " << mode;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    const json stats = sim().stats();
    EXPECT_EQ(stats["methods"].value("RetrieveServiceContent", 0), 1) << stats.dump();
    EXPECT_EQ(stats["methods"].value("Login", 0), 0) << stats.dump();
    EXPECT_NO_THROW((void)sim().show());
  }
  // Without a count the rule stays until cleared.
  sim().inject("Login=fault");
  EXPECT_THROW((void)sim().show(), std::runtime_error);
  EXPECT_THROW((void)sim().show(), std::runtime_error);
  sim().clear_injections();
  EXPECT_NO_THROW((void)sim().show());
  // A delay delays.
  sim().inject("RetrieveServiceContent=delay:700ms*1");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NO_THROW((void)sim().show());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(700));
  // Bad specs are refused.
  EXPECT_THROW(sim().inject("Login=explode"), std::runtime_error);
  EXPECT_THROW(sim().inject("Login"), std::runtime_error);
  EXPECT_THROW(sim().inject("Login=close*0"), std::runtime_error);
}

// "ok" answers without making the call: a Logout that is not done leaves
// show's session open, which the next show sees.
TEST_F(VpxSim, OkModeAnswersWithoutMakingTheCall) {
  ASSERT_EQ(sim().show()["sessions"], 0);
  sim().inject("Logout=ok*1");
  (void)sim().show();
  EXPECT_EQ(sim().show()["sessions"], 1);
  EXPECT_EQ(sim().expire_sessions(), 1);
  EXPECT_EQ(sim().show()["sessions"], 0);
}

// Host changes behind the API's back show in the second session.
TEST_F(VpxSim, HostControlChangesWhatTheApiSays) {
  auto host = [&](const std::string& name) {
    const json all = sim().show();  // (a loop over sim().show()["hosts"] would outlive it)
    for (const auto& h : all["hosts"])
      if (h["name"] == name) return h;
    return json();
  };
  ASSERT_EQ(host("DC0_H0")["inMaintenanceMode"], false);
  sim().host_control("DC0_H0", "maintenance", "on");
  EXPECT_EQ(host("DC0_H0")["inMaintenanceMode"], true);
  EXPECT_EQ(host("DC0_H1")["inMaintenanceMode"], false);
  sim().host_control("DC0_H0", "maintenance", "off");
  EXPECT_EQ(host("DC0_H0")["inMaintenanceMode"], false);
  const std::string vendor = host("DC0_H1")["cpuVendor"];
  sim().host_control("DC0_H1", "cpu-vendor", "amd");
  EXPECT_EQ(host("DC0_H1")["cpuVendor"], "amd");
  EXPECT_EQ(host("DC0_H0")["cpuVendor"], vendor) << "the other hosts keep theirs";
  EXPECT_THROW(sim().host_control("nohost", "maintenance", "on"), std::runtime_error);
  EXPECT_THROW(sim().host_control("DC0_H0", "explode", "x"), std::runtime_error);
}

// show's own session is gone when it ends: no session is left over.
TEST_F(VpxSim, ShowLeavesNoSessionBehind) {
  (void)sim().show();
  EXPECT_EQ(sim().show()["sessions"], 0);
}

TEST(VsphereSim, EsxModeIsAStandaloneHost) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "esx", .vms = 3, .autostart = false});
  const json inv = sim->show();
  EXPECT_EQ(inv["product"]["apiType"], "HostAgent");
  EXPECT_EQ(inv["vms"].size(), 3u);
  EXPECT_EQ(inv["hosts"].size(), 1u);
  EXPECT_TRUE(inv["clusters"].empty());
  for (const auto& vm : inv["vms"]) EXPECT_EQ(vm["powerState"], "poweredOff") << vm.dump();
  EXPECT_EQ(sim->uri().rfind("esx://hyper@127.0.0.1:", 0), 0u) << sim->uri();
}

// A fresh certificate and password per simulator; stop() ends the process
// and removes its datastores.
TEST(VsphereSim, EachSimulatorIsFreshAndStopLeavesNothing) {
  VSPHERE_START_SIM(a, SimOptions{.mode = "esx", .vms = 1});
  VSPHERE_START_SIM(b, SimOptions{.mode = "esx", .vms = 1});
  EXPECT_NE(a->thumbprint(), b->thumbprint());
  EXPECT_NE(a->password(), b->password());
  EXPECT_NE(a->port(), b->port());
  {
    VSPHERE_START_SIM(c, SimOptions{.mode = "vpx", .vms = 1});
    VSPHERE_START_SIM(d, SimOptions{.mode = "vpx", .vms = 1});
    EXPECT_NE(c->show()["product"]["instanceUuid"], d->show()["product"]["instanceUuid"])
        << "two simulated vCenters are two vCenters";
  }
  const json inv = a->show();
  const std::string url = inv["datastores"][0]["url"];  // the datastore's folder
  ASSERT_TRUE(vsphere_test::fs::exists(url)) << url;
  const int pid = a->pid();
  ASSERT_TRUE(process_alive(pid));
  a->stop();
  EXPECT_FALSE(process_alive(pid));
  EXPECT_FALSE(vsphere_test::fs::exists(url)) << url;
  EXPECT_NO_THROW((void)b->show()) << "the other one still runs";
}

// The simulator ends by itself when its stdin closes: a test process that
// dies leaves none behind. (run() closes stdin at once.)
TEST(VsphereSim, ExitsWhenStdinCloses) {
  std::string why;
  if (!Simulator::available(&why)) VSPHERE_SKIP_OR_FAIL(why);
  const auto r =
      vsphere_test::run({HYPERCTL_TEST_VCSIM, "serve", "-stdin", "-mode=esx"},
                        {{"HYPERCTL_VCSIM_PASSWORD", "pw"}}, {}, std::chrono::seconds(20));
  EXPECT_EQ(r.status, 0) << r;
  const json ready = json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(ready["mode"], "esx");
  EXPECT_EQ(ready["thumbprint"].get<std::string>().size(), 95u);
}

// pages:N makes the PropertyCollector page (govmomi's simulator never does):
// the plugin's list follows the tokens and sees every VM once; a used token
// is refused, as vSphere does.
TEST(VsphereSim, PagedAnswersAreFollowedToTheEnd) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "esx", .vms = 10});
  sim->inject("RetrievePropertiesEx=pages:3");
  sim->reset_stats();
  auto conn = sim->connect();
  std::set<std::string> names;
  for (const auto& vm : conn->vms().list({})) names.insert(vm.name);
  EXPECT_EQ(names.size(), 10u);
  const json stats = sim->stats();
  EXPECT_EQ(stats["methods"].value("RetrievePropertiesEx", 0), 1) << stats.dump();
  EXPECT_EQ(stats["methods"].value("ContinueRetrievePropertiesEx", 0), 2) << stats.dump();
  EXPECT_EQ(stats["open_page_tokens"], 0) << stats.dump();
  // The second session is not paged (govmomi's show uses RetrieveProperties).
  EXPECT_EQ(sim->show()["vms"].size(), 10u);
  EXPECT_THROW(sim->inject("Login=pages:3"), std::runtime_error);
  EXPECT_THROW(sim->inject("RetrievePropertiesEx=pages:1"), std::runtime_error);
}

// -idle-timeout: a session left open (its Logout answered but not made)
// expires by itself.
TEST(VsphereSim, IdleSessionsExpire) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "esx", .vms = 1, .idle_timeout = "1s"});
  sim->inject("Logout=ok*1");
  (void)sim->show();
  EXPECT_EQ(sim->show()["sessions"], 1);
  // The simulator looks every timeout; a session idle for more is ended.
  int sessions = -1;
  for (int i = 0; i < 40 && sessions != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    sessions = sim->show()["sessions"].get<int>();
  }
  EXPECT_EQ(sessions, 0);
}

// folders: the datacenter sits in a folder, and show names its path.
TEST(VsphereSim, DatacenterInAFolder) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "vpx", .vms = 1, .folders = 1});
  const json inv = sim->show();
  ASSERT_EQ(inv["datacenters"].size(), 1u) << inv.dump();
  EXPECT_EQ(inv["datacenters"][0]["path"], "F0/DC0") << inv["datacenters"].dump();
  EXPECT_EQ(inv["vms"].size(), 2u);
  VSPHERE_START_SIM(flat, SimOptions{.mode = "vpx", .vms = 1});
  EXPECT_EQ(flat->show()["datacenters"][0]["path"], "DC0");
}

TEST(VsphereSim, PlainHttpHasNoThumbprint) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "esx", .vms = 1, .tls = false});
  EXPECT_EQ(sim->sdk_url().rfind("http://127.0.0.1:", 0), 0u) << sim->sdk_url();
  EXPECT_EQ(sim->thumbprint(), "");
}

// Through the plugin (needs the session layer): a connection is one session
// more in the second session's view, and expire_sessions ends it.
TEST_F(VpxSim, PluginSessionIsSeenAndCanBeExpired) {
  std::unique_ptr<hyperctl::Connection> conn;
  try {
    conn = sim().connect();
  } catch (const hyperctl::Error& e) {
    FAIL() << "connect: " << e.what();
  }
  EXPECT_EQ(sim().show()["sessions"], 1);
  EXPECT_EQ(sim().expire_sessions(), 1);
  EXPECT_EQ(sim().show()["sessions"], 0);
}

}  // namespace
