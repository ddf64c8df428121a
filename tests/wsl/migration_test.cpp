// Offline migration of WSL distributions (backends/wsl/src/migration.cpp)
// through the real process path against the stand-in wsl.exe (tests/wsl/fake).
// Each "machine" is a state folder with its own wrapper scripts for fake-wsl
// and fake-reg (test-only shell: the backend itself runs argv only), named by
// the URI's ?wsl= and ?reg=; the same wrapper in two URIs is the same machine.
// Journals and archives go to a temporary $HYPERCTL_STATE_DIR.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../common/background_cli.hpp"
#include "../common/files.hpp"
#include "hyperctl/journal.hpp"
#include "support.hpp"

extern char** environ;

namespace hyperctl::test {
namespace {

using hyperctl_test::sha256_file;
using hyperctl_test::write_random_file;

constexpr std::uint64_t kDiskBytes = 3u << 20;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A single-quoted POSIX shell word (for the test wrappers only).
std::string sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// One stand-in machine: a state folder, wsl and reg wrappers, a log.
class Machine {
 public:
  Machine(const std::string& root, const std::string& name) : dir_(root + "/" + name) {
    fs::create_directories(dir_ + "/state");
    fs::create_directories(dir_ + "/disks");
    fs::create_directories(dir_ + "/imported");
    fs::create_directories(dir_ + "/moved");
    doc_ = {{"wsl_version", "2.3.24.0"}, {"default_version", 2}, {"distros", json::array()}};
    save();
    set_knobs({});
  }

  /// Rewrites the wrappers with extra variables for fake-wsl; `when_arg`
  /// limits them to runs whose first argument is that (e.g. "--import").
  /// `command`: a shell line run first under the same condition.
  void set_knobs(const std::map<std::string, std::string>& knobs, const std::string& when_arg = {},
                 const std::string& command = {}) {
    std::string vars = command.empty() ? std::string() : command + "\n";
    for (const auto& [k, v] : knobs) vars += "export " + k + "=" + sh(v) + "\n";
    std::string body = "#!/bin/sh\nexport FAKE_WSL_STATE=" + sh(dir_ + "/state") +
                       "\nexport FAKE_WSL_LOG=" + sh(log()) + "\nexport FAKE_WSL_NAME_CHECK=0\n";
    if (when_arg.empty())
      body += vars;
    else
      body += "if [ \"$1\" = " + sh(when_arg) + " ]; then\n" + vars + "fi\n";
    write_script(wsl(), body + "exec " + sh(HYPERCTL_TEST_FAKE_WSL) + " \"$@\"\n");
    write_script(reg(), "#!/bin/sh\nexport FAKE_WSL_STATE=" + sh(dir_ + "/state") + "\nexec " +
                            sh(HYPERCTL_TEST_FAKE_REG) + " \"$@\"\n");
  }

  /// Adds a distribution with a disk of random bytes; returns its disk's path.
  std::string add(const std::string& name, const std::string& state = "Stopped", int version = 2,
                  bool is_default = false, unsigned seed = 1) {
    load();
    const std::string base = dir_ + "/disks/" + std::to_string(doc_["distros"].size());
    fs::create_directories(base);
    const std::string disk = base + (version == 2 ? "/ext4.vhdx" : "/rootfs.img");
    write_random_file(disk, kDiskBytes, seed);
    char guid[64];
    std::snprintf(guid, sizeof guid, "{%08x-1111-4222-8333-%012x}", seed, 0x444u + seed);
    doc_["distros"].push_back({{"name", name},
                               {"guid", guid},
                               {"state", state},
                               {"version", version},
                               {"default", is_default},
                               {"base_path", base},
                               {"sparse", false},
                               {"size_bytes", std::uint64_t{1} << 40}});
    save();
    return disk;
  }

  /// The state file's entry for `name`, or null.
  json entry(const std::string& name) {
    load();
    for (const auto& d : doc_["distros"])
      if (d.value("name", "") == name) return d;
    return nullptr;
  }
  std::size_t count() {
    load();
    return doc_["distros"].size();
  }
  std::string disk_of(const std::string& name) {
    const json d = entry(name);
    if (d.is_null()) return {};
    return d.value("base_path", "") + (d.value("version", 2) == 2 ? "/ext4.vhdx" : "/rootfs.img");
  }
  std::string state_text() { return slurp(dir_ + "/state/state.json"); }

  std::string uri(const std::string& location_leaf = "imported") const {
    return "wsl:///?wsl=" + wsl() + "&reg=" + reg() +
           (location_leaf.empty() ? "" : "&location=" + dir_ + "/" + location_leaf);
  }
  std::string wsl() const { return dir_ + "/wsl.sh"; }
  std::string reg() const { return dir_ + "/reg.sh"; }
  std::string log() const { return dir_ + "/log.jsonl"; }
  const std::string& dir() const { return dir_; }

