// The process runner on this machine: argv reaches the program byte for
// byte, streams in both directions, exit statuses and signals, deadlines and
// cancellation that kill the whole process group, and the failures a backend
// must be able to tell apart.
#include "hyperctl/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "hyperctl/error.hpp"

namespace {

using namespace hyperctl;
using namespace hyperctl::process;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kHostile = {"it's",      "say \"hi\"", "`id`",
                                           "$(id)",     "a;b",        "a|b",
                                           "a&b",       "line\nnext", "\xE2\x80\x98q\xE2\x80\x99",
                                           "名前-ü",    "",           "-n",
                                           "*",         "$HOME",      "a\\b",
                                           "tab\there", "%PATH%",     "^caret"};

std::string joined_with_nul(const std::vector<std::string>& words) {
  std::string all;
  for (const auto& w : words) all += w + std::string(1, '\0');
  return all;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorCode::Internal;
}

bool process_with_arg_exists(const std::string& marker) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(marker) != std::string::npos) {
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const auto close = line.rfind(')');
      if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z')
        continue;  // a zombie has ended
      return true;
    }
  }
  return false;
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "hyperctl-proc-XXXXXX").string();
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Process, ArgvReachesTheProgramByteForByte) {
  Command c;
  c.argv = {"printf", "%s\\0"};
  c.argv.insert(c.argv.end(), kHostile.begin(), kHostile.end());
  const Result r = Runner().run(c);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, joined_with_nul(kHostile));
}

TEST(Process, EnvironmentIsAddedToTheInheritedOne) {
  Command c;
  c.argv = {"sh", "-c", "printf '%s|%s' \"$HYPERCTL_T\" \"${PATH:+inherited}\""};
  c.env = {{"HYPERCTL_T", "a b'c$(x)"}};
  EXPECT_EQ(Runner().run(c).out, "a b'c$(x)|inherited");
}

// The passwords hyperctl reads from its environment stay with it: ssh,
// ssh-keyscan, PowerShell... and whatever they run never see them.
TEST(Process, PasswordVariablesDoNotReachTheChild) {
  ::setenv("HYPERCTL_PASSWORD", "global-s3cret", 1);
  ::setenv("HYPERCTL_PASSWORD_X", "x-s3cret", 1);
  ::setenv("HYPERCTL_PASSWORD_KVM_1", "kvm-s3cret", 1);
  ::setenv("HYPERCTL_PASSWORDLESS", "kept", 1);  // not one of ours
  ::setenv("HYPERCTL_T_INHERITED", "passes", 1);
  Command c;
  c.argv = {"env"};
  const Result r = Runner().run(c);
  ::unsetenv("HYPERCTL_PASSWORD");
  ::unsetenv("HYPERCTL_PASSWORD_X");
  ::unsetenv("HYPERCTL_PASSWORD_KVM_1");
  ::unsetenv("HYPERCTL_PASSWORDLESS");
  ::unsetenv("HYPERCTL_T_INHERITED");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("s3cret"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("HYPERCTL_PASSWORD="), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("HYPERCTL_PASSWORD_"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HYPERCTL_T_INHERITED=passes\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HYPERCTL_PASSWORDLESS=kept\n"), std::string::npos) << r.out;
}

TEST(Process, WorkingFolder) {
  TempDir dir;
  Command c;
  c.argv = {"pwd", "-P"};
  c.working_dir = dir.path().string();
  EXPECT_EQ(Runner().run(c).out, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(Process, StdinDataAndStdinFileStreamThrough) {
  Command c;
  c.argv = {"cat"};
  c.stdin_data = "hello\n\x01\x02";
  EXPECT_EQ(Runner().run(c).out, c.stdin_data);

  TempDir dir;
  const auto file = dir.path() / "in.bin";
  std::string data(5 * 1024 * 1024 + 17, '\0');
  std::mt19937 rng(7);
  for (auto& ch : data) ch = char(rng());
  std::ofstream(file, std::ios::binary).write(data.data(), std::streamsize(data.size()));

  Command f;
  f.argv = {"cat"};
  f.stdin_file = file.string();
  std::string got;
  f.stdout_sink = [&](std::string_view chunk) { got.append(chunk); };
  std::vector<Progress> seen;
  f.progress = [&](const Progress& p) { seen.push_back(p); };
  const Result r = Runner().run(f);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty()) << "the sink took the output";
  EXPECT_TRUE(got == data) << "stream differs, got " << got.size() << " bytes";
  ASSERT_FALSE(seen.empty());
  std::uint64_t last_in = 0;
  bool final_in = false, final_out = false;
  for (const auto& p : seen) {
    if (p.phase == "stdin") {
      EXPECT_GE(p.done, last_in);
      last_in = p.done;
      EXPECT_EQ(p.total, data.size());
      final_in = final_in || p.done == data.size();
    } else {
      EXPECT_EQ(p.phase, "stdout");
      final_out = final_out || (p.done == data.size() && p.total == data.size());
    }
  }
  EXPECT_TRUE(final_in);
  EXPECT_TRUE(final_out);
}

TEST(Process, AChildThatDoesNotReadItsInputDoesNotKillUs) {
  Command c;
  c.argv = {"true"};
  c.stdin_data.assign(8 * 1024 * 1024, 'x');
  EXPECT_EQ(Runner().run(c).exit_code, 0);
}

TEST(Process, ExitStatusSignalAndStderr) {
  Command c;
  c.argv = {"sh", "-c", "echo out; echo 'bad thing' >&2; exit 7"};
  Result r = Runner().run(c);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "bad thing\n");

  c.argv = {"sh", "-c", "kill -TERM $$"};
  r = Runner().run(c);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST(Process, MissingOrNonExecutableProgramIsUnreachableNamingIt) {
  Command c;
  c.argv = {"hyperctl-no-such-program-xyz", "arg"};
  try {
    Runner().run(c);
    FAIL() << "ran a missing program";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unreachable);
    EXPECT_NE(std::string(e.what()).find("hyperctl-no-such-program-xyz"), std::string::npos);
  }
  TempDir dir;
  const auto file = dir.path() / "not-exec";
  std::ofstream(file) << "#!/bin/sh\n";
  c.argv = {file.string()};
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::Unreachable);
  c.argv = {(dir.path() / "absent").string()};
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::Unreachable);
  c.argv = {};
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::InvalidArgument);
}

