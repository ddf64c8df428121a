// VsphereConnection: its operation groups and the shared look-ups.
#include "connection.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "common.hpp"
#include "hyperctl/escape.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {

VsphereConnection::VsphereConnection(Uri uri, std::unique_ptr<Session> session)
    : Connection(kBackendName),
      uri_(std::move(uri)),
      session_(std::move(session)),
      vms_(std::make_unique<VsphereVmOps>(*this)),
      snapshots_(std::make_unique<VsphereSnapshotOps>(*this)),
      storage_(std::make_unique<VsphereStorageOps>(*this)),
      networks_(std::make_unique<VsphereNetworkOps>(*this)),
      host_(std::make_unique<VsphereHostOps>(*this)),
      migration_(std::make_unique<VsphereMigrationOps>(*this)) {}

VsphereConnection::~VsphereConnection() = default;

VmOps& VsphereConnection::vms() {
  return *vms_;
}
SnapshotOps& VsphereConnection::snapshots() {
  return *snapshots_;
}
StorageOps& VsphereConnection::storage() {
  return *storage_;
}
NetworkOps& VsphereConnection::networks() {
  return *networks_;
}
MigrationOps& VsphereConnection::migration() {
  return *migration_;
}
HostOps& VsphereConnection::host() {
  return *host_;
}

VsphereConnection* vsphere_connection_of(Connection& c) {
  return dynamic_cast<VsphereConnection*>(&c);
}

// ---------------------------------------------------------------------------
// VM look-ups (the VM owner's part): one PropertyCollector round trip for
// every VM and the names of the hosts, datastores and networks they refer to.

namespace {

/// The network a NIC's backing names: a standard network by moref, a
/// distributed port group by its key (which is its moref value).
MoRef nic_network(pugi::xml_node backing) {
  const std::string type = xml::xsi_type(backing);
  if (type == "VirtualEthernetCardDistributedVirtualPortBackingInfo")
    return {"DistributedVirtualPortgroup", xml::text(xml::child(backing, "port"), "portgroupKey")};
  return xml::moref(xml::child(backing, "network"));
}

/// "scsi", "ide", "sata", "nvme" for a controller's device type; "" for
/// anything else.
std::string bus_of(const std::string& type) {
  if (type == "VirtualIDEController") return "ide";
  if (type == "VirtualAHCIController" || type == "VirtualSATAController") return "sata";
  if (type == "VirtualNVMEController") return "nvme";
  if (type == "ParaVirtualSCSIController" || type == "VirtualLsiLogicController" ||
      type == "VirtualLsiLogicSASController" || type == "VirtualBusLogicController" ||
      type == "VirtualSCSIController")
    return "scsi";
  return {};
}

/// "vmxnet3" for VirtualVmxnet3, "e1000e" for VirtualE1000e...
std::string nic_model(const std::string& type) {
  std::string model = type.rfind("Virtual", 0) == 0 ? type.substr(7) : type;
  return lower_ascii(model);
}

/// The types and paths a VM list asks for: the VMs and the names they refer to.
std::vector<PropertyRequest> vm_requests() {
  return {{"VirtualMachine", VsphereConnection::vm_paths()},
          {"HostSystem", {"name"}},
          {"Datastore", {"name"}},
          {"Network", {"name"}}};
}

NameMap names_of(const std::vector<ObjectContent>& objects) {
  NameMap names;
  for (const auto& o : objects)
    if (o.obj.type != "VirtualMachine") names[o.obj] = decode_name(xml::text(o.prop("name")));
  return names;
}

std::string name_of(const NameMap& names, const MoRef& ref) {
  if (ref.empty()) return {};
  auto it = names.find(ref);
  if (it != names.end()) return it->second;
  // A distributed port group asked for as "Network" comes back with its own
  // type; look the value up whatever the type.
  for (const auto& [key, name] : names)
    if (key.value == ref.value) return name;
  return {};
}

}  // namespace

const std::vector<std::string>& VsphereConnection::vm_paths() {
  static const std::vector<std::string> paths = {
      "name",
      "config.instanceUuid",
      "config.uuid",
      "config.guestId",
      "config.template",
      "config.hardware.numCPU",
      "config.hardware.memoryMB",
      "config.hardware.device",
      "runtime.powerState",
      "runtime.host",
      "datastore",
  };
  return paths;
}

