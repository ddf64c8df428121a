// The conformance suite (hyperctl::conformance) against the in-tree plugins:
//   Conformance/libvirt_test.*  the libvirt backend on test:///default;
//   Conformance/libvirt_qemu.*  the libvirt backend on the real libvirtd at
//                               $HYPERCTL_TEST_QEMU_URI (skipped when unset),
//                               with an isolated network of its own (defined
//                               here, inactive, removed at exit) for the
//                               network tests: the host's networks are left alone;
//   Conformance/toy.*           the toy plugin of tests/plugins (vm.list and
//                               vm.get only: everything else must be Unsupported).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "hyperctl/conformance.hpp"

namespace {

/// Runs virsh with `args` (argv, no shell), quietly; true when it exits 0.
bool virsh(const std::string& uri, std::vector<std::string> args) {
  args.insert(args.begin(), {"virsh", "-q", "-c", uri});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr))
      ::_exit(127);
    ::execvp("virsh", argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// Defines (inactive) a bridge-only network named after this process, once
/// it was seen to start; "" when it cannot be defined or started.
std::string define_network(const std::string& uri) {
  const std::string name = "hyperctl-test-conf-net-" + std::to_string(::getpid());
  const std::string file = "/tmp/" + name + ".xml";
  std::ofstream(file) << "<network><name>" << name << "</name><bridge name='hcconf"
                      << (::getpid() % 100000) << "'/></network>\n";
  const bool ok = virsh(uri, {"net-define", file});
  std::remove(file.c_str());
  if (!ok) return {};
  // A host that cannot start virtual networks (no iptables, no bridge
  // support) cannot run network.start/stop: leave the networks out then.
  if (!virsh(uri, {"net-start", name})) {
    std::fprintf(stderr, "networks cannot start on %s (virsh net-start %s failed): no network\n",
                 uri.c_str(), name.c_str());
    virsh(uri, {"net-undefine", name});
    return {};
  }
  virsh(uri, {"net-destroy", name});
  return name;
}

}  // namespace

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
  const std::string qemu_uri = qemu && *qemu ? qemu : "";
  // Only a run that includes the real-daemon network tests makes a network.
  const std::string filter = ::testing::GTEST_FLAG(filter);
  const bool network_tests =
      filter == "*" || filter.find("libvirt_qemu.network") != std::string::npos;
  const std::string network =
      !qemu_uri.empty() && network_tests ? define_network(qemu_uri) : std::string();
  hc::register_tests({
      .name = "libvirt_qemu",
      .uri = qemu_uri.empty() ? "qemu:///system" : qemu_uri,
      .plugin_dirs = {HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR},
      .pool = "default",
      .network = network,
      .skip_reason = qemu_uri.empty() ? "HYPERCTL_TEST_QEMU_URI not set: no real libvirtd" : "",
  });

  hc::register_tests({
      .name = "toy",
      .uri = "toy:///",
      .plugin_dirs = {HYPERCTL_TEST_TOY_PLUGIN_DIR},
      .existing_vm = "alpha",
  });
  const int status = RUN_ALL_TESTS();
  if (!network.empty()) {
    virsh(qemu_uri, {"net-destroy", network});
    if (!virsh(qemu_uri, {"net-undefine", network})) {
      std::fprintf(stderr, "cannot undefine network %s\n", network.c_str());
      return 1;
    }
  }
  return status;
}
