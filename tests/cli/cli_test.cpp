// Black-box tests of the hyperctl executable: each test runs the real binary
// with an argv (never through a shell) and checks stdout, stderr and the exit
// status. test:/// connections live inside one process, so every invocation
// starts from the libvirt test driver's fresh state.
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include "hyperctl/plugin.hpp"

#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;
using nlohmann::json;

const std::string kHostileName = "web<1>&'\"x";
const std::string kUnicodeName = "Z\xC3\xBCrich-\xE6\x97\xA5\xE6\x9C\xAC-db";  // Zürich-日本-db

/// A test driver node file with three domains; names XML-escaped.
std::string node_xml() {
  return R"(<?xml version="1.0"?>
<node>
  <domain type="test">
    <name>web&lt;1&gt;&amp;&apos;&quot;x</name>
    <uuid>8e3a4b7c-1111-4e2a-9c1d-000000000001</uuid>
    <memory>1048576</memory>
    <vcpu>2</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <domain type="test">
    <name>)" +
         kUnicodeName +
         R"(</name>
    <uuid>8e3a4b7c-1111-4e2a-9c1d-000000000002</uuid>
    <memory>524288</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <domain type="test">
    <name>plain</name>
    <uuid>8e3a4b7c-1111-4e2a-9c1d-000000000003</uuid>
    <memory>262144</memory>
    <vcpu>4</vcpu>
    <os><type>hvm</type></os>
  </domain>
</node>
)";
}

const char* const kDefault = "test:///default";

// ------------------------------------------------------------------ list --

// -g GROUP only goes with the commands that run on many hosts: elsewhere it
// would be ignored, and "list -g prod" would list something else.
TEST(CliGroupOption, RefusedWhereItWouldBeIgnored) {
  expect_error(run({"-g", "prod", "list"}), 2, "-g GROUP goes with start, shutdown");
  expect_error(run({"-g", "prod", "snapshot", "list", "vm1"}), 2, "not with snapshot");
  expect_error(run({"-g", "prod", "-c", "test:///default", "start", "test"}), 2,
               "-g GROUP and -c exclude each other");
}