  /// argv of every logged wsl.exe run, in order.
  std::vector<std::vector<std::string>> runs() const {
    std::vector<std::vector<std::string>> out;
    std::istringstream in(slurp(log()));
    for (std::string line; std::getline(in, line);) {
      const json e = json::parse(line, nullptr, false);
      if (e.is_discarded() || e.value("prog", "") != "wsl" || !e.contains("argv")) continue;
      out.push_back(e["argv"].get<std::vector<std::string>>());
    }
    return out;
  }

 private:
  std::string dir_;
  json doc_;
  void load() { doc_ = json::parse(slurp(dir_ + "/state/state.json")); }
  void save() { std::ofstream(dir_ + "/state/state.json", std::ios::trunc) << doc_.dump(2); }
  static void write_script(const std::string& path, const std::string& body) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << body;
    ::chmod(tmp.c_str(), 0755);
    fs::rename(tmp, path);
  }
};

/// The hyperctl executable in the background (tests/common/background_cli.hpp).
struct Cli : hyperctl_test::BackgroundCli {
  Cli(const std::string& dir, const std::vector<std::string>& args)
      : BackgroundCli(HYPERCTL_TEST_CLI, HYPERCTL_TEST_WSL_PLUGIN_DIR, dir, args) {}
};

/// The journal id named in an error's detail ("journal: ID").
std::string journal_of(const Error& e) {
  const std::string d = e.detail();
  if (d.rfind("journal: ", 0) != 0) return {};
  const auto end = d.find('\n');
  return d.substr(9, end == std::string::npos ? std::string::npos : end - 9);
}

const PreflightItem* item(const PreflightReport& r, const std::string& check) {
  for (const auto& i : r.items)
    if (i.check == check) return &i;
  return nullptr;
}

class WslMigration : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hyperctl-wslmig-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    for (const char* k : kKnobs) ::unsetenv(k);  // each machine's wrapper sets its own
    ::setenv("HYPERCTL_STATE_DIR", (root_ + "/hstate").c_str(), 1);
    src_ = std::make_unique<Machine>(root_, "m1");
    dst_ = std::make_unique<Machine>(root_, "m2");
  }
  void TearDown() override {
    if (!HasFailure()) {
      std::error_code ec;
      fs::remove_all(root_, ec);
    } else {
      std::cerr << "kept for inspection: " << root_ << "\n";
    }
  }

  std::unique_ptr<Connection> open(const std::string& uri) { return registry().open(uri); }

  static MigrationOptions offline(bool remove_source = false, bool shutdown_first = false) {
    MigrationOptions o;
    o.mode = MigrationMode::Offline;
    o.remove_source = remove_source;
    o.shutdown_first = shutdown_first;
    return o;
  }

  /// Everything left in the journal folder (journals, archives, partials).
  std::vector<std::string> journal_files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(Journal::folder(), ec))
      out.push_back(e.path().filename().string());
    return out;
  }

  std::string root_;
  std::unique_ptr<Machine> src_, dst_;
};

// ------------------------------------------------------------------ happy paths

TEST_F(WslMigration, CopiesToAnotherMachineAndLeavesTheSourceAlone) {
  const std::string disk = src_->add("alpha", "Stopped", 2, true, 7);
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  std::map<std::string, std::uint64_t> last;
  auto progress = [&](const Progress& p) { last[p.phase] = std::max(last[p.phase], p.done); };

  const VmInfo moved = s->migration().migrate("alpha", *t, offline(), progress, CancelToken());

  EXPECT_EQ(moved.name, "alpha");
  EXPECT_EQ(moved.backend, "wsl");
  const json there = dst_->entry("alpha");
  ASSERT_FALSE(there.is_null()) << dst_->state_text();
  EXPECT_EQ(there.value("version", 0), 2);
  EXPECT_EQ(there.value("state", ""), "Stopped");
  EXPECT_EQ(there.value("base_path", ""), dst_->dir() + "/imported/alpha");
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  // The three phases report bytes: the export header line plus the disk.
  EXPECT_GE(last["export"], kDiskBytes);
  EXPECT_GE(last["import"], kDiskBytes);
  EXPECT_GE(last["verify"], kDiskBytes);
  EXPECT_TRUE(journal_files().empty()) << "journal or archive left behind";
  // What the target's wsl.exe received, argument by argument.
  bool imported = false;
  for (const auto& argv : dst_->runs())
    if (!argv.empty() && argv[0] == "--import") {
      imported = true;
      EXPECT_EQ(argv,
                (std::vector<std::string>{"--import", "alpha", dst_->dir() + "/imported/alpha", "-",
                                          "--version", "2", "--vhd"}));
    }
  EXPECT_TRUE(imported);
}

