// Migration between families on the offline-migration engine; see
// hyperctl/migrate.hpp.
//
// Steps, each journalled before and after it runs:
//   check              the VM described (VmOps::describe), off (or shut down
//                      with --shutdown), no snapshots, every disk in a format
//                      qemu-img converts, qemu-img present when a conversion
//                      is needed, the target pool present with room, no VM or
//                      volume of the names it will use on the target, every
//                      network there (after --network-map), room in the work
//                      folder
//   shutdown source    only with --shutdown and a running VM
//   export disk ID     StorageOps::export_disk into the work folder
//   convert disk ID    qemu-img convert to the target's format (only when
//                      the formats differ); the export is deleted after it
//   import disk ID     StorageOps::import_disk on the target
//   define on target   VmOps::create_from the portable description
//   verify disk ID     the target's volume exported back and compared with
//                      what was imported (qemu-img compare, or SHA-256 of
//                      the bytes without qemu-img), capacity equal
//   remove source      only with --remove-source: VmOps::remove with storage
//   cleanup            the work folder deleted
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "hyperctl/digest.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/migrate.hpp"
#include "hyperctl/offline.hpp"
#include "hyperctl/portable.hpp"
#include "hyperctl/qemu_img.hpp"

namespace hyperctl {
namespace {

using json = nlohmann::json;

const std::string kOp = "migrate";
const char* const kShutdown = "shutdown source";
const char* const kDefine = "define on target";
const char* const kCleanup = "cleanup";
const std::string kExport = "export disk ";
const std::string kConvert = "convert disk ";
const std::string kImport = "import disk ";
const std::string kVerify = "verify disk ";

std::string q(const std::string& s) {
  return "'" + escape::terminal_text(s) + "'";
}

/// A file-name-safe stem of a VM name: letters, digits, '.', '_' and '-'
/// kept, anything else '_'.
std::string safe_stem(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? static_cast<char>(c) : '_';
    if (out.size() >= 48) break;
  }
  if (out.empty() || out[0] == '.' || out[0] == '-') out.insert(out.begin(), 'v');
  return out;
}

std::uint64_t free_bytes(const std::string& folder) {
  struct statvfs st;
  if (::statvfs(folder.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

void remove_file(const std::string& path) {
  if (!path.empty()) ::unlink(path.c_str());
}

std::string sha256_of_file(const std::string& path, const CancelToken& cancel) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorCode::BackendFailure, "cannot read " + q(path) + ": " + std::strerror(errno),
                kOp);
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (in) {
    if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, "the verification cancelled", kOp);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  return sha.hex();
}

/// One finding of the check: a preflight item, and how the migration
/// refuses when it is a blocker.
struct Finding {
  PreflightItem item;
  ErrorCode code = ErrorCode::Conflict;
};

struct DiskPlan {
  std::size_t index = 0;
  std::string id;
  std::string source_format;
  ImportFormat target;
  std::string volume;  ///< name on the target
  bool convert = false;
};

/// What the check finds out: the description, the plan, the findings.
struct Plan {
  PortableVm vm;
  bool running = false;
  std::vector<DiskPlan> disks;
  std::vector<Finding> findings;
  std::string target_pool;

  void add(const char* check, CheckLevel level, std::string message, std::string fix = {},
           ErrorCode code = ErrorCode::Conflict) {
    findings.push_back(
        Finding{PreflightItem{check, level, std::move(message), std::move(fix)}, code});
  }
  const Finding* first_blocker() const {
    for (const auto& f : findings)
      if (f.item.level == CheckLevel::Blocker) return &f;
    return nullptr;
  }
};

std::string mapped_network(const std::map<std::string, std::string>& map, const std::string& n) {
  const auto it = map.find(n);
  return it == map.end() ? n : it->second;
}

/// Everything the migration checks before it changes anything. Never
/// throws for a finding; throws only when the source VM cannot be
/// described (not found, unsupported backend).
Plan make_plan(Connection& src, Connection& dst, const VmRef& ref, const MigrationOptions& options,
               const std::string& work_folder) {
  Plan p;
  p.vm = src.vms().describe(ref);
  const std::string who = "VM " + q(p.vm.name);
  p.target_pool = options.target_pool.empty() ? "default" : options.target_pool;

  // The source: state, snapshots.
  const VmInfo info = src.vms().get(VmRef(p.vm.id.empty() ? ref.value : p.vm.id));
  if (info.state == VmState::Off) {
    p.add("source-state", CheckLevel::Ok, who + " is off");
  } else if (info.state == VmState::Running && options.shutdown_first) {
    p.running = true;
    p.add("source-state", CheckLevel::Ok, who + " is running; it will be shut down first");
  } else if (info.state == VmState::Running) {
    p.add("source-state", CheckLevel::Blocker,
          who + " is running; a migration between families needs it off",
          "add --shutdown to shut it down gracefully first");
  } else {
    p.add("source-state", CheckLevel::Blocker,
          who + " is " + std::string(to_string(info.state)) +
              "; a migration between families needs it off",
          "start and shut it down, or power it off");
  }
  try {
    const auto snaps = src.snapshots().list(VmRef(p.vm.id));
    if (!snaps.empty())
      p.add("snapshots", CheckLevel::Blocker,
            who + " has " + std::to_string(snaps.size()) +
                (snaps.size() == 1 ? " snapshot" : " snapshots") +
                "; a migration between families carries the current disks only",
            "consolidate first: delete the snapshots (hyperctl snapshot delete)");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported) throw;
  }
  for (const auto& l : p.vm.left_out) p.add("left-out", CheckLevel::Warning, l);

  // The disks: formats, conversions, names.
  bool need_qemu_img = false;
  const std::string stem = safe_stem(p.vm.name);
  std::uint64_t capacity = 0, kept = 0, largest = 0;
  for (std::size_t i = 0; i < p.vm.disks.size(); ++i) {
    const PortableDisk& d = p.vm.disks[i];
    DiskPlan dp;
    dp.index = i;
    dp.id = d.id;
    dp.source_format = d.format;
    if (!qemu_img::known_format(d.format)) {
      p.add("disk-format", CheckLevel::Blocker,
            "disk " + d.id + " of " + who + " is in format " + q(d.format) +
                ", which cannot be converted",
            "convert it to qcow2 or raw on the source first", ErrorCode::Unsupported);
      continue;
    }
    dp.target = dst.storage().import_format(d.format);
    dp.convert = dp.target.format != d.format;
    need_qemu_img = need_qemu_img || dp.convert;
    dp.volume = stem + "-disk" + std::to_string(i) + dp.target.extension;
    p.add("disk", CheckLevel::Ok,
          "disk " + d.id + " (" + d.format + ", " + std::to_string(d.capacity_bytes) + " bytes) " +
              (dp.convert ? "is converted to " + dp.target.format : "keeps its format") +
              " as volume " + q(dp.volume));
    capacity += d.capacity_bytes;
    // Each disk stays in the work folder in the form it is imported in,
    // until the end (the verification compares the target's copy with it);
    // one more copy at a time beside them: an export being converted, or a
    // copy read back. Raw and qcow2 files there are sparse: the allocation
    // is what they take, where the source knows it.
    const std::uint64_t size = d.allocation_bytes ? d.allocation_bytes : d.capacity_bytes;
    kept += size;
    largest = std::max(largest, size);
    p.disks.push_back(dp);
  }
  if (p.vm.disks.empty())
    p.add("disk", CheckLevel::Warning, who + " has no disk; only its configuration moves");
  std::string why;
  if (!qemu_img::available(why))
    p.add("qemu-img", need_qemu_img ? CheckLevel::Blocker : CheckLevel::Warning,
          "qemu-img does not run here (" + why + ")" +
              (need_qemu_img ? "; the disks need converting"
                             : "; the copies are checked byte for byte instead"),
          "install qemu-utils (apt-get install qemu-utils)", ErrorCode::Unsupported);

  // The target: its pool, names, networks.
  try {
    const Pool pool = dst.storage().get_pool(p.target_pool);
    if (!pool.active)
      p.add("target-pool", CheckLevel::Blocker, "pool " + q(p.target_pool) + " is not active",
            "start it (hyperctl pool start " + escape::terminal_text(p.target_pool) + ")");
    else if (pool.available_bytes && pool.available_bytes < capacity)
      p.add("target-pool", CheckLevel::Blocker,
            "pool " + q(p.target_pool) + " has " + std::to_string(pool.available_bytes) +
                " bytes free; the disks need up to " + std::to_string(capacity),
            "free space there, or choose another --target-pool");
    else
      p.add("target-pool", CheckLevel::Ok, "pool " + q(p.target_pool) + " has room");
    std::set<std::string> names;
    for (const auto& v : dst.storage().list_volumes(p.target_pool)) names.insert(v.name);
    for (const auto& dp : p.disks)
      if (names.count(dp.volume))
        p.add("name-clash", CheckLevel::Blocker,
              "volume " + q(dp.volume) + " already exists in pool " + q(p.target_pool),
              "remove it there, or choose another --target-pool");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    p.add("target-pool", CheckLevel::Blocker, "the target has no pool " + q(p.target_pool),
          "choose an existing pool with --target-pool", ErrorCode::NotFound);
  }
  try {
    const VmInfo clash = dst.vms().get(VmRef(p.vm.name));
    p.add("name-clash", CheckLevel::Blocker,
          "a VM named " + q(clash.name) + " already exists on the target",
          "remove or rename it there first");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    p.add("name-clash", CheckLevel::Ok, "no VM named " + q(p.vm.name) + " on the target");
  }
  try {
    std::set<std::string> there;
    for (const auto& n : dst.networks().list()) there.insert(n.name);
    for (auto& nic : p.vm.nics) {
      const std::string to = mapped_network(options.network_map, nic.network);
      if (!there.count(to))
        p.add("network", CheckLevel::Blocker,
              "network " + q(to) + " (of the NIC " + escape::terminal_text(nic.mac) +
                  ") does not exist on the target",
              "map it with --network-map " + escape::terminal_text(nic.network) + "=NETWORK");
      else
        p.add("network", CheckLevel::Ok,
              "NIC " + escape::terminal_text(nic.mac) + " joins network " + q(to));
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported) throw;
  }
  for (const auto& [from, to] : options.network_map) {
    bool used = false;
    for (const auto& nic : p.vm.nics) used = used || nic.network == from;
    if (!used)
      p.add("network", CheckLevel::Blocker,
            "--network-map " + escape::terminal_text(from) + "=" + escape::terminal_text(to) +
                ": " + who + " has no NIC on network " + q(from),
            "drop it, or name one of the VM's networks", ErrorCode::InvalidArgument);
  }

  // Room in the work folder on this machine.
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(work_folder).parent_path(), ec);
  const std::uint64_t room = free_bytes(std::filesystem::path(work_folder).parent_path());
  const std::uint64_t work = kept + largest;
  if (room && room < work)
    p.add("work-space", CheckLevel::Blocker,
          "the work folder " + q(work_folder) + " has " + std::to_string(room) +
              " bytes free; the disks need up to " + std::to_string(work) + " there",
          "free space there, or point HYPERCTL_STATE_DIR at a larger file system");
  return p;
}

