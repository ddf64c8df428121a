// Internals of the conformance suite: the fixture every registered test
// uses, and the building blocks scenarios make their preconditions with.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hyperctl/capabilities.hpp"
#include "hyperctl/conformance.hpp"
#include "hyperctl/connection.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"

namespace hyperctl::conformance::detail {

constexpr std::uint64_t kMiB = 1ull << 20;

/// Thrown by a scenario whose precondition cannot be built; the test skips
/// with `reason`.
struct Skip {
  std::string reason;
};

/// What the tests of one register_tests() call share: the configuration and
/// one Registry, made when the first test runs (plugins stay loaded for the
/// life of the process anyway).
struct Shared {
  explicit Shared(Config c) : config(std::move(c)) {}
  Config config;
  std::unique_ptr<Registry> registry;
  Backend* backend = nullptr;
  std::string load_error;
  bool tried = false;

  /// The backend serving config.uri, or nullptr with load_error set.
  Backend* load();
};

class Case;
/// The scenario exercising a declared operation, or checking one rule.
using Scenario = void (*)(Case&);

/// A rule every backend keeps whatever it declares (DESIGN.md, "Rules every
/// backend keeps"), checked with the operations the backend declares.
struct Rule {
  const char* name;  ///< "in-use-disk-kept": test rule_in_use_disk_kept
  Scenario check;
};
const std::vector<Rule>& rules();

/// One registered test: `op` empty is declared_matches_registry, unless
/// `rule` names a rule.
class Case : public ::testing::Test {
 public:
  Case(std::shared_ptr<Shared> shared, std::optional<Operation> op, const Rule* rule = nullptr)
      : shared_(std::move(shared)), op_(op), rule_(rule) {}

  // ---- facts
  Connection& conn() { return *conn_; }
  VmOps& vms() { return conn_->vms(); }
  SnapshotOps& snapshots() { return conn_->snapshots(); }
  StorageOps& storage() { return conn_->storage(); }
  NetworkOps& networks() { return conn_->networks(); }
  const Config& config() const { return shared_->config; }
  Backend& backend() { return *shared_->backend; }
  const std::string& backend_name() const { return backend_name_; }
  bool declared(Operation op) const { return caps_.has(op); }
  /// The operation under test, as its name ("vm.start"), or "rule.<name>".
  std::string op_name() const;

  // ---- preconditions
  [[noreturn]] void skip(const std::string& reason) const { throw Skip{reason}; }
  /// Skips unless the backend declares `op`, saying what it is needed for.
  void need(Operation op, const std::string& what_for) const;
  /// Runs `undo` in TearDown (last registered first). NotFound is ignored:
  /// the thing may be gone already; other errors fail the test.
  void on_cleanup(std::string what, std::function<void()> undo);
  /// "hyperctl-test-conf-<op>[-<what>]-<pid>".
  std::string name_for(const std::string& what = {}) const;
  /// A folder of this test, removed in TearDown.
  std::filesystem::path temp_dir();

  // ---- building blocks (each made with declared operations only)
  /// A VM to work on: a new one (vm.create, removed at the end) or
  /// Config::existing_vm (its state restored at the end). `with_disk`: a
  /// new VM gets one small disk in Config::pool, when it can be removed
  /// with its storage.
  std::string vm(bool with_disk = false);
  /// A VM this test creates and may delete (needs vm.create).
  std::string new_vm(const std::string& what, bool with_disk = false);
  VmInfo vm_info(const std::string& vm);
  VmState state_of(const std::string& vm);
  /// Drives the VM to `state` with declared operations (skips when one is
  /// missing).
  void bring_to(const std::string& vm, VmState state);
  /// The pool volumes go in: Config::pool, else a new one.
  std::string volume_pool();
  /// A new directory pool of this test, removed at the end.
  std::string new_pool(const std::string& what);
  bool pool_active(const std::string& pool);
  /// A new volume in volume_pool(), removed at the end.
  Volume new_volume(const std::string& what, std::uint64_t capacity, const std::string& format);
  /// Config::network, else the first listed.
  std::string network();
  bool network_active(const std::string& net);

 protected:
  void SetUp() override;
  void TearDown() override;
  void TestBody() override;

 private:
  void check_registry();
  void check_undeclared(Operation op);
  void report(const Error& e);

  std::shared_ptr<Shared> shared_;
  std::optional<Operation> op_;
  const Rule* rule_ = nullptr;
  std::unique_ptr<Connection> conn_;
  Capabilities caps_;
  std::string backend_name_;
  std::vector<std::pair<std::string, std::function<void()>>> cleanups_;
  std::filesystem::path temp_;
  std::string volume_pool_;  ///< made by volume_pool() when Config::pool is empty
  int serial_ = 0;
};

Scenario vm_scenario(Operation op);
Scenario snapshot_scenario(Operation op);
Scenario storage_scenario(Operation op);
Scenario network_host_scenario(Operation op);

/// Calls `op` with harmless arguments (names that do not exist); used for
/// operations the backend does not declare.
void call_with_harmless_arguments(Case& c, Operation op);

/// Readable "vm.start" in messages.
std::string name_of(Operation op);

}  // namespace hyperctl::conformance::detail
