// Networks and host facts on two targets (test:///default and the real
// libvirtd at $HYPERCTL_TEST_QEMU_URI, skipped when unset). On the real
// daemon an isolated network (bridge only, no <ip>: no dnsmasq needed) is
// defined with virsh, since the contract has no network definition.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "hyperctl/connection.hpp"
#include "support.hpp"
#include "target.hpp"

namespace hyperctl::test {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

/// Runs virsh with fixed arguments (names built here, never user input).
int virsh(const std::string& uri, const std::string& args) {
  return std::system(("virsh -q -c '" + uri + "' " + args + " >/dev/null 2>&1").c_str());
}

class NetworksAndHost : public LibvirtTargetTest {
 protected:
  NetworksAndHost() : LibvirtTargetTest({DeleteOptions{true, true}}) {}

  void cleanup() override {
    if (!defined_net_.empty()) {
      virsh(uri_, "net-destroy " + defined_net_);
      virsh(uri_, "net-undefine " + defined_net_);
    }
  }

  NetworkOps& nets() { return conn_->networks(); }

  /// A network to work on: the test driver's "default"; on the real daemon
  /// an isolated bridge-only network defined (inactive) for this test.
  std::string network_under_test() {
    if (!real()) return "default";
    defined_net_ = "hyperctl-test-net-" + std::to_string(getpid());
    const std::string file = "/tmp/" + defined_net_ + ".xml";
    std::ofstream(file) << "<network><name>" << defined_net_ << "</name><bridge name='hctbr"
                        << (getpid() % 100000) << "'/></network>\n";
    const int rc = virsh(uri_, "net-define " + file);
    std::remove(file.c_str());
    if (rc != 0) {
      defined_net_.clear();
      return {};
    }
    return defined_net_;
  }

  std::string defined_net_;
};

const Network* find(const std::vector<Network>& list, const std::string& name) {
  for (const auto& n : list)
    if (n.name == name) return &n;
  return nullptr;
}

TEST_P(NetworksAndHost, ListShowsEveryFieldOfTheNetwork) {
  const auto name = network_under_test();
  if (name.empty()) GTEST_SKIP() << "virsh net-define failed on " << uri_;
  auto list = nets().list();
  const Network* n = find(list, name);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->id.size(), 36u);
  ASSERT_TRUE(n->autostart.has_value());
  EXPECT_TRUE(n->vms.empty()) << "list() does not fill vms";
  if (real()) {
    EXPECT_FALSE(n->active);
    EXPECT_EQ(n->forward_mode, "isolated");
    EXPECT_EQ(n->bridge, "hctbr" + std::to_string(getpid() % 100000));
    EXPECT_EQ(n->address, "");
    EXPECT_EQ(n->dhcp_start, "");
  } else {
    EXPECT_TRUE(n->active);
    EXPECT_EQ(n->forward_mode, "nat");
    EXPECT_EQ(n->bridge, "virbr0");
    EXPECT_EQ(n->address, "192.168.122.1/24");  // from netmask 255.255.255.0
    EXPECT_EQ(n->dhcp_start, "192.168.122.2");
    EXPECT_EQ(n->dhcp_end, "192.168.122.254");
  }
  EXPECT_EQ(nets().get(name).name, name);
}

TEST_P(NetworksAndHost, StopAndStartChangeTheStateAndRefuseRepeats) {
  const auto name = network_under_test();
  if (name.empty()) GTEST_SKIP() << "virsh net-define failed on " << uri_;
  if (real()) {
    // Starting creates a bridge device: it needs CAP_NET_ADMIN in this sandbox.
    auto err = error_of([&] { nets().start(name); });
    if (err) GTEST_SKIP() << "networks cannot start here: " << err->what();
  }
  ASSERT_TRUE(nets().get(name).active);
  EXPECT_ERROR_CODE(nets().start(name), ErrorCode::Conflict);
  EXPECT_TRUE(nets().get(name).active);
  nets().stop(name);
  EXPECT_FALSE(nets().get(name).active);
  EXPECT_ERROR_CODE(nets().stop(name), ErrorCode::Conflict);
  EXPECT_FALSE(nets().get(name).active);
  nets().start(name);
  EXPECT_TRUE(nets().get(name).active);
}

