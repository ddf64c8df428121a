// VM inventory and lifecycle on vSphere (vim25): every VM is resolved once
// (VsphereConnection::resolve, one PropertyCollector round trip) and then
// addressed by its moref only.
//
// States: vSphere knows poweredOn, poweredOff and suspended. Its "suspend"
// writes the memory to disk and stops the VM (VmState::Suspended): that is
// hyperctl's save (SuspendVM_Task), which start or resume (PowerOnVM_Task)
// undoes. vSphere has no pause that keeps the memory in RAM (VmState::Paused,
// hyperctl's suspend), so suspend is not offered: it answers Unsupported,
// pointing to save.
#include "hyperctl/error.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "common.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"
#include "usage.hpp"

namespace hyperctl::vsphere {
namespace {

using Clock = std::chrono::steady_clock;

/// vSphere's limits: a VM name of 80 characters, a virtual disk of 62 TiB,
/// 768 vCPUs and 24 TiB of memory per VM (vSphere 8, hardware version 20).
constexpr std::size_t kMaxNameLength = 80;
constexpr std::uint64_t kMaxDiskBytes = 62ull << 40;
constexpr unsigned kMaxVcpus = 768;
constexpr std::uint64_t kMaxMemoryBytes = 24ull << 40;

/// A random (version 4) UUID, lower case: a new VM's instance UUID, by
/// which a create that lost its answer finds the VM it made.
std::string random_uuid() {
  std::random_device rd;
  unsigned char b[16];
  for (std::size_t i = 0; i < sizeof b; i += 4) {
    const std::uint32_t r = rd();
    for (std::size_t j = 0; j < 4; ++j) b[i + j] = static_cast<unsigned char>(r >> (8 * j));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0F];
  }
  return out;
}

/// Characters (code points) of valid UTF-8 text.
std::size_t characters(const std::string& text) {
  std::size_t n = 0;
  for (char ch : text)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  return n;
}

bool in(VmState s, std::initializer_list<VmState> states) {
  return std::find(states.begin(), states.end(), s) != states.end();
}

bool is_template(const VmObject& vm) {
  const auto it = vm.info.extras.find("template");
  return it != vm.info.extras.end() && it->second == "true";
}

std::string state_text(const VmInfo& info) {
  return info.state_reason.empty() ? std::string(to_string(info.state))
                                   : escape::terminal_text(info.state_reason);
}

std::string vm_label(const VmObject& vm) {
  return "VM " + quoted(vm.info.name);
}

/// Error(Conflict) for a template: it has no power state to change (it
/// cannot run until it is converted back to a VM).
void refuse_template(const VmObject& vm, const std::string& op) {
  if (is_template(vm))
    throw Error(ErrorCode::Conflict,
                vm_label(vm) + " is a template; templates are never powered on, off or " +
                    "suspended (" + op + "); convert it to a VM first",
                op);
}

/// Error(Conflict) for a template or unless the VM is in one of `allowed`.
void require(const VmObject& vm, std::initializer_list<VmState> allowed, const std::string& needs,
             const std::string& op) {
  refuse_template(vm, op);
  if (!in(vm.info.state, allowed))
    throw Error(ErrorCode::Conflict,
                vm_label(vm) + " is " + state_text(vm.info) + "; " + op + " needs " + needs, op);
}

/// vSphere sets memory in MiB, a multiple of 4, up to its per-VM maximum.
std::int64_t memory_mb(std::uint64_t bytes, const std::string& op) {
  if (bytes == 0) throw Error(ErrorCode::InvalidArgument, "a VM needs some memory", op);
  if (bytes % (4ull << 20) != 0)
    throw Error(
        ErrorCode::InvalidArgument,
        "vSphere sets memory in multiples of 4 MiB; " + std::to_string(bytes) + " bytes is not one",
        op);
  if (bytes > kMaxMemoryBytes)
    throw Error(
        ErrorCode::InvalidArgument,
        "vSphere gives a VM at most 24 TiB of memory; " + std::to_string(bytes) + " bytes is more",
        op);
  return static_cast<std::int64_t>(bytes >> 20);
}

/// 1 to vSphere's per-VM maximum.
void check_vcpus(unsigned vcpus, const std::string& op) {
  if (vcpus == 0) throw Error(ErrorCode::InvalidArgument, "a VM needs at least one vCPU", op);
  if (vcpus > kMaxVcpus)
    throw Error(ErrorCode::InvalidArgument,
                "vSphere gives a VM at most " + std::to_string(kMaxVcpus) + " vCPUs; " +
                    std::to_string(vcpus) + " is more",
                op);
}

/// spec.guest_os as a vSphere guest id.
std::string guest_id_of(const std::string& hint, const std::string& op) {
  if (hint.empty()) return "otherGuest64";
  const std::string l = lower_ascii(hint);
  if (l == "linux") return "other3xLinux64Guest";
  if (l == "windows") return "windows9_64Guest";
  if (l == "other") return "otherGuest64";
  for (char ch : hint)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_')
      throw Error(ErrorCode::InvalidArgument,
                  "guest OS " + quoted(hint) +
                      " is neither linux, windows, other nor a vSphere guest id "
                      "(such as rhel9_64Guest)",
                  op);
  return hint;
}

/// The SCSI controller a new VM's disks hang on: paravirtual for Linux
/// guests (their kernels carry the driver), LSI Logic SAS for Windows, LSI
/// Logic (the most widely understood) for anything else.
std::string scsi_controller_for(const std::string& guest_id) {
  const std::string l = lower_ascii(guest_id);
  if (l.rfind("win", 0) == 0) return "VirtualLsiLogicSASController";
  for (const char* linux : {"linux", "rhel", "centos", "ubuntu", "debian", "sles", "suse", "fedora",
                            "photon", "coreos", "asianux", "rocky", "alma"})
    if (l.find(linux) != std::string::npos) return "ParaVirtualSCSIController";
  return "VirtualLsiLogicController";
}

/// The inventory a new VM is placed in: one retrieve_all under the datacenter.
struct Placement {
  struct Host {
    MoRef ref, parent;
    std::string name;
    std::vector<MoRef> datastores;
  };
  struct Compute {
    MoRef ref, pool;
    std::string name;
    std::vector<MoRef> hosts;
  };
  std::vector<Host> hosts;
  std::vector<Compute> computes;
  std::map<MoRef, std::string> datastores;         // ref -> stored (encoded) name
  std::map<std::string, MoRef> browsers;           // stored name -> HostDatastoreBrowser
  std::map<MoRef, std::string> networks;           // ref -> stored (encoded) name
  std::vector<std::pair<MoRef, std::string>> vms;  // ref, decoded name
};

Placement placement_of(Session& s, const Datacenter& dc, const std::string& op) {
  const auto objects = s.retrieve_all({{"VirtualMachine", {"name"}},
                                       {"HostSystem", {"name", "parent", "datastore"}},
                                       {"ComputeResource", {"name", "resourcePool", "host"}},
                                       {"Datastore", {"name", "browser"}},
                                       {"Network", {"name"}}},
                                      op, dc.ref);
  Placement p;
  for (const auto& o : objects) {
    const std::string name = xml::text(o.prop("name"));
    if (o.obj.type == "VirtualMachine") {
      p.vms.emplace_back(o.obj, decode_name(name));
    } else if (o.obj.type == "HostSystem") {
      Placement::Host h{o.obj, xml::moref(o.prop("parent")), decode_name(name), {}};
      h.datastores = xml::morefs(o.prop("datastore"));
      p.hosts.push_back(std::move(h));
    } else if (o.obj.type == "Datastore") {
      p.datastores[o.obj] = name;
      p.browsers[name] = xml::moref(o.prop("browser"));
    } else if (o.obj.type == "ComputeResource" || o.obj.type == "ClusterComputeResource") {
      Placement::Compute c{o.obj, xml::moref(o.prop("resourcePool")), decode_name(name), {}};
      c.hosts = xml::morefs(o.prop("host"));
      p.computes.push_back(std::move(c));
    } else {
      p.networks[o.obj] = name;  // Network, DistributedVirtualPortgroup, OpaqueNetwork
    }
  }
  return p;
}

/// A datastore by its (decoded) name: its ref and stored name.
std::pair<MoRef, std::string> find_datastore(const Placement& p, const std::string& name,
                                             const std::string& where, const std::string& op) {
  for (const auto& [ref, stored] : p.datastores)
    if (decode_name(stored) == name) return {ref, stored};
  std::string known;
  for (const auto& [ref, stored] : p.datastores)
    known += (known.empty() ? "" : ", ") + quoted(decode_name(stored));
  throw Error(ErrorCode::NotFound,
              "no datastore " + quoted(name) + " in " + where +
                  (known.empty() ? std::string() : " (datastores: " + known + ")"),
              op);
}

/// "[ds] folder/file.vmdk" -> "ds"; "" when it is no datastore path.
std::string datastore_of_path(const std::string& path) {
  const auto split = split_datastore_path(path);
  return split ? split->datastore : std::string();
}

/// The names directly in a datastore folder ("[ds]" or "[ds] dir"), through
/// the datastore's browser; nullopt when the folder does not exist. Every
/// entry is listed ("*") and compared exactly: names may hold glob
/// characters.
std::optional<std::set<std::string>> folder_entries(Session& s, const MoRef& browser,
                                                    const std::string& ds_path,
                                                    const std::string& op) {
  try {
    const Reply r = s.run_task(
        "SearchDatastore_Task", browser,
        soap::el("datastorePath", ds_path) + soap::raw("searchSpec", soap::el("matchPattern", "*")),
        op, "look up files");
    std::set<std::string> out;
    for (pugi::xml_node f : xml::children(r.node, "file")) out.insert(xml::text(f, "path"));
    return out;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::NotFound) return std::nullopt;
    throw;
  }
}

