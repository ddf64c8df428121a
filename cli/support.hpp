// What the command files share: output streams, secrets, the Session that
// opens the connection, argument parsers, Ctrl-C cancellation, the spinner.
// Every command family (vm, pool, volume, snapshot, network, host) builds on
// these so that all commands behave alike.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hyperctl/config.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/credentials.hpp"
#include "hyperctl/fleet.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"
#include "output.hpp"
#include "text.hpp"

namespace hyperctl::cli {

void write_stderr(const std::string& text);
void write_stdout(const std::string& text);
/// 'name' made printable, for messages.
std::string squote(const std::string& name);

/// The config file of this invocation: --config FILE, else
/// FleetConfig::default_path().
std::string config_path(const GlobalOptions& g);
/// The fleet configuration of this invocation (--config FILE, else
/// FleetConfig::default_path()), loaded on first use and kept.
const FleetConfig& fleet_config(const GlobalOptions& g);
/// The credentials store of this invocation (interactive when stdin is a terminal).
const CredentialStore& credential_store();
/// Hosts for a fleet command. `hosts`: connection names or URIs (a URI is an
/// unnamed host); `group`: a group of the config; `all`: every connection of
/// the config. Exactly one of them may be given (else InvalidArgument); none
/// given: the one connection of -c / HYPERCTL_URI. `deadline`: overrides each
/// connection's timeout when set. Each Target carries the user, a secret
/// provider from credential_store() and the connection's tags.
std::vector<fleet::Target> fleet_targets(const GlobalOptions& g,
                                         const std::vector<std::string>& hosts,
                                         const std::string& group, bool all,
                                         std::optional<std::chrono::milliseconds> deadline);

/// A duration option: a number with ms, s or m; a plain number is seconds
/// (the `timeout =` syntax of the config file). Throws Error(InvalidArgument)
/// naming `option`.
std::chrono::milliseconds duration_arg(const std::string& option, const std::string& text);
/// The members every host object of the fleet documents has: name, uri,
/// backend, status, code (null when ok), message, elapsed_ms.
JsonValue host_report_json(const fleet::HostReport& report);
/// The first failed host's exit status, in the order given; 0 when all are ok.
int first_failure_status(const std::vector<fleet::HostReport>& reports);
/// One stderr line naming the hosts that failed (up to five); nothing when
/// none did. `warning`: worded as a warning rather than an error.
void report_failed_hosts_line(const std::vector<fleet::HostReport>& reports, bool warning);
/// When work is still lingering on a thread (hyperctl/lingering.hpp: a
/// backend call given up on), gives the terminal its echo back, flushes
/// stdout and stderr and leaves with _exit(status); otherwise returns.
/// main() calls it once every command has run.
void leave_if_lingering(int status);

/// A connection argument (-c, migrate --to) resolved: a name from the config
/// file gives its URI, user, timeout and credentials; a URI stands for itself
/// and its secret comes from the credentials store's chain for unnamed URIs.
/// Throws Error(NotFound) for an unknown name.
struct ConnectionRequest {
  std::string name;  ///< the connection's name; empty for a URI
  std::string uri;
  ConnectOptions options;
};
ConnectionRequest resolve_connection(const GlobalOptions& g, const std::string& name_or_uri);

/// What one invocation works with: the output format, and (only when a
/// command needs it) the registry and one connection.
class Session {
 public:
  explicit Session(const GlobalOptions& g) : g_(g), format_(parse_format(g.output)) {}

  Format format() const { return format_; }

  Registry& registry() {
    if (!registry_) registry_ = std::make_unique<Registry>(g_.plugin_dirs);
    return *registry_;
  }

  /// Opens the connection on first use (-c, else HYPERCTL_URI).
  Connection& connect(bool read_only = false);
  /// Opens another connection (a name or a URI), e.g. a migration's target.
  std::unique_ptr<Connection> open(const std::string& name_or_uri, bool read_only = false);

  VmOps& vms(bool read_only = false) { return connect(read_only).vms(); }
  /// What the backend of the connection declares it offers (connects first).
  Capabilities capabilities() {
    return registry().backend_for(connect().uri().scheme).capabilities();
  }
  std::string uri() const { return conn_ ? conn_->uri().str() : std::string(); }

 private:
  const GlobalOptions& g_;
  Format format_;
  std::unique_ptr<Registry> registry_;  // declared first: outlives conn_
  std::unique_ptr<Connection> conn_;
};

/// The result of a command that changes one object: hyperctl.result/1.
int report_action(Session& s, const std::string& operation, const std::string& vm,
                  const std::string& result, const std::string& message);
/// A command whose result is a VM (create, define, set): a message line as
/// table, the hyperctl.vm/1 document otherwise.
int report_vm(Session& s, const VmInfo& vm, const std::string& message);

/// The result of a migration: hyperctl.migrate/1 (one JSON line with -o json;
/// a CSV row; the message as table). `journal` is empty for live migrations
/// (and then not in the document); `moved` is null after a rollback.
struct MigrationResult {
  std::string operation;  ///< migrate, migrate.resume, migrate.rollback
  std::string vm, source, target, mode, journal, message;
  double seconds = 0;
  const VmInfo* moved = nullptr;
};
int report_migration(Session& s, const MigrationResult& r);

/// One hyperctl.migrate-progress/1 line (with -o json).
void report_migration_progress(const std::string& vm, const std::string& journal,
                               const Progress& p);

/// --state values; throws Error(InvalidArgument) naming an unknown one.
std::vector<VmState> parse_states(const std::vector<std::string>& names);
/// --disk: `SIZE[:FORMAT][@POOL]` (a new volume), `vol:POOL/NAME` (an
/// existing volume), else a path. Throws Error(InvalidArgument) naming the
/// form it could not read.
DiskSpec parse_disk(const std::string& text);
/// --iso: `vol:POOL/NAME` or a path; a CD-ROM the VM boots from.
DiskSpec parse_iso(const std::string& text);
/// --memory: a size above 0.
std::uint64_t parse_memory(const std::string& text);
/// A whole file, or standard input for "-"; refuses an empty one.
std::string read_input(const std::string& file);

/// For the life of this object, SIGINT (Ctrl-C), SIGTERM and SIGHUP cancel
/// `token` instead of killing the process, so that the operation cleans up
/// and says so (exit 11); a second one kills at once. Restores the old
/// handlers when it goes away.
class SigintCancels {
 public:
  explicit SigintCancels(CancelToken& token);
  ~SigintCancels();
  SigintCancels(const SigintCancels&) = delete;
  SigintCancels& operator=(const SigintCancels&) = delete;

 private:
  struct sigaction old_[3]{};  // SIGINT, SIGTERM, SIGHUP
};

/// Progress of a long operation on one line of stderr, only when stderr is a
/// terminal (never in pipes, logs or JSON output): a bar with sizes for byte
/// transfers whose total is known, a spinner with seconds otherwise. Redrawn
/// at most ten times a second; the line is cleared before anything else is
/// written through write_stdout/write_stderr, and when it goes away.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void update(const Progress& p);
  /// Erases the line; write_stdout and write_stderr call it first.
  void clear();

 private:
  std::string label_;
  bool tty_;
  bool shown_ = false;
  unsigned frame_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace hyperctl::cli
