// vMotion through the plugin against a simulated vCenter (a datacenter with a
// standalone host DC0_H0 and a cluster DC0_C0 of three hosts, two
// datastores seen by every host): the VM moves to another host, another
// datastore or both, and every refusal leaves it where it was. Where the VM
// is, is read through the simulator's second session (show()), never only
// through the plugin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "../common/expect_error.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::CancelToken;
using hyperctl::CheckLevel;
using hyperctl::Connection;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::MigrationMode;
using hyperctl::MigrationOptions;
using hyperctl::PreflightItem;
using hyperctl::PreflightReport;
using hyperctl::Progress;
using hyperctl::VmInfo;
using hyperctl::test::error_of;
using vsphere_test::json;

/// Percent-encodes a query value (everything but unreserved characters).
std::string pct(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

const PreflightItem* find_item(const PreflightReport& r, const std::string& check) {
  for (const auto& i : r.items)
    if (i.check == check) return &i;
  return nullptr;
}

std::string describe(const PreflightReport& r) {
  std::string out;
  for (const auto& i : r.items)
    out += i.check + " " +
           (i.level == CheckLevel::Ok        ? "ok"
            : i.level == CheckLevel::Warning ? "warning"
                                             : "blocker") +
           ": " + i.message + (i.fix.empty() ? "" : " [fix: " + i.fix + "]") + "\n";
  return out;
}

class VsphereMigration : public vsphere_test::SimTest<VsphereMigration> {
 public:
  static vsphere_test::SimOptions sim_options() {
    return {.mode = "vpx", .vms = 2, .datastores = 2};
  }

 protected:
  void SetUp() override {
    SimTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    src_ = sim().connect();
  }

  /// The VM as the second session sees it (fails the test when absent).
  json vm(const std::string& name) {
    json v = sim().find_vm(name);
    EXPECT_FALSE(v.is_null()) << "no VM " << name << " in show()";
    return v.is_null() ? json::object() : v;
  }
  std::string host_of(const std::string& name) { return vm(name).value("host", ""); }
  std::vector<std::string> datastores_of(const std::string& name) {
    return vm(name).value("datastores", std::vector<std::string>{});
  }
  /// A host of the cluster DC0_C0 other than `not_this`.
  std::string other_cluster_host(const std::string& not_this) {
    const json all = sim().show();  // kept: a range-for over a temporary's member dangles
    for (const auto& h : all["hosts"])
      if (h.value("cluster", "") == "DC0_C0" && h["name"] != not_this) return h["name"];
    ADD_FAILURE() << "the simulator has no second host in cluster DC0_C0";
    return {};
  }
  /// A datastore the VM is not on, or "" when the simulator has none.
  std::string other_datastore(const std::string& name) {
    const auto mine = datastores_of(name);
    const json all = sim().show();
    for (const auto& d : all["datastores"])
      if (std::find(mine.begin(), mine.end(), d["name"].get<std::string>()) == mine.end())
        return d["name"];
    return {};
  }
  /// The target connection: the same simulator with ?QUERY (host=..., datastore=...).
  std::unique_ptr<Connection> to(const std::string& query) { return sim().connect(query); }

  std::unique_ptr<Connection> src_;
};

// ------------------------------------------------------------ moves

TEST_F(VsphereMigration, LiveVmotionMovesARunningVmToAnotherHostOfItsCluster) {
  const std::string name = "DC0_C0_RP0_VM0";
  ASSERT_EQ(vm(name)["powerState"], "poweredOn");
  const std::string from = host_of(name);
  const std::string dest = other_cluster_host(from);
  const auto stores = datastores_of(name);
  auto dst = to("host=" + pct(dest));

  std::vector<Progress> seen;
  CancelToken cancel;
  const VmInfo moved = src_->migration().migrate(
      name, *dst, {}, [&](const Progress& p) { seen.push_back(p); }, cancel);
  EXPECT_EQ(moved.name, name);
  EXPECT_EQ(moved.host, dest);
  // The simulator ends the task inside the call that starts it, so the wait
  // may see no running state to report; what is reported must be percent.
  for (const auto& p : seen) {
    EXPECT_EQ(p.phase, "vmotion");
    EXPECT_LE(p.done, 100u);
    EXPECT_EQ(p.total, 100u);
  }

  const json after = vm(name);
  EXPECT_EQ(after["host"], dest) << "the second session still sees it on " << after["host"];
  EXPECT_EQ(after["powerState"], "poweredOn");
  EXPECT_EQ(after["datastores"].get<std::vector<std::string>>(), stores);
}

TEST_F(VsphereMigration, VmotionToAHostOfAnotherComputeResourceMovesIt) {
  // From the standalone host into the cluster: the spec takes the cluster's
  // resource pool along with the host.
  const std::string name = "DC0_H0_VM0";
  const std::string from = host_of(name);
  ASSERT_EQ(from, "DC0_H0");
  const std::string dest = other_cluster_host("");
  auto dst = to("host=" + pct(dest));
  const VmInfo moved = src_->migration().migrate(name, *dst, {}, {}, CancelToken());
  EXPECT_EQ(moved.host, dest);
  EXPECT_EQ(host_of(name), dest);

  // And back again to the standalone host, named in another case.
  auto back = to("host=dc0_h0");
  src_->migration().migrate(name, *back, {}, {}, CancelToken());
  EXPECT_EQ(host_of(name), "DC0_H0");
}

TEST_F(VsphereMigration, StorageVmotionMovesTheVmToAnotherDatastoreOnItsHost) {
  const std::string name = "DC0_C0_RP0_VM1";
  const std::string ds = other_datastore(name);
  if (ds.empty()) GTEST_SKIP() << "the simulator has a single datastore: nothing to move to";
  const std::string host = host_of(name);
  auto dst = to("datastore=" + pct(ds));

  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  EXPECT_TRUE(r.ok()) << describe(r);
  ASSERT_NE(find_item(r, "free-space"), nullptr) << describe(r);
  EXPECT_EQ(find_item(r, "free-space")->level, CheckLevel::Ok) << describe(r);

  src_->migration().migrate(name, *dst, {}, {}, CancelToken());
  EXPECT_EQ(datastores_of(name), std::vector<std::string>{ds});
  EXPECT_EQ(host_of(name), host) << "a storage vMotion must not change the host";
}

TEST_F(VsphereMigration, HostAndDatastoreMoveTogether) {
  const std::string name = "DC0_H0_VM1";
  const std::string ds = other_datastore(name);
  if (ds.empty()) GTEST_SKIP() << "the simulator has a single datastore: nothing to move to";
  const std::string dest = other_cluster_host(host_of(name));
  auto dst = to("host=" + pct(dest) + "&datastore=" + pct(ds));
  MigrationOptions o;
  o.copy_storage = true;                 // with a datastore named, that is what happens anyway
  o.timeout = std::chrono::seconds(60);  // bounds the task wait; ample here
  src_->migration().migrate(name, *dst, o, {}, CancelToken());
  const json after = vm(name);
  EXPECT_EQ(after["host"], dest);
  EXPECT_EQ(after["datastores"].get<std::vector<std::string>>(), std::vector<std::string>{ds});
  EXPECT_EQ(after["powerState"], "poweredOn");
}

TEST_F(VsphereMigration, APoweredOffVmIsRelocatedColdInOfflineMode) {
  const std::string name = "DC0_C0_RP0_VM1";
  src_->vms().power_off(name);
  ASSERT_EQ(vm(name)["powerState"], "poweredOff");
  const std::string dest = other_cluster_host(host_of(name));
  auto dst = to("host=" + pct(dest));
  MigrationOptions o;
  o.mode = MigrationMode::Offline;  // as the CLI asks for a VM that is off
  o.remove_source = true;           // nothing stays on the source anyway

  const PreflightReport r = src_->migration().preflight(name, *dst, o);
  ASSERT_NE(find_item(r, "vm-state"), nullptr) << describe(r);
  EXPECT_NE(find_item(r, "vm-state")->message.find("cold"), std::string::npos) << describe(r);

  src_->migration().migrate(name, *dst, o, {}, CancelToken());
  EXPECT_EQ(host_of(name), dest);
  EXPECT_EQ(vm(name)["powerState"], "poweredOff");
  src_->vms().start(name);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");
}

// ------------------------------------------------------------ preflight

TEST_F(VsphereMigration, PreflightOfAGoodMoveReportsEveryCheckAndMovesNothing) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string from = host_of(name);
  const std::string dest = other_cluster_host(from);
  auto dst = to("host=" + pct(dest));
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  EXPECT_TRUE(r.ok()) << describe(r);
  for (const char* check :
       {"vm-state", "target-host", "datastore", "name-clash", "cpu-vendor", "memory", "network"}) {
    const PreflightItem* i = find_item(r, check);
    ASSERT_NE(i, nullptr) << "no " << check << " item:\n" << describe(r);
    EXPECT_EQ(i->level, CheckLevel::Ok) << describe(r);
  }
  EXPECT_NE(find_item(r, "vm-state")->message.find("live"), std::string::npos) << describe(r);
  EXPECT_NE(find_item(r, "cpu-vendor")->message.find("intel"), std::string::npos) << describe(r);
  EXPECT_EQ(host_of(name), from) << "a preflight moved the VM";
}

