// The real hyperctl binary with named connections and credentials: hosts
// list|add|remove|test, -c NAME, and a password-protected test-driver node
// (libvirt asks for a user and a password) reached with the password from
// HYPERCTL_PASSWORD_<NAME>, the credentials file, and a prompt on a
// pseudo-terminal. The password must never show up in argv, stdout, stderr
// or --debug output. Each test has its own XDG_CONFIG_HOME and HOME.
#include <pty.h>
#include <sys/stat.h>

#include <thread>

#include "../cli/harness.hpp"
#include "../common/pty.hpp"

namespace {

using namespace hyperctl_cli_test;

constexpr const char* kPassword = "pw=s3cr #z q";

class CliHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = (tmp_.path() / "home").string();
    xdg_ = (tmp_.path() / "xdg").string();
    fs::create_directories(home_);
    config_ = xdg_ + "/hyperctl/config";
    credentials_ = xdg_ + "/hyperctl/credentials";
    node_ = tmp_.write("node.xml",
                       "<node>\n"
                       "  <auth><user password=\"pw=s3cr #z q\">alice</user></auth>\n"
                       "  <domain type=\"test\">\n"
                       "    <name>vm1</name><memory>65536</memory><os><type>hvm</type></os>\n"
                       "  </domain>\n"
                       "</node>\n");
  }

  /// Runs hyperctl in this test's config folders, with `env` on top.
  Result hc(const std::vector<std::string>& args,
            std::map<std::string, std::optional<std::string>> env = {},
            const std::string& input = "") {
    RunOptions o;
    o.env = std::move(env);
    o.env["HOME"] = home_;
    o.env["XDG_CONFIG_HOME"] = xdg_;
    o.input = input;
    Result r = run(args, o);
    no_password_in(r);
    return r;
  }

  void no_password_in(const Result& r) {
    EXPECT_EQ(r.out.find("s3cr"), std::string::npos) << r;
    EXPECT_EQ(r.err.find("s3cr"), std::string::npos) << r;
  }

  /// The protected node as connection `name` (user alice).
  void add_protected(const std::string& name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"hosts", "add", name, "test://" + node_, "--user", "alice"};
    args.insert(args.end(), extra.begin(), extra.end());
    expect_ok(hc(args));
  }

  void write_config(const std::string& text) {
    fs::create_directories(fs::path(config_).parent_path());
    std::ofstream(config_) << text;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  TempDir tmp_;
  std::string home_, xdg_, config_, credentials_, node_;
};

