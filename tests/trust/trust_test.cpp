// The trust store (hyperctl/trust.hpp): thumbprint spellings, the two files
// (round trip, replace, remove, malformed lines, hostile hosts), the TLS
// certificate of a real `openssl s_server`, sockets that refuse, stall or
// speak plain text, and SSH host keys of the real sshd test bed — scanned,
// pinned, and then honoured by runner_for().
#include <netdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../common/expect_error.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/process.hpp"
#include "hyperctl/trust.hpp"
#include "hyperctl/uri.hpp"
#include "support.hpp"

namespace {

using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::TrustEntry;
using hyperctl::TrustStore;
using hyperctl::test::error_of;
using namespace trust_test;
using Clock = std::chrono::steady_clock;

const std::string kHex =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";  // 64 digits
const std::string kCanon =
    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:"
    "CD:EF";
const std::string kOther =
    "FF:EE:DD:CC:BB:AA:99:88:77:66:55:44:33:22:11:00:FF:EE:DD:CC:BB:AA:99:88:77:66:55:44:33:22:"
    "11:00";

/// A real SSH public key ("KEYTYPE BASE64") made by ssh-keygen.
std::string make_ssh_key(const fs::path& dir, const std::string& type, const std::string& name) {
  const fs::path file = dir / name;
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type, "-N", "", "-f", file.string()};
  if (type == "rsa") argv.insert(argv.end(), {"-b", "2048"});
  const Ran r = run_program(argv);
  EXPECT_EQ(r.status, 0) << r.out;
  std::istringstream pub(slurp(file.string() + ".pub"));
  std::string t, k;
  pub >> t >> k;
  return t + " " + k;
}