TEST(Process, TimeoutKillsTheWholeProcessGroup) {
  const std::string marker = "31.7" + std::to_string(::getpid());
  Command c;
  // A grandchild too: the kill must reach it.
  c.argv = {"sh", "-c", "sleep " + marker + " & sleep " + marker + "; wait"};
  c.timeout = 300ms;
  const auto t0 = Clock::now();
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::Timeout);
  EXPECT_LT(Clock::now() - t0, 3s);
  bool gone = false;
  for (int i = 0; i < 40 && !gone; ++i) {
    gone = !process_with_arg_exists(marker);
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "a sleep " << marker << " survived the timeout";
}

TEST(Process, CancelFromAnotherThreadKillsTheChild) {
  Command c;
  c.argv = {"sleep", "30"};
  std::thread canceller([token = c.cancel] {
    std::this_thread::sleep_for(300ms);
    CancelToken(token).cancel();
  });
  const auto t0 = Clock::now();
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::Cancelled);
  EXPECT_LT(Clock::now() - t0, 3s);
  canceller.join();
}

TEST(Process, OutputBeyondTheCaptureLimitFails) {
  Command c;
  c.argv = {"head", "-c", "200000", "/dev/zero"};
  c.max_capture_bytes = 100000;
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::BackendFailure);
  c.max_capture_bytes = 200000;
  EXPECT_EQ(Runner().run(c).out.size(), 200000u);
}

TEST(Process, ASinkThatThrowsStopsTheChildAndPropagates) {
  Command c;
  c.argv = {"cat", "/dev/zero"};
  std::size_t seen = 0;
  c.stdout_sink = [&](std::string_view chunk) {
    seen += chunk.size();
    if (seen > 1000000) throw std::runtime_error("disk full");
  };
  const auto t0 = Clock::now();
  EXPECT_THROW(Runner().run(c), std::runtime_error);
  EXPECT_LT(Clock::now() - t0, 3s);
}

TEST(Process, AGrandchildHoldingThePipesDoesNotHangUs) {
  Command c;
  c.argv = {"sh", "-c", "sleep 5 & echo hi"};
  const auto t0 = Clock::now();
  const Result r = Runner().run(c);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hi\n");
}

TEST(Process, ConcurrentChildrenInheritOnlyTheirStandardStreams) {
  // Each child's shell lists its own descriptors ("; :" keeps sh from
  // exec'ing ls, which would list ls's open folder too). Started from many
  // threads at once, each child would otherwise inherit the pipes other
  // threads have just made for their children.
  constexpr int kThreads = 12, kEach = 25;
  std::atomic<int> foreign{0}, ran{0};
  std::string example;
  std::mutex example_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        Command c;
        c.argv = {"sh", "-c", "ls /proc/$$/fd; :"};
        const Result r = Runner().run(c);
        ++ran;
        if (r.out != "0\n1\n2\n") {
          ++foreign;
          std::lock_guard lock(example_mutex);
          example = r.out;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ran.load(), kThreads * kEach);
  EXPECT_EQ(foreign.load(), 0) << "children saw other descriptors, e.g.: " << example;
}

TEST(Process, ACatIsNotHeldOpenByAnUnrelatedSleep) {
  // The cat's input (1 MiB, more than a pipe holds) is still being written
  // when another thread starts `sleep 2`; had the sleep inherited the write
  // end, the cat would see the end of its input only when the sleep ends.
  Command cat;
  cat.argv = {"sh", "-c", "sleep 0.4; cat"};
  cat.stdin_data.assign(1 << 20, 'x');
  std::thread other([] {
    std::this_thread::sleep_for(100ms);
    Command sleep;
    sleep.argv = {"sleep", "2"};
    Runner().run(sleep);
  });
  const auto t0 = Clock::now();
  const Result r = Runner().run(cat);
  const auto took = Clock::now() - t0;
  other.join();
  EXPECT_EQ(r.out.size(), cat.stdin_data.size());
  EXPECT_LT(took, 1500ms) << "the cat waited for the sleep";
}

