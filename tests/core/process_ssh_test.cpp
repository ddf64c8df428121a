// The process runner's SSH transport against a real OpenSSH server on
// 127.0.0.1 (tests/testbed/sshd.sh, CTest fixture ssh_daemon), and
// remote_command_line handed to a real /bin/sh.
//
// The state folder of the test bed comes in HYPERCTL_TESTBED_SSH_STATE. When
// the fixture could not start sshd, its reason is in STATE/unavailable and
// every test here skips with it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"

namespace fs = std::filesystem;
namespace proc = hyperctl::process;
using hyperctl::Error;
using hyperctl::ErrorCode;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Arguments a shell would love to interpret. Each must come back as one
// argument, byte for byte.
const std::vector<std::string>& hostile_args() {
  static const std::vector<std::string> args = {
      "plain",
      "'single'",
      "\"double\"",
      "`back`tick",
      "$(id)",
      "${HOME}",
      ";",
      "|",
      "&",
      "a;b|c&&d>e<f",
      "line1\nline2",
      "\n",
      "\xE2\x80\x98typographic\xE2\x80\x99 \xE2\x80\x9C\xE2\x80\x9D",  // U+2018 U+2019 U+201C
                                                                       // U+201D
      "\xC3\xBCn\xC3\xAF\x63\xC3\xB8\x64\xC3\xA9-\xE5\x90\x8D\xE5\x89\x8D-\xF0\x9F\x99\x82",
      "",
      "-leading-dash",
      "--",
      "-n",
      "it's",
      "'",
      "'\\''",
      "back\\slash\\",
      "tab\there",
      "  spaces  around  ",
      "*",
      "~",
      "!",
      "#not a comment",
      "%s %d %n",
      "\x01\x1b[31mred\x7f",
      "\xff\xfe not UTF-8",
      std::string(3000, '\'') + std::string(3000, '"'),
  };
  return args;
}

std::string hex(const unsigned char* data, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr), 1);
  return hex(md, len);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> split_nul(const std::string& data) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\0') {
      parts.push_back(data.substr(from, i - from));
      from = i + 1;
    }
  }
  if (from != data.size()) parts.push_back("<unterminated>" + data.substr(from));
  return parts;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Makes a value unique to this process and call, for finding our own
/// remote processes in /proc.
std::string unique_number() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(100000 + (rd() % 800000)) + std::to_string(::getpid() % 1000) +
         std::to_string(counter++);
}

// ---- /proc: the remote side runs on this machine.

bool all_digits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::vector<std::string> cmdline_of(pid_t pid) {
  return split_nul(read_file("/proc/" + std::to_string(pid) + "/cmdline"));
}

/// Live processes one of whose arguments is exactly `arg`.
std::vector<pid_t> pids_with_arg(const std::string& arg) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (!all_digits(name)) continue;
    const pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    const auto argv = cmdline_of(pid);
    if (std::find(argv.begin(), argv.end(), arg) != argv.end()) pids.push_back(pid);
  }
  return pids;
}

pid_t parent_of(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

std::string comm_of(pid_t pid) {
  return trim(read_file("/proc/" + std::to_string(pid) + "/comm"));
}

/// Waits until no process carrying `marker` has been seen for `quiet` (a
/// remote command may also start late, after our side already gave up), at
/// most `limit`; returns those alive at the end.
std::vector<pid_t> wait_gone(const std::string& marker, std::chrono::milliseconds limit,
                             std::chrono::milliseconds quiet = 2000ms) {
  const auto until = Clock::now() + limit;
  auto last_seen = Clock::now();
  auto left = pids_with_arg(marker);
  while (Clock::now() < until) {
    if (!left.empty())
      last_seen = Clock::now();
    else if (Clock::now() - last_seen >= quiet)
      break;
    std::this_thread::sleep_for(100ms);
    left = pids_with_arg(marker);
  }
  return left;
}

/// Kills what a test left running on the "remote" side (ours, by marker).
void kill_leftovers(const std::string& marker) {
  for (pid_t pid : pids_with_arg(marker)) ::kill(pid, SIGKILL);
}

std::string describe(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t pid : pids) {
    std::string line;
    for (const auto& a : cmdline_of(pid)) line += (line.empty() ? "" : " ") + a;
    out += "\n  pid " + std::to_string(pid) + " (parent " + std::to_string(parent_of(pid)) +
           "): " + line;
  }
  return out;
}

