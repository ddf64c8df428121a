// Value types shared by every backend. Units are in the field names or the
// comments: memory and sizes in bytes, times in milliseconds unless said.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hyperctl {

/// The state of a VM, the same on every backend. Each backend maps its
/// native states into these in one table.
enum class VmState {
  Running,
  Paused,     ///< vCPUs stopped, memory kept in RAM
  Suspended,  ///< memory saved to disk (libvirt managed save, Hyper-V Saved, vSphere suspended)
  Off,        ///< shut off / stopped / powered off
  Crashed,
  Transitional,  ///< starting, stopping, saving, migrating...
  Unknown,
};

std::string_view to_string(VmState state);
/// Parses the names produced by to_string(VmState); nullopt otherwise.
std::optional<VmState> parse_vm_state(std::string_view text);

/// A VM named by its name or by its stable id (UUID, moref, GUID...). The
/// backend decides which one matches: an exact id match wins over a name.
struct VmRef {
  std::string value;
  VmRef() = default;
  VmRef(std::string v) : value(std::move(v)) {}  // NOLINT: implicit by design
  VmRef(const char* v) : value(v) {}             // NOLINT
};

struct DiskInfo {
  std::string target;                  ///< device name inside the VM (vda, sda, scsi0:0...)
  std::string path;                    ///< file, volume or datastore path on the host
  std::string format;                  ///< qcow2, raw, vmdk, vhdx... ; empty when unknown
  std::string device;                  ///< disk, cdrom, floppy
  std::uint64_t capacity_bytes = 0;    ///< 0 when unknown
  std::uint64_t allocation_bytes = 0;  ///< 0 when unknown
};

struct NicInfo {
  std::string mac;
  std::string network;  ///< network, bridge, port group or switch name
  std::string model;
};

struct VmInfo {
  std::string id;  ///< stable id: libvirt UUID, vSphere instance UUID, Hyper-V GUID
  std::string name;
  VmState state = VmState::Unknown;
  std::string state_reason;  ///< backend's own word for the state, for display
  unsigned vcpus = 0;
  std::uint64_t memory_bytes = 0;      ///< current (or configured) memory
  std::uint64_t max_memory_bytes = 0;  ///< maximum memory, 0 when not known
  std::vector<DiskInfo> disks;
  std::vector<NicInfo> nics;
  std::string host;     ///< host name of the hypervisor running it
  std::string backend;  ///< plugin name, e.g. "libvirt"
  std::string guest_os;
  bool persistent = true;  ///< defined (survives power off)
  std::optional<bool> autostart;
  std::map<std::string, std::string> extras;  ///< backend-specific facts
  /// The VM's disk space when a view leaves `disks` out to stay light (the
  /// vSphere list: provisioned space, committed + uncommitted, as vCenter
  /// shows it). Empty: the sum of the capacities of `disks` (not CD-ROMs);
  /// disk_bytes_of() gives either.
  std::optional<std::uint64_t> disk_bytes;
};

/// vm.disk_bytes when set, else the capacities of its disks (not CD-ROMs)
/// added up.
inline std::uint64_t disk_bytes_of(const VmInfo& vm) {
  if (vm.disk_bytes) return *vm.disk_bytes;
  std::uint64_t sum = 0;
  for (const auto& d : vm.disks)
    if (d.device != "cdrom") sum += d.capacity_bytes;
  return sum;
}

/// Which VMs list() returns. Empty fields do not filter.
struct VmFilter {
  std::vector<VmState> states;  ///< any of these; empty = all
  std::string name_glob;        ///< shell-style pattern on the name (*, ?, [..])
};

/// A disk for a new VM, one of: a new volume of `size_bytes` (in `pool`, of
/// `format`); an existing volume `volume` in `pool`; an existing file `path`.
struct DiskSpec {
  std::uint64_t size_bytes = 0;
  std::string path;
  std::string format;           ///< empty: backend default (qcow2 on libvirt)
  std::string pool;             ///< where a new volume goes / the existing one is; empty: default
  std::string volume;           ///< name of an existing volume in `pool`
  std::string device = "disk";  ///< "disk" or "cdrom" (an ISO; the VM boots from it)
};