TEST_F(VsphereMigration, PreflightTakesAFewRoundTripsWhateverTheInventory) {
  const std::string name = "DC0_C0_RP0_VM0";
  auto dst = to("host=" + pct(other_cluster_host(host_of(name))) + "&datastore=LocalDS_0");
  src_->migration().preflight(name, *dst, {});  // the datacenter look-up is cached after this
  sim().reset_stats();
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  const json stats = sim().stats();
  EXPECT_TRUE(r.ok()) << describe(r);
  // resolve (one container view of names and ids: create, retrieve,
  // destroy; then the chosen VM's properties: one retrieve), the VM's own
  // placement (one retrieve), and the datacenter's hosts, datastores,
  // networks, pools and VM names (one container view): 8 calls, none per
  // host, datastore or VM.
  EXPECT_LE(stats["requests"].get<int>(), 8) << stats.dump();
  EXPECT_EQ(stats["methods"].value("RelocateVM_Task", 0), 0) << stats.dump();
}

TEST_F(VsphereMigration, AVmLargerThanTheTargetsFreeMemoryIsAWarningNotABlocker) {
  // The simulator's hosts have 4 GiB with 1404 MiB in use.
  const std::string name = "mig-big";
  auto maker = to("host=DC0_C0_H0");
  hyperctl::VmSpec spec;
  spec.name = name;
  spec.memory_bytes = 3ull << 30;
  maker->vms().create(spec);
  struct Remove {
    Connection& c;
    std::string name;
    ~Remove() {
      try {
        hyperctl::DeleteOptions o;
        o.force = true;
        o.with_storage = true;
        c.vms().remove(name, o);
      } catch (const Error&) {
      }
    }
  } remove{*src_, name};
  src_->vms().start(name);
  ASSERT_EQ(vm(name)["powerState"], "poweredOn");

  auto dst = to("host=DC0_C0_H1");
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "memory");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Warning) << describe(r);
  EXPECT_NE(i->message.find("3 GiB"), std::string::npos) << i->message;
  EXPECT_TRUE(r.ok()) << describe(r);
  src_->migration().migrate(name, *dst, {}, {}, CancelToken());
  EXPECT_EQ(host_of(name), "DC0_C0_H1");
}

