// The offline-migration engine (hyperctl/offline.hpp) with fake steps: the
// order, the journal, cancellation, resume, rollback, and the rules that no
// backend may break (the source goes last and only after every step before
// it is done; no rollback once the source is being removed).
#include "hyperctl/offline.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/state_dir.hpp"
#include "hyperctl/error.hpp"

namespace fs = std::filesystem;
using namespace hyperctl;

namespace {

const std::string kSrc = "fake://source/";
const std::string kDst = "fake://target/";

/// Steps "copy", "define", "verify" and, when asked, "remove source"; each
/// run and undo is recorded, and a test can make any step fail.
class FakeSteps : public OfflineSteps {
 public:
  std::vector<std::string> ran, undone, prechecked;
  std::vector<StepState> priors;
  std::set<std::string> fail_in;        ///< these steps throw BackendFailure
  std::set<std::string> refuse_before;  ///< these steps' precheck throws Conflict
  std::set<std::string> not_done_any_more;
  std::set<std::string> marks_itself_failed;  ///< set Failed without throwing
  std::function<void()> during;               ///< called inside each step
  bool fail_check = false;
  bool throw_foreign = false;
  bool refuse_rollback = false;
  StepKind removal_kind = StepKind::RemovesSource;
  std::string kind = "migrate-offline-fake";

  std::string journal_kind() const override { return kind; }
  std::string journal_what() const override { return "a fake offline migration"; }

  void check(OfflineRun& run, const VmRef& vm) override {
    if (fail_check) throw Error(ErrorCode::Conflict, "the VM is running", "migrate");
    Journal& j = run.journal();
    j.add_step("copy");
    j.add_step("define");
    j.add_step("verify");
    if (j.param("remove_source") == "yes") j.add_step(kOfflineRemoveStep);
    j.set_step(*j.find_step(kOfflineCheckStep), StepState::Done, {{"vm", vm.value}});
  }
  void precheck_step(OfflineRun& run, std::size_t i) override {
    const std::string name = run.journal().steps()[i].name;
    prechecked.push_back(name);
    if (refuse_before.count(name))
      throw Error(ErrorCode::Conflict, name + " refused before it started", "migrate");
  }
  void run_step(OfflineRun& run, std::size_t i) override {
    const std::string name = run.journal().steps()[i].name;
    EXPECT_EQ(run.journal().steps()[i].state, StepState::Running) << name;
    priors.push_back(run.prior_state());
    if (during) during();
    if (throw_foreign) throw std::runtime_error("bad_weak_ptr");
    if (fail_in.count(name)) throw Error(ErrorCode::BackendFailure, name + " failed", "migrate");
    ran.push_back(name);
    if (marks_itself_failed.count(name)) run.journal().set_step(i, StepState::Failed);
  }
  bool still_done(OfflineRun& run, std::size_t i) override {
    return !not_done_any_more.count(run.journal().steps()[i].name);
  }
  StepKind kind_of(OfflineRun& run, std::size_t i) override {
    return run.journal().steps()[i].name == kOfflineRemoveStep ? removal_kind : StepKind::Ordinary;
  }
  void check_rollback(OfflineRun&) override {
    if (refuse_rollback) throw Error(ErrorCode::Conflict, "the archive is gone", "migrate");
  }
  void undo_step(OfflineRun& run, std::size_t i) override {
    undone.push_back(run.journal().steps()[i].name);
  }
  VmInfo result(OfflineRun& run) override {
    VmInfo v;
    v.name = run.checked("vm");
    v.state = VmState::Off;
    return v;
  }
};

class OfflineEngineTest : public ::testing::Test {
 protected:
  hyperctl_test::ScopedStateDir state_{"hyperctl-offline-test"};

  OfflineStart start(bool remove_source = false) const {
    OfflineStart s;
    s.source_uri = kSrc;
    s.target_uri = kDst;
    s.vm = VmRef("web 1");
    s.remove_source = remove_source;
    s.params["target_pool"] = "default";
    return s;
  }

