// Migration of Hyper-V VMs; see migration.hpp.
#include "migration.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/journal.hpp"
#include "hyperctl/offline.hpp"
#include "ops.hpp"
#include "record.hpp"
#include "storage_ops.hpp"

namespace hyperctl::hyperv {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

const std::string kOp = "migrate";
const std::string kCheckOp = "migrate.check";
const std::string kLiveOp = "migrate.live";

const char* const kCheck = "check";
const char* const kShutdown = "shutdown source";
const char* const kExport = "export";
const char* const kImport = "import on target";
const char* const kVerify = "verify";
const char* const kRemove = "remove source";
const char* const kCleanup = "cleanup";

// ------------------------------------------------------------- helpers

void report(const ProgressFn& progress, const std::string& phase) {
  if (!progress) return;
  Progress p;
  p.phase = phase;
  progress(p);
}

std::string data_of(const JournalStep& step, const char* key) {
  return step_data(step, key);
}

std::string host_of(const HypervConnection& c) {
  return escape::terminal_text(c.host_name());
}

std::string vm_words(const std::string& name) {
  return "VM " + quoted(name);
}

HypervConnection& hyperv_target(Connection& target, const std::string& op) {
  HypervConnection* t = hyperv_connection_of(target);
  if (!t)
    throw Error(ErrorCode::Unsupported,
                "a Hyper-V VM migrates only to another Hyper-V connection; the target " +
                    escape::terminal_text(target.uri().raw) + " is a " + target.backend_name() +
                    " connection",
                op);
  return *t;
}

/// The VM of Id `id` on `c`, or nullopt.
std::optional<json> vm_by_id(const HypervConnection& c, const std::string& id) {
  const std::string key = guid_key(id);
  for (const auto& vm : c.list_vms(kOp))
    if (!key.empty() && guid_key(text_field(vm, "Id")) == key) return vm;
  return std::nullopt;
}

json host_record(const HypervConnection& c) {
  return c.ps().run("host.info", json::object()).value("host", json::object());
}

VmState state_of(const json& vm, std::string& word) {
  return map_state(vm.value("State", json()), word);
}

/// The paths of a VM record's disks; nullopt when the answer was cut short.
std::optional<std::vector<std::string>> disk_paths(const json& vm) {
  const json drives = vm.value("HardDrives", json());
  if (drives.is_null()) return std::vector<std::string>{};
  if (!drives.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& d : drives) out.push_back(text_field(d, "Path"));
  return out;
}

/// The sizes (Get-VHD's Size) of `paths` on `c`, sorted, as "n,n,n".
std::string disk_sizes(const HypervConnection& c, const std::vector<std::string>& paths) {
  std::vector<std::uint64_t> sizes;
  for (const auto& p : paths) {
    const json v = c.ps().run("volume.get", json{{"path", p}}, quoted(p));
    sizes.push_back(number_field(v.value("volume", json::object()), "Size"));
  }
  std::sort(sizes.begin(), sizes.end());
  std::string out;
  for (auto s : sizes) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

/// The folder an export lives in: <share>\<VM name>, two levels above its
/// <share>\<VM name>\Virtual Machines\<Id>.vmcx.
std::string export_root(const std::string& vmcx) {
  std::string p = vmcx;
  for (int i = 0; i < 2; ++i) {
    const auto cut = p.find_last_of("\\/");
    if (cut == std::string::npos || cut == 0) return {};
    p = p.substr(0, cut);
  }
  return p;
}

/// A fix for one Compare-VM incompatibility, by MessageId where it is known.
std::string fix_for(const json& incompatibility) {
  static const std::map<std::uint64_t, std::string> kFixes = {
      {24004,
       "the hosts' processors differ: enable processor compatibility on the VM while it is off "
       "(Set-VMProcessor -CompatibilityForMigrationEnabled $true), or move it with --offline"},
      {33012,
       "create a virtual switch of that name on the target (New-VMSwitch), or connect the "
       "adapter to a switch the target has"},
      {21018,
       "a VM of this Id is already on the target: remove it there, or use --offline "
       "(it imports a copy with a new Id)"},
  };
  const auto id = number_field(incompatibility, "MessageId");
  if (auto it = kFixes.find(id); it != kFixes.end()) return it->second;
  return "resolve it on the target (Compare-VM MessageId " + std::to_string(id) +
         "), or move the VM with --offline";
}

// ------------------------------------------------------------- offline

/// One journalled offline migration: the steps of migration.hpp, run by the
/// core's engine (hyperctl/offline.hpp).
class Offline final : public OfflineSteps {
 public:
  Offline(HypervConnection& src, HypervConnection& dst) : src_(src), dst_(dst) {}

  std::string journal_kind() const override { return kMigrationJournalKind; }
  std::string journal_what() const override { return "a Hyper-V offline migration"; }
  void check(OfflineRun& run, const VmRef& vm) override;
  bool still_done(OfflineRun& run, std::size_t index) override;
  void precheck_step(OfflineRun& run, std::size_t index) override;
  void run_step(OfflineRun& run, std::size_t index) override;
  void undo_step(OfflineRun& run, std::size_t index) override;
  VmInfo result(OfflineRun& run) override;

 private:
  HypervConnection& src_;
  HypervConnection& dst_;

  static std::string id(const OfflineRun& r) { return r.checked("id"); }
  static std::string name(const OfflineRun& r) { return r.checked("name"); }
  static std::string who(const OfflineRun& r) { return vm_words(name(r)); }
  static const std::string& share(const OfflineRun& r) { return r.journal().param("target_pool"); }

  void shutdown(OfflineRun& run);
  void export_vm(OfflineRun& run, std::size_t i);
  void import(OfflineRun& run, std::size_t i);
  void verify(OfflineRun& run, std::size_t v);
  void remove_source(OfflineRun& run);
  void cleanup(OfflineRun& run);
  /// VMs on the target that an interrupted import of this journal left:
  /// the recorded new Id, else VMs of the source's name that were not there
  /// before the import and live in its folders.
  std::vector<std::string> leftovers(const OfflineRun& run) const;
  void delete_on_target(const OfflineRun& run, const std::string& new_id);
};

void Offline::check(OfflineRun& run, const VmRef& ref) {
  Journal& j = run.journal();
  const bool shutdown_first = j.param("shutdown_first") == "yes";
  const bool remove_source = j.param("remove_source") == "yes";
  const json vm = src_.resolve(ref, kOp);
  const std::string vid = text_field(vm, "Id");
  const std::string vname = text_field(vm, "Name");
  std::string word;
  const VmState state = state_of(vm, word);
  bool running = false;
  if (state == VmState::Running) {
    if (!shutdown_first)
      throw Error(ErrorCode::Conflict,
                  vm_words(vname) +
                      " is running; an offline migration needs it off (add --shutdown to shut "
                      "it down first, or migrate it live)",
                  kOp);
    running = true;
  } else if (state != VmState::Off) {
    throw Error(ErrorCode::Conflict,
                vm_words(vname) + " is " + escape::terminal_text(word) +
                    "; an offline migration needs it off (start and shut it down, or turn it off)",
                kOp);
  }
  const auto paths = disk_paths(vm);
  if (!paths)
    throw Error(ErrorCode::BackendFailure,
                "the disks of " + vm_words(vname) + " on " + host_of(src_) +
                    " cannot be read (the host's answer was cut short); nothing was changed",
                kOp);
  const std::string sizes = disk_sizes(src_, *paths);
  const json host = host_record(dst_);
  const std::string vhd_root = text_field(host, "VirtualHardDiskPath");
  const std::string vm_root = text_field(host, "VirtualMachinePath");
  if (vhd_root.empty() || vm_root.empty())
    throw Error(ErrorCode::BackendFailure,
                "the target " + host_of(dst_) +
                    " gives no VirtualHardDiskPath or VirtualMachinePath (Get-VMHost)",
                kOp);
  // The disks' folder is named after the VM, or after its Id when the name
  // cannot be one folder name.
  const std::string folder = safe_file_name(vname) ? vname : guid_key(vid);

  if (running) j.add_step(kShutdown);
  j.add_step(kExport);
  j.add_step(kImport);
  j.add_step(kVerify);
  if (remove_source) j.add_step(kRemove);
  j.add_step(kCleanup);
  j.set_step(*j.find_step(kCheck), StepState::Done,
             {{"id", vid},
              {"name", vname},
              {"state", word},
              {"disk_count", std::to_string(paths->size())},
              {"disk_sizes", sizes},
              {"vhd_destination", join_path(vhd_root, folder)},
              {"vm_path", vm_root}});
}

void Offline::shutdown(OfflineRun& run) {
  run.report("shutdown");
  const auto now = vm_by_id(src_, id(run));
  if (!now) throw Error(ErrorCode::NotFound, who(run) + " is no longer on " + host_of(src_), kOp);
  std::string word;
  if (state_of(*now, word) == VmState::Running) {
    const json after = src_.ps().run("vm.shutdown", json{{"id", id(run)}}, quoted(name(run)));
    if (state_of(after.value("vm", json::object()), word) != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  who(run) + " is " + escape::terminal_text(word) +
                      " after its shutdown; turn it off, then resume",
                  kOp);
  }
}

void Offline::precheck_step(OfflineRun& run, std::size_t index) {
  const std::string step = run.journal().steps()[index].name;
  if (step != kExport && step != kRemove) return;
  const auto now = vm_by_id(src_, id(run));
  if (step == kExport) {
    if (!now) throw Error(ErrorCode::NotFound, who(run) + " is no longer on " + host_of(src_), kOp);
    std::string word;
    if (state_of(*now, word) != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  who(run) + " is " + escape::terminal_text(word) + " on " + host_of(src_) +
                      "; it can be exported only while off (turn it off, then resume)",
                  kOp);
  } else if (now) {
    std::string word;
    if (state_of(*now, word) != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  who(run) + " is " + escape::terminal_text(word) + " on " + host_of(src_) +
                      " (started during the migration?); it was not removed",
                  kOp);
  }
}

void Offline::export_vm(OfflineRun& run, std::size_t i) {
  run.report("export");
  // Export-VM writes <share>\<name>; it refuses a folder an earlier export
  // left, which the operator then removes (it is not known to be ours).
  const json out = src_.ps().run("migrate.export", json{{"id", id(run)}, {"path", share(run)}},
                                 quoted(name(run)), milliseconds(0), run.cancel());
  const std::string vmcx = text_field(out, "vmcx");
  if (vmcx.empty())
    throw Error(ErrorCode::BackendFailure,
                "Export-VM of " + who(run) + " named no configuration file", kOp);
  run.journal().set_step(i, StepState::Done, {{"vmcx", vmcx}, {"root", export_root(vmcx)}});
}

std::vector<std::string> Offline::leftovers(const OfflineRun& run) const {
  std::vector<std::string> out;
  const JournalStep& s = run.step(kImport);
  const std::string recorded = data_of(s, "new_id");
  const json vms = dst_.list_vms(kOp);
  if (!recorded.empty()) {
    for (const auto& vm : vms)
      if (guid_key(text_field(vm, "Id")) == guid_key(recorded)) out.push_back(recorded);
    return out;
  }
  std::set<std::string> before;
  {
    const std::string list = data_of(s, "ids_before");
    std::size_t start = 0;
    while (start <= list.size()) {
      const auto comma = list.find(',', start);
      const std::string one =
          list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!one.empty()) before.insert(guid_key(one));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  const std::string vhd_dest = path_key(run.checked("vhd_destination")) + "\\";
  for (const auto& vm : vms) {
    const std::string vid = text_field(vm, "Id");
    if (before.count(guid_key(vid)) || text_field(vm, "Name") != name(run)) continue;
    bool ours = path_key(text_field(vm, "Path")) == path_key(run.checked("vm_path"));
    if (const auto paths = disk_paths(vm))
      for (const auto& p : *paths) ours = ours || path_key(p).rfind(vhd_dest, 0) == 0;
    if (ours) out.push_back(vid);
  }
  return out;
}

void Offline::delete_on_target(const OfflineRun& run, const std::string& new_id) {
  const auto there = vm_by_id(dst_, new_id);
  if (!there) return;
  std::string word;
  if (state_of(*there, word) != VmState::Off)
    throw Error(ErrorCode::Conflict,
                "the copy of " + who(run) + " on " + host_of(dst_) + " (Id " +
                    escape::terminal_text(new_id) + ") is " + escape::terminal_text(word) +
                    "; turn it off there first",
                kOp);
  dst_.ps().run("vm.delete", json{{"id", new_id}, {"with_storage", true}}, quoted(name(run)));
}

bool Offline::still_done(OfflineRun& run, std::size_t index) {
  const JournalStep& s = run.journal().steps()[index];
  if (s.name == kExport) return !data_of(s, "vmcx").empty();
  if (s.name == kImport)
    return !data_of(s, "new_id").empty() && vm_by_id(dst_, data_of(s, "new_id")).has_value();
  return true;
}

void Offline::import(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  std::map<std::string, std::string> data;
  if (run.prior_state() == StepState::Pending) {
    // Recorded before it runs: a process killed during the import still
    // lets the rollback (or a resume) find what it left.
    std::string ids;
    for (const auto& vm : dst_.list_vms(kOp))
      ids += (ids.empty() ? "" : ",") + text_field(vm, "Id");
    data = {{"ids_before", ids}, {"new_id", ""}};
  } else {
    // Ours from an interrupted or unverified attempt: imported again.
    for (const auto& left : leftovers(run)) delete_on_target(run, left);
    data = {{"new_id", ""}};
  }
  run.check_cancel("the migration");
  j.set_step(i, StepState::Running, data);
  run.report("import");
  const json out = dst_.ps().run("migrate.import",
                                 json{{"vmcx", data_of(run.step(kExport), "vmcx")},
                                      {"vhd_destination", run.checked("vhd_destination")},
                                      {"vm_path", run.checked("vm_path")}},
                                 quoted(name(run)), milliseconds(0), run.cancel());
  const std::string new_id = text_field(out.value("vm", json::object()), "Id");
  if (new_id.empty())
    throw Error(ErrorCode::BackendFailure,
                "Import-VM of " + who(run) + " on " + host_of(dst_) + " answered no new Id", kOp);
  j.set_step(i, StepState::Done, {{"new_id", new_id}});
}

void Offline::verify(OfflineRun& run, std::size_t v) {
  Journal& j = run.journal();
  run.report("verify");
  const auto imp = *j.find_step(kImport);
  const std::string new_id = data_of(j.steps()[imp], "new_id");
  auto mismatch = [&](const std::string& what) {
    j.set_step(v, StepState::Failed);
    j.set_step(imp, StepState::Failed);  // a resume imports it again
    throw Error(ErrorCode::BackendFailure,
                "the copy of " + who(run) + " on " + host_of(dst_) + " differs from the source (" +
                    what + "); the source was left alone",
                kOp);
  };
  const auto there = vm_by_id(dst_, new_id);
  if (!there) mismatch("it is not listed under its new Id " + escape::terminal_text(new_id));
  const auto paths = disk_paths(*there);
  if (!paths) mismatch("its disks cannot be read: the host's answer was cut short");
  if (std::to_string(paths->size()) != run.checked("disk_count"))
    mismatch(std::to_string(paths->size()) + " disks instead of " + run.checked("disk_count"));
  const std::string sizes = disk_sizes(dst_, *paths);
  if (sizes != run.checked("disk_sizes"))
    mismatch("disk sizes " + sizes + " instead of " + run.checked("disk_sizes"));
}

void Offline::remove_source(OfflineRun& run) {
  if (vm_by_id(src_, id(run))) {
    run.report("remove source");
    src_.ps().run("vm.delete", json{{"id", id(run)}, {"with_storage", true}}, quoted(name(run)));
  } else if (run.prior_state() == StepState::Pending) {
    run.report("warning: " + who(run) + " was already gone from " + src_.host_name());
  }
}

void Offline::cleanup(OfflineRun& run) {
  const std::string root = data_of(run.step(kExport), "root");
  if (root.empty()) return;
  run.report("cleanup");
  try {
    src_.ps().run("migrate.cleanup", json{{"path", root}}, quoted(root));
  } catch (const Error& e) {
    // The VM is on the target, verified: a leftover export is the
    // operator's to delete, not a failed migration.
    run.report("warning: the export folder " + root +
               " was left behind (delete it by hand): " + e.what());
  }
}

void Offline::run_step(OfflineRun& run, std::size_t i) {
  const std::string step = run.journal().steps()[i].name;
  if (step == kShutdown)
    shutdown(run);
  else if (step == kExport)
    export_vm(run, i);
  else if (step == kImport)
    import(run, i);
  else if (step == kVerify)
    verify(run, i);
  else if (step == kRemove)
    remove_source(run);
  else if (step == kCleanup)
    cleanup(run);
  else
    throw Error(ErrorCode::InvalidArgument,
                "journal " + run.journal().id() + " is damaged: unknown step '" + step + "'", kOp);
}

void Offline::undo_step(OfflineRun& run, std::size_t i) {
  const JournalStep s = run.journal().steps()[i];
  if (s.name == kImport) {
    for (const auto& left : leftovers(run)) delete_on_target(run, left);
  } else if (s.name == kExport) {
    const std::string root = data_of(s, "root");
    if (!root.empty()) src_.ps().run("migrate.cleanup", json{{"path", root}}, quoted(root));
  } else if (s.name == kShutdown && s.state == StepState::Done) {
    // The source as it was: started again when this migration shut it down.
    if (const auto now = vm_by_id(src_, id(run))) {
      std::string word;
      if (state_of(*now, word) == VmState::Off)
        src_.ps().run("vm.start", json{{"id", id(run)}}, quoted(name(run)));
    }
  }
}

VmInfo Offline::result(OfflineRun& run) {
  const std::string new_id = data_of(run.step(kImport), "new_id");
  return dst_.describe(dst_.resolve(VmRef(new_id), kOp));
}

std::string need_share_text() {
  return "an offline migration of a Hyper-V VM needs --target-pool: an export folder both hosts "
         "reach (e.g. \\\\server\\share), where the source exports the VM and the target "
         "imports a copy of it";
}

}  // namespace

// ------------------------------------------------------------- the group

HypervMigrationOps::HypervMigrationOps(HypervConnection& c) : MigrationOps(kBackendName), c_(c) {}

PreflightReport HypervMigrationOps::preflight(const VmRef& vm, Connection& target,
                                              const MigrationOptions& options) {
  return guarded(kCheckOp, [&] {
    PreflightReport rep;
    auto add = [&](const char* check, CheckLevel level, std::string message, std::string fix = {}) {
      rep.items.push_back(PreflightItem{check, level, std::move(message), std::move(fix)});
    };
    HypervConnection& dst = hyperv_target(target, kCheckOp);
    const json rec = c_.resolve(vm, kCheckOp);
    const std::string vid = text_field(rec, "Id");
    const std::string vname = text_field(rec, "Name");
    const std::string who = vm_words(vname);
    const bool live = options.mode == MigrationMode::Live;

    std::string word;
    const VmState state = state_of(rec, word);
    if (live) {
      if (options.copy_storage && options.target_pool.empty())
        add("storage", CheckLevel::Blocker,
            "--copy-storage needs the folder on the target for the VM's files",
            "add --target-pool <folder on the target> (Move-VM -DestinationStoragePath)");
      else if (!options.copy_storage && !options.target_pool.empty())
        add("storage", CheckLevel::Blocker,
            "--target-pool is the destination of --copy-storage; without it the disks stay where "
            "they are (shared storage)",
            "add --copy-storage, or drop --target-pool");
      const json data = [&] {
        json d = {{"id", vid},
                  {"destination", dst.host_name()},
                  {"include_storage", options.copy_storage}};
        if (!options.target_pool.empty()) d["destination_path"] = options.target_pool;
        return d;
      }();
      const json found = c_.ps()
                             .run("migrate.check", data, quoted(vname))
                             .value("incompatibilities", json::array());
      if (found.is_array() && !found.empty()) {
        for (const auto& i : found)
          add("compatibility", CheckLevel::Blocker, escape::terminal_text(text_field(i, "Message")),
              fix_for(i));
      } else {
        add("compatibility", CheckLevel::Ok,
            "Compare-VM finds nothing that stops a move to " + host_of(dst));
      }
    } else {
      if (state == VmState::Off)
        add("source-state", CheckLevel::Ok, who + " is off");
      else if (state == VmState::Running && options.shutdown_first)
        add("source-state", CheckLevel::Ok, who + " is running; it will be shut down first");
      else if (state == VmState::Running)
        add("source-state", CheckLevel::Blocker,
            who + " is running: an offline migration needs it off",
            "use --shutdown, or migrate it live");
      else
        add("source-state", CheckLevel::Blocker, who + " is " + escape::terminal_text(word),
            "start and shut it down, or turn it off");
      if (options.target_pool.empty())
        add("export-folder", CheckLevel::Blocker, need_share_text(),
            "add --target-pool \\\\server\\share");
      else
        add("export-folder", CheckLevel::Ok,
            "exported to " + escape::terminal_text(options.target_pool));
    }

    // The target's VMs: the same Id, the same name.
    const json theirs = dst.list_vms(kOp);
    bool clash = false;
    for (const auto& other : theirs) {
      if (guid_key(text_field(other, "Id")) == guid_key(vid)) {
        clash = true;
        if (live)
          add("name-clash", CheckLevel::Blocker,
              "a VM with the Id of " + who + " (" + escape::terminal_text(vid) +
                  ") is already on " + host_of(dst) + " (the target is the source itself?)",
              "pick another target, or remove that VM there");
        else
          add("name-clash", CheckLevel::Warning,
              "a VM with the Id of " + who + " is already on " + host_of(dst) +
                  "; the import makes a copy with a new Id");
      } else if (text_field(other, "Name") == vname) {
        clash = true;
        add("name-clash", CheckLevel::Warning,
            "a VM named " + quoted(vname) + " is already on " + host_of(dst) + " (Id " +
                escape::terminal_text(text_field(other, "Id")) +
                "); Hyper-V allows it, but names then need their Id",
            "address them by Id afterwards, or rename one");
      }
    }
    if (!clash) add("name-clash", CheckLevel::Ok, "no VM of that name or Id on " + host_of(dst));

    // Switches for the VM's network adapters.
    const json nics = rec.value("NetworkAdapters", json());
    if (!nics.is_null() && !nics.is_array()) {
      add("network", CheckLevel::Warning,
          "the network adapters of " + who + " cannot be read (the host's answer was cut short)");
    } else {
      std::set<std::string> switches;
      const json sw = dst.ps().run("network.list", json::object()).value("switches", json::array());
      for (const auto& s : sw) switches.insert(lower_ascii(text_field(s, "Name")));
      bool any = false;
      for (const auto& n : nics.is_array() ? nics : json::array()) {
        const std::string name = text_field(n, "SwitchName");
        if (name.empty()) continue;
        any = true;
        if (switches.count(lower_ascii(name)))
          add("network", CheckLevel::Ok, "switch " + quoted(name) + " is on " + host_of(dst));
        else
          add("network", CheckLevel::Blocker,
              "no virtual switch " + quoted(name) + " on " + host_of(dst) + " for adapter " +
                  quoted(text_field(n, "Name")),
              "create it there (New-VMSwitch -Name ...), or connect the adapter to a switch the "
              "target has (Connect-VMNetworkAdapter)");
      }
      if (!any) add("network", CheckLevel::Ok, who + " has no connected network adapter");
    }

    // Memory and processors of the two hosts.
    const json here = host_record(c_);
    const json there = host_record(dst);
    const std::uint64_t need =
        std::max(number_field(rec, "MemoryStartup"), number_field(rec, "MemoryAssigned"));
    const json free_field = there.value("FreeMemoryBytes", json());
    const std::uint64_t free = number_field(there, "FreeMemoryBytes");
    if (free_field.is_null())
      add("memory", CheckLevel::Warning, "the free memory of " + host_of(dst) + " is not known");
    else if (free < need)
      add("memory", CheckLevel::Blocker,
          who + " needs " + std::to_string(need) + " bytes of memory; " + host_of(dst) + " has " +
              std::to_string(free) + " free",
          "free memory on the target (stop VMs there), or lower the VM's startup memory "
          "(hyperctl set --memory)");
    else
      add("memory", CheckLevel::Ok,
          host_of(dst) + " has " + std::to_string(free) + " bytes free; " + who + " needs " +
              std::to_string(need));

    const std::string va = text_field(here, "ProcessorManufacturer");
    const std::string vb = text_field(there, "ProcessorManufacturer");
    if (va.empty() || vb.empty())
      add("cpu-vendor", CheckLevel::Warning, "the processor vendor of a host is not known");
    else if (va == vb)
      add("cpu-vendor", CheckLevel::Ok,
          "both hosts have " + escape::terminal_text(va) + " processors");
    else if (live)
      add("cpu-vendor", CheckLevel::Blocker,
          "the source has " + escape::terminal_text(va) + " processors, the target " +
              escape::terminal_text(vb) + ": a running VM cannot move between vendors",
          "use --offline (the VM is shut down and starts afresh on the target)");
    else
      add("cpu-vendor", CheckLevel::Ok,
          "the processors differ (" + escape::terminal_text(va) + ", " + escape::terminal_text(vb) +
              "); an offline copy starts afresh there");
    return rep;
  });
}

VmInfo HypervMigrationOps::migrate_live(const VmRef& vm, HypervConnection& dst,
                                        const MigrationOptions& options, const ProgressFn& progress,
                                        const CancelToken& cancel) {
  if (options.copy_storage && options.target_pool.empty())
    throw Error(ErrorCode::InvalidArgument,
                "--copy-storage needs --target-pool: the folder on the target for the VM's files "
                "(Move-VM -DestinationStoragePath)",
                kLiveOp);
  if (!options.copy_storage && !options.target_pool.empty())
    throw Error(ErrorCode::InvalidArgument,
                "--target-pool is the destination of --copy-storage (Move-VM "
                "-DestinationStoragePath); add --copy-storage or drop it",
                kLiveOp);
  const json rec = c_.resolve(vm, kLiveOp);
  const std::string vid = text_field(rec, "Id");
  const std::string vname = text_field(rec, "Name");
  json data = {
      {"id", vid}, {"destination", dst.host_name()}, {"include_storage", options.copy_storage}};
  if (!options.target_pool.empty()) data["destination_path"] = options.target_pool;

  // One deadline for the whole move; 0: none.
  const auto start = std::chrono::steady_clock::now();
  auto remaining = [&]() -> std::optional<milliseconds> {
    if (options.timeout.count() <= 0) return milliseconds(0);
    const auto spent =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    return std::max(milliseconds(1), options.timeout - spent);
  };
  // After any failure: is the VM still on the source? Said in the message.
  auto failed = [&](const Error& e) -> Error {
    std::string where;
    try {
      if (const auto still = vm_by_id(c_, vid)) {
        std::string word;
        state_of(*still, word);
        where = "; " + vm_words(vname) + " is still on " + host_of(c_) + " (" +
                escape::terminal_text(word) + ")";
      } else {
        where = "; " + vm_words(vname) + " is no longer listed on " + host_of(c_) +
                ": look for it on " + host_of(dst);
      }
    } catch (const Error& again) {
      where = "; whether " + vm_words(vname) + " is still on " + host_of(c_) +
              " could not be checked (" + again.what() + ")";
    }
    return Error(e.code(), std::string(e.what()) + where,
                 e.operation().empty() ? kLiveOp : e.operation(), e.detail());
  };

  report(progress, "check");
  json found;
  try {
    found = c_.ps()
                .run("migrate.check", data, quoted(vname), remaining(), cancel)
                .value("incompatibilities", json::array());
  } catch (const Error& e) {
    throw failed(e);
  }
  if (found.is_array() && !found.empty()) {
    std::string why;
    for (const auto& i : found)
      why += (why.empty() ? "" : "; ") + escape::terminal_text(text_field(i, "Message"));
    throw Error(ErrorCode::Conflict,
                "cannot move " + vm_words(vname) + " to " + host_of(dst) + ": " + why +
                    " (nothing was moved; see hyperctl migrate --check)",
                kLiveOp);
  }
  if (cancel.cancelled())
    throw failed(
        Error(ErrorCode::Cancelled, "the move of " + vm_words(vname) + " was cancelled", kLiveOp));
  report(progress, "move");
  try {
    c_.ps().run("migrate.live", data, quoted(vname), remaining(), cancel);
  } catch (const Error& e) {
    throw failed(e);
  }
  return dst.describe(dst.resolve(VmRef(vid), kLiveOp));
}

VmInfo HypervMigrationOps::migrate(const VmRef& vm, Connection& target,
                                   const MigrationOptions& options, const ProgressFn& progress,
                                   const CancelToken& cancel) {
  return guarded(kOp, [&]() -> VmInfo {
    HypervConnection& dst = hyperv_target(target, kOp);
    if (options.mode == MigrationMode::Live)
      return migrate_live(vm, dst, options, progress, cancel);
    if (options.target_pool.empty())
      throw Error(ErrorCode::InvalidArgument, need_share_text(), kOp);
    Offline m(c_, dst);
    OfflineStart start;
    start.source_uri = c_.uri().raw;
    start.target_uri = dst.uri().raw;
    start.vm = vm;
    start.shutdown_first = options.shutdown_first;
    start.remove_source = options.remove_source;
    start.params["target_pool"] = options.target_pool;
    return run_offline_migration(m, start, progress, cancel, kOp);
  });
}

VmInfo HypervMigrationOps::resume(const std::string& journal_id, Connection& target,
                                  const ProgressFn& progress, const CancelToken& cancel) {
  return guarded(kOp, [&]() -> VmInfo {
    HypervConnection& dst = hyperv_target(target, kOp);
    Offline m(c_, dst);
    return resume_offline_migration(m, journal_id, c_.uri().raw, target.uri().raw, progress, cancel,
                                    kOp);
  });
}

void HypervMigrationOps::rollback(const std::string& journal_id, Connection& target) {
  guarded(kOp, [&] {
    HypervConnection& dst = hyperv_target(target, kOp);
    Offline m(c_, dst);
    rollback_offline_migration(m, journal_id, c_.uri().raw, target.uri().raw, kOp);
  });
}

Capabilities migration_capabilities() {
  return {Operation::MigratePreflight, Operation::MigrateLive, Operation::MigrateOffline};
}

}  // namespace hyperctl::hyperv
