#include <set>

#include <gtest/gtest.h>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/types.hpp"

using namespace hyperctl;

TEST(ErrorCodes, EachCodeHasItsOwnExitStatusAndName) {
  const ErrorCode all[] = {
      ErrorCode::NotFound,    ErrorCode::AlreadyExists, ErrorCode::InvalidArgument,
      ErrorCode::Unsupported, ErrorCode::AuthFailed,    ErrorCode::Unreachable,
      ErrorCode::Timeout,     ErrorCode::Conflict,      ErrorCode::BackendFailure,
      ErrorCode::Cancelled,   ErrorCode::Internal};
  std::set<int> statuses;
  std::set<std::string_view> names;
  for (auto c : all) {
    EXPECT_NE(exit_status(c), 0);
    statuses.insert(exit_status(c));
    names.insert(to_string(c));
  }
  EXPECT_EQ(statuses.size(), std::size(all));
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_EQ(exit_status(ErrorCode::InvalidArgument), 2);  // the usage-error status
  EXPECT_EQ(exit_status(ErrorCode::NotFound), 3);
}

TEST(ErrorCodes, ErrorCarriesCodeOperationAndDetail) {
  Error e(ErrorCode::Conflict, "VM 'a' is running", "vm.start", "libvirt said so");
  EXPECT_EQ(e.code(), ErrorCode::Conflict);
  EXPECT_STREQ(e.what(), "VM 'a' is running");
  EXPECT_EQ(e.operation(), "vm.start");
  EXPECT_EQ(e.detail(), "libvirt said so");
}

TEST(VmStates, NamesRoundTrip) {
  for (auto s : {VmState::Running, VmState::Paused, VmState::Suspended, VmState::Off,
                 VmState::Crashed, VmState::Transitional, VmState::Unknown}) {
    auto back = parse_vm_state(to_string(s));
    ASSERT_TRUE(back.has_value()) << to_string(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(parse_vm_state("shutoff").has_value());
}

TEST(CapabilitiesTable, OperationNamesAreUniqueAndParse) {
  std::set<std::string_view> names;
  for (auto op : all_operations()) {
    names.insert(to_string(op));
    EXPECT_EQ(parse_operation(to_string(op)), op);
  }
  EXPECT_EQ(names.size(), kOperationCount);
  EXPECT_FALSE(parse_operation("vm.fly").has_value());
  Capabilities caps{Operation::VmList, Operation::VmStart};
  EXPECT_TRUE(caps.has(Operation::VmStart));
  EXPECT_FALSE(caps.has(Operation::VmReset));
  EXPECT_EQ(caps.count(), 2u);
}

namespace {
class BareConnection : public Connection {
 public:
  BareConnection() : Connection("bare"), uri_(Uri::parse("bare:///")) {}
  const Uri& uri() const override { return uri_; }

 private:
  Uri uri_;
};

void expect_unsupported(const std::function<void()>& call, const std::string& op) {
  try {
    call();
    ADD_FAILURE() << op << " did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_EQ(e.operation(), op);
    EXPECT_NE(std::string(e.what()).find("bare"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(UnsupportedOperations, EveryGroupAnswersUnsupportedNamingBackendAndOperation) {
  BareConnection c;
  CancelToken cancel;
  expect_unsupported([&] { c.vms().list({}); }, "vm.list");
  expect_unsupported([&] { c.vms().start("x"); }, "vm.start");
  expect_unsupported([&] { c.vms().shutdown("x", {}, {}, cancel); }, "vm.shutdown");
  expect_unsupported([&] { c.vms().remove("x", {.with_storage = true}); }, "vm.delete-storage");
  expect_unsupported([&] { c.vms().remove("x", {}); }, "vm.delete");
  expect_unsupported([&] { c.snapshots().list("x"); }, "snapshot.list");
  expect_unsupported([&] { c.storage().list_pools(); }, "pool.list");
  expect_unsupported([&] { c.networks().list(); }, "network.list");
  expect_unsupported([&] { c.host().info(); }, "host.info");
  MigrationOptions offline;
  offline.mode = MigrationMode::Offline;
  expect_unsupported([&] { c.migration().migrate("x", c, offline, {}, cancel); },
                     "migrate.offline");
}

TEST(Cancellation, CopiesShareTheFlag) {
  CancelToken a;
  CancelToken b = a;
  EXPECT_FALSE(b.cancelled());
  a.cancel();
  EXPECT_TRUE(b.cancelled());
}
