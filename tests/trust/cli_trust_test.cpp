// `hyperctl trust list|add|remove` through the real executable (argv only,
// tests/cli/harness.hpp), against a real `openssl s_server` and, for SSH,
// the sshd test bed. Every run gets its own trust folder and HOME.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../cli/harness.hpp"
#include "support.hpp"

namespace {

namespace cli = hyperctl_cli_test;
using nlohmann::json;
using namespace trust_test;

/// A trust folder and a HOME of our own for every hyperctl run.
class TrustCli : public ::testing::Test {
 protected:
  cli::Result hyperctl(const std::vector<std::string>& args) const {
    cli::RunOptions o;
    o.env = {{"HYPERCTL_TRUST_DIR", dir_.string()},
             {"HOME", home_.string()},
             {"XDG_CONFIG_HOME", std::nullopt}};
    return cli::run(args, o);
  }
  bool stored() const {
    return fs::exists(dir_ / "tls_known_hosts") || fs::exists(dir_ / "ssh_known_hosts");
  }
  json list_json() const {
    const auto r = hyperctl({"trust", "list", "-o", "json"});
    EXPECT_EQ(r.status, 0) << r;
    return json::parse(r.out, nullptr, false);
  }

  Scratch scratch_;
  fs::path dir_ = scratch_.path() / "trust";
  fs::path home_ = scratch_.path() / "home";
};

class TrustCliTls : public TrustCli {
 protected:
  static void SetUpTestSuite() {
    certs_dir_ = new Scratch;
    certs_ = new Certificates(certs_dir_->path());
    server_ = new TlsServer(*certs_);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete certs_;
    delete certs_dir_;
  }
  void SetUp() override {
    if (!server_->error().empty()) GTEST_SKIP() << server_->error();
    fp_ = openssl_fingerprint(certs_->self_cert);
    ASSERT_EQ(fp_.size(), 95u);
    at_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  static Scratch* certs_dir_;
  static Certificates* certs_;
  static TlsServer* server_;
  std::string fp_;  ///< the server's SHA-256 thumbprint, as openssl prints it
  std::string at_;  ///< 127.0.0.1:PORT
};
Scratch* TrustCliTls::certs_dir_ = nullptr;
Certificates* TrustCliTls::certs_ = nullptr;
TlsServer* TrustCliTls::server_ = nullptr;

std::string lower_no_colons(std::string fp) {
  std::string out;
  for (char c : fp)
    if (c != ':') out += char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// What a run on a terminal saw: the terminal's text, standard output and
/// error (pipes), and the status.
struct TtyRun {
  int status = -1;
  std::string tty, out, err;
};

/// Runs hyperctl in a new session whose controlling terminal (and standard
/// input) is a pseudo-terminal; once the terminal shows "[y/N] ", types
/// `answer` and a newline. Standard output and error are pipes.
TtyRun run_on_terminal(const std::vector<std::string>& args, const std::vector<std::string>& env,
                       const std::string& answer) {
  TtyRun r;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    ADD_FAILURE() << "no pseudo-terminal: " << std::strerror(errno);
    return r;
  }
  const std::string slave = ::ptsname(master);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return r;
  std::vector<std::string> argv_s{HYPERCTL_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = env;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    const int tty = ::open(slave.c_str(), O_RDWR);  // becomes the controlling terminal
    ::dup2(tty, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  bool answered = false;
  std::string* sinks[3] = {&r.tty, &r.out, &r.err};
  int fds[3] = {master, out[0], err[0]};
  const auto until = std::chrono::steady_clock::now() + 30s;
  while ((fds[1] >= 0 || fds[2] >= 0) && std::chrono::steady_clock::now() < until) {
    pollfd p[3];
    int n = 0, which[3];
    for (int i = 0; i < 3; ++i)
      if (fds[i] >= 0) p[n] = {fds[i], POLLIN, 0}, which[n++] = i;
    if (::poll(p, nfds_t(n), 200) <= 0) continue;
    for (int j = 0; j < n; ++j) {
      if (!p[j].revents) continue;
      char buf[4096];
      const ssize_t got = ::read(p[j].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[which[j]]->append(buf, std::size_t(got));
      } else if (which[j] != 0) {
        ::close(p[j].fd);
        fds[which[j]] = -1;
      } else {
        fds[0] = -1;  // the terminal's other side is gone (EIO)
      }
    }
    if (!answered && r.tty.find("[y/N] ") != std::string::npos) {
      const std::string line = answer + "\n";
      EXPECT_EQ(::write(master, line.data(), line.size()), ssize_t(line.size()));
      answered = true;
    }
  }
  if (fds[1] >= 0 || fds[2] >= 0) {
    ADD_FAILURE() << "hyperctl did not finish within 30 s on the terminal; killed";
    ::kill(pid, SIGKILL);
  }
  for (int i = 1; i < 3; ++i)
    if (fds[i] >= 0) ::close(fds[i]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

TEST_F(TrustCliTls, AddWithAMatchingThumbprintPinsAndShowsTheCertificate) {
  const auto r = hyperctl({"trust", "add", at_, "--tls", "--thumbprint", lower_no_colons(fp_)});
  cli::expect_ok(r);
  EXPECT_NE(r.out.find("TLS certificate of " + at_), std::string::npos) << r;
  EXPECT_NE(r.out.find("Subject:     O=hyperctl tests,CN=trust-test.example"), std::string::npos)
      << r;
  EXPECT_NE(r.out.find("Self-signed: yes"), std::string::npos) << r;
  EXPECT_NE(r.out.find("SHA-256:     " + fp_), std::string::npos) << r;
  EXPECT_NE(r.out.find("pinned " + at_), std::string::npos) << r;
  EXPECT_EQ(slurp(dir_ / "tls_known_hosts"), at_ + " " + fp_ + "\n");
}

TEST_F(TrustCliTls, OnATerminalTheUserIsAskedAndOnlyYesPins) {
  const std::vector<std::string> env = {"HYPERCTL_TRUST_DIR=" + dir_.string(),
                                        "HOME=" + home_.string(), "PATH=/usr/bin:/bin"};
  const std::vector<std::string> args = {"trust", "add", at_, "--tls"};
  const TtyRun no = run_on_terminal(args, env, "n");
  EXPECT_EQ(no.status, 2) << no.tty << no.out << no.err;
  EXPECT_NE(no.tty.find("SHA-256:     " + fp_), std::string::npos) << no.tty;
  EXPECT_NE(no.tty.find("Pin this certificate for " + at_ + "? [y/N] "), std::string::npos)
      << no.tty;
  EXPECT_NE(no.err.find("declined"), std::string::npos) << no.err;
  EXPECT_TRUE(no.out.empty()) << no.out;
  EXPECT_FALSE(stored());

  const TtyRun yes = run_on_terminal(args, env, "y");
  EXPECT_EQ(yes.status, 0) << yes.tty << yes.out << yes.err;
  EXPECT_TRUE(yes.err.empty()) << yes.err;
  EXPECT_NE(yes.out.find("pinned " + at_), std::string::npos) << yes.out;
  EXPECT_EQ(slurp(dir_ / "tls_known_hosts"), at_ + " " + fp_ + "\n");
}

TEST_F(TrustCliTls, ReplacingAnEarlierPinSaysSo) {
  const std::string old_fp =
      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:"
      "EE:FF";
  fs::create_directories(dir_);
  spit(dir_ / "tls_known_hosts", "# lab\n" + at_ + " " + old_fp + "\n");
  const auto r = hyperctl({"trust", "add", at_, "--tls", "--yes"});
  cli::expect_ok(r);
  EXPECT_NE(r.out.find("REPLACES the pinned " + old_fp), std::string::npos) << r;
  EXPECT_EQ(slurp(dir_ / "tls_known_hosts"), "# lab\n" + at_ + " " + fp_ + "\n");
  const auto again = hyperctl({"trust", "add", at_, "--tls", "--yes"});
  cli::expect_ok(again);
  EXPECT_NE(again.out.find("(already pinned)"), std::string::npos) << again;
}

TEST_F(TrustCliTls, AMismatchingThumbprintIsAConflictAndStoresNothing) {
  const std::string wrong =
      "SHA256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  const auto r = hyperctl({"trust", "add", at_, "--tls", "--thumbprint", wrong});
  cli::expect_error(r, 5, fp_);
  EXPECT_NE(r.err.find("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"), std::string::npos) << r;
  EXPECT_FALSE(stored());
}

TEST_F(TrustCliTls, NeitherYesNorThumbprintStoresNothing) {
  const auto r =
      hyperctl({"trust", "add", "vsphere://127.0.0.1:" + std::to_string(server_->port()) + "/"});
  cli::expect_error(r, 2, "pass --yes or --thumbprint");
  EXPECT_NE(r.err.find(fp_), std::string::npos) << "the thumbprint to check is shown: " << r;
  EXPECT_FALSE(stored());
}

// libvirt's TLS transports are TLS: qemu+tls:// needs no --tls and pins the
// certificate of the port it names.
TEST_F(TrustCliTls, LibvirtTlsTransportIsTls) {
  const std::string port = std::to_string(server_->port());
  const auto r = hyperctl({"trust", "add", "qemu+tls://127.0.0.1:" + port + "/system", "--yes"});
  cli::expect_ok(r);
  EXPECT_NE(r.out.find("pinned " + at_), std::string::npos) << r;
  EXPECT_EQ(slurp(dir_ / "tls_known_hosts"), at_ + " " + fp_ + "\n");
}

TEST_F(TrustCliTls, YesPinsAndListShowsItAsTableJsonAndCsv) {
  cli::expect_ok(
      hyperctl({"trust", "add", "esx://127.0.0.1:" + std::to_string(server_->port()), "--yes"}));
  const auto table = hyperctl({"trust", "list"});
  cli::expect_ok(table);
  const auto lines = cli::lines_of(table.out);
  ASSERT_EQ(lines.size(), 2u) << table;
  EXPECT_EQ(lines[0].rfind("KIND", 0), 0u) << table;
  EXPECT_NE(lines[1].find("tls"), std::string::npos) << table;
  EXPECT_NE(lines[1].find("127.0.0.1"), std::string::npos) << table;
  EXPECT_NE(lines[1].find(std::to_string(server_->port())), std::string::npos) << table;
  EXPECT_NE(lines[1].find(fp_), std::string::npos) << table;

  const json doc = list_json();
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["schema"], "hyperctl.trust/1");
  EXPECT_EQ(doc["operation"], "trust.list");
  EXPECT_EQ(doc["dir"], dir_.string());
  ASSERT_EQ(doc["entries"].size(), 1u);
  EXPECT_EQ(doc["entries"][0], (json{{"kind", "tls"},
                                     {"host", "127.0.0.1"},
                                     {"port", server_->port()},
                                     {"fingerprint", fp_},
                                     {"key", fp_}}));

  const auto csv = hyperctl({"trust", "list", "-o", "csv"});
  cli::expect_ok(csv);
  EXPECT_EQ(csv.out, "kind,host,port,fingerprint,key\ntls,127.0.0.1," +
                         std::to_string(server_->port()) + "," + fp_ + "," + fp_ + "\n");
}

TEST_F(TrustCliTls, AddWithJsonOutputDescribesTheCertificate) {
  const auto r = hyperctl({"trust", "add", "https://127.0.0.1:" + std::to_string(server_->port()),
                           "--thumbprint", fp_, "-o", "json"});
  cli::expect_ok(r);
  const json doc = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << r;
  EXPECT_EQ(doc["schema"], "hyperctl.trust/1");
  EXPECT_EQ(doc["operation"], "trust.add");
  ASSERT_EQ(doc["entries"].size(), 1u);
  EXPECT_EQ(doc["entries"][0]["fingerprint"], fp_);
  EXPECT_EQ(doc["entries"][0]["subject"], "O=hyperctl tests,CN=trust-test.example");
  EXPECT_EQ(doc["entries"][0]["self_signed"], true);
}

TEST_F(TrustCliTls, RemoveThenRemoveAgainIsNotFound) {
  cli::expect_ok(hyperctl({"trust", "add", at_, "--tls", "--yes"}));
  const auto r = hyperctl({"trust", "remove", at_});
  cli::expect_ok(r);
  EXPECT_NE(r.out.find("removed 1 entry"), std::string::npos) << r;
  EXPECT_TRUE(list_json()["entries"].empty());
  cli::expect_error(hyperctl({"trust", "remove", at_}), 3, at_);
  // Without a port: every port of the host.
  cli::expect_ok(hyperctl({"trust", "add", at_, "--tls", "--yes"}));
  cli::expect_ok(hyperctl({"trust", "remove", "127.0.0.1", "--tls"}));
  cli::expect_error(hyperctl({"trust", "remove", "127.0.0.1"}), 3);
}

TEST_F(TrustCliTls, BadThumbprintsAreInvalidBeforeAnyContact) {
  const std::string sha1 = fp_.substr(0, 59);  // 20 pairs
  const auto r = hyperctl({"trust", "add", at_, "--tls", "--thumbprint", sha1});
  cli::expect_error(r, 2, "SHA-1 thumbprints are not accepted");
  cli::expect_error(hyperctl({"trust", "add", at_, "--tls", "--thumbprint", "xyz"}), 2);
  cli::expect_error(hyperctl({"trust", "add", "ssh://127.0.0.1:1", "--thumbprint", fp_}), 2,
                    "not an SSH host key fingerprint");
  EXPECT_FALSE(stored());
}

TEST_F(TrustCli, HostPortNeedsTlsOrSsh) {
  cli::expect_error(hyperctl({"trust", "add", "127.0.0.1:443"}), 2, "--tls or --ssh");
  cli::expect_error(hyperctl({"trust", "add", "127.0.0.1:443", "--tls", "--ssh"}), 2);
  cli::expect_error(hyperctl({"trust", "add", "https://127.0.0.1/", "--ssh"}), 2, "not SSH");
  cli::expect_error(hyperctl({"trust", "add", "qemu://h/system"}), 2, "--tls or --ssh");
  cli::expect_error(hyperctl({"trust", "add", "qemu+tls://h/system", "--ssh"}), 2, "not SSH");
  cli::expect_error(hyperctl({"trust", "add", "vsphere:///"}), 2, "names no host");
  EXPECT_FALSE(stored());
}

TEST_F(TrustCli, HostileTargetsAreRefusedOnOneLine) {
  for (const std::string& target : {std::string("$(id):443"),
                                    std::string("`id`:443"),
                                    std::string("a;b:443"),
                                    std::string("a b:443"),
                                    std::string("host\nx:443"),
                                    std::string("a'b:443"),
                                    std::string("a\"b:443"),
                                    std::string("#x:443"),
                                    std::string("a,b:443"),
                                    std::string("-oProxyCommand=x:443"),
                                    std::string("h\xC3\xA9:443"),
                                    std::string("\x1b[31mred:443"),
                                    std::string("h:0"),
                                    std::string("h:65536"),
                                    std::string("h:-1"),
                                    std::string("h:44x"),
                                    std::string("[::1:443"),
                                    std::string("vsphere://$(id)/"),
                                    std::string("vsphere://a;b/"),
                                    std::string("vsphere://a b/"),
                                    std::string("vsphere://h\nx/"),
                                    std::string("vsphere://u:secret@h/"),
                                    std::string("ssh://h:99999/")}) {
    SCOPED_TRACE(target);
    cli::expect_error(hyperctl({"trust", "add", target, "--tls", "--yes"}), 2);
    const auto r = hyperctl({"trust", "remove", target});
    cli::expect_error(r, 2);
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r;
  }
  EXPECT_FALSE(stored());
}

/// True when something accepts connections on 127.0.0.1:`port`.
bool listening(unsigned port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A URI without a port: the scheme's own. Nothing may listen there for the
// port to show in the "cannot connect" error (binding 16514 or 443 needs
// privileges we do not take).
TEST_F(TrustCli, UriWithoutAPortUsesTheSchemesPort) {
  int checked = 0;
  for (const auto& [uri, port] :
       std::vector<std::pair<std::string, unsigned>>{{"qemu+tls://127.0.0.1/system", 16514u},
                                                     {"xen+tls://127.0.0.1/", 16514u},
                                                     {"lxc+tls://127.0.0.1/", 16514u},
                                                     {"test+tls://127.0.0.1/default", 16514u},
                                                     {"vsphere://127.0.0.1/", 443u},
                                                     {"esx://127.0.0.1/", 443u},
                                                     {"https://127.0.0.1/", 443u}}) {
    SCOPED_TRACE(uri);
    if (listening(port)) continue;
    cli::expect_error(hyperctl({"trust", "add", uri, "--yes"}), 8,
                      "127.0.0.1:" + std::to_string(port));
    ++checked;
  }
  EXPECT_FALSE(stored());
  if (checked == 0) GTEST_SKIP() << "127.0.0.1:16514 and 127.0.0.1:443 both take connections here";
}

TEST_F(TrustCli, UnreachableHostsExitEightAndStoreNothing) {
  const unsigned port = closed_port();
  cli::expect_error(
      hyperctl({"trust", "add", "127.0.0.1:" + std::to_string(port), "--tls", "--yes"}), 8,
      "127.0.0.1:" + std::to_string(port));
  RawServer plain(RawServer::Mode::Plain);
  cli::expect_error(
      hyperctl({"trust", "add", "127.0.0.1:" + std::to_string(plain.port()), "--tls", "--yes"}), 8);
  RawServer silent(RawServer::Mode::Stall);
  const auto r = hyperctl({"trust", "add", "127.0.0.1:" + std::to_string(silent.port()), "--tls",
                           "--yes", "--timeout", "1"});
  cli::expect_error(r, 9);
  EXPECT_LT(r.elapsed, std::chrono::milliseconds(2500)) << r;
  EXPECT_FALSE(stored());
}

TEST_F(TrustCli, EmptyStoreListsNothingAndAMalformedOneSaysWhere) {
  const auto empty = hyperctl({"trust", "list", "-o", "json"});
  cli::expect_ok(empty);
  EXPECT_TRUE(json::parse(empty.out)["entries"].empty());
  fs::create_directories(dir_);
  spit(dir_ / "tls_known_hosts", "# mine\nvc1:443 not-a-thumbprint\n");
  cli::expect_error(hyperctl({"trust", "list"}), 2, (dir_ / "tls_known_hosts").string() + ":2: ");
}

// ---- SSH against the sshd test bed

class TrustCliSsh : public TrustCli {
 protected:
  void SetUp() override {
    if (!ssh_bed().skip.empty()) GTEST_SKIP() << ssh_bed().skip;
    uri_ = "ssh://" + ssh_bed().host + ":" + std::to_string(ssh_bed().port);
    fp_ = keygen_fingerprint(ssh_bed().host_key);
  }
  std::string uri_, fp_;
};

TEST_F(TrustCliSsh, AddShowsAndPinsTheBedsHostKey) {
  const auto refused = hyperctl({"trust", "add", uri_});
  cli::expect_error(refused, 2, fp_);
  EXPECT_FALSE(stored());

  const auto wrong =
      hyperctl({"trust", "add", uri_, "--thumbprint", "SHA256:" + std::string(43, 'A')});
  cli::expect_error(wrong, 5, fp_);
  EXPECT_FALSE(stored());

  const auto r = hyperctl({"trust", "add", uri_, "--thumbprint", fp_});
  cli::expect_ok(r);
  EXPECT_NE(r.out.find("ssh-ed25519  " + fp_), std::string::npos) << r;
  const json doc = list_json();
  ASSERT_EQ(doc["entries"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["entries"][0]["kind"], "ssh");
  EXPECT_EQ(doc["entries"][0]["port"], ssh_bed().port);
  EXPECT_EQ(doc["entries"][0]["fingerprint"], fp_);
  EXPECT_EQ(doc["entries"][0]["key"], ssh_bed().host_key);
  EXPECT_EQ(slurp(dir_ / "ssh_known_hosts"), "[" + ssh_bed().host +
                                                 "]:" + std::to_string(ssh_bed().port) + " " +
                                                 ssh_bed().host_key + "\n");

  // HOST:PORT --ssh --yes: the same key again, replaced in place.
  cli::expect_ok(hyperctl(
      {"trust", "add", ssh_bed().host + ":" + std::to_string(ssh_bed().port), "--ssh", "--yes"}));
  EXPECT_EQ(list_json()["entries"].size(), 1u);
  cli::expect_ok(hyperctl({"trust", "remove", uri_.substr(6), "--ssh"}));
  cli::expect_error(hyperctl({"trust", "remove", uri_.substr(6), "--ssh"}), 3);
}

}  // namespace
