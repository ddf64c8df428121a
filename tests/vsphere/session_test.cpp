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
#include <optional>
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
// runs is not replaced: AlreadyExists (a target that exists) on one line,
// that file intact, no temporary
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
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::AlreadyExists) << e.what();
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

// The listing asks for bounded pages: RetrievePropertiesEx carries
// maxObjects 1,000 (vCenter honours it, and so does hyperctl-vcsim; the
// benchmark's 10,000 VMs come in 10 pages), and the pages the server makes
// are followed to the end.
TEST_F(SessionTest, ListAsksForBoundedPages) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "vpx", .vms = 12, .hosts = 1, .clusters = 0});
  auto conn = sim->connect("keepalive=0");
  sim->reset_stats();
  EXPECT_EQ(conn->vms().list({}).size(), 12u);
  const json st = sim->stats();
  EXPECT_EQ(st["max_objects"], 1000) << st.dump();
  EXPECT_EQ(calls(st, "RetrievePropertiesEx"), 1) << st.dump();
}

// What list shows of each VM, by moref, from the list and from the second
// session's inventory.
std::map<std::string, std::string> listed_rows(const std::vector<hyperctl::VmInfo>& vms) {
  std::map<std::string, std::string> out;
  for (const auto& vm : vms)
    out[vm.extras.at("moref")] = vm.name + "|" + vm.id + "|" + std::to_string(vm.vcpus) + "|" +
                                 std::to_string(vm.memory_bytes >> 20) + "|" + vm.host + "|" +
                                 vm.state_reason;
  return out;
}
std::map<std::string, std::string> shown_rows(const json& inv) {
  std::map<std::string, std::string> out;
  for (const auto& vm : inv["vms"])
    out[vm["moref"].get<std::string>()] =
        vm["name"].get<std::string>() + "|" + vm["instanceUuid"].get<std::string>() + "|" +
        std::to_string(vm["numCpu"].get<int>()) + "|" + std::to_string(vm["memoryMB"].get<int>()) +
        "|" + vm["host"].get<std::string>() + "|" + vm["powerState"].get<std::string>();
  return out;
}

// A page that ends in the middle of a VM's properties (the rest at the start
// of the next page): the VM is listed once, whole.
TEST_F(SessionTest, AVmCutByAPageBoundaryIsListedWhole) {
  VSPHERE_START_SIM(paged, SimOptions{.mode = "vpx", .vms = 12, .hosts = 1, .clusters = 0});
  auto conn = paged->connect("keepalive=0");
  paged->inject("RetrievePropertiesEx=pages:4:split");
  paged->reset_stats();
  const auto vms = conn->vms().list({});
  const json st = paged->stats();
  EXPECT_EQ(calls(st, "ContinueRetrievePropertiesEx"), 3) << st.dump();
  EXPECT_EQ(vms.size(), 12u);
  EXPECT_EQ(listed_rows(vms), shown_rows(paged->show()));
}

// A VM removed after the first page was sent, reported gone in a later page:
// the list leaves it out, does not fail, and equals the inventory after.
TEST_F(SessionTest, AVmRemovedBetweenPagesIsLeftOut) {
  VSPHERE_START_SIM(paged, SimOptions{.mode = "vpx", .vms = 12, .hosts = 1, .clusters = 0});
  auto conn = paged->connect("keepalive=0");
  // The simulator unregisters only VMs that are powered off.
  for (const auto& vm : conn->vms().list({.states = {hyperctl::VmState::Running}}))
    conn->vms().power_off(vm.extras.at("moref"));
  const json before = paged->show();
  paged->inject("RetrievePropertiesEx=pages:3:remove*1");
  const auto vms = conn->vms().list({});
  const json after = paged->show();
  ASSERT_EQ(after["vms"].size() + 1, before["vms"].size()) << "no VM was removed between pages";
  EXPECT_EQ(vms.size(), after["vms"].size());
  EXPECT_EQ(listed_rows(vms), shown_rows(after));
  EXPECT_EQ(paged->stats()["open_page_tokens"], 0);
}

