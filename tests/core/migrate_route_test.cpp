// hyperctl::migrate and friends (hyperctl/migrate.hpp) decide what kind of
// move it is: within a family the backend's own migration, between families
// the core's engine, offline only, never for WSL.
#include "hyperctl/migrate.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../common/state_dir.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/journal.hpp"

namespace {

using namespace hyperctl;

/// A connection whose migration group records what it was asked.
class FakeConnection : public Connection {
 public:
  struct Ops : MigrationOps {
    explicit Ops(const std::string& b) : MigrationOps(b) {}
    std::vector<std::string> calls;
    PreflightReport preflight(const VmRef&, Connection&, const MigrationOptions&) override {
      calls.push_back("preflight");
      return {};
    }
    VmInfo migrate(const VmRef& vm, Connection&, const MigrationOptions& o, const ProgressFn&,
                   const CancelToken&) override {
      calls.push_back(std::string("migrate ") +
                      (o.mode == MigrationMode::Live ? "live " : "offline ") + vm.value);
      return {};
    }
    VmInfo resume(const std::string& id, Connection&, const ProgressFn&,
                  const CancelToken&) override {
      calls.push_back("resume " + id);
      return {};
    }
    void rollback(const std::string& id, Connection&) override {
      calls.push_back("rollback " + id);
    }
  };

  FakeConnection(const std::string& backend, const std::string& uri)
      : Connection(backend), uri_(Uri::parse(uri)), ops_(backend) {}
  const Uri& uri() const override { return uri_; }
  MigrationOps& migration() override { return ops_; }
  std::vector<std::string>& calls() { return ops_.calls; }

 private:
  Uri uri_;
  Ops ops_;
};

class MigrateRoute : public ::testing::Test {
 protected:
  hyperctl_test::ScopedStateDir state_{"hyperctl-route-test"};
  static MigrationOptions mode(MigrationMode m) {
    MigrationOptions o;
    o.mode = m;
    return o;
  }
};

TEST_F(MigrateRoute, WithinAFamilyTheBackendMigrates) {
  FakeConnection a("libvirt", "qemu:///system"), b("libvirt", "qemu+ssh://h2/system");
  EXPECT_FALSE(crosses_families(a, b));
  migrate(a, b, VmRef("web"), mode(MigrationMode::Live), {}, {});
  migrate(a, b, VmRef("web"), mode(MigrationMode::Offline), {}, {});
  migration_preflight(a, b, VmRef("web"), mode(MigrationMode::Live));
  EXPECT_EQ(a.calls(),
            (std::vector<std::string>{"migrate live web", "migrate offline web", "preflight"}));
  EXPECT_TRUE(b.calls().empty());
}

TEST_F(MigrateRoute, BetweenFamiliesLiveIsRefusedWithTheFix) {
  FakeConnection a("libvirt", "qemu:///system"), b("vsphere", "vsphere://vc/");
  EXPECT_TRUE(crosses_families(a, b));
  try {
    migrate(a, b, VmRef("web"), mode(MigrationMode::Live), {}, {});
    FAIL() << "a live move between families went ahead";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("(libvirt -> vsphere) offline only: add --offline"),
              std::string::npos)
        << e.what();
  }
  const PreflightReport r = migration_preflight(a, b, VmRef("web"), mode(MigrationMode::Live));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(a.calls().empty());
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(MigrateRoute, WslNeverCrossesFamilies) {
  FakeConnection wsl("wsl", "wsl:///"), kvm("libvirt", "qemu:///system");
  for (auto [from, to] : {std::pair{&wsl, &kvm}, std::pair{&kvm, &wsl}}) {
    try {
      migrate(*from, *to, VmRef("Ubuntu"), mode(MigrationMode::Offline), {}, {});
      FAIL() << "a WSL distribution crossed families";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find("it is not a VM image"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(wsl.calls().empty());
  EXPECT_TRUE(kvm.calls().empty());
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(MigrateRoute, ABackendOfflineJournalIsResumedAndRolledBackByItsBackend) {
  FakeConnection a("libvirt", "qemu:///system"), b("vsphere", "vsphere://vc/");
  Journal j = Journal::create("migrate-offline",
                              {{"source_uri", "qemu:///system"}, {"target_uri", "vsphere://vc/"}});
  resume_migration(a, b, j.id(), {}, {});
  rollback_migration(a, b, j.id());
  EXPECT_EQ(a.calls(), (std::vector<std::string>{"resume " + j.id(), "rollback " + j.id()}));
}

TEST_F(MigrateRoute, ACrossFamilyJournalOfOtherConnectionsIsRefused) {
  FakeConnection a("libvirt", "qemu:///system"), b("vsphere", "vsphere://vc/");
  Journal j = Journal::create(
      kCrossJournalKind,
      {{"source_uri", "qemu:///other"}, {"target_uri", "vsphere://vc/"}, {"vm", "web"}});
  try {
    rollback_migration(a, b, j.id());
    FAIL() << "the journal of other connections was rolled back";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("qemu:///other"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(a.calls().empty());
  EXPECT_EQ(Journal::list(), std::vector<std::string>{j.id()});
}

}  // namespace
