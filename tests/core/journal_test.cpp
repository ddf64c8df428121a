// The journal of multi-step operations: round trip, atomic saves, listing,
// damaged files, and the folder chosen from the environment.
#include "hyperctl/journal.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "../common/state_dir.hpp"
#include "hyperctl/error.hpp"

namespace fs = std::filesystem;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::Journal;
using hyperctl::StepState;

namespace {

/// Points HYPERCTL_STATE_DIR at a fresh temporary folder for one test.
class JournalTest : public ::testing::Test {
 protected:
  hyperctl_test::ScopedStateDir state_{"hyperctl-journal-test"};
  const std::string& dir_ = state_.path();
};

TEST_F(JournalTest, FolderHonoursStateDir) {
  EXPECT_EQ(Journal::folder(), dir_ + "/journal");
  auto j = Journal::create("test", {});
  EXPECT_TRUE(fs::exists(dir_ + "/journal/" + j.id() + ".json"));
}

TEST_F(JournalTest, FolderFallsBackToXdgThenHome) {
  ::unsetenv("HYPERCTL_STATE_DIR");
  const char* xdg_old = std::getenv("XDG_STATE_HOME");
  std::optional<std::string> xdg_saved;
  if (xdg_old) xdg_saved = xdg_old;
  ::setenv("XDG_STATE_HOME", "/x/state", 1);
  EXPECT_EQ(Journal::folder(), "/x/state/hyperctl/journal");
  ::unsetenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  if (home) {
    EXPECT_EQ(Journal::folder(), std::string(home) + "/.local/state/hyperctl/journal");
  }
  if (xdg_saved) ::setenv("XDG_STATE_HOME", xdg_saved->c_str(), 1);
  ::setenv("HYPERCTL_STATE_DIR", dir_.c_str(), 1);
}

TEST_F(JournalTest, RoundTrip) {
  auto j = Journal::create("migrate-offline", {{"source", "qemu:///system"}, {"vm", "web1"}});
  EXPECT_EQ(j.status(), "running");
  auto a = j.add_step("copy disk vda", {{"volume", "web1-vda.qcow2"}});
  auto b = j.add_step("define on target");
  EXPECT_EQ(j.add_step("copy disk vda"), a);  // same name: same step
  j.set_step(a, StepState::Running);
  j.set_step(a, StepState::Done, {{"sha256", "abc"}});
  j.set_step(b, StepState::Failed);
  j.set_status("failed");

  auto k = Journal::load(j.id());
  EXPECT_EQ(k.id(), j.id());
  EXPECT_EQ(k.kind(), "migrate-offline");
  EXPECT_EQ(k.status(), "failed");
  EXPECT_EQ(k.params(), j.params());
  ASSERT_EQ(k.steps().size(), 2u);
  EXPECT_EQ(k.steps()[0].name, "copy disk vda");
  EXPECT_EQ(k.steps()[0].state, StepState::Done);
  EXPECT_EQ(k.steps()[0].data.at("volume"), "web1-vda.qcow2");
  EXPECT_EQ(k.steps()[0].data.at("sha256"), "abc");
  EXPECT_EQ(k.steps()[1].state, StepState::Failed);
  EXPECT_EQ(k.find_step("define on target"), std::optional<std::size_t>(1));
  EXPECT_FALSE(k.find_step("nothing"));

  k.remove();
  EXPECT_FALSE(fs::exists(dir_ + "/journal/" + j.id() + ".json"));
  try {
    Journal::load(j.id());
    FAIL() << "loaded a removed journal";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_NE(std::string(e.what()).find(j.id()), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, IdsAreUniqueAndListed) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(Journal::create("test", {}).id());
  EXPECT_EQ(ids.size(), 50u);
  auto listed = Journal::list();
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), ids);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
}

TEST_F(JournalTest, ListOfAMissingFolderIsEmpty) {
  EXPECT_TRUE(Journal::list().empty());
}