std::string message_of(const std::function<void()>& f) {
  const auto e = error_of(f);
  return e ? e->what() : std::string();
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

// ---------------------------------------------------------------------------
// normalize_thumbprint

TEST(Thumbprint, AcceptedSpellingsBecomeTheCanonicalForm) {
  std::string upper = kHex;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string lower_colons;
  for (std::size_t i = 0; i < kHex.size(); i += 2)
    lower_colons += (i ? ":" : "") + kHex.substr(i, 2);
  for (const std::string& text :
       {kHex, upper, lower_colons, kCanon, "SHA256:" + kCanon, "sha256:" + kHex, "sha256=" + kHex,
        "SHA256=" + lower_colons, "  " + kCanon + " \n"}) {
    EXPECT_EQ(hyperctl::normalize_thumbprint(text), kCanon) << text;
  }
}

TEST(Thumbprint, Sha1IsRefusedWithItsOwnSentence) {
  const std::string sha1 = kHex.substr(0, 40);
  std::string sha1_colons;
  for (std::size_t i = 0; i < sha1.size(); i += 2)
    sha1_colons += (i ? ":" : "") + sha1.substr(i, 2);
  for (const std::string& text :
       {sha1, sha1_colons, "SHA256:" + sha1, "sha1:" + sha1, "SHA1=" + sha1_colons}) {
    const auto e = error_of([&] { hyperctl::normalize_thumbprint(text); });
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
    EXPECT_STREQ(e->what(), "SHA-1 thumbprints are not accepted; give the SHA-256 one") << text;
  }
}

TEST(Thumbprint, AnythingElseIsInvalidOnOneLine) {
  for (const std::string& text : std::vector<std::string>{
           std::string(), std::string("SHA256:"), kHex.substr(0, 63), kHex + "0", kHex + "00",
           "g" + kHex.substr(1), kCanon.substr(0, 5) + kCanon.substr(6),  // one colon missing
           kCanon + ":", ":" + kCanon, "01 23" + kHex.substr(4), "md5:" + kHex,
           std::string("$(id);\n\x1b[31m") + kHex,
           "SHA256:bHR1dmVyeWxvbmdiYXNlNjRmaW5nZXJwcmludA"}) {
    const auto e = error_of([&] { hyperctl::normalize_thumbprint(text); });
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << text;
    const std::string what = e->what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
  }
}

// ---------------------------------------------------------------------------
// The files

class Store : public ::testing::Test {
 protected:
  Scratch scratch_;
  fs::path dir_ = scratch_.path() / "trust";
  TrustStore store_{dir_.string()};
};

TEST_F(Store, EmptyStoreListsNothingAndCreatesNothing) {
  EXPECT_TRUE(store_.list().empty());
  EXPECT_EQ(store_.check_tls("vc1.example.com", 443, kHex), TrustStore::Verdict::Unknown);
  EXPECT_EQ(store_.remove("vc1.example.com", 443), 0u);
  EXPECT_FALSE(fs::exists(store_.tls_file()));
  EXPECT_FALSE(fs::exists(store_.ssh_file()));
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_EQ(store_.tls_file(), (dir_ / "tls_known_hosts").string());
  EXPECT_EQ(store_.ssh_file(), (dir_ / "ssh_known_hosts").string());
}

TEST_F(Store, TlsRoundTripReplaceAndCheck) {
  store_.add_tls("VC1.Example.com", 443, kHex);
  store_.add_tls("::1", 8443, "sha256=" + kHex);
  store_.add_tls("10.0.0.5", 9443, kOther);
  EXPECT_EQ(slurp(store_.tls_file()), "vc1.example.com:443 " + kCanon + "\n[::1]:8443 " + kCanon +
                                          "\n10.0.0.5:9443 " + kOther + "\n");
  EXPECT_EQ(mode_of(dir_), 0700u);
  EXPECT_EQ(mode_of(store_.tls_file()), 0644u);

  const auto all = store_.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].kind, "tls");
  EXPECT_EQ(all[0].host, "vc1.example.com");
  EXPECT_EQ(all[0].port, 443u);
  EXPECT_EQ(all[0].key, kCanon);
  EXPECT_EQ(all[0].fingerprint, kCanon);
  EXPECT_EQ(all[1].host, "::1");
  EXPECT_EQ(all[1].port, 8443u);

  using V = TrustStore::Verdict;
  EXPECT_EQ(store_.check_tls("vc1.example.com", 443, kHex), V::Trusted);
  EXPECT_EQ(store_.check_tls("VC1.EXAMPLE.COM", 443, "SHA256:" + kCanon), V::Trusted);
  EXPECT_EQ(store_.check_tls("vc1.example.com", 443, kOther), V::Mismatch);
  EXPECT_EQ(store_.check_tls("vc1.example.com", 8443, kHex), V::Unknown);
  EXPECT_EQ(store_.check_tls("vc2.example.com", 443, kHex), V::Unknown);

  // Pinning again replaces the pin in place.
  store_.add_tls("vc1.example.com", 443, kOther);
  EXPECT_EQ(store_.check_tls("vc1.example.com", 443, kOther), V::Trusted);
  EXPECT_EQ(store_.check_tls("vc1.example.com", 443, kHex), V::Mismatch);
  EXPECT_EQ(store_.list().size(), 3u);
  EXPECT_EQ(slurp(store_.tls_file()).rfind("vc1.example.com:443 " + kOther + "\n", 0), 0u);

  // A second store object on the same folder reads the same thing.
  EXPECT_EQ(TrustStore(dir_.string()).list().size(), 3u);
}

TEST_F(Store, CommentsAndBlankLinesSurviveRewrites) {
  fs::create_directories(dir_);
  spit(store_.tls_file(), "# my vCenters\n\nvc1:443 " + kCanon + "  # lab\n  # indented\n");
  store_.add_tls("vc2", 443, kOther);
  store_.remove("vc1", 443);
  EXPECT_EQ(slurp(store_.tls_file()), "# my vCenters\n\n  # indented\nvc2:443 " + kOther + "\n");
}

