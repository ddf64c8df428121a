#include "commands.hpp"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/size.hpp"
#include "hyperctl/version.hpp"
#include "output.hpp"
#include "support.hpp"
#include "text.hpp"

namespace hyperctl::cli {

// ------------------------------------------------------------- commands --

int run_list(const GlobalOptions& g, const ListArgs& a) {
  Session s(g);
  VmFilter filter;
  filter.states = parse_states(a.states);
  filter.name_glob = a.name_glob;
  const auto vms = s.vms(true).list(filter);
  switch (s.format()) {
    case Format::Table:
      write_stdout(vm_list_table(vms));
      break;
    case Format::Csv:
      write_stdout(vm_list_csv(vms));
      break;
    case Format::Json:
      vm_list_json_text(s.uri(), vms, write_stdout);
      break;
    case Format::Yaml:
      write_stdout(to_yaml(vm_list_Json(s.uri(), vms)));
      break;
  }
  return 0;
}

int run_info(const GlobalOptions& g, const std::string& vm) {
  Session s(g);
  const VmInfo info = s.vms(true).get(vm);
  if (s.format() == Format::Table) {
    write_stdout(vm_info_text(info));
    return 0;
  }
  return report_vm(s, info, "");
}

int run_action(const GlobalOptions& g, Action action, const std::string& vm) {
  if (!g.group.empty()) return run_group_action(g, action, vm);
  Session s(g);
  VmOps& ops = s.vms();
  const char* op = "";
  const char* done = "";
  switch (action) {
    case Action::Start:
      ops.start(vm), op = "vm.start", done = "started";
      break;
    case Action::PowerOff:
      ops.power_off(vm), op = "vm.poweroff", done = "powered off";
      break;
    case Action::Reboot:
      ops.reboot(vm), op = "vm.reboot", done = "is rebooting";
      break;
    case Action::Reset:
      ops.reset(vm), op = "vm.reset", done = "reset";
      break;
    case Action::Suspend:
      ops.suspend(vm), op = "vm.suspend", done = "suspended (paused)";
      break;
    case Action::Resume:
      ops.resume(vm), op = "vm.resume", done = "resumed";
      break;
    case Action::Save:
      ops.save(vm), op = "vm.save", done = "saved to disk and stopped";
      break;
  }
  std::string message = "VM " + squote(vm) + " " + done;
  // A VM saved while paused comes back paused: say so rather than let
  // "started" suggest it runs.
  if (action == Action::Start) {
    try {
      if (ops.get(vm).state == VmState::Paused)
        message += "; it is paused, as it was when saved (resume it to run it)";
    } catch (const Error&) {
      // The start succeeded; the extra look is only for the wording.
    }
  }
  return report_action(s, op, vm, "ok", message);
}

int run_shutdown(const GlobalOptions& g, const ShutdownArgs& a) {
  if (!g.group.empty()) return run_group_shutdown(g, a);
  Session s(g);
  VmOps& ops = s.vms();
  ShutdownOptions options;
  options.timeout = std::chrono::seconds(a.timeout_s);
  options.force = a.force;
  CancelToken cancel;
  ShutdownOutcome outcome{};
  {
    ProgressLine spinner("waiting for VM " + squote(a.vm) + " to shut down");
    SigintCancels guard(cancel);
    outcome = ops.shutdown(
        a.vm, options, [&](const Progress& p) { spinner.update(p); }, cancel);
  }
  std::string result, message;
  switch (outcome) {
    case ShutdownOutcome::Stopped:
      result = "stopped", message = "VM " + squote(a.vm) + " shut down";
      break;
    case ShutdownOutcome::ForcedOff:
      result = "forced-off", message = "VM " + squote(a.vm) + " did not stop within " +
                                       std::to_string(a.timeout_s) + " s; powered off (--force)";
      break;
    case ShutdownOutcome::AlreadyOff:
      // "Already in that state" is a conflict for every command (poweroff,
      // start, suspend...): a script that asked for a shutdown learns that
      // none happened.
      throw Error(ErrorCode::Conflict, "VM " + squote(a.vm) + " is already off", "vm.shutdown");
  }
  return report_action(s, "vm.shutdown", a.vm, result, message);
}

namespace {

/// Whether a create spec names only new volumes: then deleting the VM with
/// its storage deletes nothing that existed before the command.
bool only_new_disks(const VmSpec& spec) {
  for (const auto& d : spec.disks)
    if (d.device != "disk" || !d.path.empty() || !d.volume.empty()) return false;
  return true;
}

/// The host paths of the disks `spec` names that existed before the command
/// (vol:POOL/NAME resolved through the backend, PATH as given).
std::set<std::string> existing_paths(StorageOps& st, const VmSpec& spec) {
  std::set<std::string> paths;
  for (const auto& d : spec.disks) {
    if (!d.path.empty()) paths.insert(d.path);
    if (!d.volume.empty()) paths.insert(st.get_volume(d.pool, d.volume).path);
  }
  return paths;
}

/// The volume of some pool whose path is `path`; nullopt when none is.
std::optional<Volume> volume_at(StorageOps& st, const std::string& path) {
  for (const auto& pool : st.list_pools()) {
    if (!pool.active) continue;
    for (const auto& v : st.list_volumes(pool.name))
      if (v.path == path) return v;
  }
  return std::nullopt;
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + squote(i);
  return out;
}

/// --rm-on-failure: deletes the VM `create` made and the volumes it created
/// for it, never a volume or file that existed before (vol:POOL/NAME, PATH,
/// ISOs). Returns what it said it did, as a clause.
std::string remove_created(Session& s, const VmSpec& spec, const VmInfo& vm, const VmRef& ref) {
  VmOps& ops = s.vms();
  DeleteOptions options;
  options.force = true;
  options.snapshots = true;
  std::vector<std::string> deleted, left;
  if (only_new_disks(spec)) {
    options.with_storage = true;
    const DeleteReport report = ops.remove(ref, options);
    deleted = report.deleted;
    for (const auto& k : report.kept) left.push_back(k.disk);
  } else {
    // The backend's delete-with-storage would take the existing volumes
    // too: delete the VM alone, then the volumes this command created.
    StorageOps& st = s.connect().storage();
    const std::set<std::string> existing = existing_paths(st, spec);
    ops.remove(ref, options);
    for (const auto& d : vm.disks) {
      if (d.device != "disk" || existing.count(d.path)) continue;
      const std::optional<Volume> v = d.path.empty() ? std::nullopt : volume_at(st, d.path);
      // Named by vol:POOL/NAME although its path reads otherwise: existing.
      const bool named =
          v && std::any_of(spec.disks.begin(), spec.disks.end(), [&](const DiskSpec& x) {
            return x.pool == v->pool && x.volume == v->name;
          });
      if (named) continue;
      if (!v) {
        left.push_back(d.path.empty() ? d.target : d.path);
        continue;
      }
      st.remove_volume(v->pool, v->name);
      deleted.push_back(v->pool + "/" + v->name);
    }
  }
  std::string text = "it was deleted again (--rm-on-failure)";
  if (!deleted.empty()) text += " with the volumes this command created: " + quoted_list(deleted);
  if (!left.empty()) text += "; left in place: " + quoted_list(left);
  return text;
}

}  // namespace

int run_create(const GlobalOptions& g, const CreateArgs& a) {
  Session s(g);  // checks -o before anything is created
  VmSpec spec;
  spec.name = a.name;
  if (a.name.empty()) throw Error(ErrorCode::InvalidArgument, "--name must not be empty");
  if (a.vcpus == 0) throw Error(ErrorCode::InvalidArgument, "--vcpus must be at least 1");
  spec.vcpus = a.vcpus;
  spec.memory_bytes = parse_memory(a.memory);
  for (const auto& d : a.disks) spec.disks.push_back(parse_disk(d));
  for (const auto& iso : a.isos) spec.disks.push_back(parse_iso(iso));
  spec.networks = a.networks;
  spec.firmware = a.firmware;

  VmOps& ops = s.vms();
  VmInfo vm = ops.create(spec);
  const VmRef ref = vm.id.empty() ? VmRef(vm.name) : VmRef(vm.id);
  std::string message = "VM " + squote(vm.name) + " created";
  if (a.start) {
    try {
      ops.start(ref);
    } catch (const Error& e) {
      // The VM exists: say so, and what to do about it, with the start's status.
      std::string text =
          "VM " + squote(vm.name) + " was created but could not be started: " + e.what() + "; ";
      if (a.rm_on_failure) {
        try {
          text += remove_created(s, spec, vm, ref);
        } catch (const Error& cleanup) {
          text += std::string("deleting it again (--rm-on-failure) failed as well: ") +
                  cleanup.what() + "; check what is left with 'hyperctl info " + vm.name + "'";
        }
      } else {
        text += "it is left defined (shut off). Delete it with 'hyperctl delete " + vm.name +
                (only_new_disks(spec) ? " --with-storage" : "") + "' or use --rm-on-failure";
      }
      throw Error(e.code(), text, e.operation(), e.detail());
    }
    vm = ops.get(ref);
    message += " and started";
  }
  if (!vm.id.empty()) message += " (id " + vm.id + ")";
  return report_vm(s, vm, message);
}

int run_define(const GlobalOptions& g, const std::string& file) {
  Session s(g);
  const std::string config = read_input(file);
  const VmInfo vm = s.vms().define(config);
  std::string message = "VM " + squote(vm.name) + " defined";
  if (!vm.id.empty()) message += " (id " + vm.id + ")";
  return report_vm(s, vm, message);
}

int run_delete(const GlobalOptions& g, const DeleteArgs& a) {
  Session s(g);
  DeleteOptions options;
  options.with_storage = a.with_storage;
  options.force = a.force;
  options.snapshots = a.snapshots;
  const DeleteReport report = s.vms().remove(a.vm, options);

  std::string message = "VM " + squote(a.vm) + " deleted";
  if (!report.deleted.empty())
    message += std::string("; deleted disk") + (report.deleted.size() == 1 ? " " : "s ") +
               quoted_list(report.deleted);
  else if (a.with_storage && report.kept.empty())
    message += " with its storage";  // a backend that names no disks
  for (const auto& k : report.kept) message += "; kept disk " + squote(k.disk) + ": " + k.reason;

  JsonValue kept = JsonValue::array();
  for (const auto& k : report.kept) kept.push_back({{"disk", k.disk}, {"reason", k.reason}});
  JsonValue doc = {{"schema", "hyperctl.result/1"},
                   {"operation", a.with_storage ? "vm.delete-storage" : "vm.delete"},
                   {"vm", a.vm},
                   {"result", "ok"},
                   {"message", message},
                   {"deleted", report.deleted},
                   {"kept", std::move(kept)}};
  write_stdout(render(s.format(), doc, printable(message) + "\n"));
  return 0;
}

namespace {

/// Refuses (Unsupported, nothing changed) a `set` the backend cannot do in
/// whole, before any part of it is applied.
void check_set_capabilities(Session& s, bool resources, bool properties) {
  const Capabilities caps = s.capabilities();
  const std::string backend = s.connect().backend_name();
  if (resources && !caps.has(Operation::VmSetResources))
    throw Error(ErrorCode::Unsupported,
                backend + " cannot change vCPUs or memory (vm.set); nothing was changed", "vm.set");
  if (properties && !caps.has(Operation::VmSetProperty))
    throw Error(ErrorCode::Unsupported,
                backend +
                    " has no backend-specific properties (vm.set-property); nothing was "
                    "changed",
                "vm.set-property");
}

bool is_running(VmState state) {
  return state == VmState::Running || state == VmState::Paused;
}

}  // namespace

int run_set(const GlobalOptions& g, const SetArgs& a) {
  Session s(g);
  ResourceSettings settings;
  if (a.vcpus) {
    if (*a.vcpus == 0) throw Error(ErrorCode::InvalidArgument, "--vcpus must be at least 1");
    settings.vcpus = a.vcpus;
  }
  if (a.memory) settings.memory_bytes = parse_memory(*a.memory);
  std::vector<std::pair<std::string, std::string>> properties;
  for (const auto& p : a.properties) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorCode::InvalidArgument, "--property takes KEY=VALUE, not " + squote(p));
    properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  const bool resources = settings.vcpus || settings.memory_bytes;
  if (!resources && properties.empty()) {
    throw Error(ErrorCode::InvalidArgument,
                "nothing to set: give --vcpus, --memory and/or --property KEY=VALUE");
  }
  settings.live = a.live;
  check_set_capabilities(s, resources, !properties.empty());
  // The state decides what "updated" covers: a stopped VM has only its
  // configuration, whatever --live asked.
  const bool running = is_running(s.vms().get(a.vm).state);