TEST_P(NetworksAndHost, InfoNamesTheVmsAttached) {
  const auto name = network_under_test();
  if (name.empty()) GTEST_SKIP() << "virsh net-define failed on " << uri_;
  VmSpec spec;
  spec.name = unique_name("net-vm");
  spec.memory_bytes = 32 * kMiB;
  spec.networks = {name};
  created_.push_back(spec.name);
  auto before = nets().get(name).vms;
  EXPECT_EQ(std::find(before.begin(), before.end(), spec.name), before.end());
  auto vm = conn_->vms().create(spec);
  ASSERT_EQ(vm.nics.size(), 1u);
  EXPECT_EQ(vm.nics[0].network, name);
  auto after = nets().get(name).vms;
  EXPECT_NE(std::find(after.begin(), after.end(), spec.name), after.end());
}

TEST_P(NetworksAndHost, UnknownNetworkIsNotFoundEverywhere) {
  const std::string ghost = "hyperctl-test-no-such-net";
  auto err = error_of([&] { nets().get(ghost); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::NotFound);
  EXPECT_EQ(std::string(err->what()), "network '" + ghost + "' not found on " + uri_);
  EXPECT_ERROR_CODE(nets().start(ghost), ErrorCode::NotFound);
  EXPECT_ERROR_CODE(nets().stop(ghost), ErrorCode::NotFound);
}

TEST_P(NetworksAndHost, HostFactsArePlausible) {
  const HostInfo h = conn_->host().info();
  EXPECT_FALSE(h.hostname.empty());
  EXPECT_GT(h.cpus, 0u);
  EXPECT_GT(h.sockets, 0u);
  EXPECT_GT(h.cores_per_socket, 0u);
  EXPECT_GT(h.threads_per_core, 0u);
  EXPECT_GT(h.memory_total_bytes, 0u);
  EXPECT_LE(h.memory_free_bytes, h.memory_total_bytes);
  EXPECT_FALSE(h.manager_version.empty());
  EXPECT_FALSE(h.guest_types.empty());
  if (real()) {
    EXPECT_EQ(h.hypervisor, "QEMU");
    EXPECT_FALSE(h.hypervisor_version.empty());
    EXPECT_EQ(h.arch, "x86_64");
    EXPECT_TRUE(h.cpu_vendor == "Intel" || h.cpu_vendor == "AMD" || h.cpu_vendor == "Hygon")
        << h.cpu_vendor;
    EXPECT_FALSE(h.cpu_model.empty());
    EXPECT_EQ(h.host_uuid.size(), 36u);
    EXPECT_NE(std::find(h.guest_types.begin(), h.guest_types.end(), "qemu"), h.guest_types.end());
    EXPECT_GT(h.memory_free_bytes, 0u);
    // The full feature set (model features expanded): every x86_64 CPU has these.
    for (const char* f : {"sse2", "nx", "lm"})
      EXPECT_NE(std::find(h.cpu_features.begin(), h.cpu_features.end(), f), h.cpu_features.end())
          << f;
    EXPECT_EQ(h.extras.at("nx"), "yes");
  } else {
    EXPECT_EQ(h.hypervisor, "TEST");
    EXPECT_EQ(h.arch, "i686");
    EXPECT_EQ(h.cpus, 16u);
    EXPECT_EQ(h.guest_types, std::vector<std::string>{"test"});
    EXPECT_EQ(h.extras.at("nx"), "unknown");
  }
}

HYPERCTL_INSTANTIATE_TARGETS(NetworksAndHost);

}  // namespace
}  // namespace hyperctl::test