VmInfo VsphereConnection::describe(const ObjectContent& vm, const NameMap& names) const {
  VmInfo info;
  info.backend = kBackendName;
  info.name = decode_name(xml::text(vm.prop("name")));
  info.id = xml::text(vm.prop("config.instanceUuid"));
  if (info.id.empty()) info.id = vm.obj.value;  // a VM being created has no config yet
  info.state_reason = xml::text(vm.prop("runtime.powerState"));
  info.state = vm_state_of(info.state_reason);
  info.vcpus = static_cast<unsigned>(
      std::max<std::int64_t>(0, xml::i64(vm.prop("config.hardware.numCPU"), {})));
  info.memory_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(
                          0, xml::i64(vm.prop("config.hardware.memoryMB"), {})))
                      << 20;
  info.guest_os = xml::text(vm.prop("config.guestId"));
  info.host = name_of(names, xml::moref(vm.prop("runtime.host")));
  info.persistent = true;

  // Devices: controllers first (a disk's target names its controller's bus).
  const std::vector<pugi::xml_node> devices = xml::elements(vm.prop("config.hardware.device"));
  std::map<std::int64_t, std::string> controllers;  // key -> "scsi0"
  for (pugi::xml_node d : devices) {
    const std::string bus = bus_of(xml::xsi_type(d));
    if (!bus.empty())
      controllers[xml::i64(d, "key", -1)] = bus + std::to_string(xml::i64(d, "busNumber"));
  }
  for (pugi::xml_node d : devices) {
    const std::string type = xml::xsi_type(d);
    if (type == "VirtualDisk") {
      DiskInfo disk;
      disk.device = "disk";
      disk.format = "vmdk";
      const pugi::xml_node backing = xml::child(d, "backing");
      disk.path = xml::text(backing, "fileName");
      const std::int64_t bytes = xml::i64(d, "capacityInBytes", -1);
      disk.capacity_bytes =
          bytes >= 0
              ? static_cast<std::uint64_t>(bytes)
              : static_cast<std::uint64_t>(std::max<std::int64_t>(0, xml::i64(d, "capacityInKB")))
                    << 10;
      auto ctl = controllers.find(xml::i64(d, "controllerKey", -1));
      if (ctl != controllers.end() && xml::child(d, "unitNumber"))
        disk.target = ctl->second + ":" + std::to_string(xml::i64(d, "unitNumber"));
      info.disks.push_back(std::move(disk));
    } else if (type == "VirtualCdrom" &&
               xml::xsi_type(xml::child(d, "backing")) == "VirtualCdromIsoBackingInfo") {
      // A CD-ROM with an ISO image. Its size is the file's, which the
      // device does not say: 0 (unknown) here in list and info alike;
      // volume info on the image gives it.
      DiskInfo cdrom;
      cdrom.device = "cdrom";
      cdrom.format = "iso";
      cdrom.path = xml::text(xml::child(d, "backing"), "fileName");
      auto ctl = controllers.find(xml::i64(d, "controllerKey", -1));
      if (ctl != controllers.end() && xml::child(d, "unitNumber"))
        cdrom.target = ctl->second + ":" + std::to_string(xml::i64(d, "unitNumber"));
      info.disks.push_back(std::move(cdrom));
    } else if (xml::child(d, "macAddress") || xml::child(d, "addressType")) {
      NicInfo nic;
      nic.mac = xml::text(d, "macAddress");
      nic.model = nic_model(type);
      const pugi::xml_node backing = xml::child(d, "backing");
      nic.network = name_of(names, nic_network(backing));
      if (nic.network.empty())  // a standard network not (yet) in the map
        nic.network = decode_name(xml::text(backing, "deviceName"));
      info.nics.push_back(std::move(nic));
    }
  }

  info.extras["moref"] = vm.obj.value;
  info.extras["template"] = xml::boolean(vm.prop("config.template"), {}) ? "true" : "false";
  info.extras["bios_uuid"] = xml::text(vm.prop("config.uuid"));
  std::string datastores;
  for (const MoRef& ds : xml::morefs(vm.prop("datastore"))) {
    const std::string name = name_of(names, ds);
    datastores += (datastores.empty() ? "" : ",") + (name.empty() ? ds.value : name);
  }
  info.extras["datastores"] = datastores;
  return info;
}

const std::vector<std::string>& VsphereConnection::list_paths() {
  // summary.config carries name, ids, guest id, template, vCPUs and memory
  // in one property: about half the bytes of asking for each config path.
  static const std::vector<std::string> paths = {"summary.config", "runtime.powerState",
                                                 "runtime.host", "summary.storage"};
  return paths;
}

