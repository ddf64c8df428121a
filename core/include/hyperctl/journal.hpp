// A journal for multi-step operations (offline migration, transfers): each
// step is recorded on disk before and after it runs, so that an interrupted
// operation can be resumed or rolled back by a later process, the same way
// for every backend.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hyperctl {

class Error;

enum class StepState { Pending, Running, Done, Failed, Undone };

std::string_view to_string(StepState state);

struct JournalStep {
  std::string name;  ///< "copy disk vda", "define on target", ...
  StepState state = StepState::Pending;
  std::map<std::string, std::string> data;  ///< what undo/redo needs (paths, names, checksums)
};

/// One operation's record. Saved as a JSON document in the journal folder:
/// $HYPERCTL_STATE_DIR, else $XDG_STATE_HOME/hyperctl, else
/// ~/.local/state/hyperctl, then /journal/ID.json; written atomically
/// (temporary file, fsync, rename) on every change.
class Journal {
 public:
  /// Starts a new journal of `kind` ("migrate-offline") with its parameters;
  /// the id is unique ("20261126T031500Z-<random>").
  static Journal create(std::string kind, std::map<std::string, std::string> params);
  /// Loads one; Error(NotFound) naming the id when absent, Error(InvalidArgument)
  /// when the file is damaged.
  static Journal load(const std::string& id);
  /// Ids of every journal on disk, oldest first.
  static std::vector<std::string> list();
  /// The folder journals live in (created on first write).
  static std::string folder();

  const std::string& id() const { return id_; }
  const std::string& kind() const { return kind_; }
  const std::map<std::string, std::string>& params() const { return params_; }
  /// One parameter; Error(InvalidArgument) "journal ID is damaged: it has no
  /// 'KEY'" when absent.
  const std::string& param(const std::string& key) const;
  const std::vector<JournalStep>& steps() const { return steps_; }
  /// "running", "done", "failed", "rolled-back": free text the owner sets.
  const std::string& status() const { return status_; }

  /// Adds a step (Pending) if none has this name; returns its index.
  std::size_t add_step(const std::string& name, std::map<std::string, std::string> data = {});
  /// Index of the step named `name`, or nullopt.
  std::optional<std::size_t> find_step(const std::string& name) const;
  /// Changes a step's state (and merges `data`), then saves.
  void set_step(std::size_t index, StepState state, std::map<std::string, std::string> data = {});
  void set_status(const std::string& status);
  /// Writes the journal to disk (called by every mutator).
  void save() const;
  /// Deletes the journal file (after a completed or rolled-back operation).
  void remove() const;

 private:
  std::string id_, kind_, status_ = "running";
  std::int64_t created_unix_ = 0;
  std::map<std::string, std::string> params_;
  std::vector<JournalStep> steps_;
};

/// Loads the migration journal `id` and checks that it is of `kind` (else
/// Error(InvalidArgument): "records a '<kind>', not <what>") and that its
/// source_uri / target_uri parameters are `source_uri` / `target_uri` (else
/// Error(InvalidArgument) naming both pairs): resume and rollback must be
/// given the connections the migration was started with.
Journal load_migration_journal(const std::string& id, const std::string& kind,
                               const std::string& what, const std::string& source_uri,
                               const std::string& target_uri, const std::string& operation);

/// For a failure during a journalled operation: marks the journal "cancelled"
/// or "failed" (as far as it can be written), then rethrow_with_journal().
[[noreturn]] void fail_journalled(Journal& journal, const Error& e, const std::string& operation);

/// "offline migration ID interrupted; resume with: hyperctl migrate --resume
/// ID, or undo with --rollback ID".
std::string migration_interrupted(const Journal& journal);

/// Throws `e` again with the journal's id and how to go on appended to the
/// message, and "journal: ID" first in the detail (the CLI reads it there).
/// `operation` is used when `e` names none.
[[noreturn]] void rethrow_with_journal(const Error& e, const Journal& journal,
                                       const std::string& operation);

}  // namespace hyperctl
