// Networks and host facts of the vSphere backend through the plugin, against
// govmomi's simulator as a vCenter (vpx) and as a standalone ESXi host (esx).
// Every answer is compared with the simulator's second session (show():
// govmomi's own client over a container view of the whole inventory).
//
// The simulator keeps only the VM side of the VM-network relation
// (VirtualMachine.network; Network.vm stays empty), so the VMs on a network
// checked here come from that side, as show()'s NICs see them.
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::Connection;
using hyperctl::ErrorCode;
using hyperctl::HostInfo;
using hyperctl::Network;
using vsphere_test::json;
using vsphere_test::SimOptions;
using vsphere_test::Simulator;

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

int calls(const json& stats, const std::string& method) {
  const auto& m = stats["methods"];
  return m.contains(method) ? m[method].get<int>() : 0;
}

std::string forward_mode_of(const std::string& type) {
  if (type == "Network") return "standard";
  if (type == "DistributedVirtualPortgroup") return "distributed";
  if (type == "OpaqueNetwork") return "opaque";
  return "?" + type;
}

/// show()'s VMs with a NIC on the network named `name`, sorted.
std::vector<std::string> vms_on(const json& inv, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& vm : inv["vms"])
    for (const auto& nic : vm["nics"])
      if (nic["network"] == name) {
        out.push_back(vm["name"].get<std::string>());
        break;
      }
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Networks

void networks_list_matches_the_second_session(Simulator& sim) {
  auto c = sim.connect();
  const auto list = c->networks().list();
  const json inv = sim.show();
  ASSERT_EQ(list.size(), inv["networks"].size()) << inv["networks"].dump(1);
  ASSERT_GE(list.size(), 1u);
  std::map<std::string, json> by_moref;
  for (const auto& n : inv["networks"]) by_moref[n["moref"].get<std::string>()] = n;
  std::set<std::string> uplink_switches;
  for (const Network& n : list) {
    SCOPED_TRACE(n.name);
    ASSERT_TRUE(by_moref.count(n.id)) << n.id;
    const json& s = by_moref[n.id];
    EXPECT_EQ(n.name, s["name"]);
    EXPECT_EQ(n.forward_mode, forward_mode_of(s["type"]));
    EXPECT_TRUE(n.active);
    EXPECT_FALSE(n.autostart.has_value());
    EXPECT_TRUE(n.vms.empty()) << "list() does not fill vms";
    if (n.forward_mode == "distributed") {
      // The switch of a distributed port group is its bridge; the simulator
      // names each switch's uplink port group "<switch>-DVUplinks-<n>".
      EXPECT_FALSE(n.bridge.empty());
      if (n.name.find("-DVUplinks") != std::string::npos) {
        EXPECT_EQ(n.name.rfind(n.bridge + "-DVUplinks", 0), 0u) << n.bridge;
      }
    } else {
      EXPECT_EQ(n.bridge, "");
    }
    by_moref.erase(n.id);  // each network once
  }
  EXPECT_TRUE(by_moref.empty());
}

void network_get_lists_its_vms(Simulator& sim) {
  auto c = sim.connect();
  const json inv = sim.show();
  std::size_t with_vms = 0;
  for (const auto& s : inv["networks"]) {
    const std::string name = s["name"];
    SCOPED_TRACE(name);
    const Network n = c->networks().get(name);
    EXPECT_EQ(n.id, s["moref"]);
    EXPECT_EQ(n.forward_mode, forward_mode_of(s["type"]));
    EXPECT_EQ(n.vms, vms_on(inv, name));
    with_vms += !n.vms.empty();
    // By its id too.
    EXPECT_EQ(c->networks().get(n.id).vms, n.vms);
  }
  EXPECT_GE(with_vms, 1u) << "no network has a VM, nothing was compared: " << inv.dump(1);
}

void network_unknown_is_not_found(Simulator& sim) {
  auto c = sim.connect();
  std::string message;
  EXPECT_EQ(code_of([&] { c->networks().get("no-such-network"); }, &message), ErrorCode::NotFound);
  EXPECT_NE(message.find("'no-such-network'"), std::string::npos) << message;
  // A hostile name is data: found nowhere, and printed harmlessly.
  EXPECT_EQ(code_of([&] { c->networks().get("x<&>\"'$(id)\n\x1b[31m"); }, &message),
            ErrorCode::NotFound);
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  // Names are exact.
  EXPECT_EQ(code_of([&] { c->networks().get("vm network"); }), ErrorCode::NotFound);
}