TEST_F(CliHosts, AddListRemoveRoundTrip) {
  Result r = hc({"hosts", "list"});
  expect_ok(r);
  EXPECT_EQ(r.out,
            "no connections in " + config_ + " (add one with: hyperctl hosts add NAME URI)\n");

  r = hc({"hosts", "add", "lab", "test:///default", "--tag", "kvm", "--tag", "lab", "--timeout",
          "1500ms"});
  expect_ok(r);
  EXPECT_EQ(r.out, "connection 'lab' added to " + config_ + "\n");
  expect_ok(hc({"hosts", "add", "kvm2", "qemu+ssh://root@kvm2.example.com/system", "--user",
                "admin", "--credentials", "env:KVM2_PW", "--timeout", "20"}));
  EXPECT_EQ(mode_of(fs::path(config_).parent_path().string()), 0700u);

  r = hc({"hosts", "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r;
  EXPECT_EQ(lines[0].rfind("NAME", 0), 0u);
  EXPECT_NE(lines[1].find("lab"), std::string::npos);
  EXPECT_NE(lines[1].find("kvm,lab"), std::string::npos);
  EXPECT_NE(lines[1].find("1500ms"), std::string::npos);
  EXPECT_NE(lines[2].find("env:KVM2_PW"), std::string::npos);
  EXPECT_NE(lines[2].find("20s"), std::string::npos);

  r = hc({"hosts", "list", "-o", "json"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["schema"], "hyperctl.hosts/1");
  EXPECT_EQ(doc["config"], config_);
  ASSERT_EQ(doc["connections"].size(), 2u);
  const json& lab = doc["connections"][0];
  EXPECT_EQ(lab["name"], "lab");
  EXPECT_EQ(lab["uri"], "test:///default");
  EXPECT_TRUE(lab["user"].is_null());
  EXPECT_EQ(lab["credentials"], "default");
  EXPECT_EQ(lab["password_env"], "HYPERCTL_PASSWORD_LAB");
  EXPECT_EQ(lab["tags"], json::array({"kvm", "lab"}));
  EXPECT_EQ(lab["timeout_ms"], 1500);
  EXPECT_EQ(doc["connections"][1]["user"], "admin");
  EXPECT_EQ(doc["connections"][1]["timeout_ms"], 20000);
  EXPECT_TRUE(doc["groups"].empty());

  r = hc({"hosts", "list", "-o", "csv"});
  expect_ok(r);
  EXPECT_EQ(r.out,
            "name,uri,user,credentials,tags,timeout\n"
            "lab,test:///default,,default,kvm lab,1500ms\n"
            "kvm2,qemu+ssh://root@kvm2.example.com/system,admin,env:KVM2_PW,,20s\n");

  // -c NAME reaches it.
  r = hc({"-c", "lab", "list", "-o", "json"});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out)["uri"], "test:///default");

  r = hc({"hosts", "remove", "lab"});
  expect_ok(r);
  EXPECT_EQ(r.out, "connection 'lab' removed from " + config_ + "\n");
  r = hc({"hosts", "list", "-o", "json"});
  ASSERT_EQ(json::parse(r.out)["connections"].size(), 1u);
  EXPECT_EQ(json::parse(r.out)["connections"][0]["name"], "kvm2");
  expect_error(hc({"hosts", "remove", "lab"}), 3, "no connection named 'lab' in " + config_);
}

TEST_F(CliHosts, EditKeepsCommentsAndGroups) {
  write_config(
      "# my lab\n[connection a]\nuri = test:///default\ntags = t\n\n[group g]\nmembers = a\n");
  expect_ok(hc({"hosts", "add", "b", "test:///default", "--tag", "t"}));
  // a is in group g: conflict, exit 5, and the file is unchanged.
  expect_error(hc({"hosts", "remove", "a"}), 5, "member of group 'g'");
  expect_ok(hc({"hosts", "remove", "b"}));
  EXPECT_EQ(slurp(config_),
            "# my lab\n[connection a]\nuri = test:///default\ntags = t\n\n[group g]\nmembers = "
            "a\n");
  Result r = hc({"hosts", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("GROUP"), std::string::npos) << r;
}

TEST_F(CliHosts, DuplicateNameIsExit6) {
  expect_ok(hc({"hosts", "add", "lab", "test:///default"}));
  expect_error(hc({"hosts", "add", "lab", "test:///other"}), 6,
               "a connection or group named 'lab' is already in " + config_);
  write_config("[connection a]\nuri = test:///default\n[group g]\nmembers = a\n");
  expect_error(hc({"hosts", "add", "g", "test:///default"}), 6, "named 'g'");
}

TEST_F(CliHosts, BadInputToAdd) {
  expect_error(hc({"hosts", "add", "a;$(id)", "test:///default"}), 2, "bad name 'a;$(id)'");
  expect_error(hc({"hosts", "add", "a", "not-a-uri"}), 2);
  expect_error(hc({"hosts", "add", "a", "qemu://root:pw@h/system"}), 2);
  expect_error(hc({"hosts", "add", "a", "test:///default", "--timeout", "soon"}), 2, "--timeout");
  // The value is not repeated: it may be the password put in the wrong place.
  Result bad = hc({"hosts", "add", "a", "test:///default", "--credentials", "vault"});
  expect_error(bad, 2, "bad credentials value (env:VAR, file, file:KEY, prompt or none)");
  EXPECT_EQ(bad.err.find("vault"), std::string::npos) << bad;
  expect_error(
      hc({"hosts", "add", "a", "test:///default", "--credentials", "env:X", "--password-stdin"}, {},
         "x\n"),
      2, "--password-stdin");
  expect_error(hc({"hosts", "add", "a", "test:///default", "--user", "a\nb"}), 2);
  EXPECT_FALSE(fs::exists(config_)) << "nothing written";
}

TEST_F(CliHosts, UnknownNameWithC) {
  expect_ok(hc({"hosts", "add", "lab", "test:///default"}));
  expect_error(hc({"-c", "nolab", "list"}), 3, "no connection named 'nolab' in " + config_);
  // Something that can be no name is taken for a URI, and the URI parser says why not.
  expect_error(hc({"-c", "qemu:/system", "list"}), 2);
  expect_error(hc({"-c", "bad name", "list"}), 2);
  // HYPERCTL_URI may hold a name too.
  expect_error(hc({"list"}, {{"HYPERCTL_URI", "nolab"}}), 3, "no connection named 'nolab'");
  expect_ok(hc({"list"}, {{"HYPERCTL_URI", "lab"}}));
  // --config names another file.
  const std::string other = tmp_.write("other.conf", "[connection x]\nuri = test:///default\n");
  expect_ok(hc({"--config", other, "-c", "x", "list"}));
  expect_error(hc({"--config", other, "-c", "lab", "list"}), 3, "in " + other);
}

TEST_F(CliHosts, MalformedConfigIsExit2WithLine) {
  write_config("[connection lab]\nuri = test:///default\npassword = x\n");
  expect_error(hc({"-c", "lab", "list"}), 2,
               config_ + ":3: unknown key 'password' in a connection");
  expect_error(hc({"hosts", "list"}), 2, config_ + ":3:");
  write_config("[connection lab]\nuri = test:///default\n[connection lab]\nuri = test:///x\n");
  expect_error(hc({"hosts", "list"}), 2, config_ + ":3: duplicate name 'lab'");
  // A URI with -c does not read the config at all.
  expect_ok(hc({"-c", "test:///default", "list"}));
}

TEST_F(CliHosts, PasswordFromTheNamedVariable) {
  add_protected("auth-lab");
  for (const bool debug : {false, true}) {
    std::vector<std::string> args{"-c", "auth-lab", "list"};
    if (debug) args.push_back("--debug");
    Result r = hc(args, {{"HYPERCTL_PASSWORD_AUTH_LAB", kPassword}});
    expect_ok(r);
    EXPECT_NE(r.out.find("vm1"), std::string::npos) << r;
  }
  // Another connection's variable is not used.
  expect_error(hc({"-c", "auth-lab", "list"}, {{"HYPERCTL_PASSWORD_OTHER", kPassword}}), 7,
               "HYPERCTL_PASSWORD_<NAME>");
}

TEST_F(CliHosts, WrongPasswordIsExit7AndNeverShown) {
  add_protected("auth-lab");
  for (const bool debug : {false, true}) {
    std::vector<std::string> args{"-c", "auth-lab", "list"};
    if (debug) args.push_back("--debug");
    Result r = hc(args, {{"HYPERCTL_PASSWORD_AUTH_LAB", "s3cr-wrong"}});
    EXPECT_EQ(r.status, 7) << r;
    EXPECT_EQ(r.err.find("s3cr-wrong"), std::string::npos) << r;
    EXPECT_EQ(r.err.rfind("hyperctl: error: ", 0), 0u) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), debug ? 2 : 1) << r;
  }
}