// ------------------------------------------------------------- the steps

class CrossSteps final : public OfflineSteps {
 public:
  CrossSteps(Connection& src, Connection& dst) : src_(src), dst_(dst) {}

  std::string journal_kind() const override { return kCrossJournalKind; }
  std::string journal_what() const override { return "a migration between families"; }

  void check(OfflineRun& run, const VmRef& vm) override;
  bool still_done(OfflineRun& run, std::size_t i) override;
  void precheck_step(OfflineRun& run, std::size_t i) override;
  void run_step(OfflineRun& run, std::size_t i) override;
  void undo_step(OfflineRun& run, std::size_t i) override;
  VmInfo result(OfflineRun& run) override;

  static MigrationOptions options_of(const Journal& j);

 private:
  Connection& src_;
  Connection& dst_;

  static std::string work(const OfflineRun& run) { return run.checked("work"); }
  static PortableVm described(const OfflineRun& run) {
    return portable_from_json(run.checked("portable"));
  }
  static std::string data(const OfflineRun& run, const std::string& step, const char* key) {
    return step_data(run.step(step), key);
  }
  /// The disk a step is about ("export disk vda" -> "vda").
  static std::string disk_of(const std::string& step) {
    for (const auto* prefix : {&kExport, &kConvert, &kImport, &kVerify})
      if (step.rfind(*prefix, 0) == 0) return step.substr(prefix->size());
    return {};
  }
  /// The local file that import disk ID reads.
  static std::string import_file(const OfflineRun& run, const std::string& id) {
    const auto c = run.journal().find_step(kConvert + id);
    return c ? step_data(run.journal().steps()[*c], "file") : data(run, kExport + id, "file");
  }
  static std::string import_format(const OfflineRun& run, const std::string& id) {
    return data(run, kImport + id, "format");
  }