TEST(Process, AChildCanStillTellAFailedExec) {
  // Boost reports a failed exec through a close-on-exec pipe of its own: the
  // child set-up must leave that one open until the exec.
  TempDir dir;
  const auto script = dir.path() / "bad-interpreter";
  std::ofstream(script) << "#!/nonexistent/interpreter\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Command c;
  c.argv = {script.string()};
  EXPECT_EQ(code_of([&] { Runner().run(c); }), ErrorCode::Unreachable);
}

TEST(Process, SpawnDetachedRunsInItsOwnSessionAndIsReaped) {
  TempDir dir;
  const auto flag = dir.path() / "ran";
  Command c;
  c.argv = {"sh", "-c", "echo $$ > \"$0\"; sleep 0.3", flag.string()};
  const int pid = Runner().spawn_detached(c);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::getsid(pid), pid);
  bool reaped = false;
  for (int i = 0; i < 60 && !reaped; ++i) {
    std::this_thread::sleep_for(50ms);
    reaped = ::kill(pid, 0) != 0;  // neither running nor a zombie of ours
  }
  EXPECT_TRUE(reaped);
  std::ifstream in(flag);
  int written = 0;
  in >> written;
  EXPECT_EQ(written, pid);
}

TEST(Process, RemoteCommandLineKeepsEveryWordAsData) {
  // The line an ssh server hands to the login shell, run here by /bin/sh.
  std::vector<std::string> argv = {"printf", "%s\\0"};
  argv.insert(argv.end(), kHostile.begin(), kHostile.end());
  Command c;
  c.argv = {"sh", "-c", remote_command_line(argv, {{"HYPERCTL_T", "v'$(x)"}})};
  const Result r = Runner().run(c);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, joined_with_nul(kHostile));
  EXPECT_NE(r.err.find("hyperctl-exit 0"), std::string::npos) << r.err;
}

TEST(Process, LocalArgvOverSshChecksHostKeysAndNeverPrompts) {
  SshTarget t;
  t.host = "host.example";
  t.user = "ops";
  t.port = 2222;
  t.program = "/usr/bin/ssh";
  t.known_hosts = "/tmp/kh";
  Runner runner(t);
  EXPECT_TRUE(runner.remote());
  Command c;
  c.argv = {"wsl.exe", "--list"};
  const auto argv = runner.local_argv(c);
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv[0], "/usr/bin/ssh");
  auto has = [&](const std::string& w) {
    return std::find(argv.begin(), argv.end(), w) != argv.end();
  };
  EXPECT_TRUE(has("BatchMode=yes"));
  EXPECT_TRUE(has("StrictHostKeyChecking=yes"));
  EXPECT_TRUE(has("UserKnownHostsFile=/tmp/kh"));
  EXPECT_EQ(argv[argv.size() - 3], "--");
  EXPECT_EQ(argv[argv.size() - 2], "host.example");
  EXPECT_EQ(argv.back(), remote_command_line(c.argv, {}));
  EXPECT_THROW(Runner(SshTarget{}), Error);
}

}  // namespace

namespace {

TEST(Process, RunnerForAUri) {
  using hyperctl::Uri;
  EXPECT_FALSE(runner_for(Uri::parse("wsl:///"), "", std::chrono::seconds(5), true).remote());
  const Runner r = runner_for(
      Uri::parse("hyperv://ops@hv01:2222/?ssh=/opt/ssh&identity=/k/id&known_hosts=/k/kh"), "",
      std::chrono::milliseconds(300), false);
  ASSERT_TRUE(r.remote());
  EXPECT_EQ(r.ssh()->host, "hv01");
  EXPECT_EQ(r.ssh()->user, "ops");
  EXPECT_EQ(r.ssh()->port, 2222);
  EXPECT_EQ(r.ssh()->program, "/opt/ssh");
  EXPECT_EQ(r.ssh()->identity_file, "/k/id");
  EXPECT_EQ(r.ssh()->known_hosts, "/k/kh");
  EXPECT_EQ(r.ssh()->connect_timeout, std::chrono::seconds(1)) << "at least one second";
  EXPECT_FALSE(r.ssh()->posix_shell);
  EXPECT_EQ(
      runner_for(Uri::parse("wsl://ops@pc/"), "admin", std::chrono::seconds(5), true).ssh()->user,
      "admin");
  for (const char* bad : {"wsl://ops@/", "wsl://:22/", "wsl:///?identity=/k", "wsl:///?ssh=x",
                          "wsl:///?known_hosts=/k", "wsl://pc:0/"}) {
    EXPECT_EQ(code_of([&] { runner_for(Uri::parse(bad), "", std::chrono::seconds(5), true); }),
              ErrorCode::InvalidArgument)
        << bad;
  }
}

}  // namespace