std::vector<VmInfo> VsphereConnection::list_vms(const VmFilter& filter, const std::string& op) {
  // A datacenter named in the URI scopes the list; otherwise every VM the
  // session sees (no extra look-up on the common path).
  MoRef container;
  if (!session_->target().datacenter.empty()) container = datacenter(op).ref;

  // Each VM is read into its VmInfo as its page comes, and the page is let
  // go; host names may come in any page, so hosts are filled in at the end.
  // retrieve_each hands each object over once, whole.
  struct Listed {
    MoRef ref, host;
    VmInfo info;
    bool named = false;
  };
  std::vector<Listed> vms;
  NameMap hosts;
  const auto number = [](pugi::xml_node parent, const char* child) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, xml::i64(parent, child)));
  };
  const auto wanted = [&](const VmInfo& info) {
    if (!filter.states.empty() &&
        std::find(filter.states.begin(), filter.states.end(), info.state) == filter.states.end())
      return false;
    return filter.name_glob.empty() ||
           ::fnmatch(filter.name_glob.c_str(), info.name.c_str(), 0) == 0;
  };
  const auto take = [&](ObjectContent&& o) {
    if (o.obj.type != "VirtualMachine") {
      hosts[o.obj] = decode_name(xml::text(o.prop("name")));
      return;
    }
    Listed& vm = vms.emplace_back();
    vm.ref = o.obj;
    VmInfo& info = vm.info;
    if (const pugi::xml_node c = o.prop("summary.config")) {
      // Not there for a VM being created or one whose files are gone.
      vm.named = static_cast<bool>(xml::child(c, "name"));
      info.name = decode_name(xml::text(c, "name"));
      info.id = xml::text(c, "instanceUuid");
      info.extras["bios_uuid"] = xml::text(c, "uuid");
      info.guest_os = xml::text(c, "guestId");
      info.extras["template"] = xml::boolean(c, "template") ? "true" : "false";
      info.vcpus = static_cast<unsigned>(number(c, "numCpu"));
      info.memory_bytes = number(c, "memorySizeMB") << 20;
    }
    if (const pugi::xml_node p = o.prop("runtime.powerState")) {
      info.state_reason = xml::text(p);
      info.state = vm_state_of(info.state_reason);
    }
    if (const pugi::xml_node h = o.prop("runtime.host")) vm.host = xml::moref(h);
    if (const pugi::xml_node st = o.prop("summary.storage"))
      info.disk_bytes = number(st, "committed") + number(st, "uncommitted");
    // The filter now, so that a narrow filter does not keep every VM; an
    // unnamed VM waits for its name.
    if (vm.named && !wanted(info)) vms.pop_back();
  };
  session_->retrieve_each({{"VirtualMachine", list_paths()}, {"HostSystem", {"name"}}}, op,
                          container, take);

  // A VM without its config summary (being created) is named by its
  // ManagedEntity name: one more small call, for those only.
  std::map<MoRef, Listed*> unnamed;
  for (Listed& vm : vms)
    if (!vm.named) unnamed[vm.ref] = &vm;
  if (!unnamed.empty()) {
    std::vector<MoRef> refs;
    for (const auto& [ref, vm] : unnamed) refs.push_back(ref);
    for (const ObjectContent& o : session_->retrieve(refs, {"name"}, op)) {
      const auto it = unnamed.find(o.obj);
      if (it != unnamed.end()) it->second->info.name = decode_name(xml::text(o.prop("name")));
    }
  }

  std::vector<VmInfo> out;
  out.reserve(vms.size());
  for (Listed& vm : vms) {
    VmInfo& info = vm.info;
    if (!wanted(info)) continue;
    info.backend = kBackendName;
    info.persistent = true;
    if (info.id.empty()) info.id = vm.ref.value;  // no config yet
    info.host = name_of(hosts, vm.host);
    info.extras["moref"] = vm.ref.value;
    info.extras.emplace("template", "false");
    info.extras.emplace("bios_uuid", "");
    out.push_back(std::move(info));
  }
  return out;
}