TEST_F(WslMigration, RemoveSourceUnregistersOnlyAfterTheTargetIsVerified) {
  const std::string sha = sha256_file(src_->add("alpha"));
  src_->add("other", "Stopped", 2, false, 2);
  // One log for both machines: the order of their runs.
  const std::string shared = root_ + "/shared.jsonl";
  src_->set_knobs({{"FAKE_WSL_LOG", shared}});
  dst_->set_knobs({{"FAKE_WSL_LOG", shared}});
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  s->migration().migrate("alpha", *t, offline(true), {}, CancelToken());

  EXPECT_TRUE(src_->entry("alpha").is_null()) << src_->state_text();
  EXPECT_FALSE(src_->entry("other").is_null());
  ASSERT_FALSE(dst_->entry("alpha").is_null());
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  std::vector<std::string> order;
  std::istringstream in(slurp(shared));
  for (std::string line; std::getline(in, line);) {
    const json e = json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.contains("argv") || e["argv"].empty()) continue;
    const std::string a = e["argv"][0];
    if (a == "--export" || a == "--import" || a == "--unregister") order.push_back(a);
  }
  // export (source), import (target), export (target: verify), export
  // (source: unchanged since?), then the unregister.
  EXPECT_EQ(order, (std::vector<std::string>{"--export", "--import", "--export", "--export",
                                             "--unregister"}));
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, SourceChangedSinceItsExportIsNotRemoved) {
  const std::string disk = src_->add("alpha");
  // From the second export on (the check before the unregister), the
  // source's disk has changed: written to after its export.
  const std::string count = root_ + "/exports";
  src_->set_knobs({}, "--export",
                  "n=$(cat " + sh(count) + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
                      sh(count) + "; [ $n -lt 2 ] || printf Y | dd of=" + sh(disk) +
                      " bs=1 seek=100 conv=notrunc 2>/dev/null");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what()).find("changed since it was exported"), std::string::npos)
      << e->what();
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  EXPECT_FALSE(src_->entry("alpha").is_null()) << "the changed source was unregistered";
  const std::string changed = sha256_file(disk);
  EXPECT_FALSE(dst_->entry("alpha").is_null()) << "the verified copy stays for the operator";

  s->migration().rollback(id, *t);
  EXPECT_TRUE(dst_->entry("alpha").is_null());
  EXPECT_FALSE(src_->entry("alpha").is_null());
  EXPECT_EQ(sha256_file(disk), changed);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, HostileNameIsPassedAsOneArgument) {
  const std::string name = "we ird \"q\" 'x' & 100% ^caret \xc3\xbc\xe2\x82\xac";
  const std::string sha = sha256_file(src_->add(name, "Stopped", 2, false, 9));
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  const VmInfo moved = s->migration().migrate(name, *t, offline(true), {}, CancelToken());

  EXPECT_EQ(moved.name, name);
  ASSERT_FALSE(dst_->entry(name).is_null()) << dst_->state_text();
  EXPECT_EQ(sha256_file(dst_->disk_of(name)), sha);
  EXPECT_TRUE(src_->entry(name).is_null());
  int exports = 0;
  for (const auto& argv : src_->runs())
    if (!argv.empty() && argv[0] == "--export") {
      ++exports;
      EXPECT_EQ(argv, (std::vector<std::string>{"--export", name, "-", "--format", "vhd"}));
    }
  EXPECT_EQ(exports, 2);  // the archive, and the check before the unregister
}

TEST_F(WslMigration, Wsl1DistributionMovesAsTar) {
  const std::string sha = sha256_file(src_->add("old-one", "Stopped", 1, false, 4));
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  s->migration().migrate("old-one", *t, offline(), {}, CancelToken());
  const json there = dst_->entry("old-one");
  ASSERT_FALSE(there.is_null());
  EXPECT_EQ(there.value("version", 0), 1);
  EXPECT_EQ(sha256_file(dst_->disk_of("old-one")), sha);
  for (const auto& argv : dst_->runs())
    if (!argv.empty() && argv[0] == "--import") {
      EXPECT_EQ(argv.back(), "1") << "no --vhd for a tar";
    }
}

// ------------------------------------------------------------------ refusals

TEST_F(WslMigration, RunningSourceIsRefusedUnlessShutdownFirst) {
  src_->add("alpha", "Running");
  const std::string before = src_->state_text();
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  const auto rep = s->migration().preflight("alpha", *t, offline());
  ASSERT_NE(item(rep, "source-state"), nullptr);
  EXPECT_EQ(item(rep, "source-state")->level, CheckLevel::Blocker);
  EXPECT_NE(item(rep, "source-state")->fix.find("--shutdown"), std::string::npos);
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(), {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what()).find("--shutdown"), std::string::npos) << e->what();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(dst_->count(), 0u);
  EXPECT_TRUE(journal_files().empty()) << "a refused migration keeps no journal";

  EXPECT_TRUE(s->migration().preflight("alpha", *t, offline(false, true)).ok());
  s->migration().migrate("alpha", *t, offline(false, true), {}, CancelToken());
  EXPECT_EQ(src_->entry("alpha").value("state", ""), "Stopped");
  EXPECT_FALSE(dst_->entry("alpha").is_null());
}

