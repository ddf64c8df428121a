// VM lifecycle on Hyper-V: every VM is resolved to its Id once
// (HypervConnection::resolve) and then addressed by that Id only.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <fnmatch.h>

#include <algorithm>

#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"
#include "record.hpp"
#include "storage_ops.hpp"

namespace hyperctl::hyperv {
namespace {

nlohmann::json id_data(const nlohmann::json& vm) {
  return {{"id", text_field(vm, "Id")}};
}

bool in(VmState s, std::initializer_list<VmState> states) {
  return std::find(states.begin(), states.end(), s) != states.end();
}

std::string state_text(const VmInfo& info) {
  return info.state_reason.empty() ? std::string(to_string(info.state))
                                   : escape::terminal_text(info.state_reason);
}

/// Characters Windows refuses in a file name: a VM name with one cannot
/// name its new VHDX.
bool file_name_ok(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (unsigned char ch : name)
    if (ch < 32 ||
        std::string_view("\\/:*?\"<>|").find(static_cast<char>(ch)) != std::string_view::npos)
      return false;
  return name.back() != '.' && name.back() != ' ';
}

}  // namespace

DeleteReport delete_report(const nlohmann::json& record) {
  const nlohmann::json& answer = object_record(record, "a delete report");
  DeleteReport report;
  const auto deleted = answer.value("deleted", nlohmann::json::array());
  if (deleted.is_array())
    for (const auto& f : deleted)
      if (f.is_string()) report.deleted.push_back(f.get<std::string>());
  const auto kept = answer.value("kept", nlohmann::json::array());
  if (!kept.is_array()) return report;
  for (const auto& k : kept) {
    std::string users;
    const auto names =
        object_record(k, "a kept file record").value("used_by", nlohmann::json::array());
    if (names.is_array())
      for (const auto& n : names)
        if (n.is_string()) users += (users.empty() ? "" : ", ") + quoted(n.get<std::string>());
    report.kept.push_back({text_field(k, "path"), "used by VM " + users});
  }
  return report;
}

namespace {}  // namespace

std::vector<VmInfo> HypervVmOps::list(const VmFilter& filter) {
  const std::string op = "vm.list";
  return guarded(op, [&] {
    std::vector<VmInfo> out;
    for (const auto& vm : c_.list_vms(op)) {
      VmInfo info = c_.describe(vm);
      if (!filter.states.empty() &&
          std::find(filter.states.begin(), filter.states.end(), info.state) == filter.states.end())
        continue;
      if (!filter.name_glob.empty() &&
          ::fnmatch(filter.name_glob.c_str(), info.name.c_str(), 0) != 0)
        continue;
      out.push_back(std::move(info));
    }
    return out;
  });
}

VmInfo HypervVmOps::get(const VmRef& vm) {
  return guarded("vm.get", [&] { return c_.describe(c_.resolve(vm, "vm.get")); });
}

VmInfo HypervVmOps::create(const VmSpec& spec) {
  const std::string op = "vm.create";
  return guarded(op, [&] {
    if (spec.name.empty()) throw Error(ErrorCode::InvalidArgument, "a VM needs a name", op);
    if (!escape::valid_utf8(spec.name))
      throw Error(ErrorCode::InvalidArgument, "the VM name is not valid UTF-8", op);
    if (spec.vcpus == 0)
      throw Error(ErrorCode::InvalidArgument, "a VM needs at least one vCPU", op);
    int generation = 2;
    if (spec.firmware == "bios")
      generation = 1;
    else if (!spec.firmware.empty() && spec.firmware != "uefi")
      throw Error(ErrorCode::InvalidArgument,
                  "firmware must be bios (generation 1) or uefi (generation 2), not " +
                      quoted(spec.firmware),
                  op);
    if (spec.disks.size() > 1)
      throw Error(ErrorCode::InvalidArgument,
                  "a new Hyper-V VM takes one disk; attach more afterwards", op);
    if (spec.networks.size() > 1)
      throw Error(ErrorCode::InvalidArgument,
                  "a new Hyper-V VM takes one network adapter; add more afterwards", op);

    // Names need not be unique on Hyper-V, but ours address VMs: refuse a
    // name already in use rather than make it ambiguous.
    for (const auto& vm : list({}))
      if (vm.name == spec.name)
        throw Error(ErrorCode::AlreadyExists,
                    "a VM named " + quoted(spec.name) + " already exists on " +
                        escape::terminal_text(c_.host_name()) + " (Id " + vm.id + ")",
                    op);

    nlohmann::json data = {{"name", spec.name},
                           {"generation", generation},
                           {"memory_bytes", spec.memory_bytes},
                           {"vcpus", spec.vcpus}};
    if (!spec.disks.empty()) {
      const DiskSpec& disk = spec.disks.front();
      if (disk.device != "disk" && !disk.device.empty())
        throw Error(ErrorCode::InvalidArgument,
                    "only a hard disk can be given when creating a Hyper-V VM, not a " +
                        escape::terminal_text(disk.device),
                    op);
      if (!disk.path.empty()) {
        data["vhd_path"] = disk.path;
      } else if (!disk.volume.empty() || disk.size_bytes > 0) {
        // A pool is a host folder: "vhd" (the default) or "vm".
        const auto host = c_.ps().run("host.info", nlohmann::json::object());
        const auto record = host.value("host", nlohmann::json::object());
        std::string folder;
        if (disk.pool.empty() || disk.pool == "vhd")
          folder = text_field(record, "VirtualHardDiskPath");
        else if (disk.pool == "vm")
          folder = text_field(record, "VirtualMachinePath");
        else
          throw Error(ErrorCode::NotFound,
                      "no pool " + quoted(disk.pool) + " on " +
                          escape::terminal_text(c_.host_name()) + " (pools: vhd, vm)",
                      op);
        if (!disk.volume.empty()) {
          // By the volume's name as volume.list gives it ("x" finds x.vhdx).
          data["vhd_path"] =
              c_.storage().get_volume(disk.pool.empty() ? "vhd" : disk.pool, disk.volume).path;
        } else {
          if (!file_name_ok(spec.name))
            throw Error(ErrorCode::InvalidArgument,
                        "the VM name " + quoted(spec.name) +
                            " cannot name its new disk file (\\ / : * ? \" < > | are not allowed)",
                        op);
          if (!disk.format.empty() && disk.format != "vhdx")
            throw Error(ErrorCode::InvalidArgument,
                        "a new Hyper-V disk is a vhdx, not " + quoted(disk.format), op);
          data["new_vhd_path"] = join_path(folder, spec.name + ".vhdx");
          data["new_vhd_bytes"] = disk.size_bytes;
        }
      } else {
        throw Error(ErrorCode::InvalidArgument, "a disk needs a size or a path", op);
      }
    }
    if (!spec.networks.empty()) data["switch"] = spec.networks.front();
    const auto result = c_.ps().run(op, data, quoted(spec.name));
    return c_.describe(result.value("vm", nlohmann::json::object()));
  });
}

VmInfo HypervVmOps::transition(const VmRef& vm, const std::string& op,
                               std::initializer_list<VmState> allowed, const std::string& needs) {
  return guarded(op, [&] {
    const auto record = c_.resolve(vm, op);
    const VmInfo before = c_.describe(record);
    if (!in(before.state, allowed))
      throw Error(
          ErrorCode::Conflict,
          "VM " + quoted(before.name) + " is " + state_text(before) + "; " + op + " needs " + needs,
          op);
    const auto result = c_.ps().run(op, id_data(record), quoted(before.name));
    return c_.describe(result.value("vm", record));
  });
}

void HypervVmOps::start(const VmRef& vm) {
  transition(vm, "vm.start", {VmState::Off, VmState::Suspended}, "it off or saved");
}

void HypervVmOps::power_off(const VmRef& vm) {
  transition(vm, "vm.poweroff",
             {VmState::Running, VmState::Paused, VmState::Suspended, VmState::Transitional},
             "it running, paused or saved");
}

void HypervVmOps::reboot(const VmRef& vm) {
  transition(vm, "vm.reboot", {VmState::Running}, "it running");
}

void HypervVmOps::reset(const VmRef& vm) {
  transition(vm, "vm.reset", {VmState::Running, VmState::Paused}, "it running or paused");
}

void HypervVmOps::suspend(const VmRef& vm) {
  transition(vm, "vm.suspend", {VmState::Running}, "it running");
}

void HypervVmOps::resume(const VmRef& vm) {
  transition(vm, "vm.resume", {VmState::Paused}, "it paused");
}

void HypervVmOps::save(const VmRef& vm) {
  transition(vm, "vm.save", {VmState::Running, VmState::Paused}, "it running or paused");
}

ShutdownOutcome HypervVmOps::shutdown(const VmRef& vm, const ShutdownOptions& options,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "vm.shutdown";
  return guarded(op, [&] {
    const auto record = c_.resolve(vm, op);
    const VmInfo before = c_.describe(record);
    if (before.state == VmState::Off) return ShutdownOutcome::AlreadyOff;
    if (before.state != VmState::Running)
      throw Error(ErrorCode::Conflict,
                  "VM " + quoted(before.name) + " is " + state_text(before) +
                      "; a graceful shutdown needs it running",
                  op);
    if (progress) progress(Progress{"shutdown", 0, 0, "", {}});
    // Stop-VM waits for the guest; our deadline is the runner's, which
    // ends PowerShell (and with it the wait, not the guest's shutdown). A
    // timeout of 0 sets no deadline of ours (Stop-VM gives the guest its own).
    // The look-up above cannot be cancelled: check before the long wait.
    if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, "shutdown cancelled", op);
    try {
      c_.ps().run(op, id_data(record), quoted(before.name), options.timeout, cancel);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Timeout) throw;
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count();
      if (!options.force)
        throw Error(ErrorCode::Timeout,
                    "VM " + quoted(before.name) + " did not shut down within " +
                        std::to_string(secs) + " s; it may still be shutting down",
                    op, e.detail());
      c_.ps().run("vm.poweroff", id_data(record), quoted(before.name));
      return ShutdownOutcome::ForcedOff;
    }
    return ShutdownOutcome::Stopped;
  });
}