TEST_F(Store, SshRoundTripReplaceByTypeAndFingerprints) {
  Scratch keys;
  const std::string ed1 = make_ssh_key(keys.path(), "ed25519", "a");
  const std::string ed2 = make_ssh_key(keys.path(), "ed25519", "b");
  const std::string ecdsa = make_ssh_key(keys.path(), "ecdsa", "c");

  store_.add_ssh("127.0.0.1", 2222, {ed1});
  store_.add_ssh("Git.Example.com", 22, {ecdsa});
  EXPECT_EQ(slurp(store_.ssh_file()),
            "[127.0.0.1]:2222 " + ed1 + "\ngit.example.com " + ecdsa + "\n");
  EXPECT_EQ(mode_of(store_.ssh_file()), 0644u);

  // Same type: replaced in place; another type: added.
  store_.add_ssh("127.0.0.1", 2222, {ed2, ecdsa});
  EXPECT_EQ(slurp(store_.ssh_file()), "[127.0.0.1]:2222 " + ed2 + "\ngit.example.com " + ecdsa +
                                          "\n[127.0.0.1]:2222 " + ecdsa + "\n");
  const auto all = store_.list();
  ASSERT_EQ(all.size(), 3u);
  for (const auto& e : all) {
    EXPECT_EQ(e.kind, "ssh");
    EXPECT_EQ(e.fingerprint, keygen_fingerprint(e.key)) << e.key;
  }
  EXPECT_EQ(all[0].host, "127.0.0.1");
  EXPECT_EQ(all[0].port, 2222u);
  EXPECT_EQ(all[0].key, ed2);
  EXPECT_EQ(all[1].host, "git.example.com");
  EXPECT_EQ(all[1].port, 22u);

  // TLS entries come first.
  store_.add_tls("vc1", 443, kHex);
  EXPECT_EQ(store_.list().front().kind, "tls");

  // An IPv6 host off port 22 in brackets, on 22 bare (as ssh looks them up).
  store_.add_ssh("::1", 2200, {ed1});
  store_.add_ssh("::1", 22, {ed1});
  const std::string text = slurp(store_.ssh_file());
  EXPECT_NE(text.find("\n[::1]:2200 " + ed1 + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n::1 " + ed1 + "\n"), std::string::npos) << text;
  EXPECT_EQ(store_.list().size(), 6u);
}

TEST_F(Store, RemoveCountsAndFiltersByKind) {
  Scratch keys;
  const std::string ed = make_ssh_key(keys.path(), "ed25519", "a");
  const std::string ecdsa = make_ssh_key(keys.path(), "ecdsa", "b");
  store_.add_tls("h1", 443, kHex);
  store_.add_ssh("h1", 443, {ed, ecdsa});
  store_.add_tls("h2", 443, kHex);
  EXPECT_EQ(store_.remove("h1", 443, "ssh"), 2u);
  EXPECT_EQ(store_.remove("h1", 443, "ssh"), 0u);
  EXPECT_EQ(store_.remove("H1", 443, "tls"), 1u);
  EXPECT_EQ(store_.remove("h1", 443), 0u);
  store_.add_ssh("h2", 443, {ed});
  EXPECT_EQ(store_.remove("h2", 443), 2u);
  EXPECT_TRUE(store_.list().empty());
  EXPECT_ERROR_CODE(store_.remove("h2", 443, "x509"), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store_.remove("h2", 0), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store_.remove("h2", 65536), ErrorCode::InvalidArgument);
}

TEST_F(Store, NoTemporaryFileIsLeftBehind) {
  Scratch keys;
  for (int i = 0; i < 5; ++i) store_.add_tls("h" + std::to_string(i), 443, kHex);
  store_.add_ssh("h", 22, {make_ssh_key(keys.path(), "ed25519", "a")});
  store_.remove("h0", 443);
  std::set<std::string> names;
  for (const auto& f : fs::directory_iterator(dir_)) names.insert(f.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"tls_known_hosts", "ssh_known_hosts", ".trust.lock"}));
}

TEST_F(Store, ConcurrentWritersLoseNothing) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i)
        TrustStore(dir_.string())
            .add_tls("h" + std::to_string(t) + "-" + std::to_string(i), 443, kHex);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_.list().size(), 40u);
}

