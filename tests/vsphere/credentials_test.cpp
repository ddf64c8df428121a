// Passwords for the vSphere backend: a wrong one is AuthFailed (exit 7), none
// at all is AuthFailed naming where one can come from, HYPERCTL_PASSWORD and
// an owner-only credentials file work through the CLI, a credentials file
// others can read is refused, the provider is asked once per session (the
// re-login reuses it from memory), characters XML must escape survive the
// trip, and the password never shows: not on stdout or stderr with --debug
// and HYPERCTL_TRACE=1, not in an Error, not in /proc/PID/cmdline.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "hyperctl/error.hpp"
#include "hyperctl/trust.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using hyperctl::ErrorCode;
using vsphere_test::json;
using vsphere_test::RunResult;
using vsphere_test::SimOptions;
using namespace std::chrono_literals;

int calls(const json& stats, const std::string& method) {
  const auto& m = stats["methods"];
  return m.contains(method) ? m[method].get<int>() : 0;
}

struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "hyperctl-vsphere-cred-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  std::string path;
};

bool has_terminal() {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

class CredentialsTest : public vsphere_test::SimTest<CredentialsTest> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1, .clusters = 0}; }

 protected:
  void SetUp() override {
    SimTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_FALSE(home_.path.empty());
    fs::create_directories(home_.path + "/config");
    fs::permissions(home_.path, fs::perms::owner_all, fs::perm_options::replace);
  }

  // The CLI with a home of its own (no config, credentials or trust store of
  // the user's), the password only where `env` puts it.
  RunResult cli(const std::vector<std::string>& args,
                std::map<std::string, std::optional<std::string>> env = {}) {
    env.emplace("HOME", home_.path);
    env.emplace("XDG_CONFIG_HOME", home_.path + "/config");
    env.emplace("HYPERCTL_CREDENTIALS", home_.path + "/credentials");
    env.emplace("HYPERCTL_TRUST_DIR", home_.path + "/trust");
    return sim().cli(args, env, 30s);
  }

  std::string credentials_file() const { return home_.path + "/credentials"; }

  void write_credentials(const std::string& key, fs::perms mode) {
    {
      std::ofstream out(credentials_file(), std::ios::trunc);
      out << "# test\n" << key << " = " << sim().password() << "\n";
    }
    fs::permissions(credentials_file(), mode, fs::perm_options::replace);
  }

  void expect_no_password(const RunResult& r, const std::string& what) {
    EXPECT_EQ(r.out.find(sim().password()), std::string::npos) << what << ": " << r;
    EXPECT_EQ(r.err.find(sim().password()), std::string::npos) << what << ": " << r;
  }

  TempDir home_;
};

TEST_F(CredentialsTest, WrongPasswordIsAuthFailed) {
  const std::string wrong = "Wrong-" + vsphere_test::random_secret(12);
  auto options = sim().connect_options();
  options.secret = [wrong](const std::string&) -> std::optional<std::string> { return wrong; };
  try {
    vsphere_test::registry().open(sim().uri(), options);
    ADD_FAILURE() << "a wrong password must be refused";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AuthFailed) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find("login as hyper refused by 127.0.0.1:" + std::to_string(sim().port())),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find(wrong), std::string::npos) << msg;
    EXPECT_EQ(e.detail().find(wrong), std::string::npos) << e.detail();
  }
  const auto r = cli({"--debug", "-c", sim().uri(), "host", "info"},
                     {{"HYPERCTL_PASSWORD", wrong}, {"HYPERCTL_TRACE", "1"}});
  EXPECT_EQ(r.status, 7) << r;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r;
  EXPECT_EQ(r.err.find(wrong), std::string::npos) << r;
  EXPECT_EQ(r.out.find(wrong), std::string::npos) << r;
}