TEST_F(VsphereMigration, TheSameHostIsABlockerAndMigrateRefusesIt) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("host=" + pct(here));
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  EXPECT_FALSE(r.ok()) << describe(r);
  const PreflightItem* i = find_item(r, "same-host");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker);
  EXPECT_NE(i->message.find("nothing to do"), std::string::npos) << i->message;
  EXPECT_FALSE(i->fix.empty());

  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what()).find("same-host"), std::string::npos) << e->what();
  EXPECT_EQ(host_of(name), here);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");
}

TEST_F(VsphereMigration, AnUnknownHostIsABlockerAndNotFound) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("host=esx-that-is-not-there");
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "target-host");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("esx-that-is-not-there"), std::string::npos) << i->message;
  EXPECT_NE(i->fix.find("DC0_C0_H0"), std::string::npos) << "the fix lists the hosts: " << i->fix;

  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound) << e->what();
  EXPECT_EQ(host_of(name), here);
}

TEST_F(VsphereMigration, AnUnknownDatastoreIsABlockerAndNotFound) {
  const std::string name = "DC0_H0_VM0";
  const auto stores = datastores_of(name);
  auto dst = to("datastore=no-such-ds");
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "datastore");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->fix.find("LocalDS_0"), std::string::npos) << i->fix;
  EXPECT_ERROR_CODE(src_->migration().migrate(name, *dst, {}, {}, CancelToken()),
                    ErrorCode::NotFound);
  EXPECT_EQ(datastores_of(name), stores);
}

// The blockers below need a host changed behind vCenter's back, which no
// vim25 call the plugin makes can do: the simulator's control command
// "host NAME maintenance on|off | cpu-vendor V | drop-network N |
// drop-datastore D" does it in-process. Without it they skip, saying so.

