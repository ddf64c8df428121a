#include "output.hpp"

#include <ctime>
#include <map>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/size.hpp"
#include "text.hpp"

namespace hyperctl::cli {

namespace {

std::string size_or_dash(std::uint64_t bytes) {
  return bytes ? format_size(bytes) : "-";
}

std::string autostart_text(const std::optional<bool>& a) {
  if (!a) return "-";
  return *a ? "yes" : "no";
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

JsonValue scalar_text(const JsonValue& v) {
  if (v.is_string()) return v;
  if (v.is_null()) return "";
  return v.dump();
}

}  // namespace

Format parse_format(const std::string& text) {
  if (text == "table") return Format::Table;
  if (text == "json") return Format::Json;
  if (text == "yaml") return Format::Yaml;
  if (text == "csv") return Format::Csv;
  throw Error(ErrorCode::InvalidArgument,
              "unknown output format '" + printable(text) + "' (table, json, yaml, csv)");
}

// The single place where VmInfo becomes JSON. Changing a key or a type here is
// a schema change: bump the version in the "schema" strings and JSON-SCHEMA.md.
JsonValue vm_Json(const VmInfo& vm) {
  JsonValue disks = JsonValue::array();
  for (const auto& d : vm.disks) {
    JsonValue disk = {{"target", d.target}, {"path", d.path}};
    // Absent rather than empty when this view does not know them (libvirt's
    // list), so that no view contradicts another.
    if (!d.format.empty()) disk["format"] = d.format;
    if (!d.device.empty()) disk["device"] = d.device;
    disk["capacity_bytes"] = d.capacity_bytes;
    disk["allocation_bytes"] = d.allocation_bytes;
    disks.push_back(std::move(disk));
  }
  JsonValue nics = JsonValue::array();
  for (const auto& n : vm.nics) {
    nics.push_back({{"mac", n.mac}, {"network", n.network}, {"model", n.model}});
  }
  JsonValue extras = JsonValue::object();
  for (const auto& [k, v] : vm.extras) extras[k] = v;

  JsonValue o = JsonValue::object();
  o["id"] = vm.id;
  o["name"] = vm.name;
  o["state"] = std::string(to_string(vm.state));
  o["state_reason"] = vm.state_reason;
  o["vcpus"] = vm.vcpus;
  o["memory_bytes"] = vm.memory_bytes;
  o["max_memory_bytes"] = vm.max_memory_bytes;
  o["disks"] = std::move(disks);
  o["nics"] = std::move(nics);
  o["host"] = vm.host;
  o["backend"] = vm.backend;
  o["guest_os"] = vm.guest_os;
  o["persistent"] = vm.persistent;
  o["autostart"] = vm.autostart ? JsonValue(*vm.autostart) : JsonValue(nullptr);
  o["extras"] = std::move(extras);
  o["disk_bytes"] = disk_bytes_of(vm);
  return o;
}

JsonValue vm_list_Json(const std::string& uri, const std::vector<VmInfo>& vms) {
  JsonValue list = JsonValue::array();
  for (const auto& vm : vms) list.push_back(vm_Json(vm));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.vm-list/1";
  doc["uri"] = uri;
  doc["vms"] = std::move(list);
  return doc;
}

void vm_list_json_text(const std::string& uri, const std::vector<VmInfo>& vms,
                       const std::function<void(const std::string&)>& write) {
  JsonValue head = JsonValue::object();
  head["schema"] = "hyperctl.vm-list/1";
  head["uri"] = uri;
  head["vms"] = JsonValue::array();
  const std::string frame = to_json_text(head);  // ... "vms": []\n}\n
  const auto empty = frame.rfind("[]");
  if (vms.empty() || empty == std::string::npos) {
    write(to_json_text(vm_list_Json(uri, vms)));
    return;
  }
  // Each VM as dump(2) prints it two levels down: every line indented by
  // four more spaces (a line break inside a string is written as \n, so
  // every '\n' of the text ends a line).
  std::string out = frame.substr(0, empty) + "[\n";
  for (std::size_t i = 0; i < vms.size(); ++i) {
    const std::string one = to_json_text(vm_Json(vms[i]));
    out += "    ";
    for (std::size_t k = 0; k + 1 < one.size(); ++k) {
      out += one[k];
      if (one[k] == '\n') out += "    ";
    }
    out += i + 1 < vms.size() ? ",\n" : "\n";
    if (out.size() >= (64u << 10)) {
      write(out);
      out.clear();
    }
  }
  out += "  ]" + frame.substr(empty + 2);
  write(out);
}

JsonValue vm_doc_Json(const std::string& uri, const VmInfo& vm) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.vm/1";
  doc["uri"] = uri;
  doc.update(vm_Json(vm));
  return doc;
}

std::string vm_list_table(const std::vector<VmInfo>& vms) {
  Table t({"NAME", "STATE", "VCPUS", "MEMORY", "AUTOSTART", "ID"},
          {Align::Left, Align::Left, Align::Right, Align::Right, Align::Left, Align::Left});
  for (const auto& vm : vms) {
    t.add_row({vm.name, std::string(to_string(vm.state)), std::to_string(vm.vcpus),
               size_or_dash(vm.memory_bytes), autostart_text(vm.autostart), vm.id});
  }
  return t.render();
}

std::string vm_info_text(const VmInfo& vm) {
  Table t({"FIELD", "VALUE"});
  std::string state(to_string(vm.state));
  if (!vm.state_reason.empty() && vm.state_reason != state) state += " (" + vm.state_reason + ")";
  t.add_row({"Name:", vm.name});
  t.add_row({"ID:", vm.id});
  t.add_row({"State:", state});
  t.add_row({"vCPUs:", std::to_string(vm.vcpus)});
  t.add_row({"Memory:", size_or_dash(vm.memory_bytes)});
  t.add_row({"Max memory:", size_or_dash(vm.max_memory_bytes)});
  t.add_row({"Persistent:", vm.persistent ? "yes" : "no"});
  t.add_row({"Autostart:", autostart_text(vm.autostart)});
  t.add_row({"Guest OS:", vm.guest_os.empty() ? "-" : vm.guest_os});
  t.add_row({"Host:", vm.host.empty() ? "-" : vm.host});
  t.add_row({"Backend:", vm.backend});
  for (const auto& [k, v] : vm.extras) t.add_row({k + ":", v});
  // Drop the FIELD/VALUE header line: this view reads like `virsh dominfo`.
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);

