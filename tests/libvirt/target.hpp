// The two targets the parameterised libvirt suites run on, and their common
// fixture:
//   TestDriver/...  test:///default, a fresh connection per test;
//   RealDaemon/...  the libvirtd at $HYPERCTL_TEST_QEMU_URI (skipped when unset).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "hyperctl/connection.hpp"
#include "support.hpp"

namespace hyperctl::test {

struct Target {
  std::string label;
  bool real_daemon;
  // Keeps test names readable in CTest ("... # GetParam() = test").
  friend void PrintTo(const Target& t, std::ostream* os) { *os << t.label; }
};

inline std::string target_name(const ::testing::TestParamInfo<Target>& p) {
  return p.param.label;
}

/// Opens conn_ to the target's URI in SetUp (skipping with the reason when
/// there is no daemon or it cannot be reached) and, in TearDown, removes the
/// VMs named in created_, runs cleanup(), then closes the connection.
class LibvirtTargetTest : public ::testing::TestWithParam<Target> {
 protected:
  /// `vm_removal`: how TearDown removes each VM of created_; the options are
  /// tried in order until one succeeds.
  explicit LibvirtTargetTest(std::vector<DeleteOptions> vm_removal =
                                 {DeleteOptions{
                                      .with_storage = true, .force = true, .snapshots = true},
                                  DeleteOptions{.force = true, .snapshots = true}})
      : vm_removal_(std::move(vm_removal)) {}

  void SetUp() override {
    if (GetParam().real_daemon) {
      const char* uri = std::getenv("HYPERCTL_TEST_QEMU_URI");
      if (!uri || !*uri) GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd";
      uri_ = uri;
    } else {
      uri_ = "test:///default";
    }
    try {
      conn_ = open(uri_);
      probe(*conn_);
    } catch (const Error& e) {
      conn_.reset();
      GTEST_SKIP() << "cannot connect to " << uri_ << ": " << e.what();
    }
  }

  void TearDown() override {
    if (!conn_) return;
    for (const auto& name : created_) {
      for (const auto& options : vm_removal_) {
        try {
          conn_->vms().remove(name, options);
          break;
        } catch (const Error&) {
        }
      }
    }
    cleanup();
    conn_.reset();
  }

  /// A first call that shows the connection works; failing, the test skips.
  virtual void probe(Connection& c) { c.vms().list({}); }
  /// Further cleanup of the derived suite, while conn_ is still open.
  virtual void cleanup() {}

  bool real() const { return GetParam().real_daemon; }
  VmOps& vms() { return conn_->vms(); }
  /// A 64 MiB VM named from `stem` with `disks`, removed by TearDown.
  VmInfo make_vm(const std::string& stem, std::vector<DiskSpec> disks) {
    VmSpec spec;
    spec.name = unique_name(stem);
    spec.memory_bytes = 64ull << 20;
    spec.disks = std::move(disks);
    created_.push_back(spec.name);
    return vms().create(spec);
  }

  std::string uri_;
  std::unique_ptr<Connection> conn_;
  std::vector<std::string> created_;  ///< VMs that TearDown removes

 private:
  std::vector<DeleteOptions> vm_removal_;
};

}  // namespace hyperctl::test

/// The two standard instantiations of `Suite`: TestDriver/...test and
/// RealDaemon/...qemu.
#define HYPERCTL_INSTANTIATE_TARGETS(Suite)                                            \
  INSTANTIATE_TEST_SUITE_P(TestDriver, Suite,                                          \
                           ::testing::Values(::hyperctl::test::Target{"test", false}), \
                           ::hyperctl::test::target_name);                             \
  INSTANTIATE_TEST_SUITE_P(RealDaemon, Suite,                                          \
                           ::testing::Values(::hyperctl::test::Target{"qemu", true}),  \
                           ::hyperctl::test::target_name)