struct VmSpec {
  std::string name;
  unsigned vcpus = 1;
  std::uint64_t memory_bytes = 512ull << 20;
  std::vector<DiskSpec> disks;
  std::vector<std::string> networks;
  std::string firmware;  ///< "" (backend default), "bios" or "uefi"
  std::string guest_os;  ///< hint ("linux", "windows", a vSphere guest id...)
  std::map<std::string, std::string> extras;
};

/// Options of a graceful shutdown.
struct ShutdownOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  bool force = false;  ///< power off when the guest does not stop in time
};

enum class ShutdownOutcome { Stopped, ForcedOff, AlreadyOff };

struct DeleteOptions {
  bool with_storage = false;  ///< also delete the VM's disk volumes (whole backing chains)
  bool force = false;         ///< power off a running VM first
  /// Also drop the VM's snapshots (checkpoints). Without it a VM that has
  /// snapshots is refused (Conflict) and nothing changes, as virsh refuses
  /// undefine without --snapshots-metadata.
  bool snapshots = false;
};

/// A disk that vm.delete with storage left in place, and why.
struct KeptDisk {
  std::string disk;    ///< the volume or file, as the backend names it
  std::string reason;  ///< one clause: "used by VM 'b'", "not a storage volume", ...
};

/// What vm.delete did to the VM's storage. Both lists are empty without
/// DeleteOptions::with_storage.
struct DeleteReport {
  std::vector<std::string> deleted;  ///< volumes or files deleted
  std::vector<KeptDisk> kept;        ///< disks left in place (another VM uses them, ...)
};

/// New vCPU and memory settings; unset fields are left alone.
struct ResourceSettings {
  std::optional<unsigned> vcpus;
  std::optional<std::uint64_t> memory_bytes;
  bool live = false;  ///< also apply to the running VM, not only its configuration
};

struct Snapshot {
  std::string name;
  std::string description;
  std::string parent;  ///< empty for a root snapshot
  bool current = false;
  bool disk_only = false;  ///< no memory state: reverting boots from the disks
  std::int64_t created_unix = 0;
  VmState vm_state = VmState::Unknown;  ///< state the VM had when taken
};

struct SnapshotSpec {
  std::string name;
  std::string description;
  bool disk_only = false;
};

struct Pool {
  std::string name;
  std::string id;
  std::string type;  ///< dir, netfs, logical, datastore, folder...
  std::string path;
  bool active = false;
  std::optional<bool> autostart;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t allocation_bytes = 0;
  std::uint64_t available_bytes = 0;
};

struct Volume {
  std::string name;
  std::string pool;
  std::string path;
  std::string key;   ///< backend's unique key (libvirt: usually the path)
  std::string type;  ///< file, block, dir, network...
  std::string format;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t allocation_bytes = 0;
  std::vector<std::string> used_by;  ///< VM names
};

/// How resize_volume may change a capacity.
struct ResizeOptions {
  /// Allow a smaller capacity (the data past the new end is lost). Without
  /// it a shrink is refused (Conflict) and nothing changes.
  bool shrink = false;
  /// With `shrink`: also below the data the volume holds (qcow2: its highest
  /// allocated offset). Without it that is refused (Conflict).
  bool force = false;
};

struct VolumeSpec {
  std::string name;
  std::string pool;
  std::string format;  ///< qcow2, raw, vmdk, vhdx; empty: backend default
  std::uint64_t capacity_bytes = 0;
};

/// Options of a volume upload or download.
struct TransferOptions {
  /// Download: replace an existing local file. Upload: replace the content of
  /// an existing volume. Without it, an existing target is refused (Conflict).
  bool overwrite = false;
};

struct Network {
  std::string name;
  std::string id;
  bool active = false;
  std::optional<bool> autostart;
  std::string bridge;
  std::string forward_mode;  ///< nat, route, bridge, private, external...
  std::string address;       ///< host side, CIDR: "192.168.122.1/24"; empty when none
  std::string dhcp_start;
  std::string dhcp_end;
  std::vector<std::string> vms;  ///< VMs with a NIC on it (filled by get(), not list())
};

