// Every way a vSphere endpoint or a URI can be wrong gives one clear line
// and its own error code, fast, without a crash, and the session still works
// once the server answers properly again: truncated and malformed XML, SOAP
// faults, HTML error pages, connections closed without an answer, answers
// slower than the timeout, refused ports, silent listeners, names that do
// not resolve, a plain-HTTP server, and URIs the backend cannot use.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "../common/net.hpp"
#include "../common/tls_server.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using hyperctl::ErrorCode;
using vsphere_test::json;
using vsphere_test::SimOptions;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Expected {
  std::string mode;
  ErrorCode code;
  std::string says;  // a part of the message
};

const Expected kModes[] = {
    {"truncated", ErrorCode::BackendFailure, "malformed XML"},
    {"malformed", ErrorCode::BackendFailure, "malformed XML"},
    {"fault", ErrorCode::BackendFailure, "injected fault"},
    {"html500", ErrorCode::BackendFailure, "HTML page (HTTP 500)"},
    {"close", ErrorCode::Unreachable, "closed the connection"},
};

class BadInputTest : public vsphere_test::SimTest<BadInputTest> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1, .clusters = 0}; }

 protected:
  void TearDown() override {
    if (sim_) sim().clear_injections();
  }

  // Runs f; the Error it throws (a failure when it throws none).
  template <class F>
  std::optional<hyperctl::Error> error_of(F&& f) {
    try {
      f();
    } catch (const hyperctl::Error& e) {
      return e;
    }
    return std::nullopt;
  }

  void expect_clear(const hyperctl::Error& e, ErrorCode code, const std::string& says,
                    const std::string& context) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << context << ": " << msg;
    EXPECT_NE(msg.find(says), std::string::npos) << context << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << context << ": " << msg;
    EXPECT_LT(msg.size(), 400u) << context << ": " << msg;
    EXPECT_EQ(msg.find(sim().password()), std::string::npos) << context;
    EXPECT_EQ(e.detail().find(sim().password()), std::string::npos) << context;
  }
};

TEST_F(BadInputTest, BadAnswersToACallAreClearAndTheSessionRecovers) {
  auto conn = sim().connect("keepalive=0");
  const auto good = conn->host().info();
  for (const Expected& x : kModes) {
    SCOPED_TRACE(x.mode);
    // Every answer wrong.
    sim().inject("RetrievePropertiesEx=" + x.mode);
    const auto e = error_of([&] { conn->host().info(); });
    sim().clear_injections();
    ASSERT_TRUE(e) << x.mode << " must fail";
    expect_clear(*e, x.code, x.says, x.mode);
    EXPECT_EQ(e->operation(), "host.info") << x.mode;
    // The answers are right again, and so is the session.
    EXPECT_EQ(conn->host().info().host_uuid, good.host_uuid) << x.mode;
  }
}

// A host that drops the connection after reading a call may have made it:
// the call is not sent again (on a kept-alive connection, as the second call
// of a session is), the error says what happened, and the next call works.
TEST_F(BadInputTest, ACallTheHostDroppedIsNotSentAgain) {
  auto conn = sim().connect("keepalive=0");
  const auto good = conn->host().info();
  sim().reset_stats();
  sim().inject("RetrievePropertiesEx=close*1");
  const auto e = error_of([&] { conn->host().info(); });
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Unreachable, "closed the connection without answering", "close");
  EXPECT_EQ(sim().stats()["methods"]["RetrievePropertiesEx"].get<int>(), 1) << sim().stats().dump();
  EXPECT_EQ(conn->host().info().host_uuid, good.host_uuid);
}

