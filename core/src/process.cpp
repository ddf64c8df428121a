// The process runner: Boost.Process spawns (argv, no shell), Boost.Asio
// drives the pipes, a 50 ms timer watches the deadline, the cancel token and
// the child's exit. See hyperctl/process.hpp for the contract.
#include "hyperctl/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/search_path.hpp>
#include <boost/process/start_dir.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "hyperctl/trust.hpp"
#include "posix.hpp"
#include "secrets.hpp"

namespace hyperctl::process {
namespace bp = boost::process;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kStderrKeep = 1024 * 1024;
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr auto kProgressEvery = std::chrono::milliseconds(100);
/// After the child exits, how long a grandchild may keep our pipes open.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);
/// The trailer the remote wrapper prints on standard error.
constexpr std::string_view kExitMarker = "hyperctl-exit ";

// The fixed remote wrapper (POSIX sh). Its positional parameters are the
// variables (NAME=VALUE words, exported as they are), "--", then the user's
// argv, each quoted with escape::shell_word, so nothing of them is ever
// parsed as shell text and a program named like an assignment stays the
// program. It runs the command in the background with our standard input
// (saved on fd 3 first: an asynchronous command's input is /dev/null before
// its own redirections), and a watchdog that kills the session's process
// group once the sshd session process ($PPID: `exec` makes the login shell
// become this sh) is gone — sshd does not signal a command without a
// terminal when the client disconnects, so without it a timed-out or
// cancelled command would run on; and when sshd starts the command after
// the client is already gone (a kill during session setup), $PPID is 1 from
// the start and the wrapper runs nothing. It then reports the command's exit status
// on standard error, which tells the program's own status 255 from ssh's.
constexpr std::string_view kRemoteWrapper =
    "p=$PPID; [ \"$p\" != 1 ] || exit 255; "
    "while [ \"$1\" != -- ]; do export \"$1\"; shift; done; shift; "
    "exec 3<&0; \"$@\" <&3 3<&- & c=$!; exec 3<&-; "
    "( while kill -0 \"$p\" 2>/dev/null; do sleep 1; done; kill -KILL 0 ) "
    "</dev/null >/dev/null 2>&1 & w=$!; "
    "wait \"$c\"; s=$?; kill \"$w\" 2>/dev/null; "
    "printf '\\nhyperctl-exit %s\\n' \"$s\" >&2; exit \"$s\"";

std::string shown(std::string_view text) {
  return escape::terminal_text(text);
}

using posix::SigpipeBlock;

/// Fallback of close_on_exec_above_stdio() for kernels without
/// close_range(CLOSE_RANGE_CLOEXEC) (before 5.11): walks /proc/self/fd with
/// the raw getdents64 call into a stack buffer (opendir would allocate, which
/// is not safe between fork and exec), else tries every number below the
/// descriptor limit.
void mark_close_on_exec_one_by_one() {
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buf[4096];
    long n = 0;
    while ((n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long at = 0; at < n;) {
        const auto* entry = reinterpret_cast<const dirent64*>(buf + at);
        at += entry->d_reclen;
        int fd = 0;
        const char* c = entry->d_name;
        if (*c < '0' || *c > '9') continue;  // "." and ".."
        for (; *c >= '0' && *c <= '9'; ++c) fd = fd * 10 + (*c - '0');
        if (fd > 2 && fd != dir) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      }
    }
    ::close(dir);
    return;
  }
  rlimit limit{};
  const rlim_t top = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                         ? limit.rlim_cur
                         : 65536;
  for (rlim_t fd = 3; fd < top; ++fd) ::fcntl(int(fd), F_SETFD, FD_CLOEXEC);
}

/// In the child: every descriptor above standard error closes at exec.
/// Boost 1.74's async_pipe makes its pipes without O_CLOEXEC, so a child
/// forked while another thread runs a command would otherwise keep that
/// command's pipe ends open, and its reader would wait for our child to end
/// (a `cat` waiting for an unrelated `sleep`). Close-on-exec rather than
/// close: Boost's own exec-failure pipe (already close-on-exec) must stay
/// open until the exec, or a failed exec would look like a started child.
void close_on_exec_above_stdio() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) mark_close_on_exec_one_by_one();
}

