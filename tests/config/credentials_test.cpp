// CredentialStore: each source and their order, narrowing by `credentials =`,
// the owner-only file (refused otherwise, the secret never in a message),
// atomic edits, and the prompt on a real pseudo-terminal.
#include "hyperctl/credentials.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "../common/env.hpp"
#include "../common/expect_error.hpp"
#include "../common/pty.hpp"
#include "hyperctl/config.hpp"
#include "hyperctl/process.hpp"

namespace fs = std::filesystem;
using hyperctl::ConnectionEntry;
using hyperctl::CredentialStore;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::test::error_of;
using hyperctl::test::read_file;

namespace {

constexpr const char* kSecret = "s3cr=t #x y";  // '=', '#' and a space inside

class Credentials : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hyperctl-cred-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = (dir_ / "credentials").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& text, mode_t mode = 0600) {
    { std::ofstream(file_, std::ios::trunc) << text; }
    ASSERT_EQ(::chmod(file_.c_str(), mode), 0);
  }
  static ConnectionEntry entry(const std::string& name, const std::string& spec = "") {
    ConnectionEntry e;
    e.name = name;
    e.uri = "test:///default";
    e.credentials = spec;
    return e;
  }
  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
  std::string file_;
  const hyperctl::test_env::ScopedEnv env_{{{"HYPERCTL_PASSWORD_LAB_1", std::nullopt},
                                            {"HYPERCTL_PASSWORD", std::nullopt},
                                            {"MY_LAB_PASSWORD", std::nullopt},
                                            {"HYPERCTL_CREDENTIALS", std::nullopt}}};
};

}  // namespace

TEST(CredentialEnvName, UpperCasedOthersUnderscore) {
  EXPECT_EQ(hyperctl::credential_env_name("kvm1"), "HYPERCTL_PASSWORD_KVM1");
  EXPECT_EQ(hyperctl::credential_env_name("lab-1.example_x"), "HYPERCTL_PASSWORD_LAB_1_EXAMPLE_X");
  EXPECT_EQ(hyperctl::credential_env_name("A9z"), "HYPERCTL_PASSWORD_A9Z");
}

TEST_F(Credentials, DefaultPathFollowsTheEnvironment) {
  const hyperctl::test_env::ScopedEnv env(
      {{"XDG_CONFIG_HOME", std::nullopt}, {"HOME", std::nullopt}});
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(CredentialStore::default_path(), "/home/u/.config/hyperctl/credentials");
  ::setenv("XDG_CONFIG_HOME", "/x", 1);
  EXPECT_EQ(CredentialStore::default_path(), "/x/hyperctl/credentials");
  ::setenv("HYPERCTL_CREDENTIALS", "/elsewhere/creds", 1);
  EXPECT_EQ(CredentialStore::default_path(), "/elsewhere/creds");
}

TEST_F(Credentials, OrderEnvThenFileThenGlobalEnv) {
  const CredentialStore store(file_, /*interactive=*/false);
  const ConnectionEntry lab = entry("lab-1");
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), std::nullopt) << "nothing anywhere";

  ::setenv("HYPERCTL_PASSWORD", "global", 1);
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), "global");

  write("# mine\nother = x\nlab-1 = from-file\n");
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), "from-file") << "the file before the global";

  ::setenv("HYPERCTL_PASSWORD_LAB_1", "named", 1);
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), "named") << "the named variable first";
}

TEST_F(Credentials, UnnamedConnectionUsesTheUriAsKey) {
  const CredentialStore store(file_, false);
  write("test:///default = by-uri\n");
  EXPECT_EQ(store.secret_for(nullptr, "test:///default", "p"), "by-uri");
  EXPECT_EQ(store.secret_for(nullptr, "test:///other", "p"), std::nullopt);
  ::setenv("HYPERCTL_PASSWORD", "global", 1);
  EXPECT_EQ(store.secret_for(nullptr, "test:///other", "p"), "global");
}

