// The PowerShell protocol layer without a process: base64, -EncodedCommand,
// the request line, reading a finished run (frame, errors, CLIXML), the error
// table and the state table.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include "ops.hpp"
#include "powershell.hpp"

namespace hyperctl {
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << to_string(code);
}
inline void PrintTo(VmState state, std::ostream* os) {
  *os << to_string(state);
}
}  // namespace hyperctl

namespace {

using namespace hyperctl;
using namespace hyperctl::hyperv;
using json = nlohmann::json;

Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error was thrown";
  return Error(ErrorCode::Internal, "none");
}

process::Result ran(const std::string& out, const std::string& err = "", int status = 0) {
  process::Result r;
  r.out = out;
  r.err = err;
  r.exit_code = status;
  return r;
}

std::string frame(const json& doc, const std::string& eol = "\r\n") {
  return "#hyperctl-result-begin" + eol + base64_encode(doc.dump()) + eol + "#hyperctl-result-end" +
         eol;
}

TEST(HypervBase64, MatchesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zg=="), "f");
}

TEST(HypervBase64, RoundTripsEveryByteAndEveryLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 1) {
    const std::string part = all.substr(all.size() - n);
    ASSERT_EQ(base64_decode(base64_encode(part)), part) << n;
  }
  EXPECT_EQ(base64_encode(all).find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
            std::string::npos);
}

TEST(HypervBase64, RefusesTextOutsideTheAlphabet) {
  for (const char* bad : {"Zm9v!", "Zm9", "Zm9vY", "Z===", "Zg==Zm9v", "Zm 9v", "Zm9v\n"})
    EXPECT_EQ(error_of([&] { base64_decode(bad); }).code(), ErrorCode::BackendFailure) << bad;
}

TEST(HypervEncodedCommand, IsBase64OfUtf16le) {
  // Made once by hand:
  //   printf '%s' "Write-Output 'Grüße, €uro 😀'" | iconv -f UTF-8 -t UTF-16LE | base64 -w0
  EXPECT_EQ(encoded_command("Write-Output 'Grüße, €uro 😀'"),
            "VwByAGkAdABlAC0ATwB1AHQAcAB1AHQAIAAnAEcAcgD8AN8AZQAsACAArCB1AHIAbwAgAD3YAN4nAA==");
  EXPECT_EQ(encoded_command(""), "");
}

TEST(HypervEncodedCommand, RefusesInvalidUtf8) {
  EXPECT_EQ(error_of([] {
              encoded_command(
                  "a\xff"
                  "b");
            }).code(),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([] { encoded_command("\xed\xa0\x80"); }).code(),
            ErrorCode::InvalidArgument);  // a lone surrogate
}