  void export_disk(OfflineRun& run, std::size_t i);
  void convert(OfflineRun& run, std::size_t i);
  void import(OfflineRun& run, std::size_t i);
  void define(OfflineRun& run, std::size_t i);
  void verify(OfflineRun& run, std::size_t i);
};

MigrationOptions CrossSteps::options_of(const Journal& j) {
  MigrationOptions o;
  o.mode = MigrationMode::Offline;
  o.shutdown_first = j.param("shutdown_first") == "yes";
  o.remove_source = j.param("remove_source") == "yes";
  o.target_pool = j.param("target_pool");
  o.new_mac = j.param("new_mac") == "yes";
  o.disk_bus = j.param("disk_bus");
  try {
    o.network_map = json::parse(j.param("network_map")).get<std::map<std::string, std::string>>();
  } catch (const json::exception&) {
    throw Error(ErrorCode::InvalidArgument,
                "journal " + j.id() + " is damaged: its network_map is not a JSON object", kOp);
  }
  return o;
}

void CrossSteps::check(OfflineRun& run, const VmRef& ref) {
  Journal& j = run.journal();
  const std::string folder = Journal::folder() + "/" + j.id() + ".work";
  const Plan p = make_plan(src_, dst_, ref, options_of(j), folder);
  if (const Finding* f = p.first_blocker())
    throw Error(f->code,
                f->item.message + (f->item.fix.empty() ? std::string() : " (" + f->item.fix + ")"),
                kOp);
  for (const auto& f : p.findings)
    if (f.item.level == CheckLevel::Warning) run.report("warning: " + f.item.message);

  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec)
    throw Error(ErrorCode::BackendFailure,
                "cannot create the work folder " + q(folder) + ": " + ec.message(), kOp);
  if (p.running) j.add_step(kShutdown);
  for (const auto& d : p.disks) {
    const std::string n = std::to_string(d.index);
    j.add_step(kExport + d.id, {{"index", n}, {"file", folder + "/disk" + n + ".export"}});
    if (d.convert)
      j.add_step(kConvert + d.id, {{"format", d.target.format},
                                   {"file", folder + "/disk" + n + "." + d.target.format}});
    j.add_step(kImport + d.id, {{"format", d.target.format}, {"volume", d.volume}});
  }
  j.add_step(kDefine, {{"name", p.vm.name}});
  for (const auto& d : p.disks)
    j.add_step(kVerify + d.id, {{"file", folder + "/disk" + std::to_string(d.index) + ".check"}});
  if (j.param("remove_source") == "yes") j.add_step(kOfflineRemoveStep);
  j.add_step(kCleanup);
  j.set_step(*j.find_step(kOfflineCheckStep), StepState::Done,
             {{"portable", portable_to_json(p.vm)},
              {"source_id", p.vm.id},
              {"name", p.vm.name},
              {"work", folder}});
}

