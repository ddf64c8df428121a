// Migration of vSphere VMs: vMotion (another host), storage vMotion (another
// datastore), or both, through RelocateVM_Task within one vCenter (or one
// ESXi host).
//
// The target is a second connection to the same endpoint; its ?host= and
// ?datastore= (Target::placement_host / placement_datastore) say where the
// VM goes. The checks read everything in three round trips: the VM
// (resolve), its placement (runtime.host, datastores, networks, committed
// storage), and one RetrievePropertiesEx over the target datacenter for its
// hosts, compute resources, datastores, networks and VM names.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/size.hpp"
#include "ops.hpp"

namespace hyperctl::vsphere {
namespace {

const std::string kCheckOp = "migrate.check";
const std::string kLiveOp = "migrate.live";
const std::string kColdOp = "migrate.offline";

// ------------------------------------------------------------ answers

MoRef moref_of(pugi::xml_node val) {
  auto all = xml::morefs(val);
  return all.empty() ? MoRef{} : all.front();
}

std::optional<bool> boolean_of(pugi::xml_node val) {
  if (!val) return std::nullopt;
  const std::string t = xml::text(val);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return std::nullopt;
}

std::optional<std::int64_t> number_of(pugi::xml_node val) {
  if (!val) return std::nullopt;
  const std::string t = xml::text(val);
  if (t.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    const long long v = std::stoll(t, &used);
    if (used != t.size()) return std::nullopt;
    return static_cast<std::int64_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string name_of(const ObjectContent& o) {
  return decode_name(xml::text(o.prop("name")));
}

std::string size_words(std::int64_t bytes) {
  return format_size(bytes < 0 ? 0 : static_cast<std::uint64_t>(bytes));
}

// ------------------------------------------------------------ facts

struct HostFacts {
  MoRef ref;
  std::string name;
  MoRef parent;                  ///< its ComputeResource / ClusterComputeResource
  std::string connection_state;  ///< connected, disconnected, notResponding
  bool maintenance = false;
  std::string cpu_vendor;  ///< of its first CPU package ("intel", "amd")
  std::optional<std::int64_t> memory_bytes, memory_used_mb;
  std::set<MoRef> networks, datastores;
};

struct DatastoreFacts {
  MoRef ref;
  std::string name;
  bool accessible = true;
  std::optional<std::int64_t> free;
  /// Hosts whose mount of it is reported unmounted or inaccessible.
  std::set<MoRef> unusable_on;
};

/// The VM and where it is now.
struct VmFacts {
  VmObject vm;
  std::string name;
  std::string power;  ///< poweredOn, poweredOff, suspended
  MoRef host;
  std::vector<MoRef> datastores, networks;
  std::optional<std::int64_t> committed;
};

/// What the target datacenter holds, from one RetrievePropertiesEx.
struct Inventory {
  std::string datacenter;
  std::map<MoRef, HostFacts> hosts;
  std::map<MoRef, DatastoreFacts> datastores;
  std::map<MoRef, MoRef> pools;  ///< compute resource -> its root resource pool
  NameMap networks;
  std::vector<std::pair<MoRef, std::string>> vms;  ///< every VM: ref, name
  std::map<MoRef, MoRef> vm_hosts;
};

/// Everything migrate and preflight decide on. The pointers point into
/// `inv`'s maps, whose nodes a move keeps: a Plan moves, never copies.
struct Plan {
  Plan() = default;
  Plan(Plan&&) = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  VmFacts vm;
  Inventory inv;
  std::string want_host, want_datastore;  ///< as the target URI names them
  const HostFacts* host = nullptr;        ///< the named host, when found
  const DatastoreFacts* datastore = nullptr;
  const HostFacts* current = nullptr;  ///< the VM's host now, when in the datacenter
  bool host_missing = false, datastore_missing = false;

  /// Where the VM will run: the named host, else its current one.
  const HostFacts* destination() const { return host ? host : current; }
  bool host_changes() const { return host && (!current || host->ref != current->ref); }
  bool datastore_changes() const {
    if (!datastore) return false;
    return !(vm.datastores.size() == 1 && vm.datastores.front() == datastore->ref);
  }
  std::string host_word(const MoRef& ref) const {
    auto it = inv.hosts.find(ref);
    return it == inv.hosts.end() ? ref.value : it->second.name;
  }
  std::string datastore_word(const MoRef& ref) const {
    auto it = inv.datastores.find(ref);
    return it == inv.datastores.end() ? ref.value : it->second.name;
  }
  std::string network_word(const MoRef& ref) const {
    auto it = inv.networks.find(ref);
    return it == inv.networks.end() ? ref.value : it->second;
  }
};

const std::vector<std::string>& vm_placement_paths() {
  static const std::vector<std::string> paths = {
      "name",      "runtime.host", "runtime.powerState",
      "datastore", "network",      "summary.storage.committed"};
  return paths;
}

VmFacts vm_facts(VsphereConnection& c, const VmRef& ref, const std::string& op) {
  VmFacts f;
  f.vm = c.resolve(ref, op);
  // vm_paths() has neither "network" nor "summary.storage.committed": one
  // more retrieve of this VM alone.
  const ObjectContent o =
      c.session().retrieve_one(f.vm.ref, vm_placement_paths(), op, "VM " + quoted(f.vm.info.name));
  f.name = f.vm.info.name.empty() ? name_of(o) : f.vm.info.name;
  f.power = xml::text(o.prop("runtime.powerState"));
  f.host = moref_of(o.prop("runtime.host"));
  f.datastores = xml::morefs(o.prop("datastore"));
  f.networks = xml::morefs(o.prop("network"));
  f.committed = number_of(o.prop("summary.storage.committed"));
  return f;
}

Inventory inventory(VsphereConnection& target, Session& session, const std::string& op) {
  const Datacenter& dc = target.datacenter(op);
  Inventory inv;
  inv.datacenter = dc.name;
  const auto objects = session.retrieve_all(
      {
          {"HostSystem",
           {"name", "parent", "runtime.connectionState", "runtime.inMaintenanceMode",
            "hardware.cpuPkg", "network", "datastore", "summary.hardware.memorySize",
            "summary.quickStats.overallMemoryUsage"}},
          {"ComputeResource", {"resourcePool"}},
          {"Datastore", {"name", "summary.accessible", "summary.freeSpace", "host"}},
          {"Network", {"name"}},
          {"VirtualMachine", {"name", "runtime.host"}},
      },
      op, dc.ref);
  for (const ObjectContent& o : objects) {
    const std::string& type = o.obj.type;
    if (type == "HostSystem") {
      HostFacts h;
      h.ref = o.obj;
      h.name = name_of(o);
      h.parent = moref_of(o.prop("parent"));
      h.connection_state = xml::text(o.prop("runtime.connectionState"));
      h.maintenance = boolean_of(o.prop("runtime.inMaintenanceMode")).value_or(false);
      h.cpu_vendor = lower_ascii(cpu_vendor_of(o.prop("hardware.cpuPkg")));
      h.memory_bytes = number_of(o.prop("summary.hardware.memorySize"));
      h.memory_used_mb = number_of(o.prop("summary.quickStats.overallMemoryUsage"));
      for (const MoRef& n : xml::morefs(o.prop("network"))) h.networks.insert(n);
      for (const MoRef& d : xml::morefs(o.prop("datastore"))) h.datastores.insert(d);
      inv.hosts[h.ref] = std::move(h);
    } else if (type == "Datastore") {
      DatastoreFacts d;
      d.ref = o.obj;
      d.name = name_of(o);
      d.accessible = boolean_of(o.prop("summary.accessible")).value_or(true);
      d.free = number_of(o.prop("summary.freeSpace"));
      for (pugi::xml_node mount : o.prop("host").children()) {
        if (mount.type() != pugi::node_element) continue;
        const MoRef host = xml::moref(xml::child(mount, "key"));
        const pugi::xml_node info = xml::child(mount, "mountInfo");
        if (host.empty() || !info) continue;
        const bool mounted = boolean_of(xml::child(info, "mounted")).value_or(true);
        const bool accessible = boolean_of(xml::child(info, "accessible")).value_or(true);
        if (!mounted || !accessible) d.unusable_on.insert(host);
      }
      inv.datastores[d.ref] = std::move(d);
    } else if (type == "VirtualMachine") {
      inv.vms.emplace_back(o.obj, name_of(o));
      inv.vm_hosts[o.obj] = moref_of(o.prop("runtime.host"));
    } else if (o.props.count("resourcePool")) {
      inv.pools[o.obj] = moref_of(o.prop("resourcePool"));
    } else if (o.props.count("name")) {
      inv.networks[o.obj] = name_of(o);
    }
  }
  return inv;
}

/// The host named `name`: the exact name, else the only one equal to it
/// ignoring ASCII case (host names are DNS names).
const HostFacts* find_host(const Inventory& inv, const std::string& name) {
  const HostFacts* folded = nullptr;
  int folded_count = 0;
  for (const auto& [ref, h] : inv.hosts) {
    if (h.name == name) return &h;
    if (lower_ascii(h.name) == lower_ascii(name)) folded = &h, ++folded_count;
  }
  return folded_count == 1 ? folded : nullptr;
}

const DatastoreFacts* find_datastore(const Inventory& inv, const std::string& name) {
  for (const auto& [ref, d] : inv.datastores)
    if (d.name == name) return &d;
  return nullptr;
}

/// Up to five names, sorted, for "its hosts: X, Y, Z".
template <class Map>
std::string some_names(const Map& m) {
  std::vector<std::string> names;
  for (const auto& [ref, v] : m) names.push_back(v.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + quoted(names[i]);
  if (names.size() > 5) out += ", ...";
  return out.empty() ? "none" : out;
}

// ------------------------------------------------------------ the target

/// The target connection, checked to reach the same vCenter or ESXi host.
VsphereConnection& same_endpoint(VsphereConnection& src, Connection& target,
                                 const std::string& op) {
  VsphereConnection* t = vsphere_connection_of(target);
  if (!t)
    throw Error(ErrorCode::Unsupported,
                "a vSphere VM moves only within its own vCenter or ESXi host, and the target " +
                    escape::terminal_text(target.uri().raw) + " is a " + target.backend_name() +
                    " connection (offline migration across backend families is not part of the "
                    "vSphere backend yet)",
                op);
  const ServiceContent& a = src.session().content();
  const ServiceContent& b = t->session().content();
  // A vCenter names itself by its instance UUID; ESXi leaves it empty, and
  // then the endpoint is all there is to compare.
  const bool same =
      !a.instance_uuid.empty() || !b.instance_uuid.empty()
          ? lower_ascii(a.instance_uuid) == lower_ascii(b.instance_uuid)
          : lower_ascii(src.session().endpoint()) == lower_ascii(t->session().endpoint());
  if (!same) {
    const std::string user = src.session().target().user;
    throw Error(ErrorCode::Unsupported,
                "vMotion across vCenters is not supported: the target " +
                    escape::terminal_text(t->session().endpoint()) + " is another endpoint than " +
                    escape::terminal_text(src.session().endpoint()) +
                    "; to move the VM within its own, name that one with the place: --to '" +
                    src.session().target().scheme + "://" + escape::terminal_text(user) + "@" +
                    escape::terminal_text(src.session().endpoint()) +
                    "/?host=HOST' and/or '&datastore=DATASTORE'",
                op);
  }
  return *t;
}

/// The options vMotion cannot honour are refused by name; the ones whose
/// effect vMotion has anyway are accepted:
///   undefine_source, remove_source: RelocateVM leaves nothing on the source;
///   copy_storage with a datastore: that is the storage vMotion asked for;
///   unsafe: vSphere checks storage itself, there is nothing to vouch for;
///   shutdown_first on a VM that is already off.
void check_options(const MigrationOptions& o, const Target& where, const std::string& op) {
  auto refuse = [&](const std::string& why) { throw Error(ErrorCode::InvalidArgument, why, op); };
  if (o.bandwidth_mib_s)
    refuse(
        "--bandwidth: vMotion takes no bandwidth limit per migration (vSphere sets it on the "
        "hosts' vMotion network); drop it");
  if (o.max_downtime_ms)
    refuse("--max-downtime: vMotion chooses its own switch-over moment; drop it");
  if (o.auto_converge || o.on_stall == OnStall::AutoConverge)
    refuse(
        "--auto-converge: vMotion slows a guest that dirties memory too fast by itself; drop "
        "it");
  if (o.postcopy || o.postcopy_after_iterations || o.on_stall == OnStall::Postcopy)
    refuse("--postcopy: vMotion has no post-copy mode; drop it");
  if (o.on_stall == OnStall::Abort)
    refuse(
        "--on-stall abort: vMotion reports no stalls to act on; bound the migration with "
        "--timeout instead");
  if (!o.persist)
    refuse("--no-persist: a vSphere VM stays registered in the inventory after vMotion; drop it");
  if (o.copy_storage && where.placement_datastore.empty())
    refuse(
        "--copy-storage: say which datastore the disks go to: add ?datastore=NAME to the "
        "target URI (storage vMotion)");
  if (!o.target_pool.empty() && o.target_pool != where.placement_datastore)
    refuse("--target-pool: the datastore comes from the target URI: use ?datastore=" +
           escape::terminal_text(o.target_pool) + " there instead");
  if (where.placement_host.empty() && where.placement_datastore.empty())
    refuse(
        "say where: --to 'vsphere://user@vc/?host=esx2' and/or '&datastore=ds2' (the target "
        "URI names no host and no datastore)");
}

/// Offline mode is a cold relocation: fine for a VM that is off; a running
/// one is moved live or not at all.
void check_mode(const MigrationOptions& o, const VmFacts& vm, const std::string& op) {
  if (o.mode != MigrationMode::Offline || vm.power != "poweredOn") return;
  if (o.shutdown_first)
    throw Error(ErrorCode::InvalidArgument,
                "--shutdown: VM " + quoted(vm.name) +
                    " runs; vMotion moves it live (drop --offline and --shutdown), or shut it "
                    "down first (hyperctl stop) and move it cold",
                op);
  throw Error(ErrorCode::InvalidArgument,
              "--offline: VM " + quoted(vm.name) +
                  " runs; vMotion moves a running VM live (drop --offline), or power it off "
                  "first for a cold relocation",
              op);
}

Plan make_plan(VsphereConnection& src, VsphereConnection& dst, const VmRef& ref,
               const std::string& op) {
  Plan p;
  p.want_host = dst.session().target().placement_host;
  p.want_datastore = dst.session().target().placement_datastore;
  p.vm = vm_facts(src, ref, op);
  p.inv = inventory(dst, src.session(), op);
  if (!p.vm.host.empty()) {
    auto it = p.inv.hosts.find(p.vm.host);
    if (it == p.inv.hosts.end())
      throw Error(ErrorCode::Unsupported,
                  "VM " + quoted(p.vm.name) + " runs in another datacenter than " +
                      quoted(p.inv.datacenter) +
                      " (the target URI's); moving a VM across datacenters is not supported "
                      "yet: name its own datacenter in the target URI path",
                  op);
    p.current = &it->second;
  }
  if (!p.want_host.empty()) {
    p.host = find_host(p.inv, p.want_host);
    p.host_missing = !p.host;
  }
  if (!p.want_datastore.empty()) {
    p.datastore = find_datastore(p.inv, p.want_datastore);
    p.datastore_missing = !p.datastore;
  }
  return p;
}

// ------------------------------------------------------------ checks

PreflightItem item(const char* check, CheckLevel level, std::string message, std::string fix = {}) {
  return {check, level, std::move(message), std::move(fix)};
}

std::vector<PreflightItem> run_checks(const Plan& p) {
  std::vector<PreflightItem> out;
  const VmFacts& vm = p.vm;
  const bool on = vm.power == "poweredOn";

  // vm-state
  if (on)
    out.push_back(
        item("vm-state", CheckLevel::Ok, "VM " + quoted(vm.name) + " runs: live vMotion"));
  else if (vm.power == "poweredOff")
    out.push_back(item("vm-state", CheckLevel::Ok,
                       "VM " + quoted(vm.name) + " is powered off: cold relocation"));
  else if (vm.power == "suspended")
    out.push_back(item("vm-state", CheckLevel::Warning,
                       "VM " + quoted(vm.name) +
                           " is suspended: it is relocated cold with its suspended state, and "
                           "resumes on the target only if that host's CPU matches",
                       "power it off, or resume it and move it live"));
  else
    out.push_back(item("vm-state", CheckLevel::Warning,
                       "VM " + quoted(vm.name) + " is in state " + quoted(vm.power)));

  // target-host
  if (p.host_missing) {
    out.push_back(
        item("target-host", CheckLevel::Blocker,
             "no host named " + quoted(p.want_host) + " in datacenter " + quoted(p.inv.datacenter),
             "name one of its hosts in ?host= (" + some_names(p.inv.hosts) + ")"));
  } else if (p.host) {
    const HostFacts& h = *p.host;
    if (h.connection_state != "connected")
      out.push_back(item("target-host", CheckLevel::Blocker,
                         "host " + quoted(h.name) + " is " +
                             quoted(h.connection_state.empty() ? "unknown" : h.connection_state) +
                             ", not connected",
                         "reconnect the host to the vCenter, or choose another"));
    else if (h.maintenance)
      out.push_back(item("target-host", CheckLevel::Blocker,
                         "host " + quoted(h.name) + " is in maintenance mode",
                         "take it out of maintenance mode, or choose another host"));
    else
      out.push_back(item("target-host", CheckLevel::Ok,
                         "host " + quoted(h.name) + " is connected and not in maintenance mode"));
  }

  // same-host: nothing would change.
  if (!p.host_missing && !p.datastore_missing && !p.host_changes() && !p.datastore_changes()) {
    std::string where = p.current ? "host " + quoted(p.current->name) : "its host";
    if (p.datastore) where += " and datastore " + quoted(p.datastore->name);
    out.push_back(item("same-host", CheckLevel::Blocker,
                       "VM " + quoted(vm.name) + " is already on " + where + ": nothing to do",
                       "name another host (?host=) or datastore (?datastore=)"));
  }

  const HostFacts* dest = p.destination();
  // datastore
  if (p.datastore_missing) {
    out.push_back(
        item("datastore", CheckLevel::Blocker,
             "no datastore named " + quoted(p.want_datastore) + " in datacenter " +
                 quoted(p.inv.datacenter),
             "name one of its datastores in ?datastore= (" + some_names(p.inv.datastores) + ")"));
  } else if (p.datastore) {
    const DatastoreFacts& d = *p.datastore;
    if (!d.accessible)
      out.push_back(item("datastore", CheckLevel::Blocker,
                         "datastore " + quoted(d.name) + " is not accessible",
                         "fix its storage, or choose another datastore"));
    else if (dest && (!dest->datastores.count(d.ref) || d.unusable_on.count(dest->ref)))
      out.push_back(
          item("datastore", CheckLevel::Blocker,
               "datastore " + quoted(d.name) + " is not mounted on host " + quoted(dest->name),
               "mount it on " + quoted(dest->name) + ", or choose a datastore that host sees"));
    else
      out.push_back(item("datastore", CheckLevel::Ok,
                         "datastore " + quoted(d.name) + " is accessible" +
                             (dest ? " from host " + quoted(dest->name) : std::string())));
  } else if (p.host_changes()) {
    // Host only: the disks stay where they are, so the new host must see them.
    std::vector<std::string> unseen;
    for (const MoRef& ref : vm.datastores) {
      auto it = p.inv.datastores.find(ref);
      const bool seen = dest->datastores.count(ref) &&
                        (it == p.inv.datastores.end() ||
                         (it->second.accessible && !it->second.unusable_on.count(dest->ref)));
      if (!seen) unseen.push_back(quoted(p.datastore_word(ref)));
    }
    if (unseen.empty()) {
      out.push_back(
          item("datastore", CheckLevel::Ok,
               "host " + quoted(dest->name) + " sees the VM's datastores (shared storage)"));
    } else {
      std::string list;
      for (const auto& n : unseen) list += (list.empty() ? "" : ", ") + n;
      out.push_back(item("datastore", CheckLevel::Blocker,
                         "host " + quoted(dest->name) + " does not see the VM's datastore " + list,
                         "add &datastore=NAME of a datastore that host sees (the disks move "
                         "along: storage vMotion)"));
    }
  }

  // free-space
  if (p.datastore && p.datastore_changes()) {
    const DatastoreFacts& d = *p.datastore;
    if (!vm.committed || !d.free)
      out.push_back(
          item("free-space", CheckLevel::Warning,
               "the VM's storage or the free space of " + quoted(d.name) + " is not known"));
    else if (*vm.committed > *d.free)
      out.push_back(item("free-space", CheckLevel::Blocker,
                         "VM " + quoted(vm.name) + " uses " + size_words(*vm.committed) +
                             ", datastore " + quoted(d.name) + " has " + size_words(*d.free) +
                             " free",
                         "free space on " + quoted(d.name) + ", or choose a larger datastore"));
    else
      out.push_back(item("free-space", CheckLevel::Ok,
                         "VM " + quoted(vm.name) + " uses " + size_words(*vm.committed) +
                             ", datastore " + quoted(d.name) + " has " + size_words(*d.free) +
                             " free"));
  }

  // name-clash: names are unique per folder and vMotion keeps the folder, so
  // another VM of this name is no blocker; it only makes the name ambiguous.
  {
    std::vector<std::string> others;
    for (const auto& [ref, name] : p.inv.vms) {
      if (ref == vm.vm.ref || name != vm.name) continue;
      auto h = p.inv.vm_hosts.find(ref);
      std::string where = escape::terminal_text(ref.value);
      if (h != p.inv.vm_hosts.end() && !h->second.empty())
        where += " on host " + quoted(p.host_word(h->second));
      others.push_back(where);
    }
    if (others.empty()) {
      out.push_back(item("name-clash", CheckLevel::Ok,
                         "no other VM is named " + quoted(vm.name) + " in datacenter " +
                             quoted(p.inv.datacenter)));
    } else {
      std::string list;
      for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
      out.push_back(item("name-clash", CheckLevel::Warning,
                         "another VM is named " + quoted(vm.name) + " too: " + list,
                         "refer to the VM by its id (instance UUID or moref)"));
    }
  }

  if (p.host_changes() && p.current) {
    // cpu-vendor
    const std::string& a = p.current->cpu_vendor;
    const std::string& b = p.host->cpu_vendor;
    if (a.empty() || b.empty())
      out.push_back(item("cpu-vendor", CheckLevel::Warning,
                         "the CPU vendor of host " +
                             quoted(a.empty() ? p.current->name : p.host->name) + " is not known"));
    else if (a != b && (on || vm.power == "suspended"))
      // A suspended VM resumes with the CPU state it saved: the same rule.
      out.push_back(item("cpu-vendor", CheckLevel::Blocker,
                         "vMotion cannot cross CPU vendors: host " + quoted(p.current->name) +
                             " has " + quoted(a) + ", host " + quoted(p.host->name) + " " +
                             quoted(b),
                         on ? "power the VM off and move it cold"
                            : "power the VM off (its suspended state is lost) and move it cold"));
    else if (a != b)
      out.push_back(item("cpu-vendor", CheckLevel::Ok,
                         "hosts have different CPU vendors (" + quoted(a) + ", " + quoted(b) +
                             "); the VM is off, so a cold relocation is fine"));
    else
      out.push_back(item("cpu-vendor", CheckLevel::Ok, "both hosts have " + quoted(a) + " CPUs"));

    // memory: a warning only, as vSphere overcommits memory and its
    // admission control goes by reservations, not by what is in use.
    const HostFacts& h = *p.host;
    const std::uint64_t need = vm.vm.info.memory_bytes;
    if (on && need > 0 && h.memory_bytes && h.memory_used_mb) {
      const std::int64_t free = *h.memory_bytes - *h.memory_used_mb * 1024 * 1024;
      const std::string facts = "host " + quoted(h.name) + " has " + size_words(free) + " of " +
                                size_words(*h.memory_bytes) + " free, VM " + quoted(vm.name) +
                                " has " + size_words(static_cast<std::int64_t>(need));
      if (free < static_cast<std::int64_t>(need))
        out.push_back(item("memory", CheckLevel::Warning, facts + ": it may swap there",
                           "free memory on " + quoted(h.name) + ", or choose another host"));
      else
        out.push_back(item("memory", CheckLevel::Ok, facts));
    }

    // network
    std::vector<std::string> missing;
    for (const MoRef& n : vm.networks)
      if (!p.host->networks.count(n)) missing.push_back(quoted(p.network_word(n)));
    if (missing.empty()) {
      out.push_back(item("network", CheckLevel::Ok,
                         vm.networks.empty()
                             ? "VM " + quoted(vm.name) + " has no network"
                             : "host " + quoted(p.host->name) + " has every network of the VM"));
    } else {
      std::string list;
      for (const auto& n : missing) list += (list.empty() ? "" : ", ") + n;
      out.push_back(item("network", CheckLevel::Blocker,
                         "host " + quoted(p.host->name) + " lacks the VM's network " + list,
                         "add the port group to " + quoted(p.host->name) +
                             " (or its distributed switch), or connect the VM's NIC to a "
                             "network that host has"));
    }
  }
  return out;
}

std::string blockers_of(const std::vector<PreflightItem>& items) {
  std::string out;
  for (const auto& i : items) {
    if (i.level != CheckLevel::Blocker) continue;
    out += (out.empty() ? "" : "; ") + i.check + ": " + i.message;
    if (!i.fix.empty()) out += " (" + i.fix + ")";
  }
  return out;
}

/// RelocateVM_Task's arguments after _this.
std::string relocate_args(const Plan& p, const std::string& op) {
  std::string spec;
  // RelocateVMSpec's members in their schema order: datastore, pool, host.
  if (p.datastore && p.datastore_changes()) spec += soap::moref("datastore", p.datastore->ref);
  if (p.host_changes()) {
    // Within one cluster the VM keeps its resource pool (or vApp); into
    // another compute resource it goes to that one's root pool.
    if (!p.current || p.current->parent != p.host->parent) {
      auto pool = p.inv.pools.find(p.host->parent);
      if (pool == p.inv.pools.end() || pool->second.empty())
        throw Error(ErrorCode::BackendFailure,
                    "host " + quoted(p.host->name) + " has no resource pool to run the VM in", op);
      spec += soap::moref("pool", pool->second);
    }
    spec += soap::moref("host", p.host->ref);
  }
  return soap::raw("spec", spec) + soap::el("priority", "defaultPriority");
}

}  // namespace

// Offline: a stopped VM is moved by the same RelocateVM_Task (VMware's cold
// migration); nothing is copied by hyperctl and nothing is journalled.
Capabilities migration_capabilities() {
  return {Operation::MigratePreflight, Operation::MigrateLive, Operation::MigrateOffline,
          Operation::MigrateCross};
}

PreflightReport VsphereMigrationOps::preflight(const VmRef& vm, Connection& target,
                                               const MigrationOptions& options) {
  return guarded(kCheckOp, [&] {
    VsphereConnection& dst = same_endpoint(c_, target, kCheckOp);
    check_options(options, dst.session().target(), kCheckOp);
    const Plan plan = make_plan(c_, dst, vm, kCheckOp);
    check_mode(options, plan.vm, kCheckOp);
    PreflightReport report;
    report.items = run_checks(plan);
    return report;
  });
}

VmInfo VsphereMigrationOps::migrate(const VmRef& vm, Connection& target,
                                    const MigrationOptions& options, const ProgressFn& progress,
                                    const CancelToken& cancel) {
  const std::string& op = options.mode == MigrationMode::Offline ? kColdOp : kLiveOp;
  return guarded(op, [&] {
    VsphereConnection& dst = same_endpoint(c_, target, op);
    check_options(options, dst.session().target(), op);
    const Plan plan = make_plan(c_, dst, vm, op);
    check_mode(options, plan.vm, op);
    if (plan.host_missing)
      throw Error(ErrorCode::NotFound,
                  "no host named " + quoted(plan.want_host) + " in datacenter " +
                      quoted(plan.inv.datacenter) + " (its hosts: " + some_names(plan.inv.hosts) +
                      ")",
                  op);
    if (plan.datastore_missing)
      throw Error(ErrorCode::NotFound,
                  "no datastore named " + quoted(plan.want_datastore) + " in datacenter " +
                      quoted(plan.inv.datacenter) +
                      " (its datastores: " + some_names(plan.inv.datastores) + ")",
                  op);
    const std::string blockers = blockers_of(run_checks(plan));
    if (!blockers.empty())
      throw Error(ErrorCode::Conflict, "VM " + quoted(plan.vm.name) + " was not moved: " + blockers,
                  op);
    if (cancel.cancelled())
      throw Error(ErrorCode::Cancelled,
                  "migration of VM " + quoted(plan.vm.name) + " cancelled before it started", op);

    c_.session().run_task("RelocateVM_Task", plan.vm.vm.ref, relocate_args(plan, op), op, "vmotion",
                          progress, &cancel, options.timeout);

    // The task said it succeeded; the inventory must say so too.
    // refresh() reads vm_paths(), which hold runtime.host and datastore.
    const VmObject moved = c_.refresh(plan.vm.vm.ref, op);
    const ObjectContent& now = moved.raw;
    if (plan.host_changes()) {
      const MoRef host = moref_of(now.prop("runtime.host"));
      if (host != plan.host->ref)
        throw Error(ErrorCode::BackendFailure,
                    "vMotion of VM " + quoted(plan.vm.name) +
                        " reported success, but the VM runs on " +
                        quoted(host.empty() ? std::string("no host") : plan.host_word(host)) +
                        ", not on " + quoted(plan.host->name),
                    op);
    }
    if (plan.datastore && plan.datastore_changes()) {
      const auto stores = xml::morefs(now.prop("datastore"));
      if (std::find(stores.begin(), stores.end(), plan.datastore->ref) == stores.end())
        throw Error(ErrorCode::BackendFailure,
                    "storage vMotion of VM " + quoted(plan.vm.name) +
                        " reported success, but the VM is not on datastore " +
                        quoted(plan.datastore->name),
                    op);
    }
    return moved.info;
  });
}

}  // namespace hyperctl::vsphere