/// Sends "host ARGS" to `s`; "" when done, else why the test must skip.
std::string host_control(vsphere_test::Simulator& s, const std::string& args) {
  const std::string reply = s.command("host " + args);
  if (reply.rfind("error: unknown command", 0) == 0)
    return "the simulator has no 'host NAME maintenance|cpu-vendor|drop-network|drop-datastore' "
           "control command (tests/vsphere/sim serve.go), so it cannot change a host: " +
           reply;
  EXPECT_EQ(reply, "ok") << "host " << args;
  return {};
}

TEST_F(VsphereMigration, AHostInMaintenanceModeIsABlocker) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  const std::string dest = other_cluster_host(here);
  if (auto why = host_control(sim(), dest + " maintenance on"); !why.empty()) GTEST_SKIP() << why;
  struct Restore {
    vsphere_test::Simulator& sim;
    std::string host;
    ~Restore() { sim.command("host " + host + " maintenance off"); }
  } restore{sim(), dest};
  bool in_maintenance = false;
  const json all = sim().show();
  for (const auto& h : all["hosts"])
    if (h["name"] == dest) in_maintenance = h["inMaintenanceMode"].get<bool>();
  ASSERT_TRUE(in_maintenance) << "the second session does not see " << dest << " in maintenance";

  auto dst = to("host=" + pct(dest));
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "target-host");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("maintenance"), std::string::npos) << i->message;
  EXPECT_FALSE(i->fix.empty());
  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what()).find("maintenance"), std::string::npos) << e->what();
  EXPECT_EQ(host_of(name), here);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");
}

TEST_F(VsphereMigration, AnotherCpuVendorBlocksALiveMoveButNotAColdOne) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  const std::string dest = other_cluster_host(here);
  if (auto why = host_control(sim(), dest + " cpu-vendor amd"); !why.empty()) GTEST_SKIP() << why;
  struct Restore {
    vsphere_test::Simulator& sim;
    std::string host;
    ~Restore() { sim.command("host " + host + " cpu-vendor intel"); }
  } restore{sim(), dest};
  std::string vendor;
  const json all = sim().show();
  for (const auto& h : all["hosts"])
    if (h["name"] == dest) vendor = h.value("cpuVendor", "");
  ASSERT_EQ(vendor, "amd") << "the second session does not see the new vendor";
  auto dst = to("host=" + pct(dest));
  PreflightReport r = src_->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "cpu-vendor");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("cannot cross CPU vendors"), std::string::npos) << i->message;
  EXPECT_NE(i->fix.find("power"), std::string::npos) << i->fix;
  EXPECT_ERROR_CODE(src_->migration().migrate(name, *dst, {}, {}, CancelToken()),
                    ErrorCode::Conflict);
  EXPECT_EQ(host_of(name), here);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");

  // Powered off, the same move is a cold relocation.
  src_->vms().power_off(name);
  r = src_->migration().preflight(name, *dst, {});
  i = find_item(r, "cpu-vendor");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Ok) << describe(r);
  EXPECT_TRUE(r.ok()) << describe(r);
  src_->migration().migrate(name, *dst, {}, {}, CancelToken());
  EXPECT_EQ(host_of(name), dest);
  src_->vms().start(name);
}

TEST_F(VsphereMigration, ANetworkTheTargetLacksIsABlocker) {
  VSPHERE_START_SIM(own, vsphere_test::SimOptions{.mode = "vpx", .vms = 1});
  const std::string name = "DC0_C0_RP0_VM0";
  const json before = own->find_vm(name);
  ASSERT_FALSE(before.is_null());
  const std::string here = before["host"];
  const std::string dest = here == "DC0_C0_H0" ? "DC0_C0_H1" : "DC0_C0_H0";
  const std::string net = before["nics"][0]["network"];
  if (auto why = host_control(*own, dest + " drop-network " + net); !why.empty())
    GTEST_SKIP() << why;
  auto src = own->connect();
  auto dst = own->connect("host=" + pct(dest));
  const PreflightReport r = src->migration().preflight(name, *dst, {});
  const PreflightItem* i = find_item(r, "network");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("'" + net + "'"), std::string::npos) << i->message;
  EXPECT_ERROR_CODE(src->migration().migrate(name, *dst, {}, {}, CancelToken()),
                    ErrorCode::Conflict);
  EXPECT_EQ(own->find_vm(name)["host"], here);
}