bool CrossSteps::still_done(OfflineRun& run, std::size_t i) {
  const JournalStep& s = run.journal().steps()[i];
  const std::string id = disk_of(s.name);
  // A local file a later step still needs must be there: the import reads
  // it, and the verification compares the target's copy with it.
  const Journal& j = run.journal();
  const auto pending = [&](const std::string& name) {
    const auto k = j.find_step(name);
    return k && j.steps()[*k].state != StepState::Done;
  };
  const bool needed_later = pending(kImport + id) || pending(kVerify + id);
  if (s.name.rfind(kConvert, 0) == 0)
    return !needed_later || std::filesystem::exists(step_data(s, "file"));
  if (s.name.rfind(kExport, 0) == 0) {
    if (!needed_later) return true;
    if (const auto c = j.find_step(kConvert + id);
        c && j.steps()[*c].state == StepState::Done &&
        std::filesystem::exists(step_data(j.steps()[*c], "file")))
      return true;  // converted: the export is not read again
    return std::filesystem::exists(step_data(s, "file"));
  }
  if (s.name == kDefine) {
    try {
      dst_.vms().get(VmRef(step_data(s, "target_id")));
      return true;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::NotFound) return false;
      throw;
    }
  }
  return true;
}

void CrossSteps::precheck_step(OfflineRun& run, std::size_t i) {
  const std::string name = run.journal().steps()[i].name;
  if (name.rfind(kExport, 0) == 0 || name == kOfflineRemoveStep) {
    // The source must be off while its disks are read, and still off when
    // it is removed (not started during the migration).
    const std::string sid = run.checked("source_id");
    const VmInfo now = src_.vms().get(VmRef(sid));
    if (now.state != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  "VM " + q(now.name) + " is " + std::string(to_string(now.state)) +
                      " on the source" +
                      (name == kOfflineRemoveStep
                           ? " (started during the migration?); it was not removed"
                           : "; its disks are read only while it is off (shut it down, then "
                             "resume)"),
                  kOp);
  }
}

