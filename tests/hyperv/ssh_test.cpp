// The Hyper-V backend over a real ssh (hyperv://USER@127.0.0.1:PORT/)
// through the sshd test bed started for these suites (fixture
// hyperv_ssh_daemon, tests/hyperv/CMakeLists.txt): its key forced_ed25519 is
// authorized as command="<wrapper>",no-pty, so whatever the backend asks,
// sshd runs the wrapper, which execs the stand-in PowerShell with the request
// in SSH_ORIGINAL_COMMAND — as Windows' OpenSSH hands every command line to
// its DefaultShell. sshd's command gets sshd's environment, not ours: the
// wrapper reads the stand-in's knobs from the bed's hyperv-knobs.sh, written
// here by each test (the tests hold a CTest resource lock on it). Skipped
// with the reason without the bed.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << to_string(code);
}
}  // namespace hyperctl

namespace hyperctl::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

Registry& registry() {
  static Registry r({HYPERCTL_TEST_HYPERV_PLUGIN_DIR});
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::optional<Error> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "foreign exception escaped: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "no error was thrown";
  return std::nullopt;
}

/// 'text' for sh: single quotes, a quote inside as '\''.
std::string sh_quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

/// The pids of the processes whose environment holds `entry` ("K=V").
std::vector<pid_t> pids_with_env(const std::string& entry) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator("/proc", ec)) {
    const std::string name = d.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string env = read_file(d.path() / "environ");
    std::size_t start = 0;
    while (start < env.size()) {
      const std::size_t end = env.find('\0', start);
      const std::string kv = env.substr(start, end == std::string::npos ? end : end - start);
      if (kv == entry) {
        out.push_back(static_cast<pid_t>(std::stol(name)));
        break;
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return out;
}

/// Field 4 of /proc/PID/stat; 0 when the process is gone.
pid_t parent_of(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

std::string comm_of(pid_t pid) {
  std::string c = read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

/// Waits up to `limit` for `done`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

const char* const kVm1 = "6f1a2b3c-0000-4000-8000-000000000001";
const char* const kVm2 = "6f1a2b3c-0000-4000-8000-000000000002";

class HypervSsh : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* state = std::getenv("HYPERCTL_TESTBED_SSH_STATE");
    if (!state || !*state) GTEST_SKIP() << "HYPERCTL_TESTBED_SSH_STATE not set: no sshd test bed";
    bed_ = state;
    if (fs::exists(bed_ / "unavailable")) GTEST_SKIP() << read_file(bed_ / "unavailable");
    if (line("port").empty()) GTEST_SKIP() << "the sshd test bed is not running (" << bed_ << ")";
    if (!fs::exists(bed_ / "forced_ed25519"))
      GTEST_SKIP() << "the sshd test bed has no forced-command key (started without "
                      "HYPERCTL_SSHD_FORCED_COMMAND)";
    knobs_ = bed_ / "hyperv-knobs.sh";

    std::string tmpl = (fs::temp_directory_path() / "hyperctl-hyperv-ssh-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    state_dir_ = root_ / "state";
    fs::create_directories(state_dir_);
    host_ = line("host");
    state_ =
        json{{"host",
              {{"ComputerName", "HV01"},
               {"LogicalProcessorCount", 16},
               {"MemoryCapacity", 68719476736ull},
               {"FreeMemoryBytes", 34359738368ull},
               {"OsVersion", "10.0.20348"},
               {"ProcessorName", "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz"},
               {"ProcessorManufacturer", "GenuineIntel"},
               {"VirtualHardDiskPath", "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"},
               {"VirtualMachinePath", "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"},
               {"ModuleVersion", "2.0.0.0"}}},
             {"vms", json::array()},
             {"switches", json::array({{{"Id", "0f6c1e2d-0000-4000-8000-0000000000aa"},
                                        {"Name", "Default Switch"},
                                        {"SwitchType", 1},
                                        {"NetAdapterInterfaceDescription", nullptr}}})},
             {"vhds", json::array()},
             {"peers", json::object()}};
    add_vm(kVm1, "web01", 3);
    add_vm(kVm2, "db01", 2);
    set_knobs({});
  }

  void TearDown() override {
    if (!knobs_.empty()) {
      std::error_code ec;
      fs::remove(knobs_, ec);
    }
    if (!root_.empty()) {
      std::error_code ec;
      fs::remove_all(root_, ec);
    }
  }

  std::string line(const char* f) const {
    std::string v = read_file(bed_ / f);
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  }

  void add_vm(const std::string& id, const std::string& name, int state) {
    state_["vms"].push_back(
        {{"Id", id},
         {"Name", name},
         {"State", state},
         {"Status", "Operating normally"},
         {"ProcessorCount", 2},
         {"MemoryAssigned", state == 2 ? 2147483648ull : 0ull},
         {"MemoryStartup", 2147483648ull},
         {"DynamicMemoryEnabled", false},
         {"UptimeSeconds", state == 2 ? 3600 : 0},
         {"Generation", 2},
         {"Version", "10.0"},
         {"Path", "C:\\VMs\\" + name},
         {"Notes", ""},
         {"ComputerName", "HV01"},
         {"CheckpointType", 5},
         {"ParentSnapshotName", nullptr},
         {"HardDrives", json::array({{{"Path", "C:\\VMs\\" + name + "\\disk.vhdx"},
                                      {"ControllerType", 1},
                                      {"ControllerNumber", 0},
                                      {"ControllerLocation", 0}}})},
         {"NetworkAdapters", json::array({{{"Name", "Network Adapter"},
                                           {"MacAddress", "00155D000101"},
                                           {"SwitchName", "Default Switch"}}})},
         {"Snapshots", json::array()}});
    save();
  }

  void save() { write_file(state_dir_ / "state.json", state_.dump(2)); }
  json state() const { return json::parse(read_file(state_dir_ / "state.json")); }
  json vm_state(const std::string& id) const {
    const json all = state();
    for (const auto& vm : all["vms"])
      if (vm["Id"] == id) return vm["State"];
    return nullptr;
  }

  fs::path log_path() const { return root_ / "pwsh.log"; }
  std::vector<json> log() const {
    std::vector<json> out;
    std::ifstream in(log_path());
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) out.push_back(json::parse(l));
    return out;
  }

  /// The knobs the forced command exports before it execs the stand-in:
  /// this test's state folder and log, plus `extra`.
  void set_knobs(const std::vector<std::pair<std::string, std::string>>& extra) {
    std::string text = "export FAKE_HYPERV_STATE=" + sh_quote(state_dir_.string()) + "\n" +
                       "export FAKE_PWSH_LOG=" + sh_quote(log_path().string()) + "\n";
    for (const auto& [k, v] : extra) text += "export " + k + "=" + sh_quote(v) + "\n";
    const fs::path tmp = knobs_.string() + ".new";
    write_file(tmp, text);
    fs::rename(tmp, knobs_);
  }

  std::string uri(const fs::path& known_hosts) const {
    return "hyperv://" + line("user") + "@" + host_ + ":" + line("port") +
           "/?identity=" + (bed_ / "forced_ed25519").string() +
           "&known_hosts=" + known_hosts.string();
  }
  std::string uri() const { return uri(bed_ / "known_hosts"); }

  std::unique_ptr<Connection> open(std::chrono::milliseconds timeout = 30s) {
    ConnectOptions o;
    o.timeout = timeout;
    return registry().open(uri(), o);
  }

  /// The stand-in processes started for this test (by their environment).
  std::vector<pid_t> remote_pwsh() const {
    std::vector<pid_t> out;
    for (pid_t p : pids_with_env("FAKE_HYPERV_STATE=" + state_dir_.string()))
      if (comm_of(p) != "sh") out.push_back(p);
    return out;
  }

  fs::path bed_, knobs_, root_, state_dir_;
  std::string host_;
  json state_;
};

TEST_F(HypervSsh, AHostKeyNotInKnownHostsIsAuthFailedAndNothingRuns) {
  // Host key checking is on: a known-hosts file without the bed's key (empty,
  // or naming another key for this host:port) refuses the server before any
  // command is sent.
  const fs::path empty = root_ / "known_hosts.empty";
  write_file(empty, "");
  const std::string other_key = read_file(bed_ / "other_ed25519.pub");
  const fs::path wrong = root_ / "known_hosts.wrong";
  write_file(wrong, "[" + host_ + "]:" + line("port") + " " +
                        other_key.substr(0, other_key.find(' ', other_key.find(' ') + 1)) + "\n");
  for (const fs::path& kh : {empty, wrong}) {
    SCOPED_TRACE(kh.string());
    auto e = error_of([&] {
      auto c = registry().open(uri(kh));
      (void)c->vms().list({});
    });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what() << "\n" << e->detail();
    EXPECT_FALSE(fs::exists(log_path())) << "the stand-in ran:\n" << read_file(log_path());
  }
}

TEST_F(HypervSsh, ListStartAndStopChangeTheRemoteHost) {
  auto c = open();
  const auto vms = c->vms().list({});
  ASSERT_EQ(vms.size(), 2u);
  for (const auto& vm : vms) {
    EXPECT_EQ(vm.backend, "hyperv");
    if (vm.id == kVm1) {
      EXPECT_EQ(vm.name, "web01");
      EXPECT_EQ(vm.state, VmState::Off);
    } else {
      EXPECT_EQ(vm.id, kVm2);
      EXPECT_EQ(vm.name, "db01");
      EXPECT_EQ(vm.state, VmState::Running);
    }
  }
  c->vms().start("web01");
  EXPECT_EQ(vm_state(kVm1), 2) << "Running in state.json";
  EXPECT_EQ(c->vms().get(kVm1).state, VmState::Running);
  c->vms().power_off(kVm1);
  EXPECT_EQ(vm_state(kVm1), 3) << "Off in state.json";
  EXPECT_EQ(c->vms().get("web01").state, VmState::Off);

  // Every run went through sshd's forced command with one fixed command line.
  const auto runs = log();
  ASSERT_FALSE(runs.empty());
  for (const auto& r : runs) {
    EXPECT_EQ(r["argv"], runs.front()["argv"]) << r.dump();
    EXPECT_EQ(r.value("script_ok", false), true) << r.dump();
  }
}

TEST_F(HypervSsh, HostileVmNamesRoundTripThroughSsh) {
  const std::vector<std::string> names = {"it's $(whoami) `hostname` \"q\" & ; | ü 名",
                                          "line1\nline2", "\xE2\x80\x98quoted\xE2\x80\x99"};
  for (std::size_t i = 0; i < names.size(); ++i)
    add_vm("6f1a2b3c-0000-4000-8000-00000000010" + std::to_string(i), names[i], 3);
  auto c = open();
  std::map<std::string, std::string> id_of;
  for (const auto& vm : c->vms().list({})) id_of[vm.name] = vm.id;
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    const std::string id = "6f1a2b3c-0000-4000-8000-00000000010" + std::to_string(i);
    ASSERT_EQ(id_of[names[i]], id) << "the name came back byte for byte";
    c->vms().start(names[i]);
    EXPECT_EQ(vm_state(id), 2);
    EXPECT_EQ(c->vms().get(names[i]).name, names[i]);
  }
  bool saw_start = false;
  for (const auto& r : log())
    if (r["op"] == "vm.start") {
      saw_start = true;
      const std::string id = r["data"].value("id", "");
      EXPECT_NE(id.find("6f1a2b3c-0000-4000-8000-00000000010"), std::string::npos) << r.dump();
    }
  EXPECT_TRUE(saw_start);
}

TEST_F(HypervSsh, ATimeoutIsTimeoutAndTheRemoteStandInEnds) {
  auto c = open(2s);  // connect's host.info answers at once
  const auto before = vm_state(kVm1);
  const std::size_t runs_before = log().size();
  set_knobs({{"FAKE_PWSH_SLOW_MS", "60000"}});
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { c->vms().start(kVm1); });
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Timeout) << e->what() << "\n" << e->detail();
  EXPECT_LT(took, 20s) << "the timeout was 2 s";
  EXPECT_GT(log().size(), runs_before) << "the stand-in was reached (and then slept)";
  EXPECT_TRUE(eventually([&] { return remote_pwsh().empty(); }, 5s))
      << "the remote stand-in outlived its session";
  EXPECT_EQ(vm_state(kVm1), before) << "nothing ran";
}