TEST_F(CliHosts, NoPasswordWithoutTerminalIsExit7) {
  add_protected("auth-lab");
  expect_error(hc({"-c", "auth-lab", "list"}), 7,
               "it asks for the password of 'alice' and none was given");
}

TEST_F(CliHosts, PasswordFromTheCredentialsFile) {
  add_protected("auth-lab");
  fs::create_directories(fs::path(credentials_).parent_path());
  std::ofstream(credentials_) << "# passwords\nauth-lab = " << kPassword << "\n";
  ASSERT_EQ(::chmod(credentials_.c_str(), 0600), 0);
  for (const bool debug : {false, true}) {
    std::vector<std::string> args{"-c", "auth-lab", "list"};
    if (debug) args.push_back("--debug");
    Result r = hc(args);
    expect_ok(r);
    EXPECT_NE(r.out.find("vm1"), std::string::npos) << r;
  }
  // HYPERCTL_CREDENTIALS names another file.
  const std::string other = tmp_.write("creds", std::string("auth-lab = ") + kPassword + "\n");
  ASSERT_EQ(::chmod(other.c_str(), 0600), 0);
  ::unlink(credentials_.c_str());
  expect_ok(hc({"-c", "auth-lab", "list"}, {{"HYPERCTL_CREDENTIALS", other}}));
}

