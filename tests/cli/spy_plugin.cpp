// A recording backend for the CLI tests (scheme spy://): it answers from a
// small in-memory host and appends one line per call that changes something
// to the file $HYPERCTL_SPY_LOG, so that a test can check what the CLI asked
// of the backend (which options, in which order, and what it never called).
// It also produces what the libvirt test driver cannot: a start that fails,
// a delete report with kept disks, a clone that waits for its cancel token.
//
// The host: VMs off1 (off; disks pool/off1.qcow2 and pool/shared.qcow2, the
// second "used by VM 'run1'") and run1 (running). Pool "pool" with volumes
// data.qcow2 (100 MiB, 10 MiB of data), existing.qcow2, shared.qcow2,
// off1.qcow2, slow.qcow2 (clone and upload wait for cancel) and stubborn.qcow2
// (its clone goes on for 2 s after the cancel, then completes). A VM created
// with a name starting "nostart" cannot be started.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"
#include "hyperctl/rules.hpp"

namespace {

using namespace hyperctl;

void record(const std::string& line) {
  const char* file = std::getenv("HYPERCTL_SPY_LOG");
  if (file == nullptr) return;
  if (FILE* f = std::fopen(file, "a")) {
    std::fputs((line + "\n").c_str(), f);
    std::fclose(f);
  }
}

std::string flag(const char* name, bool value) {
  return std::string(" ") + name + "=" + (value ? "1" : "0");
}

struct Host {
  std::vector<VmInfo> vms;
  std::vector<Volume> volumes;

  Host() {
    for (const char* name : {"data.qcow2", "existing.qcow2", "shared.qcow2", "off1.qcow2",
                             "slow.qcow2", "stubborn.qcow2"})
      add_volume(name, 100ull << 20);
    volumes[0].allocation_bytes = 10ull << 20;
    vms.push_back(vm("off1", VmState::Off, {"/spy/pool/off1.qcow2", "/spy/pool/shared.qcow2"}));
    vms.push_back(vm("run1", VmState::Running, {"/spy/pool/shared.qcow2"}));
  }

  static VmInfo vm(const std::string& name, VmState state, const std::vector<std::string>& disks) {
    VmInfo v;
    v.name = name;
    v.id = "spy-" + name;
    v.state = state;
    v.vcpus = 1;
    v.memory_bytes = 512ull << 20;
    v.backend = "spy";
    for (const auto& d : disks) {
      DiskInfo disk;
      disk.target = "vd" + std::string(1, static_cast<char>('a' + v.disks.size()));
      disk.path = d;
      disk.device = "disk";
      v.disks.push_back(disk);
    }
    return v;
  }

  Volume& add_volume(const std::string& name, std::uint64_t capacity) {
    Volume v;
    v.name = name;
    v.pool = "pool";
    v.path = "/spy/pool/" + name;
    v.format = "qcow2";
    v.capacity_bytes = capacity;
    volumes.push_back(v);
    return volumes.back();
  }

  VmInfo& find_vm(const VmRef& ref, const char* op) {
    for (auto& v : vms)
      if (v.name == ref.value || v.id == ref.value) return v;
    throw Error(ErrorCode::NotFound, "VM '" + ref.value + "' not found", op);
  }

  Volume& find_volume(const std::string& pool, const std::string& name, const char* op) {
    for (auto& v : volumes)
      if (v.pool == pool && v.name == name) return v;
    throw Error(ErrorCode::NotFound, "volume '" + pool + "/" + name + "' not found", op);
  }