  std::optional<VmInfo> vm;
  if (resources) vm = s.vms().set_resources(a.vm, settings);
  // A property may rename nothing but can move the VM's files: later ones
  // address the VM by the id the previous call returned when it has one.
  VmRef ref(a.vm);
  std::vector<std::string> applied;
  if (resources)
    applied.emplace_back(a.vcpus && a.memory ? "vCPUs and memory" : a.vcpus ? "vCPUs" : "memory");
  for (const auto& [key, value] : properties) {
    try {
      vm = s.vms().set_property(ref, key, value);
    } catch (const Error& e) {
      if (applied.empty()) throw;
      // Say exactly what is already in place: a property is only known to
      // be bad once the backend reads it.
      std::string done;
      for (const auto& x : applied) done += (done.empty() ? "" : ", ") + x;
      throw Error(e.code(), std::string(e.what()) + " (already applied: " + done + ")",
                  e.operation(), e.detail());
    }
    applied.push_back("property " + key);
    if (!vm->id.empty()) ref = VmRef(vm->id);
  }
  const char* scope = a.live && running ? " (configuration and running VM)" : " (configuration)";
  return report_vm(s, *vm, "VM " + squote(a.vm) + " updated" + scope);
}

int run_autostart(const GlobalOptions& g, const std::string& vm, bool enabled) {
  Session s(g);
  s.vms().set_autostart(vm, enabled);
  return report_action(s, "vm.autostart", vm, enabled ? "on" : "off",
                       "VM " + squote(vm) + " autostart " + (enabled ? "on" : "off"));
}