void network_of_a_vm_with_an_encoded_name(Simulator& sim) {
  auto c = sim.connect();
  hyperctl::VmSpec spec;
  spec.name = "net/te%st <&> \"q\" é";
  spec.vcpus = 1;
  spec.memory_bytes = 64ull << 20;
  spec.disks.push_back({.size_bytes = 4ull << 20});
  spec.networks.push_back("VM Network");
  c->vms().create(spec);
  struct Remove {
    Connection& c;
    std::string name;
    ~Remove() {
      try {
        c.vms().remove(name, {.with_storage = true, .force = true});
      } catch (...) {
      }
    }
  } remove{*c, spec.name};
  const json inv = sim.show();
  const auto expected = vms_on(inv, "VM Network");
  ASSERT_TRUE(std::count(expected.begin(), expected.end(), spec.name)) << inv["vms"].dump(1);
  const Network n = c->networks().get("VM Network");
  EXPECT_EQ(n.vms, expected);  // decoded: '/' and '%' as the user wrote them
}

void network_capabilities(Simulator&) {
  const auto caps = vsphere_test::registry().backend_for("vsphere").capabilities();
  EXPECT_TRUE(caps.has(hyperctl::Operation::NetworkList));
  EXPECT_TRUE(caps.has(hyperctl::Operation::NetworkInfo));
  EXPECT_FALSE(caps.has(hyperctl::Operation::NetworkStart)) << "not implemented";
  EXPECT_FALSE(caps.has(hyperctl::Operation::NetworkStop)) << "not implemented";
  EXPECT_TRUE(caps.has(hyperctl::Operation::HostInfo));
  EXPECT_FALSE(caps.has(hyperctl::Operation::HostShutdown)) << "not implemented";
}

// ---------------------------------------------------------------------------
// Host facts

/// What every host line and the sums say, against show()'s hosts.
void check_hosts(const HostInfo& info, const json& hosts) {
  ASSERT_GE(hosts.size(), 1u);
  unsigned cpus = 0, sockets = 0;
  std::uint64_t memory = 0;
  for (const auto& h : hosts) {
    const std::string name = h["name"];
    SCOPED_TRACE(name);
    cpus += h["numCpu"].get<unsigned>();
    sockets += h["numCpuPkgs"].get<unsigned>();
    memory += h["memoryBytes"].get<std::uint64_t>();
    ASSERT_TRUE(info.extras.count("host." + name));
    std::string line = "cpu=" + std::to_string(h["numCpu"].get<unsigned>()) +
                       " memory=" + std::to_string(h["memoryBytes"].get<std::uint64_t>()) +
                       " state=" + h["connectionState"].get<std::string>() +
                       " maintenance=" + (h["inMaintenanceMode"].get<bool>() ? "true" : "false");
    if (h.contains("cluster")) line += " cluster=" + h["cluster"].get<std::string>();
    EXPECT_EQ(info.extras.at("host." + name), line);
  }
  std::size_t host_lines = 0;
  for (const auto& [k, v] : info.extras) host_lines += k.rfind("host.", 0) == 0;
  EXPECT_EQ(host_lines, hosts.size());
  EXPECT_EQ(info.extras.at("hosts"), std::to_string(hosts.size()));
  EXPECT_EQ(info.cpus, cpus);
  EXPECT_EQ(info.sockets, sockets);
  EXPECT_EQ(info.memory_total_bytes, memory);
  EXPECT_GT(info.memory_free_bytes, 0u);
  EXPECT_LE(info.memory_free_bytes, info.memory_total_bytes);
  // The simulator's hosts are all alike: one layout, one model, one vendor.
  const json& h0 = hosts[0];
  EXPECT_EQ(info.cpu_model, h0["cpuModel"]);
  EXPECT_EQ(info.cpu_vendor, h0["cpuVendor"]);
  EXPECT_EQ(info.arch, "x86_64");
  EXPECT_EQ(info.cores_per_socket,
            h0["numCpuCores"].get<unsigned>() / h0["numCpuPkgs"].get<unsigned>());
  EXPECT_EQ(info.threads_per_core,
            h0["numCpu"].get<unsigned>() / h0["numCpuCores"].get<unsigned>());
  EXPECT_EQ(info.sockets * info.cores_per_socket * info.threads_per_core, info.cpus);
}