  /// Runs a migration that must fail; returns its journal id (from the
  /// error's detail) and the error.
  std::pair<std::string, Error> interrupted(FakeSteps& steps, bool remove_source = false,
                                            const CancelToken& cancel = {}) {
    try {
      run_offline_migration(steps, start(remove_source), {}, cancel);
    } catch (const Error& e) {
      const std::string d = e.detail();
      EXPECT_EQ(d.rfind("journal: ", 0), 0u) << d;
      const auto end = d.find('\n');
      return {d.substr(9, end == std::string::npos ? std::string::npos : end - 9), e};
    }
    ADD_FAILURE() << "the migration did not fail";
    return {"", Error(ErrorCode::Internal, "")};
  }
};

TEST_F(OfflineEngineTest, RunsEveryStepInOrderThenRemovesTheJournal) {
  FakeSteps steps;
  std::vector<std::string> phases;
  const VmInfo v = run_offline_migration(steps, start(true),
                                         [&](const Progress& p) { phases.push_back(p.phase); }, {});
  EXPECT_EQ(v.name, "web 1");
  EXPECT_EQ(steps.ran, (std::vector<std::string>{"copy", "define", "verify", "remove source"}));
  EXPECT_EQ(steps.priors, std::vector<StepState>(4, StepState::Pending));
  ASSERT_FALSE(phases.empty());
  EXPECT_EQ(phases.front(), "check");
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineEngineTest, AFailedCheckLeavesNoJournalAndRunsNothing) {
  FakeSteps steps;
  steps.fail_check = true;
  try {
    run_offline_migration(steps, start(), {}, {});
    FAIL() << "the check did not refuse";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Conflict);
    EXPECT_STREQ(e.what(), "the VM is running");  // no journal to resume: none named
  }
  EXPECT_TRUE(steps.ran.empty());
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineEngineTest, AFailedStepKeepsTheJournalAndSaysHowToGoOn) {
  FakeSteps steps;
  steps.fail_in = {"define"};
  auto [id, e] = interrupted(steps);
  EXPECT_EQ(e.code(), ErrorCode::BackendFailure);
  EXPECT_NE(std::string(e.what()).find("define failed; offline migration " + id +
                                       " interrupted; resume with: hyperctl migrate --resume " +
                                       id + ", or undo with --rollback " + id),
            std::string::npos)
      << e.what();
  const Journal j = Journal::load(id);
  EXPECT_EQ(j.status(), "failed");
  EXPECT_EQ(j.steps()[*j.find_step("copy")].state, StepState::Done);
  EXPECT_EQ(j.steps()[*j.find_step("define")].state, StepState::Running);
  EXPECT_EQ(j.steps()[*j.find_step("verify")].state, StepState::Pending);
  EXPECT_EQ(j.param("target_pool"), "default");
  EXPECT_EQ(j.param("vm"), "web 1");

  // Resumed: what is done is not done again; the interrupted step knows it
  // was interrupted.
  FakeSteps again;
  const VmInfo v = resume_offline_migration(again, id, kSrc, kDst, {}, {});
  EXPECT_EQ(v.name, "web 1");
  EXPECT_EQ(again.ran, (std::vector<std::string>{"define", "verify"}));
  EXPECT_EQ(again.priors, (std::vector<StepState>{StepState::Running, StepState::Pending}));
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineEngineTest, CancelledBetweenStepsStopsBeforeTheNextOne) {
  FakeSteps steps;
  CancelToken cancel;
  steps.during = [&] { cancel.cancel(); };  // asked during the first step
  auto [id, e] = interrupted(steps, false, cancel);
  EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  EXPECT_EQ(steps.ran, std::vector<std::string>{"copy"});
  const Journal j = Journal::load(id);
  EXPECT_EQ(j.status(), "cancelled");
  EXPECT_EQ(j.steps()[*j.find_step("define")].state, StepState::Pending);
  FakeSteps again;
  resume_offline_migration(again, id, kSrc, kDst, {}, {});
  EXPECT_EQ(again.ran, (std::vector<std::string>{"define", "verify"}));
}

TEST_F(OfflineEngineTest, ADoneStepThatNoLongerHoldsRunsAgain) {
  FakeSteps steps;
  steps.fail_in = {"verify"};
  auto [id, e] = interrupted(steps);
  FakeSteps again;
  again.not_done_any_more = {"define"};  // e.g. removed on the target by hand since
  resume_offline_migration(again, id, kSrc, kDst, {}, {});
  EXPECT_EQ(again.ran, (std::vector<std::string>{"define", "verify"}));
  EXPECT_EQ(again.priors, (std::vector<StepState>{StepState::Done, StepState::Running}));
}

TEST_F(OfflineEngineTest, TheSourceIsNotRemovedWhileAStepBeforeItIsNotDone) {
  FakeSteps steps;
  steps.marks_itself_failed = {"verify"};  // a broken backend that does not throw
  auto [id, e] = interrupted(steps, true);
  EXPECT_EQ(e.code(), ErrorCode::Internal);
  EXPECT_NE(std::string(e.what()).find("would remove the source while step 'verify' is not done"),
            std::string::npos)
      << e.what();
  EXPECT_EQ(steps.ran, (std::vector<std::string>{"copy", "define", "verify"}));
  const Journal j = Journal::load(id);
  EXPECT_EQ(j.steps()[*j.find_step(kOfflineRemoveStep)].state, StepState::Pending);
}