/// Error(NotFound) unless the datastore file "[ds] dir/name" exists.
void require_file(Session& s, const Placement& p, const std::string& file, const std::string& op) {
  const std::string ds = datastore_of_path(file);
  auto browser = p.browsers.find(ds);
  if (browser == p.browsers.end())
    for (auto it = p.browsers.begin(); it != p.browsers.end(); ++it)
      if (decode_name(it->first) == ds) browser = it;
  if (browser == p.browsers.end())
    throw Error(ErrorCode::NotFound,
                "no datastore " + quoted(ds) + " for " + quoted(file) + " in this datacenter", op);
  const std::string rest = split_datastore_path(file)->rel;
  const std::string dir = folder_of_path(rest);
  const std::string name = leaf_of_path(rest);
  const auto entries = folder_entries(s, browser->second, datastore_path(browser->first, dir), op);
  if (name.empty() || !entries || !entries->count(name))
    throw Error(ErrorCode::NotFound, "no file " + quoted(file) + " on the datastore", op);
}

/// The VM's power state now, as vSphere names it.
std::string power_state_now(Session& s, const VmObject& vm, const std::string& op) {
  return xml::text(
      s.retrieve_one(vm.ref, {"runtime.powerState"}, op, vm_label(vm)).prop("runtime.powerState"));
}

/// A forced end of a shutdown. A Conflict from PowerOffVM_Task is "the guest
/// got there first" only when the VM is powered off now; any other state
/// (a task in progress, a locked file...) is the error it was.
ShutdownOutcome power_off_after(Session& s, const VmObject& vm, const std::string& op) {
  try {
    s.run_task("PowerOffVM_Task", vm.ref, {}, op, "power off");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Conflict) throw;
    std::string now;
    try {
      now = power_state_now(s, vm, op);
    } catch (const Error&) {
      throw e;
    }
    if (now == "poweredOff") return ShutdownOutcome::Stopped;
    throw;
  }
  return ShutdownOutcome::ForcedOff;
}

/// The snapshots in a tree's list (VirtualMachineSnapshotTree elements
/// named `tag`), children included.
std::size_t count_snapshots(pugi::xml_node parent, std::string_view tag, int depth) {
  if (depth > 1000) return 0;  // a malformed answer; vSphere keeps 32 levels
  std::size_t n = 0;
  for (pugi::xml_node t : xml::children(parent, tag))
    n += 1 + count_snapshots(t, "childSnapshotList", depth + 1);
  return n;
}

/// How many snapshots the VM has (its snapshot tree, read now).
std::size_t snapshot_count(Session& s, const VmObject& vm, const std::string& op) {
  const ObjectContent o = s.retrieve_one(vm.ref, {"snapshot"}, op, vm_label(vm));
  return count_snapshots(o.prop("snapshot"), "rootSnapshotList", 0);
}

}  // namespace

Capabilities vm_capabilities() {
  return {Operation::VmList,
          Operation::VmGet,
          Operation::VmCreate,
          Operation::VmStart,
          Operation::VmShutdown,
          Operation::VmPowerOff,
          Operation::VmReboot,
          Operation::VmReset,
          Operation::VmResume,
          Operation::VmDelete,
          Operation::VmDeleteWithStorage,
          Operation::VmSave,
          Operation::VmSetResources,
          Operation::VmExportConfig};
}

std::vector<VmInfo> VsphereVmOps::list(const VmFilter& filter) {
  const std::string op = "vm.list";
  return guarded(op, [&] { return c_.list_vms(filter, op); });
}

VmInfo VsphereVmOps::get(const VmRef& vm) {
  const std::string op = "vm.get";
  return guarded(op, [&] { return c_.resolve(vm, op).info; });
}

// PowerOnVM_Task without a host: the VM starts where it is registered. On a
// vCenter whose cluster runs DRS in manual mode the server may want a
// placement answer (PowerOnMultiVM_Task's recommendations); that is not
// handled here and surfaces as the server's error.
void VsphereVmOps::start(const VmRef& ref) {
  const std::string op = "vm.start";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Off, VmState::Suspended}, "it powered off or suspended", op);
    c_.session().run_task("PowerOnVM_Task", vm.ref, {}, op, "power on");
  });
}

