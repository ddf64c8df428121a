// The conformance suite: checks that a backend does what it declares.
//
// For the backend serving Config::uri, register_tests() adds one GoogleTest
// test per operation of all_operations(), named Conformance/<name>.<op> with
// the operation's dots and dashes turned into '_' (vm.start -> vm_start),
// plus Conformance/<name>.declared_matches_registry, plus one test per rule
// every backend keeps whatever it declares, Conformance/<name>.rule_<rule>:
//   rule_in_use_disk_kept          delete with storage keeps (and reports in
//                                  DeleteReport::kept) a disk another VM uses;
//   rule_no_shrink_without_shrink  a smaller capacity without
//                                  ResizeOptions::shrink is Conflict, unchanged;
//   rule_set_all_or_nothing        a refused set_resources changes nothing;
//   rule_snapshot_name_validation  '/', control characters, > 255 bytes are
//                                  InvalidArgument and take no snapshot;
//   rule_already_in_state          start of a running VM, poweroff/suspend of
//                                  an off one, resume of a running one: Conflict;
//   rule_delete_with_snapshots     a VM with snapshots is deleted only with
//                                  DeleteOptions::snapshots (Conflict otherwise).
// A rule whose precondition the backend cannot build skips saying why.
//
// - An operation the backend does not declare must throw
//   Error(ErrorCode::Unsupported) naming the backend and the operation, when
//   called with harmless arguments (names of things that do not exist).
// - A declared operation is exercised for real and its effect checked (the
//   state before and after). What it needs (a VM, a volume, a snapshot...)
//   is made with declared operations only and removed at the end; names
//   start with "hyperctl-test-conf-". When its precondition cannot be built
//   with what the backend declares, the test skips and says what is missing.
// - A declared operation that answers the core's own "does not support"
//   sentence fails: it was declared but never implemented. One that answers
//   Unsupported with a sentence of its own (a driver of the backend that
//   lacks the feature, e.g. libvirt's test driver and volume streams) skips
//   with that sentence.
// - Migration needs a second host: declared migrate.* operations skip.
//
// Usage, in a test program's main():
//   hyperctl::conformance::register_tests({.name = "skeleton", .uri = "skeleton:///tmp/x"});
//   return RUN_ALL_TESTS();
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::conformance {

struct Config {
  std::string name;                      ///< label in test names
  std::string uri;                       ///< connection URI
  std::vector<std::string> plugin_dirs;  ///< searched first by the Registry
  /// A VM that exists, for backends that cannot create ("" = create one).
  /// Its state is restored after each test that changes it.
  std::string existing_vm;
  /// Pool for volume tests ("" = skip volume tests unless pools can be created).
  std::string pool;
  /// Network for network tests ("" = first listed). network.stop/start stop
  /// it and start it again; a network with VMs attached is left alone.
  std::string network;
  std::string skip_reason;  ///< non-empty: every test skips with it
  /// The spec the suite's VMs are made from (its name replaced). Empty: 1
  /// vCPU, 64 MiB, no disk, plus a new disk in `pool` where a scenario needs
  /// one. Backends that make VMs only from an image (WSL: an archive) give
  /// one here.
  std::optional<VmSpec> vm_spec;
  /// The backend refuses vm.delete without DeleteOptions::force because it
  /// destroys data (WSL). The suite then checks that refusal (conflict, the
  /// VM still there) and deletes with force.
  bool delete_needs_force = false;
  /// KEY=VALUE settings vm.set-property must accept on the test VM (keys are
  /// backend-specific; empty = only the unknown-key refusal is checked).
  std::vector<std::pair<std::string, std::string>> properties;
  /// host.shutdown stops the whole hypervisor: run it only when true (a
  /// stand-in or a throw-away host), else the test skips.
  bool allow_host_shutdown = false;
  /// How the suite connects: user, secret provider (a password for a
  /// backend that logs in), timeout. Default: none.
  ConnectOptions connect_options;
  /// Operations whose effect the test bed cannot show (a simulator's own gap,
  /// not the backend's), by name ("snapshot.revert", or "rule.<rule>" for a
  /// rule: "rule.in-use-disk-kept") with the reason: their
  /// cases skip saying so. Never for something the backend gets wrong.
  std::map<std::string, std::string> test_bed_gaps;
};

/// Registers the tests with GoogleTest (::testing::RegisterTest). Call after
/// InitGoogleTest and before RUN_ALL_TESTS. Loads nothing until a test runs:
/// the plugin is found through hyperctl::Registry(config.plugin_dirs).
void register_tests(const Config& config);

}  // namespace hyperctl::conformance