TEST_F(CliHosts, LooseCredentialsFileIsExit2WithChmodHint) {
  add_protected("auth-lab");
  fs::create_directories(fs::path(credentials_).parent_path());
  std::ofstream(credentials_) << "auth-lab = " << kPassword << "\n";
  ASSERT_EQ(::chmod(credentials_.c_str(), 0644), 0);
  Result r = hc({"-c", "auth-lab", "list", "--debug"});
  EXPECT_EQ(r.status, 2) << r;
  EXPECT_NE(r.err.find("mode 0644"), std::string::npos) << r;
  EXPECT_NE(r.err.find("chmod 600 " + credentials_), std::string::npos) << r;
  r = hc({"-c", "auth-lab", "list"});
  expect_error(r, 2, "chmod 600 " + credentials_);
}

TEST_F(CliHosts, PasswordStdinStoresItWithMode0600) {
  Result r =
      hc({"hosts", "add", "auth-lab", "test://" + node_, "--user", "alice", "--password-stdin"}, {},
         std::string(kPassword) + "\n");
  expect_ok(r);
  EXPECT_EQ(r.out, "connection 'auth-lab' added to " + config_ + "; password stored in " +
                       credentials_ + " under 'auth-lab'\n");
  EXPECT_EQ(mode_of(credentials_), 0600u);
  EXPECT_EQ(slurp(credentials_), "auth-lab = " + std::string(kPassword) + "\n");
  // The config file holds no secret.
  EXPECT_EQ(slurp(config_).find("s3cr"), std::string::npos) << slurp(config_);

  r = hc({"-c", "auth-lab", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("vm1"), std::string::npos);

  // --forget-password takes it out again, keeping the file 0600.
  r = hc({"hosts", "remove", "auth-lab", "--forget-password"});
  expect_ok(r);
  EXPECT_EQ(mode_of(credentials_), 0600u);
  EXPECT_EQ(slurp(credentials_), "");
  // Empty standard input is refused.
  expect_error(hc({"hosts", "add", "x", "test:///default", "--password-stdin"}), 2,
               "standard input is empty");
}

TEST_F(CliHosts, HostsTestReportsEachHost) {
  expect_ok(hc({"hosts", "add", "lab", "test:///default", "--tag", "t"}));
  add_protected("auth-lab", {"--tag", "t"});
  // auth-lab has no password here: an error row, exit 7, the other host ok.
  Result r = hc({"hosts", "test", "-o", "json"});
  EXPECT_EQ(r.status, 7) << r;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["schema"], "hyperctl.hosts-test/1");
  ASSERT_EQ(doc["hosts"].size(), 2u);
  EXPECT_EQ(doc["hosts"][0]["name"], "lab");
  EXPECT_EQ(doc["hosts"][0]["status"], "ok");
  EXPECT_TRUE(doc["hosts"][0]["code"].is_null());
  EXPECT_EQ(doc["hosts"][0]["backend"], "libvirt");
  EXPECT_EQ(doc["hosts"][0]["hypervisor"], "TEST");
  EXPECT_TRUE(doc["hosts"][0]["elapsed_ms"].is_number());
  EXPECT_EQ(doc["hosts"][1]["name"], "auth-lab");
  EXPECT_EQ(doc["hosts"][1]["status"], "error");
  EXPECT_EQ(doc["hosts"][1]["code"], "auth-failed");
  EXPECT_EQ(doc["ok"], 1);
  EXPECT_EQ(doc["failed"], 1);
  EXPECT_EQ(r.err, "hyperctl: error: 1 of 2 hosts failed: auth-lab (auth-failed)\n");

  // With its password, every host is ok: exit 0, table rows.
  r = hc({"hosts", "test", "--all"}, {{"HYPERCTL_PASSWORD_AUTH_LAB", kPassword}});
  expect_ok(r);
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 3u) << r;
  EXPECT_NE(rows[1].find(" ok "), std::string::npos) << r;
  EXPECT_NE(rows[2].find(" ok "), std::string::npos) << r;
  EXPECT_NE(rows[2].find(" ms"), std::string::npos) << r;

  // By name, by group; an unknown name is exit 3.
  r = hc({"hosts", "test", "lab"});
  expect_ok(r);
  EXPECT_EQ(lines_of(r.out).size(), 2u) << r;
  write_config("[connection lab]\nuri = test:///default\ntags = t\n[group g]\nmembers = tag:t\n");
  r = hc({"hosts", "test", "--group", "g", "-o", "csv"});
  expect_ok(r);
  EXPECT_EQ(lines_of(r.out).size(), 2u) << r;
  expect_error(hc({"hosts", "test", "nolab"}), 3, "no connection named 'nolab'");
  expect_error(hc({"hosts", "test", "--group", "nog"}), 3, "no group named 'nog'");
}