void VsphereVmOps::power_off(const VmRef& ref) {
  const std::string op = "vm.poweroff";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Running, VmState::Suspended}, "it powered on or suspended", op);
    c_.session().run_task("PowerOffVM_Task", vm.ref, {}, op, "power off");
  });
}

void VsphereVmOps::reset(const VmRef& ref) {
  const std::string op = "vm.reset";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Running}, "it powered on", op);
    c_.session().run_task("ResetVM_Task", vm.ref, {}, op, "reset");
  });
}

// hyperctl's suspend is a pause with the memory kept in RAM; vSphere has
// none (see the top of this file), so it is not offered, and the answer
// says what is.
void VsphereVmOps::suspend(const VmRef& /*ref*/) {
  throw Error(ErrorCode::Unsupported,
              "the vsphere backend does not support vm.suspend: vSphere has no pause that keeps "
              "the memory in RAM; save suspends the VM to disk (vSphere's suspend), and resume "
              "or start powers it on again",
              "vm.suspend");
}

// SuspendVM_Task: vSphere's suspend writes the memory to disk and stops the
// VM, which is what a save is.
void VsphereVmOps::save(const VmRef& ref) {
  const std::string op = "vm.save";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Running}, "it powered on", op);
    c_.session().run_task("SuspendVM_Task", vm.ref, {}, op, "save");
  });
}

void VsphereVmOps::resume(const VmRef& ref) {
  const std::string op = "vm.resume";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Suspended}, "it suspended", op);
    c_.session().run_task("PowerOnVM_Task", vm.ref, {}, op, "resume");
  });
}

// RebootGuest asks VMware Tools in the guest to restart it; it returns at
// once (no task) and needs Tools running in the guest.
void VsphereVmOps::reboot(const VmRef& ref) {
  const std::string op = "vm.reboot";
  guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    require(vm, {VmState::Running}, "it powered on", op);
    try {
      c_.session().call("RebootGuest", vm.ref, {}, op);
    } catch (const Error& e) {
      // A server without the method (govmomi's simulator) cannot do it at
      // all: that is Unsupported on this connection, not a failure.
      if (e.detail().find("MethodNotFound") == std::string::npos &&
          std::string(e.what()).find("(MethodNotFound)") == std::string::npos)
        throw;
      throw Error(ErrorCode::Unsupported,
                  c_.session().endpoint() +
                      " does not implement RebootGuest (MethodNotFound), so it cannot ask the "
                      "guest to reboot; reset restarts the VM without asking it",
                  op, e.detail());
    }
  });
}

