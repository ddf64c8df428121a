// Migration of Hyper-V VMs to another Hyper-V host (another HypervConnection;
// anything else is Error(Unsupported) naming its backend).
//
// Live (MigrationMode::Live): Compare-VM, then Move-VM -DestinationHost
// <target's host name> on the source, with -IncludeStorage when
// options.copy_storage and -DestinationStoragePath options.target_pool when
// set (for -IncludeStorage, target_pool is the destination storage path, a
// folder on the target, not a pool name). Progress phases "check", "move".
// Hyper-V moves the VM whole or not at all: a failed, timed-out
// (options.timeout) or cancelled move kills PowerShell (over ssh the session
// ends, which ends Move-VM), Hyper-V cancels the move and the VM stays on the
// source; the error says whether the source still lists it (looked up again).
//
// Offline (MigrationMode::Offline), journalled (kind "migrate-offline-hyperv")
// like the WSL and libvirt offline migrations:
//   check             the VM is Off (or Running with shutdown_first);
//                     options.target_pool names an export folder both hosts
//                     reach (e.g. \\server\share), required
//   shutdown source   only with shutdown_first and a running VM (Stop-VM)
//   export            Export-VM -Path <target_pool>, which writes
//                     <target_pool>\<VM name> (and refuses one already there)
//   import on target  Compare-VM -Copy -GenerateNewId + Import-VM, disks into
//                     <target VirtualHardDiskPath>\<VM name> (the Id when the
//                     name cannot be a folder name), configuration into the
//                     target's VirtualMachinePath; the new Id is journalled
//   verify            the target lists the new VM with as many disks as the
//                     source, of the same sizes (Get-VHD on both hosts)
//   remove source     only with remove_source, only after verify
//   cleanup           <target_pool>\<VM name> removed (migrate.cleanup); a
//                     failure there is a progress warning, not a failure
// resume completes the steps not done; rollback deletes only the VM this
// journal imported (by its new Id, with its disks), removes the export
// folder and starts the source again when the migration shut it down; the
// source is otherwise untouched. Once the source is (partly) removed, a
// rollback is refused (Conflict): the target holds the only copy.
#pragma once

#include <string>

// powershell.hpp (through connection.hpp) names ErrorCode.
#include "hyperctl/error.hpp"

#include "connection.hpp"
#include "hyperctl/connection.hpp"

namespace hyperctl::hyperv {

inline constexpr const char* kMigrationJournalKind = "migrate-offline-hyperv";

class HypervMigrationOps : public MigrationOps {
 public:
  explicit HypervMigrationOps(HypervConnection& c);

  /// Items: compatibility (live: each Compare-VM incompatibility a blocker
  /// with a fix), source-state and export-folder (offline), name-clash (the
  /// same Id on the target: a blocker for a live move; the same name: a
  /// warning), network (each NIC's switch on the target), memory (the
  /// target's free memory against the VM's), cpu-vendor.
  PreflightReport preflight(const VmRef& vm, Connection& target,
                            const MigrationOptions& options) override;
  VmInfo migrate(const VmRef& vm, Connection& target, const MigrationOptions& options,
                 const ProgressFn& progress, const CancelToken& cancel) override;
  /// InvalidArgument, naming both, when the journal's URIs are not this
  /// connection's and `target`'s.
  VmInfo resume(const std::string& journal_id, Connection& target, const ProgressFn& progress,
                const CancelToken& cancel) override;
  void rollback(const std::string& journal_id, Connection& target) override;

 private:
  HypervConnection& c_;
  VmInfo migrate_live(const VmRef& vm, HypervConnection& dst, const MigrationOptions& options,
                      const ProgressFn& progress, const CancelToken& cancel);
};

}  // namespace hyperctl::hyperv
