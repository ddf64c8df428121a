// The offline-migration engine; see hyperctl/offline.hpp.
#include "hyperctl/offline.hpp"

#include "hyperctl/error.hpp"

namespace hyperctl {
namespace {

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

/// Runs `f`; an exception that is not an Error becomes Error(Internal), so
/// that the journal records it like any other failure.
template <class F>
decltype(auto) as_error(const std::string& op, F&& f) {
  return guard_foreign("the offline migration", op, std::forward<F>(f));
}

/// Runs `f` with every error carrying the journal's id and how to go on.
template <class F>
decltype(auto) journalled(Journal& j, const std::string& op, F&& f) {
  try {
    return as_error(op, f);
  } catch (const Error& e) {
    fail_journalled(j, e, op);
  }
}

bool removes_source(StepKind k) {
  return k == StepKind::RemovesSource || k == StepKind::RemovesSourceUndoable;
}

/// Every step after the check, in the journal's order.
VmInfo run_steps(OfflineSteps& steps, OfflineRun& run) {
  Journal& j = run.journal();
  for (std::size_t i = 0; i < j.steps().size(); ++i) {
    if (j.steps()[i].name == kOfflineCheckStep) continue;
    if (j.steps()[i].state == StepState::Done && steps.still_done(run, i)) continue;
    const StepKind kind = steps.kind_of(run, i);
    if (removes_source(kind)) {
      // The target must be complete and verified before the source goes.
      for (std::size_t k = 0; k < i; ++k)
        if (j.steps()[k].state != StepState::Done)
          throw Error(ErrorCode::Internal,
                      "journal " + j.id() + ": step '" + j.steps()[i].name +
                          "' would remove the source while step '" + j.steps()[k].name +
                          "' is not done; the source was left alone",
                      run.operation());
    } else {
      // Once the source is being removed, the remaining steps finish the
      // job; cancelling between them would only leave more to resume.
      run.check_cancel("the migration");
    }
    run.set_prior_state(j.steps()[i].state);
    steps.precheck_step(run, i);
    j.set_step(i, StepState::Running);
    steps.run_step(run, i);
    if (j.steps()[i].state == StepState::Running) j.set_step(i, StepState::Done);
  }
  VmInfo info = steps.result(run);
  j.set_status("done");
  j.remove();
  return info;
}

}  // namespace

// ------------------------------------------------------------- OfflineRun

void OfflineRun::report(const std::string& phase, std::uint64_t done, std::uint64_t total,
                        const std::string& unit) const {
  if (!progress_) return;
  Progress p;
  p.phase = phase;
  p.done = done;
  p.total = total;
  p.unit = unit.empty() && total ? "bytes" : unit;
  progress_(p);
}

void OfflineRun::check_cancel(const std::string& what) const {
  if (cancel_.cancelled()) throw Error(ErrorCode::Cancelled, what + " cancelled", op_);
}

const JournalStep& OfflineRun::step(const std::string& name) const {
  const auto i = journal_.find_step(name);
  if (!i)
    throw Error(ErrorCode::InvalidArgument,
                "journal " + journal_.id() + " is damaged: it has no step '" + name + "'", op_);
  return journal_.steps()[*i];
}

std::string OfflineRun::checked_or_empty(const std::string& key) const {
  const auto c = journal_.find_step(kOfflineCheckStep);
  return c ? step_data(journal_.steps()[*c], key) : std::string();
}

std::string OfflineRun::checked(const std::string& key) const {
  std::string v = checked_or_empty(key);
  if (v.empty())
    throw Error(ErrorCode::InvalidArgument,
                "journal " + journal_.id() + " is damaged: its check step has no '" + key + "'",
                op_);
  return v;
}

std::string step_data(const JournalStep& step, const std::string& key) {
  const auto it = step.data.find(key);
  return it == step.data.end() ? std::string() : it->second;
}

// ------------------------------------------------------------- OfflineSteps

bool OfflineSteps::still_done(OfflineRun&, std::size_t) {
  return true;
}

void OfflineSteps::precheck_step(OfflineRun&, std::size_t) {}

StepKind OfflineSteps::kind_of(OfflineRun& run, std::size_t index) {
  return run.journal().steps()[index].name == kOfflineRemoveStep ? StepKind::RemovesSource
                                                                 : StepKind::Ordinary;
}

void OfflineSteps::check_rollback(OfflineRun&) {}

// ------------------------------------------------------------- the engine

VmInfo run_offline_migration(OfflineSteps& steps, const OfflineStart& start,
                             const ProgressFn& progress, const CancelToken& cancel,
                             const std::string& operation) {
  std::map<std::string, std::string> params = start.params;
  params["source_uri"] = start.source_uri;
  params["target_uri"] = start.target_uri;
  params["vm"] = start.vm.value;
  params["shutdown_first"] = yes_no(start.shutdown_first);
  params["remove_source"] = yes_no(start.remove_source);
  Journal j = Journal::create(steps.journal_kind(), std::move(params));
  OfflineRun run(j, progress, cancel, operation);
  try {
    as_error(operation, [&] {
      run.report("check");
      const auto c = j.add_step(kOfflineCheckStep);
      j.set_step(c, StepState::Running);
      steps.check(run, start.vm);
      if (j.steps()[c].state == StepState::Running) j.set_step(c, StepState::Done);
    });
  } catch (...) {
    try {
      j.remove();  // nothing changed anywhere: nothing to resume
    } catch (const Error&) {
    }
    throw;
  }
  return journalled(j, operation, [&] { return run_steps(steps, run); });
}

VmInfo resume_offline_migration(OfflineSteps& steps, const std::string& journal_id,
                                const std::string& source_uri, const std::string& target_uri,
                                const ProgressFn& progress, const CancelToken& cancel,
                                const std::string& operation) {
  Journal j = load_migration_journal(journal_id, steps.journal_kind(), steps.journal_what(),
                                     source_uri, target_uri, operation);
  j.set_status("running");
  OfflineRun run(j, progress, cancel, operation);
  return journalled(j, operation, [&] {
    const auto c = j.find_step(kOfflineCheckStep);
    if (!c || j.steps()[*c].state != StepState::Done) {
      const auto i = j.add_step(kOfflineCheckStep);
      j.set_step(i, StepState::Running);
      steps.check(run, VmRef(j.param("vm")));
      if (j.steps()[i].state == StepState::Running) j.set_step(i, StepState::Done);
    }
    return run_steps(steps, run);
  });
}

void rollback_offline_migration(OfflineSteps& steps, const std::string& journal_id,
                                const std::string& source_uri, const std::string& target_uri,
                                const std::string& operation) {
  Journal j = load_migration_journal(journal_id, steps.journal_kind(), steps.journal_what(),
                                     source_uri, target_uri, operation);
  const ProgressFn none;
  const CancelToken never;
  OfflineRun run(j, none, never, operation);
  journalled(j, operation, [&] {
    for (std::size_t i = 0; i < j.steps().size(); ++i)
      if (j.steps()[i].state != StepState::Pending &&
          steps.kind_of(run, i) == StepKind::RemovesSource)
        throw Error(ErrorCode::Conflict,
                    "the source of migration " + j.id() +
                        " is already (partly) removed; the target holds the only copy, so it "
                        "cannot be rolled back (resume it with --resume " +
                        j.id() + ")",
                    operation);
    steps.check_rollback(run);
    for (std::size_t i = j.steps().size(); i-- > 0;) {
      const JournalStep& s = j.steps()[i];
      if (s.name == kOfflineCheckStep) continue;
      if (s.state == StepState::Pending || s.state == StepState::Undone) continue;
      steps.undo_step(run, i);
      j.set_step(i, StepState::Undone);
    }
    j.set_status("rolled-back");
    j.remove();
  });
}

}  // namespace hyperctl