DeleteReport HypervVmOps::remove(const VmRef& vm, const DeleteOptions& options) {
  const std::string op = "vm.delete";
  return guarded(op, [&] {
    const auto record = c_.resolve(vm, op);
    const VmInfo before = c_.describe(record);
    // Every refusal before anything changes (the power-off below included).
    const auto listed = c_.ps().run("snapshot.list", id_data(record), quoted(before.name));
    const auto checkpoints = listed.value("snapshots", nlohmann::json::array());
    check_delete_snapshots("VM " + quoted(before.name),
                           checkpoints.is_array() ? checkpoints.size() : 0, options, op);
    if (before.state != VmState::Off) {
      if (!options.force)
        throw Error(ErrorCode::Conflict,
                    "VM " + quoted(before.name) + " is " + state_text(before) +
                        "; power it off first, or delete with force",
                    op);
      if (before.state != VmState::Suspended)
        c_.ps().run("vm.poweroff", id_data(record), quoted(before.name));
    }
    nlohmann::json data = id_data(record);
    data["with_storage"] = options.with_storage;
    data["snapshots"] = options.snapshots;
    return delete_report(c_.ps().run(op, data, quoted(before.name)));
  });
}

VmInfo HypervVmOps::set_resources(const VmRef& vm, const ResourceSettings& settings) {
  const std::string op = "vm.set";
  return guarded(op, [&] {
    const auto record = c_.resolve(vm, op);
    const VmInfo before = c_.describe(record);
    if (!settings.vcpus && !settings.memory_bytes) return before;
    if (settings.vcpus && *settings.vcpus == 0)
      throw Error(ErrorCode::InvalidArgument, "a VM needs at least one vCPU", op);
    if (settings.memory_bytes && *settings.memory_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "a VM needs some memory", op);
    // Hyper-V's own limits, checked before anything changes [reference].
    constexpr std::uint64_t kMiB = 1ull << 20;
    if (settings.memory_bytes &&
        (*settings.memory_bytes % (2 * kMiB) != 0 || *settings.memory_bytes < 32 * kMiB))
      throw Error(ErrorCode::InvalidArgument,
                  "Hyper-V takes memory of at least 32 MiB in multiples of 2 MiB, not " +
                      std::to_string(*settings.memory_bytes) + " bytes",
                  op);
    if (before.state != VmState::Off) {
      // Hyper-V changes the processor count only while the VM is off; the
      // startup memory of a running VM (runtime resize) only when asked to.
      if (settings.vcpus)
        throw Error(ErrorCode::Conflict,
                    "VM " + quoted(before.name) + " is " + state_text(before) +
                        "; Hyper-V changes the vCPU count only while the VM is off",
                    op);
      if (!settings.live)
        throw Error(ErrorCode::Conflict,
                    "VM " + quoted(before.name) + " is " + state_text(before) +
                        "; its memory changes while it runs only when asked to (live)",
                    op);
    }
    nlohmann::json data = id_data(record);
    if (settings.vcpus) data["vcpus"] = *settings.vcpus;
    if (settings.memory_bytes) data["memory_bytes"] = *settings.memory_bytes;
    const auto result = c_.ps().run(op, data, quoted(before.name));
    return c_.describe(result.value("vm", record));
  });
}

std::string HypervVmOps::export_config(const VmRef& vm) {
  const std::string op = "vm.export-config";
  return guarded(op, [&] {
    const auto record = c_.resolve(vm, op);
    const auto result = c_.ps().run(op, id_data(record), quoted(text_field(record, "Name")));
    return result.value("vm", nlohmann::json::object()).dump(2);
  });
}

}  // namespace hyperctl::hyperv