TEST_F(HypervSsh, ADroppedConnectionIsUnreachableAndNothingIsReportedDone) {
  {
    auto warm = open();
    ASSERT_EQ(warm->vms().get(kVm1).state, VmState::Off);
  }
  auto c = open(60s);
  set_knobs({{"FAKE_PWSH_SLOW_MS", "20000"}});
  auto pending =
      std::async(std::launch::async, [&] { return error_of([&] { c->vms().start(kVm1); }); });
  // The stand-in is up (sleeping before it acts); kill its sshd session: the
  // per-connection sshd above it (and, for a user other than root, the
  // privileged sshd above that).
  std::vector<pid_t> remote;
  ASSERT_TRUE(eventually(
      [&] {
        remote = remote_pwsh();
        return !remote.empty();
      },
      15s))
      << "the stand-in never started over ssh";
  std::vector<pid_t> sessions;
  for (pid_t p = parent_of(remote.front()); p > 1 && comm_of(p) == "sshd"; p = parent_of(p)) {
    if (std::to_string(p) == line("sshd.pid")) break;  // the listener stays
    sessions.push_back(p);
  }
  ASSERT_FALSE(sessions.empty()) << "no sshd session above pid " << remote.front();
  for (pid_t p : sessions) ::kill(p, SIGKILL);

  ASSERT_EQ(pending.wait_for(30s), std::future_status::ready) << "the start never returned";
  const auto e = pending.get();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unreachable) << e->what() << "\n" << e->detail();
  EXPECT_TRUE(eventually([&] { return remote_pwsh().empty(); }, 5s))
      << "the remote stand-in outlived its session";
  EXPECT_EQ(vm_state(kVm1), 3) << "the VM did not start behind our back";
  set_knobs({});
  auto again = open();
  EXPECT_EQ(again->vms().get(kVm1).state, VmState::Off) << "and is not reported started";
}