int run_export_config(const GlobalOptions& g, const std::string& vm) {
  Session s(g);
  const std::string config = s.vms(true).export_config(vm);
  if (s.format() == Format::Table) {
    write_stdout(config);
    if (!config.empty() && config.back() != '\n') write_stdout("\n");
    return 0;
  }
  JsonValue doc = {{"schema", "hyperctl.vm-config/1"},
                   {"uri", s.uri()},
                   {"vm", vm},
                   {"backend", s.connect().backend_name()},
                   {"config", config}};
  write_stdout(render(s.format(), doc, config));
  return 0;
}

int run_backends(const GlobalOptions& g, const std::string& check_file) {
  if (!check_file.empty()) {
    const Format format = parse_format(g.output);
    Registry reg;
    reg.load_file(check_file);  // throws the loader's sentence, naming the file
    const auto loaded = reg.loaded();
    if (loaded.size() != 1)
      throw Error(ErrorCode::Internal, "plugin " + check_file + " was not recorded once loaded");
    const PluginInfo& plugin = loaded.front();
    switch (format) {
      case Format::Table:
        write_stdout(backend_check_text(plugin));
        break;
      case Format::Csv:
        write_stdout(backends_csv(loaded));
        break;
      case Format::Json:
        write_stdout(to_json_text(backend_check_Json(plugin)));
        break;
      case Format::Yaml:
        write_stdout(to_yaml(backend_check_Json(plugin)));
        break;
    }
    return 0;
  }
  Session s(g);
  Registry& reg = s.registry();
  const auto plugins = reg.discover();
  switch (s.format()) {
    case Format::Table:
      write_stdout(backends_text(reg.search_path(), plugins));
      break;
    case Format::Csv:
      write_stdout(backends_csv(plugins));
      break;
    case Format::Json:
      write_stdout(to_json_text(backends_Json(reg.search_path(), plugins)));
      break;
    case Format::Yaml:
      write_stdout(to_yaml(backends_Json(reg.search_path(), plugins)));
      break;
  }
  return 0;
}