// A VM being created has no config summary yet: it is listed with its moref
// as id, named by one more small call, and the others are as they are.
TEST_F(SessionTest, AVmBeingCreatedIsListedByItsMoref) {
  VSPHERE_START_SIM(sim, SimOptions{.mode = "vpx", .vms = 4, .hosts = 1, .clusters = 0});
  auto conn = sim->connect("keepalive=0");
  const json inv = sim->show();
  sim->inject("RetrievePropertiesEx=noconfig*1");
  sim->reset_stats();
  const auto vms = conn->vms().list({});
  const json st = sim->stats();
  EXPECT_EQ(calls(st, "RetrievePropertiesEx"), 2) << "the names of unnamed VMs: " << st.dump();
  ASSERT_EQ(vms.size(), inv["vms"].size());
  std::map<std::string, std::string> names;
  for (const auto& vm : inv["vms"])
    names[vm["moref"].get<std::string>()] = vm["name"].get<std::string>();
  int bare = 0;
  for (const auto& vm : vms) {
    const std::string moref = vm.extras.at("moref");
    EXPECT_EQ(vm.name, names[moref]);
    if (vm.id != moref) continue;
    ++bare;
    EXPECT_EQ(vm.vcpus, 0u) << "nothing made up for " << vm.name;
    EXPECT_EQ(vm.extras.at("template"), "false");
    EXPECT_FALSE(vm.state_reason.empty()) << "runtime is there: " << vm.name;
  }
  EXPECT_EQ(bare, 1) << "one VM without a config summary";
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

// ---------------------------------------------------------------- tasks

// Tasks that do not end (the simulator's stuck / cancellable / stateless
// modes: the *_Task call is not made, a task that stays running answers it):
// every wait ends, on one line, and the VM stays as it was.
class TaskWaitTest : public vsphere_test::SimTest<TaskWaitTest> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1}; }

 protected:
  void TearDown() override {
    if (sim_) sim().clear_injections();
  }

  // The error `f` throws (a failure when none), and how long it took.
  template <class F>
  std::optional<hyperctl::Error> error_of(F&& f, std::chrono::milliseconds& took) {
    const auto started = std::chrono::steady_clock::now();
    std::optional<hyperctl::Error> out;
    try {
      f();
    } catch (const hyperctl::Error& e) {
      out = e;
    }
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started);
    if (!out) ADD_FAILURE() << "no error";
    return out;
  }

  static std::string msg(const std::optional<hyperctl::Error>& e) { return e ? e->what() : ""; }

  // A host of the VM's cluster other than the one it runs on.
  std::string other_cluster_host(const json& vm) {
    const json all = sim().show();
    for (const auto& h : all["hosts"])
      if (h.value("cluster", "") != "" && h["name"] != vm["host"]) return h["name"];
    return {};
  }
};

// A task that never ends and ignores CancelTask: the URI's tasktimeout is
// the deadline, CancelTask is asked, and after the grace (here the deadline
// itself, 2 s) the wait ends with Timeout saying the task may still finish.
TEST_F(TaskWaitTest, ATaskThatNeverEndsTimesOutAfterTheDeadlineAndTheGrace) {
  const std::string name = "DC0_H0_VM0";
  ASSERT_EQ(sim().find_vm(name)["powerState"], "poweredOn");
  auto conn = sim().connect("keepalive=0&tasktimeout=2");
  sim().inject("PowerOffVM_Task=stuck*1");
  sim().reset_stats();
  std::chrono::milliseconds took{};
  const auto e = error_of([&] { conn->vms().power_off(name); }, took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::Timeout) << e->what();
  EXPECT_NE(msg(e).find("did not finish within 2 s"), std::string::npos) << msg(e);
  EXPECT_NE(msg(e).find("may still finish"), std::string::npos) << msg(e);
  EXPECT_EQ(msg(e).find('\n'), std::string::npos) << msg(e);
  EXPECT_GE(took, 3500ms) << "deadline 2 s, then 2 s of grace";
  EXPECT_LE(took, 8s);
  const json st = sim().stats();
  EXPECT_EQ(calls(st, "CancelTask"), 1) << st.dump();
  EXPECT_EQ(calls(st, "PowerOffVM_Task"), 1) << st.dump();
  EXPECT_EQ(sim().find_vm(name)["powerState"], "poweredOn") << "the VM must stay as it was";
}

