// The conformance suite (hyperctl::conformance) against the in-tree plugins:
//   Conformance/libvirt_test.*  the libvirt backend on test:///default;
//   Conformance/libvirt_qemu.*  the libvirt backend on the real libvirtd at
//                               $HYPERCTL_TEST_QEMU_URI (skipped when unset);
//   Conformance/toy.*           the toy plugin of tests/plugins (vm.list and
//                               vm.get only: everything else must be Unsupported).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "hyperctl/conformance.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  namespace hc = hyperctl::conformance;

  hc::register_tests({
      .name = "libvirt_test",
      .uri = "test:///default",
      .plugin_dirs = {HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR},
      .existing_vm = "test",
      .pool = "default-pool",
      .network = "default",
  });

  const char* qemu = std::getenv("HYPERCTL_TEST_QEMU_URI");
  hc::register_tests({
      .name = "libvirt_qemu",
      .uri = qemu && *qemu ? qemu : "qemu:///system",
      .plugin_dirs = {HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR},
      .pool = "default",
      .skip_reason = qemu && *qemu ? "" : "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd",
  });

  hc::register_tests({
      .name = "toy",
      .uri = "toy:///",
      .plugin_dirs = {HYPERCTL_TEST_TOY_PLUGIN_DIR},
      .existing_vm = "alpha",
  });
  return RUN_ALL_TESTS();
}
