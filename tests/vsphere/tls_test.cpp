// The TLS policy of the vSphere session (session.hpp), against the
// simulator's self-signed certificate: unknown certificates are refused with
// their thumbprint and how to pin them (and no password is sent), a URI pin
// and a trust-store pin are honoured, either pin that differs is refused
// naming both thumbprints, insecure=1 is accepted with one warning line, and
// pin + insecure together is a usage error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../common/env.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/trust.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using hyperctl::ErrorCode;
using hyperctl::test_env::ScopedEnv;
using vsphere_test::json;
using vsphere_test::SimOptions;
using namespace std::chrono_literals;

int calls(const json& stats, const std::string& method) {
  const auto& m = stats["methods"];
  return m.contains(method) ? m[method].get<int>() : 0;
}

struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "hyperctl-vsphere-tls-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  std::string path;
};

// A thumbprint that is not the simulator's (its first byte changed).
std::string other_thumbprint(const std::string& tp) {
  std::string o = tp;
  o[0] = o[0] == 'A' ? 'B' : 'A';
  return o;
}

class TlsTest : public vsphere_test::SimTest<TlsTest> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1, .clusters = 0}; }

 protected:
  void SetUp() override {
    SimTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_FALSE(trust_.path.empty());
    env_ =
        std::make_unique<ScopedEnv>(hyperctl::test_env::Vars{{"HYPERCTL_TRUST_DIR", trust_.path}});
  }
  void TearDown() override { env_.reset(); }

  std::string endpoint() const { return sim().host() + ":" + std::to_string(sim().port()); }

  // Opens `uri` through the plugin; the Error it throws, or a failure.
  std::optional<hyperctl::Error> refusal(const std::string& uri) {
    try {
      auto conn = vsphere_test::registry().open(uri, sim().connect_options());
      conn->host().info();
    } catch (const hyperctl::Error& e) {
      return e;
    }
    return std::nullopt;
  }

  TempDir trust_;
  std::unique_ptr<ScopedEnv> env_;
};