void CrossSteps::export_disk(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const JournalStep s = j.steps()[i];
  const PortableVm vm = described(run);
  const PortableDisk& d = vm.disks.at(std::stoul(step_data(s, "index")));
  const std::string file = step_data(s, "file");
  remove_file(file);
  run.report(s.name, 0, d.capacity_bytes);
  const std::string format =
      src_.storage().export_disk(d.pool, d.volume, file, run.progress(), run.cancel());
  // The bytes may be in another format than the description guessed (a
  // VMDK whose data is a flat extent comes out raw): the conversion goes by
  // what arrived.
  j.set_step(i, StepState::Running, {{"format", format}});
  const auto imp = j.find_step(kImport + d.id);
  const bool converting = j.find_step(kConvert + d.id).has_value();
  if (imp && !converting && format != step_data(j.steps()[*imp], "format"))
    throw Error(ErrorCode::BackendFailure,
                "disk " + d.id + " was exported as " + format + ", not " + d.format +
                    " as described, and the target takes " + step_data(j.steps()[*imp], "format") +
                    "; start the migration again",
                kOp);
}

void CrossSteps::convert(OfflineRun& run, std::size_t i) {
  const JournalStep s = run.journal().steps()[i];
  const std::string id = disk_of(s.name);
  const PortableVm vm = described(run);
  const std::string in = data(run, kExport + id, "file");
  std::string in_format = data(run, kExport + id, "format");
  std::uint64_t size = 0;
  for (const auto& d : vm.disks)
    if (d.id == id) {
      size = d.capacity_bytes;
      if (in_format.empty()) in_format = d.format;
    }
  const std::string out = step_data(s, "file");
  const std::string out_format = step_data(s, "format");
  remove_file(out);
  if (in_format == out_format) {
    // Already what the target takes: nothing to convert.
    if (::rename(in.c_str(), out.c_str()) != 0)
      throw Error(ErrorCode::BackendFailure, "cannot rename " + q(in) + ": " + std::strerror(errno),
                  kOp);
    return;
  }
  qemu_img::convert(in, in_format, out, out_format, size, s.name, run.progress(), run.cancel(),
                    kOp);
  remove_file(in);  // the work folder holds one copy of each disk from here on
}