TEST_F(WslMigration, NameClashOnTheTargetIsRefusedWithNothingChanged) {
  src_->add("alpha", "Stopped", 2, false, 1);
  dst_->add("ALPHA", "Stopped", 2, false, 2);  // wsl.exe names ignore case
  const std::string src_before = src_->state_text(), dst_before = dst_->state_text();
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  const auto rep = s->migration().preflight("alpha", *t, offline(true));
  EXPECT_FALSE(rep.ok());
  ASSERT_NE(item(rep, "name-clash"), nullptr);
  EXPECT_EQ(item(rep, "name-clash")->level, CheckLevel::Blocker);
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_EQ(src_->state_text(), src_before);
  EXPECT_EQ(dst_->state_text(), dst_before);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, LiveModeIsRefused) {
  src_->add("alpha");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  MigrationOptions live;
  live.mode = MigrationMode::Live;
  auto e = error_of([&] { s->migration().migrate("alpha", *t, live, {}, CancelToken()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e->what()).find("--offline"), std::string::npos) << e->what();
  const auto rep = s->migration().preflight("alpha", *t, live);
  ASSERT_NE(item(rep, "mode"), nullptr);
  EXPECT_EQ(item(rep, "mode")->level, CheckLevel::Blocker);
  EXPECT_EQ(dst_->count(), 0u);
}

TEST_F(WslMigration, ATargetOfAnotherBackendIsRefused) {
  src_->add("alpha");
  auto s = open(src_->uri());
  std::unique_ptr<Connection> other;
  try {
    other = open("test:///default");  // libvirt's embedded test driver
  } catch (const Error& e) {
    GTEST_SKIP() << "no second backend in this build: " << e.what();
  }
  auto e = error_of([&] { s->migration().migrate("alpha", *other, offline(), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_NE(std::string(e->what()).find(other->backend_name()), std::string::npos) << e->what();
  e = error_of([&] { s->migration().preflight("alpha", *other, offline()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, PreflightNamesAMissingLocationAndAnInboxTarget) {
  src_->add("alpha");
  auto s = open(src_->uri());
  auto no_location = open(dst_->uri(""));
  auto rep = s->migration().preflight("alpha", *no_location, offline());
  ASSERT_NE(item(rep, "location"), nullptr);
  EXPECT_EQ(item(rep, "location")->level, CheckLevel::Blocker);
  EXPECT_NE(item(rep, "location")->fix.find("?location="), std::string::npos);
  auto e = error_of([&] { s->migration().migrate("alpha", *no_location, offline(), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();

  dst_->set_knobs({{"FAKE_WSL_INBOX", "1"}});
  auto inbox = open(dst_->uri());
  rep = s->migration().preflight("alpha", *inbox, offline());
  ASSERT_NE(item(rep, "wsl-version"), nullptr);
  EXPECT_EQ(item(rep, "wsl-version")->level, CheckLevel::Blocker);
  EXPECT_NE(item(rep, "wsl-version")->fix.find("wsl --update"), std::string::npos);
  EXPECT_EQ(item(rep, "location")->level, CheckLevel::Ok);
  EXPECT_EQ(item(rep, "source-state")->level, CheckLevel::Ok);
  e = error_of([&] { s->migration().migrate("alpha", *inbox, offline(), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Unsupported) << e->what();
  EXPECT_TRUE(journal_files().empty());
}

// ------------------------------------------------------------------ interruptions

TEST_F(WslMigration, KilledExportLeavesNoArchiveThenResumeCompletes) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  src_->set_knobs({{"FAKE_WSL_DIE_AFTER", std::to_string(1u << 20)}}, "--export");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(), {}, CancelToken()); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << "detail: " << e->detail();
  EXPECT_NE(std::string(e->what()).find("--resume " + id), std::string::npos) << e->what();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_EQ(dst_->count(), 0u);
  const Journal j = Journal::load(id);
  EXPECT_EQ(j.kind(), "migrate-offline-wsl");
  EXPECT_EQ(j.status(), "failed");
  const auto ex = j.find_step("export");
  ASSERT_TRUE(ex);
  EXPECT_EQ(j.steps()[*ex].state, StepState::Running);
  // No archive under its final name, and nothing partial either.
  for (const auto& f : journal_files()) EXPECT_EQ(f, id + ".json");

  src_->set_knobs({});  // the next export runs through
  const VmInfo moved = s->migration().resume(id, *t, {}, CancelToken());
  EXPECT_EQ(moved.name, "alpha");
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, FailedVerificationIsRolledBackToTheSourceAsItWas) {
  const std::string disk = src_->add("alpha", "Stopped", 2, true, 3);
  const std::string sha = sha256_file(disk);
  const json entry = src_->entry("alpha");
  // The target imports fine, then its verification export dies.
  dst_->set_knobs({{"FAKE_WSL_DIE_AFTER", "70000"}}, "--export");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  ASSERT_FALSE(dst_->entry("alpha").is_null()) << "imported before the verification failed";
  EXPECT_EQ(src_->entry("alpha"), entry) << "the source is untouched until verified";
  // The journal's SHA-256 (the plugin's own digest) is OpenSSL's of the archive.
  const Journal j = Journal::load(id);
  const auto& check = j.steps()[*j.find_step("check")];
  const std::string archive = check.data.at("archive");
  ASSERT_TRUE(fs::exists(archive));
  EXPECT_EQ(j.steps()[*j.find_step("export")].data.at("sha256"), sha256_file(archive));
  EXPECT_EQ(j.steps()[*j.find_step("export")].data.at("bytes"),
            std::to_string(fs::file_size(archive)));

  s->migration().rollback(id, *t);

  EXPECT_TRUE(dst_->entry("alpha").is_null()) << dst_->state_text();
  EXPECT_EQ(src_->entry("alpha"), entry);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_TRUE(journal_files().empty());
  EXPECT_EQ(error_of([&] { Journal::load(id); })->code(), ErrorCode::NotFound);
}

TEST_F(WslMigration, DifferingCopyFailsVerificationAndResumeImportsItAgain) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  // The target's disk changes behind our back before its verification export.
  const std::string copy = dst_->dir() + "/imported/alpha/ext4.vhdx";
  dst_->set_knobs({}, "--export",
                  "printf X | dd of=" + sh(copy) + " bs=1 seek=4096 conv=notrunc 2>/dev/null");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::BackendFailure) << e->what();
  EXPECT_NE(std::string(e->what()).find("differs"), std::string::npos) << e->what();
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  EXPECT_EQ(src_->state_text(), before) << "the source stays until the copy is verified";
  EXPECT_FALSE(dst_->entry("alpha").is_null()) << "the target is left for a rollback";
  EXPECT_NE(sha256_file(copy), sha);

  dst_->set_knobs({});
  s->migration().resume(id, *t, {}, {});
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  EXPECT_TRUE(src_->entry("alpha").is_null());
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, FailedImportIsRolledBack) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  dst_->set_knobs({{"FAKE_WSL_DIE_AFTER", std::to_string(1u << 20)}}, "--import");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  s->migration().rollback(id, *t);
  EXPECT_EQ(dst_->count(), 0u) << dst_->state_text();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, CancelDuringImportThenRollbackLeavesNoDistributionOnTheTarget) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  dst_->set_knobs({{"FAKE_WSL_SLOW_MS", "40"}}, "--import");  // 48 chunks: about 2 s
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  CancelToken cancel;
  std::atomic<bool> importing{false};
  auto progress = [&](const Progress& p) {
    if (p.phase == "import" && p.done > 0 && !importing.exchange(true)) cancel.cancel();
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), progress, cancel); });
  ASSERT_TRUE(e);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  EXPECT_TRUE(importing.load());
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  EXPECT_EQ(Journal::load(id).status(), "cancelled");
  const Journal j = Journal::load(id);
  EXPECT_NE(j.steps()[*j.find_step("import on target")].state, StepState::Done);
  const json half = dst_->entry("alpha");
  EXPECT_TRUE(half.is_null() || half.value("state", "") == "Installing")
      << "the import ran to its end: " << dst_->state_text();
  EXPECT_EQ(src_->state_text(), before);

  s->migration().rollback(id, *t);
  EXPECT_EQ(dst_->count(), 0u) << dst_->state_text();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, CancelDuringExportLeavesNoArchive) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  src_->set_knobs({{"FAKE_WSL_SLOW_MS", "40"}}, "--export");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  CancelToken cancel;
  auto progress = [&](const Progress& p) {
    if (p.phase == "export" && p.done > 0) cancel.cancel();
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), progress, cancel); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500))
      << "the export (about 2 s) ran on";
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  for (const auto& f : journal_files()) EXPECT_EQ(f, id + ".json");
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(dst_->count(), 0u);
  s->migration().rollback(id, *t);
  EXPECT_TRUE(journal_files().empty());
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
}