  if (!vm.disks.empty()) {
    Table d({"DISK", "DEVICE", "FORMAT", "CAPACITY", "ALLOCATION", "PATH"},
            {Align::Left, Align::Left, Align::Left, Align::Right, Align::Right, Align::Left});
    for (const auto& disk : vm.disks) {
      d.add_row({disk.target, disk.device, disk.format.empty() ? "-" : disk.format,
                 size_or_dash(disk.capacity_bytes), size_or_dash(disk.allocation_bytes),
                 disk.path.empty() ? "-" : disk.path});
    }
    out += "\n" + d.render();
  }
  if (!vm.nics.empty()) {
    Table n({"NIC", "NETWORK", "MODEL"});
    for (const auto& nic : vm.nics) {
      n.add_row(
          {nic.mac, nic.network.empty() ? "-" : nic.network, nic.model.empty() ? "-" : nic.model});
    }
    out += "\n" + n.render();
  }
  return out;
}

std::string vm_list_csv(const std::vector<VmInfo>& vms) {
  std::string out =
      csv_row({"id", "name", "state", "state_reason", "vcpus", "memory_bytes", "max_memory_bytes",
               "host", "backend", "guest_os", "persistent", "autostart"});
  for (const auto& vm : vms) {
    out += csv_row({vm.id, vm.name, std::string(to_string(vm.state)), vm.state_reason,
                    std::to_string(vm.vcpus), std::to_string(vm.memory_bytes),
                    std::to_string(vm.max_memory_bytes), vm.host, vm.backend, vm.guest_os,
                    vm.persistent ? "true" : "false",
                    vm.autostart ? (*vm.autostart ? "true" : "false") : ""});
  }
  return out;
}