std::string joined_names(const json& list) {
  std::vector<std::string> names;
  for (const auto& x : list) names.push_back(x["name"]);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

void host_info_matches_the_second_session(Simulator& sim) {
  auto c = sim.connect();
  const HostInfo info = c->host().info();
  const json inv = sim.show();
  check_hosts(info, inv["hosts"]);
  const json& product = inv["product"];
  EXPECT_EQ(info.hypervisor, "ESXi");
  EXPECT_EQ(info.extras.at("product"), product["fullName"]);
  EXPECT_EQ(info.extras.at("api_type"), product["apiType"]);
  EXPECT_EQ(info.extras.at("api_version"), product["apiVersion"]);
  EXPECT_EQ(info.extras.at("clusters"), joined_names(inv["clusters"]));
  EXPECT_EQ(info.extras.at("datacenters"), joined_names(inv["datacenters"]));
  EXPECT_TRUE(std::regex_match(info.hypervisor_version, std::regex("[0-9]+(\\.[0-9]+)+")))
      << info.hypervisor_version;
  if (product["apiType"] == "VirtualCenter") {
    EXPECT_EQ(info.manager_version, product["version"]);
    EXPECT_EQ(info.hostname, sim.host());
    EXPECT_EQ(info.host_uuid, product["instanceUuid"]);
    EXPECT_EQ(info.extras.at("instance_uuid"), product["instanceUuid"]);
  } else {
    ASSERT_EQ(inv["hosts"].size(), 1u);
    EXPECT_EQ(info.manager_version, "");
    EXPECT_EQ(info.hypervisor_version, product["version"]);
    EXPECT_EQ(info.hostname, inv["hosts"][0]["name"]);
    EXPECT_EQ(info.extras.at("clusters"), "");
  }
}

void host_info_is_one_round_trip(Simulator& sim) {
  auto c = sim.connect("keepalive=0");
  sim.reset_stats();
  c->host().info();
  const json st = sim.stats();
  EXPECT_EQ(calls(st, "CreateContainerView"), 1) << st.dump();
  EXPECT_EQ(calls(st, "RetrievePropertiesEx"), 1) << st.dump();
  EXPECT_EQ(calls(st, "DestroyView"), 1) << st.dump();
  sim.reset_stats();
  c->networks().list();
  const json nst = sim.stats();
  EXPECT_EQ(calls(nst, "CreateContainerView"), 1) << nst.dump();
  EXPECT_EQ(calls(nst, "RetrievePropertiesEx"), 1) << nst.dump();
}

/// The CLI end to end: JSON documents and the NotFound exit status.
void through_the_cli(Simulator& sim) {
  const json inv = sim.show();
  const std::string uri = sim.uri();
  auto r = sim.cli({"-c", uri, "-o", "json", "host", "info"});
  ASSERT_EQ(r.status, 0) << r;
  const json host = json::parse(r.out);
  unsigned cpus = 0;
  for (const auto& h : inv["hosts"]) cpus += h["numCpu"].get<unsigned>();
  EXPECT_EQ(host["cpus"], cpus) << r.out;
  EXPECT_EQ(host["hypervisor"], "ESXi");
  const std::string name = inv["networks"].at(0)["name"];
  r = sim.cli({"-c", uri, "-o", "json", "network", "info", name});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(json::parse(r.out)["id"], inv["networks"][0]["moref"]) << r.out;
  r = sim.cli({"-c", uri, "network", "info", "no-such-network"});
  EXPECT_EQ(r.status, 3) << r;
}

// ---------------------------------------------------------------------------

class VpxNetHost : public vsphere_test::SimTest<VpxNetHost> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1}; }
};
class EsxNetHost : public vsphere_test::SimTest<EsxNetHost> {
 public:
  static SimOptions sim_options() { return {.mode = "esx", .vms = 2}; }
};

#define VSPHERE_NET_HOST_TEST(Name, check) \
  TEST_F(VpxNetHost, Name) {               \
    check(sim());                          \
  }                                        \
  TEST_F(EsxNetHost, Name) {               \
    check(sim());                          \
  }