TEST_F(WslMigration, ResumeAndRollbackNeedTheJournalsConnections) {
  src_->add("alpha");
  src_->set_knobs({{"FAKE_WSL_DIE_AFTER", "1000"}}, "--export");
  auto s = open(src_->uri());
  auto t = open(dst_->uri());
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty());
  auto elsewhere = open(dst_->uri("moved"));
  EXPECT_EQ(error_of([&] { s->migration().rollback(id, *elsewhere); })->code(),
            ErrorCode::InvalidArgument);
  s->migration().rollback(id, *t);
  EXPECT_TRUE(journal_files().empty());
}

// ------------------------------------------------------------------ the CLI, killed

class WslMigrationCli : public WslMigration {
 protected:
  /// Runs `hyperctl migrate alpha --to TARGET --offline --remove-source` and
  /// SIGKILLs it while the journal says `step` runs; returns the journal id.
  /// An orphaned import then sees its input end early and registers a
  /// truncated copy, which only the journal can tell from a good one; this
  /// waits until `importer` has it.
  std::string killed_during(const std::string& step, const std::string& target, Machine& importer) {
    Cli cli(root_, {"-c", src_->uri(), "migrate", "alpha", "--to", target, "--offline",
                    "--remove-source"});
    std::string id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::optional<std::chrono::steady_clock::time_point> since;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::vector<std::string> ids;
      try {
        ids = Journal::list();
      } catch (const Error&) {
      }
      if (ids.size() != 1) continue;
      id = ids.front();
      bool running = false;
      try {
        const Journal j = Journal::load(id);
        const auto i = j.find_step(step);
        running = i && j.steps()[*i].state == StepState::Running;
      } catch (const Error&) {
      }
      if (!running) continue;
      if (!since) since = std::chrono::steady_clock::now();
      if (std::chrono::steady_clock::now() - *since > std::chrono::milliseconds(300)) {
        cli.kill();
        break;
      }
    }
    const int status = cli.wait();
    EXPECT_EQ(status, -SIGKILL) << "the migration ended before it was killed (status " << status
                                << ")\n"
                                << cli.out() << cli.err();
    for (int i = 0; i < 500; ++i) {
      const json d = importer.entry("alpha");
      if (d.is_null() || d.value("state", "") != "Installing") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return id;
  }
  std::string killed_mid_import() {
    const std::string id = killed_during("import on target", dst_->uri(), *dst_);
    for (int i = 0; i < 500 && dst_->entry("alpha").is_null(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return id;
  }
};

TEST_F(WslMigrationCli, KilledDuringImportThenRolledBack) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  dst_->set_knobs({{"FAKE_WSL_SLOW_MS", "30"}}, "--import");
  const std::string id = killed_mid_import();
  ASSERT_FALSE(id.empty());
  const json left = dst_->entry("alpha");
  ASSERT_FALSE(left.is_null()) << "the orphaned import registered nothing";
  EXPECT_NE(sha256_file(dst_->disk_of("alpha")), sha) << "it is a truncated copy";
  EXPECT_EQ(src_->state_text(), before);

  Cli rollback(root_, {"-c", src_->uri(), "migrate", "--rollback", id});
  EXPECT_EQ(rollback.wait(), 0) << rollback.out() << rollback.err();
  EXPECT_EQ(dst_->count(), 0u) << dst_->state_text();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigrationCli, KilledDuringImportThenResumed) {
  const std::string sha = sha256_file(src_->add("alpha"));
  dst_->set_knobs({{"FAKE_WSL_SLOW_MS", "30"}}, "--import");
  const std::string id = killed_mid_import();
  ASSERT_FALSE(id.empty());
  EXPECT_FALSE(src_->entry("alpha").is_null());

  dst_->set_knobs({});
  Cli resume(root_, {"-c", src_->uri(), "migrate", "--resume", id});
  EXPECT_EQ(resume.wait(), 0) << resume.out() << resume.err();
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha) << "the truncated copy was replaced";
  EXPECT_TRUE(src_->entry("alpha").is_null()) << "--remove-source, from the journal";
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigrationCli, KilledDuringExportThenResumed) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  src_->set_knobs({{"FAKE_WSL_SLOW_MS", "30"}}, "--export");
  const std::string id = killed_during("export", dst_->uri(), *dst_);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(dst_->count(), 0u);
  const std::string archive =
      Journal::load(id).steps()[*Journal::load(id).find_step("check")].data.at("archive");
  EXPECT_FALSE(fs::exists(archive)) << "an archive under its final name";

  src_->set_knobs({});
  Cli resume(root_, {"-c", src_->uri(), "migrate", "--resume", id});
  EXPECT_EQ(resume.wait(), 0) << resume.out() << resume.err();
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  EXPECT_TRUE(src_->entry("alpha").is_null());
  EXPECT_TRUE(journal_files().empty()) << "the partial archive of the killed run is gone too";
}