// -------------------------------------------------------------- storage --

// The single place where Pool and Volume become JSON (hyperctl.pool*/1,
// hyperctl.volume*/1 in JSON-SCHEMA.md).
JsonValue pool_Json(const Pool& p) {
  JsonValue o = JsonValue::object();
  o["name"] = p.name;
  o["id"] = p.id;
  o["type"] = p.type;
  o["path"] = p.path;
  o["active"] = p.active;
  o["autostart"] = p.autostart ? JsonValue(*p.autostart) : JsonValue(nullptr);
  o["capacity_bytes"] = p.capacity_bytes;
  o["allocation_bytes"] = p.allocation_bytes;
  o["available_bytes"] = p.available_bytes;
  return o;
}

JsonValue pool_list_Json(const std::string& uri, const std::vector<Pool>& pools) {
  JsonValue list = JsonValue::array();
  for (const auto& p : pools) list.push_back(pool_Json(p));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.pool-list/1";
  doc["uri"] = uri;
  doc["pools"] = std::move(list);
  return doc;
}

JsonValue pool_doc_Json(const std::string& uri, const Pool& pool) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.pool/1";
  doc["uri"] = uri;
  doc.update(pool_Json(pool));
  return doc;
}

std::string pool_list_table(const std::vector<Pool>& pools) {
  if (pools.empty()) return "No storage pools.\n";
  Table t({"NAME", "STATE", "AUTOSTART", "TYPE", "CAPACITY", "ALLOCATION", "AVAILABLE", "PATH"},
          {Align::Left, Align::Left, Align::Left, Align::Left, Align::Right, Align::Right,
           Align::Right, Align::Left});
  for (const auto& p : pools) {
    t.add_row({p.name, p.active ? "active" : "inactive", autostart_text(p.autostart),
               p.type.empty() ? "-" : p.type, size_or_dash(p.capacity_bytes),
               size_or_dash(p.allocation_bytes), size_or_dash(p.available_bytes),
               p.path.empty() ? "-" : p.path});
  }
  return t.render();
}

std::string pool_info_text(const Pool& p) {
  Table t({"FIELD", "VALUE"});
  t.add_row({"Name:", p.name});
  t.add_row({"ID:", p.id.empty() ? "-" : p.id});
  t.add_row({"Type:", p.type.empty() ? "-" : p.type});
  t.add_row({"Path:", p.path.empty() ? "-" : p.path});
  t.add_row({"State:", p.active ? "active" : "inactive"});
  t.add_row({"Autostart:", autostart_text(p.autostart)});
  t.add_row({"Capacity:", size_or_dash(p.capacity_bytes)});
  t.add_row({"Allocation:", size_or_dash(p.allocation_bytes)});
  t.add_row({"Available:", size_or_dash(p.available_bytes)});
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);
  return out;
}

std::string pool_list_csv(const std::vector<Pool>& pools) {
  std::string out = csv_row({"name", "id", "type", "path", "active", "autostart", "capacity_bytes",
                             "allocation_bytes", "available_bytes"});
  for (const auto& p : pools) {
    out += csv_row({p.name, p.id, p.type, p.path, p.active ? "true" : "false",
                    p.autostart ? (*p.autostart ? "true" : "false") : "",
                    std::to_string(p.capacity_bytes), std::to_string(p.allocation_bytes),
                    std::to_string(p.available_bytes)});
  }
  return out;
}

