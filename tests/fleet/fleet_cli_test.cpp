// The real hyperctl executable: `inventory` and `-g GROUP ACTION` over a
// config file (temporary XDG_CONFIG_HOME) naming libvirt test-driver hosts,
// a host that accepts TCP connections and never answers, and one that
// refuses. No daemon needed; the same checks against real libvirtd hosts are
// in fleet_testbed_test.cpp.
#include <chrono>
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

class FleetCli : public ::testing::Test {
 protected:
  void SetUp() override {
    alpha_ = "test://" + write_test_node(dir_.path(), "alpha", 12);
    beta_ = "test://" + write_test_node(dir_.path(), "beta", 7);
    empty_ = "test://" + write_test_node(dir_.path(), "empty", 0);
    stalled_uri_ = "qemu+tcp://127.0.0.1:" + std::to_string(stalled_.port()) + "/system";
    refusing_uri_ = "qemu+tcp://127.0.0.1:" + std::to_string(refusing_port()) + "/system";
    write_config(dir_.path() / "xdg",
                 {{"alpha", alpha_, "prod, kvm", ""},
                  {"stalled", stalled_uri_, "", "1500ms"},
                  {"beta", beta_, "dev", ""},
                  {"refusing", refusing_uri_, "", ""},
                  {"empty", empty_, "", ""}},
                 {{"two", "alpha, beta"}, {"withbad", "alpha, refusing, beta"}});
  }

  Result hyperctl(std::vector<std::string> args) {
    return run(args, with_env({{"XDG_CONFIG_HOME", (dir_.path() / "xdg").string()}}));
  }

  TempDir dir_;
  SilentListener stalled_;
  std::string alpha_, beta_, empty_, stalled_uri_, refusing_uri_;
};

TEST_F(FleetCli, InventoryAllListsEveryVmOfTheHealthyHostsAndErrorRowsWithinTheDeadline) {
  const auto r = hyperctl({"inventory", "--all", "--deadline", "2s", "-o", "json"});
  // The first failed host in config order is the stalled one: timeout, 9.
  EXPECT_EQ(r.status, 9) << r;
  EXPECT_LT(r.elapsed, 2s + 1500ms) << "not within the deadline plus a margin";
  EXPECT_GE(r.elapsed, 2s - 50ms);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_NE(r.err.find("2 of 5 hosts failed"), std::string::npos) << r;
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc["schema"], "hyperctl.inventory/1");
  EXPECT_EQ(doc["complete"], false);
  ASSERT_EQ(doc["hosts"].size(), 5u);
  const std::vector<std::pair<std::string, std::string>> expect = {{"alpha", "ok"},
                                                                   {"stalled", "timeout"},
                                                                   {"beta", "ok"},
                                                                   {"refusing", "error"},
                                                                   {"empty", "ok"}};
  for (std::size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ(doc["hosts"][i]["name"], expect[i].first);
    EXPECT_EQ(doc["hosts"][i]["status"], expect[i].second) << doc["hosts"][i].dump();
  }
  EXPECT_EQ(doc["hosts"][1]["code"], "timeout");
  // Its connect timeout is the deadline too (ConnectTimeoutIsTheSmallerOf...):
  // either the runner gives up at the deadline (2000) or the connect attempt
  // times out first and reports the time it took, a few ms later.
  EXPECT_GE(doc["hosts"][1]["elapsed_ms"].get<int>(), 2000);
  EXPECT_LT(doc["hosts"][1]["elapsed_ms"].get<int>(), 2000 + 1500);
  EXPECT_EQ(doc["hosts"][3]["code"], "unreachable");
  EXPECT_FALSE(doc["hosts"][3]["message"].get<std::string>().empty());
  EXPECT_TRUE(doc["hosts"][0]["code"].is_null());
  // Each healthy host's VMs are exactly what virsh lists there.
  const std::map<std::string, std::string> uris = {
      {"alpha", alpha_}, {"beta", beta_}, {"empty", empty_}};
  std::map<std::string, std::set<std::string>> got;
  for (const auto& row : doc["vms"]) {
    got[row["host"]].insert(row["vm"]["name"].get<std::string>());
    EXPECT_EQ(row["backend"], "libvirt");
    EXPECT_EQ(row["uri"], uris.at(row["host"]));
  }
  for (const auto& [host, uri] : uris) EXPECT_EQ(got[host], virsh_names(uri)) << host;
  EXPECT_EQ(doc["vms"].size(), 19u);
  EXPECT_EQ(doc["totals"]["vms"], 19);
  EXPECT_EQ(doc["totals"]["hosts"], 5);
  EXPECT_EQ(doc["totals"]["hosts_ok"], 3);

  // --partial-ok: the same rows, exit 0, a warning line.
  const auto p = hyperctl({"inventory", "--all", "--deadline", "1s", "--partial-ok"});
  EXPECT_EQ(p.status, 0) << p;
  EXPECT_NE(p.err.find("hyperctl: warning: 2 of 5 hosts failed"), std::string::npos) << p;
  EXPECT_LT(p.elapsed, 1s + 1500ms);
  const auto lines = lines_of(p.out);
  ASSERT_GT(lines.size(), 20u) << p;
  EXPECT_EQ(lines[0].rfind("HOST", 0), 0u);
  for (const char* col : {"BACKEND", "ID", "NAME", "STATE", "VCPUS", "MEMORY", "DISKS", "GUEST OS"})
    EXPECT_NE(lines[0].find(col), std::string::npos) << col;
  // VM rows, a blank line, then the error rows.
  EXPECT_TRUE(lines[20].empty()) << p;
  EXPECT_EQ(lines[21].rfind("HOST", 0), 0u);
  EXPECT_EQ(lines[22].rfind("stalled", 0), 0u);
  EXPECT_NE(lines[22].find("timeout"), std::string::npos);
  EXPECT_EQ(lines[23].rfind("refusing", 0), 0u);
}