// A kept-alive connection the host closed while it was idle (vCenter's proxy
// does after a while) is not used for the next call: the call goes out once,
// on a new connection, and works.
TEST_F(BadInputTest, AConnectionTheHostClosedWhileIdleIsNotUsed) {
  VSPHERE_START_SIM(closing,
                    SimOptions{.mode = "esx", .vms = 1, .connection_idle_timeout = "300ms"});
  auto conn = closing->connect("keepalive=0");
  const auto good = conn->host().info();
  closing->reset_stats();
  conn->host().info();
  const int per_call = closing->stats()["methods"]["RetrievePropertiesEx"].get<int>();
  ASSERT_GT(per_call, 0);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(800ms);  // the host closes the idle connection
    EXPECT_EQ(conn->host().info().host_uuid, good.host_uuid) << "after idle period " << i;
  }
  EXPECT_EQ(closing->stats()["methods"]["RetrievePropertiesEx"].get<int>(), 4 * per_call)
      << "each call sent once: " << closing->stats().dump();
}

// vim25 fault types pick the code: a host vCenter cannot reach is a state
// of the inventory (Conflict; vCenter itself answered), a server-side
// time-out is a Timeout, an unknown fault a BackendFailure. Each on one line
// naming the fault.
TEST_F(BadInputTest, FaultTypesPickTheirCodes) {
  auto conn = sim().connect("keepalive=0");
  const struct {
    std::string type;
    ErrorCode code;
  } cases[] = {
      {"HostNotConnected", ErrorCode::Conflict},  {"Timedout", ErrorCode::Timeout},
      {"InvalidPowerState", ErrorCode::Conflict}, {"NotSupported", ErrorCode::Unsupported},
      {"NoPermission", ErrorCode::AuthFailed},    {"SomethingElse", ErrorCode::BackendFailure},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.type);
    sim().inject("RetrievePropertiesEx=fault:" + c.type + "*1");
    const auto e = error_of([&] { conn->host().info(); });
    sim().clear_injections();
    ASSERT_TRUE(e) << c.type << " must fail";
    expect_clear(*e, c.code, "injected " + c.type, c.type);
  }
  EXPECT_NO_THROW(conn->host().info());
}

TEST_F(BadInputTest, BadAnswersWhileConnectingAreClear) {
  for (const char* method : {"RetrieveServiceContent", "Login"})
    for (const Expected& x : kModes) {
      const std::string ctx = std::string(method) + "=" + x.mode;
      SCOPED_TRACE(ctx);
      sim().inject(ctx);
      const auto e = error_of([&] { sim().connect("keepalive=0"); });
      sim().clear_injections();
      ASSERT_TRUE(e) << ctx << " must fail";
      expect_clear(*e, x.code, x.says, ctx);
      EXPECT_NO_THROW(sim().connect("keepalive=0")) << ctx << ": the next connect works";
    }
}

TEST_F(BadInputTest, ServiceContentThatIsNotVsphere) {
  // A SOAP answer without a service content (here a NotAuthenticated fault
  // where none is possible) is not taken for a vSphere endpoint.
  sim().inject("RetrieveServiceContent=notauth*1");
  const auto e = error_of([&] { sim().connect("keepalive=0"); });
  ASSERT_TRUE(e);
  EXPECT_NE(e->code(), ErrorCode::Internal) << e->what();
  EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos) << e->what();
}

TEST_F(BadInputTest, LoginRefusedByAFaultIsAuthFailed) {
  sim().inject("Login=notauth*1");
  const auto e = error_of([&] { sim().connect("keepalive=0"); });
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::AuthFailed, "login as hyper refused by", "Login=notauth");
}

TEST_F(BadInputTest, SlowAnswerTimesOutAndTheNextCallWorks) {
  auto conn = sim().connect("keepalive=0&timeout=1");
  sim().inject("RetrievePropertiesEx=delay:4s*1");
  sim().reset_stats();
  const auto started = Clock::now();
  const auto e = error_of([&] { conn->host().info(); });
  const auto took = Clock::now() - started;
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Timeout, "did not answer RetrievePropertiesEx within 1 s", "delay");
  EXPECT_LT(took, 1900ms) << "the per-request timeout is 1 s";
  // The call was sent once: a slow vim25 call must not be sent again (it
  // may well be creating something).
  EXPECT_EQ(sim().stats()["methods"]["RetrievePropertiesEx"].get<int>(), 1) << sim().stats().dump();
  EXPECT_NO_THROW(conn->host().info());
}