bool volume_incomplete(const Volume& v) {
  static const std::string suffix = ".hyperctl-partial";
  return v.name.size() > suffix.size() &&
         v.name.compare(v.name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

JsonValue volume_Json(const Volume& v, bool with_users) {
  JsonValue o = JsonValue::object();
  o["name"] = v.name;
  o["pool"] = v.pool;
  o["path"] = v.path;
  o["key"] = v.key;
  o["type"] = v.type;
  o["format"] = v.format;
  o["capacity_bytes"] = v.capacity_bytes;
  o["allocation_bytes"] = v.allocation_bytes;
  o["used_by"] = with_users ? JsonValue(v.used_by) : JsonValue(nullptr);
  o["incomplete"] = volume_incomplete(v);
  return o;
}

JsonValue volume_list_Json(const std::string& uri, const std::string& pool,
                           const std::vector<Volume>& volumes) {
  JsonValue list = JsonValue::array();
  for (const auto& v : volumes) list.push_back(volume_Json(v, true));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.volume-list/1";
  doc["uri"] = uri;
  doc["pool"] = pool;
  doc["volumes"] = std::move(list);
  return doc;
}

JsonValue volume_doc_Json(const std::string& uri, const Volume& volume, bool with_users) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.volume/1";
  doc["uri"] = uri;
  doc.update(volume_Json(volume, with_users));
  return doc;
}

std::string volume_list_table(const std::vector<Volume>& volumes) {
  if (volumes.empty()) return "No volumes.\n";
  Table t({"NAME", "FORMAT", "CAPACITY", "ALLOCATION", "STATE", "PATH"},
          {Align::Left, Align::Left, Align::Right, Align::Right, Align::Left, Align::Left});
  for (const auto& v : volumes) {
    t.add_row({v.name, v.format.empty() ? "-" : v.format, size_or_dash(v.capacity_bytes),
               size_or_dash(v.allocation_bytes), volume_incomplete(v) ? "incomplete" : "ready",
               v.path.empty() ? "-" : v.path});
  }
  return t.render();
}

std::string volume_info_text(const Volume& v) {
  Table t({"FIELD", "VALUE"});
  t.add_row({"Name:", v.name});
  t.add_row({"Pool:", v.pool});
  t.add_row({"Path:", v.path.empty() ? "-" : v.path});
  t.add_row({"Type:", v.type.empty() ? "-" : v.type});
  t.add_row({"Format:", v.format.empty() ? "-" : v.format});
  t.add_row({"Capacity:", size_or_dash(v.capacity_bytes)});
  t.add_row({"Allocation:", size_or_dash(v.allocation_bytes)});
  t.add_row({"Used by:", v.used_by.empty() ? "-" : join(v.used_by, ", ")});
  t.add_row({"State:", volume_incomplete(v) ? "incomplete (unfinished upload)" : "ready"});
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);
  return out;
}

std::string volume_list_csv(const std::vector<Volume>& volumes) {
  std::string out = csv_row({"pool", "name", "format", "capacity_bytes", "allocation_bytes", "type",
                             "path", "key", "incomplete"});
  for (const auto& v : volumes) {
    out += csv_row({v.pool, v.name, v.format, std::to_string(v.capacity_bytes),
                    std::to_string(v.allocation_bytes), v.type, v.path, v.key,
                    volume_incomplete(v) ? "true" : "false"});
  }
  return out;
}

// ------------------------------------------------------------ snapshots --

namespace {

/// "2024-01-31T14:25:01Z"; "" for 0.
std::string utc_time(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Tree depth of each snapshot of a pre-order list (parents come first).
std::vector<unsigned> snapshot_depths(const std::vector<Snapshot>& snaps) {
  std::map<std::string, unsigned> depth_of;
  std::vector<unsigned> out;
  for (const auto& s : snaps) {
    auto it = s.parent.empty() ? depth_of.end() : depth_of.find(s.parent);
    const unsigned d = it == depth_of.end() ? 0 : it->second + 1;
    depth_of[s.name] = d;
    out.push_back(d);
  }
  return out;
}

}  // namespace

JsonValue snapshot_Json(const Snapshot& snap, unsigned depth) {
  JsonValue o = JsonValue::object();
  o["name"] = snap.name;
  o["parent"] = snap.parent.empty() ? JsonValue(nullptr) : JsonValue(snap.parent);
  o["depth"] = depth;
  o["current"] = snap.current;
  o["description"] = snap.description;
  o["created_unix"] = snap.created_unix;
  o["created"] = utc_time(snap.created_unix);
  o["vm_state"] = std::string(to_string(snap.vm_state));
  o["disk_only"] = snap.disk_only;
  return o;
}

JsonValue snapshot_list_Json(const std::string& uri, const std::string& vm,
                             const std::vector<Snapshot>& snaps) {
  const auto depths = snapshot_depths(snaps);
  JsonValue list = JsonValue::array();
  for (std::size_t i = 0; i < snaps.size(); ++i) list.push_back(snapshot_Json(snaps[i], depths[i]));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.snapshot-list/1";
  doc["uri"] = uri;
  doc["vm"] = vm;
  doc["snapshots"] = std::move(list);
  return doc;
}

std::string snapshot_list_table(const std::vector<Snapshot>& snaps) {
  if (snaps.empty()) return "No snapshots.\n";
  const auto depths = snapshot_depths(snaps);
  Table t({"NAME", "CURRENT", "CREATED", "VM STATE", "DISK-ONLY", "DESCRIPTION"});
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    const Snapshot& s = snaps[i];
    std::string created = utc_time(s.created_unix);
    t.add_row({std::string(2 * depths[i], ' ') + s.name, s.current ? "*" : "",
               created.empty() ? "-" : created, std::string(to_string(s.vm_state)),
               s.disk_only ? "yes" : "no", s.description.empty() ? "-" : s.description});
  }
  return t.render();
}