int run_version(const GlobalOptions& g) {
  const Format format = parse_format(g.output);
  const std::string v(hyperctl::version());
  JsonValue doc = {{"schema", "hyperctl.version/1"}, {"version", v}};
  write_stdout(render(format, doc, "hyperctl " + v + "\n"));
  return 0;
}

int usage_error(const std::string& message) {
  write_stderr("hyperctl: error: " + printable(message) + "\n");
  return 2;
}

int guarded(bool debug, const std::function<int()>& body) {
  int status = 0;
  try {
    status = body();
  } catch (const Error& e) {
    std::string text = "hyperctl: error: " + printable(e.what()) + "\n";
    if (debug) {
      text += "hyperctl: debug: code=" + std::string(to_string(e.code())) +
              " operation=" + (e.operation().empty() ? "-" : printable(e.operation())) +
              " detail=" + (e.detail().empty() ? "-" : printable(e.detail())) + "\n";
    }
    write_stderr(text);
    return exit_status(e.code());
  } catch (const std::exception& e) {
    write_stderr("hyperctl: error: internal error: " + printable(e.what()) + "\n");
    return 1;
  } catch (...) {
    write_stderr("hyperctl: error: internal error\n");
    return 1;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    write_stderr("hyperctl: error: cannot write to standard output: " +
                 std::string(std::strerror(errno)) + "\n");
    return 1;
  }
  return status;
}

}  // namespace hyperctl::cli