TEST_F(BadInputTest, AHungServerDoesNotHoldUpTheDisconnect) {
  {
    // The last call got no answer: no Logout is tried (another timeout).
    auto conn = sim().connect("keepalive=0&timeout=2");
    sim().inject("RetrievePropertiesEx=delay:10s");
    sim().inject("Logout=delay:10s");
    EXPECT_THROW(conn->host().info(), hyperctl::Error);
    const auto started = Clock::now();
    conn.reset();
    EXPECT_LT(Clock::now() - started, 1s);
    sim().clear_injections();
  }
  {
    // The server answered until now, but the Logout hangs: a few seconds
    // at most, not the 30 s timeout.
    auto conn = sim().connect("keepalive=0&timeout=30");
    conn->host().info();
    sim().inject("Logout=delay:20s");
    const auto started = Clock::now();
    conn.reset();
    const auto took = Clock::now() - started;
    EXPECT_GE(took, 4s);
    EXPECT_LT(took, 7s);
    sim().clear_injections();
  }
}

TEST_F(BadInputTest, RefusedPortIsUnreachableAtOnce) {
  const unsigned port = hyperctl::test_net::refusing_port();
  const std::string uri = "vsphere://hyper@127.0.0.1:" + std::to_string(port) + "/";
  const auto started = Clock::now();
  const auto e = error_of([&] { vsphere_test::registry().open(uri, sim().connect_options()); });
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Unreachable, "127.0.0.1:" + std::to_string(port), "refused");
  EXPECT_LT(Clock::now() - started, 2s);
  const auto r = sim().cli({"-c", uri, "host", "info"});
  EXPECT_EQ(r.status, 8) << r;
}

TEST_F(BadInputTest, SilentListenerTimesOutWithinTheTimeout) {
  hyperctl::test_net::SilentListener silent;
  const std::string uri =
      "vsphere://hyper@127.0.0.1:" + std::to_string(silent.port()) + "/?timeout=2";
  const auto started = Clock::now();
  const auto e = error_of([&] { vsphere_test::registry().open(uri, sim().connect_options()); });
  const auto took = Clock::now() - started;
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Timeout, "127.0.0.1:" + std::to_string(silent.port()), "silent");
  EXPECT_NE(std::string(e->what()).find("within 2 s"), std::string::npos) << e->what();
  EXPECT_GE(took, 1900ms);
  EXPECT_LT(took, 5s);
  EXPECT_GE(silent.accepted(), 1u) << "it did connect, then waited";
  const auto r = sim().cli({"-c", uri, "host", "info"});
  EXPECT_EQ(r.status, 9) << r;
}

// A host that answers without end (chunked) or declares 16 GiB: the answer
// is refused at the limit (256 MiB) with one line, the connection closed, and
// no more is read; the exit status is BackendFailure's.
TEST_F(BadInputTest, AnAnswerWithoutEndIsRefusedAtTheLimit) {
  using Flood = hyperctl::test_net::FloodingTlsServer::Flood;
  for (Flood flood : {Flood::Chunked, Flood::DeclaredLength}) {
    const std::string kind = flood == Flood::Chunked ? "chunked" : "declared length";
    hyperctl::test_net::FloodingTlsServer host(flood);
    const std::string endpoint = "127.0.0.1:" + std::to_string(host.port());
    const std::string uri =
        "vsphere://hyper@" + endpoint + "/?timeout=60&thumbprint=" + host.thumbprint();
    const auto e = error_of([&] { vsphere_test::registry().open(uri, sim().connect_options()); });
    ASSERT_TRUE(e) << kind;
    expect_clear(*e, ErrorCode::BackendFailure,
                 endpoint + " answered RetrieveServiceContent with more than 256 MiB", kind);
    // Given up at the limit: what the host managed to send past it is what
    // was in flight when the connection closed, not the rest of the flood.
    std::this_thread::sleep_for(300ms);
    const auto after = host.sent();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(host.sent(), after) << kind << ": the host is still being read";
    if (flood == Flood::DeclaredLength)
      EXPECT_LT(host.sent(), std::uint64_t{64} << 20) << "refused on its declared length";
    else  // the limit, plus what the sockets' buffers held
      EXPECT_LT(host.sent(), std::uint64_t{320} << 20) << "read on past the limit";
    const auto r = sim().cli({"-c", uri, "host", "info"});
    EXPECT_EQ(r.status, 10) << kind << ": " << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
    EXPECT_NE(r.err.find("more than 256 MiB"), std::string::npos) << r;
  }
}