void CrossSteps::import(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const JournalStep s = j.steps()[i];
  const std::string id = disk_of(s.name);
  const std::string pool = j.param("target_pool");
  const std::string volume = step_data(s, "volume");
  const PortableVm vm = described(run);
  std::uint64_t capacity = 0;
  for (const auto& d : vm.disks)
    if (d.id == id) capacity = d.capacity_bytes;
  // An interrupted attempt of ours left a volume: it goes first. One we did
  // not make is refused.
  if (run.prior_state() != StepState::Pending || step_data(s, "created") == "yes") {
    try {
      dst_.storage().remove_volume(pool, volume);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;
    }
  }
  // Recorded before it exists: a process killed during the import still has
  // the rollback delete what it left.
  j.set_step(i, StepState::Running, {{"created", "yes"}});
  VolumeSpec spec;
  spec.name = volume;
  spec.pool = pool;
  spec.format = step_data(s, "format");
  spec.capacity_bytes = capacity;
  try {
    dst_.storage().import_disk(spec, import_file(run, id), run.progress(), run.cancel());
  } catch (const Error& e) {
    if (e.code() == ErrorCode::AlreadyExists)
      j.set_step(i, StepState::Running, {{"created", "no"}});
    throw;
  }
}

void CrossSteps::define(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const PortableVm vm = described(run);
  const MigrationOptions o = options_of(j);
  const std::string pool = j.param("target_pool");
  if (run.prior_state() == StepState::Running || run.prior_state() == StepState::Done) {
    // Ours from an interrupted attempt (no VM of the name was there at the
    // check): removed, then created again.
    try {
      const VmInfo left = dst_.vms().get(VmRef(vm.name));
      DeleteOptions keep;
      dst_.vms().remove(VmRef(left.id), keep);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;
    }
  }
  PortableVm mapped = vm;
  for (auto& nic : mapped.nics) {
    nic.network = mapped_network(o.network_map, nic.network);
    if (o.new_mac) nic.mac.clear();
  }
  PortableCreate how;
  how.disk_bus = o.disk_bus;
  how.new_mac = o.new_mac;
  for (const auto& d : vm.disks)
    how.disks.push_back(dst_.storage().get_volume(pool, data(run, kImport + d.id, "volume")));
  run.report(kDefine);
  const VmInfo made = dst_.vms().create_from(mapped, how);
  j.set_step(i, StepState::Done, {{"target_id", made.id}});
}