struct HostInfo {
  std::string hostname;
  std::string hypervisor;          ///< e.g. "QEMU", "ESXi", "Hyper-V"
  std::string hypervisor_version;  ///< dotted
  std::string manager_version;     ///< libvirt / vCenter / PowerShell module version
  std::string cpu_model;
  std::string cpu_vendor;
  std::vector<std::string> cpu_features;  ///< as the hypervisor names them ("vmx", "nx"...)
  std::string arch;
  std::string host_uuid;
  unsigned cpus = 0;  ///< logical CPUs
  unsigned sockets = 0, cores_per_socket = 0, threads_per_core = 0;
  std::vector<std::string> guest_types;  ///< VM types the host can run ("kvm", "qemu"...)
  std::uint64_t memory_total_bytes = 0;
  std::uint64_t memory_free_bytes = 0;
  std::map<std::string, std::string> extras;
};

enum class MigrationMode { Live, Offline };

/// What a live migration does when it stops converging (remaining memory not
/// shrinking across iterations while the guest dirties pages at least as fast
/// as the link carries them).
enum class OnStall {
  Report,        ///< keep going; report the stall through progress
  AutoConverge,  ///< throttle the guest's vCPUs (libvirt auto-converge)
  Postcopy,      ///< switch to post-copy (needs postcopy enabled at start)
  Abort,         ///< cancel; the VM keeps running on the source
};

struct MigrationOptions {
  MigrationMode mode = MigrationMode::Live;
  std::optional<std::uint64_t> bandwidth_mib_s;
  std::optional<std::uint64_t> max_downtime_ms;
  bool auto_converge = false;
  bool postcopy = false;  ///< allow post-copy (switch-over by OnStall or iterations)
  std::optional<unsigned> postcopy_after_iterations;
  bool copy_storage = false;  ///< live: copy non-shared disks along
  bool persist = true;        ///< define the VM on the target
  bool undefine_source = false;
  /// live: let libvirt migrate disks whose cache mode it deems unsafe
  /// (shared storage it cannot recognise); the user vouches for it.
  bool unsafe = false;
  OnStall on_stall = OnStall::Report;
  std::chrono::milliseconds timeout{0};  ///< 0 = none; then aborted, VM stays on the source
  // Offline only:
  bool shutdown_first = false;  ///< shut a running VM down gracefully first
  bool remove_source = false;   ///< delete the source VM and disks once the target is verified
  std::string target_pool;      ///< pool on the target for copied disks; empty: "default"
  // Offline between families:
  /// Source network -> target network; a NIC whose network is not mapped
  /// keeps its name (it must exist on the target).
  std::map<std::string, std::string> network_map;
  bool new_mac = false;  ///< let the target pick MAC addresses
  std::string disk_bus;  ///< empty: the target's choice for a guest from elsewhere
};

enum class CheckLevel { Ok, Warning, Blocker };

struct PreflightItem {
  std::string check;  ///< "cpu-vendor", "name-clash", "network", ...
  CheckLevel level = CheckLevel::Ok;
  std::string message;
  std::string fix;
};

struct PreflightReport {
  std::vector<PreflightItem> items;
  bool ok() const {
    for (const auto& i : items)
      if (i.level == CheckLevel::Blocker) return false;
    return true;
  }
};

/// Progress of a long operation. Fields that do not apply stay 0 / empty.
struct Progress {
  std::string phase;  ///< "shutdown", "memory", "copy disk vda", ...
  std::uint64_t done = 0;
  std::uint64_t total = 0;                        ///< 0 when unknown
  std::string unit;                               ///< "bytes", "ms", ...
  std::map<std::string, std::uint64_t> counters;  ///< dirty rate, iteration, ...
};

using ProgressFn = std::function<void(const Progress&)>;

/// Shared cancellation flag: copies see the same state. Cheap to poll.
class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() noexcept { flag_->store(true); }
  bool cancelled() const noexcept { return flag_->load(); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace hyperctl