TEST(CliList, TableShowsTheTestVmRunning) {
  const auto r = run({"-c", kDefault, "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 2u) << r;
  EXPECT_EQ(lines[0].rfind("NAME", 0), 0u) << r;
  EXPECT_NE(lines[0].find("STATE"), std::string::npos);
  bool found = false;
  for (const auto& l : lines)
    if (l.rfind("test ", 0) == 0) {
      found = true;
      EXPECT_NE(l.find("running"), std::string::npos) << l;
    }
  EXPECT_TRUE(found) << r;
}

TEST(CliList, JsonFollowsTheVmListSchema) {
  const auto r = run({"-c", kDefault, "-o", "json", "list"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.vm-list/1");
  EXPECT_EQ(doc.at("uri"), kDefault);
  ASSERT_TRUE(doc.at("vms").is_array());
  ASSERT_EQ(doc["vms"].size(), 1u) << r;
  const json& vm = doc["vms"][0];
  EXPECT_EQ(vm.at("name"), "test");
  EXPECT_EQ(vm.at("state"), "running");
  EXPECT_EQ(vm.at("backend"), "libvirt");
  EXPECT_TRUE(vm.at("id").is_string());
  EXPECT_FALSE(vm["id"].get<std::string>().empty());
  EXPECT_TRUE(vm.at("state_reason").is_string());
  EXPECT_TRUE(vm.at("vcpus").is_number_unsigned());
  EXPECT_GE(vm["vcpus"].get<unsigned>(), 1u);
  EXPECT_TRUE(vm.at("memory_bytes").is_number_unsigned());
  EXPECT_GT(vm["memory_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(vm.at("max_memory_bytes").is_number_unsigned());
  EXPECT_TRUE(vm.at("disks").is_array());
  for (const auto& d : vm["disks"])
    for (const char* k :
         {"target", "path", "format", "device", "capacity_bytes", "allocation_bytes"})
      EXPECT_TRUE(d.contains(k)) << k;
  EXPECT_TRUE(vm.at("nics").is_array());
  for (const auto& n : vm["nics"])
    for (const char* k : {"mac", "network", "model"}) EXPECT_TRUE(n.contains(k)) << k;
  EXPECT_TRUE(vm.at("host").is_string());
  EXPECT_TRUE(vm.at("guest_os").is_string());
  EXPECT_TRUE(vm.at("persistent").is_boolean());
  EXPECT_TRUE(vm.at("autostart").is_boolean() || vm["autostart"].is_null());
  EXPECT_TRUE(vm.at("extras").is_object());
  EXPECT_TRUE(vm.at("disk_bytes").is_number_unsigned());
  std::uint64_t disks = 0;
  for (const auto& d : vm["disks"])
    if (d.value("device", "disk") != "cdrom") disks += d["capacity_bytes"].get<std::uint64_t>();
  EXPECT_EQ(vm["disk_bytes"], disks);
  EXPECT_EQ(vm.size(), 16u) << vm.dump();
}

// list -o json is written VM by VM; the text is what dump(2) makes of the
// whole document, byte for byte, for many VMs, for hostile names and for none.
TEST(CliList, JsonIsTheDocumentsOwnTextVmByVm) {
  TempDir dir;
  std::string xml = "<node>\n";
  // (libvirt refuses a line break in a name.)
  const std::vector<std::string> names = {"plain",       "quote\"d", "amp&lt;lt&gt;", "ünï",
                                          "back\\slash", "$(x);y",   "sp ace"};
  for (const auto& n : names)
    xml += "<domain type='test'><name>" + n +
           "</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64'>hvm</type></os></domain>\n";
  xml += "</node>\n";
  const auto file = dir.path() / "node.xml";
  std::ofstream(file) << xml;
  const std::string uri = "test://" + file.string();
  for (const std::vector<std::string>& filter :
       {std::vector<std::string>{}, {"--name", "plain"}, {"--name", "nothing*"}}) {
    std::vector<std::string> args = {"-c", uri, "-o", "json", "list"};
    args.insert(args.end(), filter.begin(), filter.end());
    const auto r = run(args);
    expect_ok(r);
    const auto doc = nlohmann::ordered_json::parse(r.out);
    EXPECT_EQ(doc.dump(2) + "\n", r.out);
    EXPECT_EQ(doc["vms"].size(), filter.empty()         ? names.size()
                                 : filter[1] == "plain" ? 1u
                                                        : 0u)
        << r.out;
  }
}

TEST(CliList, CsvHasHeaderAndOneRowPerVm) {
  const auto r = run({"-c", kDefault, "-o", "csv", "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r;
  EXPECT_EQ(lines[0].rfind("id,name,state,", 0), 0u) << r;
  EXPECT_NE(lines[1].find(",test,running,"), std::string::npos) << r;
}

TEST(CliList, YamlQuotesEveryString) {
  const auto r = run({"-c", kDefault, "-o", "yaml", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("schema: \"hyperctl.vm-list/1\"\n"), std::string::npos) << r;
  EXPECT_NE(r.out.find("vms:\n  - id: \""), std::string::npos) << r;
  EXPECT_NE(r.out.find("    name: \"test\"\n"), std::string::npos) << r;
  EXPECT_NE(r.out.find("    state: \"running\"\n"), std::string::npos) << r;
}

TEST(CliList, StateAndNameFilters) {
  auto r = run({"-c", kDefault, "-o", "json", "list", "--state", "off,paused"});
  expect_ok(r);
  EXPECT_TRUE(json::parse(r.out).at("vms").empty()) << r;
  r = run({"-c", kDefault, "-o", "json", "list", "--state", "running", "--name", "t?s*"});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("vms").size(), 1u) << r;
  r = run({"-c", kDefault, "-o", "json", "list", "--name", "nope*"});
  expect_ok(r);
  EXPECT_TRUE(json::parse(r.out).at("vms").empty()) << r;
}

TEST(CliList, UnknownStateIsAUsageError) {
  expect_error(run({"-c", kDefault, "list", "--state", "sleeping"}), 2, "sleeping");
}

TEST(CliList, UriComesFromEnvironmentWhenNoOption) {
  const auto r = run({"-o", "json", "list"}, with_env({{"HYPERCTL_URI", kDefault}}));
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("uri"), kDefault);
}

TEST(CliList, OptionWinsOverEnvironment) {
  const auto r =
      run({"-c", kDefault, "-o", "json", "list"}, with_env({{"HYPERCTL_URI", "bogus:///nowhere"}}));
  expect_ok(r);
}

TEST(CliList, NoUriAtAllIsAUsageError) {
  expect_error(run({"list"}), 2, "HYPERCTL_URI");
}

// ------------------------------------------------------- node file names --

// A VM named like a spreadsheet formula stays text in -o csv.
TEST(CliNodeFile, CsvNeutralisesNamesASpreadsheetWouldRun) {
  TempDir dir;
  std::string domains;
  const std::vector<std::string> names = {
      "=HYPERLINK(\"x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "safe-name"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string esc;
    for (char ch : names[i]) {
      if (ch == '"')
        esc += "&quot;";
      else if (ch == '\t')
        esc += "&#9;";
      else
        esc += ch;
    }
    domains += "<domain type='test'><name>" + esc +
               "</name><uuid>8e3a4b7c-2222-4e2a-9c1d-00000000000" + std::to_string(i) +
               "</uuid><memory>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";
  }
  const std::string uri =
      "test://" + dir.write("node.xml", "<?xml version='1.0'?><node>" + domains + "</node>");
  const auto r = run({"-c", uri, "-o", "csv", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find(",\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\","), std::string::npos) << r;
  EXPECT_NE(r.out.find(",\"'+1+1\","), std::string::npos) << r;
  EXPECT_NE(r.out.find(",\"'-2+3\","), std::string::npos) << r;
  EXPECT_NE(r.out.find(",\"'@SUM(A1)\","), std::string::npos) << r;
  EXPECT_NE(r.out.find(",\"'\tTAB\","), std::string::npos) << r;
  EXPECT_NE(r.out.find(",safe-name,"), std::string::npos) << r;
  // No line has a field that starts with a formula character unquoted.
  for (const char* bad : {",=", ",+", ",-2", ",@", "\n=", "\n+", "\n@"})
    EXPECT_EQ(r.out.find(bad), std::string::npos) << bad << " in " << r.out;
}

TEST(CliNodeFile, HostileAndNonAsciiNamesStayData) {
  TempDir dir;
  const std::string uri = "test://" + dir.write("node.xml", node_xml());

  auto r = run({"-c", uri, "-o", "json", "list"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  std::set<std::string> names;
  for (const auto& vm : doc.at("vms")) names.insert(vm.at("name").get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{kHostileName, kUnicodeName, "plain"})) << r;

  r = run({"-c", uri, "-o", "yaml", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("name: \"web<1>&'\\\"x\"\n"), std::string::npos) << r;
  EXPECT_NE(r.out.find("name: \"" + kUnicodeName + "\"\n"), std::string::npos) << r;

  r = run({"-c", uri, "-o", "csv", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find(",\"web<1>&'\"\"x\","), std::string::npos) << r;
  EXPECT_NE(r.out.find("," + kUnicodeName + ","), std::string::npos) << r;

  r = run({"-c", uri, "-o", "json", "info", kHostileName});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("name"), kHostileName);
  EXPECT_EQ(json::parse(r.out).at("vcpus"), 2);
}

TEST(CliNodeFile, TableColumnsAlignByDisplayWidth) {
  TempDir dir;
  const std::string uri = "test://" + dir.write("node.xml", node_xml());
  const auto r = run({"-c", uri, "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r;
  const std::size_t state_col = columns(lines[0].substr(0, lines[0].find("STATE")));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto pos = lines[i].find("running");
    ASSERT_NE(pos, std::string::npos) << lines[i];
    EXPECT_EQ(columns(lines[i].substr(0, pos)), state_col) << r;
  }
}

TEST(CliNodeFile, ControlCharactersInNamesCannotBreakTheTable) {
  TempDir dir;
  const std::string uri = "test://" + dir.write("node.xml", R"(<?xml version="1.0"?>
<node>
  <domain type="test">
    <name>evil&#10;name&#9;tab&#x202E;rtl</name>
    <memory>1048576</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
</node>
)");
  auto r = run({"-c", uri, "list"});
  expect_ok(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r;
  EXPECT_EQ(lines[1].rfind("evil\\nname\\ttab\\u202ertl  running", 0), 0u) << r;

  r = run({"-c", uri, "-o", "yaml", "list"});
  expect_ok(r);
  EXPECT_NE(r.out.find("name: \"evil\\nname\\ttab\\u202Ertl\"\n"), std::string::npos) << r;

  r = run({"-c", uri, "-o", "json", "list"});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out)["vms"][0]["name"], "evil\nname\ttab\u202Ertl");
}

// ------------------------------------------------------------------ info --

TEST(CliInfo, TableShowsFields) {
  const auto r = run({"-c", kDefault, "info", "test"});
  expect_ok(r);
  EXPECT_NE(r.out.find("Name:"), std::string::npos) << r;
  EXPECT_NE(r.out.find("test"), std::string::npos) << r;
  EXPECT_NE(r.out.find("running"), std::string::npos) << r;
}

TEST(CliInfo, JsonIsTheVmSchema) {
  const auto r = run({"-c", kDefault, "-o", "json", "info", "test"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.vm/1");
  EXPECT_EQ(doc.at("name"), "test");
  EXPECT_EQ(doc.at("state"), "running");
  EXPECT_TRUE(doc.at("disks").is_array());
}

TEST(CliInfo, ByIdFindsTheSameVm) {
  const auto list = run({"-c", kDefault, "-o", "json", "list"});
  expect_ok(list);
  const std::string id = json::parse(list.out)["vms"][0]["id"];
  const auto r = run({"-c", kDefault, "-o", "json", "info", id});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("name"), "test");
}

TEST(CliInfo, UnknownVmIsNotFound) {
  expect_error(run({"-c", kDefault, "info", "nosuch"}), 3, "nosuch");
}

TEST(CliInfo, JsonErrorsGoToStderrAndStdoutStaysEmpty) {
  expect_error(run({"-c", kDefault, "-o", "json", "info", "nosuch"}), 3);
}

TEST(CliInfo, DebugAddsOneDetailLine) {
  const auto r = run({"-c", kDefault, "--debug", "info", "nosuch"});
  EXPECT_EQ(r.status, 3) << r;
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 2u) << r;
  EXPECT_EQ(lines[0].rfind("hyperctl: error: ", 0), 0u);
  EXPECT_EQ(lines[1].rfind("hyperctl: debug: ", 0), 0u);
  EXPECT_NE(lines[1].find("not-found"), std::string::npos) << r;
}

// ------------------------------------------------------------- lifecycle --

TEST(CliLifecycle, StartingARunningVmIsAConflict) {
  expect_error(run({"-c", kDefault, "start", "test"}), 5);
}

TEST(CliLifecycle, PowerOffSucceeds) {
  const auto r = run({"-c", kDefault, "poweroff", "test"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'test' powered off\n");
}

TEST(CliLifecycle, PowerOffJsonResult) {
  const auto r = run({"-c", kDefault, "-o", "json", "poweroff", "test"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.result/1");
  EXPECT_EQ(doc.at("operation"), "vm.poweroff");
  EXPECT_EQ(doc.at("vm"), "test");
}

TEST(CliLifecycle, ShutdownPrintsAResultLine) {
  const auto r = run({"-c", kDefault, "shutdown", "test", "--timeout", "10"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'test' shut down\n");
}

TEST(CliLifecycle, SuspendThenResumeNeedsTwoProcessesSoResumeIsAConflict) {
  expect_ok(run({"-c", kDefault, "suspend", "test"}));
  expect_error(run({"-c", kDefault, "resume", "test"}), 5);
}

TEST(CliLifecycle, ActionsOnUnknownVmAreNotFound) {
  for (const char* cmd : {"start", "poweroff", "reboot", "reset", "suspend", "resume", "save",
                          "shutdown", "export-config", "delete"}) {
    SCOPED_TRACE(cmd);
    expect_error(run({"-c", kDefault, cmd, "nosuch"}), 3);
  }
}

TEST(CliLifecycle, ExportConfigPrintsNativeXml) {
  const auto r = run({"-c", kDefault, "export-config", "test"});
  expect_ok(r);
  EXPECT_NE(r.out.find("<domain"), std::string::npos) << r;
  EXPECT_NE(r.out.find("<name>test</name>"), std::string::npos) << r;
}

TEST(CliLifecycle, SetWithoutAnythingIsAUsageError) {
  expect_error(run({"-c", kDefault, "set", "test"}), 2, "nothing to set");
}

TEST(CliLifecycle, AutostartTakesOnOrOff) {
  expect_error(run({"-c", kDefault, "autostart", "test", "maybe"}), 2);
}

// ----------------------------------------------------------------- create --

TEST(CliCreate, BadMemorySizeIsAUsageErrorNamingIt) {
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--memory", "12Q"}), 2, "12Q");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--memory", "-1G"}), 2, "-1G");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--memory=-1G"}), 2, "-1G");
}

TEST(CliCreate, BadSizeIsReportedBeforeAnyConnection) {
  // No URI at all: the size is still what gets reported.
  expect_error(run({"create", "--name", "x", "--memory", "12Q"}), 2, "12Q");
}

TEST(CliCreate, BadDiskSizeIsAUsageError) {
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--disk", "10Q"}), 2, "10Q");
}

TEST(CliCreate, MissingNameIsAUsageError) {
  expect_error(run({"-c", kDefault, "create", "--memory", "1G"}), 2, "--name");
}

// ----------------------------------------------------------------- define --

TEST(CliDefine, MissingFileIsNotFound) {
  expect_error(run({"-c", kDefault, "define", "/nonexistent.xml"}), 3, "/nonexistent.xml");
}

TEST(CliDefine, InvalidXmlIsInvalidArgument) {
  TempDir dir;
  const auto file = dir.write("bad.xml", "<domain type='test'><name>broken</nam");
  expect_error(run({"-c", kDefault, "define", file}), 2);
}

TEST(CliDefine, InvalidXmlOnStdinIsInvalidArgument) {
  expect_error(run({"-c", kDefault, "define", "-"}, with_input("this is not xml")), 2);
}

TEST(CliDefine, EmptyInputIsInvalidArgument) {
  expect_error(run({"-c", kDefault, "define", "-"}), 2, "empty");
}

TEST(CliDefine, ValidXmlFromStdinDefinesTheVm) {
  const std::string xml =
      "<domain type='test'><name>fresh</name><memory>131072</memory><vcpu>1</vcpu>"
      "<os><type>hvm</type></os></domain>";
  const auto r = run({"-c", kDefault, "-o", "json", "define", "-"}, with_input(xml));
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.vm/1");
  EXPECT_EQ(doc.at("name"), "fresh");
  EXPECT_EQ(doc.at("state"), "off");
}

// ------------------------------------------------------------------- uris --

TEST(CliUri, UnknownSchemeIsUnsupported) {
  expect_error(run({"-c", "bogus:///x", "list"}), 4, "bogus");
}

TEST(CliUri, MalformedUrisAreUsageErrors) {
  for (const char* uri : {"qemu:/x", "://", "", "qemu://user:secret@host/system"}) {
    SCOPED_TRACE(uri);
    const auto r = run({"-c", uri, "list"});
    expect_error(r, 2);
    EXPECT_EQ(r.err.find("secret"), std::string::npos) << r;
  }
}

// ---------------------------------------------------------------- version --

TEST(CliVersion, LoadsNoPluginAndStartsFast) {
  TempDir empty;
  TempDir junk;
  junk.write("libhyperctl-libvirt.so", "this is not an ELF file");
  junk.write("libhyperctl-junk.so",
             "\x7f"
             "ELF garbage");
  // A FIFO would block anyone who tried to open it as a plugin.
  ASSERT_EQ(mkfifo((junk.path() / "libhyperctl-fifo.so").c_str(), 0600), 0);
  std::chrono::microseconds best = std::chrono::seconds(10);
  for (int i = 0; i < 5; ++i) {
    const auto r = run({"--plugin-dir", junk.path().string(), "version"},
                       with_env({{"HYPERCTL_PLUGIN_PATH", empty.path().string()}}));
    expect_ok(r);
    EXPECT_EQ(r.out.rfind("hyperctl ", 0), 0u) << r;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r;
    best = std::min(best, r.elapsed);
  }
  RecordProperty("best_startup_us", static_cast<int>(best.count()));
  // The requirement is "well under 10 ms"; spawn overhead on a loaded CI
  // machine is allowed for, but a plugin load or connection would not fit.
  // Under ASan the runtime alone takes ~60 ms to start (shadow memory, the
  // instrumented libraries); the FIFO above still proves no plugin is opened.
  const long budget_us = HYPERCTL_TEST_SANITIZED ? 4 * 50'000 : 50'000;
  EXPECT_LT(best.count(), budget_us) << "best of 5: " << best.count() << " us";
}

TEST(CliVersion, JsonVersion) {
  const auto r = run({"-o", "json", "version"});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("schema"), "hyperctl.version/1");
}

// --------------------------------------------------------------- backends --

TEST(CliBackends, ListsLibvirtWithItsSchemes) {
  const auto r = run({"backends"});
  expect_ok(r);
  bool found = false;
  for (const auto& l : lines_of(r.out))
    if (l.rfind("libvirt ", 0) == 0) {
      found = true;
      EXPECT_NE(l.find("test"), std::string::npos) << l;
      EXPECT_NE(l.find("qemu"), std::string::npos) << l;
    }
  EXPECT_TRUE(found) << r;
  EXPECT_NE(r.out.find("OPERATION"), std::string::npos) << r;
  EXPECT_NE(r.out.find("vm.list"), std::string::npos) << r;
}

TEST(CliBackends, JsonHasPluginsAndCapabilities) {
  const auto r = run({"-o", "json", "backends"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.backends/1");
  bool found = false;
  for (const auto& p : doc.at("plugins")) {
    if (p.at("name") != "libvirt") continue;
    found = true;
    EXPECT_TRUE(p.at("loaded").get<bool>());
    EXPECT_EQ(p.at("abi"), hyperctl::kPluginAbi);
    const auto schemes = p.at("schemes").get<std::vector<std::string>>();
    EXPECT_NE(std::find(schemes.begin(), schemes.end(), "test"), schemes.end());
    const auto caps = p.at("capabilities").get<std::vector<std::string>>();
    EXPECT_NE(std::find(caps.begin(), caps.end(), "vm.list"), caps.end());
  }
  EXPECT_TRUE(found) << r;
}

TEST(CliBackends, BrokenPluginIsReportedNotFatal) {
  TempDir junk;
  junk.write("libhyperctl-junk.so", "not a library");
  const auto r = run({"--plugin-dir", junk.path().string(), "-o", "json", "backends"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  bool found = false;
  for (const auto& p : doc.at("plugins"))
    if (p.at("path").get<std::string>().find("junk") != std::string::npos) {
      found = true;
      EXPECT_FALSE(p.at("loaded").get<bool>());
      EXPECT_TRUE(p.at("error").is_string());
    }
  EXPECT_TRUE(found) << r;
}

// ------------------------------------------------------------------ usage --

TEST(CliUsage, HelpExitsZero) {
  const auto r = run({"--help"});
  expect_ok(r);
  EXPECT_NE(r.out.find("list"), std::string::npos);
}

TEST(CliUsage, NoCommandIsAUsageError) {
  expect_error(run({}), 2);
}

TEST(CliUsage, UnknownCommandIsAUsageError) {
  expect_error(run({"frobnicate"}), 2);
}

TEST(CliUsage, UnknownOutputFormatIsAUsageError) {
  expect_error(run({"-c", kDefault, "-o", "xml", "list"}), 2, "xml");
}

TEST(CliUsage, MissingVmArgumentIsAUsageError) {
  expect_error(run({"-c", kDefault, "info"}), 2);
}

}  // namespace