// ShutdownGuest asks VMware Tools for a clean shutdown and returns at once;
// the power state is then polled until off, the deadline or a cancel. A
// guest that cannot be asked (no Tools: the server's fault) is powered off
// at once with options.force, else that fault is the error.
ShutdownOutcome VsphereVmOps::shutdown(const VmRef& ref, const ShutdownOptions& options,
                                       const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "vm.shutdown";
  return guarded(op, [&] {
    Session& s = c_.session();
    const VmObject vm = c_.resolve(ref, op);
    refuse_template(vm, op);
    if (vm.info.state == VmState::Off) return ShutdownOutcome::AlreadyOff;
    require(vm, {VmState::Running}, "it powered on", op);
    if (cancel.cancelled())
      throw Error(ErrorCode::Cancelled,
                  "shutdown cancelled before " + vm_label(vm) + " was asked; it keeps running", op);
    const auto start = Clock::now();
    const auto total = options.timeout.count() > 0 ? options.timeout.count() : 0;
    if (progress) progress(Progress{"shutdown", 0, static_cast<std::uint64_t>(total), "ms", {}});
    try {
      s.call("ShutdownGuest", vm.ref, {}, op);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::Unreachable || e.code() == ErrorCode::AuthFailed ||
          e.code() == ErrorCode::Timeout || e.code() == ErrorCode::Internal)
        throw;
      // Off meanwhile (someone else was quicker): nothing left to do.
      const ObjectContent now = s.retrieve_one(vm.ref, {"runtime.powerState"}, op, vm_label(vm));
      if (xml::text(now.prop("runtime.powerState")) == "poweredOff")
        return ShutdownOutcome::AlreadyOff;
      if (!options.force) throw;
      return power_off_after(s, vm, op);
    }
    auto pause = std::chrono::milliseconds(100);
    for (;;) {
      const ObjectContent now = s.retrieve_one(vm.ref, {"runtime.powerState"}, op, vm_label(vm));
      const std::string state = xml::text(now.prop("runtime.powerState"));
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (progress)
        progress(Progress{"shutdown",
                          static_cast<std::uint64_t>(elapsed.count()),
                          static_cast<std::uint64_t>(total),
                          "ms",
                          {}});
      if (state == "poweredOff") return ShutdownOutcome::Stopped;
      if (state == "suspended")
        throw Error(ErrorCode::Conflict, vm_label(vm) + " was suspended while it was shutting down",
                    op);
      if (total > 0 && elapsed >= options.timeout) {
        if (options.force) return power_off_after(s, vm, op);
        throw Error(ErrorCode::Timeout,
                    vm_label(vm) + " did not shut down within " +
                        std::to_string(options.timeout.count() / 1000) +
                        " s; it is still running (the guest may still be shutting down; "
                        "force powers it off)",
                    op);
      }
      // Sleep in small slices so that a cancel is seen quickly.
      auto wake = Clock::now() + pause;
      if (total > 0) wake = std::min(wake, start + options.timeout);
      while (Clock::now() < wake) {
        if (cancel.cancelled())
          throw Error(ErrorCode::Cancelled,
                      "stopped waiting for " + vm_label(vm) +
                          " to shut down; it was asked to and is still running",
                      op);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
  });
}

// Without storage: UnregisterVM, which takes the VM out of the inventory and
// leaves all its files (configuration, snapshots, logs, disks) on the
// datastore, where they can be registered again.
//
// With storage, the VM's folders and the disks it stands on go, except what
// another registered VM uses: a disk shared with it, the parent of another
// VM's delta (a linked clone), anything in another VM's folder. Destroy_Task
// cannot be told to spare a file: it deletes every disk attached and the
// VM's folder. So the plan is made first (nothing changed yet), then:
//  - nothing kept: Destroy_Task, the server's own complete removal (it knows
//    files we may not); if it fails, the VM is still registered with all
//    its files. Disks outside its folder that a server left (the simulator
//    deletes only the folder) are deleted after it.
//  - something kept: UnregisterVM, then the VM's other files one by one.
//    Detaching the shared disks and then destroying would not do: the
//    shared disk may lie in the doomed VM's own folder, which Destroy_Task
//    deletes whole. A failure after the unregistration leaves files behind
//    (said in the error), never deletes a kept one.
// A VM with snapshots is refused unless options.snapshots; a running or
// suspended VM is a Conflict unless options.force, which powers it off
// first. Every refusal comes before anything changes.
DeleteReport VsphereVmOps::remove(const VmRef& ref, const DeleteOptions& options) {
  const std::string op = "vm.delete";
  return guarded(op, [&] {
    Session& s = c_.session();
    const VmObject vm = c_.resolve(ref, op);
    check_delete_snapshots(vm_label(vm), snapshot_count(s, vm, op), options, op);
    const bool was_running = vm.info.state == VmState::Running;
    if (vm.info.state != VmState::Off && !options.force)
      throw Error(ErrorCode::Conflict,
                  vm_label(vm) + " is " + state_text(vm.info) +
                      "; power it off first, or delete with force",
                  op);
    std::optional<StoragePlan> plan;
    if (options.with_storage) {
      const std::vector<VmFiles> all = registered_vm_files(c_, op);
      const auto mine =
          std::find_if(all.begin(), all.end(), [&](const VmFiles& f) { return f.ref == vm.ref; });
      if (mine == all.end())
        throw Error(ErrorCode::NotFound, vm_label(vm) + " is no longer registered", op);
      plan = plan_vm_storage(c_, vm, *mine, FileUse(all, vm.ref), op);
    }
    if (vm.info.state != VmState::Off) s.run_task("PowerOffVM_Task", vm.ref, {}, op, "power off");
    try {
      if (plan && plan->kept.empty())
        s.run_task("Destroy_Task", vm.ref, {}, op, "destroy");
      else
        s.call("UnregisterVM", vm.ref, {}, op);
    } catch (const Error& e) {
      if (vm.info.state == VmState::Off) throw;
      // Forced: it was powered off for nothing. Put it back as it was, as
      // far as vSphere allows (a suspended VM's memory is gone: it stays
      // off), and say so.
      std::string after;
      if (!was_running) {
        after = "; it was suspended and is now powered off (its saved memory state is lost)";
      } else {
        try {
          s.run_task("PowerOnVM_Task", vm.ref, {}, op, "power on again");
          after = "; it was powered on again";
        } catch (const Error& again) {
          std::string why = again.what();
          if (why.rfind(op + ": ", 0) == 0) why.erase(0, op.size() + 2);
          after =
              "; it was powered off for the delete, and powering it on again failed too: " + why;
        }
      }
      throw Error(e.code(), std::string(e.what()) + after, op, e.detail());
    }
    if (!plan) return DeleteReport{};
    std::vector<std::string> failed;
    DeleteReport report = delete_planned(c_, *plan, failed, op);
    if (!failed.empty()) {
      std::string list;
      for (const auto& f : failed) list += (list.empty() ? "" : "; ") + f;
      throw Error(ErrorCode::BackendFailure,
                  vm_label(vm) + " was deleted, but these of its files could not be: " + list, op);
    }
    return report;
  });
}

VmInfo VsphereVmOps::create(const VmSpec& spec) {
  return create_impl(spec, Hardware{});
}

VmInfo VsphereVmOps::create_impl(const VmSpec& spec, const Hardware& hw) {
  const std::string op = "vm.create";
  return guarded(op, [&]() -> VmInfo {
    Session& s = c_.session();
    if (spec.name.empty()) throw Error(ErrorCode::InvalidArgument, "a VM needs a name", op);
    if (!escape::valid_utf8(spec.name))
      throw Error(ErrorCode::InvalidArgument, "the VM name is not valid UTF-8", op);
    // vSphere's limit applies to the name as stored: '%', '/' and '\' take
    // three characters each there.
    const std::string encoded = encode_name(spec.name);
    const std::size_t stored_length = characters(encoded);
    if (stored_length > kMaxNameLength)
      throw Error(ErrorCode::InvalidArgument,
                  "vSphere VM names have at most " + std::to_string(kMaxNameLength) +
                      " characters as stored ('%', '/' and '\\' count three); " +
                      quoted(spec.name) + " has " + std::to_string(stored_length),
                  op);
    // The name becomes the VM's folder on the datastore, and datastore
    // paths ("[ds] folder/file") do not keep white space at its ends.
    if (std::isspace(static_cast<unsigned char>(spec.name.front())) ||
        std::isspace(static_cast<unsigned char>(spec.name.back())))
      throw Error(ErrorCode::InvalidArgument,
                  "a vSphere VM name cannot begin or end with white space: " + quoted(spec.name),
                  op);
    check_vcpus(spec.vcpus, op);
    const std::int64_t mb = memory_mb(spec.memory_bytes, op);
    std::string firmware;
    if (spec.firmware == "bios")
      firmware = "bios";
    else if (spec.firmware == "uefi")
      firmware = "efi";
    else if (!spec.firmware.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "firmware must be bios or uefi, not " + quoted(spec.firmware), op);
    const std::string guest_id = guest_id_of(spec.guest_os, op);
    if (!spec.extras.empty())
      throw Error(ErrorCode::InvalidArgument,
                  "the vSphere backend takes no extra settings when creating a VM (given: " +
                      quoted(spec.extras.begin()->first) + ")",
                  op);

    const Datacenter& dc = c_.datacenter(op);
    const std::string where = "datacenter " + quoted(dc.name);
    const Placement p = placement_of(s, dc, op);

    // vSphere allows one name in several folders; hyperctl addresses VMs by
    // name, so a name already used in the datacenter is refused.
    for (const auto& [ref, name] : p.vms)
      if (name == spec.name)
        throw Error(ErrorCode::AlreadyExists,
                    "a VM named " + quoted(spec.name) + " already exists in " + where + " (" +
                        escape::terminal_text(ref.value) + ")",
                    op);

    // Host and resource pool.
    const Target& target = s.target();
    const Placement::Host* host = nullptr;
    const Placement::Compute* compute = nullptr;
    if (!target.placement_host.empty()) {
      for (const auto& h : p.hosts)
        if (h.name == target.placement_host) host = &h;
      if (!host)
        throw Error(
            ErrorCode::NotFound,
            "no host " + quoted(target.placement_host) + " in " + where + " (the URI's ?host=)",
            op);
      for (const auto& c : p.computes)
        if (c.ref == host->parent) compute = &c;
    } else {
      for (const auto& c : p.computes)
        if (!c.pool.empty() && !c.hosts.empty()) {
          compute = &c;
          break;
        }
    }
    if (!compute || compute->pool.empty())
      throw Error(ErrorCode::NotFound,
                  "no compute resource with a resource pool in " + where + " to place the VM in",
                  op);
    // Datastores the new VM can use: its host's, or any host's of the
    // cluster (the server picks a host that sees them).
    std::set<MoRef> visible;
    for (const auto& h : p.hosts)
      if (host ? &h == host
               : std::find(compute->hosts.begin(), compute->hosts.end(), h.ref) !=
                     compute->hosts.end())
        visible.insert(h.datastores.begin(), h.datastores.end());
    const std::string seen_from =
        host ? "host " + quoted(host->name) : "compute resource " + quoted(compute->name);
    auto datastore_named = [&](const std::string& name) {
      auto found = find_datastore(p, name, where, op);
      if (!visible.count(found.first))
        throw Error(ErrorCode::InvalidArgument,
                    "datastore " + quoted(name) + " is not visible from " + seen_from, op);
      return found.second;
    };
    std::string vm_datastore;
    if (!target.placement_datastore.empty()) {
      vm_datastore = datastore_named(target.placement_datastore);
    } else {
      for (const auto& d : spec.disks)
        if (d.device != "cdrom" && d.size_bytes > 0 && !d.pool.empty()) {
          vm_datastore = datastore_named(d.pool);
          break;
        }
      // Else the first datastore of the placement host (or of the compute
      // resource's first host that has one).
      for (const auto& h : p.hosts) {
        if (!vm_datastore.empty()) break;
        if (host ? &h != host
                 : std::find(compute->hosts.begin(), compute->hosts.end(), h.ref) ==
                       compute->hosts.end())
          continue;
        for (const MoRef& d : h.datastores) {
          auto it = p.datastores.find(d);
          if (it != p.datastores.end()) {
            vm_datastore = it->second;
            break;
          }
        }
      }
      if (vm_datastore.empty())
        throw Error(ErrorCode::NotFound, seen_from + " sees no datastore for the new VM", op);
    }

    // Devices: negative keys are placeholders the server replaces.
    std::string devices;
    const std::string controller =
        hw.controller.empty() ? scsi_controller_for(guest_id) : hw.controller;
    const std::int32_t controller_key = -100;
    int disk_unit = 0, cdrom_slot = 0, key = -200;
    bool need_controller = false;
    for (const auto& d : spec.disks) {
      const std::string device = d.device.empty() ? "disk" : d.device;
      if (device != "disk" && device != "cdrom")
        throw Error(ErrorCode::InvalidArgument,
                    "a disk is a disk or a cdrom, not " + quoted(d.device), op);
      if (!d.format.empty() && d.format != (device == "cdrom" ? "iso" : "vmdk"))
        throw Error(ErrorCode::InvalidArgument,
                    std::string("a vSphere ") +
                        (device == "cdrom" ? "CD-ROM is an iso" : "disk is a vmdk") + ", not " +
                        quoted(d.format),
                    op);
      // An existing file: "[datastore] folder/file", or a volume in a pool.
      std::string file;
      if (!d.path.empty()) {
        if (datastore_of_path(d.path).empty())
          throw Error(ErrorCode::InvalidArgument,
                      "an existing disk is a datastore path such as '[datastore1] vm/disk.vmdk', "
                      "not " +
                          quoted(d.path),
                      op);
        file = d.path;
      } else if (!d.volume.empty()) {
        const std::string pool = d.pool.empty() ? decode_name(vm_datastore) : d.pool;
        // Volumes are named as storage_ops names them: a VMDK by its path
        // without ".vmdk" ("web1/data"), an ISO by its whole name.
        std::string name = d.volume;
        const std::string lower = lower_ascii(name);
        const auto ends = [&](const std::string& ext) {
          return lower.size() > ext.size() &&
                 lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0;
        };
        if (device != "cdrom" && !ends(".vmdk") && !ends(".iso")) name += ".vmdk";
        file = datastore_path(datastore_named(pool), name);
      }
      if (!file.empty()) require_file(s, p, file, op);
      if (device == "cdrom") {
        if (file.empty())
          throw Error(ErrorCode::InvalidArgument, "a CD-ROM needs an ISO (path or volume)", op);
        if (cdrom_slot >= 4)
          throw Error(ErrorCode::InvalidArgument, "a new VM takes at most 4 CD-ROMs", op);
        const std::string backing =
            soap::typed("backing", "VirtualCdromIsoBackingInfo", soap::el("fileName", file));
        const std::string connect =
            soap::raw("connectable", soap::el("startConnected", "true") +
                                         soap::el("allowGuestControl", "true") +
                                         soap::el("connected", "false"));
        devices += soap::raw(
            "deviceChange",
            soap::el("operation", "add") +
                soap::typed("device", "VirtualCdrom",
                            soap::el("key", std::to_string(key--)) + backing + connect +
                                soap::el("controllerKey", std::to_string(200 + cdrom_slot / 2)) +
                                soap::el("unitNumber", std::to_string(cdrom_slot % 2))));
        ++cdrom_slot;
        continue;
      }
      if (disk_unit == 7) ++disk_unit;  // the controller's own unit
      if (disk_unit > 15)
        throw Error(ErrorCode::InvalidArgument, "a new VM takes at most 15 disks", op);
      need_controller = true;
      std::string backing_inner;
      std::string capacity;
      bool create_file = false;
      if (!file.empty()) {
        backing_inner = soap::el("fileName", file) + soap::el("diskMode", "persistent");
        // An existing disk's size comes from its descriptor; said when known
        // (the simulator reads nothing from the file).
        if (d.size_bytes && d.size_bytes % 1024 == 0)
          capacity = soap::el("capacityInKB", std::to_string(d.size_bytes / 1024)) +
                     soap::el("capacityInBytes", std::to_string(d.size_bytes));
      } else {
        if (d.size_bytes == 0)
          throw Error(ErrorCode::InvalidArgument, "a new disk needs a size (or a path or volume)",
                      op);
        const std::string ds = d.pool.empty() ? vm_datastore : datastore_named(d.pool);
        if (d.size_bytes > kMaxDiskBytes)
          throw Error(ErrorCode::InvalidArgument,
                      "a vSphere virtual disk holds at most 62 TiB (" +
                          std::to_string(kMaxDiskBytes) + " bytes); " +
                          std::to_string(d.size_bytes) + " bytes is more",
                      op);
        // Whole KiB (rounded up): vSphere sizes disks in KiB.
        const std::uint64_t kib = d.size_bytes / 1024 + (d.size_bytes % 1024 != 0 ? 1 : 0);
        backing_inner = soap::el("fileName", datastore_path(ds)) +
                        soap::el("diskMode", "persistent") + soap::el("thinProvisioned", "true");
        capacity = soap::el("capacityInKB", std::to_string(kib)) +
                   soap::el("capacityInBytes", std::to_string(kib * 1024));
        create_file = true;
      }
      // IDE disks go on the two IDE controllers every VM has (keys 200
      // and 201, two units each).
      const bool ide = controller == "VirtualIDEController";
      if (ide && disk_unit >= 4)
        throw Error(ErrorCode::InvalidArgument, "a VM takes at most 4 IDE disks", op);
      devices += soap::raw(
          "deviceChange",
          soap::el("operation", "add") + (create_file ? soap::el("fileOperation", "create") : "") +
              soap::typed(
                  "device", "VirtualDisk",
                  soap::el("key", std::to_string(key--)) +
                      soap::typed("backing", "VirtualDiskFlatVer2BackingInfo", backing_inner) +
                      soap::el("controllerKey",
                               std::to_string(ide ? 200 + disk_unit / 2 : controller_key)) +
                      soap::el("unitNumber", std::to_string(ide ? disk_unit % 2 : disk_unit)) +
                      capacity));
      ++disk_unit;
      if (ide) need_controller = false;
    }
    if (need_controller) {
      const bool scsi = controller != "VirtualAHCIController";
      devices = soap::raw("deviceChange",
                          soap::el("operation", "add") +
                              soap::typed("device", controller,
                                          soap::el("key", std::to_string(controller_key)) +
                                              soap::el("busNumber", "0") +
                                              (scsi ? soap::el("sharedBus", "noSharing") : ""))) +
                devices;
    }
    for (std::size_t n = 0; n < spec.networks.size(); ++n) {
      const std::string& net = spec.networks[n];
      std::vector<const std::pair<const MoRef, std::string>*> same;
      for (const auto& entry : p.networks)
        if (decode_name(entry.second) == net) same.push_back(&entry);
      if (same.empty())
        throw Error(ErrorCode::NotFound, "no network " + quoted(net) + " in " + where, op);
      if (same.size() > 1) {
        std::string ids;
        for (const auto* entry : same)
          ids += (ids.empty() ? "" : ", ") + escape::terminal_text(entry->first.value) + " (" +
                 escape::terminal_text(entry->first.type) + ")";
        throw Error(ErrorCode::Conflict,
                    std::to_string(same.size()) + " networks are named " + quoted(net) + " in " +
                        where + " (" + ids +
                        "); hyperctl cannot tell which one the new NIC should use",
                    op);
      }
      const std::pair<const MoRef, std::string>* found = same.front();
      std::string backing;
      if (found->first.type == "Network") {
        backing = soap::typed(
            "backing", "VirtualEthernetCardNetworkBackingInfo",
            soap::el("deviceName", found->second) + soap::moref("network", found->first));
      } else if (found->first.type == "DistributedVirtualPortgroup") {
        const ObjectContent pg =
            s.retrieve_one(found->first, {"key", "config.distributedVirtualSwitch"}, op,
                           "port group " + quoted(net));
        const MoRef dvs = xml::moref(pg.prop("config.distributedVirtualSwitch"));
        if (dvs.empty())
          throw Error(ErrorCode::BackendFailure,
                      "port group " + quoted(net) + " names no distributed switch", op);
        const ObjectContent sw = s.retrieve_one(dvs, {"uuid"}, op, "the switch of " + quoted(net));
        backing =
            soap::typed("backing", "VirtualEthernetCardDistributedVirtualPortBackingInfo",
                        soap::raw("port", soap::el("switchUuid", xml::text(sw.prop("uuid"))) +
                                              soap::el("portgroupKey", xml::text(pg.prop("key")))));
      } else {
        throw Error(ErrorCode::InvalidArgument,
                    "network " + quoted(net) + " is a " + escape::terminal_text(found->first.type) +
                        "; a new NIC goes on a standard network or a distributed port group",
                    op);
      }
      const std::string mac = n < hw.macs.size() ? hw.macs[n] : std::string();
      devices += soap::raw(
          "deviceChange",
          soap::el("operation", "add") +
              soap::typed("device", hw.nic_type.empty() ? "VirtualVmxnet3" : hw.nic_type,
                          soap::el("key", std::to_string(key--)) + backing +
                              soap::raw("connectable", soap::el("startConnected", "true") +
                                                           soap::el("allowGuestControl", "true") +
                                                           soap::el("connected", "false")) +
                              (mac.empty() ? soap::el("addressType", "generated")
                                           : soap::el("addressType", "manual") +
                                                 soap::el("macAddress", mac))));
    }

    // The spec's elements in the order of the vim25 schema.
    const std::string instance_uuid = random_uuid();
    std::string config = soap::el("name", encoded) + soap::el("instanceUuid", instance_uuid) +
                         soap::el("guestId", guest_id) +
                         soap::raw("files", soap::el("vmPathName", datastore_path(vm_datastore))) +
                         soap::el("numCPUs", std::to_string(spec.vcpus)) +
                         soap::el("memoryMB", std::to_string(mb)) + devices;
    if (!firmware.empty()) config += soap::el("firmware", firmware);
    std::string args = soap::raw("config", config) + soap::moref("pool", compute->pool);
    if (host) args += soap::moref("host", host->ref);

    // What the datastore's top folder holds before: a failed create removes
    // only what appeared since under the VM's name (a VM unregistered
    // earlier leaves its folder, which is not ours to delete).
    const auto browser = p.browsers.find(vm_datastore);
    const auto root_before =
        browser == p.browsers.end() || browser->second.empty()
            ? std::nullopt
            : folder_entries(s, browser->second, datastore_path(vm_datastore), op);

    MoRef created;
    // After a failure: only what this create made is removed. The new VM is
    // known by the task's answer or, when that is lost, by the instance UUID
    // chosen here, never by its name (another client may have made a VM of
    // that name meanwhile). The server refusing the name or a file as
    // existing (DuplicateName, FileAlreadyExists) made nothing of ours.
    auto clean_up = [&] {
      try {
        bool name_taken = false;
        if (created.empty())
          for (const auto& o :
               s.retrieve_all({{"VirtualMachine", {"name", "config.instanceUuid"}}}, op, dc.ref)) {
            if (lower_ascii(xml::text(o.prop("config.instanceUuid"))) == instance_uuid)
              created = o.obj;
            else if (xml::text(o.prop("name")) == encoded)
              name_taken = true;
          }
        if (!created.empty()) {
          s.run_task("Destroy_Task", created, {}, op, "clean up");
        } else if (root_before && !name_taken && !s.content().file_manager.empty()) {
          // The server failed half-way and kept what it had written: the
          // VM's folder, and with some servers files named after the VM.
          // Skipped when another VM of that name exists now: they may be its.
          const auto now = folder_entries(s, browser->second, datastore_path(vm_datastore), op);
          for (const std::string& entry : now ? *now : std::set<std::string>{})
            if (!root_before->count(entry) &&
                (entry == encoded || entry.rfind(encoded + ".", 0) == 0 ||
                 entry.rfind(encoded + " (", 0) == 0))
              s.run_task("DeleteDatastoreFile_Task", s.content().file_manager,
                         soap::el("name", datastore_path(vm_datastore, entry)) +
                             soap::moref("datacenter", dc.ref),
                         op, "clean up");
        }
      } catch (...) {
      }
    };
    try {
      const Reply done = s.run_task("CreateVM_Task", dc.vm_folder, args, op, "create");
      created = xml::moref(done.node);
      if (created.empty())
        throw Error(ErrorCode::BackendFailure, "CreateVM_Task finished without naming the new VM",
                    op);
      return c_.refresh(created, op).info;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::AlreadyExists || !created.empty()) clean_up();
      throw;
    } catch (...) {
      clean_up();
      throw;
    }
  });
}

