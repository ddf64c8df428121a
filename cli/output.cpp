#include "output.hpp"

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
    disks.push_back({{"target", d.target},
                     {"path", d.path},
                     {"format", d.format},
                     {"device", d.device},
                     {"capacity_bytes", d.capacity_bytes},
                     {"allocation_bytes", d.allocation_bytes}});
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

JsonValue backends_Json(const std::vector<std::string>& search_path,
                        const std::vector<PluginInfo>& plugins) {
  JsonValue list = JsonValue::array();
  for (const auto& p : plugins) {
    JsonValue caps = JsonValue::array();
    if (p.loaded) {
      for (Operation op : all_operations())
        if (p.capabilities.has(op)) caps.push_back(std::string(to_string(op)));
    }
    list.push_back({{"name", p.name},
                    {"path", p.path},
                    {"abi", p.abi},
                    {"loaded", p.loaded},
                    {"error", p.error.empty() ? JsonValue(nullptr) : JsonValue(p.error)},
                    {"schemes", p.schemes},
                    {"description", p.description},
                    {"capabilities", std::move(caps)}});
  }
  JsonValue ops = JsonValue::array();
  for (Operation op : all_operations()) ops.push_back(std::string(to_string(op)));
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.backends/1";
  doc["search_path"] = search_path;
  doc["plugins"] = std::move(list);
  doc["operations"] = std::move(ops);
  return doc;
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
  if (!loaded.empty()) {
    std::vector<std::string> headers{"OPERATION"};
    for (const auto* p : loaded) headers.push_back(p->name);
    Table m(std::move(headers));
    for (Operation op : all_operations()) {
      std::vector<std::string> row{std::string(to_string(op))};
      for (const auto* p : loaded) row.push_back(p->capabilities.has(op) ? "yes" : "-");
      m.add_row(std::move(row));
    }
    out += "\n" + m.render();
  }

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