/// In the child, between fork and exec: a clean signal mask and SIGPIPE back
/// to its default; only standard input, output and error inherited; then its
/// own process group (so that a kill reaches its children too) or, detached,
/// its own session (no terminal signal reaches it). Boost runs the handlers in
/// argument order: this one comes after the std_in/out/err redirections.
struct ChildSetup : bp::extend::handler {
  bool new_session = false;
  template <class Executor>
  void on_exec_setup(Executor&) const {
    close_on_exec_above_stdio();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (new_session)
      ::setsid();
    else
      ::setpgid(0, 0);
  }
};

/// Our environment for a child, without the passwords hyperctl reads
/// (HYPERCTL_PASSWORD, HYPERCTL_PASSWORD_<NAME>, and every variable a
/// connection names with `credentials = env:NAME`): no child needs them, and
/// each would hand them to everything it runs and logs. `extra` on top.
bp::environment child_environment(const std::map<std::string, std::string>& extra) {
  bp::environment env = boost::this_process::environment();
  std::vector<std::string> hidden;
  for (const auto& entry : env) {
    const std::string name = entry.get_name();
    if (secrets::hidden_variable(name)) hidden.push_back(name);
  }
  for (const auto& name : hidden) env.erase(name);
  for (const auto& [name, value] : extra) env[name] = value;
  return env;
}

/// The folder a local child starts in.
boost::filesystem::path start_folder(const Command& command) {
  return command.working_dir.empty() ? boost::filesystem::current_path()
                                     : boost::filesystem::path(command.working_dir);
}

/// Resolves argv[0] like execvp would, or throws Unreachable naming it.
boost::filesystem::path resolve_program(const std::string& program, const std::string& op) {
  if (program.empty()) throw Error(ErrorCode::InvalidArgument, "no program to run", op);
  boost::filesystem::path path;
  if (program.find('/') != std::string::npos)
    path = program;
  else
    path = bp::search_path(program);
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0)
    throw Error(ErrorCode::Unreachable, "cannot run " + shown(program) + ": not found", op);
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0)
    throw Error(ErrorCode::Unreachable, "cannot run " + shown(program) + ": not executable", op);
  return path;
}

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

/// ssh itself failed (exit 255 without our trailer): which error is it.
[[noreturn]] void throw_ssh_failure(const SshTarget& t, const std::string& err,
                                    const std::string& op) {
  const std::string host = shown(t.host);
  if (contains(err, "Host key verification failed") ||
      contains(err, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
      contains(err, "No ED25519 host key is known") || contains(err, "host key is known"))
    throw Error(
        ErrorCode::AuthFailed,
        "the host key of " + host +
            " is not trusted (not in the known-hosts files, or changed); hyperctl trust add "
            "shows it and pins it",
        op, err);
  if (contains(err, "Permission denied") || contains(err, "Too many authentication failures"))
    throw Error(ErrorCode::AuthFailed, "ssh to " + host + ": authentication refused", op, err);
  if (contains(err, "Connection refused") || contains(err, "Could not resolve hostname") ||
      contains(err, "No route to host") || contains(err, "Network is unreachable") ||
      contains(err, "Connection timed out") || contains(err, "connect to host"))
    throw Error(ErrorCode::Unreachable, "cannot reach " + host + " over ssh", op, err);
  throw Error(ErrorCode::Unreachable, "the ssh connection to " + host + " was lost", op, err);
}

/// argv joined by spaces for a remote shell that is not POSIX; only words
/// every shell reads the same way are allowed.
std::string verbatim_command_line(const Command& command) {
  const std::string& op = command.operation;
  if (!command.env.empty())
    throw Error(ErrorCode::InvalidArgument,
                "environment variables cannot be passed to a remote shell that is not POSIX", op);
  std::string line;
  for (const auto& word : command.argv) {
    const bool plain = !word.empty() && word.find_first_not_of(
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789_.,:/+=@-") == std::string::npos;
    if (!plain)
      throw Error(ErrorCode::InvalidArgument,
                  "cannot pass " + shown(word) +
                      " on the command line of a remote shell that is not POSIX; such values "
                      "travel on standard input",
                  op);
    if (!line.empty()) line += ' ';
    line += word;
  }
  return line;
}

}  // namespace

std::string remote_command_line(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env) {
  std::string line = "exec sh -c " + escape::shell_word(kRemoteWrapper) + " hyperctl";
  for (const auto& [name, value] : env) line += " " + escape::shell_word(name + "=" + value);
  line += " --";
  for (const auto& word : argv) line += " " + escape::shell_word(word);
  return line;
}

Runner runner_for(const Uri& uri, const std::string& user,
                  std::chrono::milliseconds connect_timeout, bool posix_shell) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCode::InvalidArgument,
                 "bad URI '" + escape::terminal_text(uri.raw) + "': " + why, "connect");
  };
  const auto param = [&](const char* key) {
    auto it = uri.query.find(key);
    return it == uri.query.end() ? std::string() : it->second;
  };
  if (uri.host.empty()) {
    if (!uri.user.empty() || uri.port) throw bad("a user or port needs a host");
    for (const char* key : kSshQueryKeys)
      if (uri.query.count(key)) throw bad(std::string("?") + key + "= needs a host");
    return Runner();
  }
  SshTarget t;
  t.host = uri.host;
  t.user = user.empty() ? uri.user : user;
  if (uri.port) {
    if (*uri.port == 0 || *uri.port > 65535) throw bad("port out of range");
    t.port = static_cast<std::uint16_t>(*uri.port);
  }
  t.program = param("ssh");
  t.identity_file = param("identity");
  // Without ?known_hosts=, the host keys pinned with `hyperctl trust add`
  // count beside the user's ~/.ssh/known_hosts, and the system-wide file ssh
  // reads by default stays trusted (local_argv turns ssh's global list off
  // whenever a known-hosts value is given, so it is named here).
  t.known_hosts = param("known_hosts");
  if (t.known_hosts.empty()) {
    try {
      t.known_hosts = TrustStore().ssh_user_known_hosts_option() + " /etc/ssh/ssh_known_hosts";
    } catch (const std::exception&) {
      // No home folder and no trust folder: ssh's own defaults.
    }
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(connect_timeout);
  t.connect_timeout = secs.count() > 0 ? secs : std::chrono::seconds(1);
  t.posix_shell = posix_shell;
  return Runner(t);
}