VmInfo VsphereVmOps::set_resources(const VmRef& ref, const ResourceSettings& settings) {
  const std::string op = "vm.set";
  return guarded(op, [&] {
    Session& s = c_.session();
    const VmObject vm = c_.resolve(ref, op);
    if (!settings.vcpus && !settings.memory_bytes) return vm.info;
    // Everything is checked before the one ReconfigVM_Task, which the
    // server applies whole or not at all.
    if (settings.vcpus) check_vcpus(*settings.vcpus, op);
    std::int64_t mb = settings.memory_bytes ? memory_mb(*settings.memory_bytes, op) : 0;
    if (is_template(vm))
      throw Error(ErrorCode::Conflict,
                  vm_label(vm) + " is a template; convert it to a VM to change its hardware", op);
    if (vm.info.state == VmState::Suspended)
      throw Error(ErrorCode::Conflict,
                  vm_label(vm) + " is suspended; power it off (or resume it and change it live)",
                  op);
    if (vm.info.state == VmState::Off && settings.live)
      throw Error(ErrorCode::Conflict,
                  vm_label(vm) +
                      " is powered off; a live change needs it running (without --live the "
                      "configuration is changed); nothing was changed",
                  op);
    if (vm.info.state == VmState::Running) {
      if (!settings.live)
        throw Error(ErrorCode::Conflict,
                    vm_label(vm) +
                        " is powered on; power it off to change its vCPUs or memory, or ask for "
                        "a live change (--live: CPU/memory hot-add)",
                    op);
      const ObjectContent hot = s.retrieve_one(
          vm.ref,
          {"config.cpuHotAddEnabled", "config.cpuHotRemoveEnabled", "config.memoryHotAddEnabled"},
          op, vm_label(vm));
      if (settings.vcpus && *settings.vcpus > vm.info.vcpus &&
          !xml::boolean(hot.prop("config.cpuHotAddEnabled"), {}))
        throw Error(ErrorCode::Conflict,
                    vm_label(vm) + " has CPU hot-add disabled; power it off to add vCPUs", op);
      if (settings.vcpus && *settings.vcpus < vm.info.vcpus &&
          !xml::boolean(hot.prop("config.cpuHotRemoveEnabled"), {}))
        throw Error(ErrorCode::Conflict,
                    vm_label(vm) + " has CPU hot-remove disabled; power it off to remove vCPUs",
                    op);
      if (settings.memory_bytes && *settings.memory_bytes < vm.info.memory_bytes)
        throw Error(ErrorCode::Conflict,
                    vm_label(vm) + " is powered on; memory shrinks only while it is off", op);
      if (settings.memory_bytes && *settings.memory_bytes > vm.info.memory_bytes &&
          !xml::boolean(hot.prop("config.memoryHotAddEnabled"), {}))
        throw Error(ErrorCode::Conflict,
                    vm_label(vm) + " has memory hot-add disabled; power it off to add memory", op);
    }
    std::string spec;
    if (settings.vcpus) spec += soap::el("numCPUs", std::to_string(*settings.vcpus));
    if (settings.memory_bytes) spec += soap::el("memoryMB", std::to_string(mb));
    s.run_task("ReconfigVM_Task", vm.ref, soap::raw("spec", spec), op, "reconfigure");
    return c_.refresh(vm.ref, op).info;
  });
}

