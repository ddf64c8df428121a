// Scenarios of the declared network, host and migration operations. A
// network is stopped only to be started again (or started only to be
// stopped again), and never while VMs are attached to it.
#include "suite.hpp"

namespace hyperctl::conformance::detail {

namespace {

bool listed(Case& c, const std::string& net) {
  for (const auto& n : c.networks().list())
    if (n.name == net) return true;
  return false;
}

/// A network it is safe to stop and start: nothing attached.
std::string idle_network(Case& c) {
  const std::string net = c.network();
  if (c.declared(Operation::NetworkInfo)) {
    const Network n = c.networks().get(net);
    if (!n.vms.empty())
      c.skip("network " + net + " has VMs attached (" + n.vms.front() + "...): not touching it");
  }
  return net;
}

void network_list(Case& c) {
  const auto all = c.networks().list();
  for (const auto& n : all) {
    EXPECT_FALSE(n.name.empty()) << "a listed network has no name";
  }
  if (!c.config().network.empty()) {
    EXPECT_TRUE(listed(c, c.config().network))
        << "network " << c.config().network << " is not listed";
  }
}

void network_info(Case& c) {
  const std::string net = c.network();
  const Network n = c.networks().get(net);
  EXPECT_EQ(n.name, net);
  if (c.declared(Operation::NetworkList)) {
    for (const auto& l : c.networks().list())
      if (l.name == net) {
        EXPECT_EQ(l.active, n.active) << "list and info agree";
      }
  }
  try {
    c.networks().get(c.name_for("missing"));
    ADD_FAILURE() << "network.info of a missing network succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
}

void network_start(Case& c) {
  c.need(Operation::NetworkStop, "to put the network back the way it was");
  const std::string net = idle_network(c);
  if (c.network_active(net)) {
    c.networks().stop(net);
    c.on_cleanup("start network " + net, [&c, net] {
      if (!c.network_active(net)) c.networks().start(net);
    });
    ASSERT_FALSE(c.network_active(net));
  } else {
    c.on_cleanup("stop network " + net, [&c, net] {
      if (c.network_active(net)) c.networks().stop(net);
    });
  }
  c.networks().start(net);
  EXPECT_TRUE(c.network_active(net));
}

void network_stop(Case& c) {
  c.need(Operation::NetworkStart, "to put the network back the way it was");
  const std::string net = idle_network(c);
  if (c.network_active(net)) {
    c.on_cleanup("start network " + net, [&c, net] {
      if (!c.network_active(net)) c.networks().start(net);
    });
  } else {
    c.networks().start(net);
    c.on_cleanup("stop network " + net, [&c, net] {
      if (c.network_active(net)) c.networks().stop(net);
    });
    ASSERT_TRUE(c.network_active(net));
  }
  c.networks().stop(net);
  EXPECT_FALSE(c.network_active(net));
}

void host_info(Case& c) {
  const HostInfo h = c.conn().host().info();
  EXPECT_FALSE(h.hostname.empty() && h.hypervisor.empty()) << "neither hostname nor hypervisor";
  EXPECT_GT(h.cpus, 0u) << "logical CPUs";
  EXPECT_GT(h.memory_total_bytes, 0u) << "total memory";
  EXPECT_LE(h.memory_free_bytes, h.memory_total_bytes);
}

void host_shutdown(Case& c) {
  if (!c.config().allow_host_shutdown)
    c.skip("host.shutdown stops the whole hypervisor; set Config::allow_host_shutdown to run it");
  c.conn().host().shutdown(false);
  if (!c.declared(Operation::VmList)) return;
  for (const VmInfo& vm : c.vms().list({}))
    EXPECT_TRUE(vm.state != VmState::Running && vm.state != VmState::Paused)
        << vm.name << " is still " << to_string(vm.state) << " after host.shutdown";
}

void migration(Case& c) {
  c.skip(c.op_name() + " needs a second host; the conformance suite runs against one URI");
}

}  // namespace

Scenario network_host_scenario(Operation op) {
  switch (op) {
    case Operation::NetworkList:
      return network_list;
    case Operation::NetworkInfo:
      return network_info;
    case Operation::NetworkStart:
      return network_start;
    case Operation::NetworkStop:
      return network_stop;
    case Operation::HostInfo:
      return host_info;
    case Operation::HostShutdown:
      return host_shutdown;
    case Operation::MigratePreflight:
    case Operation::MigrateLive:
    case Operation::MigrateOffline:
      return migration;
    default:
      return nullptr;
  }
}

}  // namespace hyperctl::conformance::detail
