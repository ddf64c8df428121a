// The JSON records the Hyper-V backend reads from PowerShell's answers: the
// input is the answer document (framed and base64-encoded here as the
// scripts send it), read by parse_response and then by the code that turns
// VM and host records into VmInfo and HostInfo.
#include <chrono>
#include <cstdint>

#include "connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"
#include "ops.hpp"
#include "powershell.hpp"
#include "record.hpp"
#include "support.hpp"

using namespace hyperctl;
using namespace hyperctl::hyperv;

namespace {

// Never runs: describe() only reads the record it is given.
const HypervConnection& connection() {
  static const HypervConnection c(
      Uri::parse("hyperv://fuzz-host/"),
      PowerShell(process::Runner(), "/nonexistent/pwsh", std::chrono::seconds(1)), "fuzz-host");
  return c;
}

void read_records(const nlohmann::json& result) {
  if (!result.is_object()) return;
  if (const auto vms = result.find("vms"); vms != result.end() && vms->is_array()) {
    for (const auto& vm : *vms) {
      const VmInfo info = connection().describe(vm);
      (void)guid_key(info.id);
    }
  }
  if (const auto vm = result.find("vm"); vm != result.end()) (void)connection().describe(*vm);
  if (const auto host = result.find("host"); host != result.end()) (void)host_info_of(*host);
  const std::string current = text_field(result, "current");
  const std::map<std::string, std::vector<std::string>> users = {{"c:\\vhds\\web.vhdx", {"web"}}};
  const auto each = [&](const char* key, const auto& read) {
    const auto items = result.find(key);
    if (items != result.end() && items->is_array())
      for (const auto& item : *items) read(item);
  };
  each("switches", [](const nlohmann::json& s) { (void)network_of(s); });
  each("snapshots", [&](const nlohmann::json& s) { (void)snapshot_of(s, current); });
  each("vhds", [&](const nlohmann::json& v) { (void)volume_of(v, "vhd", users); });
  if (result.contains("deleted") || result.contains("kept")) (void)delete_report(result);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  process::Result answer;
  answer.exit_code = 0;
  answer.out = "#hyperctl-result-begin\n" +
               base64_encode(std::string_view(reinterpret_cast<const char*>(data), size)) +
               "\n#hyperctl-result-end\n";
  nlohmann::json result;
  try {
    result = parse_response(answer, "vm.list", "");
  } catch (const Error& e) {
    fuzz::check(std::string(e.what()).find('\n') == std::string::npos,
                "a PowerShell failure is one line");
    return 0;
  }
  // Reading a record either works or is the backend's Error: never a
  // foreign exception (guarded() would turn it into an Internal error).
  try {
    read_records(result);
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::BackendFailure, "a bad record is BackendFailure");
  }
  return 0;
}