// The VM's configuration as JSON: identity, hardware, files, devices,
// placement and power state. Nothing secret: no extraConfig (guestinfo
// variables may hold credentials), no vApp properties.
std::string VsphereVmOps::export_config(const VmRef& ref) {
  const std::string op = "vm.export-config";
  return guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    const ObjectContent more = c_.session().retrieve_one(
        vm.ref,
        {"config.files", "config.firmware", "config.version", "config.annotation",
         "config.cpuHotAddEnabled", "config.memoryHotAddEnabled",
         "config.hardware.numCoresPerSocket"},
        op, vm_label(vm));
    const pugi::xml_node files = more.prop("config.files");
    nlohmann::json out = {
        {"name", vm.info.name},
        {"moref", vm.ref.value},
        {"instanceUuid", vm.info.id},
        {"uuid", vm.info.extras.at("bios_uuid")},
        {"guestId", vm.info.guest_os},
        {"template", is_template(vm)},
        {"numCPU", vm.info.vcpus},
        {"numCoresPerSocket", xml::i64(more.prop("config.hardware.numCoresPerSocket"), {}, 1)},
        {"memoryMB", vm.info.memory_bytes >> 20},
        {"firmware", xml::text(more.prop("config.firmware"))},
        {"version", xml::text(more.prop("config.version"))},
        {"annotation", xml::text(more.prop("config.annotation"))},
        {"cpuHotAddEnabled", xml::boolean(more.prop("config.cpuHotAddEnabled"), {})},
        {"memoryHotAddEnabled", xml::boolean(more.prop("config.memoryHotAddEnabled"), {})},
        {"files",
         {{"vmPathName", xml::text(files, "vmPathName")},
          {"snapshotDirectory", xml::text(files, "snapshotDirectory")},
          {"suspendDirectory", xml::text(files, "suspendDirectory")},
          {"logDirectory", xml::text(files, "logDirectory")}}},
        {"host", vm.info.host},
        {"powerState", vm.info.state_reason},
    };
    nlohmann::json datastores = nlohmann::json::array();
    {
      const std::string& joined = vm.info.extras.at("datastores");
      std::size_t start = 0;
      while (start < joined.size()) {
        const auto comma = joined.find(',', start);
        datastores.push_back(
            joined.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    out["datastores"] = datastores;

    // Devices that make up the VM's hardware: controllers, disks, CD-ROMs
    // and NICs (describe() lists disks and NICs in device order, which
    // gives the network names).
    nlohmann::json devices = nlohmann::json::array();
    std::vector<const DiskInfo*> disks;  // info.disks also lists CD-ROMs
    for (const auto& d : vm.info.disks)
      if (d.device == "disk") disks.push_back(&d);
    std::size_t disk_index = 0, nic_index = 0;
    for (pugi::xml_node d : xml::elements(vm.raw.prop("config.hardware.device"))) {
      const std::string type = xml::xsi_type(d);
      nlohmann::json dev = {{"type", type},
                            {"key", xml::i64(d, "key")},
                            {"label", xml::text(xml::child(d, "deviceInfo"), "label")}};
      if (xml::child(d, "controllerKey")) dev["controllerKey"] = xml::i64(d, "controllerKey");
      if (xml::child(d, "unitNumber")) dev["unitNumber"] = xml::i64(d, "unitNumber");
      const pugi::xml_node backing = xml::child(d, "backing");
      if (type == "VirtualDisk") {
        const DiskInfo* disk = disk_index < disks.size() ? disks[disk_index] : nullptr;
        ++disk_index;
        dev["kind"] = "disk";
        dev["file"] = xml::text(backing, "fileName");
        dev["capacityBytes"] = disk ? disk->capacity_bytes : 0;
        if (disk && !disk->target.empty()) dev["target"] = disk->target;
        dev["diskMode"] = xml::text(backing, "diskMode");
        dev["thinProvisioned"] = xml::boolean(backing, "thinProvisioned");
        dev["datastore"] = decode_name(datastore_of_path(xml::text(backing, "fileName")));
      } else if (xml::child(d, "macAddress") || xml::child(d, "addressType")) {
        const NicInfo* nic = nic_index < vm.info.nics.size() ? &vm.info.nics[nic_index] : nullptr;
        ++nic_index;
        dev["kind"] = "nic";
        dev["macAddress"] = xml::text(d, "macAddress");
        dev["addressType"] = xml::text(d, "addressType");
        dev["network"] = nic ? nic->network : std::string();
      } else if (xml::child(d, "busNumber")) {
        dev["kind"] = "controller";
        dev["busNumber"] = xml::i64(d, "busNumber");
      } else if (type == "VirtualCdrom") {
        dev["kind"] = "cdrom";
        const std::string file = xml::text(backing, "fileName");
        if (!file.empty()) dev["file"] = file;
      } else {
        continue;  // keyboards, pointing devices, video cards, VMCI...
      }
      devices.push_back(std::move(dev));
    }
    out["devices"] = devices;
    return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  });
}

// ---------------------------------------------------------------- portable form

namespace {

/// "linux", "windows" or "other" from a guest id.
std::string os_family_of_guest(const std::string& guest_id) {
  const std::string l = lower_ascii(guest_id);
  if (l.rfind("win", 0) == 0) return "windows";
  for (const char* linux : {"linux", "rhel", "centos", "ubuntu", "debian", "sles", "suse", "fedora",
                            "photon", "coreos", "asianux", "rocky", "alma", "oracle"})
    if (l.find(linux) != std::string::npos) return "linux";
  return "other";
}

/// A guest id for a guest described by another family.
std::string guest_id_for(const PortableVm& vm) {
  if (vm.family == kBackendName && !vm.guest_os.empty()) return vm.guest_os;
  if (vm.os_family == "windows") return "windows9Server64Guest";
  if (vm.os_family == "linux") return "otherLinux64Guest";
  return "otherGuest64";
}

/// A MAC vSphere accepts as a static address: VMware's 00:50:56:00:00:00 to
/// 00:50:56:3f:ff:ff.
bool static_mac_allowed(const std::string& mac) {
  const std::string l = lower_ascii(mac);
  if (l.size() != 17 || l.compare(0, 9, "00:50:56:") != 0) return false;
  const char hi = l[9];
  return hi >= '0' && hi <= '3';
}

}  // namespace

PortableVm VsphereVmOps::describe(const VmRef& ref) {
  const std::string op = "vm.describe";
  return guarded(op, [&] {
    const VmObject vm = c_.resolve(ref, op);
    PortableVm p;
    p.name = vm.info.name;
    p.id = vm.info.id;
    p.family = kBackendName;
    p.vcpus = vm.info.vcpus;
    p.memory_bytes = vm.info.memory_bytes;
    p.guest_os = vm.info.guest_os;
    p.os_family = os_family_of_guest(vm.info.guest_os);
    const ObjectContent fw =
        c_.session().retrieve_one(vm.ref, {"config.firmware"}, op, vm_label(vm));
    p.firmware = xml::text(fw.prop("config.firmware")) == "efi" ? "uefi" : "bios";
    auto& storage = static_cast<VsphereStorageOps&>(c_.storage());
    for (const auto& d : vm.info.disks) {
      if (d.device == "cdrom") {
        p.left_out.push_back("the ISO in " + d.target + " (" + escape::terminal_text(d.path) +
                             ") is not carried");
        continue;
      }
      const auto at = split_datastore_path(d.path);
      if (!at || at->rel.empty())
        throw Error(ErrorCode::Unsupported,
                    "disk " + d.target + " of " + vm_label(vm) + " (" + quoted(d.path) +
                        ") is not a file on a datastore",
                    op);
      PortableDisk disk;
      disk.id = d.target.empty() ? "disk" + std::to_string(p.disks.size()) : d.target;
      const auto colon = d.target.find_first_of("0123456789");
      disk.bus = colon == std::string::npos ? "scsi" : d.target.substr(0, colon);
      disk.pool = decode_name(at->datastore);
      disk.volume = VsphereStorageOps::volume_name(at->rel);
      disk.path = d.path;
      disk.capacity_bytes = d.capacity_bytes;
      disk.format = storage.disk_format(disk.pool, disk.volume);
      p.disks.push_back(std::move(disk));
    }
    for (const auto& n : vm.info.nics) p.nics.push_back(PortableNic{n.mac, n.network, n.model});
    return p;
  });
}

VmInfo VsphereVmOps::create_from(const PortableVm& vm, const PortableCreate& how) {
  const std::string op = "vm.create";
  if (how.disks.size() != vm.disks.size())
    throw Error(ErrorCode::InvalidArgument,
                "the description has " + std::to_string(vm.disks.size()) + " disks, but " +
                    std::to_string(how.disks.size()) + " volumes were given",
                op);
  const bool ours = vm.family == kBackendName;
  VmSpec spec;
  spec.name = vm.name;
  spec.vcpus = vm.vcpus;
  // vSphere sizes memory in MiB (4 MiB steps on real hosts): rounded up.
  spec.memory_bytes = (vm.memory_bytes + (1 << 20) - 1) & ~std::uint64_t{(1 << 20) - 1};
  spec.firmware = vm.firmware;
  spec.guest_os = guest_id_for(vm);
  Hardware hw;
  // Devices the guest has drivers for: LSI Logic and e1000 by default for a
  // guest from elsewhere (every current OS drives them); SATA or IDE when
  // asked; a vSphere guest keeps its own.
  std::string bus = how.disk_bus;
  if (bus.empty() && ours && !vm.disks.empty()) bus = vm.disks.front().bus;
  if (bus == "virtio")
    throw Error(ErrorCode::InvalidArgument,
                "vSphere has no virtio disks: --disk-bus takes sata, scsi or ide there", op);
  if (bus == "sata")
    hw.controller = "VirtualAHCIController";
  else if (bus == "ide")
    hw.controller = "VirtualIDEController";
  else if (!ours || bus.empty() || bus == "scsi")
    hw.controller = ours ? "" : "VirtualLsiLogicController";
  for (std::size_t i = 0; i < vm.disks.size(); ++i) {
    DiskSpec d;
    d.pool = how.disks[i].pool;
    d.volume = how.disks[i].name;
    d.size_bytes = vm.disks[i].capacity_bytes;
    spec.disks.push_back(std::move(d));
  }
  hw.nic_type = "VirtualE1000";
  if (ours && !vm.nics.empty() && !vm.nics.front().model.empty()) {
    std::string m = vm.nics.front().model;
    hw.nic_type = "Virtual" + (m == "e1000" || m == "e1000e" || m == "vmxnet3" || m == "pcnet32"
                                   ? std::string(m == "e1000"     ? "E1000"
                                                 : m == "e1000e"  ? "E1000e"
                                                 : m == "vmxnet3" ? "Vmxnet3"
                                                                  : "PCNet32")
                                   : std::string("E1000"));
  }
  for (const auto& n : vm.nics) {
    spec.networks.push_back(n.network);
    // A MAC outside VMware's static range is refused by vCenter: such a NIC
    // gets a generated one.
    hw.macs.push_back(!how.new_mac && static_mac_allowed(n.mac) ? n.mac : std::string());
  }
  return create_impl(spec, hw);
}

}  // namespace hyperctl::vsphere
