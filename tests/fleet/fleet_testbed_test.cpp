// The real hyperctl against several real libvirt hosts at once: the test
// bed's libvirtd (qemu:///system) and two peers in their own namespaces
// (tests/testbed/peer.sh N, qemu+tcp://127.0.0.1:1651N/system), plus
// test-driver node files, a host that accepts and never answers and one that
// refuses. Domains hyperctl-test-fleet-PID-* are defined (not started: TCG
// guests need no KVM, and defining is fast) on the daemons and removed
// again, also when a test fails.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>

#include "../cli/harness.hpp"
#include "../common/net.hpp"
#include "fleet_common.hpp"

namespace hyperctl::fleet_test {
using test_net::refusing_port;
using test_net::SilentListener;
namespace {

using namespace hyperctl_cli_test;
using namespace std::chrono_literals;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string env_or(const char* name, const std::string& fallback = {}) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

bool answers(const std::string& uri) {
  int status = -1;
  shell_output("virsh -q -c '" + uri + "' version >/dev/null 2>&1", &status);
  return status == 0;
}

std::string domstate(const std::string& uri, const std::string& name) {
  auto s = shell_output("virsh -q -c '" + uri + "' domstate '" + name + "' 2>/dev/null");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

struct DaemonHost {
  std::string name, uri;
  std::vector<std::string> domains;
};

class FleetTestbed : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string main_uri = env_or("HYPERCTL_TEST_QEMU_URI");
    const auto peers = split(env_or("HYPERCTL_TEST_FLEET_PEER_URIS"), ',');
    const auto states = split(env_or("HYPERCTL_TESTBED_FLEET_PEER_STATES"), ',');
    if (main_uri.empty() || peers.empty())
      GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI or HYPERCTL_TEST_FLEET_PEER_URIS not set";
    const std::string main_state = env_or("HYPERCTL_TESTBED_STATE");
    if (!answers(main_uri))
      GTEST_SKIP() << main_uri << " does not answer: "
                   << read_reason(main_state, "the test-bed libvirtd is not running");
    for (std::size_t i = 0; i < peers.size(); ++i)
      if (!answers(peers[i]))
        GTEST_SKIP() << peers[i] << " does not answer: "
                     << read_reason(i < states.size() ? states[i] : "", "the peer is not running");

    prefix_ = "hyperctl-test-fleet-" + std::to_string(getpid()) + "-";
    hosts_.push_back({"main", main_uri, {}});
    for (std::size_t i = 0; i < peers.size(); ++i)
      hosts_.push_back({"peer" + std::to_string(i + 1), peers[i], {}});
    // 2, 3, 4... domains per host, each with its own count.
    for (std::size_t h = 0; h < hosts_.size(); ++h)
      for (std::size_t k = 0; k < h + 2; ++k)
        define(hosts_[h], prefix_ + hosts_[h].name + "-" + std::to_string(k));

    node_ = "test://" + write_test_node(dir_.path(), "node", 5);
    stalled_uri_ = "qemu+tcp://127.0.0.1:" + std::to_string(stalled_.port()) + "/system";
    refusing_uri_ = "qemu+tcp://127.0.0.1:" + std::to_string(refusing_port()) + "/system";
    std::vector<ConfigHost> config;
    std::string daemons;
    for (const auto& h : hosts_) {
      config.push_back({h.name, h.uri, "", ""});
      daemons += (daemons.empty() ? "" : ", ") + h.name;
    }
    config.push_back({"node", node_, "", ""});
    config.push_back({"stalled", stalled_uri_, "", ""});
    config.push_back({"refusing", refusing_uri_, "", ""});
    write_config(dir_.path() / "xdg", config,
                 {{"daemons", daemons}, {"withbad", daemons + ", refusing"}});
  }

  void TearDown() override {
    for (const auto& h : hosts_)
      for (const auto& d : h.domains) {
        shell_output("virsh -q -c '" + h.uri + "' destroy '" + d + "' >/dev/null 2>&1");
        shell_output("virsh -q -c '" + h.uri + "' undefine '" + d + "' >/dev/null 2>&1");
      }
  }