// ---- running /bin/sh here, for remote_command_line

struct Local {
  int status = -1;
  std::string out;
  std::string err;
};

/// Runs argv (no shell of ours) with `input` on standard input.
Local run_local(const std::vector<std::string>& argv, const std::string& input = {}) {
  int in[2], out[2], err[2];
  if (::pipe(in) != 0 || ::pipe(out) != 0 || ::pipe(err) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  std::thread writer([fd = in[1], &input] {
    ::signal(SIGPIPE, SIG_IGN);
    std::size_t done = 0;
    while (done < input.size()) {
      const ssize_t n = ::write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += std::size_t(n);
    }
    ::close(fd);
  });
  Local r;
  std::thread err_reader([fd = err[0], &r] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) r.err.append(buf, std::size_t(n));
    ::close(fd);
  });
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, std::size_t(n));
  ::close(out[0]);
  writer.join();
  err_reader.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> printf_argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"printf", "%s\\0"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// ---- the test bed

struct Bed {
  std::string skip;  ///< non-empty: why the tests cannot run
  fs::path state;
  std::string host;
  std::uint16_t port = 0;
  std::string user;
  fs::path identity;
  fs::path other_identity;
  fs::path known_hosts;
  pid_t listener = 0;
};

const Bed& bed() {
  static const Bed b = [] {
    Bed r;
    const char* state = std::getenv("HYPERCTL_TESTBED_SSH_STATE");
    if (!state || !*state) {
      r.skip =
          "HYPERCTL_TESTBED_SSH_STATE is not set (run through ctest, whose fixture "
          "testbed.sshd.start starts tests/testbed/sshd.sh)";
      return r;
    }
    r.state = state;
    if (fs::exists(r.state / "unavailable")) {
      r.skip = "sshd test bed unavailable: " + trim(read_file(r.state / "unavailable"));
      return r;
    }
    const std::string port = trim(read_file(r.state / "port"));
    if (port.empty()) {
      r.skip = "sshd test bed did not start: no " + (r.state / "port").string() +
               " (see testbed.sshd.start's output)";
      return r;
    }
    r.port = std::uint16_t(std::stoi(port));
    r.host = trim(read_file(r.state / "host"));
    r.user = trim(read_file(r.state / "user"));
    r.identity = r.state / "id_ed25519";
    r.other_identity = r.state / "other_ed25519";
    r.known_hosts = r.state / "known_hosts";
    r.listener = std::atoi(trim(read_file(r.state / "sshd.pid")).c_str());
    return r;
  }();
  return b;
}

proc::SshTarget target() {
  proc::SshTarget t;
  t.host = bed().host;
  t.port = bed().port;
  t.user = bed().user;
  t.identity_file = bed().identity.string();
  t.known_hosts = bed().known_hosts.string();
  t.connect_timeout = 5s;
  return t;
}

/// Runs and returns the Error thrown, or fails the test naming what came back.
std::optional<Error> run_error(const proc::Runner& runner, const proc::Command& cmd) {
  try {
    const proc::Result r = runner.run(cmd);
    ADD_FAILURE() << "expected an Error, got exit_code " << r.exit_code << " signal " << r.signal
                  << " out " << r.out.size() << " bytes, err: " << r.err;
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

class Ssh : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!bed().skip.empty()) GTEST_SKIP() << bed().skip;
    tmp_ = fs::temp_directory_path() / ("hyperctl-ssh-test-" + unique_number());
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }

  /// A file of `size` random bytes in the test's folder.
  fs::path random_file(std::size_t size) {
    std::mt19937_64 gen(std::random_device{}());
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
      const std::uint64_t v = gen();
      for (std::size_t j = 0; j < 8 && i + j < size; ++j) data[i + j] = char(v >> (8 * j));
    }
    const fs::path path = tmp_ / "random.bin";
    std::ofstream(path, std::ios::binary).write(data.data(), std::streamsize(data.size()));
    return path;
  }

  proc::Runner runner_{target_or_dummy()};
  fs::path tmp_;

 private:
  static proc::SshTarget target_or_dummy() {
    if (!bed().skip.empty()) return proc::SshTarget{.host = "127.0.0.1"};
    return target();
  }
};

