// Virtual networks: list, info (with the VMs attached), start, stop.
#include <algorithm>
#include <cstdio>

#include "errors.hpp"
#include "ops.hpp"
#include "xml.hpp"

namespace hyperctl::lv {
namespace {

std::string net_label(const std::string& name) {
  return "network " + quoted(name);
}

/// "255.255.255.0" -> 24; 0 when the text is no contiguous IPv4 mask.
unsigned prefix_from_netmask(const std::string& mask) {
  unsigned parts[4] = {};
  if (std::sscanf(mask.c_str(), "%u.%u.%u.%u", &parts[0], &parts[1], &parts[2], &parts[3]) != 4)
    return 0;
  std::uint32_t bits = 0;
  for (unsigned p : parts) {
    if (p > 255) return 0;
    bits = (bits << 8) | p;
  }
  unsigned prefix = 0;
  while (prefix < 32 && (bits & (0x80000000u >> prefix))) ++prefix;
  return (prefix == 32 || (bits << prefix) == 0) ? prefix : 0;
}

/// Fills the fields that come from the network XML.
void fill_from_xml(Network& w, const std::string& xml) {
  auto doc = XmlDoc::parse(xml, "a network description");
  w.bridge = doc.value("/network/bridge/@name");
  w.forward_mode = doc.value("/network/forward/@mode");
  // No <forward>: an isolated network; <forward> without a mode is NAT.
  if (w.forward_mode.empty())
    w.forward_mode = doc.select("/network/forward").empty() ? "isolated" : "nat";
  // The host side: the first IPv4 address (IPv6 only when there is none).
  auto ips = doc.select("/network/ip");
  std::stable_partition(ips.begin(), ips.end(), [](const XmlNode& ip) {
    const std::string family = ip.attr("family");
    return family.empty() || family == "ipv4";
  });
  for (const auto& ip : ips) {
    const std::string address = ip.attr("address");
    if (address.empty()) continue;
    std::string prefix = ip.attr("prefix");
    if (prefix.empty() && !ip.attr("netmask").empty()) {
      unsigned p = prefix_from_netmask(ip.attr("netmask"));
      if (p) prefix = std::to_string(p);
    }
    w.address = prefix.empty() ? address : address + "/" + prefix;
    auto range = ip.child("dhcp").child("range");
    w.dhcp_start = range.attr("start");
    w.dhcp_end = range.attr("end");
    break;
  }
}

Network describe(const Session& s, virNetworkPtr net, const std::string& op) {
  Network w;
  w.name = virNetworkGetName(net);
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virNetworkGetUUIDString(net, uuid) == 0) w.id = uuid;
  w.active = virNetworkIsActive(net) == 1;
  int autostart = 0;
  if (virNetworkGetAutostart(net, &autostart) == 0) w.autostart = autostart != 0;
  take_last_error(s.get());
  CString xml(virNetworkGetXMLDesc(net, 0));
  if (!xml) fail(s.get(), "cannot read " + net_label(w.name), op);
  fill_from_xml(w, xml.get());
  return w;
}

NetPtr find_network(const Session& s, const std::string& name, const std::string& op) {
  if (name.empty()) throw Error(ErrorCode::InvalidArgument, "no network named", op);
  NetPtr net(virNetworkLookupByName(s.get(), name.c_str()));
  if (net) return net;
  auto e = take_last_error(s.get());
  if (e.code == VIR_ERR_NO_NETWORK)
    throw Error(ErrorCode::NotFound, net_label(name) + " not found on " + s.uri.raw, op,
                e.detail());
  fail(e, "cannot look up " + net_label(name), op);
}

/// Names of the VMs with an interface on `w` (type='network' naming it, or
/// type='bridge' on its bridge), in libvirt's order.
std::vector<std::string> attached_vms(const Session& s, const Network& w, const std::string& op) {
  virDomainPtr* raw = nullptr;
  int n = virConnectListAllDomains(s.get(), &raw, 0);
  if (n < 0) fail(s.get(), "cannot list the VMs of " + s.uri.raw, op);
  std::vector<std::string> out;
  for (auto& dom : adopt_array<DomPtr>(raw, n)) {
    CString xml(virDomainGetXMLDesc(dom.get(), 0));
    if (!xml) {
      take_last_error(s.get());  // it vanished meanwhile
      continue;
    }
    auto doc = XmlDoc::parse(xml.get(), "a domain description");
    for (const auto& iface : doc.select("/domain/devices/interface")) {
      const std::string type = iface.attr("type");
      auto source = iface.child("source");
      const bool on_it =
          (type == "network" && source.attr("network") == w.name) ||
          (type == "bridge" && !w.bridge.empty() && source.attr("bridge") == w.bridge);
      if (on_it) {
        out.push_back(virDomainGetName(dom.get()));
        break;
      }
    }
  }
  return out;
}

}  // namespace

std::vector<Network> LibvirtNetworkOps::list() {
  return guarded("network.list", [&] {
    const std::string op = "network.list";
    virNetworkPtr* raw = nullptr;
    int n = virConnectListAllNetworks(s_.get(), &raw, 0);
    if (n < 0) fail(s_.get(), "cannot list the networks of " + s_.uri.raw, op);
    std::vector<Network> out;
    for (auto& net : adopt_array<NetPtr>(raw, n)) out.push_back(describe(s_, net.get(), op));
    return out;
  });
}

Network LibvirtNetworkOps::get(const std::string& name) {
  return guarded("network.info", [&] {
    const std::string op = "network.info";
    auto net = find_network(s_, name, op);
    Network w = describe(s_, net.get(), op);
    w.vms = attached_vms(s_, w, op);
    return w;
  });
}

void LibvirtNetworkOps::start(const std::string& name) {
  guarded("network.start", [&] {
    const std::string op = "network.start";
    auto net = find_network(s_, name, op);
    if (virNetworkIsActive(net.get()) == 1)
      throw Error(ErrorCode::Conflict, net_label(name) + " is already active", op);
    if (virNetworkCreate(net.get()) < 0) fail(s_.get(), "cannot start " + net_label(name), op);
  });
}

void LibvirtNetworkOps::stop(const std::string& name) {
  guarded("network.stop", [&] {
    const std::string op = "network.stop";
    auto net = find_network(s_, name, op);
    if (virNetworkIsActive(net.get()) != 1)
      throw Error(ErrorCode::Conflict, net_label(name) + " is not active", op);
    if (virNetworkDestroy(net.get()) < 0) fail(s_.get(), "cannot stop " + net_label(name), op);
  });
}

}  // namespace hyperctl::lv
