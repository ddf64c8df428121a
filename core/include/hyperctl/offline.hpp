// The offline-migration engine: one sequence for every offline (cold)
// migration, whatever moves the bytes. The core owns the journal, the order
// of the steps, progress and cancellation between them, --resume and
// --rollback, and the rules:
//   - nothing changes before the check has passed (a failed check leaves no
//     journal behind);
//   - each step is recorded Running before it runs and Done after it, so a
//     later process knows where an interrupted migration stopped;
//   - a step that removes the source runs only after every step before it is
//     Done (the target is complete and verified first);
//   - once a step that removes the source has started, rollback is refused
//     (the target may hold the only copy), unless the backend declared that
//     step undoable;
//   - a rollback undoes the steps that started, last first, and leaves the
//     source as it was.
// A backend supplies the steps (OfflineSteps): its check records the plan in
// the journal (data on the check step, then each later step in the order it
// runs), and it runs and undoes one step at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "hyperctl/journal.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {

/// The first step of every offline migration's journal.
inline constexpr const char* kOfflineCheckStep = "check";
/// The usual name of the step that removes the source (StepKind::RemovesSource
/// by default).
inline constexpr const char* kOfflineRemoveStep = "remove source";

/// What the engine hands to each step: the journal, progress, cancellation.
class OfflineRun {
 public:
  OfflineRun(Journal& journal, const ProgressFn& progress, const CancelToken& cancel,
             std::string operation)
      : journal_(journal), progress_(progress), cancel_(cancel), op_(std::move(operation)) {}

  Journal& journal() const { return journal_; }
  const ProgressFn& progress() const { return progress_; }
  const CancelToken& cancel() const { return cancel_; }
  const std::string& operation() const { return op_; }
  /// The state the running step had before the engine marked it Running:
  /// Pending (first attempt), Running (interrupted), Failed or Done (see
  /// OfflineSteps::still_done).
  StepState prior_state() const { return prior_; }
  void set_prior_state(StepState s) { prior_ = s; }

  /// Reports a phase ("copy disk vda") and how far it is; no-op without a
  /// progress callback.
  void report(const std::string& phase, std::uint64_t done = 0, std::uint64_t total = 0,
              const std::string& unit = {}) const;
  /// Error(Cancelled) "<what> cancelled" once cancel() was asked.
  void check_cancel(const std::string& what) const;

  /// The step named `name`; Error(InvalidArgument) "journal ID is damaged"
  /// when the journal has none.
  const JournalStep& step(const std::string& name) const;
  /// One value the check recorded; Error(InvalidArgument) "journal ID is
  /// damaged: its check step has no 'KEY'" when absent or empty.
  std::string checked(const std::string& key) const;
  /// One value the check recorded, empty when absent.
  std::string checked_or_empty(const std::string& key) const;

 private:
  Journal& journal_;
  const ProgressFn& progress_;
  const CancelToken& cancel_;
  std::string op_;
  StepState prior_ = StepState::Pending;
};

/// One value of a step's data, empty when absent.
std::string step_data(const JournalStep& step, const std::string& key);

/// How the engine treats a step.
enum class StepKind {
  Ordinary,
  /// Removes (part of) the source: runs only after every step before it is
  /// Done; once started, rollback is refused.
  RemovesSource,
  /// Removes the source but undo_step() can bring it back (e.g. from an
  /// archive that outlives the removal): rollback stays possible.
  RemovesSourceUndoable,
};

/// The steps of one kind of offline migration, supplied by a backend.
class OfflineSteps {
 public:
  virtual ~OfflineSteps() = default;

  /// The journal kind ("migrate-offline") and how a refusal names it ("a
  /// libvirt offline migration").
  virtual std::string journal_kind() const = 0;
  virtual std::string journal_what() const = 0;

  /// Checks everything before anything changes, and records the plan: data
  /// on the check step (OfflineRun::checked reads it back), then each later
  /// step with Journal::add_step in the order the steps run. Throws with
  /// nothing changed. Also called on --resume when the check had not
  /// finished (add_step keeps a step it already has).
  virtual void check(OfflineRun& run, const VmRef& vm) = 0;

  /// Checks made before a step is recorded Running (the source VM is still
  /// off, ...): a refusal here leaves the step as it was, so a removal of
  /// the source refused here still allows a rollback. Default: nothing.
  virtual void precheck_step(OfflineRun& run, std::size_t index);

  /// Runs one step whose state is Pending, Running (an interrupted attempt)
  /// or Failed. The engine marks it Running before and Done after, unless
  /// the step set another state itself (e.g. a verification that failed
  /// marks itself and its copy Failed, so that a resume redoes both).
  virtual void run_step(OfflineRun& run, std::size_t index) = 0;

  /// On --resume, for a step the journal says is Done: whether it still
  /// holds (false: it runs again, e.g. a VM defined on the target that was
  /// removed there since). Default: it holds.
  virtual bool still_done(OfflineRun& run, std::size_t index);

  /// Default: RemovesSource for a step named kOfflineRemoveStep, else
  /// Ordinary.
  virtual StepKind kind_of(OfflineRun& run, std::size_t index);

  /// Before a rollback undoes anything: throws (Conflict) when this journal
  /// cannot be rolled back beyond the engine's own rule. Default: nothing.
  virtual void check_rollback(OfflineRun& run);

  /// Undoes one step that started (Running, Done or Failed); the engine then
  /// marks it Undone. Steps are undone last first.
  virtual void undo_step(OfflineRun& run, std::size_t index) = 0;

  /// The VM on the target once every step is done.
  virtual VmInfo result(OfflineRun& run) = 0;
};

/// What starts an offline migration. The journal's parameters are
/// source_uri, target_uri, vm, shutdown_first and remove_source ("yes" or
/// "no"), and `params`.
struct OfflineStart {
  std::string source_uri;
  std::string target_uri;
  VmRef vm;
  bool shutdown_first = false;
  bool remove_source = false;
  std::map<std::string, std::string> params;
};

/// Creates the journal, runs the check (a failure removes the journal:
/// nothing changed), then every step. Every error after the check carries
/// the journal's id and how to go on (rethrow_with_journal). On success the
/// journal is removed.
VmInfo run_offline_migration(OfflineSteps& steps, const OfflineStart& start,
                             const ProgressFn& progress, const CancelToken& cancel,
                             const std::string& operation = "migrate");

/// Completes the interrupted migration `journal_id`; its source and target
/// must be `source_uri` and `target_uri` (load_migration_journal).
VmInfo resume_offline_migration(OfflineSteps& steps, const std::string& journal_id,
                                const std::string& source_uri, const std::string& target_uri,
                                const ProgressFn& progress, const CancelToken& cancel,
                                const std::string& operation = "migrate");

/// Undoes what the interrupted migration `journal_id` did, last step first,
/// and removes its journal. Conflict once a step that removes the source
/// has started (unless it is undoable).
void rollback_offline_migration(OfflineSteps& steps, const std::string& journal_id,
                                const std::string& source_uri, const std::string& target_uri,
                                const std::string& operation = "migrate");

}  // namespace hyperctl
