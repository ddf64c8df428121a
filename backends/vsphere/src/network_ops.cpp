// vSphere networks as the core's networks: standard port groups (Network),
// distributed port groups (DistributedVirtualPortgroup, with their switch as
// the bridge) and NSX opaque networks, all read in one PropertyCollector
// round trip. A ContainerView of type Network also holds its subtypes.
//
// The VMs on a network are taken from both sides of the relation, the
// network's `vm` and each VM's `network`: vCenter keeps both, some endpoints
// (the simulator among them) only the VM's side.
#include "hyperctl/error.hpp"

#include <algorithm>
#include <set>

#include "common.hpp"
#include "hyperctl/escape.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {
namespace {

bool is_network_type(const std::string& type) {
  return type == "Network" || type == "DistributedVirtualPortgroup" || type == "OpaqueNetwork";
}

bool is_switch_type(const std::string& type) {
  return type == "DistributedVirtualSwitch" || type == "VmwareDistributedVirtualSwitch";
}

/// Where to look: the datacenter the URI names, else the whole inventory
/// (networks of every datacenter; their ids tell equal names apart).
MoRef container_of(VsphereConnection& c, const std::string& op) {
  if (c.session().target().datacenter.empty()) return {};
  return c.datacenter(op).ref;
}

std::vector<PropertyRequest> network_requests() {
  return {{"Network", {"name", "summary.accessible", "vm"}},
          {"DistributedVirtualPortgroup", {"config.distributedVirtualSwitch"}},
          {"DistributedVirtualSwitch", {"name"}}};
}

Network network_of(const ObjectContent& oc, const NameMap& switches) {
  Network n;
  n.name = decode_name(xml::text(oc.prop("name")));
  n.id = oc.obj.value;
  n.active = xml::text(oc.prop("summary.accessible")) == "true";
  if (oc.obj.type == "DistributedVirtualPortgroup") {
    n.forward_mode = "distributed";
    const MoRef dvs = xml::moref(oc.prop("config.distributedVirtualSwitch"));
    const auto it = switches.find(dvs);
    if (it != switches.end()) n.bridge = it->second;
  } else if (oc.obj.type == "OpaqueNetwork") {
    n.forward_mode = "opaque";
  } else {
    n.forward_mode = "standard";
  }
  return n;
}

/// The networks of `objects`, in the server's order.
std::vector<std::pair<Network, const ObjectContent*>> networks_of(
    const std::vector<ObjectContent>& objects) {
  NameMap switches;
  for (const auto& oc : objects)
    if (is_switch_type(oc.obj.type)) switches[oc.obj] = decode_name(xml::text(oc.prop("name")));
  std::vector<std::pair<Network, const ObjectContent*>> out;
  for (const auto& oc : objects)
    if (is_network_type(oc.obj.type)) out.emplace_back(network_of(oc, switches), &oc);
  return out;
}

}  // namespace

Capabilities network_capabilities() {
  return {Operation::NetworkList, Operation::NetworkInfo};
}

std::vector<Network> VsphereNetworkOps::list() {
  const std::string op = "network.list";
  return guarded(op, [&] {
    const auto objects = c_.session().retrieve_all(network_requests(), op, container_of(c_, op));
    std::vector<Network> out;
    for (auto& [n, oc] : networks_of(objects)) out.push_back(std::move(n));
    return out;
  });
}

Network VsphereNetworkOps::get(const std::string& name) {
  const std::string op = "network.info";
  return guarded(op, [&] {
    auto what = network_requests();
    what.push_back({"VirtualMachine", {"name", "network"}});
    const auto objects = c_.session().retrieve_all(what, op, container_of(c_, op));
    // A name, else a moref value ("network-7", "dvportgroup-12").
    std::vector<std::pair<Network, const ObjectContent*>> found;
    const auto all = networks_of(objects);
    for (const auto& entry : all)
      if (entry.first.name == name) found.push_back(entry);
    if (found.empty())
      for (const auto& entry : all)
        if (entry.first.id == name) found.push_back(entry);
    if (found.empty())
      throw Error(ErrorCode::NotFound,
                  "no network or port group " + quoted(name) + " on " + c_.session().endpoint(),
                  op);
    if (found.size() > 1) {
      std::string ids;
      for (const auto& entry : found) ids += (ids.empty() ? "" : ", ") + entry.first.id;
      throw Error(ErrorCode::Conflict,
                  std::to_string(found.size()) + " networks are named " + quoted(name) + " (" +
                      ids + "); name one by its id",
                  op);
    }
    Network n = found.front().first;
    const MoRef self = found.front().second->obj;
    std::set<MoRef> vms;
    for (const MoRef& vm : xml::morefs(found.front().second->prop("vm"))) vms.insert(vm);
    std::map<MoRef, std::string> vm_names;
    for (const auto& oc : objects)
      if (oc.obj.type == "VirtualMachine") {
        vm_names[oc.obj] = decode_name(xml::text(oc.prop("name")));
        for (const MoRef& net : xml::morefs(oc.prop("network")))
          if (net == self) vms.insert(oc.obj);
      }
    for (const MoRef& vm : vms) {
      const auto it = vm_names.find(vm);
      // A VM outside the view (another datacenter's) is named by its id.
      n.vms.push_back(it != vm_names.end() ? it->second : vm.value);
    }
    std::sort(n.vms.begin(), n.vms.end());
    return n;
  });
}

}  // namespace hyperctl::vsphere
