// The vSphere session against the simulator: it connects and reads, logs in
// again (once) when the server forgot the session, the keep-alive keeps an
// idle session from expiring, the session is logged out when the connection
// goes, and HYPERCTL_TRACE prints one line per HTTP request with nothing
// secret in it. Results are checked through the simulator's own counters
// and a second session (show), not only through the plugin.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hyperctl/error.hpp"
#include "support.hpp"

namespace {

using vsphere_test::json;
using vsphere_test::SimOptions;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

// SOAP calls of `method` the simulator saw since its last reset_stats().
int calls(const json& stats, const std::string& method) {
  const auto& m = stats["methods"];
  return m.contains(method) ? m[method].get<int>() : 0;
}

// A private temporary folder, removed with everything in it.
struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "hyperctl-vsphere-session-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  fs::path path;
};

void write_file(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The names in a folder, sorted.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// Some bytes that are not all alike.
std::string some_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
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

// ---------------------------------------------------------------- downloads

// The temporary file of a download has a random name and is made with
// O_EXCL: a symlink planted at the name the old scheme used (FILE.hyperctl-
// PID.part) is neither followed nor removed, and the download lands whole.
TEST_F(SessionTest, DownloadFollowsNoPlantedSymlink) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path.empty());
  auto conn = sim().connect("keepalive=0");
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string data = some_bytes(300000);
  write_file(tmp.path / "in.iso", data);
  const std::string name = "session-symlink-" + std::to_string(::getpid()) + ".iso";
  st.upload_volume(ds, name, (tmp.path / "in.iso").string(), {}, {}, hyperctl::CancelToken{});
  const fs::path out = tmp.path / "out.iso";
  write_file(tmp.path / "victim", "keep me");
  const fs::path planted = out.string() + ".hyperctl-" + std::to_string(::getpid()) + ".part";
  fs::create_symlink(tmp.path / "victim", planted);
  std::set<std::string> during;
  std::map<std::string, unsigned> modes;
  const auto look = [&](const hyperctl::Progress&) {
    for (const auto& e : fs::directory_iterator(tmp.path)) {
      const std::string n = e.path().filename().string();
      if (n.find(".hyperctl-") == std::string::npos || e.is_symlink()) continue;
      during.insert(n);
      struct stat sb {};
      if (::lstat(e.path().c_str(), &sb) == 0) modes[n] = sb.st_mode & 07777;
    }
  };
  st.download_volume(ds, name, out.string(), {}, look, hyperctl::CancelToken{});
  EXPECT_EQ(read_file(out), data);
  EXPECT_EQ(read_file(tmp.path / "victim"), "keep me") << "the planted symlink was followed";
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(planted))) << "the planted symlink was touched";
  // The temporary file was a regular file of its own next to the target,
  // readable by its owner only, and is gone.
  ASSERT_EQ(during.size(), 1u) << "one temporary file in the target folder";
  EXPECT_EQ(modes.begin()->second, 0600u);
  EXPECT_EQ(names_in(tmp.path),
            (std::set<std::string>{"in.iso", "out.iso", "victim", planted.filename().string()}));
  st.remove_volume(ds, name);
}

// Without overwrite, a file that appears at the target while the download
// runs is not replaced: Conflict on one line, that file intact, no temporary
// file left. With overwrite it is replaced.
TEST_F(SessionTest, AFileThatAppearsDuringADownloadIsKept) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path.empty());
  auto conn = sim().connect("keepalive=0");
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  const std::string data = some_bytes(200000);
  write_file(tmp.path / "in.iso", data);
  const std::string name = "session-race-" + std::to_string(::getpid()) + ".iso";
  st.upload_volume(ds, name, (tmp.path / "in.iso").string(), {}, {}, hyperctl::CancelToken{});
  const fs::path out = tmp.path / "out.iso";
  const auto appear = [&](const hyperctl::Progress&) {
    if (!fs::exists(out)) write_file(out, "someone else's");
  };
  try {
    st.download_volume(ds, name, out.string(), {}, appear, hyperctl::CancelToken{});
    ADD_FAILURE() << "the file that appeared was replaced";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::Conflict) << e.what();
    EXPECT_NE(std::string(e.what()).find("appeared during the download"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(out), "someone else's");
  EXPECT_EQ(names_in(tmp.path), (std::set<std::string>{"in.iso", "out.iso"}));

  hyperctl::TransferOptions overwrite;
  overwrite.overwrite = true;
  st.download_volume(ds, name, out.string(), overwrite, {}, hyperctl::CancelToken{});
  EXPECT_EQ(read_file(out), data);
  EXPECT_EQ(names_in(tmp.path), (std::set<std::string>{"in.iso", "out.iso"}));
  st.remove_volume(ds, name);
}