TEST(HypervEncodedCommand, TheBootstrapIsTheFileAsEmbedded) {
  std::ifstream in(std::string(HYPERCTL_TEST_HYPERV_SCRIPTS) + "/bootstrap.ps1", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(script_text("bootstrap"), file);
  PowerShell ps(process::Runner(), "powershell.exe", std::chrono::seconds(5));
  const auto argv = ps.argv();
  ASSERT_EQ(argv.size(), 8u);
  EXPECT_EQ(argv[0], "powershell.exe");
  EXPECT_EQ(argv[6], "-EncodedCommand");
  EXPECT_EQ(argv[7], encoded_command(file));
  // Every word is plain: the same under cmd.exe, PowerShell and sh.
  for (const auto& word : argv)
    EXPECT_EQ(word.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-."),
              std::string::npos)
        << word;
}

TEST(HypervScripts, EachIsEmbeddedVerbatimWithItsHeader) {
  const auto names = script_names();
  const std::set<std::string> have(names.begin(), names.end());
  for (const char* op : {"bootstrap",       "vm.list",         "vm.get",           "vm.create",
                         "vm.start",        "vm.save",         "vm.suspend",       "vm.resume",
                         "vm.shutdown",     "vm.poweroff",     "vm.reboot",        "vm.reset",
                         "vm.delete",       "vm.set",          "vm.export-config", "snapshot.list",
                         "snapshot.create", "snapshot.revert", "snapshot.delete",  "network.list",
                         "host.info"})
    EXPECT_TRUE(have.count(op)) << op;
  for (const auto& name : names) {
    std::ifstream in(std::string(HYPERCTL_TEST_HYPERV_SCRIPTS) + "/" + name + ".ps1",
                     std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(script_text(name), file) << name;
    if (name == "bootstrap") continue;
    EXPECT_EQ(file.rfind("# hyperctl-op: " + name + "\nparam($d)\n", 0), 0u) << name;
    // Values only as data: nothing evaluated, no wildcard -Name with a value.
    for (const char* banned :
         {"Invoke-Expression", "iex ", "-Name $d", "ScriptBlock]::Create", "ExpandString", "$($d"})
      EXPECT_EQ(file.find(banned), std::string::npos) << name << ": " << banned;
  }
  EXPECT_EQ(error_of([] { script_text("no.such-op"); }).code(), ErrorCode::Internal);
}

TEST(HypervRequest, IsOneBase64DocumentOfOpScriptAndData) {
  const json data = {{"id", "x"}, {"name", "it's $(rm -rf /) `n ‘q’ ü"}};
  const std::string line = request_line("vm.start", data);
  EXPECT_EQ(
      line.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
      std::string::npos);
  const json doc = json::parse(base64_decode(line));
  EXPECT_EQ(doc["op"], "vm.start");
  EXPECT_EQ(doc["script"], script_text("vm.start"));
  EXPECT_EQ(doc["data"], data);
  EXPECT_EQ(error_of([] {
              request_line("vm.start", {{"id", "\xff"}});
            }).code(),
            ErrorCode::InvalidArgument);
}

TEST(HypervResponse, ReturnsTheResultWhateverSurroundsTheFrame) {
  const json doc = {{"ok", true}, {"result", {{"vms", json::array({{{"Name", "a"}}})}}}};
  const std::string out =
      "Windows PowerShell\r\nWARNING: something\r\n" + frame(doc) + "trailing noise\r\n";
  EXPECT_EQ(parse_response(ran(out), "vm.list", ""), doc["result"]);
  EXPECT_EQ(parse_response(ran(frame(doc, "\n")), "vm.list", ""), doc["result"]);
  // A null result (a script that returned nothing) is an empty object.
  EXPECT_EQ(parse_response(ran(frame({{"ok", true}, {"result", nullptr}})), "vm.start", ""),
            json::object());
}

TEST(HypervResponse, NoFrameIsABackendFailureWithStandardError) {
  const Error e = error_of([] {
    parse_response(ran("some output\r\n", "boom: it broke\r\nline 2\r\n", 3), "vm.get", "'x'");
  });
  EXPECT_EQ(e.code(), ErrorCode::BackendFailure);
  EXPECT_NE(std::string(e.what()).find("boom: it broke"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("exit status 3"), std::string::npos) << e.what();
  EXPECT_NE(e.detail().find("line 2"), std::string::npos) << e.detail();
}

TEST(HypervResponse, TwoFramesOrAHalfFrameAreRefused) {
  const json doc = {{"ok", true}, {"result", json::object()}};
  EXPECT_EQ(error_of([&] { parse_response(ran(frame(doc) + frame(doc)), "vm.list", ""); }).code(),
            ErrorCode::BackendFailure);
  EXPECT_EQ(error_of([&] {
              parse_response(ran("#hyperctl-result-begin\r\n" + base64_encode(doc.dump())),
                             "vm.list", "");
            }).code(),
            ErrorCode::BackendFailure);
  EXPECT_EQ(error_of([&] {
              parse_response(ran("#hyperctl-result-begin\r\n!!!\r\n#hyperctl-result-end\r\n"),
                             "vm.list", "");
            }).code(),
            ErrorCode::BackendFailure);
  EXPECT_EQ(error_of([&] {
              parse_response(ran("#hyperctl-result-begin\r\n" + base64_encode("{not json") +
                                 "\r\n#hyperctl-result-end\r\n"),
                             "vm.list", "");
            }).code(),
            ErrorCode::BackendFailure);
  EXPECT_EQ(error_of([&] {
              parse_response(ran(frame({{"result", 1}})), "vm.list", "");
            }).code(),
            ErrorCode::BackendFailure);
}

// A hostile or broken host's answer nested 100,000 levels deep crashed
// hyperctl (a recursive dump of it for the message overflowed the stack).
TEST(HypervResponse, AnAnswerNestedTooDeepIsOneLineNotACrash) {
  const std::size_t depth = 100000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  for (const std::string& doc : {deep, "{\"ok\":true,\"result\":" + deep + "}"}) {
    const Error e = error_of([&] {
      parse_response(
          ran("#hyperctl-result-begin\r\n" + base64_encode(doc) + "\r\n#hyperctl-result-end\r\n"),
          "vm.list", "");
    });
    EXPECT_EQ(e.code(), ErrorCode::BackendFailure);
    EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_LE(e.detail().size(), 200u);
  }
  // As deep as a real answer gets, and well past it, is fine.
  json nested = json::object();
  for (int i = 0; i < 40; ++i) nested = json{{"n", nested}};
  const json ok = {{"ok", true}, {"result", nested}};
  EXPECT_EQ(parse_response(ran(frame(ok)), "vm.list", ""), nested);
}

TEST(HypervResponse, AnErrorDocumentThrowsTheMappedCodeWithThePowerShellMessage) {
  const json doc = {
      {"ok", false},
      {"error",
       {{"message", "Hyper-V was unable to find a virtual machine with id \"x\".\r\nmore"},
        {"category", "ObjectNotFound"},
        {"id", "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"},
        {"type", "Microsoft.HyperV.PowerShell.VirtualizationException"}}}};
  const Error e = error_of([&] { parse_response(ran(frame(doc)), "vm.get", "'web'"); });
  EXPECT_EQ(e.code(), ErrorCode::NotFound);
  EXPECT_EQ(e.operation(), "vm.get");
  EXPECT_NE(std::string(e.what()).find("'web'"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  EXPECT_NE(e.detail().find("unable to find a virtual machine"), std::string::npos);
  EXPECT_NE(e.detail().find("InvalidParameter,Microsoft.HyperV"), std::string::npos);
}

TEST(HypervResponse, ClixmlErrorLinesAreDecoded) {
  const std::string err =
      "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" "
      "xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"Error\">Get-VM : The "
      "term 'Get-VM' is not recognized &amp; &lt;so&gt; on_x000D__x000A_</S><S S=\"Error\">At "
      "line:1 char:1_x000D__x000A_</S><S S=\"warning\">not an error</S></Objs>";
  EXPECT_EQ(decode_stderr(err),
            "Get-VM : The term 'Get-VM' is not recognized & <so> on\r\nAt line:1 char:1");
  const Error e = error_of([&] { parse_response(ran("", err, 1), "vm.list", ""); });
  EXPECT_EQ(e.code(), ErrorCode::BackendFailure);
  EXPECT_NE(std::string(e.what()).find("is not recognized & <so> on"), std::string::npos)
      << e.what();
  EXPECT_EQ(e.detail().find("_x000D_"), std::string::npos) << e.detail();
  EXPECT_EQ(e.detail().find("not an error"), std::string::npos) << e.detail();
  EXPECT_EQ(decode_stderr("plain text\n"), "plain text");
}

struct ErrorRow {
  const char* category;
  const char* id;
  const char* type;
  ErrorCode code;
};

TEST(HypervErrors, TheTableMapsCategoriesThenIdsAndTypes) {
  const ErrorRow rows[] = {
      {"ObjectNotFound", "", "", ErrorCode::NotFound},
      {"ResourceExists", "", "", ErrorCode::AlreadyExists},
      {"InvalidArgument", "", "", ErrorCode::InvalidArgument},
      {"InvalidData", "", "", ErrorCode::InvalidArgument},
      {"InvalidOperation", "", "", ErrorCode::Conflict},
      {"ResourceUnavailable", "", "", ErrorCode::Conflict},
      {"ResourceBusy", "", "", ErrorCode::Conflict},
      {"PermissionDenied", "", "", ErrorCode::AuthFailed},
      {"SecurityError", "", "", ErrorCode::AuthFailed},
      {"AuthenticationError", "", "", ErrorCode::AuthFailed},
      {"ConnectionError", "", "", ErrorCode::Unreachable},
      {"OperationTimeout", "", "", ErrorCode::Timeout},
      {"OperationStopped", "", "", ErrorCode::Cancelled},
      {"NotImplemented", "", "", ErrorCode::Unsupported},
      {"NotInstalled", "", "", ErrorCode::Unsupported},
      {"WriteError", "", "", ErrorCode::BackendFailure},
      {"DeviceError", "", "", ErrorCode::BackendFailure},
      {"NotSpecified", "", "", ErrorCode::BackendFailure},
      {"", "", "", ErrorCode::BackendFailure},
      // The module missing: ObjectNotFound, but not the VM.
      {"ObjectNotFound", "CommandNotFoundException",
       "System.Management.Automation.CommandNotFoundException", ErrorCode::Unsupported},
      {"NotSpecified", "InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM", "",
       ErrorCode::Conflict},
      {"NotSpecified", "AccessDenied,Microsoft.HyperV.PowerShell.Commands.StartVM", "",
       ErrorCode::AuthFailed},
      {"NotSpecified", "", "System.UnauthorizedAccessException", ErrorCode::AuthFailed},
      {"NotSpecified", "", "System.Management.Automation.ItemNotFoundException",
       ErrorCode::NotFound},
      {"NotSpecified", "", "System.TimeoutException", ErrorCode::Timeout},
  };
  for (const auto& r : rows)
    EXPECT_EQ(map_error({{"category", r.category}, {"id", r.id}, {"type", r.type}}), r.code)
        << r.category << " " << r.id << " " << r.type;
  EXPECT_EQ(map_error(json()), ErrorCode::BackendFailure);
  EXPECT_EQ(map_error({{"category", 5}}), ErrorCode::BackendFailure);
}

struct StateRow {
  int number;
  const char* word;
  VmState state;
};

TEST(HypervStates, EveryValueOfBothNumberingsAndItsName) {
  const StateRow rows[] = {
      {1, "Other", VmState::Unknown},
      {2, "Running", VmState::Running},
      {3, "Off", VmState::Off},
      {4, "Stopping", VmState::Transitional},
      {6, "Saved", VmState::Suspended},
      {9, "Paused", VmState::Paused},
      {10, "Starting", VmState::Transitional},
      {11, "Reset", VmState::Transitional},
      {32773, "Saving", VmState::Transitional},
      {32776, "Pausing", VmState::Transitional},
      {32777, "Resuming", VmState::Transitional},
      {32779, "FastSaved", VmState::Suspended},
      {32780, "FastSaving", VmState::Transitional},
      {32781, "ForceShutdown", VmState::Transitional},
      {32782, "ForceReboot", VmState::Transitional},
      // WMI EnabledState v1.
      {32768, "Paused", VmState::Paused},
      {32769, "Suspended", VmState::Suspended},
  };
  for (const auto& r : rows) {
    std::string word;
    EXPECT_EQ(map_state(r.number, word), r.state) << r.number;
    EXPECT_EQ(word, r.word) << r.number;
    word.clear();
    EXPECT_EQ(map_state(std::string(r.word), word), r.state) << r.word;
    EXPECT_EQ(word, r.word);
  }
  std::string word;
  EXPECT_EQ(map_state("running", word), VmState::Running);  // any case
  EXPECT_EQ(map_state("Enabled", word), VmState::Running);  // WMI words
  EXPECT_EQ(map_state("Disabled", word), VmState::Off);
  EXPECT_EQ(map_state("Offline", word), VmState::Suspended);
  EXPECT_EQ(map_state("Quiesce", word), VmState::Paused);
}

TEST(HypervStates, UnknownValuesKeepTheirWord) {
  std::string word;
  EXPECT_EQ(map_state(32790, word), VmState::Unknown);
  EXPECT_EQ(word, "32790");
  EXPECT_EQ(map_state("RunningCritical", word), VmState::Unknown);
  EXPECT_EQ(word, "RunningCritical");
  EXPECT_EQ(map_state(json(), word), VmState::Unknown);
  EXPECT_EQ(word, "");
}

}  // namespace