Runner::Runner(SshTarget target) : ssh_(std::move(target)) {
  if (ssh_->host.empty()) throw Error(ErrorCode::InvalidArgument, "ssh target without a host");
}

std::vector<std::string> Runner::local_argv(const Command& command) const {
  if (!ssh_) return command.argv;
  const SshTarget& t = *ssh_;
  std::string program = t.program;
  if (program.empty()) {
    const char* env = std::getenv("HYPERCTL_SSH");
    program = env && *env ? env : "ssh";
  }
  std::vector<std::string> argv{program,
                                "-o",
                                "BatchMode=yes",
                                "-o",
                                "StrictHostKeyChecking=yes",
                                "-o",
                                "ConnectTimeout=" + std::to_string(t.connect_timeout.count()),
                                "-o",
                                "ServerAliveInterval=5",
                                "-o",
                                "ServerAliveCountMax=3",
                                "-o",
                                "LogLevel=ERROR",
                                "-T"};
  if (!t.known_hosts.empty()) {
    argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + t.known_hosts});
    argv.insert(argv.end(), {"-o", "GlobalKnownHostsFile=/dev/null"});
  }
  if (!t.identity_file.empty())
    argv.insert(argv.end(), {"-o", "IdentitiesOnly=yes", "-i", t.identity_file});
  if (t.port != 0) argv.insert(argv.end(), {"-p", std::to_string(t.port)});
  if (!t.user.empty()) argv.insert(argv.end(), {"-l", t.user});
  // "--" ends ssh's options: a host name cannot be taken for one.
  argv.insert(argv.end(), {"--", t.host,
                           t.posix_shell ? remote_command_line(command.argv, command.env)
                                         : verbatim_command_line(command)});
  return argv;
}

