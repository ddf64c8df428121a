// Reading PowerShell's VM records (HypervConnection::describe) without a
// process: whatever a host answers, a VmInfo or the backend's Error, never
// a JSON exception or undefined behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

using json = nlohmann::json;

const HypervConnection& connection() {
  // Never runs PowerShell: describe() only reads the record given.
  static const HypervConnection c(
      Uri::parse("hyperv://hv01/"),
      PowerShell(process::Runner(), "/nonexistent/pwsh", std::chrono::seconds(1)), "hv01");
  return c;
}

TEST(HypervRecord, DescribesAVmRecord) {
  const VmInfo info = connection().describe(json::parse(R"({
      "Id": "2a3b4c5d-1111-2222-3333-444455556666", "Name": "web", "State": 2,
      "ProcessorCount": 2, "MemoryAssigned": 2147483648,
      "HardDrives": [{"Path": "C:\\VHDs\\web.vhdx", "ControllerType": 1,
                      "ControllerNumber": 0, "ControllerLocation": 1}]})"));
  EXPECT_EQ(info.name, "web");
  EXPECT_EQ(info.vcpus, 2u);
  EXPECT_EQ(info.memory_bytes, 2147483648u);
  ASSERT_EQ(info.disks.size(), 1u);
  EXPECT_EQ(info.disks[0].target, "scsi0:1");
}

// fuzz/regressions/hyperv_json/vm-record-not-an-object: value() on a number
// threw json::type_error, which guarded() reported as an Internal error.
TEST(HypervRecord, ARecordThatIsNoObjectIsBackendFailure) {
  for (const char* record : {"1", "\"web\"", "[]", "null"}) {
    try {
      (void)connection().describe(json::parse(record));
      ADD_FAILURE() << record << " was described";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BackendFailure) << record;
      EXPECT_NE(std::string(e.what()).find("not an object"), std::string::npos) << e.what();
    }
  }
}

TEST(HypervRecord, DrivesAndAdaptersThatAreNoObjectsAreSkipped) {
  const VmInfo info = connection().describe(
      json::parse(R"({"Name": "web", "HardDrives": [1, "x"], "NetworkAdapters": [null]})"));
  EXPECT_TRUE(info.disks.empty());
  EXPECT_TRUE(info.nics.empty());
}

// fuzz/regressions/hyperv_json/number-past-2-64: casting 1e300 to an
// integer is undefined behaviour (UBSan: "outside the range of
// representable values").
TEST(HypervRecord, NumbersOutOfRangeReadAsZero) {
  const json record = json::parse(R"({"ProcessorCount": 1e300, "MemoryAssigned": 1.9e19,
      "MemoryStartup": -5, "HardDrives": [{"ControllerType": 1e300, "ControllerNumber": 1e20}]})");
  EXPECT_EQ(number_field(record, "ProcessorCount"), 0u);
  EXPECT_EQ(number_field(record, "MemoryAssigned"), 0u);
  EXPECT_EQ(number_field(record, "MemoryStartup"), 0u);
  const VmInfo info = connection().describe(record);
  EXPECT_EQ(info.vcpus, 0u);
  EXPECT_EQ(info.memory_bytes, 0u);
  ASSERT_EQ(info.disks.size(), 1u);
  EXPECT_EQ(info.disks[0].target, "pmem0:0");
}

// fuzz/regressions/hyperv_json/switch-not-an-object,
// delete-report-kept-not-an-object: value() on a number threw
// json::type_error (an Internal error once through guarded()).
TEST(HypervRecord, ASwitchOrDeleteReportThatIsNoObjectIsBackendFailure) {
  const auto backend_failure = [](const auto& read, const char* what) {
    try {
      read();
      ADD_FAILURE() << what << " was read";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BackendFailure) << what;
      EXPECT_NE(std::string(e.what()).find("not an object"), std::string::npos) << e.what();
    }
  };
  backend_failure([] { (void)network_of(json(1)); }, "switch 1");
  backend_failure([] { (void)delete_report(json::parse(R"({"kept": [1]})")); }, "kept 1");
  backend_failure([] { (void)delete_report(json::array()); }, "report []");
  const Network n = network_of(json::parse(R"({"Name": "LAN", "SwitchType": 2})"));
  EXPECT_EQ(n.forward_mode, "external");
  const DeleteReport r =
      delete_report(json::parse(R"({"deleted": ["C:\\a.vhdx"], "kept": [{"path": "C:\\b.vhdx",
                                   "used_by": ["web"]}]})"));
  EXPECT_EQ(r.deleted.size(), 1u);
  ASSERT_EQ(r.kept.size(), 1u);
}

}  // namespace
}  // namespace hyperctl::hyperv
