// The toy backend offers only vm.list and vm.get: every other operation must
// fail with ErrorCode::Unsupported naming the backend and the operation,
// through the core's one central path.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "plugin_dirs.hpp"

namespace hyperctl {
namespace {

struct Call {
  std::string operation;
  std::function<void(Connection&)> invoke;
};

std::vector<Call> unsupported_calls() {
  return {
      {"vm.start", [](Connection& c) { c.vms().start("alpha"); }},
      {"vm.poweroff", [](Connection& c) { c.vms().power_off("alpha"); }},
      {"vm.create", [](Connection& c) { c.vms().create(VmSpec{}); }},
      {"vm.export-config", [](Connection& c) { c.vms().export_config("alpha"); }},
      {"snapshot.list", [](Connection& c) { c.snapshots().list("alpha"); }},
      {"snapshot.create", [](Connection& c) { c.snapshots().create("alpha", {}); }},
      {"pool.list", [](Connection& c) { c.storage().list_pools(); }},
      {"volume.list", [](Connection& c) { c.storage().list_volumes("default"); }},
      {"network.list", [](Connection& c) { c.networks().list(); }},
      {"host.info", [](Connection& c) { c.host().info(); }},
  };
}

class ToyUnsupported : public ::testing::Test {
 protected:
  test::ScopedEnv no_env_path_{"HYPERCTL_PLUGIN_PATH", std::nullopt};
  Registry registry_{{test::plugin_dir("good")}};
};

TEST_F(ToyUnsupported, StartFailsAsUnsupportedNamingTheBackendAndTheOperation) {
  auto conn = registry_.open("toy:///");
  try {
    conn->vms().start("alpha");
    FAIL() << "vm.start returned on a backend that does not offer it";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_EQ(e.operation(), "vm.start");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("toy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vm.start"), std::string::npos) << msg;
  }
}

TEST_F(ToyUnsupported, EveryOperationTheToyLacksFailsAsUnsupported) {
  auto conn = registry_.open("toy:///");
  const Capabilities caps = registry_.backend_for("toy").capabilities();
  for (const auto& call : unsupported_calls()) {
    SCOPED_TRACE(call.operation);
    const auto op = parse_operation(call.operation);
    ASSERT_TRUE(op.has_value());
    EXPECT_FALSE(caps.has(*op)) << "the toy declares " << call.operation;
    try {
      call.invoke(*conn);
      ADD_FAILURE() << call.operation << " returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
      EXPECT_EQ(e.operation(), call.operation);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("toy"), std::string::npos) << msg;
      EXPECT_NE(msg.find(call.operation), std::string::npos) << msg;
    }
  }
}

TEST_F(ToyUnsupported, WhatTheToyDeclaresItAlsoDoes) {
  auto conn = registry_.open("toy:///");
  const Capabilities caps = registry_.backend_for("toy").capabilities();
  EXPECT_EQ(caps.count(), 2u);
  ASSERT_TRUE(caps.has(Operation::VmList));
  ASSERT_TRUE(caps.has(Operation::VmGet));
  EXPECT_EQ(conn->vms().list({}).size(), 2u);
  VmFilter running;
  running.states = {VmState::Running};
  const auto vms = conn->vms().list(running);
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].name, "alpha");
  EXPECT_EQ(conn->vms().get("00000000-0000-4000-8000-000000000002").name, "beta");
}

}  // namespace
}  // namespace hyperctl