VmObject VsphereConnection::resolve(const VmRef& ref, const std::string& op) {
  if (ref.value.empty())
    throw Error(ErrorCode::InvalidArgument, "no VM named (an empty name or id)", op);
  // Light first: every VM's name and ids (and the names of the hosts,
  // datastores and networks describe() needs), without the devices; then
  // the chosen VM's full properties. Two round trips whatever the number of
  // VMs, and the bulk of the inventory is not transferred.
  MoRef container;
  if (!session_->target().datacenter.empty()) container = datacenter(op).ref;
  std::vector<PropertyRequest> what = vm_requests();
  // Every VM's UUIDs only when the reference could be one (hex digits and
  // hyphens, 32 digits): a name costs a third of the bytes.
  std::size_t hex = 0;
  bool uuid_like = true;
  for (const char ch : ref.value) {
    if (std::isxdigit(static_cast<unsigned char>(ch)))
      ++hex;
    else if (ch != '-')
      uuid_like = false;
  }
  uuid_like = uuid_like && hex == 32;
  what.front().paths = uuid_like
                           ? std::vector<std::string>{"name", "config.instanceUuid", "config.uuid"}
                           : std::vector<std::string>{"name"};
  struct Candidate {
    MoRef ref;
    std::string name, instance_uuid, bios_uuid;
  };
  std::vector<Candidate> vms;
  NameMap names;  // of the hosts, datastores and networks
  // Read page by page: only names and ids are kept.
  session_->retrieve_each(what, op, container, [&](ObjectContent&& o) {
    if (o.obj.type == "VirtualMachine")
      vms.push_back({o.obj, decode_name(xml::text(o.prop("name"))),
                     xml::text(o.prop("config.instanceUuid")), xml::text(o.prop("config.uuid"))});
    else
      names[o.obj] = decode_name(xml::text(o.prop("name")));
  });
  auto id_of = [](const Candidate& v) {
    return v.instance_uuid.empty() ? v.ref.value : v.instance_uuid;
  };
  auto listed = [&](const std::vector<const Candidate*>& found) {
    // The instance UUIDs of the VMs a message names, when the look-up did
    // not read them (one small call, on the way to an error).
    std::map<MoRef, std::string> uuids;
    if (!uuid_like) {
      std::vector<MoRef> refs;
      for (const Candidate* vm : found) refs.push_back(vm->ref);
      try {
        for (const ObjectContent& o : session_->retrieve(refs, {"config.instanceUuid"}, op))
          uuids[o.obj] = xml::text(o.prop("config.instanceUuid"));
      } catch (const Error&) {
        // The message names the morefs then.
      }
    }
    std::string ids;
    for (const Candidate* vm : found) {
      const auto u = uuids.find(vm->ref);
      const std::string id = u != uuids.end() && !u->second.empty() ? u->second : id_of(*vm);
      ids += (ids.empty() ? "" : ", ") + quoted(vm->name) + " " + escape::terminal_text(id) + " (" +
             escape::terminal_text(vm->ref.value) + ")";
    }
    return ids;
  };
  auto matching = [&](auto&& matches) {
    std::vector<const Candidate*> found;
    for (const auto& vm : vms)
      if (matches(vm)) found.push_back(&vm);
    return found;
  };

  // Ids first, in this order: instance UUID (any case), BIOS UUID (any
  // case), moref value; the first kind that matches decides. Then names.
  const std::string key = lower_ascii(ref.value);
  const std::pair<const char*, std::function<bool(const Candidate&)>> kinds[] = {
      {"instance UUID",
       [&](const Candidate& v) {
         return !v.instance_uuid.empty() && lower_ascii(v.instance_uuid) == key;
       }},
      {"BIOS UUID",
       [&](const Candidate& v) { return !v.bios_uuid.empty() && lower_ascii(v.bios_uuid) == key; }},
      {"moref", [&](const Candidate& v) { return v.ref.value == ref.value; }},
  };
  const std::vector<const Candidate*> named =
      matching([&](const Candidate& v) { return v.name == ref.value; });
  const Candidate* chosen = nullptr;
  for (const auto& [what_id, matches] : kinds) {
    const std::vector<const Candidate*> found = matching(matches);
    if (found.empty()) continue;
    if (found.size() > 1)
      throw Error(ErrorCode::Conflict,
                  std::to_string(found.size()) + " VMs have the " + what_id + " " +
                      quoted(ref.value) + " on " + session_->endpoint() +
                      "; name one by its moref: " + listed(found),
                  op);
    chosen = found.front();
    // The same text is also exactly the name of another VM: which one is
    // meant cannot be told, so neither is acted on.
    std::vector<const Candidate*> others;
    for (const Candidate* vm : named)
      if (vm->ref != chosen->ref) others.push_back(vm);
    if (!others.empty())
      throw Error(ErrorCode::Conflict,
                  quoted(ref.value) + " on " + session_->endpoint() + " is the " + what_id +
                      " of VM " + listed({chosen}) + " and the name of " +
                      (others.size() == 1 ? "VM " : "VMs ") + listed(others) +
                      "; name the one meant by another of its ids",
                  op);
    break;
  }
  if (!chosen) {
    if (named.size() > 1)
      throw Error(ErrorCode::Conflict,
                  std::to_string(named.size()) + " VMs have the name " + quoted(ref.value) +
                      " on " + session_->endpoint() +
                      "; name one by its instance UUID or moref: " + listed(named),
                  op);
    if (named.empty())
      throw Error(ErrorCode::NotFound, "no VM " + quoted(ref.value) + " on " + session_->endpoint(),
                  op);
    chosen = named.front();
  }

  // The chosen VM in full; the names it refers to came with the first call.
  ObjectContent o = session_->retrieve_one(
      chosen->ref, vm_paths(), op,
      "VM " + quoted(chosen->name) + " (" + escape::terminal_text(chosen->ref.value) + ")");
  VmObject out;
  out.ref = chosen->ref;
  out.info = describe(o, names);
  out.raw = std::move(o);
  return out;
}