Result Runner::run(const Command& command) const {
  const std::string& op = command.operation;
  if (command.argv.empty()) throw Error(ErrorCode::InvalidArgument, "no program to run", op);
  const std::vector<std::string> argv = local_argv(command);
  const boost::filesystem::path exe = resolve_program(argv[0], op);
  const std::vector<std::string> args(argv.begin() + 1, argv.end());

  std::ifstream stdin_file;
  std::uint64_t stdin_total = 0;
  if (!command.stdin_file.empty()) {
    stdin_file.open(command.stdin_file, std::ios::binary);
    if (!stdin_file)
      throw Error(ErrorCode::NotFound, "cannot read " + shown(command.stdin_file), op,
                  std::strerror(errno));
    struct stat st {};
    if (::stat(command.stdin_file.c_str(), &st) == 0) stdin_total = std::uint64_t(st.st_size);
  }

  SigpipeBlock sigpipe_block;
  asio::io_context io;
  bp::async_pipe in(io), out(io), err(io);
  // Over ssh the variables and folder are the remote command's business.
  const bp::environment env =
      child_environment(ssh_ ? std::map<std::string, std::string>{} : command.env);
  const boost::filesystem::path dir =
      ssh_ ? boost::filesystem::current_path() : start_folder(command);

  std::error_code spawn_error;
  bp::child child(exe, bp::args(args), bp::env = env, bp::start_dir = dir,
                  bp::std_in<in, bp::std_out> out, bp::std_err > err, ChildSetup{}, spawn_error);
  if (spawn_error)
    throw Error(ErrorCode::Unreachable, "cannot run " + shown(argv[0]), op, spawn_error.message());
  const pid_t pid = child.id();
  child.detach();  // we reap it ourselves below

  Result result;
  bool exited = false;
  Clock::time_point exited_at;
  bool out_open = true, err_open = true;
  std::exception_ptr sink_error;
  bool killed = false;
  std::optional<ErrorCode> stop_reason;

  auto kill_child = [&] {
    if (!killed && !exited) ::kill(-pid, SIGKILL);
    killed = true;
  };

  // --- standard input
  std::array<char, kChunk> in_buf{};
  std::uint64_t in_done = 0;
  auto last_in_progress = Clock::now();
  std::function<void()> write_next;
  auto close_in = [&] {
    boost::system::error_code ignored;
    in.close(ignored);
  };
  write_next = [&] {
    if (!command.stdin_file.empty()) {
      stdin_file.read(in_buf.data(), std::streamsize(in_buf.size()));
      const std::size_t n = std::size_t(stdin_file.gcount());
      if (n == 0) {
        if (command.progress)
          command.progress(Progress{"stdin", in_done, stdin_total, "bytes", {}});
        close_in();
        return;
      }
      asio::async_write(
          in, asio::buffer(in_buf.data(), n),
          [&, n](const boost::system::error_code& ec, std::size_t) {
            if (ec) {
              close_in();
              return;
            }
            in_done += n;
            if (command.progress && Clock::now() - last_in_progress >= kProgressEvery) {
              last_in_progress = Clock::now();
              command.progress(Progress{"stdin", in_done, stdin_total, "bytes", {}});
            }
            write_next();
          });
    } else if (!command.stdin_data.empty()) {
      asio::async_write(in, asio::buffer(command.stdin_data),
                        [&](const boost::system::error_code&, std::size_t) { close_in(); });
    } else {
      close_in();
    }
  };
  write_next();

  asio::steady_timer timer(io);

  // --- standard output and error
  std::array<char, kChunk> out_buf{}, err_buf{};
  std::uint64_t out_done = 0;
  auto last_out_progress = Clock::now();
  std::function<void()> read_out, read_err;
  read_out = [&] {
    out.async_read_some(
        asio::buffer(out_buf), [&](const boost::system::error_code& ec, std::size_t n) {
          if (n > 0 && !sink_error) {
            out_done += n;
            if (command.stdout_sink) {
              try {
                command.stdout_sink(std::string_view(out_buf.data(), n));
              } catch (...) {
                sink_error = std::current_exception();
                kill_child();
              }
              if (command.progress && Clock::now() - last_out_progress >= kProgressEvery) {
                last_out_progress = Clock::now();
                command.progress(Progress{"stdout", out_done, 0, "bytes", {}});
              }
            } else if (result.out.size() + n > command.max_capture_bytes) {
              if (!stop_reason) stop_reason = ErrorCode::BackendFailure;
              kill_child();
            } else {
              result.out.append(out_buf.data(), n);
            }
          }
          if (ec) {
            out_open = false;
            if (!err_open) timer.cancel();  // look at the exit now
            return;
          }
          read_out();
        });
  };
  read_err = [&] {
    err.async_read_some(asio::buffer(err_buf),
                        [&](const boost::system::error_code& ec, std::size_t n) {
                          result.err.append(err_buf.data(), n);
                          if (result.err.size() > 2 * kStderrKeep)
                            result.err.erase(0, result.err.size() - kStderrKeep);
                          if (ec) {
                            err_open = false;
                            if (!out_open) timer.cancel();
                            return;
                          }
                          read_err();
                        });
  };
  read_out();
  read_err();

  // --- the watch: deadline, cancellation, exit
  const auto started = Clock::now();
  std::function<void()> tick;
  tick = [&] {
    // Once both pipes are at their end the child is about to exit: look often.
    timer.expires_after(out_open || err_open ? kTick : std::chrono::milliseconds(1));
    timer.async_wait([&](const boost::system::error_code&) {
      if (!exited) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
          exited = true;
          exited_at = Clock::now();
          if (WIFEXITED(status)) {
            result.exit_code = WEXITSTATUS(status);
          } else if (WIFSIGNALED(status)) {
            result.signal = WTERMSIG(status);
          }
        }
      }
      if (!stop_reason && !exited) {
        if (command.cancel.cancelled()) {
          stop_reason = ErrorCode::Cancelled;
          kill_child();
        } else if (command.timeout.count() > 0 && Clock::now() - started >= command.timeout) {
          stop_reason = ErrorCode::Timeout;
          kill_child();
        }
      }
      if (exited && (out_open || err_open) && Clock::now() - exited_at >= kDrainAfterExit) {
        // A grandchild holds our pipes: what the program wrote is in.
        boost::system::error_code ignored;
        out.close(ignored);
        err.close(ignored);
        in.close(ignored);
        out_open = err_open = false;
      }
      if (exited && !out_open && !err_open) {
        boost::system::error_code ignored;
        in.close(ignored);
        return;  // done; nothing else keeps io busy once the writes end
      }
      tick();
    });
  };
  tick();
  io.run();

  if (sink_error) std::rethrow_exception(sink_error);
  if (result.err.size() > kStderrKeep) result.err.erase(0, result.err.size() - kStderrKeep);
  if (command.progress && command.stdout_sink)
    command.progress(Progress{"stdout", out_done, out_done, "bytes", {}});

  if (stop_reason == ErrorCode::Cancelled)
    throw Error(ErrorCode::Cancelled, shown(command.argv[0]) + " was cancelled (process killed)",
                op);
  if (stop_reason == ErrorCode::Timeout)
    throw Error(ErrorCode::Timeout,
                shown(command.argv[0]) + " did not finish within " +
                    std::to_string(command.timeout.count()) + " ms (process killed)",
                op);
  if (stop_reason == ErrorCode::BackendFailure)
    throw Error(ErrorCode::BackendFailure,
                shown(command.argv[0]) + " printed more than " +
                    std::to_string(command.max_capture_bytes) + " bytes",
                op);

  if (ssh_ && !ssh_->posix_shell) {
    if (result.exit_code == 255 || result.signal != 0) throw_ssh_failure(*ssh_, result.err, op);
  } else if (ssh_) {
    // The wrapper's trailer is the last line on standard error; without it
    // ssh (or the connection) failed before the command could finish.
    const auto at = result.err.rfind(std::string("\n") + std::string(kExitMarker));
    if (at == std::string::npos) {
      if (result.exit_code == 255 || result.signal != 0) throw_ssh_failure(*ssh_, result.err, op);
    } else {
      const std::size_t from = at + 1 + kExitMarker.size();
      const int status = std::atoi(result.err.c_str() + from);
      result.err.erase(at);
      // The remote sh reports a command killed by a signal as 128 + signal.
      if (status > 128 && status < 128 + 65) {
        result.exit_code = -1;
        result.signal = status - 128;
      } else {
        result.exit_code = status;
      }
    }
  }
  return result;
}

int Runner::spawn_detached(const Command& command) const {
  const std::string& op = command.operation;
  if (ssh_) throw Error(ErrorCode::Unsupported, "detached processes run on this machine only", op);
  if (command.argv.empty()) throw Error(ErrorCode::InvalidArgument, "no program to run", op);
  const boost::filesystem::path exe = resolve_program(command.argv[0], op);
  const std::vector<std::string> args(command.argv.begin() + 1, command.argv.end());
  const bp::environment env = child_environment(command.env);
  const boost::filesystem::path dir = start_folder(command);
  // The child starts its own session (no terminal signals reach it); a
  // detached thread reaps it whenever it ends, so it never lingers as a zombie
  // of a long-lived caller.
  std::error_code spawn_error;
  bp::child child(exe, bp::args(args), bp::env = env, bp::start_dir = dir,
                  bp::std_in<bp::null, bp::std_out> bp::null, bp::std_err > bp::null,
                  ChildSetup{.new_session = true}, spawn_error);
  if (spawn_error)
    throw Error(ErrorCode::Unreachable, "cannot run " + shown(command.argv[0]), op,
                spawn_error.message());
  const int pid = child.id();
  child.detach();
  std::thread([pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }).detach();
  return pid;
}

}  // namespace hyperctl::process