TEST_F(FleetCli, OneCommandOnAStalledHostEndsAtItsTimeout) {
  // -c NAME of a host that accepts and never answers: the connection's own
  // timeout (1.5 s) ends it with exit 9 and one line; the connect left
  // running inside libvirt does not keep the process or crash it on exit.
  const auto r = hyperctl({"-c", "stalled", "list"});
  EXPECT_EQ(r.status, 9) << r;
  EXPECT_GE(r.elapsed, 1500ms - 50ms);
  EXPECT_LT(r.elapsed, 1500ms + 1500ms) << r;
  EXPECT_TRUE(r.out.empty()) << r;
  EXPECT_EQ(r.err,
            "hyperctl: error: cannot connect to " + stalled_uri_ + ": no answer within 1.5 s\n")
      << r;
}

TEST_F(FleetCli, CsvParsesWithOneRowPerVmThenErrorRows) {
  const auto r = hyperctl({"inventory", "--all", "--deadline", "1s", "-o", "csv"});
  EXPECT_EQ(r.status, 9) << r;
  const auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 1u + 19u + 2u) << r;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"host", "uri", "backend", "id", "name", "state",
                                               "vcpus", "memory_bytes", "disk_bytes", "guest_os",
                                               "status", "message"}));
  for (std::size_t i = 1; i < rows.size(); ++i) ASSERT_EQ(rows[i].size(), 12u) << i;
  EXPECT_EQ(rows[1][0], "alpha");
  EXPECT_EQ(rows[1][4], "alpha-00");
  EXPECT_EQ(rows[1][5], "running");
  EXPECT_EQ(rows[1][7], std::to_string(128ull << 20));
  EXPECT_EQ(rows[1][10], "ok");
  EXPECT_EQ(rows[20][0], "stalled");
  EXPECT_EQ(rows[20][10], "timeout");
  EXPECT_EQ(rows[21][0], "refusing");
  EXPECT_EQ(rows[21][10], "error");
}