// --password-stdin writes the connection, then the password, and takes the
// connection out again when the password cannot be stored: a failed add
// leaves neither behind.
TEST_F(CliHosts, FailedPasswordStdinAddLeavesNeitherConnectionNorPassword) {
  // The config cannot be written (a folder where nothing can be created, even
  // by root; the file is missing, so it loads as empty): no password stored.
  Result r = hc({"--config", "/proc/self/hyperctl-test-config", "hosts", "add", "auth-lab",
                 "test://" + node_, "--password-stdin"},
                {}, std::string(kPassword) + "\n");
  EXPECT_NE(r.status, 0) << r;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
  EXPECT_NE(r.err.find("/proc/self/hyperctl-test-config"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(credentials_)) << slurp(credentials_);

  // The password cannot be stored (a loose credentials file): the config is
  // as it was, comments included.
  const std::string before = "# mine\n[connection lab]\nuri = test:///default\n";
  write_config(before);
  { std::ofstream(credentials_) << "lab = other\n"; }
  ASSERT_EQ(::chmod(credentials_.c_str(), 0644), 0);
  r = hc({"hosts", "add", "auth-lab", "test://" + node_, "--password-stdin"}, {},
         std::string(kPassword) + "\n");
  expect_error(r, 2, "chmod");
  EXPECT_EQ(slurp(config_), before);
  EXPECT_EQ(slurp(credentials_), "lab = other\n");

  // With no config file before, none after.
  fs::remove(config_);
  expect_error(hc({"hosts", "add", "auth-lab", "test://" + node_, "--password-stdin"}, {},
                  std::string(kPassword) + "\n"),
               2, "chmod");
  EXPECT_FALSE(fs::exists(config_));
}

// An add must not overwrite the password another connection reads.
TEST_F(CliHosts, PasswordStdinRefusesAKeyAnotherConnectionUses) {
  const std::string before =
      "[connection shared]\nuri = test:///default\ncredentials = file:lab-pw\n"
      "[connection kvm1]\nuri = test:///default\n";
  write_config(before);
  Result r = hc({"hosts", "add", "lab-pw", "test:///default", "--password-stdin"}, {},
                std::string(kPassword) + "\n");
  expect_error(r, 5, "'shared'");
  EXPECT_EQ(slurp(config_), before);
  EXPECT_FALSE(fs::exists(credentials_));
  // file:KEY naming another connection's own key (kvm1 reads 'kvm1').
  expect_error(hc({"hosts", "add", "other", "test:///default", "--credentials", "file:kvm1",
                   "--password-stdin"},
                  {}, std::string(kPassword) + "\n"),
               5, "'kvm1'");
  expect_error(hc({"hosts", "add", "other", "test:///default", "--credentials", "file:lab-pw",
                   "--password-stdin"},
                  {}, std::string(kPassword) + "\n"),
               5, "'shared'");
  EXPECT_EQ(slurp(config_), before);
  EXPECT_FALSE(fs::exists(credentials_));
  // A key of its own is fine.
  expect_ok(hc({"hosts", "add", "other", "test:///default", "--credentials", "file:other-pw",
                "--password-stdin"},
               {}, std::string(kPassword) + "\n"));
  EXPECT_EQ(slurp(credentials_), "other-pw = " + std::string(kPassword) + "\n");
}

// --forget-password erases only the key the removed connection read, and
// keeps one that a remaining connection reads too.
TEST_F(CliHosts, ForgetPasswordErasesOnlyWhatTheConnectionUsedAlone) {
  write_config(
      "[connection a]\nuri = test:///default\ncredentials = file:team\n"
      "[connection b]\nuri = test:///default\ncredentials = file:team\n"
      "[connection e]\nuri = test:///default\ncredentials = env:E_PW\n"
      "[connection n]\nuri = test:///default\ncredentials = none\n"
      "[connection f]\nuri = test:///default\ncredentials = file\n");
  fs::create_directories(fs::path(credentials_).parent_path());
  { std::ofstream(credentials_) << "team = t1\ne = e1\nn = n1\nf = f1\n"; }
  ASSERT_EQ(::chmod(credentials_.c_str(), 0600), 0);

  Result r = hc({"hosts", "remove", "a", "--forget-password"});
  expect_ok(r);
  EXPECT_NE(r.out.find("'team' kept in " + credentials_ + ": connection 'b' uses it too"),
            std::string::npos)
      << r;
  // env: and none read no file: their names' keys stay.
  r = hc({"hosts", "remove", "e", "--forget-password"});
  expect_ok(r);
  EXPECT_NE(r.out.find("no password to forget"), std::string::npos) << r;
  expect_ok(hc({"hosts", "remove", "n", "--forget-password"}));
  EXPECT_EQ(slurp(credentials_), "team = t1\ne = e1\nn = n1\nf = f1\n");

  expect_ok(hc({"hosts", "remove", "b", "--forget-password"}));
  expect_ok(hc({"hosts", "remove", "f", "--forget-password"}));
  EXPECT_EQ(slurp(credentials_), "e = e1\nn = n1\n");
  EXPECT_EQ(slurp(config_), "");
}

// ------------------------------------------------ the prompt on a terminal --

/// hyperctl on a pseudo-terminal of its own (its controlling terminal, so
/// /dev/tty is the pty), stdout and stderr into files.
class PtyCli {
 public:
  PtyCli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
         const std::string& dir)
      : out_(dir + "/pty.out"), err_(dir + "/pty.err") {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("HYPERCTL_", 0) != 0) env_strings.push_back(*e);
    env_strings.push_back(std::string("HYPERCTL_PLUGIN_PATH=") + HYPERCTL_TEST_PLUGIN_DIR);
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<std::string> argv_strings{HYPERCTL_CLI};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);  // setsid + the pty as ctty
    if (pid_ == 0) {
      const int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      std::vector<char*> argv, envp;
      for (auto& a : argv_strings) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& s : env_strings) envp.push_back(s.data());
      envp.push_back(nullptr);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~PtyCli() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (master_ >= 0) ::close(master_);
  }
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// Reads the terminal until `text` appears (at `from` or later) or `ms` pass.
  bool expect(const std::string& text, int ms, std::size_t from = 0) {
    return hyperctl::test_pty::read_until(master_, text, screen_, ms, from);
  }

  void type(const std::string& text) {
    ASSERT_EQ(::write(master_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  /// Exit status, after reading what is left on the terminal.
  int wait() {
    expect("\x01never", 10000);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  const std::string& screen() const { return screen_; }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string out_, err_;
  int master_ = -1;
  pid_t pid_ = -1;
  std::string screen_;
};

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : text)
    if (c == '\0') c = ' ';
  return text;
}

TEST_F(CliHosts, PasswordTypedAtThePrompt) {
  add_protected("auth-lab");
  for (const bool debug : {false, true}) {
    std::vector<std::string> args{"-c", "auth-lab", "list"};
    if (debug) args.push_back("--debug");
    PtyCli cli(args, {{"HOME", home_}, {"XDG_CONFIG_HOME", xdg_}}, tmp_.path().string());
    ASSERT_TRUE(cli.started());
    ASSERT_TRUE(cli.expect("Password for alice on test://" + node_ + ": ", 20000))
        << cli.screen() << cli.err();
    // While the prompt waits: the command line holds no password.
    const std::string cmdline = cmdline_of(cli.pid());
    EXPECT_NE(cmdline.find("auth-lab"), std::string::npos) << cmdline;
    EXPECT_EQ(cmdline.find("s3cr"), std::string::npos) << cmdline;
    cli.type(std::string(kPassword) + "\n");
    EXPECT_EQ(cli.wait(), 0) << cli.screen() << cli.err();
    EXPECT_NE(cli.out().find("vm1"), std::string::npos) << cli.out() << cli.err();
    EXPECT_EQ(cli.err(), "");
    EXPECT_EQ(cli.screen().find("s3cr"), std::string::npos) << "echoed: " << cli.screen();
    EXPECT_EQ(cli.out().find("s3cr"), std::string::npos);
  }
}

TEST_F(CliHosts, WrongPasswordTypedAtThePrompt) {
  add_protected("auth-lab");
  PtyCli cli({"--debug", "-c", "auth-lab", "list"}, {{"HOME", home_}, {"XDG_CONFIG_HOME", xdg_}},
             tmp_.path().string());
  ASSERT_TRUE(cli.started());
  ASSERT_TRUE(cli.expect("Password for alice on ", 20000)) << cli.screen() << cli.err();
  cli.type("s3cr-typo\n");
  EXPECT_EQ(cli.wait(), 7) << cli.screen() << cli.err();
  EXPECT_EQ(cli.err().find("s3cr"), std::string::npos) << cli.err();
  EXPECT_EQ(cli.screen().find("s3cr"), std::string::npos) << cli.screen();
  EXPECT_EQ(cli.out(), "");
}

TEST_F(CliHosts, PromptNarrowedAwayWithNone) {
  // credentials = none: no prompt even on a terminal; exit 7 at once.
  add_protected("auth-lab", {"--credentials", "none"});
  PtyCli cli({"-c", "auth-lab", "list"}, {{"HOME", home_}, {"XDG_CONFIG_HOME", xdg_}},
             tmp_.path().string());
  ASSERT_TRUE(cli.started());
  EXPECT_EQ(cli.wait(), 7) << cli.screen() << cli.err();
  EXPECT_EQ(cli.screen().find("Password"), std::string::npos) << cli.screen();
}

}  // namespace