std::string snapshot_list_csv(const std::vector<Snapshot>& snaps) {
  const auto depths = snapshot_depths(snaps);
  std::string out = csv_row({"name", "parent", "depth", "current", "description", "created_unix",
                             "vm_state", "disk_only"});
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    const Snapshot& s = snaps[i];
    out += csv_row({s.name, s.parent, std::to_string(depths[i]), s.current ? "true" : "false",
                    s.description, std::to_string(s.created_unix),
                    std::string(to_string(s.vm_state)), s.disk_only ? "true" : "false"});
  }
  return out;
}

// ------------------------------------------------------------- networks --

JsonValue network_Json(const Network& net, bool with_vms) {
  JsonValue o = JsonValue::object();
  o["name"] = net.name;
  o["id"] = net.id;
  o["active"] = net.active;
  o["autostart"] = net.autostart ? JsonValue(*net.autostart) : JsonValue(nullptr);
  o["bridge"] = net.bridge;
  o["forward_mode"] = net.forward_mode;
  o["address"] = net.address;
  o["dhcp_start"] = net.dhcp_start;
  o["dhcp_end"] = net.dhcp_end;
  if (with_vms) o["vms"] = net.vms;
  return o;
}

JsonValue network_list_Json(const std::string& uri, const std::vector<Network>& nets) {
  JsonValue list = JsonValue::array();
  for (const auto& n : nets) list.push_back(network_Json(n, false));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.network-list/1";
  doc["uri"] = uri;
  doc["networks"] = std::move(list);
  return doc;
}

JsonValue network_doc_Json(const std::string& uri, const Network& net) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.network/1";
  doc["uri"] = uri;
  doc.update(network_Json(net, true));
  return doc;
}

namespace {

std::string dhcp_text(const Network& n) {
  if (n.dhcp_start.empty() && n.dhcp_end.empty()) return "-";
  return n.dhcp_start + "-" + n.dhcp_end;
}

std::string or_dash(const std::string& text) {
  return text.empty() ? "-" : text;
}

}  // namespace

std::string network_list_table(const std::vector<Network>& nets) {
  Table t({"NAME", "ACTIVE", "AUTOSTART", "FORWARD", "BRIDGE", "ADDRESS", "DHCP"});
  for (const auto& n : nets) {
    t.add_row({n.name, n.active ? "yes" : "no", autostart_text(n.autostart),
               or_dash(n.forward_mode), or_dash(n.bridge), or_dash(n.address), dhcp_text(n)});
  }
  return t.render();
}

std::string network_info_text(const Network& net) {
  Table t({"FIELD", "VALUE"});
  t.add_row({"Name:", net.name});
  t.add_row({"ID:", or_dash(net.id)});
  t.add_row({"Active:", net.active ? "yes" : "no"});
  t.add_row({"Autostart:", autostart_text(net.autostart)});
  t.add_row({"Forward:", or_dash(net.forward_mode)});
  t.add_row({"Bridge:", or_dash(net.bridge)});
  t.add_row({"Address:", or_dash(net.address)});
  t.add_row({"DHCP:", dhcp_text(net)});
  t.add_row({"VMs:", net.vms.empty() ? "-" : join(net.vms, ", ")});
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);
  return out;
}

