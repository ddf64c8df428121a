// Migration as the CLI (and any program) asks for it: one entry point that
// decides what kind of move it is. Within one family the backend migrates
// (live, or its own offline migration); between families (libvirt <->
// vSphere <-> Hyper-V) the core's engine moves the VM offline: it describes
// the VM in the portable form, exports each disk, converts it with qemu-img
// to what the target takes, imports it, creates the VM there with devices
// the guest already has drivers for, verifies each disk, and only then, if
// asked, removes the source. Every step is journalled (hyperctl/offline.hpp).
#pragma once

#include <string>

#include "hyperctl/connection.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {

/// The journal kind of a migration between families.
inline constexpr const char* kCrossJournalKind = "migrate-cross";

/// Whether a move from `source` to `target` crosses families (their
/// backends differ).
bool crosses_families(const Connection& source, const Connection& target);

/// The preflight report (migrate --check) for the move options.mode asks
/// for; between families every blocker the migration itself would refuse.
PreflightReport migration_preflight(Connection& source, Connection& target, const VmRef& vm,
                                    const MigrationOptions& options);

/// Moves the VM. Between families only offline (options.mode Offline; Live
/// is InvalidArgument with the fix). Errors of an interrupted offline
/// migration carry its journal id (rethrow_with_journal).
VmInfo migrate(Connection& source, Connection& target, const VmRef& vm,
               const MigrationOptions& options, const ProgressFn& progress,
               const CancelToken& cancel);

/// Completes / undoes the interrupted offline migration `journal_id`, of
/// whichever kind (the journal says).
VmInfo resume_migration(Connection& source, Connection& target, const std::string& journal_id,
                        const ProgressFn& progress, const CancelToken& cancel);
void rollback_migration(Connection& source, Connection& target, const std::string& journal_id);

}  // namespace hyperctl