// A task that ends when cancelled: at the deadline it is cancelled, and that
// is a Timeout (not the RequestCanceled fault, not a Cancelled), at once.
TEST_F(TaskWaitTest, ATaskCancelledAtTheDeadlineIsATimeout) {
  const std::string name = "DC0_H0_VM0";
  auto conn = sim().connect("keepalive=0&tasktimeout=2");
  sim().inject("PowerOffVM_Task=cancellable*1");
  std::chrono::milliseconds took{};
  const auto e = error_of([&] { conn->vms().power_off(name); }, took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::Timeout) << e->what();
  EXPECT_NE(msg(e).find("was cancelled"), std::string::npos) << msg(e);
  EXPECT_GE(took, 2s);
  EXPECT_LE(took, 3s) << "the cancelled task ended: no grace to wait";
  EXPECT_EQ(sim().find_vm(name)["powerState"], "poweredOn");
}

// The caller's own timeout (a migration's) is the deadline when it gives one.
TEST_F(TaskWaitTest, TheCallersTimeoutIsTheDeadline) {
  const json vm = sim().find_vm("DC0_C0_RP0_VM0");
  ASSERT_FALSE(vm.is_null());
  const std::string dest = other_cluster_host(vm);
  ASSERT_FALSE(dest.empty());
  auto src = sim().connect("keepalive=0");  // tasktimeout: the default hour
  auto dst = sim().connect("keepalive=0&host=" + dest);
  sim().inject("RelocateVM_Task=cancellable*1");
  hyperctl::MigrationOptions o;
  o.timeout = 1500ms;
  std::chrono::milliseconds took{};
  const auto e = error_of(
      [&] { src->migration().migrate("DC0_C0_RP0_VM0", *dst, o, {}, hyperctl::CancelToken()); },
      took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::Timeout) << e->what();
  EXPECT_NE(msg(e).find("1500 ms"), std::string::npos) << msg(e);
  EXPECT_LE(took, 5s);
  EXPECT_EQ(sim().find_vm("DC0_C0_RP0_VM0")["host"], vm["host"]) << "the VM did not move";
}

// A cancel request: a task that ends on CancelTask is Cancelled at once; one
// that does not end is waited for during the grace (here the URI's 3 s
// deadline, shorter than 30 s), then Cancelled saying it may still finish.
TEST_F(TaskWaitTest, ACancelWaitsForTheTaskThenGivesUpAfterTheGrace) {
  const json vm = sim().find_vm("DC0_C0_RP0_VM0");
  ASSERT_FALSE(vm.is_null());
  const std::string dest = other_cluster_host(vm);
  ASSERT_FALSE(dest.empty());
  auto src = sim().connect("keepalive=0&tasktimeout=3");
  auto dst = sim().connect("keepalive=0&host=" + dest);
  for (const std::string mode : {"cancellable", "stuck"}) {
    SCOPED_TRACE(mode);
    sim().inject("RelocateVM_Task=" + mode + "*1");
    sim().reset_stats();
    hyperctl::CancelToken cancel;
    // The task runs (progress 42 %): the user cancels.
    const auto stop = [&](const hyperctl::Progress& p) {
      EXPECT_EQ(p.done, 42u);
      cancel.cancel();
    };
    std::chrono::milliseconds took{};
    const auto e =
        error_of([&] { src->migration().migrate("DC0_C0_RP0_VM0", *dst, {}, stop, cancel); }, took);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), hyperctl::ErrorCode::Cancelled) << e->what();
    EXPECT_EQ(msg(e).find('\n'), std::string::npos) << msg(e);
    EXPECT_EQ(calls(sim().stats(), "CancelTask"), 1) << sim().stats().dump();
    if (mode == "cancellable") {
      EXPECT_EQ(msg(e).find("may still finish"), std::string::npos) << msg(e);
      EXPECT_LE(took, 2500ms);
    } else {
      EXPECT_NE(msg(e).find("may still finish"), std::string::npos) << msg(e);
      EXPECT_GE(took, 3s);
      EXPECT_LE(took, 7s);
    }
    EXPECT_EQ(sim().find_vm("DC0_C0_RP0_VM0")["host"], vm["host"]) << "the VM did not move";
  }
}

