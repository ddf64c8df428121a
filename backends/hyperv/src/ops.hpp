// The operation groups of a Hyper-V connection, and what they share.
#pragma once
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <map>
#include <new>
#include <string>
#include <vector>

#include "connection.hpp"
#include "hyperctl/capabilities.hpp"

namespace hyperctl::hyperv {

class HypervVmOps final : public VmOps {
 public:
  explicit HypervVmOps(HypervConnection& c) : VmOps(kBackendName), c_(c) {}

  std::vector<VmInfo> list(const VmFilter& filter) override;
  VmInfo get(const VmRef& vm) override;
  VmInfo create(const VmSpec& spec) override;
  void start(const VmRef& vm) override;
  ShutdownOutcome shutdown(const VmRef& vm, const ShutdownOptions& options,
                           const ProgressFn& progress, const CancelToken& cancel) override;
  void power_off(const VmRef& vm) override;
  void reboot(const VmRef& vm) override;
  void reset(const VmRef& vm) override;
  void suspend(const VmRef& vm) override;
  void resume(const VmRef& vm) override;
  void save(const VmRef& vm) override;
  DeleteReport remove(const VmRef& vm, const DeleteOptions& options) override;
  VmInfo set_resources(const VmRef& vm, const ResourceSettings& settings) override;
  std::string export_config(const VmRef& vm) override;

 private:
  HypervConnection& c_;
  /// Resolves `vm`, checks its state is one of `allowed` (else Conflict
  /// naming it and its state) and runs `op` on its Id.
  VmInfo transition(const VmRef& vm, const std::string& op, std::initializer_list<VmState> allowed,
                    const std::string& needs);
};

class HypervSnapshotOps final : public SnapshotOps {
 public:
  explicit HypervSnapshotOps(HypervConnection& c) : SnapshotOps(kBackendName), c_(c) {}

  std::vector<Snapshot> list(const VmRef& vm) override;
  Snapshot create(const VmRef& vm, const SnapshotSpec& spec) override;
  void revert(const VmRef& vm, const std::string& snapshot) override;
  void remove(const VmRef& vm, const std::string& snapshot, bool with_children) override;

 private:
  HypervConnection& c_;
};

class HypervNetworkOps final : public NetworkOps {
 public:
  explicit HypervNetworkOps(HypervConnection& c) : NetworkOps(kBackendName), c_(c) {}

  std::vector<Network> list() override;
  Network get(const std::string& name) override;

 private:
  HypervConnection& c_;
};

class HypervHostOps final : public HostOps {
 public:
  explicit HypervHostOps(HypervConnection& c) : HostOps(kBackendName), c_(c) {}
  HostInfo info() override;

 private:
  HypervConnection& c_;
};

/// HostInfo from a host.info record (also used by connect()).
HostInfo host_info_of(const nlohmann::json& host);

// The readers of the other records of PowerShell's answers (each beside the
// operations that use it; declared here for fuzz/hyperv_json.cpp too).
/// A Network from a Get-VMSwitch record.
Network network_of(const nlohmann::json& vm_switch);
/// A Snapshot from a Get-VMSnapshot record; `current` names the VM's
/// current checkpoint.
Snapshot snapshot_of(const nlohmann::json& checkpoint, const std::string& current);
/// A Volume from a Get-VHD record in `pool`; `users`: VM names by path_key;
/// `name` empty: the file's stem (its whole name when it has no VHD extension).
Volume volume_of(const nlohmann::json& vhd, const std::string& pool,
                 const std::map<std::string, std::vector<std::string>>& users,
                 const std::string& name = {});
/// vm.delete.ps1's answer: the files it deleted, and those it kept with the
/// VMs that stand on them (their disks, or differencing disks on them).
DeleteReport delete_report(const nlohmann::json& answer);

/// The storage operations that work (defined in storage_ops.cpp) and the
/// migration operations that work (migration.cpp): the backend's
/// Capabilities are the core's plus these.
Capabilities storage_capabilities();
Capabilities migration_capabilities();

/// PowerShell's standard error as text: CLIXML (`#< CLIXML`, then <Objs>)
/// reduced to its <S S="Error"> strings with their _xHHHH_ escapes and
/// XML entities decoded; plain text as it is. Trimmed.
std::string decode_stderr(const std::string& err);

/// `name` in single quotes, through escape::terminal_text, for messages.
std::string quoted(const std::string& name);
/// (For a non-const string: std::quoted, found by argument-dependent look-up,
/// would otherwise be the better match.)
inline std::string quoted(std::string& name) {
  return quoted(static_cast<const std::string&>(name));
}

/// A GUID for comparison: braces dropped, lower-case; "" when `text` is no GUID.
std::string guid_key(const std::string& text);

/// Runs `f`, turning any foreign exception into an Error so that nothing
/// untranslated leaves the plugin.
template <class F>
decltype(auto) guarded(const std::string& op, F&& f) {
  return guard_foreign("the hyperv backend", op, std::forward<F>(f));
}

}  // namespace hyperctl::hyperv