struct ProgressLog {
  std::mutex m;
  std::vector<hyperctl::Progress> calls;
  hyperctl::ProgressFn fn() {
    return [this](const hyperctl::Progress& p) {
      std::lock_guard<std::mutex> lock(m);
      calls.push_back(p);
    };
  }
};

void expect_monotonic(const std::vector<hyperctl::Progress>& calls, const std::string& phase,
                      std::uint64_t final_done) {
  ASSERT_FALSE(calls.empty()) << "no progress call for " << phase;
  std::uint64_t last = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].phase, phase) << "call " << i;
    EXPECT_GE(calls[i].done, last) << "call " << i << ": done went backwards";
    last = calls[i].done;
  }
  EXPECT_EQ(calls.back().done, final_done) << "the last progress call is not the whole stream";
}

}  // namespace

// ---------------------------------------------------------------------------
// remote_command_line: a pure function, checked by a real /bin/sh here.

TEST(RemoteCommandLine, HostileArgumentsComeBackFromShByteForByte) {
  const std::string line = proc::remote_command_line(printf_argv(hostile_args()), {});
  for (const char* shell : {"/bin/sh", "/bin/bash"}) {
    if (!fs::exists(shell)) continue;
    const Local r = run_local({shell, "-c", line});
    EXPECT_EQ(r.status, 0) << shell << " stderr: " << r.err;
    EXPECT_EQ(split_nul(r.out), hostile_args()) << shell << " line: " << line;
  }
}

TEST(RemoteCommandLine, EachHostileArgumentAloneAsProgramArgument) {
  for (const auto& arg : hostile_args()) {
    const Local r = run_local({"/bin/sh", "-c", proc::remote_command_line(printf_argv({arg}), {})});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, arg + std::string(1, '\0'));
  }
}

TEST(RemoteCommandLine, EnvironmentValuesReachTheProgramUnchanged) {
  for (const auto& value : hostile_args()) {
    const Local r =
        run_local({"/bin/sh", "-c",
                   proc::remote_command_line({"sh", "-c", "printf '%s\\0' \"$X\" \"$WSL_UTF8\""},
                                             {{"X", value}, {"WSL_UTF8", "1"}})});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(split_nul(r.out), (std::vector<std::string>{value, "1"}));
  }
}

TEST(RemoteCommandLine, WithoutEnvironmentNoVariableIsSet) {
  const Local r =
      run_local({"/bin/sh", "-c",
                 proc::remote_command_line(
                     {"sh", "-c", "printf '[%s]' \"${HYPERCTL_SSH_TEST_X-unset}\""}, {})});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[unset]");
}

TEST(RemoteCommandLine, StandardInputAndExitStatusPassThrough) {
  const Local r =
      run_local({"/bin/sh", "-c", proc::remote_command_line({"sh", "-c", "cat; exit 7"}, {})},
                std::string("stdin \0 bytes\n", 14));
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_EQ(r.out, std::string("stdin \0 bytes\n", 14));
}