  static std::string read_reason(const std::string& state, const std::string& fallback) {
    if (state.empty()) return fallback;
    std::ifstream in(state + "/unavailable");
    std::string line;
    return std::getline(in, line) ? line : fallback;
  }

  void define(DaemonHost& h, const std::string& name) {
    const std::string xml =
        dir_.write(name + ".xml", "<domain type='qemu'><name>" + name +
                                      "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                                      "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                                      "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
                                      "<serial type='null'/></devices></domain>");
    int status = -1;
    const auto out = shell_output("virsh -q -c '" + h.uri + "' define '" + xml + "' 2>&1", &status);
    ASSERT_EQ(status, 0) << "virsh define " << name << " on " << h.uri << ": " << out;
    h.domains.push_back(name);
  }

  Result hyperctl(std::vector<std::string> args) {
    return run(args, with_env({{"XDG_CONFIG_HOME", (dir_.path() / "xdg").string()}}));
  }

  TempDir dir_;
  SilentListener stalled_;
  std::string prefix_, node_, stalled_uri_, refusing_uri_;
  std::vector<DaemonHost> hosts_;
};

TEST_F(FleetTestbed, InventoryAllMatchesEachHostsOwnListing) {
  // Another run may define domains on the shared daemon meanwhile: compare
  // again (up to three times) when a listing moved under us.
  json doc;
  Result r;
  std::map<std::string, std::set<std::string>> got, want;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = hyperctl({"inventory", "--all", "--deadline", "3s", "-o", "json"});
    ASSERT_FALSE(r.out.empty()) << r;
    doc = json::parse(r.out);
    got.clear(), want.clear();
    for (const auto& row : doc["vms"])
      got[row["host"]].insert(row["vm"]["name"].get<std::string>());
    for (const auto& h : hosts_) want[h.name] = virsh_names(h.uri);
    want["node"] = virsh_names(node_);
    bool same = true;
    for (const auto& [host, names] : want) same = same && got[host] == names;
    if (same) break;
  }
  // Timed out first in config order: exit 9; within the deadline + margin.
  EXPECT_EQ(r.status, 9) << r;
  EXPECT_LT(r.elapsed, 3s + 1500ms) << r;
  for (const auto& [host, names] : want) EXPECT_EQ(got[host], names) << host;
  for (const auto& h : hosts_)
    for (const auto& d : h.domains) EXPECT_EQ(got[h.name].count(d), 1u) << d << " on " << h.name;
  ASSERT_EQ(doc["hosts"].size(), hosts_.size() + 3);
  for (std::size_t i = 0; i < hosts_.size() + 1; ++i)
    EXPECT_EQ(doc["hosts"][i]["status"], "ok") << doc["hosts"][i].dump();
  const auto& stalled = doc["hosts"][hosts_.size() + 1];
  const auto& refusing = doc["hosts"][hosts_.size() + 2];
  EXPECT_EQ(stalled["name"], "stalled");
  EXPECT_EQ(stalled["status"], "timeout");
  EXPECT_EQ(refusing["name"], "refusing");
  EXPECT_EQ(refusing["status"], "error");
  EXPECT_EQ(refusing["code"], "unreachable");
  for (const auto& row : doc["vms"])
    if (row["vm"]["name"].get<std::string>().rfind(prefix_, 0) == 0) {
      EXPECT_EQ(row["vm"]["state"], "off");
      EXPECT_EQ(row["vm"]["vcpus"], 1);
      EXPECT_EQ(row["vm"]["memory_bytes"], 32u << 20);
    }