TEST_F(WslMigrationCli, SameMachineKilledDuringImportThenRolledBack) {
  const std::string disk = src_->add("alpha", "Stopped", 2, true, 12);
  src_->add("beta", "Stopped", 2, false, 13);
  const std::string sha = sha256_file(disk);
  const json entry = src_->entry("alpha");
  src_->set_knobs({{"FAKE_WSL_SLOW_MS", "30"}}, "--import");
  const std::string id = killed_during("import on target", src_->uri("moved"), *src_);
  ASSERT_FALSE(id.empty());
  for (int i = 0; i < 500 && src_->entry("alpha").is_null(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const json left = src_->entry("alpha");
  ASSERT_FALSE(left.is_null()) << "the orphaned import registered nothing";
  EXPECT_NE(left.value("guid", ""), entry.value("guid", "")) << "the copy, not the source";

  src_->set_knobs({});
  Cli rollback(root_, {"-c", src_->uri(), "migrate", "--rollback", id});
  EXPECT_EQ(rollback.wait(), 0) << rollback.out() << rollback.err();
  const json back = src_->entry("alpha");
  ASSERT_FALSE(back.is_null()) << src_->state_text();
  EXPECT_EQ(back.value("base_path", ""), entry.value("base_path", ""));
  EXPECT_TRUE(back.value("default", false));
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_EQ(src_->count(), 2u);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigrationCli, SameMachineKilledDuringImportThenResumed) {
  const std::string sha = sha256_file(src_->add("alpha", "Stopped", 2, false, 14));
  src_->set_knobs({{"FAKE_WSL_SLOW_MS", "30"}}, "--import");
  const std::string id = killed_during("import on target", src_->uri("moved"), *src_);
  ASSERT_FALSE(id.empty());

  src_->set_knobs({});
  Cli resume(root_, {"-c", src_->uri(), "migrate", "--resume", id});
  EXPECT_EQ(resume.wait(), 0) << resume.out() << resume.err();
  const json moved = src_->entry("alpha");
  ASSERT_FALSE(moved.is_null()) << src_->state_text();
  EXPECT_EQ(moved.value("base_path", ""), src_->dir() + "/moved/alpha");
  EXPECT_EQ(sha256_file(src_->disk_of("alpha")), sha);
  EXPECT_EQ(src_->count(), 1u);
  EXPECT_TRUE(journal_files().empty());
}

// ------------------------------------------------------------------ over ssh

/// The target reached as wsl://user@127.0.0.1:PORT/ through the sshd test
/// bed (tests/testbed/sshd.sh, fixture ssh_daemon): the archive streams to
/// the remote wsl.exe through ssh's standard input.
class WslMigrationSsh : public WslMigration {
 protected:
  void SetUp() override {
    WslMigration::SetUp();
    const char* state = std::getenv("HYPERCTL_TESTBED_SSH_STATE");
    if (!state || !*state) GTEST_SKIP() << "HYPERCTL_TESTBED_SSH_STATE not set: no sshd test bed";
    const std::string dir = state;
    if (fs::exists(dir + "/unavailable")) GTEST_SKIP() << slurp(dir + "/unavailable");
    auto line = [&](const char* f) {
      std::string v = slurp(dir + "/" + f);
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      return v;
    };
    if (line("port").empty()) GTEST_SKIP() << "the sshd test bed is not running (" << dir << ")";
    remote_ = "wsl://" + line("user") + "@" + line("host") + ":" + line("port") +
              "/?wsl=" + dst_->wsl() + "&reg=" + dst_->reg() + "&location=" + dst_->dir() +
              "/imported&identity=" + dir + "/id_ed25519&known_hosts=" + dir + "/known_hosts";
  }
  std::string remote_;
};

TEST_F(WslMigrationSsh, StreamsTheArchiveToAnotherHost) {
  const std::string sha = sha256_file(src_->add("alpha", "Stopped", 2, false, 11));
  auto s = open(src_->uri());
  auto t = open(remote_);
  EXPECT_TRUE(s->migration().preflight("alpha", *t, offline(true)).ok());
  const VmInfo moved = s->migration().migrate("alpha", *t, offline(true), {}, {});
  EXPECT_EQ(moved.name, "alpha");
  ASSERT_FALSE(dst_->entry("alpha").is_null()) << dst_->state_text();
  EXPECT_EQ(sha256_file(dst_->disk_of("alpha")), sha);
  EXPECT_TRUE(src_->entry("alpha").is_null());
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigrationSsh, CancelledImportLeavesNothingOnTheOtherHostAfterRollback) {
  const std::string disk = src_->add("alpha");
  const std::string sha = sha256_file(disk);
  const std::string before = src_->state_text();
  dst_->set_knobs({{"FAKE_WSL_SLOW_MS", "40"}}, "--import");
  auto s = open(src_->uri());
  auto t = open(remote_);
  CancelToken cancel;
  auto progress = [&](const Progress& p) {
    if (p.phase == "import" && p.done > 0) cancel.cancel();
  };
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), progress, cancel); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Cancelled) << e->what();
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  // The remote import outlives the killed ssh client for a moment.
  for (int i = 0; i < 300 && !dst_->entry("alpha").is_null(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  s->migration().rollback(id, *t);
  EXPECT_EQ(dst_->count(), 0u) << dst_->state_text();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_TRUE(journal_files().empty());
}

// ------------------------------------------------------------------ same machine

TEST_F(WslMigration, SameMachineNeedsRemoveSource) {
  src_->add("alpha");
  const std::string before = src_->state_text();
  auto s = open(src_->uri());
  auto t = open(src_->uri("moved"));
  const auto rep = s->migration().preflight("alpha", *t, offline());
  ASSERT_NE(item(rep, "name-clash"), nullptr);
  EXPECT_EQ(item(rep, "name-clash")->level, CheckLevel::Blocker);
  EXPECT_NE(item(rep, "name-clash")->fix.find("--remove-source"), std::string::npos);
  EXPECT_NE(item(rep, "name-clash")->fix.find("--property location="), std::string::npos);
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_TRUE(journal_files().empty());
  EXPECT_TRUE(s->migration().preflight("alpha", *t, offline(true)).ok());
}

TEST_F(WslMigration, SameMachineThroughAnotherWslPathIsNotTakenForAnother) {
  src_->add("alpha");
  const std::string before = src_->state_text();
  // The same machine's wsl.exe under a second path: the backend cannot know.
  const std::string alias = root_ + "/alias-wsl.sh";
  fs::copy_file(src_->wsl(), alias);
  auto s = open(src_->uri());
  auto t =
      open("wsl:///?wsl=" + alias + "&reg=" + src_->reg() + "&location=" + src_->dir() + "/moved");
  const auto rep = s->migration().preflight("alpha", *t, offline(true));
  ASSERT_NE(item(rep, "name-clash"), nullptr);
  EXPECT_EQ(item(rep, "name-clash")->level, CheckLevel::Blocker);
  EXPECT_NE(item(rep, "name-clash")->fix.find("same ?wsl="), std::string::npos)
      << item(rep, "name-clash")->fix;
  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::Conflict) << e->what();
  EXPECT_NE(std::string(e->what()).find("same ?wsl="), std::string::npos) << e->what();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, SameMachineSameFolderIsRefused) {
  src_->add("0");  // lives in disks/0: the target folder <location>/<name> when location is disks
  const std::string before = src_->state_text();
  auto s = open(src_->uri());
  auto t = open(src_->uri("disks"));
  const auto rep = s->migration().preflight("0", *t, offline(true));
  ASSERT_NE(item(rep, "name-clash"), nullptr);
  EXPECT_EQ(item(rep, "name-clash")->level, CheckLevel::Blocker);
  auto e = error_of([&] { s->migration().migrate("0", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  EXPECT_EQ(src_->state_text(), before);
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, SameMachineMoveWithRemoveSource) {
  const std::string sha = sha256_file(src_->add("alpha", "Stopped", 2, true, 5));
  src_->add("beta", "Stopped", 2, false, 6);
  auto s = open(src_->uri());
  auto t = open(src_->uri("moved"));

  s->migration().migrate("alpha", *t, offline(true), {}, {});

  const json moved = src_->entry("alpha");
  ASSERT_FALSE(moved.is_null()) << src_->state_text();
  EXPECT_EQ(src_->count(), 2u);
  EXPECT_EQ(moved.value("base_path", ""), src_->dir() + "/moved/alpha");
  EXPECT_EQ(sha256_file(src_->disk_of("alpha")), sha);
  EXPECT_TRUE(moved.value("default", false)) << "the default flag moves along";
  EXPECT_FALSE(fs::exists(src_->dir() + "/disks/0/ext4.vhdx"));
  EXPECT_TRUE(journal_files().empty());
}

TEST_F(WslMigration, SameMachineRollbackReimportsTheSource) {
  const std::string disk = src_->add("alpha", "Stopped", 2, true, 8);
  src_->add("beta", "Stopped", 2, false, 9);
  const std::string sha = sha256_file(disk);
  const json entry = src_->entry("alpha");
  src_->set_knobs({{"FAKE_WSL_DIE_AFTER", std::to_string(1u << 20)}}, "--import");
  auto s = open(src_->uri());
  auto t = open(src_->uri("moved"));

  auto e = error_of([&] { s->migration().migrate("alpha", *t, offline(true), {}, {}); });
  ASSERT_TRUE(e);
  const std::string id = journal_of(*e);
  ASSERT_FALSE(id.empty()) << e->what();
  EXPECT_TRUE(src_->entry("alpha").is_null()) << "unregistered before the import";

  src_->set_knobs({});
  s->migration().rollback(id, *t);

  const json back = src_->entry("alpha");
  ASSERT_FALSE(back.is_null()) << src_->state_text();
  EXPECT_EQ(back.value("base_path", ""), entry.value("base_path", ""));
  EXPECT_EQ(back.value("version", 0), 2);
  EXPECT_TRUE(back.value("default", false));
  EXPECT_EQ(sha256_file(disk), sha);
  EXPECT_FALSE(fs::exists(src_->dir() + "/moved/alpha/ext4.vhdx"));
  EXPECT_EQ(src_->count(), 2u);
  EXPECT_TRUE(journal_files().empty());
}

}  // namespace
}  // namespace hyperctl::test