VmObject VsphereConnection::refresh(const MoRef& vm, const std::string& op) {
  ObjectContent o = session_->retrieve_one(vm, vm_paths(), op, "VM " + vm.value);
  // The names it refers to, in one more call.
  std::set<MoRef> refs;
  const MoRef host = xml::moref(o.prop("runtime.host"));
  if (!host.empty()) refs.insert(host);
  for (const MoRef& ds : xml::morefs(o.prop("datastore"))) refs.insert(ds);
  for (pugi::xml_node d : xml::elements(o.prop("config.hardware.device")))
    if (xml::child(d, "macAddress") || xml::child(d, "addressType")) {
      const MoRef net = nic_network(xml::child(d, "backing"));
      if (!net.empty()) refs.insert(net);
    }
  NameMap names;
  if (!refs.empty())
    names =
        names_of(session_->retrieve(std::vector<MoRef>(refs.begin(), refs.end()), {"name"}, op));
  VmObject out;
  out.ref = vm;
  out.info = describe(o, names);
  out.raw = std::move(o);
  return out;
}

const Datacenter& VsphereConnection::datacenter(const std::string& op) {
  if (datacenter_) return *datacenter_;
  // The datacenters and the folders above them, in one round trip: a
  // datacenter's inventory path is its folders' names from the root down.
  const auto objects = session_->retrieve_all(
      {{"Datacenter",
        {"name", "parent", "vmFolder", "hostFolder", "datastoreFolder", "networkFolder"}},
       {"Folder", {"name", "parent"}}},
      op);
  std::map<MoRef, std::pair<std::string, MoRef>> folders;  // ref -> stored name, parent
  for (const auto& o : objects)
    if (o.obj.type == "Folder")
      folders[o.obj] = {xml::text(o.prop("name")), xml::moref(o.prop("parent"))};
  const MoRef& root = session_->content().root_folder;
  auto path_of = [&](const std::string& stored, MoRef parent) {
    std::string path = stored;
    for (std::size_t depth = 0; !parent.empty() && parent != root && depth < 1000; ++depth) {
      const auto it = folders.find(parent);
      if (it == folders.end()) break;  // above what this session may see
      path = it->second.first + "/" + path;
      parent = it->second.second;
    }
    return path;
  };
  std::vector<Datacenter> all;
  for (const auto& o : objects) {
    if (o.obj.type != "Datacenter") continue;
    Datacenter dc;
    dc.ref = o.obj;
    const std::string stored = xml::text(o.prop("name"));
    dc.name = decode_name(stored);
    dc.path = path_of(stored, xml::moref(o.prop("parent")));
    dc.vm_folder = xml::moref(o.prop("vmFolder"));
    dc.host_folder = xml::moref(o.prop("hostFolder"));
    dc.datastore_folder = xml::moref(o.prop("datastoreFolder"));
    dc.network_folder = xml::moref(o.prop("networkFolder"));
    all.push_back(std::move(dc));
  }
  const std::string& wanted = session_->target().datacenter;
  std::string known;
  for (const auto& dc : all) known += (known.empty() ? "" : ", ") + quoted(dc.name);
  if (!wanted.empty()) {
    for (auto& dc : all)
      if (dc.name == wanted) return datacenter_.emplace(std::move(dc));
    throw Error(
        ErrorCode::NotFound,
        "no datacenter " + quoted(wanted) + " on " + session_->endpoint() +
            (known.empty() ? std::string(" (it has none)") : " (datacenters: " + known + ")"),
        op);
  }
  if (all.size() == 1) return datacenter_.emplace(std::move(all.front()));
  if (all.empty())
    throw Error(ErrorCode::NotFound, session_->endpoint() + " has no datacenter", op);
  throw Error(
      ErrorCode::InvalidArgument,
      session_->endpoint() + " has " + std::to_string(all.size()) +
          " datacenters; name one in the URI path (vsphere://USER@HOST/DATACENTER): " + known,
      op);
}

}  // namespace hyperctl::vsphere