TEST_F(VsphereMigration, ADatastoreTheTargetDoesNotSeeIsABlocker) {
  VSPHERE_START_SIM(own, vsphere_test::SimOptions{.mode = "vpx", .vms = 1, .datastores = 2});
  const std::string name = "DC0_C0_RP0_VM0";
  const json before = own->find_vm(name);
  ASSERT_FALSE(before.is_null());
  const std::string here = before["host"];
  const std::string dest = here == "DC0_C0_H0" ? "DC0_C0_H1" : "DC0_C0_H0";
  const std::string ds = before["datastores"][0];
  const std::string other = ds == "LocalDS_0" ? "LocalDS_1" : "LocalDS_0";
  if (auto why = host_control(*own, dest + " drop-datastore " + ds); !why.empty())
    GTEST_SKIP() << why;
  auto src = own->connect();

  // Host only: the disks would stay where the new host cannot reach them.
  auto host_only = own->connect("host=" + pct(dest));
  PreflightReport r = src->migration().preflight(name, *host_only, {});
  const PreflightItem* i = find_item(r, "datastore");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("'" + ds + "'"), std::string::npos) << i->message;
  EXPECT_NE(i->fix.find("&datastore="), std::string::npos) << i->fix;
  EXPECT_ERROR_CODE(src->migration().migrate(name, *host_only, {}, {}, CancelToken()),
                    ErrorCode::Conflict);

  // Naming the datastore it cannot see does not help.
  auto unseen = own->connect("host=" + pct(dest) + "&datastore=" + pct(ds));
  r = src->migration().preflight(name, *unseen, {});
  i = find_item(r, "datastore");
  ASSERT_NE(i, nullptr) << describe(r);
  EXPECT_EQ(i->level, CheckLevel::Blocker) << describe(r);
  EXPECT_NE(i->message.find("not mounted"), std::string::npos) << i->message;
  EXPECT_EQ(own->find_vm(name)["host"], here);

  // Along with its disks, onto one it sees, it goes.
  auto both = own->connect("host=" + pct(dest) + "&datastore=" + pct(other));
  r = src->migration().preflight(name, *both, {});
  EXPECT_TRUE(r.ok()) << describe(r);
  src->migration().migrate(name, *both, {}, {}, CancelToken());
  const json after = own->find_vm(name);
  EXPECT_EQ(after["host"], dest);
  EXPECT_EQ(after["datastores"], json::array({other}));
}

// ------------------------------------------------------------ refusals

TEST_F(VsphereMigration, ATargetThatNamesNoPlaceIsInvalidArgument) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("");
  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  EXPECT_NE(std::string(e->what()).find("?host="), std::string::npos) << e->what();
  EXPECT_ERROR_CODE(src_->migration().preflight(name, *dst, {}), ErrorCode::InvalidArgument);
  EXPECT_EQ(host_of(name), here);
}

TEST_F(VsphereMigration, OptionsVmotionCannotHonourAreRefusedByName) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("host=" + pct(other_cluster_host(here)));
  struct Case {
    const char* option;
    MigrationOptions o;
  };
  std::vector<Case> cases;
  cases.push_back({"--bandwidth", {}});
  cases.back().o.bandwidth_mib_s = 100;
  cases.push_back({"--max-downtime", {}});
  cases.back().o.max_downtime_ms = 300;
  cases.push_back({"--auto-converge", {}});
  cases.back().o.auto_converge = true;
  cases.push_back({"--postcopy", {}});
  cases.back().o.postcopy = true;
  cases.push_back({"--no-persist", {}});
  cases.back().o.persist = false;
  cases.push_back({"--copy-storage", {}});
  cases.back().o.copy_storage = true;  // and no datastore in the target URI
  cases.push_back({"--on-stall", {}});
  cases.back().o.on_stall = hyperctl::OnStall::Abort;
  cases.push_back({"--offline", {}});
  cases.back().o.mode = MigrationMode::Offline;  // the VM runs
  for (const auto& c : cases) {
    auto e = error_of([&] { src_->migration().migrate(name, *dst, c.o, {}, CancelToken()); });
    ASSERT_TRUE(e) << c.option;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << c.option << ": " << e->what();
    EXPECT_NE(std::string(e->what()).find(c.option), std::string::npos)
        << c.option << ": " << e->what();
  }
  EXPECT_EQ(host_of(name), here) << "a refused migration moved the VM";
}

TEST_F(VsphereMigration, HarmlessOptionsAreAccepted) {
  // undefine_source and unsafe ask for what vMotion does anyway.
  const std::string name = "DC0_C0_RP0_VM1";
  auto dst = to("host=" + pct(other_cluster_host(host_of(name))));
  MigrationOptions o;
  o.undefine_source = true;
  o.unsafe = true;
  const PreflightReport r = src_->migration().preflight(name, *dst, o);
  EXPECT_TRUE(r.ok()) << describe(r);
}