std::string network_list_csv(const std::vector<Network>& nets) {
  std::string out = csv_row({"name", "id", "active", "autostart", "bridge", "forward_mode",
                             "address", "dhcp_start", "dhcp_end"});
  for (const auto& n : nets) {
    out += csv_row({n.name, n.id, n.active ? "true" : "false",
                    n.autostart ? (*n.autostart ? "true" : "false") : "", n.bridge, n.forward_mode,
                    n.address, n.dhcp_start, n.dhcp_end});
  }
  return out;
}

// ----------------------------------------------------------------- host --

JsonValue host_doc_Json(const std::string& uri, const HostInfo& h) {
  JsonValue extras = JsonValue::object();
  for (const auto& [k, v] : h.extras) extras[k] = v;
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.host/1";
  doc["uri"] = uri;
  doc["hostname"] = h.hostname;
  doc["hypervisor"] = h.hypervisor;
  doc["hypervisor_version"] = h.hypervisor_version;
  doc["manager_version"] = h.manager_version;
  doc["arch"] = h.arch;
  doc["cpu_model"] = h.cpu_model;
  doc["cpu_vendor"] = h.cpu_vendor;
  doc["cpu_features"] = h.cpu_features;
  doc["cpus"] = h.cpus;
  doc["sockets"] = h.sockets;
  doc["cores_per_socket"] = h.cores_per_socket;
  doc["threads_per_core"] = h.threads_per_core;
  doc["host_uuid"] = h.host_uuid;
  doc["guest_types"] = h.guest_types;
  doc["memory_total_bytes"] = h.memory_total_bytes;
  doc["memory_free_bytes"] = h.memory_free_bytes;
  doc["extras"] = std::move(extras);
  return doc;
}

std::string host_info_text(const HostInfo& h) {
  Table t({"FIELD", "VALUE"});
  t.add_row({"Host name:", or_dash(h.hostname)});
  t.add_row({"Hypervisor:", or_dash(h.hypervisor) +
                                (h.hypervisor_version.empty() ? "" : " " + h.hypervisor_version)});
  t.add_row({"Manager version:", or_dash(h.manager_version)});
  t.add_row({"Architecture:", or_dash(h.arch)});
  t.add_row({"CPU vendor:", or_dash(h.cpu_vendor)});
  t.add_row({"CPU model:", or_dash(h.cpu_model)});
  t.add_row({"CPUs:", std::to_string(h.cpus)});
  t.add_row({"Topology:", std::to_string(h.sockets) + " socket(s) x " +
                              std::to_string(h.cores_per_socket) + " core(s) x " +
                              std::to_string(h.threads_per_core) + " thread(s)"});
  t.add_row({"Memory total:", size_or_dash(h.memory_total_bytes)});
  t.add_row({"Memory free:", size_or_dash(h.memory_free_bytes)});
  t.add_row({"Host UUID:", or_dash(h.host_uuid)});
  t.add_row({"Guest types:", h.guest_types.empty() ? "-" : join(h.guest_types, ", ")});
  t.add_row({"CPU features:", h.cpu_features.empty() ? "-" : join(h.cpu_features, " ")});
  for (const auto& [k, v] : h.extras) t.add_row({k + ":", v});
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);
  return out;
}

