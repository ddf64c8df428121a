// VM inventory and lifecycle of the vSphere backend through the plugin,
// against govmomi's simulator as a vCenter (vpx) and as a standalone ESXi host
// (esx). Every change is checked through the simulator's second session
// (show(): govmomi's own client), not only through the plugin.
#include <unistd.h>
#include <algorithm>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::Connection;
using hyperctl::ErrorCode;
using hyperctl::VmInfo;
using hyperctl::VmSpec;
using hyperctl::VmState;
using vsphere_test::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;

/// Runs `f`; the hyperctl::Error code it threw (nullopt when none).
template <class F>
std::optional<ErrorCode> code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const hyperctl::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return std::nullopt;
}

std::string power_state(VmState s) {
  switch (s) {
    case VmState::Running:
      return "poweredOn";
    case VmState::Off:
      return "poweredOff";
    case VmState::Suspended:
      return "suspended";
    default:
      return "?";
  }
}

/// The datastore and the network every simulated host has.
std::string first_datastore(const json& inv) {
  return inv["datastores"].at(0)["name"].get<std::string>();
}

/// The VM's power state as the second session sees it ("" when gone).
std::string seen_state(const Simulator& sim, const std::string& name) {
  const json vm = sim.find_vm(name);
  return vm.is_null() ? std::string() : vm["powerState"].get<std::string>();
}

/// A small VM made through the plugin, removed with its storage at the end
/// of the test (whatever state it is in).
class TempVm {
 public:
  TempVm(Connection& c, VmSpec spec) : c_(c), name_(spec.name) { info_ = c_.vms().create(spec); }
  TempVm(Connection& c, const std::string& name) : TempVm(c, small(name)) {}
  ~TempVm() {
    // By moref first: the name may be ambiguous by then (a test's point).
    const auto moref = info_.extras.find("moref");
    try {
      if (moref != info_.extras.end()) {
        c_.vms().remove(moref->second, {.with_storage = true, .force = true, .snapshots = true});
        return;
      }
    } catch (...) {
    }
    try {
      c_.vms().remove(name_, {.with_storage = true, .force = true, .snapshots = true});
    } catch (...) {
    }
  }
  static VmSpec small(const std::string& name) {
    VmSpec s;
    s.name = name;
    s.vcpus = 1;
    s.memory_bytes = 64ull << 20;
    s.disks.push_back({.size_bytes = 4ull << 20});
    return s;
  }
  const VmInfo& info() const { return info_; }
  const std::string& name() const { return name_; }

 private:
  Connection& c_;
  std::string name_;
  VmInfo info_;
};

// ---------------------------------------------------------------------------
// The checks, each run against both kinds of endpoint.

void list_matches_the_second_session(Simulator& sim) {
  auto c = sim.connect();
  const auto vms = c->vms().list({});
  const json inv = sim.show();
  ASSERT_EQ(vms.size(), inv["vms"].size()) << inv.dump(1);
  ASSERT_GE(vms.size(), 2u);
  std::map<std::string, json> by_moref;
  for (const auto& vm : inv["vms"]) by_moref[vm["moref"].get<std::string>()] = vm;
  for (const VmInfo& vm : vms) {
    SCOPED_TRACE(vm.name);
    ASSERT_TRUE(vm.extras.count("moref"));
    ASSERT_TRUE(by_moref.count(vm.extras.at("moref")));
    const json& s = by_moref[vm.extras.at("moref")];
    EXPECT_EQ(vm.name, s["name"]);
    EXPECT_EQ(vm.id, s["instanceUuid"]);
    EXPECT_EQ(vm.extras.at("bios_uuid"), s["uuid"]);
    EXPECT_EQ(vm.backend, "vsphere");
    EXPECT_EQ(power_state(vm.state), s["powerState"]);
    EXPECT_EQ(vm.state_reason, s["powerState"]);
    EXPECT_EQ(vm.vcpus, s["numCpu"].get<unsigned>());
    EXPECT_EQ(vm.memory_bytes, s["memoryMB"].get<std::uint64_t>() << 20);
    EXPECT_EQ(vm.guest_os, s["guestId"]);
    EXPECT_EQ(vm.host, s["host"]);
    EXPECT_EQ(vm.extras.at("template"), s["template"].get<bool>() ? "true" : "false");
    // The listing is light: no devices or datastores (info has them), and
    // the provisioned space as the VM's disk space.
    EXPECT_TRUE(vm.disks.empty());
    EXPECT_TRUE(vm.nics.empty());
    EXPECT_FALSE(vm.extras.count("datastores"));
    ASSERT_TRUE(vm.disk_bytes.has_value());
    EXPECT_EQ(*vm.disk_bytes, s["provisionedBytes"].get<std::uint64_t>());
  }
}

// info gives what list leaves out: devices and datastores, as the second
// session sees them.
void info_matches_the_second_session(Simulator& sim) {
  auto c = sim.connect();
  const json inv = sim.show();
  ASSERT_GE(inv["vms"].size(), 2u);
  for (const json& s : inv["vms"]) {
    const VmInfo vm = c->vms().get(s["moref"].get<std::string>());
    SCOPED_TRACE(vm.name);
    EXPECT_EQ(vm.name, s["name"]);
    EXPECT_EQ(vm.id, s["instanceUuid"]);
    EXPECT_EQ(vm.vcpus, s["numCpu"].get<unsigned>());
    EXPECT_EQ(vm.host, s["host"]);
    EXPECT_FALSE(vm.disk_bytes.has_value()) << "info sums its disks";
    std::string datastores;
    for (const auto& d : s["datastores"])
      datastores += (datastores.empty() ? "" : ",") + d.get<std::string>();
    EXPECT_EQ(vm.extras.at("datastores"), datastores);
    ASSERT_EQ(vm.disks.size(), s["disks"].size());
    for (std::size_t i = 0; i < vm.disks.size(); ++i) {
      EXPECT_EQ(vm.disks[i].path, s["disks"][i]["file"]);
      EXPECT_EQ(vm.disks[i].capacity_bytes, s["disks"][i]["capacityBytes"].get<std::uint64_t>());
      EXPECT_EQ(vm.disks[i].format, "vmdk");
      EXPECT_EQ(vm.disks[i].device, "disk");
      EXPECT_EQ(vm.disks[i].target.rfind("scsi", 0), 0u) << vm.disks[i].target;
    }
    ASSERT_EQ(vm.nics.size(), s["nics"].size());
    for (std::size_t i = 0; i < vm.nics.size(); ++i) {
      EXPECT_EQ(vm.nics[i].mac, s["nics"][i]["mac"]);
      EXPECT_EQ(vm.nics[i].network, s["nics"][i]["network"]);
      std::string type = s["nics"][i]["type"].get<std::string>();  // VirtualE1000
      std::transform(type.begin(), type.end(), type.begin(), ::tolower);
      EXPECT_EQ("virtual" + vm.nics[i].model, type);
    }
  }
}

void list_filters_by_state_and_glob(Simulator& sim) {
  auto c = sim.connect();
  TempVm a(*c, "flt-a"), b(*c, "flt-b"), other(*c, "other-c");
  c->vms().start("flt-a");
  hyperctl::VmFilter f;
  f.name_glob = "flt-?";
  auto names = [&](const hyperctl::VmFilter& filter) {
    std::set<std::string> out;
    for (const auto& vm : c->vms().list(filter)) out.insert(vm.name);
    return out;
  };
  EXPECT_EQ(names(f), (std::set<std::string>{"flt-a", "flt-b"}));
  f.states = {VmState::Running};
  EXPECT_EQ(names(f), (std::set<std::string>{"flt-a"}));
  f.states = {VmState::Off, VmState::Suspended};
  EXPECT_EQ(names(f), (std::set<std::string>{"flt-b"}));
  f.name_glob = "nothing-*";
  f.states.clear();
  EXPECT_TRUE(names(f).empty());
  // The state filter alone: every running VM of the second session's view.
  hyperctl::VmFilter running;
  running.states = {VmState::Running};
  std::set<std::string> seen;
  const json inv = sim.show();
  for (const auto& vm : inv["vms"])
    if (vm["powerState"] == "poweredOn") seen.insert(vm["name"].get<std::string>());
  EXPECT_EQ(names(running), seen);
}

void get_by_every_kind_of_id(Simulator& sim) {
  auto c = sim.connect();
  const json s = sim.show()["vms"].at(0);
  const std::string name = s["name"], id = s["instanceUuid"], bios = s["uuid"], moref = s["moref"];
  for (const std::string& ref : {name, id, bios, moref}) {
    SCOPED_TRACE(ref);
    const VmInfo vm = c->vms().get(ref);
    EXPECT_EQ(vm.id, id);
    EXPECT_EQ(vm.name, name);
    EXPECT_EQ(vm.extras.at("moref"), moref);
  }
  std::string upper = id;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_EQ(c->vms().get(upper).id, id) << "UUIDs compare without case";
}