// A download into a folder that does not exist: NotFound naming it, nothing made.
TEST_F(SessionTest, ADownloadIntoAMissingFolderIsNotFound) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path.empty());
  auto conn = sim().connect("keepalive=0");
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  write_file(tmp.path / "in.iso", "x");
  const std::string name = "session-nodir-" + std::to_string(::getpid()) + ".iso";
  st.upload_volume(ds, name, (tmp.path / "in.iso").string(), {}, {}, hyperctl::CancelToken{});
  try {
    st.download_volume(ds, name, (tmp.path / "no" / "out.iso").string(), {}, {},
                       hyperctl::CancelToken{});
    ADD_FAILURE() << "a download into a missing folder worked";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::NotFound) << e.what();
    EXPECT_NE(std::string(e.what()).find("out.iso"), std::string::npos) << e.what();
  }
  EXPECT_EQ(names_in(tmp.path), (std::set<std::string>{"in.iso"}));
  st.remove_volume(ds, name);
}

// ---------------------------------------------------------------- paging

// A PropertyCollector that pages (the simulator's pages:N): listing 250 VMs
// in 3 pages follows the tokens and returns each VM once, equal to the
// second session's inventory, for one RetrievePropertiesEx and two
// ContinueRetrievePropertiesEx.
TEST_F(SessionTest, PagedAnswersAreReadToTheEnd) {
  VSPHERE_START_SIM(big, SimOptions{.mode = "vpx", .vms = 250, .hosts = 1, .clusters = 0});
  const json inv = big->show();
  ASSERT_EQ(inv["vms"].size(), 250u) << "the simulator made another number of VMs";
  auto conn = big->connect("keepalive=0");
  big->inject("RetrievePropertiesEx=pages:3");
  big->reset_stats();
  const auto vms = conn->vms().list({});
  const json st = big->stats();
  std::map<std::string, std::string> ours, theirs;
  for (const auto& vm : vms) ours[vm.extras.at("moref")] = vm.name;
  for (const auto& vm : inv["vms"])
    theirs[vm["moref"].get<std::string>()] = vm["name"].get<std::string>();
  EXPECT_EQ(vms.size(), 250u);
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(calls(st, "RetrievePropertiesEx"), 1) << st.dump();
  EXPECT_EQ(calls(st, "ContinueRetrievePropertiesEx"), 2) << st.dump();
  EXPECT_EQ(calls(st, "CancelRetrievePropertiesEx"), 0) << st.dump();
  EXPECT_EQ(st["open_page_tokens"], 0) << st.dump();
}

// A page that fails: the error is reported on one line, and the rest of the
// answer is cancelled on the server (CancelRetrievePropertiesEx; no token
// left open). The next list works.
TEST_F(SessionTest, AFailedPageCancelsTheRest) {
  VSPHERE_START_SIM(paged, SimOptions{.mode = "vpx", .vms = 12, .hosts = 1, .clusters = 0});
  auto conn = paged->connect("keepalive=0");
  paged->inject("RetrievePropertiesEx=pages:3");
  paged->inject("ContinueRetrievePropertiesEx=fault*1");
  paged->reset_stats();
  try {
    conn->vms().list({});
    ADD_FAILURE() << "a list whose second page failed worked";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::BackendFailure) << e.what();
    EXPECT_NE(std::string(e.what()).find("injected fault"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  const json st = paged->stats();
  EXPECT_EQ(calls(st, "ContinueRetrievePropertiesEx"), 1) << st.dump();
  EXPECT_EQ(calls(st, "CancelRetrievePropertiesEx"), 1) << st.dump();
  EXPECT_EQ(st["open_page_tokens"], 0) << "the server still holds the rest: " << st.dump();
  EXPECT_EQ(conn->vms().list({}).size(), paged->show()["vms"].size());
}

}  // namespace