TEST_F(TlsTest, UnknownCertificateIsRefusedWithItsThumbprint) {
  sim().reset_stats();
  const auto e = refusal(sim().uri_without_pin());
  ASSERT_TRUE(e) << "a self-signed certificate nobody pinned must be refused";
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  const std::string msg = e->what();
  EXPECT_NE(msg.find(sim().thumbprint()), std::string::npos) << msg;
  EXPECT_NE(msg.find("not trusted"), std::string::npos) << msg;
  EXPECT_NE(
      msg.find("hyperctl trust add --tls " + endpoint() + " --thumbprint " + sim().thumbprint()),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("?thumbprint=" + sim().thumbprint()), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  // The handshake failed: nothing, the password least of all, was sent.
  EXPECT_EQ(sim().stats()["requests"].get<int>(), 0) << sim().stats().dump();
}

TEST_F(TlsTest, ThePinHintWorksAsPrinted) {
  // What the refusal tells the user to run, run: then the URI connects.
  const auto r =
      sim().cli({"trust", "add", "--tls", endpoint(), "--thumbprint", sim().thumbprint()},
                {{"HYPERCTL_TRUST_DIR", trust_.path}});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_FALSE(refusal(sim().uri_without_pin())) << "pinned through the CLI";
}

TEST_F(TlsTest, RightUriPinIsAccepted) {
  EXPECT_FALSE(refusal(sim().uri()));
  // Any spelling normalize_thumbprint accepts: lower case without colons.
  std::string plain;
  for (char c : sim().thumbprint())
    if (c != ':') plain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_FALSE(refusal(sim().uri_without_pin("thumbprint=" + plain)));
}

TEST_F(TlsTest, WrongUriPinIsRefusedNamingBoth) {
  const std::string wrong = other_thumbprint(sim().thumbprint());
  sim().reset_stats();
  const auto e = refusal(sim().uri_without_pin("thumbprint=" + wrong));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  EXPECT_NE(std::string(e->what()).find(sim().thumbprint()), std::string::npos) << e->what();
  EXPECT_NE(std::string(e->what()).find(wrong), std::string::npos) << e->what();
  EXPECT_EQ(sim().stats()["requests"].get<int>(), 0);
}

TEST_F(TlsTest, TrustStorePinIsAccepted) {
  hyperctl::TrustStore(trust_.path).add_tls(sim().host(), sim().port(), sim().thumbprint());
  sim().reset_stats();
  EXPECT_FALSE(refusal(sim().uri_without_pin()));
  EXPECT_EQ(calls(sim().stats(), "Login"), 1);
}

TEST_F(TlsTest, TrustStoreMismatchIsRefusedNamingBoth) {
  const std::string pinned = other_thumbprint(sim().thumbprint());
  hyperctl::TrustStore(trust_.path).add_tls(sim().host(), sim().port(), pinned);
  sim().reset_stats();
  const auto e = refusal(sim().uri_without_pin());
  ASSERT_TRUE(e) << "a certificate other than the pinned one must be refused";
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  const std::string msg = e->what();
  EXPECT_NE(msg.find("changed"), std::string::npos) << msg;
  EXPECT_NE(msg.find(sim().thumbprint()), std::string::npos) << msg;
  EXPECT_NE(msg.find(pinned), std::string::npos) << msg;
  EXPECT_EQ(sim().stats()["requests"].get<int>(), 0);
}

TEST_F(TlsTest, AnotherPortsPinDoesNotCount) {
  hyperctl::TrustStore(trust_.path)
      .add_tls(sim().host(), sim().port() == 1 ? 2 : sim().port() - 1, sim().thumbprint());
  const auto e = refusal(sim().uri_without_pin());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  EXPECT_NE(std::string(e->what()).find("not trusted"), std::string::npos) << e->what();
}

TEST_F(TlsTest, UriPinComesBeforeTheTrustStore) {
  hyperctl::TrustStore(trust_.path)
      .add_tls(sim().host(), sim().port(), other_thumbprint(sim().thumbprint()));
  EXPECT_FALSE(refusal(sim().uri())) << "the URI's pin is the trust for this connection";
}

TEST_F(TlsTest, InsecureIsAcceptedWithOneWarning) {
  const auto r = sim().cli({"-c", sim().uri_without_pin("insecure=1"), "host", "info"},
                           {{"HYPERCTL_TRUST_DIR", trust_.path}});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.err, "hyperctl: warning: not verifying the TLS certificate of " + endpoint() +
                       " (insecure=1)\n")
      << r;
  EXPECT_NE(r.out.find("Hypervisor"), std::string::npos) << r;
  // insecure=0 is the default: refused again.
  const auto strict = sim().cli({"-c", sim().uri_without_pin("insecure=0"), "host", "info"},
                                {{"HYPERCTL_TRUST_DIR", trust_.path}});
  EXPECT_EQ(strict.status, 7) << strict;
  EXPECT_EQ(strict.err.find("warning"), std::string::npos) << strict;
}

TEST_F(TlsTest, PinAndInsecureTogetherAreRefused) {
  sim().reset_stats();
  const auto e = refusal(sim().uri("insecure=1"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  EXPECT_NE(std::string(e->what()).find("insecure"), std::string::npos) << e->what();
  EXPECT_EQ(sim().stats()["requests"].get<int>(), 0) << "refused before connecting";
  const auto r = sim().cli({"-c", sim().uri("insecure=true"), "host", "info"});
  EXPECT_EQ(r.status, 2) << r;
}

// Step 4 of the policy: with nothing pinned, the system's CAs and the host
// name decide. OpenSSL reads its CA file from SSL_CERT_FILE: made to hold
// the simulator's own certificate (a CA certificate for 127.0.0.1 and
// localhost), it is trusted under the names it carries and no other.
/// Relays TCP connections from 127.0.0.2 (any free port) to 127.0.0.1:`to`,
/// so that the simulator, which listens on 127.0.0.1 only, can be reached
/// under an address its certificate does not carry. Blocking sockets, one
/// thread per direction; all of it ends with the object.
class LoopbackRelay {
 public:
  explicit LoopbackRelay(int to) : to_(to) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(0x7f000002);
    socklen_t size = sizeof at;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&at), size) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&at), &size) != 0)
      return;
    port_ = ntohs(at.sin_port);
    acceptor_ = std::thread([this] { accept_all(); });
  }
  ~LoopbackRelay() {
    if (listener_ >= 0) ::shutdown(listener_, SHUT_RDWR), ::close(listener_);
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : sockets_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : copiers_) t.join();
    for (int fd : sockets_) ::close(fd);
  }
  int port() const { return port_; }

 private:
  void accept_all() {
    for (;;) {
      const int in = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in < 0) return;
      const int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in target{};
      target.sin_family = AF_INET;
      target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      target.sin_port = htons(static_cast<uint16_t>(to_));
      std::lock_guard<std::mutex> lock(mutex_);
      sockets_.push_back(in);
      if (out < 0) continue;
      sockets_.push_back(out);
      if (::connect(out, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
        ::shutdown(in, SHUT_RDWR);
        continue;
      }
      copiers_.emplace_back([in, out] { copy(in, out); });
      copiers_.emplace_back([in, out] { copy(out, in); });
    }
  }
  static void copy(int from, int to) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(from, buf, sizeof buf);
      if (n <= 0) break;
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(to, SHUT_WR);
  }

  int to_;
  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> sockets_;
  std::vector<std::thread> copiers_;
};

