// `hyperctl trust list|add|remove` through the real executable (argv only,
// tests/cli/harness.hpp), against a real `openssl s_server` and, for SSH,
// the sshd test bed. Every run gets its own trust folder and HOME.
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
  cli::expect_error(hyperctl({"trust", "add", "qemu+tls://h/system"}), 2, "--tls or --ssh");
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