void unknown_vm_is_not_found(Simulator& sim) {
  auto c = sim.connect();
  std::string message;
  EXPECT_EQ(code_of([&] { c->vms().get("no-such-vm"); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("no-such-vm"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { c->vms().start("no-such-vm"); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { c->vms().remove("vm-999999", {}); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { c->vms().get("00000000-0000-0000-0000-000000000000"); }),
            ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { c->vms().get(""); }), ErrorCode::InvalidArgument);
}

void power_cycle(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "cycle");
  auto& ops = c->vms();
  const std::string n = vm.name();
  EXPECT_EQ(vm.info().state, VmState::Off);
  EXPECT_EQ(seen_state(sim, n), "poweredOff");
  // Wrong states first: nothing changes.
  EXPECT_EQ(code_of([&] { ops.power_off(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.reset(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.save(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.resume(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.reboot(n); }), ErrorCode::Conflict);
  EXPECT_EQ(seen_state(sim, n), "poweredOff");

  ops.start(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOn");
  EXPECT_EQ(ops.get(n).state, VmState::Running);
  EXPECT_EQ(code_of([&] { ops.start(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.resume(n); }), ErrorCode::Conflict);

  // No pause in RAM on vSphere: suspend says so and changes nothing.
  std::string message;
  EXPECT_EQ(code_of([&] { ops.suspend(n); }, &message), ErrorCode::Unsupported);
  EXPECT_NE(message.find("save"), std::string::npos) << message;
  EXPECT_EQ(seen_state(sim, n), "poweredOn");

  // save is vSphere's suspend (memory to disk); resume powers it on.
  ops.save(n);
  EXPECT_EQ(seen_state(sim, n), "suspended");
  EXPECT_EQ(ops.get(n).state, VmState::Suspended);
  EXPECT_EQ(code_of([&] { ops.save(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.reset(n); }), ErrorCode::Conflict);
  EXPECT_EQ(code_of([&] { ops.shutdown(n, {}, {}, {}); }), ErrorCode::Conflict);
  EXPECT_EQ(seen_state(sim, n), "suspended");

  ops.resume(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOn");
  ops.reset(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOn");

  ops.power_off(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOff");

  // A saved VM starts again with start too, and powers off.
  ops.start(n);
  ops.save(n);
  ops.start(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOn");
  ops.save(n);
  ops.power_off(n);
  EXPECT_EQ(seen_state(sim, n), "poweredOff");
}

void shutdown_waits_for_power_off(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "shut");
  auto& ops = c->vms();
  EXPECT_EQ(ops.shutdown(vm.name(), {}, {}, {}), hyperctl::ShutdownOutcome::AlreadyOff);
  ops.start(vm.name());
  std::vector<hyperctl::Progress> seen;
  const auto outcome = ops.shutdown(vm.name(), {.timeout = std::chrono::seconds(20)},
                                    [&](const hyperctl::Progress& p) { seen.push_back(p); }, {});
  EXPECT_EQ(outcome, hyperctl::ShutdownOutcome::Stopped);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOff");
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().phase, "shutdown");
  EXPECT_EQ(seen.front().total, 20000u);
  EXPECT_EQ(ops.shutdown(vm.name(), {}, {}, {}), hyperctl::ShutdownOutcome::AlreadyOff);
}

void shutdown_cancelled_leaves_it_running(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "shut-cancel");
  c->vms().start(vm.name());
  hyperctl::CancelToken cancel;
  cancel.cancel();
  EXPECT_EQ(code_of([&] { c->vms().shutdown(vm.name(), {}, {}, cancel); }), ErrorCode::Cancelled);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
}

// A guest that cannot be asked (ShutdownGuest faults, as without VMware
// Tools): an error with the VM still running, or with force a power-off.
void shutdown_force_when_the_guest_cannot_be_asked(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "shut-force");
  c->vms().start(vm.name());
  sim.inject("ShutdownGuest=fault*1");
  EXPECT_EQ(code_of([&] { c->vms().shutdown(vm.name(), {}, {}, {}); }), ErrorCode::BackendFailure);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
  sim.inject("ShutdownGuest=fault*1");
  EXPECT_EQ(c->vms().shutdown(vm.name(), {.force = true}, {}, {}),
            hyperctl::ShutdownOutcome::ForcedOff);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOff");
  sim.clear_injections();
}

/// Makes the simulator accept the next ShutdownGuest without stopping the
/// guest (inject mode "ok": an empty answer, the call not forwarded), as a
/// guest that takes its time; false when this simulator has no such mode.
bool guest_ignores_next_shutdown(Simulator& sim, std::string* why) {
  try {
    sim.inject("ShutdownGuest=ok*1");
    return true;
  } catch (const std::exception& e) {
    *why =
        std::string("the simulator cannot stand in for a slow guest (inject ShutdownGuest=ok): ") +
        e.what();
    return false;
  }
}

void shutdown_timeout_force_and_cancel_while_waiting(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "slow-guest");
  auto& ops = c->vms();
  ops.start(vm.name());
  std::string why;
  if (!guest_ignores_next_shutdown(sim, &why)) GTEST_SKIP() << why;

  // No force: Timeout after the deadline, the VM still running.
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  EXPECT_EQ(
      code_of([&] { ops.shutdown(vm.name(), {.timeout = std::chrono::milliseconds(800)}, {}, {}); },
              &message),
      ErrorCode::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(800));
  EXPECT_NE(message.find("still running"), std::string::npos) << message;
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");

  // Cancelled while waiting: stops waiting, the VM still running.
  ASSERT_TRUE(guest_ignores_next_shutdown(sim, &why)) << why;
  hyperctl::CancelToken cancel;
  int reports = 0;
  EXPECT_EQ(code_of([&] {
              ops.shutdown(
                  vm.name(), {.timeout = std::chrono::seconds(30)},
                  [&](const hyperctl::Progress&) {
                    if (++reports == 2) cancel.cancel();  // after the first poll
                  },
                  cancel);
            }),
            ErrorCode::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");

  // Force: powered off once the deadline passes.
  ASSERT_TRUE(guest_ignores_next_shutdown(sim, &why)) << why;
  EXPECT_EQ(
      ops.shutdown(vm.name(), {.timeout = std::chrono::milliseconds(500), .force = true}, {}, {}),
      hyperctl::ShutdownOutcome::ForcedOff);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOff");
  sim.clear_injections();
}

void reboot_asks_the_guest(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "reboot");
  c->vms().start(vm.name());
  std::string message;
  const auto code = code_of([&] { c->vms().reboot(vm.name()); }, &message);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
  if (!code) return;  // a simulator that implements RebootGuest
  // govmomi's simulator has no RebootGuest: Unsupported on this connection,
  // naming the method, and the VM untouched.
  EXPECT_EQ(code, ErrorCode::Unsupported) << message;
  EXPECT_NE(message.find("RebootGuest"), std::string::npos) << message;
  // A server that has it (its answer stood in by the simulator): the call
  // reaches it once and reboot succeeds.
  sim.reset_stats();
  sim.inject("RebootGuest=ok*1");
  c->vms().reboot(vm.name());
  EXPECT_EQ(sim.stats()["methods"].value("RebootGuest", 0), 1);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
}

void create_with_disk_and_nic(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  const std::string ds = first_datastore(before);
  VmSpec spec;
  spec.name = "made-" + sim.options().mode;
  spec.vcpus = 2;
  spec.memory_bytes = 256ull << 20;
  spec.guest_os = "linux";
  spec.firmware = "uefi";
  spec.disks.push_back({.size_bytes = 64ull << 20, .pool = ds});
  spec.networks.push_back("VM Network");
  TempVm vm(*c, spec);
  const VmInfo& info = vm.info();
  EXPECT_EQ(info.name, spec.name);
  EXPECT_EQ(info.state, VmState::Off);
  EXPECT_EQ(info.vcpus, 2u);
  EXPECT_EQ(info.memory_bytes, 256ull << 20);
  EXPECT_EQ(info.guest_os, "other3xLinux64Guest");
  ASSERT_EQ(info.disks.size(), 1u);
  EXPECT_EQ(info.disks[0].capacity_bytes, 64ull << 20);
  EXPECT_EQ(info.disks[0].target, "scsi0:0");
  ASSERT_EQ(info.nics.size(), 1u);
  EXPECT_EQ(info.nics[0].network, "VM Network");
  EXPECT_EQ(info.nics[0].model, "vmxnet3");

  const json s = sim.find_vm(spec.name);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(s["instanceUuid"], info.id);
  EXPECT_EQ(s["numCpu"], 2);
  EXPECT_EQ(s["memoryMB"], 256);
  EXPECT_EQ(s["guestId"], "other3xLinux64Guest");
  EXPECT_EQ(s["powerState"], "poweredOff");
  ASSERT_EQ(s["disks"].size(), 1u);
  EXPECT_EQ(s["disks"][0]["capacityBytes"], 64ll << 20);
  EXPECT_EQ(s["disks"][0]["file"], info.disks[0].path);
  EXPECT_EQ(s["disks"][0]["file"].get<std::string>().rfind("[" + ds + "] ", 0), 0u);
  ASSERT_EQ(s["nics"].size(), 1u);
  EXPECT_EQ(s["nics"][0]["network"], "VM Network");
  EXPECT_EQ(s["nics"][0]["type"], "VirtualVmxnet3");
  EXPECT_EQ(s["datastores"], json::array({ds}));
  EXPECT_EQ(sim.show()["vms"].size(), before["vms"].size() + 1);
  // Its files on the datastore.
  bool disk_file = false;
  for (const auto& f : sim.files(ds, spec.name))
    disk_file = disk_file || f["path"] == spec.name + "/" + spec.name + ".vmdk";
  EXPECT_TRUE(disk_file) << sim.files(ds, spec.name).dump(1);
  EXPECT_EQ(json::parse(c->vms().export_config(spec.name))["firmware"], "efi");
  // It runs.
  c->vms().start(spec.name);
  EXPECT_EQ(seen_state(sim, spec.name), "poweredOn");
}

void create_guest_ids(Simulator& sim) {
  auto c = sim.connect();
  for (const auto& [hint, id] :
       std::vector<std::pair<std::string, std::string>>{{"", "otherGuest64"},
                                                        {"windows", "windows9_64Guest"},
                                                        {"rhel7_64Guest", "rhel7_64Guest"}}) {
    VmSpec spec = TempVm::small("guest-" + (hint.empty() ? std::string("none") : hint));
    spec.guest_os = hint;
    TempVm vm(*c, spec);
    EXPECT_EQ(vm.info().guest_os, id);
    EXPECT_EQ(sim.find_vm(spec.name)["guestId"], id);
  }
  VmSpec bad = TempVm::small("guest-bad");
  bad.guest_os = "not a guest id!";
  EXPECT_EQ(code_of([&] { c->vms().create(bad); }), ErrorCode::InvalidArgument);
  EXPECT_TRUE(sim.find_vm("guest-bad").is_null());
}

void create_refuses_bad_input_and_leaves_nothing(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  const std::string taken = before["vms"].at(0)["name"];
  std::string message;
  EXPECT_EQ(code_of([&] { c->vms().create(TempVm::small(taken)); }, &message),
            ErrorCode::AlreadyExists);
  EXPECT_NE(message.find(taken), std::string::npos) << message;

  VmSpec no_net = TempVm::small("bad-net");
  no_net.networks.push_back("no such network");
  EXPECT_EQ(code_of([&] { c->vms().create(no_net); }), ErrorCode::NotFound);
  VmSpec no_ds = TempVm::small("bad-ds");
  no_ds.disks[0].pool = "no such datastore";
  EXPECT_EQ(code_of([&] { c->vms().create(no_ds); }), ErrorCode::NotFound);
  VmSpec no_cpu = TempVm::small("bad-cpu");
  no_cpu.vcpus = 0;
  EXPECT_EQ(code_of([&] { c->vms().create(no_cpu); }), ErrorCode::InvalidArgument);
  VmSpec odd_memory = TempVm::small("bad-mem");
  odd_memory.memory_bytes = (64ull << 20) + 1;
  EXPECT_EQ(code_of([&] { c->vms().create(odd_memory); }), ErrorCode::InvalidArgument);
  VmSpec firmware = TempVm::small("bad-fw");
  firmware.firmware = "coreboot";
  EXPECT_EQ(code_of([&] { c->vms().create(firmware); }), ErrorCode::InvalidArgument);
  VmSpec qcow = TempVm::small("bad-format");
  qcow.disks[0].format = "qcow2";
  EXPECT_EQ(code_of([&] { c->vms().create(qcow); }), ErrorCode::InvalidArgument);
  VmSpec no_size = TempVm::small("bad-size");
  no_size.disks[0].size_bytes = 0;
  EXPECT_EQ(code_of([&] { c->vms().create(no_size); }), ErrorCode::InvalidArgument);
  VmSpec missing = TempVm::small("bad-path");
  missing.disks[0] = {.path = "[" + first_datastore(before) + "] nowhere/none.vmdk"};
  EXPECT_EQ(code_of([&] { c->vms().create(missing); }), ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] { c->vms().create(TempVm::small("")); }), ErrorCode::InvalidArgument);

  const json after = sim.show();
  EXPECT_EQ(after["vms"], before["vms"]) << "a refused create changed the inventory";
  EXPECT_EQ(sim.files(first_datastore(before)), sim.files(first_datastore(after)));
  for (const auto& f : sim.files(first_datastore(after)))
    EXPECT_EQ(f["path"].get<std::string>().rfind("bad-", 0), std::string::npos) << f.dump();
}

// The server answers CreateVM_Task but the answer is lost on the way: the VM
// exists on the server, and create must destroy it before it fails.
void create_lost_answer_leaves_nothing(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  sim.inject("CreateVM_Task=truncated*1");
  EXPECT_TRUE(code_of([&] { c->vms().create(TempVm::small("lost-answer")); }).has_value());
  sim.clear_injections();
  EXPECT_TRUE(sim.find_vm("lost-answer").is_null()) << "the half-made VM was left behind";
  EXPECT_EQ(sim.show()["vms"].size(), before["vms"].size());
  for (const auto& f : sim.files(first_datastore(before)))
    EXPECT_EQ(f["path"].get<std::string>().rfind("lost-answer", 0), std::string::npos) << f.dump();
}

// govmomi's simulator takes a VM name ending in ".vmx" for the path of its
// configuration file: it writes files, then fails the create
// (InvalidDatastorePath). A create the server fails half-way must leave
// nothing on the datastore either.
void create_failed_by_the_server_leaves_nothing(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  const std::string ds = first_datastore(before);
  const json files_before = sim.files(ds);
  EXPECT_TRUE(code_of([&] { c->vms().create(TempVm::small("half-made.vmx")); }).has_value());
  EXPECT_TRUE(sim.find_vm("half-made.vmx").is_null());
  EXPECT_EQ(sim.show()["vms"], before["vms"]);
  EXPECT_EQ(sim.files(ds), files_before);
}

// Existing files: a disk left by a VM deleted without its storage, and an
// ISO uploaded to the datastore, attached to a new VM; a missing one is
// NotFound before anything is made.
void create_with_an_existing_disk_and_an_iso(Simulator& sim) {
  auto c = sim.connect();
  const std::string ds = first_datastore(sim.show());
  c->vms().create(TempVm::small("disk-donor"));
  const std::string disk = sim.find_vm("disk-donor")["disks"][0]["file"];
  c->vms().remove("disk-donor", {});
  ASSERT_TRUE(sim.find_vm("disk-donor").is_null());

  const std::string iso = (std::filesystem::temp_directory_path() /
                           ("hyperctl-vm-test-" + std::to_string(::getpid()) + ".iso"))
                              .string();
  { std::ofstream(iso) << "not really an ISO image"; }
  c->storage().upload_volume(ds, "boot-" + sim.options().mode + ".iso", iso, {}, {}, {});
  std::filesystem::remove(iso);

  VmSpec spec = TempVm::small("reuses-disk");
  spec.disks = {{.path = disk},
                {.pool = ds, .volume = "boot-" + sim.options().mode + ".iso", .device = "cdrom"}};
  TempVm vm(*c, spec);
  // The disk, then the CD-ROM with its image (format iso; its size is not
  // in the device: 0, the same in info and list).
  ASSERT_EQ(vm.info().disks.size(), 2u);
  EXPECT_EQ(vm.info().disks[0].path, disk);
  EXPECT_EQ(vm.info().disks[0].device, "disk");
  const std::string iso_path = "[" + ds + "] boot-" + sim.options().mode + ".iso";
  const auto check_cdrom = [&](const VmInfo& info) {
    ASSERT_EQ(info.disks.size(), 2u);
    const hyperctl::DiskInfo& cd = info.disks[1];
    EXPECT_EQ(cd.device, "cdrom");
    EXPECT_EQ(cd.path, iso_path);
    EXPECT_EQ(cd.format, "iso");
    EXPECT_EQ(cd.capacity_bytes, 0u);
    EXPECT_FALSE(cd.target.empty());
  };
  check_cdrom(vm.info());
  check_cdrom(c->vms().get(spec.name));
  for (const auto& listed : c->vms().list({}))
    if (listed.name == spec.name) {
      EXPECT_TRUE(listed.disks.empty()) << "list reads no devices";
      EXPECT_EQ(listed.disk_bytes, sim.find_vm(spec.name)["provisionedBytes"].get<std::uint64_t>());
    }
  const json s = sim.find_vm(spec.name);
  ASSERT_EQ(s["disks"].size(), 1u);
  EXPECT_EQ(s["disks"][0]["file"], disk);
  bool cdrom = false;
  const json exported = json::parse(c->vms().export_config(spec.name));
  for (const auto& d : exported["devices"])
    if (d["kind"] == "cdrom")
      cdrom = d.value("file", "") == "[" + ds + "] boot-" + sim.options().mode + ".iso";
  EXPECT_TRUE(cdrom) << exported.dump(1);

  VmSpec missing = TempVm::small("no-iso");
  missing.disks.push_back({.pool = ds, .volume = "absent.iso", .device = "cdrom"});
  std::string message;
  EXPECT_EQ(code_of([&] { c->vms().create(missing); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("absent.iso"), std::string::npos) << message;
  EXPECT_TRUE(sim.find_vm("no-iso").is_null());
}

void set_resources(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "resize");
  auto& ops = c->vms();
  const VmInfo after = ops.set_resources(vm.name(), {.vcpus = 3, .memory_bytes = 512ull << 20});
  EXPECT_EQ(after.vcpus, 3u);
  EXPECT_EQ(after.memory_bytes, 512ull << 20);
  json s = sim.find_vm(vm.name());
  EXPECT_EQ(s["numCpu"], 3);
  EXPECT_EQ(s["memoryMB"], 512);
  // Only memory.
  ops.set_resources(vm.name(), {.memory_bytes = 128ull << 20});
  s = sim.find_vm(vm.name());
  EXPECT_EQ(s["numCpu"], 3);
  EXPECT_EQ(s["memoryMB"], 128);
  EXPECT_EQ(code_of([&] { ops.set_resources(vm.name(), {.vcpus = 0}); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { ops.set_resources(vm.name(), {.memory_bytes = 1000}); }),
            ErrorCode::InvalidArgument);
  // Running: only live, and only with hot-add (off on a new VM).
  ops.start(vm.name());
  std::string message;
  EXPECT_EQ(code_of([&] { ops.set_resources(vm.name(), {.vcpus = 4}); }, &message),
            ErrorCode::Conflict);
  EXPECT_NE(message.find("live"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { ops.set_resources(vm.name(), {.vcpus = 4, .live = true}); }, &message),
            ErrorCode::Conflict);
  EXPECT_NE(message.find("hot-add"), std::string::npos) << message;
  EXPECT_EQ(
      code_of([&] { ops.set_resources(vm.name(), {.memory_bytes = 64ull << 20, .live = true}); }),
      ErrorCode::Conflict);
  s = sim.find_vm(vm.name());
  EXPECT_EQ(s["numCpu"], 3);
  EXPECT_EQ(s["memoryMB"], 128);
  // Nothing asked: nothing changes.
  EXPECT_EQ(ops.set_resources(vm.name(), {}).vcpus, 3u);
}

/// set_resources is all or nothing: a refused change (a bad memory size
/// beside a good vCPU count, past vSphere's maxima, a live change of a VM
/// that is off, a running VM without hot-add) sends no ReconfigVM_Task and
/// leaves vCPUs and memory as they were; a ReconfigVM_Task the server fails
/// changes nothing either.
void set_resources_is_all_or_nothing(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "all-or-nothing");
  auto& ops = c->vms();
  const std::string n = vm.name();
  auto unchanged = [&](const std::string& what) {
    const json s = sim.find_vm(n);
    EXPECT_EQ(s["numCpu"], 1) << what;
    EXPECT_EQ(s["memoryMB"], 64) << what;
    EXPECT_EQ(sim.stats()["methods"].value("ReconfigVM_Task", 0), 0) << what;
  };
  struct Case {
    hyperctl::ResourceSettings settings;
    ErrorCode code;
    std::string what;
  };
  const std::vector<Case> off_cases = {
      {{.vcpus = 2, .memory_bytes = 1000}, ErrorCode::InvalidArgument, "memory not in MiB"},
      {{.vcpus = 2, .memory_bytes = 6ull << 20}, ErrorCode::InvalidArgument, "6 MiB"},
      {{.vcpus = 2, .memory_bytes = 25ull << 40}, ErrorCode::InvalidArgument, "25 TiB"},
      {{.vcpus = 769, .memory_bytes = 128ull << 20}, ErrorCode::InvalidArgument, "769 vCPUs"},
      {{.vcpus = 2, .memory_bytes = 128ull << 20, .live = true},
       ErrorCode::Conflict,
       "live change of a VM that is off"},
  };
  for (const auto& k : off_cases) {
    sim.reset_stats();
    std::string message;
    EXPECT_EQ(code_of([&] { ops.set_resources(n, k.settings); }, &message), k.code)
        << k.what << ": " << message;
    unchanged(k.what);
  }
  ops.start(n);
  sim.reset_stats();
  EXPECT_EQ(code_of([&] {
              ops.set_resources(n, {.vcpus = 2, .memory_bytes = 128ull << 20, .live = true});
            }),
            ErrorCode::Conflict);
  unchanged("a running VM without hot-add");
  ops.power_off(n);
  sim.inject("ReconfigVM_Task=fault*1");
  EXPECT_EQ(code_of([&] { ops.set_resources(n, {.vcpus = 2, .memory_bytes = 128ull << 20}); }),
            ErrorCode::BackendFailure);
  sim.clear_injections();
  const json s = sim.find_vm(n);
  EXPECT_EQ(s["numCpu"], 1);
  EXPECT_EQ(s["memoryMB"], 64);
}

void remove_with_and_without_storage(Simulator& sim) {
  auto c = sim.connect();
  const std::string ds = first_datastore(sim.show());
  auto has_files = [&](const std::string& folder) {
    for (const auto& f : sim.files(ds))
      if (f["path"].get<std::string>().rfind(folder + "/", 0) == 0) return true;
    return false;
  };
  auto& ops = c->vms();
  ops.create(TempVm::small("keep-files"));
  ASSERT_TRUE(has_files("keep-files"));
  ops.remove("keep-files", {});
  EXPECT_TRUE(sim.find_vm("keep-files").is_null());
  EXPECT_TRUE(has_files("keep-files")) << "without storage the files stay on the datastore";
  EXPECT_EQ(code_of([&] { ops.get("keep-files"); }), ErrorCode::NotFound);

  ops.create(TempVm::small("drop-files"));
  ASSERT_TRUE(has_files("drop-files"));
  const std::string disk = sim.find_vm("drop-files")["disks"][0]["file"];
  const hyperctl::DeleteReport report = ops.remove("drop-files", {.with_storage = true});
  EXPECT_TRUE(sim.find_vm("drop-files").is_null());
  EXPECT_FALSE(has_files("drop-files"));
  // The report names the disk (and the VM's folder); nothing was kept.
  EXPECT_NE(std::find(report.deleted.begin(), report.deleted.end(), disk), report.deleted.end())
      << disk;
  EXPECT_TRUE(report.kept.empty());

  // Running: a Conflict unless forced.
  ops.create(TempVm::small("running-del"));
  ops.start("running-del");
  EXPECT_EQ(code_of([&] { ops.remove("running-del", {.with_storage = true}); }),
            ErrorCode::Conflict);
  EXPECT_EQ(seen_state(sim, "running-del"), "poweredOn");
  ops.remove("running-del", {.with_storage = true, .force = true});
  EXPECT_TRUE(sim.find_vm("running-del").is_null());
  EXPECT_FALSE(has_files("running-del"));
}

/// The datastore files under `folder/` (second session).
std::set<std::string> files_under(const Simulator& sim, const std::string& ds,
                                  const std::string& folder) {
  std::set<std::string> out;
  for (const auto& f : sim.files(ds)) {
    const std::string p = f["path"];
    if (p.rfind(folder + "/", 0) == 0) out.insert(p);
  }
  return out;
}

/// delete --with-storage never deletes a disk another VM uses: here the
/// disk of VM 'owner', attached to 'sharer' too. Deleting the sharer keeps
/// it (and says so); deleting the owner, whose folder holds it, while the
/// sharer runs, deletes the owner's other files and keeps the disk; once no
/// other VM uses it, the last VM's delete takes it.
void a_shared_disk_survives_delete_with_storage(Simulator& sim) {
  auto c = sim.connect();
  auto& ops = c->vms();
  const std::string ds = first_datastore(sim.show());
  TempVm owner(*c, "owner");
  const std::string disk = sim.find_vm("owner")["disks"][0]["file"];
  const std::string rel = disk.substr(disk.find("] ") + 2);
  const std::string flat = rel.substr(0, rel.size() - 5) + "-flat.vmdk";
  ASSERT_EQ(rel.rfind("owner/", 0), 0u) << disk;
  VmSpec sharing = TempVm::small("sharer");
  sharing.disks = {{.path = disk}};
  {
    TempVm sharer(*c, sharing);
    const hyperctl::DeleteReport r = ops.remove("sharer", {.with_storage = true});
    EXPECT_TRUE(sim.find_vm("sharer").is_null());
    EXPECT_TRUE(files_under(sim, ds, "sharer").empty()) << "the sharer's own files stay";
    ASSERT_EQ(r.kept.size(), 1u);
    EXPECT_EQ(r.kept[0].disk, disk);
    EXPECT_EQ(r.kept[0].reason, "used by VM 'owner'");
    EXPECT_EQ(std::find(r.deleted.begin(), r.deleted.end(), disk), r.deleted.end());
  }
  auto owner_files = files_under(sim, ds, "owner");
  EXPECT_TRUE(owner_files.count(rel) && owner_files.count(flat)) << "the shared disk went";
  EXPECT_EQ(sim.find_vm("owner")["disks"][0]["file"], disk);

  sharing.name = "sharer2";
  TempVm sharer2(*c, sharing);
  ops.start("sharer2");
  const hyperctl::DeleteReport r = ops.remove("owner", {.with_storage = true});
  EXPECT_TRUE(sim.find_vm("owner").is_null());
  owner_files = files_under(sim, ds, "owner");
  EXPECT_EQ(owner_files, (std::set<std::string>{rel, flat}))
      << "the disk sharer2 uses stays, the owner's other files go";
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_EQ(r.kept[0].disk, disk);
  EXPECT_EQ(r.kept[0].reason, "used by VM 'sharer2'");
  const json s2 = sim.find_vm("sharer2");
  EXPECT_EQ(s2["powerState"], "poweredOn");
  EXPECT_EQ(s2["disks"][0]["file"], disk);

  const hyperctl::DeleteReport last = ops.remove("sharer2", {.with_storage = true, .force = true});
  EXPECT_TRUE(last.kept.empty());
  EXPECT_NE(std::find(last.deleted.begin(), last.deleted.end(), disk), last.deleted.end());
  EXPECT_TRUE(files_under(sim, ds, "owner").empty()) << "no VM uses it any more";
  EXPECT_TRUE(files_under(sim, ds, "sharer2").empty());
}

/// A VM with snapshots is deleted only with options.snapshots; refused, it
/// keeps its snapshots, power state and files.
void a_vm_with_snapshots_needs_the_snapshots_option(Simulator& sim) {
  auto c = sim.connect();
  auto& ops = c->vms();
  const std::string ds = first_datastore(sim.show());
  TempVm vm(*c, "snapped");
  c->snapshots().create("snapped", {"one", "", false});
  c->snapshots().create("snapped", {"two", "", false});
  const auto files_before = files_under(sim, ds, "snapped");
  for (const bool with_storage : {true, false}) {
    SCOPED_TRACE(with_storage);
    std::string message;
    EXPECT_EQ(code_of([&] { ops.remove("snapped", {.with_storage = with_storage, .force = true}); },
                      &message),
              ErrorCode::Conflict);
    EXPECT_NE(message.find("has 2 snapshots"), std::string::npos) << message;
    EXPECT_NE(message.find("--snapshots"), std::string::npos) << message;
    const json seen = sim.find_vm("snapped");
    ASSERT_FALSE(seen.is_null()) << "deleted anyway";
    EXPECT_EQ(seen["snapshots"].size(), 1u);
    EXPECT_EQ(seen["snapshots"][0]["children"].size(), 1u);
    EXPECT_EQ(files_under(sim, ds, "snapped"), files_before);
  }
  const hyperctl::DeleteReport r = ops.remove("snapped", {.with_storage = true, .snapshots = true});
  EXPECT_TRUE(sim.find_vm("snapped").is_null());
  EXPECT_TRUE(files_under(sim, ds, "snapped").empty());
  EXPECT_TRUE(r.kept.empty());
}

/// "Already in that state" is Conflict (exit status 5) for every command,
/// through the CLI as a script sees it, and the VM stays as it was; a
/// shutdown of a VM that is off says so (AlreadyOff: the CLI makes it a
/// Conflict too).
void already_in_that_state_is_a_conflict(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "same-state");
  const std::string n = vm.name();
  const int conflict = hyperctl::exit_status(ErrorCode::Conflict);
  auto expect_conflict = [&](const std::string& command, const std::string& state) {
    SCOPED_TRACE(command + " when " + state);
    ASSERT_EQ(seen_state(sim, n), state);
    const auto r = sim.cli({"-c", sim.uri(), command, n});
    EXPECT_EQ(r.status, conflict) << r;
    EXPECT_EQ(seen_state(sim, n), state);
  };
  expect_conflict("poweroff", "poweredOff");
  expect_conflict("save", "poweredOff");
  expect_conflict("resume", "poweredOff");
  EXPECT_EQ(c->vms().shutdown(n, {}, {}, {}), hyperctl::ShutdownOutcome::AlreadyOff);
  c->vms().start(n);
  expect_conflict("start", "poweredOn");
  expect_conflict("resume", "poweredOn");
  c->vms().save(n);
  expect_conflict("save", "suspended");
  c->vms().power_off(n);
}

void export_config_is_json_with_the_fields(Simulator& sim) {
  auto c = sim.connect();
  VmSpec spec = TempVm::small("exported");
  spec.networks.push_back("VM Network");
  TempVm vm(*c, spec);
  const json s = sim.find_vm(spec.name);
  const json doc = json::parse(c->vms().export_config(spec.name));
  EXPECT_EQ(doc["name"], spec.name);
  EXPECT_EQ(doc["instanceUuid"], s["instanceUuid"]);
  EXPECT_EQ(doc["uuid"], s["uuid"]);
  EXPECT_EQ(doc["guestId"], s["guestId"]);
  EXPECT_EQ(doc["numCPU"], s["numCpu"]);
  EXPECT_EQ(doc["memoryMB"], s["memoryMB"]);
  EXPECT_EQ(doc["files"]["vmPathName"], s["vmPathName"]);
  EXPECT_EQ(doc["host"], s["host"]);
  EXPECT_EQ(doc["datastores"], s["datastores"]);
  EXPECT_EQ(doc["powerState"], "poweredOff");
  int disks = 0, nics = 0, controllers = 0;
  for (const auto& d : doc["devices"]) {
    if (d["kind"] == "disk") {
      ++disks;
      EXPECT_EQ(d["file"], s["disks"][0]["file"]);
      EXPECT_EQ(d["capacityBytes"], s["disks"][0]["capacityBytes"]);
    } else if (d["kind"] == "nic") {
      ++nics;
      EXPECT_EQ(d["macAddress"], s["nics"][0]["mac"]);
      EXPECT_EQ(d["network"], "VM Network");
    } else if (d["kind"] == "controller") {
      ++controllers;
    }
  }
  EXPECT_EQ(disks, 1);
  EXPECT_EQ(nics, 1);
  EXPECT_GE(controllers, 1);
  EXPECT_FALSE(doc.contains("extraConfig"));
}

void capabilities_are_what_is_implemented(Simulator&) {
  auto& backend = vsphere_test::registry().backend_for("vsphere");
  const auto caps = backend.capabilities();
  for (auto op :
       {hyperctl::Operation::VmList, hyperctl::Operation::VmGet, hyperctl::Operation::VmCreate,
        hyperctl::Operation::VmStart, hyperctl::Operation::VmShutdown,
        hyperctl::Operation::VmPowerOff, hyperctl::Operation::VmReboot,
        hyperctl::Operation::VmReset, hyperctl::Operation::VmResume, hyperctl::Operation::VmSave,
        hyperctl::Operation::VmDelete, hyperctl::Operation::VmDeleteWithStorage,
        hyperctl::Operation::VmSetResources, hyperctl::Operation::VmExportConfig})
    EXPECT_TRUE(caps.has(op)) << hyperctl::to_string(op);
  for (auto op : {hyperctl::Operation::VmDefine, hyperctl::Operation::VmSuspend,
                  hyperctl::Operation::VmAutostart, hyperctl::Operation::VmSetProperty})
    EXPECT_FALSE(caps.has(op)) << hyperctl::to_string(op) << " is not implemented";
}

// ---------------------------------------------------------------------------
// Review fixes: names that look like ids, forced deletes and shutdowns that
// fail half-way, impossible disk sizes, templates, creates that fail.

/// A path to `program` on PATH ("" when none).
std::string program_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto colon = dirs.find(':', start);
    const std::string dir =
        dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {};
}

/// A third client that sends raw vim25 calls through curl, for what the
/// plugin does not offer (MarkAsTemplate, setting an instance UUID). The
/// password goes on curl's stdin and the session cookie into a file of a
/// private temporary folder: neither is in argv. Logs out when destroyed.
class RawSoap {
 public:
  explicit RawSoap(const Simulator& sim) : sim_(sim) {
    curl_ = program_path("curl");
    if (curl_.empty()) {
      why_ = "curl is not installed (the raw vim25 calls of this test go through it)";
      return;
    }
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "hyperctl-rawsoap-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      why_ = "cannot make a temporary folder";
      return;
    }
    dir_ = tmpl;
    const std::string content = call(
        "<RetrieveServiceContent xmlns=\"urn:vim25\"><_this "
        "type=\"ServiceInstance\">ServiceInstance</_this></RetrieveServiceContent>");
    session_manager_ = between(content, "<sessionManager type=\"SessionManager\">", "<");
    if (session_manager_.empty()) {
      why_ = "no session manager in the service content: " + content.substr(0, 300);
      return;
    }
    const std::string login =
        call("<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">" + session_manager_ +
             "</_this><userName>" + sim_.user() + "</userName><password>" + sim_.password() +
             "</password></Login>");
    if (login.find("LoginResponse") == std::string::npos) {
      why_ = "the raw login failed: " + login.substr(0, 300);
      return;
    }
    ok_ = true;
  }
  ~RawSoap() {
    if (ok_) {
      try {
        call("<Logout xmlns=\"urn:vim25\"><_this type=\"SessionManager\">" + session_manager_ +
             "</_this></Logout>");
      } catch (...) {
      }
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }

  /// One call: `inner` is the method element; the answer's body.
  std::string call(const std::string& inner) const {
    const std::string jar = dir_ + "/cookies";
    const std::string envelope =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
        "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>" +
        inner + "</soapenv:Body></soapenv:Envelope>";
    const auto r = vsphere_test::run(
        {curl_, "-sS", "-k", "-b", jar, "-c", jar, "-H", "Content-Type: text/xml; charset=utf-8",
         "-H", "SOAPAction: urn:vim25/6.5", "--data-binary", "@-", sim_.sdk_url()},
        {}, envelope, std::chrono::seconds(30));
    if (r.status != 0) throw std::runtime_error("curl failed: " + r.err);
    return r.out;
  }

  static std::string between(const std::string& text, const std::string& open,
                             const std::string& close) {
    const auto a = text.find(open);
    if (a == std::string::npos) return {};
    const auto b = text.find(close, a + open.size());
    return b == std::string::npos ? std::string()
                                  : text.substr(a + open.size(), b - a - open.size());
  }

 private:
  const Simulator& sim_;
  std::string curl_, dir_, session_manager_, why_;
  bool ok_ = false;
};

/// The VM of show() with that moref (null when none).
json vm_by_moref(const Simulator& sim, const std::string& moref) {
  const json inv = sim.show();
  for (const auto& vm : inv["vms"])
    if (vm["moref"] == moref) return vm;
  return nullptr;
}

// A VM named like another VM's moref, instance UUID or BIOS UUID: the
// reference is ambiguous, so it is a Conflict naming both, and nothing is
// done to either; each stays reachable by an id of its own.
void a_name_that_is_another_vms_id_is_a_conflict(Simulator& sim) {
  auto c = sim.connect();
  const json inv = sim.show();
  json other;
  for (const auto& vm : inv["vms"])
    if (vm["powerState"] == "poweredOn") other = vm;
  ASSERT_FALSE(other.is_null()) << inv["vms"].dump(1);
  const std::string other_moref = other["moref"];
  for (const std::string field : {"moref", "instanceUuid", "uuid"}) {
    SCOPED_TRACE(field);
    const std::string name = other[field];
    TempVm twin(*c, name);
    const std::string twin_moref = twin.info().extras.at("moref");
    ASSERT_NE(twin_moref, other_moref);
    std::string message;
    EXPECT_EQ(code_of([&] { c->vms().get(name); }, &message), ErrorCode::Conflict);
    EXPECT_NE(message.find(other_moref), std::string::npos) << message;
    EXPECT_NE(message.find(twin_moref), std::string::npos) << message;
    EXPECT_NE(message.find(other["instanceUuid"].get<std::string>()), std::string::npos) << message;
    EXPECT_NE(message.find(twin.info().id), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    // Acting on the ambiguous reference touches neither VM.
    EXPECT_EQ(code_of([&] { c->vms().power_off(name); }), ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { c->vms().start(name); }), ErrorCode::Conflict);
    EXPECT_EQ(code_of([&] { c->vms().remove(name, {.with_storage = true, .force = true}); }),
              ErrorCode::Conflict);
    EXPECT_EQ(vm_by_moref(sim, other_moref)["powerState"], "poweredOn");
    EXPECT_EQ(vm_by_moref(sim, twin_moref)["powerState"], "poweredOff");
    // By ids of their own both are reachable.
    EXPECT_EQ(c->vms().get(twin_moref).name, name);
    EXPECT_EQ(c->vms().get(twin.info().id).extras.at("moref"), twin_moref);
    // The other VM by an id that is not the twin's name.
    const std::string other_id =
        field == "moref" ? other["instanceUuid"].get<std::string>() : other_moref;
    EXPECT_EQ(c->vms().get(other_id).extras.at("moref"), other_moref);
  }
  EXPECT_EQ(sim.show()["vms"].size(), inv["vms"].size());
}

// delete --force of a running VM whose Destroy_Task (or UnregisterVM) fails:
// the VM was powered off for the delete, so it is powered on again and the
// error says so.
void forced_delete_that_fails_powers_the_vm_on_again(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "force-fails");
  c->vms().start(vm.name());
  ASSERT_EQ(seen_state(sim, vm.name()), "poweredOn");
  for (const bool with_storage : {true, false}) {
    SCOPED_TRACE(with_storage ? "Destroy_Task" : "UnregisterVM");
    sim.inject(with_storage ? "Destroy_Task=fault*1" : "UnregisterVM=fault*1");
    std::string message;
    const auto code =
        code_of([&] { c->vms().remove(vm.name(), {.with_storage = with_storage, .force = true}); },
                &message);
    sim.clear_injections();
    EXPECT_EQ(code, ErrorCode::BackendFailure) << message;
    EXPECT_NE(message.find("injected fault"), std::string::npos) << message;
    EXPECT_NE(message.find("powered on again"), std::string::npos) << message;
    EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
  }
  // Without force nothing is powered off in the first place.
  EXPECT_EQ(code_of([&] { c->vms().remove(vm.name(), {.with_storage = true}); }),
            ErrorCode::Conflict);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
}

// shutdown with force: the guest cannot be asked, and the power off fails
// too. That is the power off's error, not "Stopped", and the VM runs on.
void forced_shutdown_whose_power_off_fails_is_no_success(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "poweroff-fails");
  c->vms().start(vm.name());
  sim.inject("ShutdownGuest=fault*1");
  sim.inject("PowerOffVM_Task=fault*1");
  std::string message;
  std::optional<hyperctl::ShutdownOutcome> outcome;
  const auto code = code_of(
      [&] {
        outcome = c->vms().shutdown(vm.name(), {.timeout = std::chrono::seconds(5), .force = true},
                                    {}, {});
      },
      &message);
  sim.clear_injections();
  EXPECT_FALSE(outcome.has_value()) << "reported as a success";
  EXPECT_EQ(code, ErrorCode::BackendFailure) << message;
  EXPECT_NE(message.find("injected fault"), std::string::npos) << message;
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");

  // A Conflict that is not about the power state (another task holds the
  // VM): the VM is still on, so that Conflict is the answer, not Stopped.
  sim.inject("ShutdownGuest=fault*1");
  try {
    sim.inject("PowerOffVM_Task=fault:TaskInProgress*1");
  } catch (const std::exception& e) {
    sim.clear_injections();
    GTEST_SKIP() << "this simulator cannot answer with a TaskInProgress fault: " << e.what();
  }
  outcome.reset();
  const auto conflict = code_of(
      [&] {
        outcome = c->vms().shutdown(vm.name(), {.timeout = std::chrono::seconds(5), .force = true},
                                    {}, {});
      },
      &message);
  sim.clear_injections();
  EXPECT_FALSE(outcome.has_value()) << "a TaskInProgress was taken for 'already off'";
  EXPECT_EQ(conflict, ErrorCode::Conflict) << message;
  EXPECT_NE(message.find("TaskInProgress"), std::string::npos) << message;
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOn");
}

// The other side of the same check: while our power off is held back,
// another client powers the VM off; ours then fails (InvalidPowerState, a
// Conflict) and the VM is off now: that is Stopped, not an error.
void forced_shutdown_beaten_by_another_power_off_is_stopped(Simulator& sim) {
  auto c = sim.connect();
  auto other = sim.connect();
  TempVm vm(*c, "poweroff-beaten");
  c->vms().start(vm.name());
  sim.reset_stats();
  sim.inject("ShutdownGuest=fault*1");
  sim.inject("PowerOffVM_Task=delay:2s*1");
  std::optional<hyperctl::ShutdownOutcome> outcome;
  std::string message;
  std::optional<ErrorCode> code;
  std::thread first([&] {
    code =
        code_of([&] { outcome = c->vms().shutdown(vm.name(), {.force = true}, {}, {}); }, &message);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sim.stats()["methods"].value("PowerOffVM_Task", 0) < 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NO_THROW(other->vms().power_off(vm.name()));
  first.join();
  sim.clear_injections();
  EXPECT_FALSE(code.has_value()) << message;
  EXPECT_EQ(outcome, hyperctl::ShutdownOutcome::Stopped);
  EXPECT_EQ(seen_state(sim, vm.name()), "poweredOff");
}

// A disk of 2^64-1 bytes (once rounded up to whole KiB it wrapped to 0) and
// one byte above vSphere's 62 TiB: InvalidArgument, nothing made.
void impossible_disk_sizes_are_refused(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  const std::string ds = first_datastore(before);
  const json files_before = sim.files(ds);
  for (const std::uint64_t size : {~0ull, (62ull << 40) + 1, ~0ull - 1023}) {
    SCOPED_TRACE(size);
    VmSpec spec = TempVm::small("huge-disk");
    spec.disks[0].size_bytes = size;
    std::string message;
    EXPECT_EQ(code_of([&] { c->vms().create(spec); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("62 TiB"), std::string::npos) << message;
  }
  EXPECT_EQ(sim.show()["vms"], before["vms"]);
  EXPECT_EQ(sim.files(ds), files_before);
  // Exactly 62 TiB is allowed (thin: the simulator makes a sparse file).
  VmSpec most = TempVm::small("most-disk");
  most.disks[0].size_bytes = 62ull << 40;
  TempVm vm(*c, most);
  ASSERT_EQ(vm.info().disks.size(), 1u);
  EXPECT_EQ(vm.info().disks[0].capacity_bytes, 62ull << 40);
}

// delete --with-storage follows a disk's backing chain: a VM whose disk is
// a delta over a base disk (as a linked clone's, or one under a snapshot)
// loses both, also when they lie outside its folder. The chain is attached
// through a raw third client (ReconfigVM_Task with a backing parent); the
// simulator makes no deltas itself.
void a_disks_backing_chain_goes_with_it(Simulator& sim) {
  auto c = sim.connect();
  RawSoap raw(sim);
  if (!raw.ok()) GTEST_SKIP() << raw.why();
  auto& st = c->storage();
  const std::string ds = first_datastore(sim.show());
  const std::string tag = "-" + sim.options().mode + "-" + std::to_string(::getpid());
  const std::string base = "chain-base" + tag + "/base", delta = "chain-delta" + tag + "/delta";
  for (const std::string& name : {base, delta}) {
    hyperctl::VolumeSpec spec;
    spec.pool = ds;
    spec.name = name;
    spec.capacity_bytes = 4ull << 20;
    st.create_volume(spec);
  }
  const std::string base_path = "[" + ds + "] " + base + ".vmdk";
  const std::string delta_path = "[" + ds + "] " + delta + ".vmdk";
  TempVm vm(*c, "chained");
  const std::string moref = vm.info().extras.at("moref");
  const json exported = json::parse(c->vms().export_config(vm.name()));
  long long controller = -1;
  for (const auto& d : exported["devices"])
    if (d["kind"] == "disk") controller = d["controllerKey"].get<long long>();
  ASSERT_GE(controller, 0) << exported.dump(1);
  const std::string answer = raw.call(
      "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">" + moref +
      "</_this><spec><deviceChange><operation>add</operation><device "
      "xsi:type=\"VirtualDisk\"><key>-1</key><backing "
      "xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>" +
      delta_path + "</fileName><diskMode>persistent</diskMode><parent><fileName>" + base_path +
      "</fileName><diskMode>persistent</diskMode></parent></backing><controllerKey>" +
      std::to_string(controller) +
      "</controllerKey><unitNumber>1</unitNumber><capacityInKB>4096</capacityInKB></device>"
      "</deviceChange></spec></ReconfigVM_Task>");
  ASSERT_NE(answer.find("ReconfigVM_TaskResponse"), std::string::npos) << answer.substr(0, 400);
  bool attached = false;
  for (int i = 0; i < 50 && !attached; ++i) {
    attached = sim.find_vm(vm.name())["disks"].size() == 2;
    if (!attached) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(attached) << sim.find_vm(vm.name()).dump(1);
  auto on_datastore = [&](const std::string& rel) {
    for (const auto& f : sim.files(ds))
      if (f["path"] == rel) return true;
    return false;
  };
  ASSERT_TRUE(on_datastore(base + ".vmdk") && on_datastore(delta + ".vmdk"));

  const hyperctl::DeleteReport r = c->vms().remove(vm.name(), {.with_storage = true});
  EXPECT_TRUE(sim.find_vm(vm.name()).is_null());
  EXPECT_TRUE(r.kept.empty());
  for (const auto& [rel, path] : {std::pair{base, base_path}, std::pair{delta, delta_path}}) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(on_datastore(rel + ".vmdk")) << "left on the datastore";
    EXPECT_FALSE(on_datastore(rel + "-flat.vmdk")) << "its extent is left";
    EXPECT_NE(std::find(r.deleted.begin(), r.deleted.end(), path), r.deleted.end());
  }
}

// A template (MarkAsTemplate through a raw third client) is refused by every
// power operation, saying it is a template; nothing changes.
void templates_refuse_power_operations(Simulator& sim) {
  auto c = sim.connect();
  TempVm vm(*c, "a-template");
  RawSoap raw(sim);
  if (!raw.ok()) GTEST_SKIP() << raw.why();
  const std::string moref = vm.info().extras.at("moref");
  const std::string answer = raw.call(
      "<MarkAsTemplate xmlns=\"urn:vim25\"><_this "
      "type=\"VirtualMachine\">" +
      moref + "</_this></MarkAsTemplate>");
  if (answer.find("MarkAsTemplateResponse") == std::string::npos)
    GTEST_SKIP() << "this simulator does not make templates (MarkAsTemplate answered: "
                 << answer.substr(0, 300) << ")";
  ASSERT_EQ(vm_by_moref(sim, moref)["template"], true);
  EXPECT_EQ(c->vms().get(vm.name()).extras.at("template"), "true");
  const std::vector<std::pair<std::string, std::function<void()>>> ops = {
      {"start", [&] { c->vms().start(vm.name()); }},
      {"poweroff", [&] { c->vms().power_off(vm.name()); }},
      {"reset", [&] { c->vms().reset(vm.name()); }},
      {"save", [&] { c->vms().save(vm.name()); }},
      {"resume", [&] { c->vms().resume(vm.name()); }},
      {"reboot", [&] { c->vms().reboot(vm.name()); }},
      {"shutdown", [&] { c->vms().shutdown(vm.name(), {.force = true}, {}, {}); }},
  };
  for (const auto& [what, op] : ops) {
    SCOPED_TRACE(what);
    std::string message;
    EXPECT_EQ(code_of(op, &message), ErrorCode::Conflict) << message;
    EXPECT_NE(message.find("VM 'a-template' is a template"), std::string::npos) << message;
    EXPECT_EQ(message.find("powered on ("), std::string::npos) << message;
  }
  const json s = vm_by_moref(sim, moref);
  EXPECT_EQ(s["powerState"], "poweredOff");
  EXPECT_EQ(s["template"], true);
}

// The answer to CreateVM_Task is lost but the VM was made: it is found by
// the instance UUID create chose (not by its name) and destroyed.
void create_finds_its_vm_by_its_instance_uuid(Simulator& sim) {
  auto c = sim.connect();
  const json before = sim.show();
  sim.reset_stats();
  sim.inject("CreateVM_Task=truncated*1");
  EXPECT_EQ(code_of([&] { c->vms().create(TempVm::small("uuid-cleanup")); }),
            ErrorCode::BackendFailure);
  sim.clear_injections();
  EXPECT_EQ(sim.stats()["methods"].value("Destroy_Task", 0), 1) << sim.stats().dump();
  EXPECT_EQ(sim.show()["vms"], before["vms"]);
}

// ---------------------------------------------------------------------------

class VpxVm : public vsphere_test::SimTest<VpxVm> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 2}; }
};
class EsxVm : public vsphere_test::SimTest<EsxVm> {
 public:
  static SimOptions sim_options() { return {.mode = "esx", .vms = 2}; }
};

#define VSPHERE_VM_TEST(Name, check) \
  TEST_F(VpxVm, Name) {              \
    check(sim());                    \
  }                                  \
  TEST_F(EsxVm, Name) {              \
    check(sim());                    \
  }

VSPHERE_VM_TEST(ListMatchesTheSecondSession, list_matches_the_second_session)
VSPHERE_VM_TEST(InfoMatchesTheSecondSession, info_matches_the_second_session)
VSPHERE_VM_TEST(ListFiltersByStateAndNameGlob, list_filters_by_state_and_glob)
VSPHERE_VM_TEST(GetByNameInstanceUuidBiosUuidAndMoref, get_by_every_kind_of_id)
VSPHERE_VM_TEST(UnknownVmIsNotFound, unknown_vm_is_not_found)
VSPHERE_VM_TEST(PowerCycleAndWrongStates, power_cycle)
VSPHERE_VM_TEST(ShutdownWaitsForPowerOff, shutdown_waits_for_power_off)
VSPHERE_VM_TEST(ShutdownCancelledLeavesItRunning, shutdown_cancelled_leaves_it_running)
VSPHERE_VM_TEST(ShutdownForceWhenTheGuestCannotBeAsked,
                shutdown_force_when_the_guest_cannot_be_asked)
VSPHERE_VM_TEST(ShutdownTimeoutForceAndCancelWhileWaiting,
                shutdown_timeout_force_and_cancel_while_waiting)
VSPHERE_VM_TEST(RebootAsksTheGuest, reboot_asks_the_guest)
VSPHERE_VM_TEST(CreateWithDiskAndNic, create_with_disk_and_nic)
VSPHERE_VM_TEST(CreateMapsGuestIds, create_guest_ids)
VSPHERE_VM_TEST(CreateRefusesBadInputAndLeavesNothing, create_refuses_bad_input_and_leaves_nothing)
VSPHERE_VM_TEST(CreateWhoseAnswerIsLostLeavesNothing, create_lost_answer_leaves_nothing)
VSPHERE_VM_TEST(CreateFailedByTheServerLeavesNothing, create_failed_by_the_server_leaves_nothing)
VSPHERE_VM_TEST(CreateWithAnExistingDiskAndAnIso, create_with_an_existing_disk_and_an_iso)
VSPHERE_VM_TEST(SetResources, set_resources)
VSPHERE_VM_TEST(SetResourcesIsAllOrNothing, set_resources_is_all_or_nothing)
VSPHERE_VM_TEST(RemoveWithAndWithoutStorage, remove_with_and_without_storage)
VSPHERE_VM_TEST(ASharedDiskSurvivesDeleteWithStorage, a_shared_disk_survives_delete_with_storage)
VSPHERE_VM_TEST(AlreadyInThatStateIsAConflict, already_in_that_state_is_a_conflict)
VSPHERE_VM_TEST(AVmWithSnapshotsNeedsTheSnapshotsOption,
                a_vm_with_snapshots_needs_the_snapshots_option)
VSPHERE_VM_TEST(ExportConfigIsJsonWithTheFields, export_config_is_json_with_the_fields)
VSPHERE_VM_TEST(CapabilitiesAreWhatIsImplemented, capabilities_are_what_is_implemented)
VSPHERE_VM_TEST(ANameThatIsAnotherVmsIdIsAConflict, a_name_that_is_another_vms_id_is_a_conflict)
VSPHERE_VM_TEST(ForcedDeleteThatFailsPowersTheVmOnAgain,
                forced_delete_that_fails_powers_the_vm_on_again)
VSPHERE_VM_TEST(ForcedShutdownWhosePowerOffFailsIsNoSuccess,
                forced_shutdown_whose_power_off_fails_is_no_success)
VSPHERE_VM_TEST(ForcedShutdownBeatenByAnotherPowerOffIsStopped,
                forced_shutdown_beaten_by_another_power_off_is_stopped)
VSPHERE_VM_TEST(ImpossibleDiskSizesAreRefused, impossible_disk_sizes_are_refused)
VSPHERE_VM_TEST(TemplatesRefusePowerOperations, templates_refuse_power_operations)
VSPHERE_VM_TEST(ADisksBackingChainGoesWithIt, a_disks_backing_chain_goes_with_it)
VSPHERE_VM_TEST(CreateFindsItsVmByItsInstanceUuid, create_finds_its_vm_by_its_instance_uuid)

// vCenter only: a NIC on a distributed port group, and the cluster's VMs.
TEST_F(VpxVm, CreateOnADistributedPortGroup) {
  auto c = sim().connect();
  std::string portgroup;
  const json inv = sim().show();
  for (const auto& n : inv["networks"])
    if (n["type"] == "DistributedVirtualPortgroup" &&
        n["name"].get<std::string>().find("DVUplinks") == std::string::npos)
      portgroup = n["name"];
  ASSERT_FALSE(portgroup.empty()) << inv["networks"].dump(1);
  VmSpec spec = TempVm::small("on-dvpg");
  spec.networks.push_back(portgroup);
  TempVm vm(*c, spec);
  ASSERT_EQ(vm.info().nics.size(), 1u);
  EXPECT_EQ(vm.info().nics[0].network, portgroup);
  const json s = sim().find_vm(spec.name);
  ASSERT_EQ(s["nics"].size(), 1u);
  EXPECT_EQ(s["nics"][0]["network"], portgroup);
}

// Two distributed port groups of one name (vSphere allows it across
// folders, and NSX makes such; govmomi's simulator allows it for names
// beginning with "NSX-"): create cannot tell which one a NIC should use, so
// it is a Conflict naming both ids, and nothing is made.
TEST_F(VpxVm, TwoNetworksOfTheNameAreAConflictNamingTheirIds) {
  const json inv = sim().show();
  std::string some_pg;
  for (const auto& n : inv["networks"])
    if (n["type"] == "DistributedVirtualPortgroup") some_pg = n["moref"];
  ASSERT_FALSE(some_pg.empty()) << inv["networks"].dump(1);
  RawSoap raw(sim());
  if (!raw.ok()) GTEST_SKIP() << raw.why();
  const std::string props = raw.call(
      "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this "
      "type=\"PropertyCollector\">propertyCollector</_this><specSet><propSet><type>"
      "DistributedVirtualPortgroup</type><pathSet>config.distributedVirtualSwitch</pathSet></"
      "propSet><objectSet><obj type=\"DistributedVirtualPortgroup\">" +
      some_pg + "</obj></objectSet></specSet><options/></RetrievePropertiesEx>");
  const std::string val = RawSoap::between(props, "<val", "</val>");  // ' type="T" ...>dvs-N'
  const std::string dvs_type = RawSoap::between(val, " type=\"", "\"");
  const std::string dvs =
      val.find('>') == std::string::npos ? std::string() : val.substr(val.find('>') + 1);
  if (dvs.empty() || dvs_type.empty())
    GTEST_SKIP() << "no distributed switch found: " << props.substr(0, 400);
  const std::string added = raw.call(
      "<AddDVPortgroup_Task xmlns=\"urn:vim25\"><_this type=\"" + dvs_type + "\">" + dvs +
      "</_this><spec><name>NSX-twin</name><numPorts>8</numPorts><type>earlyBinding</type></"
      "spec><spec><name>NSX-twin</name><numPorts>8</numPorts><type>earlyBinding</type></spec></"
      "AddDVPortgroup_Task>");
  ASSERT_NE(added.find("AddDVPortgroup_TaskResponse"), std::string::npos) << added;
  std::vector<std::string> twins;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (twins.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    twins.clear();
    const json now = sim().show();
    for (const auto& n : now["networks"])
      if (n["name"] == "NSX-twin") twins.push_back(n["moref"]);
    if (twins.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  struct Remove {
    RawSoap& raw;
    std::vector<std::string>& pgs;
    ~Remove() {
      for (const auto& pg : pgs)
        raw.call("<Destroy_Task xmlns=\"urn:vim25\"><_this type=\"DistributedVirtualPortgroup\">" +
                 pg + "</_this></Destroy_Task>");
    }
  } remove{raw, twins};
  ASSERT_EQ(twins.size(), 2u) << sim().show()["networks"].dump(1);

  auto c = sim().connect();
  const json before = sim().show();
  VmSpec spec = TempVm::small("two-nets");
  spec.networks.push_back("NSX-twin");
  std::string message;
  EXPECT_EQ(code_of([&] { c->vms().create(spec); }, &message), ErrorCode::Conflict);
  EXPECT_NE(message.find(twins[0]), std::string::npos) << message;
  EXPECT_NE(message.find(twins[1]), std::string::npos) << message;
  EXPECT_EQ(sim().show()["vms"], before["vms"]);
}

TEST_F(VpxVm, ListCoversStandaloneHostsAndClusters) {
  auto c = sim().connect();
  std::set<std::string> hosts, seen_hosts;
  for (const auto& vm : c->vms().list({})) hosts.insert(vm.host);
  const json inv = sim().show();
  for (const auto& vm : inv["vms"]) seen_hosts.insert(vm["host"].get<std::string>());
  EXPECT_EQ(hosts, seen_hosts);
  EXPECT_GE(hosts.size(), 2u);
}

// ---------------------------------------------------------------------------
// Placement: two datacenters, two datastores, a cluster of hosts.

class VpxPlacement : public vsphere_test::SimTest<VpxPlacement> {
 public:
  static SimOptions sim_options() {
    return {.mode = "vpx", .vms = 1, .cluster_hosts = 2, .datacenters = 2, .datastores = 2};
  }
  /// sim().uri() with the datacenter as the URI path and `query` added.
  static std::string uri_with(const std::string& datacenter, const std::string& query = "") {
    std::string u = sim().uri(query);
    const auto q = u.find("/?");
    return u.substr(0, q) + "/" + datacenter + u.substr(q);
  }
  static std::unique_ptr<Connection> open(const std::string& uri) {
    return vsphere_test::registry().open(uri, sim().connect_options());
  }
};

TEST_F(VpxPlacement, WithoutADatacenterListShowsAllAndCreateAsksWhichOne) {
  auto c = sim().connect();
  const json inv = sim().show();
  ASSERT_EQ(inv["datacenters"].size(), 2u);
  EXPECT_EQ(c->vms().list({}).size(), inv["vms"].size());
  std::string message;
  EXPECT_EQ(code_of([&] { c->vms().create(TempVm::small("where")); }, &message),
            ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("DC0"), std::string::npos) << message;
  EXPECT_NE(message.find("DC1"), std::string::npos) << message;
  EXPECT_TRUE(sim().find_vm("where").is_null());
}

TEST_F(VpxPlacement, TheUriPathNamesTheDatacenter) {
  auto c = open(uri_with("DC1"));
  const auto vms = c->vms().list({});
  const json inv = sim().show();
  std::size_t in_dc1 = 0;
  for (const auto& vm : inv["vms"])
    if (vm["name"].get<std::string>().rfind("DC1_", 0) == 0) ++in_dc1;
  ASSERT_GT(in_dc1, 0u);
  EXPECT_EQ(vms.size(), in_dc1);
  for (const auto& vm : vms) EXPECT_EQ(vm.name.rfind("DC1_", 0), 0u) << vm.name;
  // A VM of the other datacenter is not found through this connection.
  EXPECT_EQ(code_of([&] { c->vms().get("DC0_H0_VM0"); }), ErrorCode::NotFound);
  {
    TempVm vm(*c, "in-dc1");
    const json s = sim().find_vm("in-dc1");
    ASSERT_FALSE(s.is_null());
    EXPECT_EQ(s["host"].get<std::string>().rfind("DC1_", 0), 0u) << s.dump();
  }
  std::string message;
  EXPECT_EQ(code_of([&] { open(uri_with("DC9"))->vms().list({}); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("DC9"), std::string::npos) << message;
}

TEST_F(VpxPlacement, HostAndDatastoreFromTheUri) {
  const json inv = sim().show();
  std::string host;
  for (const auto& h : inv["hosts"])
    if (h["name"] == "DC0_C0_H1") host = h["name"];
  ASSERT_FALSE(host.empty()) << inv["hosts"].dump(1);
  std::string second_ds;
  for (const auto& d : inv["datastores"])
    if (d["name"] != first_datastore(inv)) second_ds = d["name"];
  ASSERT_FALSE(second_ds.empty()) << inv["datastores"].dump(1);

  auto c = open(uri_with("DC0", "host=" + host + "&datastore=" + second_ds));
  {
    TempVm vm(*c, "placed");
    const json s = sim().find_vm("placed");
    ASSERT_FALSE(s.is_null());
    EXPECT_EQ(s["host"], host);
    EXPECT_EQ(s["datastores"], json::array({second_ds}));
    EXPECT_EQ(s["vmPathName"].get<std::string>().rfind("[" + second_ds + "] ", 0), 0u) << s.dump();
    ASSERT_EQ(s["disks"].size(), 1u);
    EXPECT_EQ(s["disks"][0]["file"].get<std::string>().rfind("[" + second_ds + "] ", 0), 0u);
  }
  EXPECT_EQ(code_of([&] {
              open(uri_with("DC0", "host=no-such-host"))->vms().create(TempVm::small("x1"));
            }),
            ErrorCode::NotFound);
  EXPECT_EQ(code_of([&] {
              open(uri_with("DC0", "datastore=no-such-ds"))->vms().create(TempVm::small("x2"));
            }),
            ErrorCode::NotFound);
  EXPECT_TRUE(sim().find_vm("x1").is_null());
  EXPECT_TRUE(sim().find_vm("x2").is_null());
}

// vSphere allows one name in two datacenters (create refuses a duplicate only
// within its own): a connection that sees both asks for the id.
TEST_F(VpxPlacement, ANameInTwoDatacentersIsAConflictNamingBothIds) {
  // Each on its own datastore: the simulator derives a VM's instance UUID
  // from its .vmx path, and both datacenters have a LocalDS_0.
  const json before = sim().show();
  std::set<std::string> datastores;
  for (const auto& d : before["datastores"]) datastores.insert(d["name"].get<std::string>());
  ASSERT_GE(datastores.size(), 2u) << before["datastores"].dump(1);
  auto dc0 = open(uri_with("DC0", "datastore=" + *datastores.begin()));
  auto dc1 = open(uri_with("DC1", "datastore=" + *std::next(datastores.begin())));
  TempVm a(*dc0, "twin"), b(*dc1, "twin");
  auto both = sim().connect();
  std::string message;
  EXPECT_EQ(code_of([&] { both->vms().get("twin"); }, &message), ErrorCode::Conflict);
  EXPECT_NE(message.find(a.info().id), std::string::npos) << message;
  EXPECT_NE(message.find(b.info().id), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { both->vms().start("twin"); }), ErrorCode::Conflict);
  // By id each one is found, and each datacenter's connection finds its own.
  EXPECT_EQ(both->vms().get(a.info().id).extras.at("moref"), a.info().extras.at("moref"));
  EXPECT_EQ(both->vms().get(b.info().extras.at("moref")).id, b.info().id);
  EXPECT_EQ(dc1->vms().get("twin").id, b.info().id);
  int twins = 0;
  const json inv = sim().show();
  for (const auto& vm : inv["vms"]) twins += vm["name"] == "twin";
  EXPECT_EQ(twins, 2);
}

// Two VMs with one instance UUID (a real vCenter keeps them unique; create
// gives each a fresh one, so the second VM is given the first's through a
// raw ReconfigVM_Task): the UUID alone is ambiguous, the moref is not.
TEST_F(VpxPlacement, AnInstanceUuidSharedByTwoVmsIsAConflict) {
  auto dc0 = open(uri_with("DC0"));
  auto dc1 = open(uri_with("DC1"));
  TempVm a(*dc0, "same-uuid"), b(*dc1, "same-uuid");
  ASSERT_NE(a.info().id, b.info().id) << "create did not give each VM an instance UUID of its own";
  RawSoap raw(sim());
  if (!raw.ok()) GTEST_SKIP() << raw.why();
  raw.call("<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">" +
           b.info().extras.at("moref") + "</_this><spec><instanceUuid>" + a.info().id +
           "</instanceUuid></spec></ReconfigVM_Task>");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (vm_by_moref(sim(), b.info().extras.at("moref"))["instanceUuid"] != a.info().id &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (vm_by_moref(sim(), b.info().extras.at("moref"))["instanceUuid"] != a.info().id)
    GTEST_SKIP() << "this simulator does not change an instance UUID through ReconfigVM_Task";
  auto both = sim().connect();
  std::string message;
  EXPECT_EQ(code_of([&] { both->vms().get(a.info().id); }, &message), ErrorCode::Conflict);
  EXPECT_NE(message.find(a.info().extras.at("moref")), std::string::npos) << message;
  EXPECT_NE(message.find(b.info().extras.at("moref")), std::string::npos) << message;
  EXPECT_EQ(both->vms().get(b.info().extras.at("moref")).extras.at("moref"),
            b.info().extras.at("moref"));
}

// A create that fails while a VM of the same name lives in another
// datacenter leaves that VM as it was (a failed create only ever removes
// what it made itself).
TEST_F(VpxPlacement, AFailedCreateLeavesAVmOfTheSameNameElsewhereAlone) {
  const json before = sim().show();
  json other;
  for (const auto& vm : before["vms"])
    if (vm["name"].get<std::string>().rfind("DC0_", 0) == 0) other = vm;
  ASSERT_FALSE(other.is_null()) << before["vms"].dump(1);
  auto dc1 = open(uri_with("DC1"));
  for (const std::string mode : {"fault", "truncated", "html500"}) {
    SCOPED_TRACE(mode);
    sim().inject("CreateVM_Task=" + mode + "*1");
    EXPECT_TRUE(code_of([&] { dc1->vms().create(TempVm::small(other["name"])); }).has_value());
    sim().clear_injections();
    const json now = vm_by_moref(sim(), other["moref"]);
    ASSERT_FALSE(now.is_null()) << "the other datacenter's VM was destroyed";
    EXPECT_EQ(now, other);
  }
  EXPECT_EQ(sim().show()["vms"], before["vms"]);
}

// The race of H1: after this create checked that its name is free, another
// client names a VM of the same datacenter like it (a raw Rename_Task while
// the simulator holds this create's folder look-up back); then the answer to
// CreateVM_Task is lost. The clean-up finds the VM it made by its instance
// UUID and destroys that one only; the other client's VM stays. (Before the
// fix it looked the name up and could destroy the other one.)
TEST_F(VpxPlacement, ACreateThatLosesARaceDestroysOnlyItsOwnVm) {
  auto mine = open(uri_with("DC0"));
  auto theirs = open(uri_with("DC0"));
  TempVm other(*theirs, "bystander");
  const std::string moref = other.info().extras.at("moref");
  RawSoap raw(sim());
  if (!raw.ok()) GTEST_SKIP() << raw.why();
  sim().reset_stats();
  sim().inject("SearchDatastore_Task=delay:3s*1");
  sim().inject("CreateVM_Task=truncated*1");
  std::optional<ErrorCode> code;
  std::string message;
  std::thread first(
      [&] { code = code_of([&] { mine->vms().create(TempVm::small("racer")); }, &message); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sim().stats()["methods"].value("SearchDatastore_Task", 0) < 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string renamed =
      raw.call("<Rename_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">" + moref +
               "</_this><newName>racer</newName></Rename_Task>");
  first.join();
  sim().clear_injections();
  ASSERT_NE(renamed.find("Rename_TaskResponse"), std::string::npos) << renamed;
  EXPECT_EQ(sim().stats()["methods"].value("CreateVM_Task", 0), 1);
  EXPECT_EQ(code, ErrorCode::BackendFailure) << message;
  const json s = vm_by_moref(sim(), moref);
  ASSERT_FALSE(s.is_null()) << "the failed create destroyed the other client's VM";
  EXPECT_EQ(s["name"], "racer");
  int racers = 0;
  const json after = sim().show();
  for (const auto& vm : after["vms"]) racers += vm["name"] == "racer";
  EXPECT_EQ(racers, 1) << "the VM the create made was left behind";
  EXPECT_EQ(mine->vms().get("racer").extras.at("moref"), moref);
}

// A datacenter inside a folder (F0/DC0): the URI names it by its name, and
// every VM command works there as at the root.
class VpxInFolder : public vsphere_test::SimTest<VpxInFolder> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1, .folders = 1}; }
};

TEST_F(VpxInFolder, VmCommandsWorkInADatacenterInAFolder) {
  const json inv = sim().show();
  ASSERT_EQ(inv["datacenters"].size(), 1u) << inv["datacenters"].dump(1);
  const std::string dc = inv["datacenters"][0]["name"];
  // Really in a folder: its inventory path has one more step.
  ASSERT_EQ(inv["datacenters"][0]["path"], "F0/" + dc) << inv["datacenters"].dump(1);
  std::string u = sim().uri();
  const auto q = u.find("/?");
  auto c = vsphere_test::registry().open(u.substr(0, q) + "/" + dc + u.substr(q),
                                         sim().connect_options());
  EXPECT_EQ(c->vms().list({}).size(), inv["vms"].size());
  {
    TempVm vm(*c, "in-a-folder");
    const json s = sim().find_vm("in-a-folder");
    ASSERT_FALSE(s.is_null());
    EXPECT_EQ(c->vms().get(s["moref"].get<std::string>()).name, "in-a-folder");
    c->vms().start("in-a-folder");
    EXPECT_EQ(seen_state(sim(), "in-a-folder"), "poweredOn");
  }
  EXPECT_TRUE(sim().find_vm("in-a-folder").is_null());
}

// ---------------------------------------------------------------------------
// A single-VM command on a large inventory reads names and ids of all VMs,
// then only that VM's properties: far fewer bytes than a list, and as many
// requests whatever the number of VMs.

/// The bytes of the HYPERCTL_TRACE=1 lines of a CLI run (SOAP answers).
std::pair<std::uint64_t, int> traced_bytes(const vsphere_test::RunResult& r) {
  std::uint64_t bytes = 0;
  int lines = 0;
  std::size_t start = 0;
  while (start < r.err.size()) {
    auto end = r.err.find('\n', start);
    if (end == std::string::npos) end = r.err.size();
    const std::string line = r.err.substr(start, end - start);
    start = end + 1;
    if (line.rfind("hyperctl: trace: vsphere POST /sdk ", 0) != 0) continue;
    const auto b = line.find(" B ");
    const auto sp = line.rfind(' ', b - 1);
    if (b == std::string::npos || sp == std::string::npos) continue;
    bytes += std::stoull(line.substr(sp + 1, b - sp - 1));
    ++lines;
  }
  return {bytes, lines};
}

TEST(VsphereLargeInventory, OneVmCostsFarFewerBytesThanTheList) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "esx", .vms = 500});
  const json inv = sim->show();
  ASSERT_EQ(inv["vms"].size(), 500u);
  const std::string name = inv["vms"][250]["name"];
  const std::map<std::string, std::optional<std::string>> trace = {{"HYPERCTL_TRACE", "1"}};
  const auto list = sim->cli({"-c", sim->uri(), "-o", "json", "list"}, trace);
  ASSERT_EQ(list.status, 0) << list;
  const auto one = sim->cli({"-c", sim->uri(), "-o", "json", "info", name}, trace);
  ASSERT_EQ(one.status, 0) << one;
  EXPECT_NE(one.out.find(name), std::string::npos) << one.out;
  const auto [list_bytes, list_requests] = traced_bytes(list);
  const auto [one_bytes, one_requests] = traced_bytes(one);
  RecordProperty("list_bytes", std::to_string(list_bytes));
  RecordProperty("info_bytes", std::to_string(one_bytes));
  std::cout << "500 VMs: list " << list_bytes << " B in " << list_requests << " requests; info "
            << one_bytes << " B in " << one_requests << " requests\n";
  ASSERT_GT(list_bytes, 0u) << list.err;
  // The listing asks what it shows: at most 1.5 KB a VM, all requests counted.
  EXPECT_LE(list_bytes, 500u * 1536u) << list_bytes / 500 << " B a VM";
  EXPECT_LT(one_bytes * 4, list_bytes) << "info " << one_bytes << " B, list " << list_bytes << " B";
  // The same number of requests with 5 VMs.
  VSPHERE_START_SIM(small, SimOptions{.mode = "esx", .vms = 5});
  const auto few = small->cli(
      {"-c", small->uri(), "-o", "json", "info", small->show()["vms"][2]["name"]}, trace);
  ASSERT_EQ(few.status, 0) << few;
  EXPECT_EQ(traced_bytes(few).second, one_requests);
}

// inventory over two simulated vCenters and libvirt's test driver in one
// run: every VM of each, with the fields of the light listing equal to what
// each simulator's second session sees, and the totals adding up.
TEST(VsphereFleet, InventoryOfTwoVcentersAndALibvirtHost) {
  const std::string password = vsphere_test::random_secret();
  VSPHERE_START_SIM(
      vc1, SimOptions{.mode = "vpx", .vms = 3, .hosts = 2, .clusters = 0, .password = password});
  VSPHERE_START_SIM(
      vc2, SimOptions{.mode = "vpx", .vms = 2, .hosts = 1, .clusters = 1, .password = password});
  std::string tmpl = (std::filesystem::temp_directory_path() / "hyperctl-fleet-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::filesystem::path xdg = tmpl;
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{xdg};
  std::filesystem::create_directories(xdg / "hyperctl");
  {
    std::ofstream config(xdg / "hyperctl" / "config");
    config << "[connection vc1]\nuri = " << vc1->uri() << "\n\n"
           << "[connection vc2]\nuri = " << vc2->uri() << "\n\n"
           << "[connection kvm]\nuri = test:///default\n";
  }
  // A VM with a disk, so that its provisioned space is not 0.
  const auto made = vc1->cli({"-c", vc1->uri(), "create", "--name", "fleet-disk", "--disk", "1G"});
  ASSERT_EQ(made.status, 0) << made;
  const auto r =
      vc1->cli({"inventory", "--all", "-o", "json"}, {{"XDG_CONFIG_HOME", xdg.string()}});
  ASSERT_EQ(r.status, 0) << r;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["complete"], true);
  ASSERT_EQ(doc["hosts"].size(), 3u) << doc["hosts"].dump(1);
  for (const auto& h : doc["hosts"]) EXPECT_EQ(h["status"], "ok") << h.dump();

  std::map<std::string, std::vector<json>> rows;  // connection -> its rows
  for (const auto& row : doc["vms"]) rows[row["host"].get<std::string>()].push_back(row);
  const std::pair<const char*, Simulator*> sims[] = {{"vc1", vc1.get()}, {"vc2", vc2.get()}};
  std::uint64_t vms = 0;
  for (const auto& [name, sim] : sims) {
    SCOPED_TRACE(name);
    const json inv = sim->show();
    ASSERT_EQ(rows[name].size(), inv["vms"].size());
    vms += inv["vms"].size();
    std::map<std::string, json> by_moref;
    for (const auto& row : rows[name]) by_moref[row["vm"]["extras"]["moref"]] = row;
    for (const auto& s : inv["vms"]) {
      const std::string moref = s["moref"];
      ASSERT_TRUE(by_moref.count(moref)) << moref << " is missing";
      const json& row = by_moref[moref];
      const json& vm = row["vm"];
      EXPECT_EQ(row["backend"], "vsphere");
      EXPECT_EQ(row["uri"], sim->uri());
      EXPECT_EQ(vm["name"], s["name"]);
      EXPECT_EQ(vm["id"], s["instanceUuid"]);
      EXPECT_EQ(vm["state_reason"], s["powerState"]);
      EXPECT_EQ(vm["vcpus"], s["numCpu"]);
      EXPECT_EQ(vm["memory_bytes"], s["memoryMB"].get<std::uint64_t>() << 20);
      EXPECT_EQ(vm["host"], s["host"]);
      EXPECT_EQ(vm["guest_os"], s["guestId"]);
      EXPECT_EQ(vm["extras"]["bios_uuid"], s["uuid"]);
      EXPECT_EQ(row["disk_bytes"], s["provisionedBytes"]);
      EXPECT_EQ(vm["disk_bytes"], s["provisionedBytes"]);
      if (s["name"] == "fleet-disk") {
        EXPECT_GE(row["disk_bytes"].get<std::uint64_t>(), 1u << 30);
      }
    }
  }
  // libvirt's test driver: its one VM, with its disks summed as before.
  ASSERT_EQ(rows["kvm"].size(), 1u) << doc.dump(1);
  const json& test = rows["kvm"][0];
  EXPECT_EQ(test["backend"], "libvirt");
  EXPECT_EQ(test["vm"]["name"], "test");
  EXPECT_GT(test["vm"]["vcpus"].get<int>(), 0);
  std::uint64_t disks = 0;
  for (const auto& d : test["vm"]["disks"])
    if (d.value("device", "disk") != "cdrom") disks += d["capacity_bytes"].get<std::uint64_t>();
  EXPECT_EQ(test["disk_bytes"], disks);
  EXPECT_EQ(doc["totals"]["vms"], vms + 1);
}

}  // namespace
