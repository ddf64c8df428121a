// The fleet commands: `inventory` (every VM of many hosts at once) and the
// -g GROUP form of the VM actions (the same action on every host of a group,
// the VM argument a name pattern). Both run on hyperctl::fleet's thread pool
// with one deadline per host; a host that fails or does not answer in time is
// a row of its own, never a hang and never a lost row for the others.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/fleet.hpp"
#include "hyperctl/size.hpp"
#include "output.hpp"
#include "support.hpp"
#include "text.hpp"

namespace hyperctl::cli {

namespace {

std::string size_or_dash(std::uint64_t bytes) {
  return bytes ? format_size(bytes) : "-";
}

/// The hosts that did not answer, as a second table after the VMs.
std::string error_rows(const fleet::Inventory& inv) {
  Table errors({"HOST", "STATUS", "MESSAGE"});
  for (const auto& h : inv.hosts)
    if (h.report.status != fleet::HostStatus::Ok)
      errors.add_row({h.report.name, fleet::to_string(h.report.status), h.report.message});
  return errors.empty() ? std::string() : "\n" + errors.render();
}

// ------------------------------------------------------------ inventory --

struct InventoryArgs {
  std::vector<std::string> hosts;
  std::string group;
  bool all = false;
  std::string filter;
  bool summary = false;
  bool partial_ok = false;
  std::size_t max_in_flight = 8;
  std::string deadline;
};

std::string inventory_table(const fleet::Inventory& inv) {
  Table t({"HOST", "BACKEND", "ID", "NAME", "STATE", "VCPUS", "MEMORY", "DISKS", "GUEST OS"},
          {Align::Left, Align::Left, Align::Left, Align::Left, Align::Left, Align::Right,
           Align::Right, Align::Right, Align::Left});
  for (const auto& row : inv.rows) {
    t.add_row({row.host, row.backend, row.vm.id, row.vm.name, std::string(to_string(row.vm.state)),
               std::to_string(row.vm.vcpus), size_or_dash(row.vm.memory_bytes),
               size_or_dash(row.disk_bytes), row.vm.guest_os.empty() ? "-" : row.vm.guest_os});
  }
  return t.render() + error_rows(inv);
}

std::string summary_table(const fleet::Inventory& inv) {
  Table t({"HOST", "BACKEND", "STATUS", "VMS", "RUNNING", "VCPUS", "MEMORY", "DISKS"},
          {Align::Left, Align::Left, Align::Left, Align::Right, Align::Right, Align::Right,
           Align::Right, Align::Right});
  fleet::HostSummary total;
  std::size_t ok = 0;
  for (const auto& h : inv.hosts) {
    const bool fine = h.report.status == fleet::HostStatus::Ok;
    t.add_row({h.report.name, h.report.backend.empty() ? "-" : h.report.backend,
               fleet::to_string(h.report.status), fine ? std::to_string(h.vms) : "-",
               fine ? std::to_string(h.running) : "-", fine ? std::to_string(h.vcpus) : "-",
               fine ? size_or_dash(h.memory_bytes) : "-", fine ? size_or_dash(h.disk_bytes) : "-"});
    if (!fine) continue;
    ++ok;
    total.vms += h.vms;
    total.running += h.running;
    total.vcpus += h.vcpus;
    total.memory_bytes += h.memory_bytes;
    total.disk_bytes += h.disk_bytes;
  }
  t.add_row({"TOTAL", "-", std::to_string(ok) + "/" + std::to_string(inv.hosts.size()) + " ok",
             std::to_string(total.vms), std::to_string(total.running), std::to_string(total.vcpus),
             size_or_dash(total.memory_bytes), size_or_dash(total.disk_bytes)});
  return t.render() + error_rows(inv);
}

JsonValue inventory_Json(const fleet::Inventory& inv, bool summary) {
  JsonValue doc = JsonValue::object();
  doc["schema"] = "hyperctl.inventory/1";
  doc["complete"] = inv.complete();
  JsonValue hosts = JsonValue::array();
  JsonValue totals = JsonValue::object();
  totals["hosts"] = inv.hosts.size();
  std::uint64_t hosts_ok = 0, vms = 0, running = 0, vcpus = 0, memory = 0, disks = 0;
  for (const auto& h : inv.hosts) {
    JsonValue o = host_report_json(h.report);
    o["vms"] = h.vms;
    o["running"] = h.running;
    o["vcpus"] = h.vcpus;
    o["memory_bytes"] = h.memory_bytes;
    o["disk_bytes"] = h.disk_bytes;
    hosts.push_back(std::move(o));
    if (h.report.status != fleet::HostStatus::Ok) continue;
    ++hosts_ok, vms += h.vms, running += h.running, vcpus += h.vcpus;
    memory += h.memory_bytes, disks += h.disk_bytes;
  }
  totals["hosts_ok"] = hosts_ok;
  totals["vms"] = vms;
  totals["running"] = running;
  totals["vcpus"] = vcpus;
  totals["memory_bytes"] = memory;
  totals["disk_bytes"] = disks;
  doc["hosts"] = std::move(hosts);
  doc["totals"] = std::move(totals);
  if (!summary) {
    JsonValue rows = JsonValue::array();
    for (const auto& row : inv.rows) {
      JsonValue o = JsonValue::object();
      o["host"] = row.host;
      o["uri"] = row.uri;
      o["backend"] = row.backend;
      o["disk_bytes"] = row.disk_bytes;
      o["vm"] = vm_Json(row.vm);
      rows.push_back(std::move(o));
    }
    doc["vms"] = std::move(rows);
  }
  return doc;
}

std::string inventory_csv(const fleet::Inventory& inv) {
  std::string out = csv_row({"host", "uri", "backend", "id", "name", "state", "vcpus",
                             "memory_bytes", "disk_bytes", "guest_os", "status", "message"});
  for (const auto& row : inv.rows)
    out += csv_row({row.host, row.uri, row.backend, row.vm.id, row.vm.name,
                    std::string(to_string(row.vm.state)), std::to_string(row.vm.vcpus),
                    std::to_string(row.vm.memory_bytes), std::to_string(row.disk_bytes),
                    row.vm.guest_os, "ok", ""});
  for (const auto& h : inv.hosts)
    if (h.report.status != fleet::HostStatus::Ok)
      out += csv_row({h.report.name, h.report.uri, h.report.backend, "", "", "", "", "", "", "",
                      fleet::to_string(h.report.status), h.report.message});
  return out;
}

std::string summary_csv(const fleet::Inventory& inv) {
  std::string out = csv_row({"host", "uri", "backend", "status", "code", "message", "vms",
                             "running", "vcpus", "memory_bytes", "disk_bytes"});
  for (const auto& h : inv.hosts) {
    const bool fine = h.report.status == fleet::HostStatus::Ok;
    out +=
        csv_row({h.report.name, h.report.uri, h.report.backend, fleet::to_string(h.report.status),
                 fine ? "" : std::string(to_string(h.report.code)), fine ? "" : h.report.message,
                 std::to_string(h.vms), std::to_string(h.running), std::to_string(h.vcpus),
                 std::to_string(h.memory_bytes), std::to_string(h.disk_bytes)});
  }
  return out;
}

int run_inventory(const GlobalOptions& g, const InventoryArgs& a) {
  const Format format = parse_format(g.output);
  const auto filter = fleet::InventoryFilter::parse(a.filter);
  if (a.max_in_flight == 0)
    throw Error(ErrorCode::InvalidArgument, "--max-in-flight must be at least 1");
  std::optional<std::chrono::milliseconds> deadline;
  if (!a.deadline.empty()) deadline = duration_arg("--deadline", a.deadline);
  // inventory --group G, or the global -g G.
  const std::string group = a.group.empty() ? g.group : a.group;
  auto targets = fleet_targets(g, a.hosts, group, a.all, deadline);
  for (auto& t : targets) t.options.read_only = true;

  auto registry = std::make_shared<Registry>(g.plugin_dirs);
  fleet::RunOptions options;
  options.max_in_flight = a.max_in_flight;
  const auto inv = fleet::inventory(registry, targets, filter, options);

  switch (format) {
    case Format::Table:
      write_stdout(a.summary ? summary_table(inv) : inventory_table(inv));
      break;
    case Format::Csv:
      write_stdout(a.summary ? summary_csv(inv) : inventory_csv(inv));
      break;
    case Format::Json:
      write_stdout(to_json_text(inventory_Json(inv, a.summary)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(inventory_Json(inv, a.summary)));
      break;
  }
  std::vector<fleet::HostReport> reports;
  for (const auto& h : inv.hosts) reports.push_back(h.report);
  report_failed_hosts_line(reports, a.partial_ok);
  if (g.debug) {
    for (const auto& r : reports)
      if (r.status != fleet::HostStatus::Ok && !r.detail.empty())
        write_stderr("hyperctl: debug: host=" + printable(r.name) + " code=" +
                     std::string(to_string(r.code)) + " detail=" + printable(r.detail) + "\n");
  }
  return a.partial_ok ? 0 : first_failure_status(reports);
}

// -------------------------------------------------------- group actions --

struct VmOutcome {
  std::string vm, id;
  std::string result;  ///< ok, stopped, forced-off, already-off, error
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  bool failed = false;
};

struct HostOutcome {
  fleet::HostReport report;
  std::vector<VmOutcome> vms;
};

/// What a host's job has done so far, shared with the caller: when the host
/// passes its deadline, the VMs already acted on are still reported, and the
/// job, which runs on, stops before the next VM.
struct ActProgress {
  std::mutex mutex;
  std::size_t matched = 0;  ///< VMs the pattern matched on the host
  std::vector<VmOutcome> done;
  std::atomic<bool> stop{false};
};

const char* operation_of(Action action) {
  switch (action) {
    case Action::Start:
      return "vm.start";
    case Action::PowerOff:
      return "vm.poweroff";
    case Action::Reboot:
      return "vm.reboot";
    case Action::Reset:
      return "vm.reset";
    case Action::Suspend:
      return "vm.suspend";
    case Action::Resume:
      return "vm.resume";
    case Action::Save:
      return "vm.save";
  }
  return "vm.action";
}

const char* done_word(Action action) {
  switch (action) {
    case Action::Start:
      return "started";
    case Action::PowerOff:
      return "powered off";
    case Action::Reboot:
      return "is rebooting";
    case Action::Reset:
      return "reset";
    case Action::Suspend:
      return "suspended (paused)";
    case Action::Resume:
      return "resumed";
    case Action::Save:
      return "saved to disk and stopped";
  }
  return "done";
}

/// What one VM's action does; throws Error.
using VmStep = std::function<VmOutcome(VmOps& ops, const std::string& name, const VmRef& ref)>;

int run_group(const GlobalOptions& g, const std::string& operation, const std::string& pattern,
              const VmStep& step, std::chrono::milliseconds per_vm_time) {
  const Format format = parse_format(g.output);
  if (pattern.empty()) throw Error(ErrorCode::InvalidArgument, "the VM pattern must not be empty");
  auto targets = fleet_targets(g, {}, g.group, false, std::nullopt);
  auto registry = std::make_shared<Registry>(g.plugin_dirs);
  fleet::RunOptions options;

  // One connection per host: the VMs that match, then the action on each,
  // the host's deadline stretched by what its VMs may take (a shutdown
  // waits up to --timeout per VM). The VMs are addressed by name, as the
  // pattern matched them (a driver may give a VM another id on each
  // connection). What is done is kept as it happens, so that a host that
  // passes its deadline still reports the VMs already acted on.
  VmFilter filter;
  filter.name_glob = pattern;
  std::vector<std::shared_ptr<ActProgress>> progress;
  std::map<std::string, std::shared_ptr<ActProgress>> by_host;
  for (const auto& t : targets) {
    progress.push_back(std::make_shared<ActProgress>());
    by_host[t.name] = progress.back();
  }
  auto acted = fleet::run_on_hosts(
      registry, targets,
      [filter, by_host, step, per_vm_time](Connection& c, const fleet::Target& t) -> std::any {
        ActProgress& p = *by_host.at(t.name);
        auto vms = c.vms().list(filter);
        std::sort(vms.begin(), vms.end(),
                  [](const VmInfo& x, const VmInfo& y) { return x.name < y.name; });
        {
          std::lock_guard lock(p.mutex);
          p.matched = vms.size();
        }
        fleet::extend_deadline(per_vm_time * static_cast<long>(vms.size()));
        for (const auto& vm : vms) {
          if (p.stop) break;  // the host passed its deadline: nobody waits
          VmOutcome o;
          try {
            o = step(c.vms(), vm.name, VmRef(vm.name));
          } catch (const Error& e) {
            o.result = "error";
            o.code = e.code();
            o.message = e.what();
            o.failed = true;
          }
          o.vm = vm.name;
          o.id = vm.id;
          std::lock_guard lock(p.mutex);
          p.done.push_back(std::move(o));
        }
        return std::any();
      },
      options);

  std::vector<HostOutcome> hosts(targets.size());
  std::size_t matched = 0;
  bool any_host_failed = false;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    HostOutcome& h = hosts[i];
    h.report = acted[i].report;
    any_host_failed = any_host_failed || h.report.status != fleet::HostStatus::Ok;
    ActProgress& p = *progress[i];
    p.stop = true;
    std::lock_guard lock(p.mutex);
    matched += p.matched;
    h.vms = p.done;  // all of them, or those done before the deadline
  }
  if (matched == 0 && !any_host_failed)
    throw Error(ErrorCode::NotFound,
                "no VM matches " + squote(pattern) + " on any host of group " + squote(g.group));

  // Output: one row per VM, one per host that failed.
  int status = 0;
  auto note = [&status](int s) {
    if (status == 0) status = s;
  };
  switch (format) {
    case Format::Table: {
      Table t({"HOST", "VM", "RESULT", "MESSAGE"});
      for (const auto& h : hosts) {
        for (const auto& v : h.vms) t.add_row({h.report.name, v.vm, v.result, v.message});
        if (h.report.status != fleet::HostStatus::Ok) {
          t.add_row({h.report.name, "-", fleet::to_string(h.report.status), h.report.message});
          continue;
        }
        if (h.vms.empty()) t.add_row({h.report.name, "-", "none", "no VM matches"});
      }
      write_stdout(t.render());
      break;
    }
    case Format::Csv: {
      std::string out = csv_row({"host", "uri", "vm", "id", "result", "code", "message"});
      for (const auto& h : hosts) {
        for (const auto& v : h.vms)
          out += csv_row({h.report.name, h.report.uri, v.vm, v.id, v.result,
                          v.failed ? std::string(to_string(v.code)) : "", v.message});
        if (h.report.status != fleet::HostStatus::Ok) {
          out += csv_row({h.report.name, h.report.uri, "", "", fleet::to_string(h.report.status),
                          std::string(to_string(h.report.code)), h.report.message});
          continue;
        }
        if (h.vms.empty())
          out += csv_row({h.report.name, h.report.uri, "", "", "none", "", "no VM matches"});
      }
      write_stdout(out);
      break;
    }
    case Format::Json:
    case Format::Yaml: {
      JsonValue doc = JsonValue::object();
      doc["schema"] = "hyperctl.fleet-result/1";
      doc["operation"] = operation;
      doc["group"] = g.group;
      doc["pattern"] = pattern;
      JsonValue arr = JsonValue::array();
      for (const auto& h : hosts) {
        JsonValue o = host_report_json(h.report);
        JsonValue vms = JsonValue::array();
        for (const auto& v : h.vms)
          vms.push_back(
              {{"vm", v.vm},
               {"id", v.id},
               {"result", v.result},
               {"code", v.failed ? JsonValue(std::string(to_string(v.code))) : JsonValue()},
               {"message", v.message}});
        o["vms"] = std::move(vms);
        arr.push_back(std::move(o));
      }
      doc["hosts"] = std::move(arr);
      write_stdout(format == Format::Json ? to_json_text(doc) : to_yaml(doc));
      break;
    }
  }
  std::vector<fleet::HostReport> reports;
  std::size_t vm_failures = 0;
  for (const auto& h : hosts) {
    reports.push_back(h.report);
    if (h.report.status != fleet::HostStatus::Ok) note(exit_status(h.report.code));
    for (const auto& v : h.vms)
      if (v.failed) note(exit_status(v.code)), ++vm_failures;
  }
  report_failed_hosts_line(reports, false);
  if (vm_failures)
    write_stderr("hyperctl: error: " + std::to_string(vm_failures) + " VM(s) failed " +
                 printable(operation) + "\n");
  return status;
}

}  // namespace

// Called by run_action/run_shutdown, inside their guarded(): errors become
// one line and an exit status there.
int run_group_action(const GlobalOptions& g, Action action, const std::string& pattern) {
  const std::string done = done_word(action);
  return run_group(
      g, operation_of(action), pattern,
      [action, done](VmOps& ops, const std::string& name, const VmRef& ref) {
        switch (action) {
          case Action::Start:
            ops.start(ref);
            break;
          case Action::PowerOff:
            ops.power_off(ref);
            break;
          case Action::Reboot:
            ops.reboot(ref);
            break;
          case Action::Reset:
            ops.reset(ref);
            break;
          case Action::Suspend:
            ops.suspend(ref);
            break;
          case Action::Resume:
            ops.resume(ref);
            break;
          case Action::Save:
            ops.save(ref);
            break;
        }
        VmOutcome o;
        o.result = "ok";
        o.message = "VM " + squote(name) + " " + done;
        return o;
      },
      std::chrono::milliseconds(0));
}

int run_group_shutdown(const GlobalOptions& g, const ShutdownArgs& a) {
  ShutdownOptions options;
  options.timeout = std::chrono::seconds(a.timeout_s);
  options.force = a.force;
  return run_group(
      g, "vm.shutdown", a.vm,
      [options, timeout_s = a.timeout_s](VmOps& ops, const std::string& name, const VmRef& ref) {
        VmOutcome o;
        switch (ops.shutdown(ref, options, {}, CancelToken())) {
          case ShutdownOutcome::Stopped:
            o.result = "stopped", o.message = "VM " + squote(name) + " shut down";
            break;
          case ShutdownOutcome::ForcedOff:
            o.result = "forced-off";
            o.message = "VM " + squote(name) + " did not stop within " + std::to_string(timeout_s) +
                        " s; powered off (--force)";
            break;
          case ShutdownOutcome::AlreadyOff:
            o.result = "already-off", o.message = "VM " + squote(name) + " is already off";
            break;
        }
        return o;
      },
      // Each VM may take the whole --timeout, then a power-off.
      std::chrono::seconds(a.timeout_s) + std::chrono::seconds(10));
}

void add_fleet_commands(CLI::App& app, const CommandContext& ctx) {
  static InventoryArgs inv;
  auto* c = app.add_subcommand(
      "inventory", "List the VMs of many hosts at once (config connections), with error rows");
  c->add_option("--hosts", inv.hosts, "Connection names or URIs, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("NAME,...");
  c->add_option("--group", inv.group, "Every connection of this group")->type_name("GROUP");
  c->add_flag("--all", inv.all, "Every connection of the config file");
  c->add_option("--filter", inv.filter,
                "FIELD=GLOB,... over host, backend, id, name, state, os, tag (same field twice: "
                "either; different fields: all)")
      ->type_name("FILTER");
  c->add_flag("--summary", inv.summary, "Per-host totals instead of one row per VM");
  c->add_flag("--partial-ok", inv.partial_ok,
              "Exit 0 even when some hosts failed (their error rows are still printed)");
  c->add_option("--max-in-flight", inv.max_in_flight, "Hosts worked on at once")->default_str("8");
  c->add_option("--deadline", inv.deadline,
                "Per-host deadline (500ms, 20s, 2m), connecting included; default: each "
                "connection's timeout, else 30s")
      ->type_name("DURATION");
  c->callback(ctx.run([&g = ctx.g] { return run_inventory(g, inv); }));
}

}  // namespace hyperctl::cli
