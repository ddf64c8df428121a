// The conformance suite (hyperctl::conformance) against the vSphere backend:
// Conformance/vsphere_vpx.* on a simulated vCenter and Conformance/vsphere_esx.*
// on a simulated standalone ESXi host, each started here (support.hpp) and
// stopped at exit. Every operation the backend declares is exercised for
// real; every other one must answer Unsupported naming the backend.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "hyperctl/conformance.hpp"
#include "support.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::vector<std::unique_ptr<vsphere_test::Simulator>> sims;
  for (const std::string mode : {"vpx", "esx"}) {
    vsphere_test::SimOptions options;
    options.mode = mode;
    options.vms = 1;
    std::string why;
    auto sim = vsphere_test::Simulator::start(options, &why);
    hyperctl::conformance::Config config{
        .name = "vsphere_" + mode,
        .uri = sim ? sim->uri() : std::string(mode == "esx" ? "esx" : "vsphere") + "://none/",
        .plugin_dirs = {HYPERCTL_TEST_VSPHERE_PLUGIN_DIR},
        .pool = "LocalDS_0",
        .network = "VM Network",
        // govmomi 0.24's simulator, not the backend (backends/vsphere/README.md).
        .test_bed_gaps =
            {
                {"pool.refresh",
                 "the simulator cannot encode its RefreshDatastore answer (it sends an empty "
                 "body)"},
                {"snapshot.revert",
                 "the simulator's RevertToSnapshot_Task moves the current-snapshot marker only; "
                 "the "
                 "VM keeps its power state (vSphere restores the state the snapshot was taken in)"},
                {"volume.info",
                 "the simulator's datastore browser reports no capacityKb for a disk no VM "
                 "uses, so a new volume's capacity cannot be read back"},
                {"volume.clone",
                 "the simulator makes new disks as empty files and its browser reports no "
                 "capacityKb, so a clone's capacity cannot be read back"},
            },
    };
    if (sim) {
      config.connect_options = sim->connect_options();
      sims.push_back(std::move(sim));
    } else {
      // Outside CI a simulator that cannot be built here is a skip with its
      // reason; in CI, or one built that does not start, a failure
      // (support.hpp's rule).
      if (vsphere_test::required() || vsphere_test::Simulator::available()) {
        std::fprintf(stderr, "the vSphere simulator is not usable: %s\n", why.c_str());
        return 1;
      }
      config.skip_reason = why;
    }
    hyperctl::conformance::register_tests(config);
  }
  return RUN_ALL_TESTS();
}