TEST_F(CredentialsTest, NoPasswordIsAuthFailedNamingTheSources) {
  sim().reset_stats();
  for (bool with_provider : {false, true}) {
    auto options = sim().connect_options();
    if (with_provider)
      options.secret = [](const std::string&) -> std::optional<std::string> { return {}; };
    else
      options.secret = nullptr;
    try {
      vsphere_test::registry().open(sim().uri(), options);
      ADD_FAILURE() << "no password, no session";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::AuthFailed) << e.what();
      const std::string msg = e.what();
      EXPECT_NE(msg.find("no password for hyper@127.0.0.1:" + std::to_string(sim().port())),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find("HYPERCTL_PASSWORD"), std::string::npos) << msg;
      EXPECT_NE(msg.find("credentials file"), std::string::npos) << msg;
      EXPECT_NE(msg.find("terminal"), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(calls(sim().stats(), "Login"), 0) << "no login without a password";
}

TEST_F(CredentialsTest, NoPasswordThroughTheCliExitsSeven) {
  if (has_terminal())
    GTEST_SKIP() << "this process has a controlling terminal: the CLI would prompt on it";
  const auto r = cli({"-c", sim().uri(), "host", "info"}, {{"HYPERCTL_PASSWORD", std::nullopt}});
  EXPECT_EQ(r.status, 7) << r;
  EXPECT_NE(r.err.find("HYPERCTL_PASSWORD"), std::string::npos) << r;
}

TEST_F(CredentialsTest, PasswordFromTheEnvironment) {
  const auto r = cli({"--debug", "-c", sim().uri(), "host", "info"},
                     {{"HYPERCTL_PASSWORD", sim().password()}, {"HYPERCTL_TRACE", "1"}});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_NE(r.out.find("Hypervisor"), std::string::npos) << r;
  expect_no_password(r, "env");
}

TEST_F(CredentialsTest, PasswordFromAnOwnerOnlyCredentialsFile) {
  // The key of an unnamed connection is its URI as written; the certificate
  // is pinned in the trust store so the URI holds no '='.
  hyperctl::TrustStore(home_.path + "/trust")
      .add_tls(sim().host(), sim().port(), sim().thumbprint());
  const std::string uri = sim().uri_without_pin();
  write_credentials(uri, fs::perms::owner_read | fs::perms::owner_write);
  const auto r = cli({"--debug", "-c", uri, "host", "info"},
                     {{"HYPERCTL_PASSWORD", std::nullopt}, {"HYPERCTL_TRACE", "1"}});
  EXPECT_EQ(r.status, 0) << r;
  expect_no_password(r, "file");
}

TEST_F(CredentialsTest, CredentialsFileOthersCanReadIsRefused) {
  hyperctl::TrustStore(home_.path + "/trust")
      .add_tls(sim().host(), sim().port(), sim().thumbprint());
  const std::string uri = sim().uri_without_pin();
  write_credentials(uri, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                             fs::perms::others_read);
  sim().reset_stats();
  const auto r = cli({"--debug", "-c", uri, "host", "info"},
                     {{"HYPERCTL_PASSWORD", std::nullopt}, {"HYPERCTL_TRACE", "1"}});
  EXPECT_NE(r.status, 0) << r;
  EXPECT_NE(r.err.find(credentials_file()), std::string::npos) << r;
  EXPECT_NE(r.err.find("chmod"), std::string::npos) << r;
  expect_no_password(r, "0644 file");
  EXPECT_EQ(calls(sim().stats(), "Login"), 0) << "the file was not used";
}

TEST_F(CredentialsTest, ProviderIsAskedOnceAndTheReloginReusesIt) {
  auto asked = std::make_shared<int>(0);
  auto options = sim().connect_options();
  const std::string pw = sim().password();
  std::string prompt;
  options.secret = [asked, pw, &prompt](const std::string& p) -> std::optional<std::string> {
    ++*asked;
    prompt = p;
    return pw;
  };
  auto conn = vsphere_test::registry().open(sim().uri("keepalive=0"), options);
  EXPECT_EQ(*asked, 1);
  EXPECT_EQ(prompt, "password for hyper@127.0.0.1:" + std::to_string(sim().port()));
  EXPECT_EQ(prompt.find(pw), std::string::npos);
  EXPECT_GE(sim().expire_sessions(), 1);
  sim().reset_stats();
  EXPECT_NO_THROW(conn->host().info());
  EXPECT_EQ(calls(sim().stats(), "Login"), 1) << "logged in again";
  EXPECT_EQ(*asked, 1) << "with the password kept in memory, not asked again";
}

TEST_F(CredentialsTest, PasswordNeverInErrorsOrOutputWhenThingsFail) {
  sim().inject("RetrievePropertiesEx=fault");
  auto r = cli({"--debug", "-c", sim().uri(), "host", "info"},
               {{"HYPERCTL_PASSWORD", sim().password()}, {"HYPERCTL_TRACE", "1"}});
  sim().clear_injections();
  EXPECT_EQ(r.status, 10) << r;
  expect_no_password(r, "fault");
  sim().inject("Login=malformed");
  r = cli({"--debug", "-c", sim().uri(), "host", "info"},
          {{"HYPERCTL_PASSWORD", sim().password()}, {"HYPERCTL_TRACE", "1"}});
  sim().clear_injections();
  EXPECT_EQ(r.status, 10) << r;
  expect_no_password(r, "malformed login answer");
}

TEST_F(CredentialsTest, PasswordNotOnTheCommandLineOfTheProcess) {
  // A slow answer keeps the CLI running while its /proc entry is read.
  sim().inject("RetrievePropertiesEx=delay:3s*1");
  std::vector<std::string> argv = {HYPERCTL_TEST_HYPERCTL_CLI, "-c", sim().uri(), "host", "info"};
  auto env =
      vsphere_test::detail::child_env({{"HYPERCTL_PASSWORD", sim().password()},
                                       {"HYPERCTL_PLUGIN_PATH", HYPERCTL_TEST_VSPHERE_PLUGIN_DIR},
                                       {"HOME", home_.path},
                                       {"XDG_CONFIG_HOME", home_.path + "/config"}});
  const pid_t pid = vsphere_test::detail::spawn(argv, env, -1, -1, -1, true);
  ASSERT_GT(pid, 0);
  std::string cmdline;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(50ms);
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    cmdline.assign(std::istreambuf_iterator<char>(in), {});
    if (!cmdline.empty()) break;
  }
  int ws = 0;
  ::waitpid(pid, &ws, 0);
  sim().clear_injections();
  ASSERT_NE(cmdline.find(sim().uri()), std::string::npos) << "read the right process";
  EXPECT_EQ(cmdline.find(sim().password()), std::string::npos);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << ws;
}

TEST_F(CredentialsTest, PasswordWithXmlAndShellCharactersLogsIn) {
  // The password travels in the Login body: escaped, not spliced.
  VSPHERE_START_SIM(
      odd, SimOptions{.mode = "esx", .vms = 1, .password = "a&b<c>d\"e'f$(g);h`i` \\j]]>k"});
  EXPECT_NO_THROW(odd->connect("keepalive=0")->host().info());
  const auto r = odd->cli({"--debug", "-c", odd->uri(), "host", "info"}, {{"HYPERCTL_TRACE", "1"}});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.err.find(odd->password()), std::string::npos) << r;
}

TEST_F(CredentialsTest, UserNameIsDataToo) {
  auto options = sim().connect_options();
  options.user = "hy<per&\"x";
  try {
    vsphere_test::registry().open(sim().uri("keepalive=0"), options);
    ADD_FAILURE() << "that user does not exist";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AuthFailed) << e.what();
    EXPECT_NE(std::string(e.what()).find("login as hy<per&\"x refused"), std::string::npos)
        << e.what();
  }
}

}  // namespace