void CrossSteps::verify(OfflineRun& run, std::size_t i) {
  Journal& j = run.journal();
  const JournalStep s = j.steps()[i];
  const std::string id = disk_of(s.name);
  const std::string pool = j.param("target_pool");
  const std::string volume = data(run, kImport + id, "volume");
  const std::string format = import_format(run, id);
  const auto imp = *j.find_step(kImport + id);
  const PortableVm vm = described(run);
  std::uint64_t capacity = 0;
  for (const auto& d : vm.disks)
    if (d.id == id) capacity = d.capacity_bytes;
  auto mismatch = [&](const std::string& what) {
    j.set_step(i, StepState::Failed);
    j.set_step(imp, StepState::Failed);  // a resume imports it again
    throw Error(ErrorCode::BackendFailure,
                "the copy of disk " + id + " on the target differs from what was imported (" +
                    what + "); the source was left alone",
                kOp);
  };
  const Volume there = dst_.storage().get_volume(pool, volume);
  if (there.capacity_bytes != capacity)
    mismatch("capacity " + std::to_string(there.capacity_bytes) + " instead of " +
             std::to_string(capacity));
  const std::string back = step_data(s, "file");
  remove_file(back);
  run.report(s.name, 0, capacity);
  const std::string got =
      dst_.storage().export_disk(pool, volume, back, run.progress(), run.cancel());
  const std::string sent = import_file(run, id);
  std::string why;
  bool same = false;
  if (qemu_img::available(why) && qemu_img::known_format(got)) {
    same = qemu_img::same_content(sent, format, back, got, run.cancel(), kOp);
  } else {
    same =
        got == format && sha256_of_file(sent, run.cancel()) == sha256_of_file(back, run.cancel());
  }
  remove_file(back);
  if (!same) mismatch("its content is not the same");
}

void CrossSteps::run_step(OfflineRun& run, std::size_t i) {
  const std::string name = run.journal().steps()[i].name;
  if (name == kShutdown) {
    run.report("shutdown");
    ShutdownOptions o;
    o.timeout = std::chrono::seconds(120);
    src_.vms().shutdown(VmRef(run.checked("source_id")), o, run.progress(), run.cancel());
  } else if (name.rfind(kExport, 0) == 0) {
    export_disk(run, i);
  } else if (name.rfind(kConvert, 0) == 0) {
    convert(run, i);
  } else if (name.rfind(kImport, 0) == 0) {
    import(run, i);
  } else if (name == kDefine) {
    define(run, i);
  } else if (name.rfind(kVerify, 0) == 0) {
    verify(run, i);
  } else if (name == kOfflineRemoveStep) {
    run.report(kOfflineRemoveStep);
    DeleteOptions o;
    o.with_storage = true;
    const DeleteReport r = src_.vms().remove(VmRef(run.checked("source_id")), o);
    for (const auto& k : r.kept)
      run.report("warning: disk " + k.disk + " stays on the source: " + k.reason);
  } else if (name == kCleanup) {
    std::error_code ec;
    std::filesystem::remove_all(work(run), ec);
  } else {
    throw Error(ErrorCode::InvalidArgument,
                "journal " + run.journal().id() + " is damaged: unknown step '" + name + "'", kOp);
  }
}

void CrossSteps::undo_step(OfflineRun& run, std::size_t i) {
  const JournalStep s = run.journal().steps()[i];
  if (s.name.rfind(kImport, 0) == 0) {
    if (step_data(s, "created") != "yes") return;
    try {
      dst_.storage().remove_volume(run.journal().param("target_pool"), step_data(s, "volume"));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;
    }
  } else if (s.name == kDefine) {
    std::string target = step_data(s, "target_id");
    if (target.empty()) target = step_data(s, "name");
    try {
      const VmInfo there = dst_.vms().get(VmRef(target));
      if (there.state != VmState::Off)
        throw Error(ErrorCode::Conflict,
                    "VM " + q(there.name) + " is " + std::string(to_string(there.state)) +
                        " on the target; stop it there before rolling back",
                    kOp);
      // With its storage: the disks are the volumes this migration
      // imported (the import steps' undo finds them gone), and on vSphere
      // the VM's own folder goes too.
      DeleteOptions o;
      o.with_storage = true;
      dst_.vms().remove(VmRef(there.id), o);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;
    }
  } else if (s.name.rfind(kExport, 0) == 0 || s.name.rfind(kConvert, 0) == 0 ||
             s.name.rfind(kVerify, 0) == 0) {
    remove_file(step_data(s, "file"));
    ::rmdir(run.checked("work").c_str());  // once empty
  } else if (s.name == kShutdown && s.state == StepState::Done) {
    // The source as it was: running again.
    const VmInfo now = src_.vms().get(VmRef(run.checked("source_id")));
    if (now.state == VmState::Off) src_.vms().start(VmRef(now.id));
  }
}