VSPHERE_NET_HOST_TEST(NetworksListMatchesTheSecondSession, networks_list_matches_the_second_session)
VSPHERE_NET_HOST_TEST(NetworkGetListsItsVms, network_get_lists_its_vms)
VSPHERE_NET_HOST_TEST(NetworkUnknownIsNotFound, network_unknown_is_not_found)
VSPHERE_NET_HOST_TEST(NetworkOfAVmWithAnEncodedName, network_of_a_vm_with_an_encoded_name)
VSPHERE_NET_HOST_TEST(Capabilities, network_capabilities)
VSPHERE_NET_HOST_TEST(ThroughTheCli, through_the_cli)
VSPHERE_NET_HOST_TEST(HostInfoMatchesTheSecondSession, host_info_matches_the_second_session)
VSPHERE_NET_HOST_TEST(HostInfoAndNetworkListAreOneRoundTrip, host_info_is_one_round_trip)

// vCenter only: a standard and a distributed kind of network side by side.
TEST_F(VpxNetHost, BothKindsOfNetwork) {
  auto c = sim().connect();
  std::set<std::string> kinds;
  for (const auto& n : c->networks().list()) kinds.insert(n.forward_mode);
  EXPECT_EQ(kinds, (std::set<std::string>{"distributed", "standard"}));
}

// ---------------------------------------------------------------------------
// Two datacenters: each has a "VM Network" of its own.

class VpxTwoDatacenters : public vsphere_test::SimTest<VpxTwoDatacenters> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1, .datacenters = 2}; }
  static std::unique_ptr<Connection> open_in(const std::string& datacenter) {
    std::string u = sim().uri();
    const auto q = u.find("/?");
    return vsphere_test::registry().open(u.substr(0, q) + "/" + datacenter + u.substr(q),
                                         sim().connect_options());
  }
};

TEST_F(VpxTwoDatacenters, ANameInTwoDatacentersIsAConflictUnlessTheUriNamesOne) {
  const json inv = sim().show();
  std::vector<std::string> ids;
  for (const auto& n : inv["networks"])
    if (n["name"] == "VM Network") ids.push_back(n["moref"]);
  ASSERT_EQ(ids.size(), 2u) << inv["networks"].dump(1);

  auto all = sim().connect();
  EXPECT_EQ(all->networks().list().size(), inv["networks"].size());
  std::string message;
  EXPECT_EQ(code_of([&] { all->networks().get("VM Network"); }, &message), ErrorCode::Conflict);
  for (const auto& id : ids) EXPECT_NE(message.find(id), std::string::npos) << message;
  // Each by its id.
  for (const auto& id : ids) EXPECT_EQ(all->networks().get(id).id, id);

  auto dc1 = open_in("DC1");
  const auto list = dc1->networks().list();
  std::set<std::string> names;
  for (const auto& n : list) names.insert(n.name);
  EXPECT_TRUE(names.count("DC1_DVPG0"));
  EXPECT_FALSE(names.count("DC0_DVPG0"));
  EXPECT_LT(list.size(), inv["networks"].size());
  const Network n = dc1->networks().get("VM Network");
  EXPECT_TRUE(std::count(ids.begin(), ids.end(), n.id)) << n.id;
  EXPECT_EQ(dc1->networks().get("DC1_DVPG0").vms, vms_on(inv, "DC1_DVPG0"));
}

TEST_F(VpxTwoDatacenters, HostInfoCoversTheUrisDatacenterOrAll) {
  const json inv = sim().show();
  check_hosts(sim().connect()->host().info(), inv["hosts"]);

  // DC1's hosts: its clusters' members and its standalone hosts (the
  // simulator prefixes every name with its datacenter's).
  json dc1_hosts = json::array();
  for (const auto& h : inv["hosts"])
    if (h["name"].get<std::string>().rfind("DC1_", 0) == 0) dc1_hosts.push_back(h);
  ASSERT_GE(dc1_hosts.size(), 1u);
  ASSERT_LT(dc1_hosts.size(), inv["hosts"].size());
  const HostInfo info = open_in("DC1")->host().info();
  check_hosts(info, dc1_hosts);
  EXPECT_EQ(info.extras.at("datacenters"), "DC1");
  EXPECT_EQ(info.extras.at("clusters"), "DC1_C0");
}

}  // namespace