TEST(RemoteCommandLine, ProgramNamedLikeAnAssignmentIsStillTheProgram) {
  // argv[0] is the program even when it looks like NAME=VALUE, with or
  // without variables (env(1) takes such words for assignments): no such
  // program, so the shell says 127, and `true` never runs.
  for (const auto& env :
       {std::map<std::string, std::string>{}, std::map<std::string, std::string>{{"X", "1"}}}) {
    const Local r = run_local(
        {"/bin/sh", "-c", proc::remote_command_line({"HYPERCTL_SSH_TEST_Y=1", "true"}, env)});
    EXPECT_EQ(r.status, 127) << "with " << env.size() << " variable(s): " << r.out << r.err;
  }
}

// ---------------------------------------------------------------------------
// The runner over ssh to the test bed.

TEST_F(Ssh, HostileArgumentsRoundTripByteForByte) {
  const auto start = Clock::now();
  const proc::Result r = runner_.run({.argv = printf_argv(hostile_args()), .timeout = 30s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(split_nul(r.out), hostile_args());
  RecordProperty(
      "ms",
      int(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
}

TEST_F(Ssh, EnvironmentIsVisibleRemotely) {
  const proc::Result r = runner_.run({.argv = {"printenv", "WSL_UTF8", "X"},
                                      .env = {{"WSL_UTF8", "1"}, {"X", "a b'c"}},
                                      .timeout = 30s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\na b'c\n");

  const proc::Result all =
      runner_.run({.argv = {"env"}, .env = {{"WSL_UTF8", "1"}, {"X", "a b'c"}}, .timeout = 30s});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(("\n" + all.out).find("\nWSL_UTF8=1\n"), std::string::npos) << all.out;
  EXPECT_NE(("\n" + all.out).find("\nX=a b'c\n"), std::string::npos) << all.out;
}

TEST_F(Ssh, StdinDataReachesRemoteIntact) {
  std::string data;
  for (int i = 0; i < 300000; ++i) data += char(i * 7 + (i >> 8));
  const proc::Result r = runner_.run({.argv = {"sha256sum"}, .stdin_data = data, .timeout = 30s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 64), sha256(data));
}

TEST_F(Ssh, StdinFileOf5MiBStreamsIntactWithProgress) {
  constexpr std::size_t size = 5u << 20;
  const fs::path file = random_file(size);
  ProgressLog log;
  const auto start = Clock::now();
  const proc::Result r = runner_.run(
      {.argv = {"sha256sum"}, .stdin_file = file.string(), .timeout = 60s, .progress = log.fn()});
  RecordProperty(
      "ms",
      int(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 64), sha256(read_file(file)));
  expect_monotonic(log.calls, "stdin", size);
  if (!log.calls.empty()) {
    EXPECT_EQ(log.calls.back().total, size);
  }
}

TEST_F(Ssh, StdoutSinkGets5MiBIntactWithProgress) {
  constexpr std::size_t size = 5u << 20;
  const fs::path file = random_file(size);
  std::string received;
  std::size_t chunks = 0;
  ProgressLog log;
  const proc::Result r = runner_.run({.argv = {"head", "-c", std::to_string(size), file.string()},
                                      .stdout_sink =
                                          [&](std::string_view chunk) {
                                            received.append(chunk);
                                            ++chunks;
                                          },
                                      .timeout = 60s,
                                      .progress = log.fn()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "the sink took the output, yet Result::out has " << r.out.size()
                             << " bytes";
  EXPECT_EQ(received.size(), size);
  EXPECT_EQ(sha256(received), sha256(read_file(file)));
  EXPECT_GT(chunks, 1u) << "5 MiB arrived in one chunk: not streamed";
  expect_monotonic(log.calls, "stdout", size);
}

TEST_F(Ssh, RemoteExitStatusAndStderrComeBack) {
  const proc::Result r = runner_.run(
      {.argv = {"sh", "-c", "echo out; echo 'oops on stderr' >&2; exit 7"}, .timeout = 30s});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "oops on stderr\n");
}

TEST_F(Ssh, RemoteExitStatus255IsTheProgramsNotSshs) {
  // ssh itself exits 255 when it fails; a program's own 255 must still come
  // back as a Result.
  const proc::Result r = runner_.run({.argv = {"sh", "-c", "exit 255"}, .timeout = 30s});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.signal, 0);
}

TEST_F(Ssh, NonPosixShellGetsThePlainWordsVerbatimAndNothingElse) {
  // For servers whose shell is cmd.exe or PowerShell: the words go as they
  // are (this server's sh reads them the same way), data goes on stdin.
  proc::SshTarget t = target();
  t.posix_shell = false;
  const proc::Runner verbatim(t);
  const proc::Result r = verbatim.run({.argv = {"sh", "-c", "cat", "--", "a=b,c:d/e+f@g-h.i_j"},
                                       .stdin_data = "über;$(x)'\"\n",
                                       .timeout = 30s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "über;$(x)'\"\n");
  EXPECT_EQ(r.err, "") << "no wrapper trailer without a POSIX shell";
  const auto argv = verbatim.local_argv({.argv = {"powershell", "-EncodedCommand", "QQB="}});
  EXPECT_EQ(argv.back(), "powershell -EncodedCommand QQB=");

  for (const std::string bad : {"a b", "it's", "$(id)", "a;b", "a&b", "a|b", "%PATH%", "^", "",
                                "\"q\"", "ü", "a\nb", "a`b", "<x>"}) {
    try {
      verbatim.run({.argv = {"echo", bad}, .timeout = 30s});
      ADD_FAILURE() << "ran with " << bad;
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument) << bad;
    }
  }
  try {
    verbatim.run({.argv = {"true"}, .env = {{"X", "1"}}, .timeout = 30s});
    ADD_FAILURE() << "ran with variables";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument);
  }
  // Without the wrapper's trailer, ssh's own failures are still told apart.
  proc::SshTarget untrusted = t;
  untrusted.known_hosts = (tmp_ / "empty_known_hosts").string();
  std::ofstream(untrusted.known_hosts).close();
  try {
    proc::Runner(untrusted).run({.argv = {"true"}, .timeout = 30s});
    ADD_FAILURE() << "an unknown host key was accepted";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::AuthFailed) << e.what();
  }
}

TEST_F(Ssh, RemoteProgramKilledBySignalIsReported) {
  const proc::Result r = runner_.run({.argv = {"sh", "-c", "kill -TERM $$"}, .timeout = 30s});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST_F(Ssh, UnknownHostKeyIsAuthFailedSayingHostKey) {
  const fs::path empty = tmp_ / "known_hosts";
  std::ofstream(empty).close();
  proc::SshTarget t = target();
  t.known_hosts = empty.string();
  const auto e = run_error(proc::Runner(t), {.argv = {"true"}, .timeout = 30s});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  EXPECT_NE(lower(e->what()).find("host key"), std::string::npos) << e->what();
  EXPECT_NE(std::string(e->what()).find(bed().host), std::string::npos) << e->what();
}

TEST_F(Ssh, WrongClientKeyIsAuthFailed) {
  proc::SshTarget t = target();
  t.identity_file = bed().other_identity.string();
  const auto e = run_error(proc::Runner(t), {.argv = {"true"}, .timeout = 30s});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  EXPECT_EQ(lower(e->what()).find("host key"), std::string::npos)
      << "a refused client key is not a host-key problem: " << e->what();
}

TEST_F(Ssh, RefusedPortIsUnreachable) {
  // A port that was free a moment ago: bind, read it, close.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  proc::SshTarget t = target();
  t.port = ntohs(addr.sin_port);
  const auto start = Clock::now();
  const auto e = run_error(proc::Runner(t), {.argv = {"true"}, .timeout = 30s});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(Ssh, NoErrorMessageContainsTheIdentityFile) {
  // Every failure the runner reports, with the private key's text searched
  // for in what() and detail().
  const std::string key = read_file(bed().identity);
  const std::string other_key = read_file(bed().other_identity);
  std::vector<std::string> secrets;
  for (const std::string* k : {&key, &other_key}) {
    std::istringstream lines(*k);
    std::string line;
    while (std::getline(lines, line))
      if (line.size() >= 16 && line.rfind("-----", 0) != 0) secrets.push_back(line);
  }
  ASSERT_FALSE(secrets.empty()) << "the client keys have no body?";

  const fs::path empty = tmp_ / "known_hosts";
  std::ofstream(empty).close();
  std::vector<proc::SshTarget> targets(3, target());
  targets[0].known_hosts = empty.string();
  targets[1].identity_file = bed().other_identity.string();
  targets[2].port = 1;  // nothing listens on tcpmux here
  for (const auto& t : targets) {
    const auto e = run_error(proc::Runner(t), {.argv = {"cat", t.identity_file}, .timeout = 30s});
    ASSERT_TRUE(e);
    for (const auto& secret : secrets) {
      EXPECT_EQ(std::string(e->what()).find(secret), std::string::npos) << e->what();
      EXPECT_EQ(e->detail().find(secret), std::string::npos) << e->detail();
    }
  }
}

TEST_F(Ssh, TimeoutKillsTheRemoteCommandToo) {
  const std::string marker = "30." + unique_number();
  const auto start = Clock::now();
  const auto e = run_error(runner_, {.argv = {"sleep", marker}, .timeout = 1s});
  const auto took = Clock::now() - start;
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout) << e->what();
  EXPECT_LT(took, 2500ms) << "Timeout after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms";
  RecordProperty("ms", int(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  const auto left = wait_gone(marker, 7s);
  EXPECT_TRUE(left.empty()) << "the remote `sleep " << marker
                            << "` still runs after the timeout (watched for 7 s; ssh without a "
                               "terminal does not signal the remote command):"
                            << describe(left);
  kill_leftovers(marker);
}

TEST_F(Ssh, TimeoutDuringSessionSetupLeavesNothingRunning) {
  // The ssh client killed at every moment of the connection's first 800 ms:
  // before it connects, during authentication, just as sshd starts the
  // remote command. Whenever the remote command did start, it must not
  // outlive the session.
  const std::string marker = "30." + unique_number();
  int timeouts = 0;
  for (auto t = 50ms; t <= 800ms; t += 50ms) {
    const auto e = run_error(runner_, {.argv = {"sleep", marker}, .timeout = t});
    if (!e) continue;
    if (e->code() == ErrorCode::Timeout) ++timeouts;
    EXPECT_EQ(e->code(), ErrorCode::Timeout) << "timeout " << t.count() << " ms: " << e->what();
  }
  EXPECT_EQ(timeouts, 16);
  const auto left = wait_gone(marker, 10s);
  EXPECT_TRUE(left.empty()) << "remote `sleep " << marker
                            << "` still running after its ssh client was killed (watched for "
                               "10 s):"
                            << describe(left);
  kill_leftovers(marker);
}

TEST_F(Ssh, CancelFromAnotherThreadKillsTheRemoteCommandToo) {
  const std::string marker = "30." + unique_number();
  hyperctl::CancelToken token;
  std::thread canceller([token]() mutable {
    std::this_thread::sleep_for(300ms);
    token.cancel();
  });
  const auto start = Clock::now();
  const auto e = run_error(runner_, {.argv = {"sleep", marker}, .timeout = 30s, .cancel = token});
  const auto took = Clock::now() - start;
  canceller.join();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  EXPECT_LT(took, 1500ms) << "Cancelled after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms";
  const auto left = wait_gone(marker, 7s);
  EXPECT_TRUE(left.empty()) << "the remote `sleep " << marker
                            << "` still runs after the cancel (watched for 7 s):" << describe(left);
  kill_leftovers(marker);
}

TEST_F(Ssh, DroppedConnectionIsUnreachableNotAResult) {
  ASSERT_GT(bed().listener, 0) << "no sshd.pid in the state folder";
  ASSERT_EQ(comm_of(bed().listener), "sshd") << "pid " << bed().listener << " is not sshd";
  const std::string marker = "hyperctl-drop-" + unique_number();

  // Once the remote command runs, find its sshd session (the listener's child
  // it descends from) and kill that and its sshd children: the connection
  // drops as if the network went away.
  std::atomic<bool> stop{false};
  std::string killed;
  std::thread dropper([&] {
    const auto until = Clock::now() + 10s;
    while (!stop && Clock::now() < until) {
      for (pid_t pid : pids_with_arg(marker)) {
        pid_t session = pid;
        while (session > 1 && parent_of(session) != bed().listener) session = parent_of(session);
        if (session <= 1) continue;
        std::vector<pid_t> victims{session};
        for (std::size_t i = 0; i < victims.size(); ++i) {
          std::error_code ec;
          for (const auto& entry : fs::directory_iterator("/proc", ec)) {
            const std::string name = entry.path().filename();
            if (!all_digits(name)) continue;
            const pid_t child = std::stoi(name);
            if (parent_of(child) == victims[i] && comm_of(child) == "sshd")
              victims.push_back(child);
          }
        }
        for (pid_t v : victims) {
          killed += std::to_string(v) + " ";
          ::kill(v, SIGKILL);
        }
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  const auto start = Clock::now();
  const auto e = run_error(
      runner_, {.argv = {"sh", "-c", "head -c 1000000 /dev/zero; sleep 5; echo done", marker},
                .timeout = 30s});
  const auto took = Clock::now() - start;
  stop = true;
  dropper.join();
  EXPECT_FALSE(killed.empty()) << "the remote command never showed up in /proc";
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what();
  const std::string what = lower(e->what());
  EXPECT_NE(what.find("connection"), std::string::npos) << e->what();
  EXPECT_TRUE(what.find("lost") != std::string::npos || what.find("closed") != std::string::npos ||
              what.find("dropped") != std::string::npos)
      << e->what();
  EXPECT_LT(took, 5s) << "the runner waited for the remote command instead of the connection";
  const auto left = wait_gone(marker, 7s);
  EXPECT_TRUE(left.empty()) << "the remote command outlived its dropped session (watched for 7 s):"
                            << describe(left);
  kill_leftovers(marker);
}

TEST_F(Ssh, LocalArgvIsSshWithStrictOptionsAndTheCommandLineLast) {
  const proc::Command cmd{.argv = printf_argv({"a b", "$(id)"}), .env = {{"X", "a b'c"}}};
  const auto argv = runner_.local_argv(cmd);
  ASSERT_GE(argv.size(), 3u);
  const auto has_option = [&](const std::string& opt) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      if (argv[i] == "-o" + opt) return true;
      if (argv[i] == "-o" && i + 1 < argv.size() && argv[i + 1] == opt) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_option("BatchMode=yes"));
  EXPECT_TRUE(has_option("StrictHostKeyChecking=yes"));
  EXPECT_TRUE(has_option("UserKnownHostsFile=" + bed().known_hosts.string()));
  EXPECT_NE(std::find(argv.begin(), argv.end(), bed().identity.string()), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), std::to_string(bed().port)), argv.end());
  EXPECT_EQ(argv.back(), proc::remote_command_line(cmd.argv, cmd.env));
  const char* env_ssh = std::getenv("HYPERCTL_SSH");
  EXPECT_EQ(fs::path(argv.front()).filename(),
            env_ssh && *env_ssh ? fs::path(env_ssh).filename() : fs::path("ssh"));

  // And the local runner executes argv itself.
  EXPECT_EQ(proc::Runner().local_argv(cmd), cmd.argv);
}

TEST_F(Ssh, ConcurrentRunsOnOneRunner) {
  std::vector<std::thread> threads;
  std::vector<std::string> outs(4);
  for (std::size_t i = 0; i < outs.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        outs[i] = runner_.run({.argv = {"echo", "run " + std::to_string(i)}, .timeout = 30s}).out;
      } catch (const Error& e) {
        outs[i] = std::string("Error: ") + e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < outs.size(); ++i)
    EXPECT_EQ(outs[i], "run " + std::to_string(i) + "\n");
}