struct BadLine {
  bool tls;
  std::string line;
  std::string why;  ///< a part of the reason
};

TEST_F(Store, MalformedLinesAreReportedWithFileAndLine) {
  Scratch keys;
  const std::string ed = make_ssh_key(keys.path(), "ed25519", "a");
  const std::string ed_b64 = ed.substr(ed.find(' ') + 1);
  const std::vector<BadLine> cases = {
      {true, "vc1.example.com:443", "expected HOST:PORT SHA256-THUMBPRINT"},
      {true, "vc1.example.com " + kCanon, "expected HOST:PORT"},
      {true, "vc1.example.com:0 " + kCanon, "bad port"},
      {true, "vc1.example.com:99999 " + kCanon, "bad port"},
      {true, "vc1.example.com:https " + kCanon, "bad port"},
      {true, "::1:443 " + kCanon, "brackets"},
      {true, "[vc1]:443 " + kCanon, "IPv6"},
      {true, "[::1:443 " + kCanon, "[IPv6]:PORT"},
      {true, "vc1:443 " + kHex.substr(0, 40), "SHA-1"},
      {true, "vc1:443 nothex", "not a SHA-256 thumbprint"},
      {true, "vc1:443 " + kCanon + " trailing", "comment starts with '#'"},
      {true, "vc,1:443 " + kCanon, "','"},
      {true, "v*c:443 " + kCanon, "'*'"},
      {true, "vc1:443 " + kCanon + "\x01", "control character"},
      {false, "host ssh-ed25519", "expected HOST KEYTYPE BASE64"},
      {false, "|1|abc=|def= " + ed, "hashed"},
      {false, "@revoked host " + ed, "markers"},
      {false, "a,b " + ed, "one host per line"},
      {false, "[a]:x " + ed, "bad port"},
      {false, "[a] " + ed, "[HOST]:PORT"},
      {false, "h ssh-ed25519 not*base64", "base64"},
      {false, "h ssh-rsa " + ed_b64, "not of type ssh-rsa"},
      {false, "h ssh'ed " + ed_b64, "not an SSH key type"},
      {false, "h!x " + ed, "'!'"},
  };
  for (const auto& c : cases) {
    fs::create_directories(dir_);
    fs::remove(store_.tls_file());
    fs::remove(store_.ssh_file());
    const std::string file = c.tls ? store_.tls_file() : store_.ssh_file();
    const std::string good = c.tls ? "ok.example.com:443 " + kCanon : "ok.example.com " + ed;
    spit(file, "# header\n" + good + "\n" + c.line + "\n");
    for (const auto& call : std::vector<std::function<void()>>{
             [&] { store_.list(); },
             [&] { c.tls ? store_.add_tls("x", 1, kHex) : store_.add_ssh("x", 1, {ed}); },
             [&] { store_.remove("ok.example.com", c.tls ? 443 : 22); }}) {
      const auto e = error_of(call);
      ASSERT_TRUE(e) << c.line;
      EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << c.line;
      const std::string what = e->what();
      EXPECT_EQ(what.rfind(file + ":3: ", 0), 0u) << what;
      EXPECT_NE(what.find(c.why), std::string::npos) << "line: " << c.line << "\nerror: " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    // Nothing was rewritten.
    EXPECT_EQ(slurp(file), "# header\n" + good + "\n" + c.line + "\n");
  }
}

TEST_F(Store, DuplicateEntriesAreMalformed) {
  Scratch keys;
  const std::string ed = make_ssh_key(keys.path(), "ed25519", "a");
  fs::create_directories(dir_);
  spit(store_.tls_file(), "vc1:443 " + kCanon + "\nVC1:443 " + kOther + "\n");
  EXPECT_EQ(message_of([&] { store_.list(); }),
            store_.tls_file() + ":2: vc1:443 is pinned already on line 1");
  spit(store_.tls_file(), "");
  spit(store_.ssh_file(), "[h]:2 " + ed + "\n[h]:2 " + ed + "\n");
  EXPECT_NE(message_of([&] { store_.list(); }).find(store_.ssh_file() + ":2: "), std::string::npos);
}

TEST_F(Store, HostileHostsAreRefusedAndNothingIsWritten) {
  Scratch keys;
  const std::string ed = make_ssh_key(keys.path(), "ed25519", "a");
  const std::vector<std::string> hostile = {"",
                                            " ",
                                            "a b",
                                            "a\tb",
                                            "a\nb",
                                            "a\rb",
                                            std::string("a\0b", 3),
                                            "\x1b[31mred",
                                            "#x",
                                            "a#b",
                                            "a,b",
                                            "[::1]",
                                            "a[b",
                                            "a]b",
                                            "a*",
                                            "a?b",
                                            "!a",
                                            "$(id)",
                                            "`id`",
                                            "a;b",
                                            "a&b",
                                            "a|b",
                                            "a<b",
                                            "a'b",
                                            "a\"b",
                                            "a\\b",
                                            "a/b",
                                            "user@host",
                                            "-oProxyCommand=x",
                                            "-v",
                                            "h\xC3\xA9llo",
                                            "\xE5\x90\x8D\xE5\x89\x8D",
                                            "\xff\xfe",
                                            "::zz",
                                            "1:2",
                                            std::string(300, 'a')};
  for (const auto& host : hostile) {
    for (const auto& call : std::vector<std::function<void()>>{
             [&] { store_.add_tls(host, 443, kHex); }, [&] { store_.add_ssh(host, 22, {ed}); },
             [&] { store_.remove(host, 443); }, [&] { store_.check_tls(host, 443, kHex); },
             [&] { hyperctl::fetch_peer_certificate(host, 443, 1000ms); },
             [&] { hyperctl::scan_ssh_host_keys(host, 22, 1000ms); }}) {
      const auto e = error_of(call);
      ASSERT_TRUE(e) << host;
      EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << host;
      const std::string what = e->what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
    }
  }
  EXPECT_FALSE(fs::exists(store_.tls_file()));
  EXPECT_FALSE(fs::exists(store_.ssh_file()));
}

TEST_F(Store, BadKeysAndPortsAreRefused) {
  Scratch keys;
  const std::string ed = make_ssh_key(keys.path(), "ed25519", "a");
  const std::string b64 = ed.substr(ed.find(' ') + 1);
  for (const std::string& key : std::vector<std::string>{
           std::string(), std::string("ssh-ed25519"), "ssh-rsa " + b64, ed + " comment",
           "ssh-ed25519 " + b64.substr(1), "ssh-ed25519 $(id)", "ssh-ed25519\n" + b64}) {
    EXPECT_ERROR_CODE(store_.add_ssh("h", 22, {key}), ErrorCode::InvalidArgument);
  }
  EXPECT_ERROR_CODE(store_.add_ssh("h", 22, {}), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store_.add_tls("h", 0, kHex), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store_.add_tls("h", 70000, kHex), ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(store_.add_tls("h", 443, kHex.substr(0, 40)), ErrorCode::InvalidArgument);
  EXPECT_FALSE(fs::exists(store_.tls_file()));
  EXPECT_FALSE(fs::exists(store_.ssh_file()));
}

TEST(StoreLocation, DefaultDirFollowsTheEnvironment) {
  {
    ScopedEnv env(Vars{
        {"HYPERCTL_TRUST_DIR", "/opt/trust"}, {"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}});
    EXPECT_EQ(TrustStore::default_dir(), "/opt/trust");
  }
  {
    ScopedEnv env(
        Vars{{"HYPERCTL_TRUST_DIR", ""}, {"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}});
    EXPECT_EQ(TrustStore::default_dir(), "/xdg/hyperctl");
  }
  {
    ScopedEnv env(Vars{
        {"HYPERCTL_TRUST_DIR", std::nullopt}, {"XDG_CONFIG_HOME", "rel"}, {"HOME", "/home/u"}});
    EXPECT_EQ(TrustStore::default_dir(), "/home/u/.config/hyperctl");
  }
}

TEST(StoreLocation, SshOptionListsTheStoreThenTheUsersFileQuotedForSsh) {
  {
    ScopedEnv env(Vars{{"HOME", "/home/u"}});
    EXPECT_EQ(TrustStore("/etc/trust").ssh_user_known_hosts_option(),
              "/etc/trust/ssh_known_hosts /home/u/.ssh/known_hosts");
  }
  ScopedEnv env(Vars{{"HOME", "/home/my user"}});
  EXPECT_EQ(TrustStore("/t/100% \"sure\"\\").ssh_user_known_hosts_option(),
            "\"/t/100%% \\\"sure\\\"\\\\/ssh_known_hosts\" \"/home/my user/.ssh/known_hosts\"");
}

// ---------------------------------------------------------------------------
// TLS against real sockets

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new Scratch;
    certs_ = new Certificates(scratch_->path());
    server_ = new TlsServer(*certs_);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete certs_;
    delete scratch_;
  }
  void SetUp() override {
    if (!server_->error().empty()) GTEST_SKIP() << server_->error();
  }
  static Scratch* scratch_;
  static Certificates* certs_;
  static TlsServer* server_;
};
Scratch* Tls::scratch_ = nullptr;
Certificates* Tls::certs_ = nullptr;
TlsServer* Tls::server_ = nullptr;

TEST_F(Tls, CertificateThumbprintIsOpensslsSha256Fingerprint) {
  const std::string expected = openssl_fingerprint(certs_->self_cert);
  ASSERT_EQ(expected.size(), 95u) << expected;
  EXPECT_EQ(hyperctl::certificate_thumbprint(slurp(certs_->self_der)), expected);
  EXPECT_ERROR_CODE(hyperctl::certificate_thumbprint("not a certificate"),
                    ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(hyperctl::certificate_thumbprint(slurp(certs_->self_cert)),
                    ErrorCode::InvalidArgument);  // PEM is not DER
}

TEST_F(Tls, FetchesTheSelfSignedCertificateOfARealServer) {
  const auto pc = hyperctl::fetch_peer_certificate("127.0.0.1", server_->port(), 10s);
  EXPECT_EQ(pc.thumbprint, openssl_fingerprint(certs_->self_cert));
  EXPECT_EQ(pc.subject, "O=hyperctl tests,CN=trust-test.example");
  EXPECT_EQ(pc.issuer, pc.subject);
  EXPECT_TRUE(pc.self_signed);
}

TEST_F(Tls, SendsTheHostNameAsSniAndSeesACaSignedLeaf) {
  // s_server answers the SNI name "localhost" with the CA-signed leaf.
  addrinfo* res = nullptr;
  if (::getaddrinfo("localhost", nullptr, nullptr, &res) != 0)
    GTEST_SKIP() << "'localhost' does not resolve here";
  ::freeaddrinfo(res);
  const auto pc = hyperctl::fetch_peer_certificate("localhost", server_->port(), 10s);
  EXPECT_EQ(pc.thumbprint, openssl_fingerprint(certs_->leaf_cert));
  EXPECT_EQ(pc.subject, "CN=localhost");
  EXPECT_EQ(pc.issuer, "CN=hyperctl test CA");
  EXPECT_FALSE(pc.self_signed);
}

TEST_F(Tls, CheckTlsWithTheFetchedThumbprint) {
  Scratch dir;
  TrustStore store(dir.path().string());
  const auto pc = hyperctl::fetch_peer_certificate("127.0.0.1", server_->port(), 10s);
  using V = TrustStore::Verdict;
  EXPECT_EQ(store.check_tls("127.0.0.1", server_->port(), pc.thumbprint), V::Unknown);
  store.add_tls("127.0.0.1", server_->port(), pc.thumbprint);
  EXPECT_EQ(store.check_tls("127.0.0.1", server_->port(), pc.thumbprint), V::Trusted);
  store.add_tls("127.0.0.1", server_->port(), kCanon);
  EXPECT_EQ(store.check_tls("127.0.0.1", server_->port(), pc.thumbprint), V::Mismatch);
}

TEST(TlsFailures, ClosedPortIsUnreachableNamingHostAndPort) {
  const unsigned port = closed_port();
  const auto t0 = Clock::now();
  const auto e = error_of([&] { hyperctl::fetch_peer_certificate("127.0.0.1", port, 5s); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what();
  EXPECT_NE(std::string(e->what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << e->what();
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST(TlsFailures, ASilentListenerTimesOutWithinTheDeadline) {
  RawServer silent(RawServer::Mode::Stall);
  const auto deadline = 700ms;
  const auto t0 = Clock::now();
  const auto e =
      error_of([&] { hyperctl::fetch_peer_certificate("127.0.0.1", silent.port(), deadline); });
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout) << e->what();
  EXPECT_NE(std::string(e->what()).find("127.0.0.1:" + std::to_string(silent.port())),
            std::string::npos)
      << e->what();
  EXPECT_GE(took, deadline - 50ms);
  EXPECT_LT(took, deadline + 500ms) << "deadline + margin";
}

TEST(TlsFailures, APlainTextServerIsUnreachable) {
  RawServer plain(RawServer::Mode::Plain);
  const auto e = error_of([&] { hyperctl::fetch_peer_certificate("127.0.0.1", plain.port(), 5s); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what();
  EXPECT_NE(std::string(e->what()).find("TLS"), std::string::npos) << e->what();
}

TEST(TlsFailures, BadArgumentsAreInvalid) {
  EXPECT_ERROR_CODE(hyperctl::fetch_peer_certificate("127.0.0.1", 0, 1s),
                    ErrorCode::InvalidArgument);
  EXPECT_ERROR_CODE(hyperctl::fetch_peer_certificate("127.0.0.1", 443, 0ms),
                    ErrorCode::InvalidArgument);
}

// ---------------------------------------------------------------------------
// ssh-keyscan against sockets that refuse or stall (no sshd needed)

class SshScan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run_program({"sh", "-c", "command -v ssh-keyscan"}).status != 0)
      GTEST_SKIP() << "ssh-keyscan is not installed (apt-get install openssh-client)";
  }
};

TEST_F(SshScan, AClosedPortIsUnreachableNamingHostAndPort) {
  const unsigned port = closed_port();
  const auto e = error_of([&] { hyperctl::scan_ssh_host_keys("127.0.0.1", port, 5s); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what();
  EXPECT_NE(std::string(e->what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << e->what();
}

TEST_F(SshScan, ASilentListenerTimesOutWithinTheDeadline) {
  RawServer silent(RawServer::Mode::Stall);
  const auto deadline = 1500ms;
  const auto t0 = Clock::now();
  const auto e =
      error_of([&] { hyperctl::scan_ssh_host_keys("127.0.0.1", silent.port(), deadline); });
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout) << e->what();
  EXPECT_NE(std::string(e->what()).find("127.0.0.1:" + std::to_string(silent.port())),
            std::string::npos)
      << e->what();
  EXPECT_GE(took, deadline - 50ms);
  EXPECT_LT(took, deadline + 700ms) << "deadline + margin";
}

// ---------------------------------------------------------------------------
// SSH against the real sshd test bed

class SshBedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ssh_bed().skip.empty()) GTEST_SKIP() << ssh_bed().skip;
  }
};

TEST_F(SshBedTest, ScanReturnsTheBedsHostKeyWithSshKeygensFingerprint) {
  const auto& bed = ssh_bed();
  const auto keys = hyperctl::scan_ssh_host_keys(bed.host, bed.port, 10s);
  ASSERT_EQ(keys.size(), 1u) << "the bed has one host key (ed25519)";
  EXPECT_EQ(keys[0].kind, "ssh");
  EXPECT_EQ(keys[0].host, bed.host);
  EXPECT_EQ(keys[0].port, bed.port);
  EXPECT_EQ(keys[0].key, bed.host_key);
  EXPECT_EQ(keys[0].fingerprint, keygen_fingerprint(bed.host_key));
}

TEST_F(SshBedTest, RunnerForHonoursKeysPinnedInTheStore) {
  const auto& bed = ssh_bed();
  Scratch scratch;
  // A store folder ssh must be told about carefully: a blank and a '%'.
  const fs::path trust_dir = scratch.path() / "trust 100%h";
  const fs::path home = scratch.path() / "home";
  fs::create_directories(home / ".ssh");
  ScopedEnv env(Vars{{"HYPERCTL_TRUST_DIR", trust_dir.string()},
                     {"HOME", home.string()},
                     {"XDG_CONFIG_HOME", std::nullopt}});
  const auto uri =
      hyperctl::Uri::parse("ssh://" + bed.user + "@" + bed.host + ":" + std::to_string(bed.port) +
                           "/?identity=" + bed.identity.string());
  const auto run_echo = [&] {
    const auto runner = hyperctl::process::runner_for(uri, "", 5s, true);
    return runner.run({.argv = {"echo", "pinned"}, .timeout = 30s}).out;
  };

  const auto before = error_of([&] { run_echo(); });
  ASSERT_TRUE(before);
  EXPECT_EQ(before->code(), ErrorCode::AuthFailed) << before->what() << "\n" << before->detail();

  TrustStore store;
  EXPECT_EQ(store.dir(), trust_dir.string());
  std::vector<std::string> keys;
  for (const auto& k : hyperctl::scan_ssh_host_keys(bed.host, bed.port, 10s)) keys.push_back(k.key);
  store.add_ssh(bed.host, bed.port, keys);
  try {
    EXPECT_EQ(run_echo(), "pinned\n");
  } catch (const Error& e) {
    ADD_FAILURE() << "after add_ssh: " << e.what() << "\n" << e.detail();
  }

  EXPECT_EQ(store.remove(bed.host, bed.port, "ssh"), 1u);
  EXPECT_ERROR_CODE(run_echo(), ErrorCode::AuthFailed);

  // ?known_hosts= still names the one file ssh reads.
  const auto explicit_uri =
      hyperctl::Uri::parse("ssh://" + bed.user + "@" + bed.host + ":" + std::to_string(bed.port) +
                           "/?identity=" + bed.identity.string() +
                           "&known_hosts=" + (bed.state / "known_hosts").string());
  const auto runner = hyperctl::process::runner_for(explicit_uri, "", 5s, true);
  EXPECT_EQ(runner.ssh()->known_hosts, (bed.state / "known_hosts").string());
  EXPECT_EQ(runner.run({.argv = {"echo", "file"}, .timeout = 30s}).out, "file\n");
}

TEST(RunnerFor, WithoutKnownHostsTheStoreTheUsersAndTheSystemFileAreUsed) {
  ScopedEnv env(Vars{{"HYPERCTL_TRUST_DIR", "/srv/trust"}, {"HOME", "/home/u"}});
  const auto r =
      hyperctl::process::runner_for(hyperctl::Uri::parse("hyperv://ops@hv01/"), "", 5s, false);
  ASSERT_TRUE(r.remote());
  const std::string files =
      "/srv/trust/ssh_known_hosts /home/u/.ssh/known_hosts /etc/ssh/ssh_known_hosts";
  EXPECT_EQ(r.ssh()->known_hosts, files);
  const auto argv = r.local_argv({.argv = {"Get-VM"}});
  EXPECT_NE(std::find(argv.begin(), argv.end(), "UserKnownHostsFile=" + files), argv.end());
  // A local URI never looks at the store.
  EXPECT_FALSE(
      hyperctl::process::runner_for(hyperctl::Uri::parse("wsl:///"), "", 5s, true).remote());
}

}  // namespace