namespace {

JsonValue plugin_Json(const PluginInfo& p) {
  JsonValue caps = JsonValue::array();
  if (p.loaded) {
    for (Operation op : all_operations())
      if (p.capabilities.has(op)) caps.push_back(std::string(to_string(op)));
  }
  return {{"name", p.name},
          {"path", p.path},
          {"abi", p.abi},
          {"loaded", p.loaded},
          {"error", p.error.empty() ? JsonValue(nullptr) : JsonValue(p.error)},
          {"schemes", p.schemes},
          {"description", p.description},
          {"capabilities", std::move(caps)}};
}

JsonValue operations_Json() {
  JsonValue ops = JsonValue::array();
  for (Operation op : all_operations()) ops.push_back(std::string(to_string(op)));
  return ops;
}

/// One row per operation, one column per loaded plugin.
std::string capability_matrix(const std::vector<const PluginInfo*>& loaded) {
  std::vector<std::string> headers{"OPERATION"};
  for (const auto* p : loaded) headers.push_back(p->name);
  Table m(std::move(headers));
  for (Operation op : all_operations()) {
    std::vector<std::string> row{std::string(to_string(op))};
    for (const auto* p : loaded) row.push_back(p->capabilities.has(op) ? "yes" : "-");
    m.add_row(std::move(row));
  }
  return m.render();
}

}  // namespace

JsonValue backends_Json(const std::vector<std::string>& search_path,
                        const std::vector<PluginInfo>& plugins) {
  JsonValue list = JsonValue::array();
  for (const auto& p : plugins) list.push_back(plugin_Json(p));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.backends/1";
  doc["search_path"] = search_path;
  doc["plugins"] = std::move(list);
  doc["operations"] = operations_Json();
  return doc;
}

JsonValue backend_check_Json(const PluginInfo& plugin) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.backend-check/1";
  doc["plugin"] = plugin_Json(plugin);
  doc["operations"] = operations_Json();
  return doc;
}

std::string backend_check_text(const PluginInfo& p) {
  Table t({"FIELD", "VALUE"});
  t.add_row({"Name:", p.name});
  t.add_row({"File:", p.path});
  t.add_row({"ABI:", std::to_string(p.abi)});
  t.add_row({"Schemes:", join(p.schemes, ",")});
  t.add_row({"Description:", p.description});
  t.add_row({"Declares:", std::to_string(p.capabilities.count()) + " of " +
                              std::to_string(kOperationCount) + " operations"});
  std::string out = t.render();
  out.erase(0, out.find('\n') + 1);
  return out + "\n" + capability_matrix({&p});
}

std::string backends_text(const std::vector<std::string>& search_path,
                          const std::vector<PluginInfo>& plugins) {
  std::string out;
  if (plugins.empty()) {
    out += "No backend plugins found.\n";
  } else {
    Table t({"BACKEND", "ABI", "SCHEMES", "FILE", "DESCRIPTION"},
            {Align::Left, Align::Right, Align::Left, Align::Left, Align::Left});
    for (const auto& p : plugins) {
      t.add_row({p.name, p.abi ? std::to_string(p.abi) : "-", join(p.schemes, ","), p.path,
                 p.loaded ? p.description : "NOT LOADED: " + p.error});
    }
    out += t.render();
  }

  std::vector<const PluginInfo*> loaded;
  for (const auto& p : plugins)
    if (p.loaded) loaded.push_back(&p);
  if (!loaded.empty()) out += "\n" + capability_matrix(loaded);

  out += "\nPlugin folders searched:\n";
  for (const auto& dir : search_path) out += "  " + printable(dir) + "\n";
  return out;
}

std::string backends_csv(const std::vector<PluginInfo>& plugins) {
  std::vector<std::string> header{"operation"};
  for (const auto& p : plugins)
    if (p.loaded) header.push_back(p.name);
  std::string out = csv_row(header);
  for (Operation op : all_operations()) {
    std::vector<std::string> row{std::string(to_string(op))};
    for (const auto& p : plugins)
      if (p.loaded) row.push_back(p.capabilities.has(op) ? "yes" : "no");
    out += csv_row(row);
  }
  return out;
}

std::string render(Format format, const JsonValue& doc, const std::string& text) {
  switch (format) {
    case Format::Json:
      return to_json_text(doc);
    case Format::Yaml:
      return to_yaml(doc);
    case Format::Csv: {
      std::vector<std::string> keys, values;
      for (const auto& [k, v] : doc.items()) {
        if (v.is_structured()) continue;
        keys.push_back(k);
        values.push_back(scalar_text(v).get<std::string>());
      }
      return csv_row(keys) + csv_row(values);
    }
    case Format::Table:
      break;
  }
  return text;
}

}  // namespace hyperctl::cli