TEST_F(Credentials, NarrowingToOneSource) {
  const CredentialStore store(file_, false);
  write("lab-1 = from-file\nshared-key = shared\n");
  ::setenv("HYPERCTL_PASSWORD", "global", 1);
  ::setenv("HYPERCTL_PASSWORD_LAB_1", "named", 1);
  ::setenv("MY_LAB_PASSWORD", "custom", 1);

  const auto env = entry("lab-1", "env:MY_LAB_PASSWORD");
  EXPECT_EQ(store.secret_for(&env, env.uri, "p"), "custom");
  const auto file = entry("lab-1", "file");
  EXPECT_EQ(store.secret_for(&file, file.uri, "p"), "from-file");
  const auto key = entry("lab-1", "file:shared-key");
  EXPECT_EQ(store.secret_for(&key, key.uri, "p"), "shared");
  const auto missing_key = entry("lab-1", "file:no-such-key");
  EXPECT_EQ(store.secret_for(&missing_key, missing_key.uri, "p"), std::nullopt)
      << "narrowed: no fallback to the variables";
  const auto none = entry("lab-1", "none");
  EXPECT_EQ(store.secret_for(&none, none.uri, "p"), std::nullopt);
  const auto prompt = entry("lab-1", "prompt");
  EXPECT_EQ(store.secret_for(&prompt, prompt.uri, "p"), std::nullopt)
      << "not interactive: no prompt, and no other source";
}

TEST_F(Credentials, NamedEnvVarNotSet) {
  const CredentialStore store(file_, false);
  const auto env = entry("lab-1", "env:MY_LAB_PASSWORD");
  auto e = error_of([&] { store.secret_for(&env, env.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_STREQ(e->what(),
               "connection 'lab-1' takes its password from $MY_LAB_PASSWORD, which is not set");
}

TEST_F(Credentials, ProviderCopiesTheEntry) {
  const CredentialStore store(file_, false);
  write("lab-1 = from-file\n");
  hyperctl::SecretProvider p;
  {
    const ConnectionEntry lab = entry("lab-1");
    p = store.provider(&lab, lab.uri);
  }  // the entry is gone; the provider kept its own copy
  EXPECT_EQ(p("Password"), "from-file");
  EXPECT_EQ(store.provider(nullptr, "test:///x")("Password"), std::nullopt);
}

TEST_F(Credentials, SecretsWithSpecialCharactersRoundTrip) {
  const CredentialStore store(file_, false);
  store.store("lab-1", kSecret);
  const auto lab = entry("lab-1");
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), kSecret);
  // Written by hand with extra blanks around '=' and the secret.
  write("  lab-1   =   " + std::string(kSecret) + "  \n");
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), kSecret);
}

TEST_F(Credentials, LoosePermissionsAreRefusedWithoutTheSecret) {
  const CredentialStore store(file_, false);
  const auto lab = entry("lab-1");
  for (const mode_t mode : {0640, 0604, 0660, 0644, 0606, 0700}) {
    write("lab-1 = " + std::string(kSecret) + "\n", mode);
    char m[8];
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
    if (mode == 0700) {
      // Owner-only bits are fine, executable or not.
      EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), kSecret);
      continue;
    }
    auto e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
    ASSERT_TRUE(e) << m;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
    const std::string msg = e->what();
    EXPECT_EQ(msg, "credentials file '" + file_ + "': mode " + m +
                       " lets group or others at it; refused (fix: chmod 600 " + file_ + ")");
    EXPECT_EQ(msg.find("s3cr"), std::string::npos);
    EXPECT_EQ(e->detail().find("s3cr"), std::string::npos);
    // store() and erase() refuse it as well, and leave it untouched.
    EXPECT_ERROR_CODE(store.store("other", "x"), ErrorCode::InvalidArgument);
    EXPECT_ERROR_CODE(store.erase("lab-1"), ErrorCode::InvalidArgument);
    EXPECT_EQ(read_file(file_), "lab-1 = " + std::string(kSecret) + "\n");
    EXPECT_EQ(mode_of(file_), mode);
  }
}

TEST_F(Credentials, NamedVariableComesBeforeTheFileCheck) {
  // The file is looked at only when the environment has nothing: with
  // HYPERCTL_PASSWORD_<NAME> set, a loose file is never opened.
  const CredentialStore store(file_, false);
  write("lab-1 = x\n", 0644);
  ::setenv("HYPERCTL_PASSWORD_LAB_1", "named", 1);
  const auto lab = entry("lab-1");
  EXPECT_EQ(store.secret_for(&lab, lab.uri, "p"), "named");
  ::unsetenv("HYPERCTL_PASSWORD_LAB_1");
  ::setenv("HYPERCTL_PASSWORD", "global", 1);
  EXPECT_ERROR_CODE(store.secret_for(&lab, lab.uri, "p"), ErrorCode::InvalidArgument);
}

