// inventory() through the real libvirt plugin: several test-driver hosts
// (node files), one host that accepts TCP connections and never answers (a
// listener in this test, as qemu+tcp://127.0.0.1:PORT/system) and one that
// refuses (a closed port). Every VM of the healthy hosts comes back, checked
// against libvirt's own listing of each host; the two bad hosts are error
// rows; the whole run ends within the deadline plus a margin.

#include <libvirt/libvirt.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "../common/expect_error.hpp"
#include "../common/net.hpp"
#include "hyperctl/fleet.hpp"

namespace hyperctl::fleet_test {
using test_net::refusing_port;
using test_net::SilentListener;
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fleet::HostStatus;

/// A test-driver host with `n` domains named PREFIX-NN in a mix of states.
std::string write_node(const fs::path& dir, const std::string& prefix, int n) {
  const fs::path file = dir / (prefix + ".xml");
  std::ofstream out(file);
  out << "<node>\n";
  const int states[] = {1, 5, 3, 5};  // running, shut off, paused, shut off
  for (int i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s-%02d", prefix.c_str(), i);
    out << "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        << "<name>" << name << "</name><memory unit='MiB'>" << 128 * (i + 1) << "</memory>"
        << "<vcpu>" << 1 + i % 3 << "</vcpu><os><type arch='x86_64'>hvm</type></os>"
        << "<devices><disk type='file' device='disk'><source file='/var/lib/libvirt/images/" << name
        << ".qcow2'/><target dev='vda' bus='virtio'/></disk></devices>"
        << "<test:runstate>" << states[i % 4] << "</test:runstate></domain>\n";
  }
  out << "</node>\n";
  return file.string();
}

/// The host's own listing, through libvirt directly.
std::set<std::string> libvirt_names(const std::string& uri) {
  std::set<std::string> names;
  virConnectPtr c = virConnectOpenReadOnly(uri.c_str());
  if (!c) {
    ADD_FAILURE() << "libvirt cannot open " << uri;
    return names;
  }
  virDomainPtr* doms = nullptr;
  const int n = virConnectListAllDomains(c, &doms, 0);
  for (int i = 0; i < n; ++i) {
    names.insert(virDomainGetName(doms[i]));
    virDomainFree(doms[i]);
  }
  free(doms);
  virConnectClose(c);
  return names;
}

class FleetLibvirt : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hyperctl-fleet-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    baseline_ = fleet::abandoned_jobs();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::size_t baseline_ = 0;
};

TEST_F(FleetLibvirt, InventoryOfHealthyStalledAndRefusingHosts) {
  auto registry = std::make_shared<Registry>();
  try {
    registry->backend_for("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "the libvirt plugin is not available: " << e.what();
  }
  SilentListener stalled;
  const unsigned refused = refusing_port();

  const std::vector<std::pair<std::string, int>> hosts = {{"alpha", 12}, {"beta", 7}, {"gamma", 0}};
  std::vector<fleet::Target> targets;
  for (const auto& [name, n] : hosts) {
    fleet::Target t;
    t.name = name;
    t.uri = "test://" + write_node(dir_, name, n);
    t.deadline = 3s;
    targets.push_back(t);
  }
  fleet::Target stall;
  stall.name = "stalled";
  stall.uri = "qemu+tcp://127.0.0.1:" + std::to_string(stalled.port()) + "/system";
  stall.deadline = 3s;
  fleet::Target refuse;
  refuse.name = "refusing";
  refuse.uri = "qemu+tcp://127.0.0.1:" + std::to_string(refused) + "/system";
  refuse.deadline = 3s;
  targets.insert(targets.begin() + 1, stall);
  targets.push_back(refuse);

  const auto t0 = Clock::now();
  const auto inv = fleet::inventory(registry, targets);
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, 3s + 1s) << "inventory did not end within the deadline plus a margin";
  EXPECT_GE(took, 3s - 50ms) << "the stalled host cannot have answered";

  ASSERT_EQ(inv.hosts.size(), targets.size());
  EXPECT_FALSE(inv.complete());
  for (std::size_t i = 0; i < targets.size(); ++i)
    EXPECT_EQ(inv.hosts[i].report.name, targets[i].name);
  // Every VM of each healthy host, as libvirt lists it there.
  for (std::size_t i : {0u, 2u, 3u}) {
    const auto& t = targets[i];
    const auto& h = inv.hosts[i];
    EXPECT_EQ(h.report.status, HostStatus::Ok) << t.name << ": " << h.report.message;
    EXPECT_EQ(h.report.backend, "libvirt");
    std::set<std::string> got;
    for (const auto& row : inv.rows)
      if (row.host == t.name) {
        got.insert(row.vm.name);
        EXPECT_EQ(row.uri, t.uri);
        EXPECT_EQ(row.backend, "libvirt");
        EXPECT_GT(row.vm.vcpus, 0u) << row.vm.name;
        EXPECT_GT(row.vm.memory_bytes, 0u) << row.vm.name;
      }
    EXPECT_EQ(got, libvirt_names(t.uri)) << t.name;
    EXPECT_EQ(h.vms, got.size());
  }
  EXPECT_EQ(inv.rows.size(), 19u);
  EXPECT_EQ(inv.hosts[0].running, 3u);  // alpha-00, -04, -08
  // Rows: hosts in target order, VMs by name.
  EXPECT_EQ(inv.rows.front().vm.name, "alpha-00");
  EXPECT_EQ(inv.rows.back().vm.name, "beta-06");

  const auto& st = inv.hosts[1].report;
  // Timed out by the fleet's deadline or by the backend's connect timeout
  // (the same 3 s): a timeout either way.
  EXPECT_EQ(st.status, HostStatus::TimedOut) << st.message;
  EXPECT_EQ(st.code, ErrorCode::Timeout);
  EXPECT_GE(st.elapsed, 3s - 50ms);
  EXPECT_LT(st.elapsed, 3s + 500ms);
  EXPECT_GE(stalled.accepted(), 1u) << "libvirt never connected to the stalled host";
  const auto& rf = inv.hosts[4].report;
  EXPECT_EQ(rf.status, HostStatus::Failed);
  EXPECT_EQ(rf.code, ErrorCode::Unreachable) << rf.message;
  EXPECT_LT(rf.elapsed, 2s);

  // The stuck libvirt call ends when the listener goes away; its late
  // answer is dropped and the counter comes back down. (When the backend's
  // own connect timeout won the race, the fleet abandoned nothing.)
  EXPECT_LE(fleet::abandoned_jobs(), baseline_ + 1);
  stalled.close_all();
  const auto t1 = Clock::now();
  while (fleet::abandoned_jobs() != baseline_ && Clock::now() - t1 < 20s)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fleet::abandoned_jobs(), baseline_);
}

TEST_F(FleetLibvirt, FilterIsPushedDownToLibvirt) {
  auto registry = std::make_shared<Registry>();
  try {
    registry->backend_for("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "the libvirt plugin is not available: " << e.what();
  }
  fleet::Target t;
  t.name = "alpha";
  t.uri = "test://" + write_node(dir_, "alpha", 12);
  const auto inv =
      fleet::inventory(registry, {t}, fleet::InventoryFilter::parse("state=running,name=*-0*"));
  std::vector<std::string> names;
  for (const auto& r : inv.rows) names.push_back(r.vm.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha-00", "alpha-04", "alpha-08"}));
  EXPECT_EQ(inv.hosts[0].running, 3u);
}

}  // namespace
}  // namespace hyperctl::fleet_test