TEST_F(FleetCli, SummaryTotalsPerHost) {
  const auto r = hyperctl({"inventory", "--group", "two", "--summary"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r;
  EXPECT_EQ(lines[1].rfind("alpha", 0), 0u);
  EXPECT_EQ(lines[3].rfind("TOTAL", 0), 0u);
  EXPECT_NE(lines[3].find("2/2 ok"), std::string::npos) << r;
  const auto j = hyperctl({"inventory", "--group", "two", "--summary", "-o", "json"});
  expect_ok(j);
  const auto doc = json::parse(j.out);
  EXPECT_FALSE(doc.contains("vms")) << "--summary leaves the VM rows out";
  EXPECT_EQ(doc["hosts"][0]["vms"], 12);
  EXPECT_EQ(doc["hosts"][0]["running"], 3);
  EXPECT_EQ(doc["hosts"][0]["vcpus"], 4 * (1 + 2 + 3));
  EXPECT_EQ(doc["hosts"][1]["vms"], 7);
  EXPECT_EQ(doc["totals"]["vms"], 19);
  EXPECT_EQ(doc["totals"]["running"], 3 + 2);
  std::uint64_t mem = 0;
  for (int i = 0; i < 12; ++i) mem += 128ull * (i + 1) << 20;
  for (int i = 0; i < 7; ++i) mem += 128ull * (i + 1) << 20;
  EXPECT_EQ(doc["totals"]["memory_bytes"].get<std::uint64_t>(), mem);
  const auto c = hyperctl({"inventory", "--group", "two", "--summary", "-o", "csv"});
  expect_ok(c);
  const auto rows = parse_csv(c.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][6], "vms");
  EXPECT_EQ(rows[2][6], "7");
}

TEST_F(FleetCli, FilterSelectsRowsAndBadFiltersAreOneLineErrors) {
  const auto r = hyperctl({"inventory", "--hosts", "alpha,beta", "--filter",
                           "state=running,name=*-0[0-4]", "-o", "json"});
  expect_ok(r);
  const auto doc = json::parse(r.out);
  std::vector<std::string> names;
  for (const auto& row : doc["vms"]) names.push_back(row["vm"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha-00", "alpha-04", "beta-00", "beta-04"}));
  const auto tagged = hyperctl({"inventory", "--all", "--filter", "tag=prod,state=paused",
                                "--deadline", "1s", "--partial-ok", "-o", "json"});
  EXPECT_EQ(tagged.status, 0) << tagged;
  EXPECT_EQ(json::parse(tagged.out)["vms"].size(), 3u);  // alpha-02, -06, -10

  expect_error(hyperctl({"inventory", "--all", "--filter", "colour=red"}), 2,
               "host, backend, id, name, state, os, tag");
  expect_error(hyperctl({"inventory", "--all", "--filter", "state=sleeping"}), 2, "sleeping");
  expect_error(hyperctl({"inventory", "--all", "--filter", "name"}), 2, "FIELD=VALUE");
  expect_error(hyperctl({"inventory", "--all", "--max-in-flight", "0"}), 2, "--max-in-flight");
  expect_error(hyperctl({"inventory", "--all", "--deadline", "soon"}), 2, "--deadline");
  expect_error(hyperctl({"inventory", "--all", "--group", "two"}), 2, "only one of");
  expect_error(hyperctl({"inventory", "--group", "nosuch"}), 3, "nosuch");
  expect_error(hyperctl({"inventory", "--hosts", "nosuch"}), 3, "nosuch");
}

TEST_F(FleetCli, MaxInFlightOneStillEndsAtTheDeadline) {
  // One thread, the stalled host second: its replacement thread runs the rest.
  const auto r = hyperctl({"inventory", "--all", "--deadline", "1s", "--max-in-flight", "1",
                           "--partial-ok", "-o", "json"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_LT(r.elapsed, 1s + 1500ms);
  EXPECT_EQ(json::parse(r.out)["vms"].size(), 19u);
}

TEST_F(FleetCli, GroupActionRunsOnEveryHostWithAPerHostTable) {
  const auto r = hyperctl({"-g", "two", "poweroff", "*-0[04]"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5u) << r;
  EXPECT_EQ(lines[0].rfind("HOST", 0), 0u);
  EXPECT_EQ(lines[1].rfind("alpha", 0), 0u);
  EXPECT_NE(lines[1].find("alpha-00"), std::string::npos);
  EXPECT_NE(lines[1].find("ok"), std::string::npos);
  EXPECT_NE(lines[4].find("beta-04"), std::string::npos);

  // A refusing host is a row; the others still act; exit 8 (unreachable).
  const auto j = hyperctl({"-g", "withbad", "-o", "json", "suspend", "*-00"});
  EXPECT_EQ(j.status, 8) << j;
  const auto doc = json::parse(j.out);
  EXPECT_EQ(doc["schema"], "hyperctl.fleet-result/1");
  EXPECT_EQ(doc["operation"], "vm.suspend");
  EXPECT_EQ(doc["group"], "withbad");
  EXPECT_EQ(doc["pattern"], "*-00");
  ASSERT_EQ(doc["hosts"].size(), 3u);
  EXPECT_EQ(doc["hosts"][0]["vms"][0]["vm"], "alpha-00");
  EXPECT_EQ(doc["hosts"][0]["vms"][0]["result"], "ok");
  EXPECT_EQ(doc["hosts"][1]["status"], "error");
  EXPECT_EQ(doc["hosts"][1]["code"], "unreachable");
  EXPECT_EQ(doc["hosts"][2]["vms"][0]["vm"], "beta-00");

  // A VM that is in the wrong state fails alone: conflict (5), a row.
  const auto c = hyperctl({"-g", "two", "-o", "csv", "resume", "*-01"});
  EXPECT_EQ(c.status, 5) << c;
  const auto rows = parse_csv(c.out);
  ASSERT_EQ(rows.size(), 3u) << c;
  EXPECT_EQ(rows[1][4], "error");
  EXPECT_EQ(rows[1][5], "conflict");

  expect_error(hyperctl({"-g", "two", "start", "nothing-*"}), 3, "no VM matches");
  expect_error(hyperctl({"-g", "nosuch", "start", "x"}), 3, "nosuch");
}

TEST(FleetCliSlow, AHostPassingItsDeadlineMidwayReportsTheVmsItActedOn) {
  // slow:///: VM actions take a set time (tests/fleet/slow_plugin.cpp). The
  // laggard has 3 VMs of 700 ms each and a 1 s deadline: vm1 is started,
  // vm2 is under way at the deadline. Its row says timeout, and vm1's row is
  // there, so that nobody believes nothing happened on that host.
  TempDir dir;
  write_config(dir.path() / "xdg",
               {{"quick", "slow:///?vms=2&action_ms=0", "", ""},
                {"laggard", "slow:///?vms=3&action_ms=700", "", "1s"}},
               {{"pair", "quick, laggard"}});
  const auto r =
      run({"--plugin-dir", FLEET_SLOW_PLUGIN_DIR, "-g", "pair", "-o", "json", "start", "vm*"},
          with_env({{"XDG_CONFIG_HOME", (dir.path() / "xdg").string()}}));
  EXPECT_EQ(r.status, 9) << r;
  EXPECT_LT(r.elapsed, 1s + 1500ms) << "waited for the laggard beyond its deadline";
  const auto doc = json::parse(r.out);
  ASSERT_EQ(doc["hosts"].size(), 2u) << r;
  const auto& quick = doc["hosts"][0];
  EXPECT_EQ(quick["status"], "ok");
  ASSERT_EQ(quick["vms"].size(), 2u);
  const auto& laggard = doc["hosts"][1];
  EXPECT_EQ(laggard["name"], "laggard");
  EXPECT_EQ(laggard["status"], "timeout");
  ASSERT_EQ(laggard["vms"].size(), 1u) << laggard;
  EXPECT_EQ(laggard["vms"][0]["vm"], "vm1");
  EXPECT_EQ(laggard["vms"][0]["result"], "ok");

  // The table: vm1's row, then the host's timeout row.
  const auto t = run({"--plugin-dir", FLEET_SLOW_PLUGIN_DIR, "-g", "pair", "start", "vm*"},
                     with_env({{"XDG_CONFIG_HOME", (dir.path() / "xdg").string()}}));
  EXPECT_EQ(t.status, 9) << t;
  const auto vm1 = t.out.find("laggard  vm1");
  const auto timeout = t.out.find("laggard  -    timeout");
  EXPECT_NE(vm1, std::string::npos) << t;
  EXPECT_NE(timeout, std::string::npos) << t;
  EXPECT_LT(vm1, timeout) << t;
}

TEST_F(FleetCli, HostileVmNamesStayData) {
  // Quotes, $(), ;, &, <, a newline and non-ASCII in one name.
  const std::string hostile = "q'\"$(touch x);&<\nvm-\xc3\xa9\xe6\x97\xa5";
  const auto file = dir_.path() / "hostile.xml";
  std::ofstream(file) << "<node><domain type='test'><name>q'&quot;$(touch x);&amp;&lt;&#10;vm-"
                         "\xc3\xa9\xe6\x97\xa5</name><memory>131072</memory><vcpu>1</vcpu>"
                         "<os><type>hvm</type></os></domain></node>\n";
  const std::string uri = "test://" + file.string();
  const auto j = hyperctl({"inventory", "--hosts", uri, "-o", "json"});
  expect_ok(j);
  const auto doc = json::parse(j.out);
  ASSERT_EQ(doc["vms"].size(), 1u) << j;
  EXPECT_EQ(doc["vms"][0]["vm"]["name"], hostile);
  EXPECT_EQ(doc["vms"][0]["host"], uri);
  const auto c = hyperctl({"inventory", "--hosts", uri, "-o", "csv"});
  expect_ok(c);
  const auto rows = parse_csv(c.out);
  ASSERT_EQ(rows.size(), 2u) << c;
  EXPECT_EQ(rows[1][4], hostile);
  const auto t = hyperctl({"inventory", "--hosts", uri});
  expect_ok(t);
  EXPECT_EQ(lines_of(t.out).size(), 2u) << "a newline in a name must not break the table: " << t;
  EXPECT_FALSE(fs::exists(fs::current_path() / "x"));
  // -g acts on it by name.
  write_config(dir_.path() / "xdg", {{"hostile", uri, "", ""}}, {{"h", "hostile"}});
  const auto g = hyperctl({"-g", "h", "-o", "json", "poweroff", "q*"});
  expect_ok(g);
  const auto gd = json::parse(g.out);
  EXPECT_EQ(gd["hosts"][0]["vms"][0]["vm"], hostile);
  EXPECT_EQ(gd["hosts"][0]["vms"][0]["result"], "ok");
}

}  // namespace
}  // namespace hyperctl::fleet_test
