// Offline migration of a WSL distribution to another machine (wsl://user@host/)
// or another folder of this one (wsl:///?location=DIR): export -> copy ->
// import -> verify -> only then, if asked, unregister the source.
//
// The export streams `wsl.exe --export NAME - --format vhd|tar` into an
// archive in the journal folder (hashed with SHA-256 on the way), the import
// streams that archive into `wsl.exe --import NAME <location>/NAME -` on the
// target, and the verification exports the target's copy again and compares
// size and SHA-256. Every step is recorded in a hyperctl::Journal (kind
// "migrate-offline-wsl") before and after it runs, with the same resume and
// rollback rules as the libvirt offline migration: resume completes the
// steps not done; rollback undoes only what the journal says this migration
// did on the target; the source is not changed before the target is verified
// (apart from the `--terminate` that --shutdown asks for).
//
// One exception, only with remove_source: a move to another folder of the
// same machine keeps the name, which clashes with the source while it is
// registered. Then the order is export -> check the archive -> unregister the
// source -> import -> verify, and the kept archive is the safety net: a
// rollback re-imports the source from it into its old folder.
#pragma once

#include <string>

#include "connection.hpp"
#include "hyperctl/connection.hpp"

namespace hyperctl::wsl {

inline constexpr const char* kMigrationJournalKind = "migrate-offline-wsl";

/// Offline only: Live is Error(Unsupported). The target must be a WSL
/// connection (else Unsupported naming its backend) whose URI has
/// ?location=. Errors after the journal exists carry its id in the message
/// and as "journal: ID" in Error::detail().
class WslMigrationOps : public MigrationOps {
 public:
  explicit WslMigrationOps(WslConnection& c);

  /// Items: source-state, location, name-clash, wsl-version (and mode, a
  /// blocker, when asked for a live migration).
  PreflightReport preflight(const VmRef& vm, Connection& target,
                            const MigrationOptions& options) override;
  VmInfo migrate(const VmRef& vm, Connection& target, const MigrationOptions& options,
                 const ProgressFn& progress, const CancelToken& cancel) override;
  /// InvalidArgument, naming both, when the journal's URIs are not this
  /// connection's and `target`'s.
  VmInfo resume(const std::string& journal_id, Connection& target, const ProgressFn& progress,
                const CancelToken& cancel) override;
  /// Unregisters the target's distribution only when this migration imported
  /// it (and, where the registry can be read, it is still the one imported),
  /// deletes the archive and removes the journal. Conflict once the source
  /// was unregistered on another machine: the target is then the only copy.
  /// On one machine a source unregistered by the move is imported again from
  /// the archive into its old folder (with a new registry GUID).
  void rollback(const std::string& journal_id, Connection& target) override;

 private:
  WslConnection& c_;
};

}  // namespace hyperctl::wsl