TEST_F(OfflineEngineTest, RollbackUndoesTheStartedStepsLastFirst) {
  FakeSteps steps;
  steps.fail_in = {"verify"};
  auto [id, e] = interrupted(steps, true);
  FakeSteps back;
  rollback_offline_migration(back, id, kSrc, kDst);
  // verify was running (it failed), define and copy were done; the removal
  // never started.
  EXPECT_EQ(back.undone, (std::vector<std::string>{"verify", "define", "copy"}));
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(OfflineEngineTest, NoRollbackOnceTheSourceIsBeingRemoved) {
  FakeSteps steps;
  steps.fail_in = {kOfflineRemoveStep};
  auto [id, e] = interrupted(steps, true);
  FakeSteps back;
  try {
    rollback_offline_migration(back, id, kSrc, kDst);
    FAIL() << "the rollback went ahead";
  } catch (const Error& r) {
    EXPECT_EQ(r.code(), ErrorCode::Conflict);
    EXPECT_NE(std::string(r.what()).find("the target holds the only copy"), std::string::npos)
        << r.what();
  }
  EXPECT_TRUE(back.undone.empty());
  EXPECT_EQ(Journal::list(), std::vector<std::string>{id});
  // It can still be completed.
  FakeSteps again;
  resume_offline_migration(again, id, kSrc, kDst, {}, {});
  EXPECT_EQ(again.ran, std::vector<std::string>{kOfflineRemoveStep});
}

TEST_F(OfflineEngineTest, AnUndoableRemovalCanBeRolledBack) {
  FakeSteps steps;
  steps.removal_kind = StepKind::RemovesSourceUndoable;
  steps.fail_in = {kOfflineRemoveStep};
  auto [id, e] = interrupted(steps, true);
  FakeSteps back;
  back.removal_kind = StepKind::RemovesSourceUndoable;
  rollback_offline_migration(back, id, kSrc, kDst);
  EXPECT_EQ(back.undone,
            (std::vector<std::string>{kOfflineRemoveStep, "verify", "define", "copy"}));
}

TEST_F(OfflineEngineTest, ARemovalRefusedBeforeItStartedStillAllowsARollback) {
  FakeSteps steps;
  steps.refuse_before = {kOfflineRemoveStep};  // e.g. the source was started meanwhile
  auto [id, e] = interrupted(steps, true);
  EXPECT_EQ(e.code(), ErrorCode::Conflict);
  EXPECT_EQ(Journal::load(id).steps()[*Journal::load(id).find_step(kOfflineRemoveStep)].state,
            StepState::Pending);
  FakeSteps back;
  rollback_offline_migration(back, id, kSrc, kDst);
  EXPECT_EQ(back.undone, (std::vector<std::string>{"verify", "define", "copy"}));
}

TEST_F(OfflineEngineTest, TheBackendCanRefuseARollbackBeforeAnythingIsUndone) {
  FakeSteps steps;
  steps.fail_in = {"verify"};
  auto [id, e] = interrupted(steps);
  FakeSteps back;
  back.refuse_rollback = true;
  EXPECT_THROW(rollback_offline_migration(back, id, kSrc, kDst), Error);
  EXPECT_TRUE(back.undone.empty());
  EXPECT_EQ(Journal::load(id).status(), "failed");
}

TEST_F(OfflineEngineTest, AJournalOfOtherConnectionsOrKindIsRefused) {
  FakeSteps steps;
  steps.fail_in = {"copy"};
  auto [id, e] = interrupted(steps);
  FakeSteps other;
  EXPECT_THROW(resume_offline_migration(other, id, kDst, kSrc, {}, {}), Error);
  other.kind = "migrate-offline-other";
  try {
    rollback_offline_migration(other, id, kSrc, kDst);
    FAIL() << "another kind's journal was rolled back";
  } catch (const Error& r) {
    EXPECT_EQ(r.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(r.what()).find("not a fake offline migration"), std::string::npos)
        << r.what();
  }
  EXPECT_TRUE(other.ran.empty());
  EXPECT_TRUE(other.undone.empty());
}

TEST_F(OfflineEngineTest, AForeignExceptionIsInternalAndKeepsTheJournal) {
  FakeSteps steps;
  steps.throw_foreign = true;
  auto [id, e] = interrupted(steps);
  EXPECT_EQ(e.code(), ErrorCode::Internal);
  EXPECT_NE(std::string(e.what()).find("bad_weak_ptr"), std::string::npos) << e.what();
  EXPECT_EQ(Journal::load(id).status(), "failed");
}

}  // namespace