// A task info without a state, poll after poll, is a malformed answer
// (BackendFailure), not an endless wait.
TEST_F(TaskWaitTest, ATaskWithoutAStateIsAMalformedAnswer) {
  const std::string name = "DC0_H0_VM0";
  auto conn = sim().connect("keepalive=0");
  sim().inject("PowerOffVM_Task=stateless*1");
  std::chrono::milliseconds took{};
  const auto e = error_of([&] { conn->vms().power_off(name); }, took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::BackendFailure) << e->what();
  EXPECT_NE(msg(e).find("without a state"), std::string::npos) << msg(e);
  EXPECT_LE(took, 5s);
  EXPECT_EQ(sim().find_vm(name)["powerState"], "poweredOn");
}

// A *_Task call answered without a task: BackendFailure naming the call.
TEST_F(TaskWaitTest, AnAnswerWithoutATaskIsAMalformedAnswer) {
  const std::string name = "DC0_H0_VM0";
  auto conn = sim().connect("keepalive=0");
  sim().inject("PowerOffVM_Task=ok*1");
  std::chrono::milliseconds took{};
  const auto e = error_of([&] { conn->vms().power_off(name); }, took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::BackendFailure) << e->what();
  EXPECT_NE(msg(e).find("PowerOffVM_Task without a task"), std::string::npos) << msg(e);
  EXPECT_EQ(sim().find_vm(name)["powerState"], "poweredOn");
}

// ---------------------------------------------------------------- file transfer auth

// 403 on /folder (the user may not read datastore files) is AuthFailed at
// once: no new login, so no session is left behind. 401 (the server forgot
// the session) logs the old session out, in again, and the transfer works,
// still with one session.
TEST_F(TaskWaitTest, FileTransfersRefusedOrUnauthenticated) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path.empty());
  auto conn = sim().connect("keepalive=0");
  auto& st = conn->storage();
  const std::string ds = st.list_pools().front().name;
  write_file(tmp.path / "in.iso", some_bytes(1000));
  const std::string name = "session-auth-" + std::to_string(::getpid()) + ".iso";
  st.upload_volume(ds, name, (tmp.path / "in.iso").string(), {}, {}, hyperctl::CancelToken{});
  const int sessions = sim().show()["sessions"].get<int>();

  sim().inject("GET/folder=status:403");
  sim().reset_stats();
  std::chrono::milliseconds took{};
  auto e = error_of(
      [&] {
        st.download_volume(ds, name, (tmp.path / "out.iso").string(), {}, {},
                           hyperctl::CancelToken{});
      },
      took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::AuthFailed) << e->what();
  EXPECT_NE(msg(e).find("HTTP 403"), std::string::npos) << msg(e);
  // (show() logs in and out too: the counts are read before it.)
  EXPECT_EQ(calls(sim().stats(), "Login"), 0) << sim().stats().dump();
  EXPECT_EQ(calls(sim().stats(), "GET/folder"), 1) << sim().stats().dump();
  EXPECT_EQ(sim().show()["sessions"].get<int>(), sessions);
  EXPECT_FALSE(fs::exists(tmp.path / "out.iso"));

  sim().inject("PUT/folder=status:403");
  sim().reset_stats();
  e = error_of(
      [&] {
        hyperctl::TransferOptions o;
        o.overwrite = true;
        st.upload_volume(ds, name, (tmp.path / "in.iso").string(), o, {}, hyperctl::CancelToken{});
      },
      took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hyperctl::ErrorCode::AuthFailed) << e->what();
  EXPECT_EQ(calls(sim().stats(), "Login"), 0) << sim().stats().dump();
  EXPECT_EQ(sim().show()["sessions"].get<int>(), sessions);
  sim().clear_injections();

  sim().inject("GET/folder=status:401*1");
  sim().reset_stats();
  st.download_volume(ds, name, (tmp.path / "out.iso").string(), {}, {}, hyperctl::CancelToken{});
  EXPECT_EQ(read_file(tmp.path / "out.iso"), some_bytes(1000));
  const json stats = sim().stats();
  EXPECT_EQ(calls(stats, "Logout"), 1) << stats.dump();
  EXPECT_EQ(calls(stats, "Login"), 1) << stats.dump();
  EXPECT_EQ(calls(stats, "GET/folder"), 2) << stats.dump();
  EXPECT_EQ(sim().show()["sessions"].get<int>(), sessions) << "the old session was left behind";
  st.remove_volume(ds, name);
}

}  // namespace
