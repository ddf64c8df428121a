// Offline (cold) migration between two libvirt hosts: each disk volume is
// streamed from the source's pool to the target's (virStorageVolDownload ->
// virStorageVolUpload, hashed with SHA-256 on the way), the VM is defined on
// the target with its disks re-pointed, the copies are verified (capacity and
// SHA-256 read back from the target), and only then, when asked, the source
// is removed. Every step is recorded in a hyperctl::Journal (kind
// "migrate-offline") before and after it runs, so that a later process can
// resume or roll back an interrupted migration; the source is never changed
// before the target is verified (apart from the graceful shutdown that
// --shutdown asks for).
#pragma once

#include <string>

#include "hyperctl/types.hpp"
#include "session.hpp"

namespace hyperctl::lv {

inline constexpr const char* kOfflineJournalKind = "migrate-offline";

/// MigrationOps::migrate with options.mode == Offline. `source` and `target`
/// are two connections to two different hosts (the same host is refused).
VmInfo offline_migrate(Session& source, Session& target, const VmRef& vm,
                       const MigrationOptions& options, const ProgressFn& progress,
                       const CancelToken& cancel);

/// MigrationOps::resume: completes the journalled migration `journal_id`.
/// InvalidArgument, naming both, when the journal's URIs are not those of
/// `source` and `target`.
VmInfo offline_resume(Session& source, Session& target, const std::string& journal_id,
                      const ProgressFn& progress, const CancelToken& cancel);

/// MigrationOps::rollback: deletes what the journalled migration created on
/// the target (volumes, the defined VM); the source is left as it is.
/// Conflict once the source has been (partly) removed: the target is then the
/// only copy.
void offline_rollback(Session& source, Session& target, const std::string& journal_id);

}  // namespace hyperctl::lv