TEST_F(JournalTest, DamagedFileIsInvalidArgumentNamingIt) {
  auto j = Journal::create("test", {});
  const std::string path = dir_ + "/journal/" + j.id() + ".json";
  for (const char* text : {"{ truncated", "[]", R"({"schema":"hyperctl.journal/1"})"}) {
    std::ofstream(path, std::ios::trunc) << text;
    try {
      Journal::load(j.id());
      FAIL() << "loaded a damaged journal: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST_F(JournalTest, BadIdIsRefused) {
  for (const char* id : {"", "../etc/passwd", "a/b", "x.json"}) {
    try {
      Journal::load(id);
      FAIL() << id;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << id;
    }
  }
}

// A reader polling the file while a writer saves it over and over only ever
// sees a complete document; no temporary file stays behind.
TEST_F(JournalTest, SavesAreAtomic) {
  auto j = Journal::create("test", {{"big", std::string(200000, 'x')}});
  const std::string id = j.id();
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  std::thread reader([&] {
    while (!stop) {
      try {
        auto k = Journal::load(id);
        if (k.params().at("big").size() != 200000) ++bad;
      } catch (const Error&) {
        ++bad;
      }
      ++reads;
    }
  });
  for (int i = 0; i < 200; ++i) j.add_step("step " + std::to_string(i));
  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(bad.load(), 0);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_ + "/journal")) {
    ++files;
    EXPECT_EQ(e.path().filename().string(), id + ".json");
  }
  EXPECT_EQ(files, 1);
}

// A process killed in the middle of its saves leaves the last complete one.
TEST_F(JournalTest, KilledWriterLeavesACompleteJournal) {
  auto j = Journal::create("test", {{"big", std::string(100000, 'y')}});
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (int i = 0;; ++i) j.add_step("step " + std::to_string(i));
  }
  ::usleep(200000);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto k = Journal::load(j.id());
  EXPECT_EQ(k.params().at("big").size(), 100000u);
  EXPECT_GT(k.steps().size(), 0u);
  for (std::size_t i = 0; i < k.steps().size(); ++i)
    EXPECT_EQ(k.steps()[i].name, "step " + std::to_string(i));
  EXPECT_EQ(Journal::list(), std::vector<std::string>{j.id()});
}

}  // namespace

namespace {

using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::Journal;

ErrorCode load_code(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Internal;
}

TEST_F(JournalTest, MigrationJournalMustMatchKindAndConnections) {
  auto j = Journal::create("migrate-x",
                           {{"source_uri", "x:///a"}, {"target_uri", "x://h/b"}, {"vm", "v"}});
  const auto loaded = hyperctl::load_migration_journal(j.id(), "migrate-x", "an x migration",
                                                       "x:///a", "x://h/b", "migrate");
  EXPECT_EQ(loaded.param("vm"), "v");
  EXPECT_EQ(load_code([&] {
              hyperctl::load_migration_journal(j.id(), "migrate-y", "a y migration", "x:///a",
                                               "x://h/b", "migrate");
            }),
            ErrorCode::InvalidArgument);
  try {
    hyperctl::load_migration_journal(j.id(), "migrate-x", "an x migration", "x:///a", "x://other/b",
                                     "migrate");
    ADD_FAILURE() << "another target was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("x://other/b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x://h/b"), std::string::npos) << e.what();
  }
  EXPECT_EQ(load_code([&] { loaded.param("absent"); }), ErrorCode::InvalidArgument);

  // A failure inside a journalled step: the journal says so, the error names it.
  Journal k = Journal::load(j.id());
  try {
    hyperctl::fail_journalled(k, Error(ErrorCode::Cancelled, "stopped"), "migrate");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
    EXPECT_NE(std::string(e.what()).find("--resume " + j.id()), std::string::npos) << e.what();
    EXPECT_EQ(e.detail().rfind("journal: " + j.id(), 0), 0u) << e.detail();
  }
  EXPECT_EQ(Journal::load(j.id()).status(), "cancelled");
}

}  // namespace
