// The vSphere session against the simulator: it connects and reads, logs in
// again (once) when the server forgot the session, the keep-alive keeps an
// idle session from expiring, the session is logged out when the connection
// goes, and HYPERCTL_TRACE prints one line per HTTP request with nothing
// secret in it. Results are checked through the simulator's own counters
// and a second session (show), not only through the plugin.
#include <chrono>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using vsphere_test::json;
using vsphere_test::SimOptions;
using namespace std::chrono_literals;

// SOAP calls of `method` the simulator saw since its last reset_stats().
int calls(const json& stats, const std::string& method) {
  const auto& m = stats["methods"];
  return m.contains(method) ? m[method].get<int>() : 0;
}

class SessionTest : public vsphere_test::SimTest<SessionTest> {
 public:
  // Sessions idle for 2 s expire (the simulator checks every 2 s, so an
  // idle session is gone after 2 to 4 s).
  static SimOptions sim_options() {
    return {.mode = "vpx", .vms = 2, .hosts = 1, .clusters = 1, .idle_timeout = "2s"};
  }
};

TEST_F(SessionTest, ConnectsAndReadsTheInventory) {
  const json inv = sim().show();
  sim().reset_stats();
  auto conn = sim().connect("keepalive=0");
  const hyperctl::HostInfo info = conn->host().info();
  // The host facts come from a container view over every HostSystem.
  EXPECT_EQ(info.extras.at("hosts"), std::to_string(inv["hosts"].size()));
  EXPECT_EQ(info.extras.at("instance_uuid"), inv["product"]["instanceUuid"].get<std::string>());
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "RetrieveServiceContent"), 1) << st.dump();
  EXPECT_EQ(calls(st, "Login"), 1) << st.dump();
  EXPECT_GE(calls(st, "CreateContainerView"), 1) << st.dump();
  // Every view made is destroyed again.
  EXPECT_EQ(calls(st, "CreateContainerView"), calls(st, "DestroyView")) << st.dump();
}

TEST_F(SessionTest, LogsInAgainAfterTheServerEndedTheSession) {
  auto conn = sim().connect("keepalive=0");
  const auto before = conn->host().info();
  EXPECT_GE(sim().expire_sessions(), 1);
  sim().reset_stats();
  const auto after = conn->host().info();  // NotAuthenticated, Login, the call again
  EXPECT_EQ(after.host_uuid, before.host_uuid);
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "Login"), 1) << st.dump();
}

TEST_F(SessionTest, LogsInAgainAfterTheIdleTimeout) {
  auto conn = sim().connect("keepalive=0");
  conn->host().info();
  const int sessions = sim().show()["sessions"].get<int>();
  EXPECT_GE(sessions, 1);
  std::this_thread::sleep_for(5s);  // past the 2 s idle timeout and its check
  sim().reset_stats();
  EXPECT_NO_THROW(conn->host().info());
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "Login"), 1) << "the expired session was replaced: " << st.dump();
  EXPECT_EQ(calls(st, "CurrentTime"), 0) << "keepalive=0 sends nothing: " << st.dump();
}

TEST_F(SessionTest, ReloginIsTriedOnlyOnce) {
  auto conn = sim().connect("keepalive=0");
  // Every CreateContainerView answered NotAuthenticated, even after a new login.
  sim().inject("CreateContainerView=notauth");
  sim().reset_stats();
  try {
    conn->host().info();
    ADD_FAILURE() << "a session the server keeps refusing must fail";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::AuthFailed) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  sim().clear_injections();
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "Login"), 1) << st.dump();
  EXPECT_EQ(calls(st, "CreateContainerView"), 2) << st.dump();
  EXPECT_NO_THROW(conn->host().info()) << "the session works again once the server does";
}

TEST_F(SessionTest, AFailedReloginIsTriedAgainByTheNextCall) {
  auto conn = sim().connect("keepalive=0");
  conn->host().info();
  EXPECT_GE(sim().expire_sessions(), 1);
  sim().inject("Login=fault*1");
  try {
    conn->host().info();
    ADD_FAILURE() << "the login after the expiry was answered with a fault";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::BackendFailure) << e.what();
    EXPECT_NE(std::string(e.what()).find("injected fault"), std::string::npos) << e.what();
  }
  sim().clear_injections();
  sim().reset_stats();
  EXPECT_NO_THROW(conn->host().info()) << "the server is fine again: so is the session";
  EXPECT_EQ(calls(sim().stats(), "Login"), 1);
}