  const auto ok = hyperctl({"inventory", "--all", "--deadline", "2s", "--partial-ok", "-o", "csv"});
  EXPECT_EQ(ok.status, 0) << ok;
  EXPECT_LT(ok.elapsed, 2s + 1500ms);
  const auto rows = parse_csv(ok.out);
  ASSERT_GE(rows.size(), 3u);
  std::size_t ours = 0, errors = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 12u);
    if (rows[i][4].rfind(prefix_, 0) == 0) ++ours;
    if (rows[i][10] != "ok") ++errors;
  }
  EXPECT_EQ(ours, 2u + 3u + 4u);
  EXPECT_EQ(errors, 2u);
}

TEST_F(FleetTestbed, SummaryFilterAndBadFilter) {
  const auto s = hyperctl({"inventory", "--group", "daemons", "--summary", "-o", "json"});
  expect_ok(s);
  const auto doc = json::parse(s.out);
  std::uint64_t sum = 0;
  for (const auto& h : doc["hosts"]) sum += h["vms"].get<std::uint64_t>();
  EXPECT_EQ(doc["totals"]["vms"].get<std::uint64_t>(), sum);
  EXPECT_GE(sum, 2u + 3u + 4u);
  EXPECT_EQ(doc["totals"]["hosts_ok"], hosts_.size());

  const auto f = hyperctl({"inventory", "--group", "daemons", "--filter",
                           "state=off,name=" + prefix_ + "*", "-o", "json"});
  expect_ok(f);
  std::set<std::string> names, want;
  const auto filtered = json::parse(f.out);
  for (const auto& row : filtered["vms"]) names.insert(row["vm"]["name"].get<std::string>());
  for (const auto& h : hosts_) want.insert(h.domains.begin(), h.domains.end());
  EXPECT_EQ(names, want) << f;
  const auto none = hyperctl({"inventory", "--group", "daemons", "--filter",
                              "state=running,name=" + prefix_ + "*", "-o", "json"});
  expect_ok(none);
  EXPECT_TRUE(json::parse(none.out)["vms"].empty());
  expect_error(hyperctl({"inventory", "--all", "--filter", "flavour=vanilla"}), 2, "flavour");
}

TEST_F(FleetTestbed, GroupStartThenPoweroffWithAPerHostTable) {
  const std::string pattern = prefix_ + "*";
  const auto st = hyperctl({"-g", "daemons", "start", pattern});
  expect_ok(st);
  auto lines = lines_of(st.out);
  ASSERT_EQ(lines.size(), 1u + 2u + 3u + 4u) << st;
  std::size_t line = 1;
  for (const auto& h : hosts_)
    for (const auto& d : h.domains) {
      const auto& l = lines[line++];
      EXPECT_EQ(l.rfind(h.name + " ", 0), 0u) << l;
      EXPECT_NE(l.find(d), std::string::npos) << l;
      EXPECT_NE(l.find(" ok "), std::string::npos) << l;
      EXPECT_EQ(domstate(h.uri, d), "running") << d << " on " << h.uri;
    }

  // Power off through a group with a refusing host: its error row, the
  // others still act, exit 8.
  const auto off = hyperctl({"-g", "withbad", "-o", "json", "poweroff", pattern});
  EXPECT_EQ(off.status, 8) << off;
  const auto doc = json::parse(off.out);
  ASSERT_EQ(doc["hosts"].size(), hosts_.size() + 1);
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    const auto& h = doc["hosts"][i];
    EXPECT_EQ(h["name"], hosts_[i].name);
    ASSERT_EQ(h["vms"].size(), hosts_[i].domains.size()) << h.dump();
    for (std::size_t k = 0; k < hosts_[i].domains.size(); ++k) {
      EXPECT_EQ(h["vms"][k]["vm"], hosts_[i].domains[k]);
      EXPECT_EQ(h["vms"][k]["result"], "ok");
      EXPECT_EQ(domstate(hosts_[i].uri, hosts_[i].domains[k]), "shut off");
    }
  }
  EXPECT_EQ(doc["hosts"][hosts_.size()]["status"], "error");
  EXPECT_EQ(doc["hosts"][hosts_.size()]["code"], "unreachable");
}

}  // namespace
}  // namespace hyperctl::fleet_test