TEST_F(TlsTest, WithoutPinsTheCasAndTheHostNameDecide) {
  const auto shown = vsphere_test::run(
      {"/usr/bin/openssl", "s_client", "-connect", endpoint(), "-showcerts"}, {}, "", 20s);
  const auto begin = shown.out.find("-----BEGIN CERTIFICATE-----");
  const std::string end_marker = "-----END CERTIFICATE-----";
  const auto end = shown.out.find(end_marker, begin == std::string::npos ? 0 : begin);
  if (shown.status < 0 || begin == std::string::npos || end == std::string::npos)
    GTEST_SKIP() << "cannot read the simulator's certificate with /usr/bin/openssl: " << shown;
  const std::string ca = trust_.path + "/ca.pem";
  {
    std::ofstream out(ca);
    out << shown.out.substr(begin, end + end_marker.size() - begin) << "\n";
  }
  const std::string port = std::to_string(sim().port());
  const auto run_as = [&](const std::string& host, bool with_ca) {
    std::map<std::string, std::optional<std::string>> env = {{"HYPERCTL_TRUST_DIR", trust_.path}};
    env["SSL_CERT_FILE"] = with_ca ? std::optional<std::string>(ca) : std::nullopt;
    env["SSL_CERT_DIR"] = with_ca ? std::optional<std::string>(trust_.path) : std::nullopt;
    return sim().cli({"-c", "vsphere://hyper@" + host + ":" + port + "/", "host", "info"}, env);
  };
  // Issued by a trusted CA, for the name connected to: accepted.
  const auto by_ip = run_as("127.0.0.1", true);
  EXPECT_EQ(by_ip.status, 0) << by_ip;
  const auto by_name = run_as("localhost", true);
  EXPECT_EQ(by_name.status, 0) << by_name;
  // And without the CA, refused as at first.
  const auto no_ca = run_as("127.0.0.1", false);
  EXPECT_EQ(no_ca.status, 7) << no_ca;
  // The same certificate under an address it does not carry (127.0.0.2,
  // relayed to the simulator on 127.0.0.1): refused.
  LoopbackRelay relay(sim().port());
  ASSERT_GT(relay.port(), 0) << "cannot listen on 127.0.0.2: " << std::strerror(errno);
  const auto other = sim().cli(
      {"-c", "vsphere://hyper@127.0.0.2:" + std::to_string(relay.port()) + "/", "host", "info"},
      {{"HYPERCTL_TRUST_DIR", trust_.path}, {"SSL_CERT_FILE", ca}, {"SSL_CERT_DIR", trust_.path}});
  EXPECT_EQ(other.status, 7) << other;
  EXPECT_NE(other.err.find("host names do not include 127.0.0.2"), std::string::npos) << other;
  EXPECT_NE(other.err.find(sim().thumbprint()), std::string::npos) << other;
}

TEST_F(TlsTest, CliRefusalExitsSevenWithTheHint) {
  const auto r = sim().cli({"-c", sim().uri_without_pin(), "host", "info"},
                           {{"HYPERCTL_TRUST_DIR", trust_.path}});
  EXPECT_EQ(r.status, 7) << r;
  EXPECT_NE(r.err.find(sim().thumbprint()), std::string::npos) << r;
  EXPECT_EQ(r.out, "") << r;
}

}  // namespace