TEST_F(SessionTest, KeepAliveKeepsAnIdleSessionAlive) {
  auto conn = sim().connect("keepalive=1");
  conn->host().info();
  sim().reset_stats();
  std::this_thread::sleep_for(5500ms);  // well past the 2 s idle timeout
  const json idle = sim().stats();
  EXPECT_GE(calls(idle, "CurrentTime"), 3) << idle.dump();
  EXPECT_LE(calls(idle, "CurrentTime"), 7) << "about one per second: " << idle.dump();
  sim().reset_stats();
  EXPECT_NO_THROW(conn->host().info());
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "Login"), 0) << "the session was still alive: " << st.dump();
}

TEST_F(SessionTest, LogsOutWhenTheConnectionGoes) {
  sim().expire_sessions();
  const int before = sim().show()["sessions"].get<int>();
  auto conn = sim().connect();  // default keep-alive: a thread to stop too
  conn->host().info();
  EXPECT_EQ(sim().show()["sessions"].get<int>(), before + 1);
  sim().reset_stats();
  const auto started = std::chrono::steady_clock::now();
  conn.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "the keep-alive stops at once";
  EXPECT_EQ(calls(sim().stats(), "Logout"), 1);
  EXPECT_EQ(sim().show()["sessions"].get<int>(), before);
}

TEST_F(SessionTest, TracePrintsOneLinePerRequestAndNoSecret) {
  sim().reset_stats();
  const auto r = sim().cli({"-c", sim().uri(), "host", "info"}, {{"HYPERCTL_TRACE", "1"}});
  ASSERT_EQ(r.status, 0) << r;
  const json st = sim().stats();
  const std::regex line(
      R"(hyperctl: trace: vsphere POST /sdk ([A-Za-z_]+) ([0-9]{3}) ([0-9]+) B ([0-9]+) ms)");
  std::istringstream err(r.err);
  std::string l;
  int traced = 0;
  std::set<std::string> methods;
  while (std::getline(err, l)) {
    if (l.rfind("hyperctl: trace:", 0) != 0) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(l, m, line)) << l;
    if (!m.empty()) methods.insert(m[1]);
    ++traced;
  }
  EXPECT_EQ(traced, st["requests"].get<int>()) << r.err << st.dump();
  for (const char* m : {"RetrieveServiceContent", "Login", "RetrievePropertiesEx", "Logout"})
    EXPECT_TRUE(methods.count(m)) << m << " not traced:\n" << r.err;
  EXPECT_EQ(r.err.find(sim().password()), std::string::npos);
  EXPECT_EQ(r.out.find(sim().password()), std::string::npos);
  EXPECT_EQ(r.err.find("vmware_soap_session"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("<"), std::string::npos) << "no SOAP body in the trace: " << r.err;
}

TEST_F(SessionTest, NoTraceWithoutTheVariable) {
  const auto r = sim().cli({"-c", sim().uri(), "host", "info"}, {{"HYPERCTL_TRACE", std::nullopt}});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.err.find("trace"), std::string::npos) << r.err;
}

TEST_F(SessionTest, EsxHostConnectsAsAHostAgent) {
  VSPHERE_START_SIM(esx, SimOptions{.mode = "esx", .vms = 1});
  const json inv = esx->show();
  auto conn = esx->connect("keepalive=0");
  const auto info = conn->host().info();
  EXPECT_EQ(inv["product"]["apiType"], "HostAgent");
  EXPECT_EQ(info.extras.at("api_type"), "HostAgent");
  // esx:// to a vCenter is refused, naming it.
  try {
    vsphere_test::registry().open("esx" + sim().uri().substr(std::string("vsphere").size()),
                                  sim().connect_options());
    ADD_FAILURE() << "esx:// to a vCenter must be refused";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("vCenter"), std::string::npos) << e.what();
  }
}

}  // namespace