  void erase_volume_at(const std::string& path) {
    for (auto it = volumes.begin(); it != volumes.end(); ++it)
      if (it->path == path) {
        volumes.erase(it);
        return;
      }
  }
};

/// Waits up to 30 s for `cancel`, reporting progress; Cancelled when it comes.
void wait_for_cancel(const ProgressFn& progress, const CancelToken& cancel, const char* op,
                     const std::string& what) {
  for (int i = 0; i < 600; ++i) {
    if (cancel.cancelled()) {
      record(std::string(op) + " cancelled");
      throw Error(ErrorCode::Cancelled, what + " cancelled; nothing was left behind", op);
    }
    if (progress) progress(Progress{"copy", static_cast<std::uint64_t>(i), 600, "bytes", {}});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

class SpyVms : public VmOps {
 public:
  explicit SpyVms(Host& h) : VmOps("spy"), h_(h) {}

  std::vector<VmInfo> list(const VmFilter&) override { return h_.vms; }
  VmInfo get(const VmRef& ref) override { return h_.find_vm(ref, "vm.get"); }

  VmInfo create(const VmSpec& spec) override {
    std::string line = "vm.create " + spec.name;
    VmInfo v = Host::vm(spec.name, VmState::Off, {});
    for (const auto& d : spec.disks) {
      DiskInfo disk;
      disk.device = d.device;
      disk.target = "vd" + std::string(1, static_cast<char>('a' + v.disks.size()));
      if (!d.volume.empty()) {
        disk.path = h_.find_volume(d.pool, d.volume, "vm.create").path;
        line += " vol:" + d.pool + "/" + d.volume;
      } else if (!d.path.empty()) {
        disk.path = d.path;
        line += " path:" + d.path;
      } else {
        const std::string name = spec.name + "-" + disk.target + ".qcow2";
        disk.path = h_.add_volume(name, d.size_bytes).path;
        line += " new:pool/" + name;
      }
      v.disks.push_back(disk);
    }
    record(line);
    h_.vms.push_back(v);
    return v;
  }

  void start(const VmRef& ref) override {
    VmInfo& v = h_.find_vm(ref, "vm.start");
    record("vm.start " + v.name);
    if (v.name.rfind("nostart", 0) == 0)
      throw Error(ErrorCode::BackendFailure, "not enough free memory on the host", "vm.start");
    if (v.state == VmState::Running)
      throw Error(ErrorCode::Conflict, "VM '" + v.name + "' is already running", "vm.start");
    v.state = VmState::Running;
  }

  ShutdownOutcome shutdown(const VmRef& ref, const ShutdownOptions&, const ProgressFn&,
                           const CancelToken&) override {
    VmInfo& v = h_.find_vm(ref, "vm.shutdown");
    record("vm.shutdown " + v.name);
    if (v.state == VmState::Off) return ShutdownOutcome::AlreadyOff;
    v.state = VmState::Off;
    return ShutdownOutcome::Stopped;
  }

  DeleteReport remove(const VmRef& ref, const DeleteOptions& o) override {
    const VmInfo v = h_.find_vm(ref, "vm.delete");
    std::string line = "vm.delete " + v.name + flag("with_storage", o.with_storage) +
                       flag("snapshots", o.snapshots) + flag("force", o.force);
    DeleteReport report;
    if (o.with_storage) {
      for (const auto& d : v.disks) {
        if (d.device != "disk") continue;
        if (d.path == "/spy/pool/shared.qcow2") {
          report.kept.push_back({d.path, "used by VM 'run1'"});
          continue;
        }
        h_.erase_volume_at(d.path);
        report.deleted.push_back(d.path);
        line += " deleted:" + d.path;
      }
    }
    record(line);
    for (auto it = h_.vms.begin(); it != h_.vms.end(); ++it)
      if (it->name == v.name) {
        h_.vms.erase(it);
        break;
      }
    return report;
  }

  VmInfo set_resources(const VmRef& ref, const ResourceSettings& s) override {
    VmInfo& v = h_.find_vm(ref, "vm.set");
    record("vm.set " + v.name + (s.vcpus ? " vcpus=" + std::to_string(*s.vcpus) : "") +
           flag("live", s.live));
    if (s.vcpus) v.vcpus = *s.vcpus;
    if (s.memory_bytes) v.memory_bytes = *s.memory_bytes;
    return v;
  }

 private:
  Host& h_;
};

class SpyStorage : public StorageOps {
 public:
  explicit SpyStorage(Host& h) : StorageOps("spy"), h_(h) {}
  void set_secret(SecretProvider secret) { secret_ = std::move(secret); }

  std::vector<Pool> list_pools() override {
    Pool p;
    p.name = "pool";
    p.path = "/spy/pool";
    p.active = true;
    return {p};
  }
  std::vector<Volume> list_volumes(const std::string& pool) override {
    std::vector<Volume> out;
    for (const auto& v : h_.volumes)
      if (v.pool == pool) out.push_back(v);
    return out;
  }
  Volume get_volume(const std::string& pool, const std::string& name) override {
    return h_.find_volume(pool, name, "volume.info");
  }
  void remove_volume(const std::string& pool, const std::string& name) override {
    const std::string path = h_.find_volume(pool, name, "volume.delete").path;
    record("volume.delete " + pool + "/" + name);
    h_.erase_volume_at(path);
  }
  Volume resize_volume(const std::string& pool, const std::string& name, std::uint64_t bytes,
                       const ResizeOptions& o) override {
    Volume& v = h_.find_volume(pool, name, "volume.resize");
    record("volume.resize " + pool + "/" + name + " bytes=" + std::to_string(bytes) +
           flag("shrink", o.shrink) + flag("force", o.force));
    check_resize(pool + "/" + name, v.capacity_bytes, bytes, v.allocation_bytes, o,
                 "volume.resize");
    v.capacity_bytes = bytes;
    return v;
  }
  Volume clone_volume(const std::string& pool, const std::string& name, const VolumeSpec& target,
                      const ProgressFn& progress, const CancelToken& cancel) override {
    const Volume source = h_.find_volume(pool, name, "volume.clone");
    record("volume.clone " + pool + "/" + name + " " + target.pool + "/" + target.name);
    if (name == "slow.qcow2")
      wait_for_cancel(progress, cancel, "volume.clone",
                      "clone of volume '" + pool + "/" + name + "'");
    if (name == "stubborn.qcow2") {
      // A copy that cannot be interrupted: it notices the cancel, goes on
      // for 2 s more, then completes.
      while (!cancel.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      record("volume.clone cancel ignored");
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    return h_.add_volume(target.name, source.capacity_bytes);
  }
  void upload_volume(const std::string& pool, const std::string& name, const std::string&,
                     const TransferOptions&, const ProgressFn& progress,
                     const CancelToken& cancel) override {
    record("volume.upload " + pool + "/" + name);
    if (name == "asks.qcow2" && secret_) {
      // As a vSphere session that expired mid-transfer logs in again: the
      // password is asked for while the command's Ctrl-C handler is in place.
      record("volume.upload asks for the password");
      (void)secret_("password for spy");
    }
    wait_for_cancel(progress, cancel, "volume.upload",
                    "upload to volume '" + pool + "/" + name + "'");
  }

 private:
  Host& h_;
  SecretProvider secret_;
};

class SpyConnection : public Connection {
 public:
  SpyConnection(Uri uri, SecretProvider secret) : Connection("spy"), uri_(std::move(uri)) {
    storage_.set_secret(std::move(secret));
  }
  const Uri& uri() const override { return uri_; }
  VmOps& vms() override { return vms_; }
  StorageOps& storage() override { return storage_; }

 private:
  Uri uri_;
  Host host_;
  SpyVms vms_{host_};
  SpyStorage storage_{host_};
};

class SpyBackend : public Backend {
 public:
  std::string name() const override { return "spy"; }
  std::string description() const override { return "recording backend of the CLI tests"; }
  std::vector<std::string> schemes() const override { return {"spy"}; }
  Capabilities capabilities() const override {
    // No VmSetProperty: `set --property` must be refused before anything.
    return {Operation::VmList,
            Operation::VmGet,
            Operation::VmCreate,
            Operation::VmStart,
            Operation::VmShutdown,
            Operation::VmDelete,
            Operation::VmDeleteWithStorage,
            Operation::VmSetResources,
            Operation::PoolList,
            Operation::VolumeList,
            Operation::VolumeInfo,
            Operation::VolumeDelete,
            Operation::VolumeResize,
            Operation::VolumeClone,
            Operation::VolumeUpload};
  }
  std::unique_ptr<Connection> connect(const Uri& uri, const ConnectOptions& options) override {
    return std::make_unique<SpyConnection>(uri, options.secret);
  }
};

std::unique_ptr<Backend> make_spy() {
  return std::make_unique<SpyBackend>();
}

}  // namespace

HYPERCTL_PLUGIN(make_spy)