VmInfo CrossSteps::result(OfflineRun& run) {
  return dst_.vms().get(VmRef(step_data(run.step(kDefine), "target_id")));
}

OfflineStart start_of(Connection& src, Connection& dst, const VmRef& vm,
                      const MigrationOptions& o) {
  OfflineStart s;
  s.source_uri = src.uri().raw;
  s.target_uri = dst.uri().raw;
  s.vm = vm;
  s.shutdown_first = o.shutdown_first;
  s.remove_source = o.remove_source;
  s.params["target_pool"] = o.target_pool.empty() ? "default" : o.target_pool;
  s.params["new_mac"] = o.new_mac ? "yes" : "no";
  s.params["disk_bus"] = o.disk_bus;
  s.params["network_map"] = json(o.network_map).dump();
  return s;
}

void refuse_wsl(const Connection& src, const Connection& dst) {
  for (const Connection* c : {&src, &dst})
    if (c->backend_name() == "wsl")
      throw Error(ErrorCode::Unsupported,
                  "a WSL distribution moves only between WSL hosts: it is not a VM image (no "
                  "firmware or disks a hypervisor boots)",
                  kOp);
}

}  // namespace

// ------------------------------------------------------------- entry points

bool crosses_families(const Connection& source, const Connection& target) {
  return source.backend_name() != target.backend_name();
}

PreflightReport migration_preflight(Connection& source, Connection& target, const VmRef& vm,
                                    const MigrationOptions& options) {
  if (!crosses_families(source, target)) return source.migration().preflight(vm, target, options);
  PreflightReport r;
  if (options.mode == MigrationMode::Live) {
    r.items.push_back({"mode", CheckLevel::Blocker,
                       "a VM moves between families (" + source.backend_name() + " -> " +
                           target.backend_name() + ") offline only",
                       "add --offline"});
    return r;
  }
  refuse_wsl(source, target);
  const std::string work = Journal::folder() + "/preflight.work";
  const Plan p = make_plan(source, target, vm, options, work);
  for (const auto& f : p.findings) r.items.push_back(f.item);
  return r;
}

VmInfo migrate(Connection& source, Connection& target, const VmRef& vm,
               const MigrationOptions& options, const ProgressFn& progress,
               const CancelToken& cancel) {
  if (!crosses_families(source, target))
    return source.migration().migrate(vm, target, options, progress, cancel);
  if (options.mode == MigrationMode::Live)
    throw Error(ErrorCode::InvalidArgument,
                "a VM moves between families (" + source.backend_name() + " -> " +
                    target.backend_name() + ") offline only: add --offline",
                kOp);
  refuse_wsl(source, target);
  CrossSteps steps(source, target);
  return run_offline_migration(steps, start_of(source, target, vm, options), progress, cancel, kOp);
}

VmInfo resume_migration(Connection& source, Connection& target, const std::string& journal_id,
                        const ProgressFn& progress, const CancelToken& cancel) {
  if (Journal::load(journal_id).kind() != kCrossJournalKind)
    return source.migration().resume(journal_id, target, progress, cancel);
  CrossSteps steps(source, target);
  return resume_offline_migration(steps, journal_id, source.uri().raw, target.uri().raw, progress,
                                  cancel, kOp);
}

void rollback_migration(Connection& source, Connection& target, const std::string& journal_id) {
  if (Journal::load(journal_id).kind() != kCrossJournalKind)
    return source.migration().rollback(journal_id, target);
  CrossSteps steps(source, target);
  rollback_offline_migration(steps, journal_id, source.uri().raw, target.uri().raw, kOp);
}

}  // namespace hyperctl