namespace {

TEST_F(CliHosts, HostsTestAsksOneHostAtATime) {
  // Two protected hosts tested at once on a terminal: the prompts come one
  // after the other, and each answer goes to its own host.
  const std::string node2 = tmp_.write("node2.xml", slurp(node_));
  add_protected("one");
  expect_ok(hc({"hosts", "add", "two", "test://" + node2, "--user", "alice"}));
  PtyCli cli({"hosts", "test", "one", "two"}, {{"HOME", home_}, {"XDG_CONFIG_HOME", xdg_}},
             tmp_.path().string());
  ASSERT_TRUE(cli.started());
  ASSERT_TRUE(cli.expect("Password for alice on ", 20000)) << cli.screen() << cli.err();
  ASSERT_TRUE(cli.expect(".xml: ", 5000)) << cli.screen();
  cli.expect("\x01never", 300);  // time for a second prompt that must not come yet
  const std::string before = cli.screen();
  EXPECT_EQ(before.find("Password for", before.find("Password for") + 1), std::string::npos)
      << before;
  cli.type(std::string(kPassword) + "\n");
  ASSERT_TRUE(cli.expect("Password for alice on ", 20000, before.size())) << cli.screen();
  cli.type(std::string(kPassword) + "\n");
  EXPECT_EQ(cli.wait(), 0) << cli.screen() << cli.err();
  const auto rows = lines_of(cli.out());
  ASSERT_EQ(rows.size(), 3u) << cli.out() << cli.err();
  EXPECT_NE(rows[1].find(" ok "), std::string::npos) << cli.out();
  EXPECT_NE(rows[2].find(" ok "), std::string::npos) << cli.out();
  EXPECT_EQ(cli.screen().find("s3cr"), std::string::npos) << cli.screen();
}

// --password-stdin on a terminal asks with the echo off.
TEST_F(CliHosts, PasswordStdinOnATerminalIsNotEchoed) {
  PtyCli cli({"hosts", "add", "auth-lab", "test://" + node_, "--user", "alice", "--password-stdin"},
             {{"HOME", home_}, {"XDG_CONFIG_HOME", xdg_}}, tmp_.path().string());
  ASSERT_TRUE(cli.started());
  ASSERT_TRUE(cli.expect("Password for 'auth-lab': ", 20000)) << cli.screen() << cli.err();
  cli.type(std::string(kPassword) + "\n");
  EXPECT_EQ(cli.wait(), 0) << cli.screen() << cli.err();
  EXPECT_EQ(cli.screen().find("s3cr"), std::string::npos) << "echoed: " << cli.screen();
  EXPECT_EQ(cli.err(), "");
  EXPECT_EQ(slurp(credentials_), "auth-lab = " + std::string(kPassword) + "\n");
}

}  // namespace