TEST_F(BadInputTest, UnresolvableHostIsUnreachable) {
  const auto e = error_of([&] {
    vsphere_test::registry().open("vsphere://hyper@no-such-host.invalid/?timeout=5",
                                  sim().connect_options());
  });
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Unreachable, "no-such-host.invalid:443", "dns");
}

TEST_F(BadInputTest, PlainHttpServerIsNotTakenForHttps) {
  VSPHERE_START_SIM(plain, SimOptions{.mode = "esx", .vms = 1, .tls = false});
  const std::string uri = plain->uri_without_pin("insecure=1&timeout=5");
  const auto e = error_of([&] { vsphere_test::registry().open(uri, plain->connect_options()); });
  ASSERT_TRUE(e);
  expect_clear(*e, ErrorCode::Unreachable, "TLS handshake", "plain http");
}

TEST_F(BadInputTest, UrisTheBackendCannotUseAreInvalidArguments) {
  const std::string base = "vsphere://hyper@127.0.0.1:" + std::to_string(sim().port()) + "/";
  const std::string tp = sim().thumbprint();
  const struct {
    std::string uri;
    std::string says;
  } cases[] = {
      {"vsphere+ssh://hyper@127.0.0.1:" + std::to_string(sim().port()) + "/", "transport"},
      {base + "?bogus=1", "unknown parameter 'bogus'"},
      {base + "?insecure=maybe", "insecure"},
      {base + "?keepalive=soon", "keepalive"},
      {base + "?keepalive=-1", "keepalive"},
      {base + "?timeout=0", "timeout"},
      {base + "?timeout=1.5", "timeout"},
      {base + "?tasktimeout=0", "tasktimeout"},
      {base + "?tasktimeout=90000", "tasktimeout"},
      {base + "?tasktimeout=1h", "tasktimeout"},
      {base + "?thumbprint=AB:CD", "thumbprint"},
      {base + "?thumbprint=" + std::string(40, 'a'), "SHA-1"},
      {base + "?thumbprint=" + tp + "&insecure=1", "insecure"},
      {base + "?host=", "host"},
      {"vsphere://127.0.0.1:" + std::to_string(sim().port()) + "/?thumbprint=" + tp, "no user"},
  };
  sim().reset_stats();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.uri);
    const auto e = error_of([&] { vsphere_test::registry().open(c.uri, sim().connect_options()); });
    ASSERT_TRUE(e) << c.uri;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
    EXPECT_NE(std::string(e->what()).find(c.says), std::string::npos) << e->what();
    EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos) << e->what();
  }
  EXPECT_EQ(sim().stats()["requests"].get<int>(), 0) << "no URI above reached the server";
  const auto r = sim().cli({"-c", base + "?bogus=1", "host", "info"});
  EXPECT_EQ(r.status, 2) << r;
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r;
}

TEST_F(BadInputTest, UserFromTheOptionsWinsOverTheUri) {
  auto options = sim().connect_options();
  options.user = sim().user();
  const std::string uri = "vsphere://nobody@127.0.0.1:" + std::to_string(sim().port()) +
                          "/?keepalive=0&thumbprint=" + sim().thumbprint();
  EXPECT_NO_THROW(vsphere_test::registry().open(uri, options)->host().info());
}

}  // namespace