// Opt-in, against a real Hyper-V host: HYPERCTL_TEST_HYPERV_URI (e.g.
// hyperv://admin@hv01/ with the user's ssh keys and known_hosts). Read-only:
// it lists, reads the host, and looks up a VM whose name holds every hostile
// character, which must come back as "not found" (the name travelled as
// data), never as a PowerShell parse error.
class HypervRealHost : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* u = std::getenv("HYPERCTL_TEST_HYPERV_URI");
    if (!u || !*u) GTEST_SKIP() << "HYPERCTL_TEST_HYPERV_URI not set: no real Hyper-V host";
    uri_ = u;
  }
  std::string uri_;
};

TEST_F(HypervRealHost, ListsReadsTheHostAndTakesHostileNamesAsData) {
  auto c = registry().open(uri_);
  const HostInfo h = c->host().info();
  EXPECT_FALSE(h.hostname.empty());
  EXPECT_GT(h.cpus, 0u);
  for (const auto& vm : c->vms().list({})) {
    EXPECT_FALSE(vm.id.empty()) << vm.name;
    EXPECT_EQ(c->vms().get(vm.id).name, vm.name);
  }
  const std::string hostile =
      "hyperctl-test-it's \"$(whoami)\" `hostname`;|&\n\xE2\x80\x98x\xE2\x80\x99 "
      "\xC3\xBC\xE5\x90\x8D";
  auto e = error_of([&] { (void)c->vms().get(hostile); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound) << e->what() << "\n" << e->detail();
  EXPECT_NE(std::string(e->what()).find("hyperctl-test-it's"), std::string::npos) << e->what();
}

}  // namespace
}  // namespace hyperctl::test
