// The process runner every backend that drives a command-line tool uses
// (wsl.exe, PowerShell, qemu-img): argv-based execution, never through a
// local shell; standard input, output and error; a deadline; cancellation
// that kills the child; and the same interface over OpenSSH to another host.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hyperctl/types.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl::process {

/// Another host reached with OpenSSH's client. Host keys are always checked
/// (StrictHostKeyChecking=yes) and only keys or an agent authenticate
/// (BatchMode=yes): ssh never prompts, so no password can be asked for or
/// leak. The remote account's login shell must be a POSIX shell: the remote
/// command line is built from argv with escape::shell_word.
struct SshTarget {
  std::string host;           ///< name or address; required
  std::string user;           ///< empty: ssh's default
  std::uint16_t port = 0;     ///< 0: ssh's default
  std::string program;        ///< ssh client; empty: $HYPERCTL_SSH, else "ssh"
  std::string identity_file;  ///< empty: ssh's defaults (agent, ~/.ssh/id_*)
  /// ssh's UserKnownHostsFile value: one file, or several separated by
  /// spaces (a path with a space quoted); empty: ssh's defaults.
  std::string known_hosts;
  std::chrono::seconds connect_timeout{10};
  /// The remote login shell is POSIX (sh, bash...): commands go through the
  /// wrapper of remote_command_line() (variables, kill on disconnect, the
  /// exit-status trailer). False, for a server whose shell is not POSIX
  /// (Windows' OpenSSH runs cmd.exe or PowerShell): the command line is
  /// argv joined by single spaces, and every word must consist of
  /// characters no shell there treats specially (letters, digits and
  /// _ . , : / + = @ -), else run() throws Error(InvalidArgument) without
  /// running anything; Command::env must be empty. Such commands carry user
  /// data on standard input. A remote exit status of 255 is then taken for
  /// ssh's own failure, and what happens to the remote process on a timeout
  /// or cancel is the server's rule (Windows' OpenSSH ends a session's
  /// processes with the session).
  bool posix_shell = true;
};

/// One command to run.
struct Command {
  /// argv[0] is the program: a path, or a name looked up in PATH (locally;
  /// remotely by the remote shell). Each element reaches the program as one
  /// argument, byte for byte.
  std::vector<std::string> argv;
  /// Variables added to (or replacing) the inherited environment. Remotely
  /// the wrapper exports them before it runs the program.
  std::map<std::string, std::string> env;
  /// Working folder (local runs only); empty: the caller's.
  std::string working_dir;

  /// Standard input: the bytes of `stdin_data`, or the file `stdin_file`
  /// streamed in (progress reports it), else empty (closed at once).
  std::string stdin_data;
  std::string stdin_file;

  /// Standard output is captured into Result::out (up to max_capture_bytes,
  /// beyond which the run fails with Error(BackendFailure)), unless
  /// `stdout_sink` is set: then every chunk is handed to it as it arrives
  /// (an exception thrown by the sink kills the child and propagates).
  std::function<void(std::string_view)> stdout_sink;
  std::size_t max_capture_bytes = std::size_t{64} << 20;

  /// 0: no deadline. When it passes, the child (its whole process group) is
  /// killed and Error(Timeout) thrown.
  std::chrono::milliseconds timeout{0};
  /// Polled every 50 ms; once cancelled the child is killed and
  /// Error(Cancelled) thrown.
  CancelToken cancel;
  /// Called with {phase "stdin", done = bytes written, total = file size} as
  /// `stdin_file` streams, and {phase "stdout", done = bytes read} as output
  /// reaches `stdout_sink`; at most every 100 ms, and once more when a stream
  /// completes.
  ProgressFn progress;
  /// Operation name for error messages ("vm.list").
  std::string operation;
};

struct Result {
  int exit_code = -1;  ///< the program's exit status; -1 when a signal ended it
  int signal = 0;      ///< the signal that ended it, else 0
  std::string out;     ///< standard output (empty when stdout_sink took it)
  std::string err;     ///< standard error (last 1 MiB)
  bool ok() const { return exit_code == 0; }
};

/// Runs commands on this machine or, with an SshTarget, on another one.
/// A Runner holds no process between calls; calls on one Runner may run
/// from several threads at once.
class Runner {
 public:
  Runner() = default;
  explicit Runner(SshTarget target);

  bool remote() const { return ssh_.has_value(); }
  const std::optional<SshTarget>& ssh() const { return ssh_; }

  /// Runs the command to its end and returns how it ended; a non-zero exit
  /// status is the caller's to interpret. Throws Error:
  ///  - Unreachable: the program cannot be started (not found, not
  ///    executable; the message names it), or ssh could not reach the host
  ///    or lost the connection (ssh's own exit status 255);
  ///  - AuthFailed: ssh refused the host key or the credentials;
  ///  - Timeout / Cancelled: as described on Command (the child is killed
  ///    first; over ssh the ssh client is killed, and the remote wrapper
  ///    kills the remote command within about a second of the session's end);
  ///  - BackendFailure: output beyond max_capture_bytes.
  /// No message contains anything but argv[0] and the host name.
  Result run(const Command& command) const;

  /// Starts the command detached from us (own session, standard streams on
  /// /dev/null, not waited for) and returns its pid; for programs that keep
  /// something running in the background. Local only.
  int spawn_detached(const Command& command) const;

  /// The argv actually executed locally: `command.argv`, or the ssh client's
  /// argv with the remote command line last. For --debug output and tests.
  std::vector<std::string> local_argv(const Command& command) const;

 private:
  std::optional<SshTarget> ssh_;
};

/// The query parameters runner_for() reads: the ssh client, the identity
/// file and the known-hosts file.
inline constexpr const char* kSshQueryKeys[] = {"ssh", "identity", "known_hosts"};

/// The runner a backend's URI asks for: this machine when the URI has no
/// host; else ssh to uri.host as `user` (when not empty) or uri.user, on
/// uri.port, with the URI's ?ssh=, ?identity= and ?known_hosts= (without
/// ?known_hosts=: the trust store's ssh file, then ~/.ssh/known_hosts, then
/// /etc/ssh/ssh_known_hosts, so that keys pinned by `hyperctl trust add` hold),
/// `connect_timeout` (at least 1 s) and `posix_shell`. A user, a port or one
/// of those parameters without a host, or a port out of range, is
/// Error(InvalidArgument) naming the URI.
Runner runner_for(const Uri& uri, const std::string& user,
                  std::chrono::milliseconds connect_timeout, bool posix_shell);

/// The command line the runner sends over ssh for argv and env: a fixed
/// POSIX sh wrapper (`exec sh -c '<wrapper>' hyperctl [NAME=VALUE...] --
/// ARGV...`) whose parameters are the variables and the words of argv, each
/// through escape::shell_word. The wrapper kills the command when the ssh session
/// ends (a timeout or cancel on our side kills the ssh client) and prints
/// "hyperctl-exit N" as the last line of standard error, which the runner
/// strips; it tells the program's own exit status 255 from ssh's.
std::string remote_command_line(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env);

}  // namespace hyperctl::process