TEST_F(Credentials, FileOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user (uid 65534)";
  const CredentialStore store(file_, false);
  write("lab-1 = " + std::string(kSecret) + "\n", 0600);
  ASSERT_EQ(::chown(file_.c_str(), 65534, 65534), 0);
  const auto lab = entry("lab-1");
  auto e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(std::string(e->what()),
            "credentials file '" + file_ +
                "': owned by uid 65534, not by you (uid 0); refused: it must be your own file "
                "with mode 0600");
  EXPECT_EQ(std::string(e->what()).find("s3cr"), std::string::npos);
}

TEST_F(Credentials, NotARegularFile) {
  const CredentialStore store(file_, false);
  ASSERT_EQ(::mkfifo(file_.c_str(), 0600), 0);
  const auto lab = entry("lab-1");
  auto e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()),
            "credentials file '" + file_ + "': not a regular file; refused");
}

TEST_F(Credentials, MalformedLineReportsFileAndLineNotTheText) {
  const CredentialStore store(file_, false);
  write("# comment\n\nlab-1 = ok\n" + std::string("s3cr-no-equals") + "\n");
  const auto lab = entry("lab-1");
  auto e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(std::string(e->what()), file_ + ":4: expected KEY = SECRET");
  write("= s3cr\n");
  e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()), file_ + ":1: no key before '='");
  write("a = 1\nb = 2\na = s3cr\n");
  e = error_of([&] { store.secret_for(&lab, lab.uri, "p"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()), file_ + ":3: repeated key 'a' (first at line 1)");
}

TEST_F(Credentials, StoreAndEraseKeepOtherLinesAndMode0600) {
  const std::string path = (dir_ / "sub" / "hyperctl" / "credentials").string();
  const CredentialStore store(path, false);
  store.store("a", "one");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of((dir_ / "sub" / "hyperctl").string()), 0700u);
  EXPECT_EQ(read_file(path), "a = one\n");

  { std::ofstream(path, std::ios::app) << "# keep me\n\nb = two\n"; }
  store.store("c", kSecret);
  store.store("a", "uno");  // replaced in place
  EXPECT_EQ(read_file(path), "a = uno\n# keep me\n\nb = two\nc = " + std::string(kSecret) + "\n");
  EXPECT_EQ(mode_of(path), 0600u);

  EXPECT_TRUE(store.erase("a"));
  EXPECT_FALSE(store.erase("a"));
  EXPECT_FALSE(store.erase("nope"));
  EXPECT_EQ(read_file(path), "# keep me\n\nb = two\nc = " + std::string(kSecret) + "\n");
  EXPECT_EQ(mode_of(path), 0600u);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(fs::path(path).parent_path()))
    ++files;
  EXPECT_EQ(files, 1u) << "no temporary file left behind";

  // Keys and secrets that the format cannot hold are refused, naming no secret.
  EXPECT_ERROR_CODE(store.store("a=b", "x"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store.store("#a", "x"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store.store("", "x"), ErrorCode::InvalidArgument);
  auto e = error_of([&] { store.store("k", "s3cr\nline"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()).find("s3cr"), std::string::npos);
  e = error_of([&] { store.store("k", " s3cr "); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()).find("s3cr"), std::string::npos);
}

// A credentials file reached through a symbolic link (dotfiles kept in a
// repository, say): storing and erasing change the file the link points to,
// the link stays a link, and an erased secret is gone from the real file.
TEST_F(Credentials, StoreAndEraseThroughASymbolicLink) {
  fs::create_directories(dir_ / "dotfiles");
  const std::string real = (dir_ / "dotfiles" / "credentials").string();
  { std::ofstream(real) << "old = " << kSecret << "\nkeep = two\n"; }
  ASSERT_EQ(::chmod(real.c_str(), 0600), 0);
  fs::create_directories(dir_ / "xdg" / "hyperctl");
  const std::string link = (dir_ / "xdg" / "hyperctl" / "credentials").string();
  fs::create_symlink("../../dotfiles/credentials", link);  // relative, as ln -s makes them

  const CredentialStore store(link, false);
  EXPECT_EQ(store.secret_for(nullptr, "old", "p"), std::string(kSecret));
  EXPECT_TRUE(store.erase("old"));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(real), "keep = two\n");
  EXPECT_EQ(read_file(real).find("s3cr"), std::string::npos);
  EXPECT_FALSE(store.secret_for(nullptr, "old", "p"));

  store.store("new", "three");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(real), "keep = two\nnew = three\n");
  EXPECT_EQ(mode_of(real), 0600u);
  EXPECT_EQ(store.secret_for(nullptr, "new", "p"), std::string("three"));
  // No temporary left in either folder.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir_ / "dotfiles")) ++files;
  EXPECT_EQ(files, 1u);
  files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir_ / "xdg" / "hyperctl")) ++files;
  EXPECT_EQ(files, 1u);

  // A link whose target does not exist yet: the target is created.
  fs::remove(real);
  EXPECT_FALSE(store.erase("new"));
  store.store("first", "one");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_file(real), "first = one\n");
  EXPECT_EQ(mode_of(real), 0600u);
}