TEST_F(VsphereMigration, ACancelledMigrationLeavesTheVmWhereItWas) {
  // The simulator finishes a relocation inside the call that starts it, so
  // cancellation is tested where it can act: before RelocateVM_Task.
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("host=" + pct(other_cluster_host(here)));
  CancelToken cancel;
  cancel.cancel();
  EXPECT_ERROR_CODE(src_->migration().migrate(name, *dst, {}, {}, cancel), ErrorCode::Cancelled);
  EXPECT_EQ(host_of(name), here);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");
}

TEST_F(VsphereMigration, AFailedRelocateLeavesTheVmWhereItWas) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = to("host=" + pct(other_cluster_host(here)));
  sim().inject("RelocateVM_Task=fault*1");
  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  sim().clear_injections();
  ASSERT_TRUE(e);
  EXPECT_NE(e->code(), ErrorCode::Internal) << e->what();
  EXPECT_NE(std::string(e->what()).find("injected fault"), std::string::npos) << e->what();
  EXPECT_EQ(host_of(name), here);
  EXPECT_EQ(vm(name)["powerState"], "poweredOn");
}

TEST_F(VsphereMigration, AnotherBackendsConnectionIsUnsupported) {
  std::unique_ptr<Connection> other;
  try {
    other = vsphere_test::registry().open("test:///default");
  } catch (const Error& e) {
    GTEST_SKIP() << "no libvirt test driver in this build to stand for another backend: "
                 << e.what();
  }
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto e = error_of([&] { src_->migration().migrate(name, *other, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported) << e->what();
  EXPECT_NE(std::string(e->what()).find("libvirt"), std::string::npos) << e->what();
  EXPECT_ERROR_CODE(src_->migration().preflight(name, *other, {}), ErrorCode::Unsupported);
  EXPECT_EQ(host_of(name), here);
}

TEST_F(VsphereMigration, AnotherVcenterIsUnsupportedWithTheFix) {
  VSPHERE_START_SIM(second, vsphere_test::SimOptions{.mode = "vpx", .vms = 1});
  const json a = sim().show()["product"], b = second->show()["product"];
  if (a["instanceUuid"] == b["instanceUuid"])
    GTEST_SKIP() << "both simulators report instanceUuid " << a["instanceUuid"]
                 << " (govmomi 0.24's VPX model keeps a fixed one); two vCenters are told "
                    "apart by it, so the simulator must give each run its own "
                    "(tests/vsphere/sim serve.go: set m.ServiceContent.About.InstanceUuid)";
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  auto dst = second->connect("host=DC0_C0_H1");
  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported) << e->what();
  const std::string msg = e->what();
  EXPECT_NE(msg.find("across vCenters"), std::string::npos) << msg;
  EXPECT_NE(msg.find("?host="), std::string::npos) << "the fix is missing: " << msg;
  EXPECT_EQ(host_of(name), here);
}

TEST_F(VsphereMigration, AnotherEsxHostIsUnsupportedWithTheFix) {
  // Standalone hosts have no instanceUuid: their endpoints tell them apart.
  VSPHERE_START_SIM(one, vsphere_test::SimOptions{.mode = "esx", .vms = 1, .datastores = 2});
  VSPHERE_START_SIM(other, vsphere_test::SimOptions{.mode = "esx", .vms = 1, .datastores = 2});
  const std::string name = "ha-host_VM0";
  const json before = one->find_vm(name);
  ASSERT_FALSE(before.is_null());
  auto src = one->connect();
  auto dst = other->connect("datastore=LocalDS_1");
  auto e = error_of([&] { src->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported) << e->what();
  const std::string msg = e->what();
  EXPECT_NE(msg.find("esx://hyper@127.0.0.1:" + std::to_string(one->port()) + "/?host="),
            std::string::npos)
      << "the fix names the source endpoint: " << msg;
  EXPECT_EQ(one->find_vm(name)["datastores"], before["datastores"]);

  // The same host through a second connection is fine: a storage vMotion.
  auto same = one->connect("datastore=LocalDS_1");
  src->migration().migrate(name, *same, {}, {}, CancelToken());
  EXPECT_EQ(one->find_vm(name)["datastores"], json::array({"LocalDS_1"}));
}

TEST_F(VsphereMigration, AHostInAnotherDatacenterIsUnsupported) {
  VSPHERE_START_SIM(two, vsphere_test::SimOptions{.mode = "vpx", .vms = 1, .datacenters = 2});
  const std::string name = "DC0_H0_VM0";
  std::string uri = two->uri("host=DC1_H0");
  const auto slash = uri.find("/?");
  ASSERT_NE(slash, std::string::npos) << uri;
  uri.replace(slash, 2, "/DC1?");  // the target connection works in datacenter DC1
  auto src = two->connect();
  auto dst = vsphere_test::registry().open(uri, two->connect_options());
  auto e = error_of([&] { src->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported) << e->what();
  EXPECT_NE(std::string(e->what()).find("datacenter"), std::string::npos) << e->what();
  const json v = two->find_vm(name);
  ASSERT_FALSE(v.is_null()) << "no " << name << " in the second simulator";
  EXPECT_EQ(v.value("host", ""), "DC0_H0");
}

TEST_F(VsphereMigration, HostileNamesInTheTargetUriComeBackAsOneSafeLine) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  for (const std::string& hostile :
       {std::string("esx'\"; $(reboot) & <b>"), std::string("line1\nline2\r\x1b[31m"),
        std::string("h\xc3\xb4te-\xe2\x82\xac")}) {
    // The URI parser may refuse a name outright; either way, one safe line.
    std::unique_ptr<Connection> dst;
    auto e = error_of([&] {
      dst = to("host=" + pct(hostile));
      src_->migration().migrate(name, *dst, {}, {}, CancelToken());
    });
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->code() == ErrorCode::NotFound || e->code() == ErrorCode::InvalidArgument)
        << e->what();
    const std::string msg = e->what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
    if (!dst) continue;
    const PreflightReport r = src_->migration().preflight(name, *dst, {});
    EXPECT_FALSE(r.ok()) << describe(r);
    for (const auto& i : r.items) {
      EXPECT_EQ(i.message.find('\n'), std::string::npos) << i.message;
      EXPECT_EQ(i.message.find('\x1b'), std::string::npos) << i.message;
    }
  }
  // Non-ASCII survives as itself.
  auto dst = to("datastore=" + pct("d\xc3\xa9p\xc3\xb4t"));
  auto e = error_of([&] { src_->migration().migrate(name, *dst, {}, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("d\xc3\xa9p\xc3\xb4t"), std::string::npos) << e->what();
  EXPECT_EQ(host_of(name), here);
}

TEST_F(VsphereMigration, AVmWithAHostileNameMovesAndKeepsItsName) {
  const std::string name = "mig 'q' \"dq\" <a&b> $(x); 100% / \\ \xc3\xa9t\xc3\xa9";
  auto maker = to("host=DC0_C0_H0");
  hyperctl::VmSpec spec;
  spec.name = name;
  spec.memory_bytes = 64ull << 20;
  maker->vms().create(spec);
  ASSERT_EQ(host_of(name), "DC0_C0_H0");
  struct Remove {
    Connection& c;
    std::string name;
    ~Remove() {
      try {
        hyperctl::DeleteOptions o;
        o.force = true;
        o.with_storage = true;
        c.vms().remove(name, o);
      } catch (const Error&) {
      }
    }
  } remove{*src_, name};

  auto dst = to("host=DC0_C0_H2");
  const PreflightReport r = src_->migration().preflight(name, *dst, {});
  EXPECT_TRUE(r.ok()) << describe(r);
  ASSERT_NE(find_item(r, "vm-state"), nullptr) << describe(r);
  EXPECT_NE(find_item(r, "vm-state")->message.find("<a&b> $(x); 100% / \\"), std::string::npos)
      << describe(r);
  const VmInfo moved = src_->migration().migrate(name, *dst, {}, {}, CancelToken());
  EXPECT_EQ(moved.name, name);
  const json after = vm(name);
  EXPECT_EQ(after["host"], "DC0_C0_H2");
  EXPECT_EQ(after["name"], name);
}

TEST_F(VsphereMigration, CapabilitiesListPreflightLiveAndCold) {
  auto caps = vsphere_test::registry().backend_for("vsphere").capabilities();
  EXPECT_TRUE(caps.has(hyperctl::Operation::MigratePreflight));
  EXPECT_TRUE(caps.has(hyperctl::Operation::MigrateLive));
  // A stopped VM moves by the same RelocateVM_Task (cold migration).
  EXPECT_TRUE(caps.has(hyperctl::Operation::MigrateOffline));
}

// ------------------------------------------------------------ the CLI

TEST_F(VsphereMigration, CliCheckPrintsTheReportAndMigrateMovesTheVm) {
  const std::string name = "DC0_H0_VM0";
  const std::string from = host_of(name);
  const std::string dest = other_cluster_host(from);
  const std::string target = sim().uri("host=" + pct(dest));

  auto check = sim().cli({"-c", sim().uri(), "migrate", name, "--to", target, "--check"});
  EXPECT_EQ(check.status, 0) << check;
  EXPECT_NE(check.out.find("target-host"), std::string::npos) << check;
  EXPECT_NE(check.out.find("no blocker"), std::string::npos) << check;
  EXPECT_EQ(host_of(name), from) << "--check moved the VM";

  auto moved = sim().cli({"-c", sim().uri(), "migrate", name, "--to", target});
  EXPECT_EQ(moved.status, 0) << moved;
  EXPECT_NE(moved.out.find("migrated live"), std::string::npos) << moved;
  EXPECT_EQ(host_of(name), dest);
  EXPECT_EQ(moved.out.find(sim().password()), std::string::npos);
  EXPECT_EQ(moved.err.find(sim().password()), std::string::npos);

  // Back, so that other tests find it where they expect.
  auto back = sim().cli({"-c", sim().uri(), "migrate", name, "--to", sim().uri("host=DC0_H0")});
  EXPECT_EQ(back.status, 0) << back;
  EXPECT_EQ(host_of(name), "DC0_H0");
}

TEST_F(VsphereMigration, CliMovesAPoweredOffVmColdWithoutBeingTold) {
  // The CLI picks offline mode for a VM that does not run; on vSphere that is
  // a cold RelocateVM_Task, the same call, reported as offline.
  const std::string name = "DC0_C0_RP0_VM1";
  auto off = sim().cli({"-c", sim().uri(), "poweroff", name});
  ASSERT_EQ(off.status, 0) << off;
  ASSERT_EQ(vm(name)["powerState"], "poweredOff");
  const std::string dest = other_cluster_host(host_of(name));
  auto moved = sim().cli(
      {"-c", sim().uri(), "-o", "json", "migrate", name, "--to", sim().uri("host=" + pct(dest))});
  EXPECT_EQ(moved.status, 0) << moved;
  const json doc = json::parse(moved.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << moved;
  EXPECT_EQ(doc.value("mode", ""), "offline") << moved;
  // Nothing was copied by hyperctl: the sentence says where the VM is, no more.
  const std::string message = doc.value("message", "");
  EXPECT_NE(message.find("migrated offline to"), std::string::npos) << moved;
  EXPECT_NE(message.find(", off"), std::string::npos) << moved;
  EXPECT_EQ(message.find("copied"), std::string::npos) << moved;
  EXPECT_EQ(doc["target_vm"].value("host", ""), dest) << moved;
  EXPECT_EQ(host_of(name), dest);
  EXPECT_EQ(vm(name)["powerState"], "poweredOff");
  src_->vms().start(name);
}

TEST_F(VsphereMigration, CliRefusalsAreOneLineWithTheirExitStatus) {
  const std::string name = "DC0_C0_RP0_VM0";
  const std::string here = host_of(name);
  // The same host: blockers, exit 5 (Conflict), nothing on stdout.
  auto same =
      sim().cli({"-c", sim().uri(), "migrate", name, "--to", sim().uri("host=" + pct(here))});
  EXPECT_EQ(same.status, hyperctl::exit_status(ErrorCode::Conflict)) << same;
  EXPECT_EQ(std::count(same.err.begin(), same.err.end(), '\n'), 1) << same;
  EXPECT_NE(same.err.find("nothing to do"), std::string::npos) << same;
  // --check with a blocker: the table, exit 5.
  auto check =
      sim().cli({"-c", sim().uri(), "migrate", name, "--to", sim().uri("host=nope"), "--check"});
  EXPECT_EQ(check.status, hyperctl::exit_status(ErrorCode::Conflict)) << check;
  EXPECT_NE(check.out.find("blocker"), std::string::npos) << check;
  // No place named: a usage error.
  auto nowhere = sim().cli({"-c", sim().uri(), "migrate", name, "--to", sim().uri()});
  EXPECT_EQ(nowhere.status, hyperctl::exit_status(ErrorCode::InvalidArgument)) << nowhere;
  EXPECT_NE(nowhere.err.find("say where"), std::string::npos) << nowhere;
  EXPECT_EQ(host_of(name), here);
}

}  // namespace