TEST_F(Credentials, EraseWithoutFile) {
  const CredentialStore store(file_, false);
  EXPECT_FALSE(store.erase("x"));
  EXPECT_FALSE(fs::exists(file_));
}

// ------------------------------------------------------------- the prompt --

namespace {

using hyperctl::test_pty::read_until;

/// Everything `fd` gives until end of file; false when `ms` pass first.
bool read_to_eof(int fd, std::string& out, int ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return n == 0;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

// A child on its own pseudo-terminal (its controlling terminal, so /dev/tty
// is the pty) asks from two threads at once; the prompts must come one
// after the other, echo off, and each answer reach its own caller.
TEST_F(Credentials, PromptOnTheTerminalOneAtATimeEchoOff) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << "forkpty: " << std::strerror(errno);
  if (pid == 0) {
    ::close(fds[0]);
    const CredentialStore store(file_, /*interactive=*/true);
    ConnectionEntry a = entry("host-a", "prompt"), b = entry("host-b", "prompt");
    std::optional<std::string> ra, rb;
    std::thread ta([&] { ra = store.secret_for(&a, a.uri, "Password for host-a"); });
    std::thread tb([&] { rb = store.secret_for(&b, b.uri, "Password for host-b"); });
    ta.join();
    tb.join();
    const std::string out = "a=" + ra.value_or("<none>") + "\nb=" + rb.value_or("<none>") + "\n";
    [[maybe_unused]] auto w = ::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string seen;
  ASSERT_TRUE(read_until(master, "Password for host-", seen, 10000)) << seen;
  ASSERT_TRUE(read_until(master, ": ", seen, 5000)) << seen;
  // Give the other thread time to (wrongly) prompt too.
  read_until(master, "no such text", seen, 300);
  EXPECT_EQ(count_of(seen, "Password for"), 1u) << "one prompt at a time: " << seen;
  const bool a_first = seen.find("host-a") != std::string::npos;
  const std::string first = a_first ? "first pw a" : "first pw b";
  const std::string second = a_first ? "second pw b" : "second pw a";
  ASSERT_EQ(::write(master, (first + "\n").data(), first.size() + 1),
            static_cast<ssize_t>(first.size() + 1));
  ASSERT_TRUE(read_until(master, a_first ? "host-b: " : "host-a: ", seen, 5000)) << seen;
  ASSERT_EQ(::write(master, (second + "\n").data(), second.size() + 1),
            static_cast<ssize_t>(second.size() + 1));

  // The child writes both answers, then exits (end of file on the pipe).
  std::string result;
  const bool answered = read_to_eof(fds[0], result, 10000);
  if (!answered) ::kill(pid, SIGKILL);  // never hang the suite
  EXPECT_TRUE(answered) << "the child did not finish: " << result;
  ::close(fds[0]);
  read_until(master, "no such text", seen, 200);
  ::close(master);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(result, a_first ? "a=first pw a\nb=second pw b\n" : "a=second pw a\nb=first pw b\n");
  EXPECT_EQ(seen.find("pw"), std::string::npos) << "echo was on: " << seen;
}

TEST_F(Credentials, NoTerminalNoPrompt) {
  // A child without a controlling terminal (setsid, no tty opened): nullopt.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setsid();
    ::_exit(hyperctl::prompt_secret("Password") ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(Credentials, CtrlCAtThePromptGivesTheEchoBack) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << "forkpty: " << std::strerror(errno);
  if (pid == 0) {
    hyperctl::prompt_secret("Password for x");
    ::_exit(3);  // not reached when the signal ends the process
  }
  std::string seen;
  ASSERT_TRUE(read_until(master, "Password for x: ", seen, 10000)) << seen;
  termios tio{};
  ASSERT_EQ(::tcgetattr(master, &tio), 0);
  EXPECT_EQ(tio.c_lflag & ECHO, 0u) << "echo is off while the prompt waits";
  ASSERT_EQ(::write(master, "s3\x03", 3), 3);  // Ctrl-C: SIGINT to the child
  read_until(master, "no such text", seen, 500);
  int status = 0;
  bool ended = false;
  for (int i = 0; i < 500 && !ended; ++i) {
    ended = ::waitpid(pid, &status, WNOHANG) == pid;
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!ended) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
  ASSERT_TRUE(ended) << "the child is still waiting";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << status;
  ASSERT_EQ(::tcgetattr(master, &tio), 0);
  EXPECT_NE(tio.c_lflag & ECHO, 0u) << "echo is back on";
  ::close(master);
}

// ------------------------------------------------- secrets and children

namespace {

/// The names of the variables a child process sees.
std::string child_environment_names() {
  hyperctl::process::Command c;
  c.argv = {"sh", "-c", "env | cut -d= -f1"};
  return "\n" + hyperctl::process::Runner().run(c).out;
}

/// Runs `load` in a forked child that starts dumpable with a core size
/// above 0, and says what became of both: "dumpable=D core=C".
std::string dump_state_after(const std::function<void()>& load) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    rlimit limit{};
    ::getrlimit(RLIMIT_CORE, &limit);
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : limit.rlim_max;
    ::setrlimit(RLIMIT_CORE, &limit);
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    std::string state = "before: dumpable=" + std::to_string(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) +
                        " core=" + std::to_string(limit.rlim_cur > 0) + "; ";
    try {
      load();
    } catch (...) {
      state += "load threw; ";
    }
    ::getrlimit(RLIMIT_CORE, &limit);
    state += "after: dumpable=" + std::to_string(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) +
             " core=" + std::to_string(limit.rlim_cur > 0);
    [[maybe_unused]] auto w = ::write(fds[1], state.data(), state.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string state;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) state.append(buf, std::size_t(n));
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return state;
}

}  // namespace

TEST_F(Credentials, TheVariableNamedByEnvCredentialsReachesNoChild) {
  const hyperctl::test_env::ScopedEnv vars{{{"HYPERCTL_T_VC_PASS", std::string("pw-from-env")},
                                            {"HYPERCTL_T_CODE_PASS", std::string("pw2")},
                                            {"HYPERCTL_T_HARMLESS", std::string("x")}}};
  EXPECT_NE(child_environment_names().find("\nHYPERCTL_T_VC_PASS\n"), std::string::npos)
      << "a variable nobody named is passed on";
  // Named in a configuration file: hidden from then on, before it is read.
  (void)hyperctl::FleetConfig::parse(
      "[connection vc]\nuri = vsphere://vc01/\ncredentials = env:HYPERCTL_T_VC_PASS\n", "test");
  // Named by an entry made in code: hidden once its secret is asked for.
  const auto e = entry("code", "env:HYPERCTL_T_CODE_PASS");
  EXPECT_EQ(CredentialStore(file_, false).secret_for(&e, "u", "p"), "pw2");
  const std::string names = child_environment_names();
  EXPECT_EQ(names.find("\nHYPERCTL_T_VC_PASS\n"), std::string::npos) << names;
  EXPECT_EQ(names.find("\nHYPERCTL_T_CODE_PASS\n"), std::string::npos) << names;
  EXPECT_NE(names.find("\nHYPERCTL_T_HARMLESS\n"), std::string::npos) << names;
}

TEST_F(Credentials, CoreDumpsAreOffOnceASecretIsLoaded) {
  write("lab-1 = " + std::string(kSecret) + "\n");
  const std::string expected = "before: dumpable=1 core=1; after: dumpable=0 core=0";
  EXPECT_EQ(dump_state_after([&] {
              const auto e = entry("lab-1", "file");
              if (CredentialStore(file_, false).secret_for(&e, "u", "p") != kSecret) ::_exit(1);
            }),
            expected)
      << "from the credentials file";
  const hyperctl::test_env::ScopedEnv password{{{"HYPERCTL_PASSWORD", std::string("pw")}}};
  EXPECT_EQ(dump_state_after([&] {
              const auto e = entry("other");
              if (CredentialStore("", false).secret_for(&e, "u", "p") != "pw") ::_exit(1);
            }),
            expected)
      << "from HYPERCTL_PASSWORD";
  // Nothing secret loaded, nothing changed.
  EXPECT_EQ(dump_state_after([&] {
              const auto e = entry("other", "none");
              (void)CredentialStore(file_, false).secret_for(&e, "u", "p");
            }),
            "before: dumpable=1 core=1; after: dumpable=1 core=1");
}
