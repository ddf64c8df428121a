// FleetConfig: the file format, its errors with their lines, groups, and
// editing that keeps what the user wrote.
#include "hyperctl/config.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "../common/env.hpp"
#include "../common/expect_error.hpp"
#include "hyperctl/uri.hpp"

namespace fs = std::filesystem;
using hyperctl::ConnectionEntry;
using hyperctl::Error;
using hyperctl::ErrorCode;
using hyperctl::FleetConfig;
using hyperctl::test::error_of;
using hyperctl::test::read_file;

namespace {

/// The message of the InvalidArgument error parsing `text` raises.
std::string parse_error(const std::string& text) {
  auto e = error_of([&] { FleetConfig::parse(text, "/etc/x.conf"); });
  if (!e) return "(no error)";
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << e->what();
  const std::string msg = e->what();
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  return msg;
}

const char* kSample =
    "# my hosts\n"
    "[connection kvm1]\n"
    "uri = qemu+ssh://root@kvm1.example.com/system\n"
    "user = admin\n"
    "credentials = env:KVM1_PASSWORD\n"
    "tags = prod, kvm\n"
    "timeout = 20s\n"
    "\n"
    "; the test host\n"
    "[connection lab]\n"
    "uri = test:///default\n"
    "tags = kvm,lab\n"
    "timeout = 500ms\n"
    "\n"
    "[connection win1]\n"
    "uri = hyperv://win1.example.com/\n"
    "tags = windows, prod\n"
    "timeout = 2m\n"
    "\n"
    "[group prod]\n"
    "members = kvm1, tag:windows, tag:prod\n"
    "[group all-kvm]\n"
    "members = tag:kvm\n";

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hyperctl-config-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

}  // namespace

TEST(ConfigParse, ReadsConnectionsAndGroups) {
  const FleetConfig cfg = FleetConfig::parse(kSample, "sample");
  ASSERT_EQ(cfg.connections().size(), 3u);
  const ConnectionEntry* kvm1 = cfg.find("kvm1");
  ASSERT_NE(kvm1, nullptr);
  EXPECT_EQ(kvm1->uri, "qemu+ssh://root@kvm1.example.com/system");
  EXPECT_EQ(kvm1->user, "admin");
  EXPECT_EQ(kvm1->credentials, "env:KVM1_PASSWORD");
  EXPECT_EQ(kvm1->tags, (std::vector<std::string>{"prod", "kvm"}));
  ASSERT_TRUE(kvm1->timeout);
  EXPECT_EQ(kvm1->timeout->count(), 20000);
  EXPECT_EQ(kvm1->line, 2);
  EXPECT_EQ(cfg.find("lab")->timeout->count(), 500);
  EXPECT_EQ(cfg.find("win1")->timeout->count(), 120000);
  EXPECT_FALSE(cfg.find("lab")->user.size());
  EXPECT_EQ(cfg.find("nope"), nullptr);
  ASSERT_EQ(cfg.groups().size(), 2u);
  EXPECT_EQ(cfg.groups()[0].name, "prod");
  EXPECT_EQ(cfg.groups()[0].line, 20);
}

TEST(ConfigParse, PlainTimeoutIsSeconds) {
  const auto cfg = FleetConfig::parse("[connection a]\nuri = test:///default\ntimeout = 15\n", "x");
  EXPECT_EQ(cfg.find("a")->timeout->count(), 15000);
}

TEST(ConfigParse, TrailingHashIsPartOfTheValue) {
  // No trailing comments: '#' after a value is data.
  const auto cfg = FleetConfig::parse("[connection a]\nuri = test:///default\nuser = ro#ot\n", "x");
  EXPECT_EQ(cfg.find("a")->user, "ro#ot");
}

TEST(ConfigParse, EmptyTextIsEmptyConfig) {
  const auto cfg = FleetConfig::parse("# nothing\n\n; here\n", "x");
  EXPECT_TRUE(cfg.connections().empty());
  EXPECT_TRUE(cfg.groups().empty());
}

TEST(ConfigErrors, UnknownSection) {
  EXPECT_EQ(parse_error("# c\n[host a]\nuri = test:///default\n"),
            "/etc/x.conf:2: unknown section 'host' (connection NAME or group NAME)");
}

TEST(ConfigErrors, UnclosedHeader) {
  EXPECT_EQ(parse_error("[connection a\n"), "/etc/x.conf:1: section header without closing ']'");
}

TEST(ConfigErrors, UnknownKey) {
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\npassword = x\n"),
            "/etc/x.conf:3: unknown key 'password' in a connection (uri, user, credentials, "
            "tags, timeout)");
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[group g]\nuri = test:///x\n"),
            "/etc/x.conf:4: unknown key 'uri' in a group (members)");
}

TEST(ConfigErrors, RepeatedKey) {
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n\nuri = test:///other\n"),
            "/etc/x.conf:4: repeated key 'uri' (first at line 2)");
}

TEST(ConfigErrors, MissingUriReportsTheSectionLine) {
  EXPECT_EQ(parse_error("\n\n[connection a]\nuser = x\n[connection b]\nuri = test:///default\n"),
            "/etc/x.conf:3: connection 'a' has no uri");
  // Also for the last section of the file.
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[connection b]\n"),
            "/etc/x.conf:3: connection 'b' has no uri");
}

TEST(ConfigErrors, BadName) {
  const std::string why = " (letters, digits, '.', '_' and '-', starting with a letter or digit)";
  EXPECT_EQ(parse_error("[connection -a]\n"), "/etc/x.conf:1: bad name '-a'" + why);
  EXPECT_EQ(parse_error("[connection a b]\n"), "/etc/x.conf:1: bad name 'a b'" + why);
  EXPECT_EQ(parse_error("[connection qemu:///system]\n"),
            "/etc/x.conf:1: bad name 'qemu:///system'" + why);
  EXPECT_EQ(parse_error("[group $(id)]\n"), "/etc/x.conf:1: bad name '$(id)'" + why);
  EXPECT_EQ(parse_error("[connection]\n"),
            "/etc/x.conf:1: [connection] needs a name: [connection NAME]");
  // A hostile name cannot break the line or colour the terminal.
  const std::string msg = parse_error("[connection a\x1b[31m]\n");
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
}

TEST(ConfigErrors, DuplicateNames) {
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[connection a]\nuri = test:///x\n"),
            "/etc/x.conf:3: duplicate name 'a' (already used at line 1)");
  // Across kinds: a group may not take a connection's name, nor the reverse.
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[group a]\nmembers = a\n"),
            "/etc/x.conf:3: duplicate name 'a' (already used at line 1)");
  EXPECT_EQ(parse_error("[group g]\nmembers = a\n[connection g]\nuri = test:///default\n"),
            "/etc/x.conf:3: duplicate name 'g' (already used at line 1)");
}

TEST(ConfigErrors, MemberNamingNothing) {
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[group g]\nmembers = a, b\n"),
            "/etc/x.conf:4: member 'b' of group 'g' names no connection");
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\n[group g]\nmembers = a\n"
                        "[group h]\nmembers = g\n"),
            "/etc/x.conf:6: member 'g' of group 'h' is a group (groups hold connections and "
            "tags)");
  EXPECT_EQ(parse_error("[group g]\nmembers = ,\n"), "/etc/x.conf:2: empty members list");
  EXPECT_EQ(parse_error("[group g]\n"), "/etc/x.conf:1: group 'g' has no members");
  EXPECT_EQ(parse_error("[group g]\nmembers = tag:\n"),
            "/etc/x.conf:2: bad member 'tag:' (a connection name or tag:TAG)");
}

TEST(ConfigErrors, GroupMayComeBeforeItsConnections) {
  const auto cfg = FleetConfig::parse(
      "[group g]\nmembers = b, a\n[connection a]\nuri = test:///default\n"
      "[connection b]\nuri = test:///default\n",
      "x");
  const auto members = cfg.group("g");
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].name, "b");
  EXPECT_EQ(members[1].name, "a");
}

TEST(ConfigErrors, BadTimeout) {
  for (const char* bad : {"0", "fast", "10h", "-5s", "1.5s", "s", "99999999999"}) {
    EXPECT_EQ(
        parse_error(std::string("[connection a]\nuri = test:///default\ntimeout = ") + bad + "\n"),
        std::string("/etc/x.conf:3: bad timeout '") + bad + "' (a number above 0 with ms, s or m)");
  }
}

TEST(ConfigErrors, InvalidUriUsesTheUriParser) {
  // Whatever hyperctl::Uri::parse says, after FILE:LINE.
  std::string uri_says;
  try {
    hyperctl::Uri::parse("qemu://root:secret@host/system");
  } catch (const Error& e) {
    uri_says = e.what();
  }
  ASSERT_FALSE(uri_says.empty());
  const std::string msg = parse_error("[connection a]\nuri = qemu://root:secret@host/system\n");
  EXPECT_EQ(msg, "/etc/x.conf:2: bad uri: " + uri_says);
  EXPECT_EQ(
      parse_error("[connection a]\nuri = kvm1.example.com\n").rfind("/etc/x.conf:2: bad uri: ", 0),
      0u);
  EXPECT_EQ(parse_error("[connection a]\nuri =\n"), "/etc/x.conf:2: empty uri");
}

TEST(ConfigErrors, OtherLines) {
  EXPECT_EQ(parse_error("uri = test:///default\n"),
            "/etc/x.conf:1: KEY = VALUE before any [connection NAME] or [group NAME]");
  EXPECT_EQ(parse_error("[connection a]\nuri test:///default\n"),
            "/etc/x.conf:2: expected KEY = VALUE or a [section] header");
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\ncredentials = vault:x\n"),
            "/etc/x.conf:3: bad credentials value (env:VAR, file, file:KEY, prompt or none)");
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\ncredentials = env:1X\n")
                .rfind("/etc/x.conf:3: bad credentials value: env: needs a variable name", 0),
            0u);
  EXPECT_EQ(parse_error("[connection a]\nuri = test:///default\ntags = ok, no way\n"),
            "/etc/x.conf:3: bad tag 'no way' (letters, digits, '.', '_' and '-', starting with "
            "a letter or digit)");
}

// A user may have written the password itself after `credentials =`: the
// message names the line and the allowed forms, never the value.
TEST(ConfigErrors, BadCredentialsValueIsNeverQuoted) {
  for (const std::string value :
       {"hunter2-Secret", "env:hunter2-Secret", "file:#hunter2-Secret", "file:hunter2=Secret"}) {
    const std::string msg =
        parse_error("[connection a]\nuri = test:///default\ncredentials = " + value + "\n");
    EXPECT_EQ(msg.rfind("/etc/x.conf:3: bad credentials value", 0), 0u) << msg;
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("Secret"), std::string::npos) << msg;

    FleetConfig cfg = FleetConfig::parse("", "/cfg");
    ConnectionEntry e;
    e.name = "a";
    e.uri = "test:///default";
    e.credentials = value;
    auto err = error_of([&] { cfg.add(e); });
    ASSERT_TRUE(err) << value;
    EXPECT_EQ(err->code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(err->what()).find("hunter2"), std::string::npos) << err->what();
    EXPECT_EQ(std::string(err->what()).rfind("bad credentials value", 0), 0u) << err->what();
  }
}

// Two names with one HYPERCTL_PASSWORD_<NAME> would silently share a password.
TEST(ConfigErrors, NamesSharingAPasswordVariable) {
  EXPECT_EQ(parse_error("[connection kvm-1]\nuri = test:///default\n\n"
                        "[connection kvm.1]\nuri = test:///default\n"),
            "/etc/x.conf:4: connection 'kvm.1' shares HYPERCTL_PASSWORD_KVM_1 with 'kvm-1' "
            "(line 1); rename one");
  EXPECT_EQ(parse_error("[connection kvm_1]\nuri = test:///default\n"
                        "[connection kvm-1]\nuri = test:///default\n"),
            "/etc/x.conf:3: connection 'kvm-1' shares HYPERCTL_PASSWORD_KVM_1 with 'kvm_1' "
            "(line 1); rename one");
  EXPECT_EQ(parse_error("[connection Web1]\nuri = test:///default\n"
                        "[group g]\nmembers = Web1\n"
                        "[connection web1]\nuri = test:///default\n"),
            "/etc/x.conf:5: connection 'web1' shares HYPERCTL_PASSWORD_WEB1 with 'Web1' "
            "(line 1); rename one");
  // A group's name has no password: it may look like a connection's.
  EXPECT_NO_THROW(FleetConfig::parse(
      "[connection web1]\nuri = test:///default\n[group Web1]\nmembers = web1\n", "x"));

  FleetConfig cfg =
      FleetConfig::parse("# hosts\n[connection kvm-1]\nuri = test:///default\n", "/cfg");
  for (const std::string name : {"kvm.1", "kvm_1", "KVM-1"}) {
    ConnectionEntry e;
    e.name = name;
    e.uri = "test:///default";
    auto err = error_of([&] { cfg.add(e); });
    ASSERT_TRUE(err) << name;
    EXPECT_EQ(err->code(), ErrorCode::AlreadyExists);
    EXPECT_EQ(std::string(err->what()), "connection '" + name +
                                            "' shares HYPERCTL_PASSWORD_KVM_1 with 'kvm-1' "
                                            "(line 2); rename one");
  }
  EXPECT_EQ(cfg.connections().size(), 1u);
  ConnectionEntry other;
  other.name = "kvm-2";
  other.uri = "test:///default";
  EXPECT_NO_THROW(cfg.add(other));
}

TEST(ConfigGroups, ExpandsTagsInOrderEachOnce) {
  const FleetConfig cfg = FleetConfig::parse(kSample, "sample");
  const auto prod = cfg.group("prod");
  ASSERT_EQ(prod.size(), 2u);  // kvm1, then win1 (tag:windows); tag:prod adds nothing new
  EXPECT_EQ(prod[0].name, "kvm1");
  EXPECT_EQ(prod[1].name, "win1");
  const auto kvm = cfg.group("all-kvm");
  ASSERT_EQ(kvm.size(), 2u);
  EXPECT_EQ(kvm[0].name, "kvm1");
  EXPECT_EQ(kvm[1].name, "lab");
}

TEST(ConfigGroups, TagMatchingNothingIsAnEmptyGroup) {
  const auto cfg = FleetConfig::parse("[group g]\nmembers = tag:none\n", "x");
  EXPECT_TRUE(cfg.group("g").empty());
}

TEST(ConfigGroups, UnknownGroup) {
  const FleetConfig cfg = FleetConfig::parse(kSample, "/home/u/.config/hyperctl/config");
  auto e = error_of([&] { cfg.group("kvm1"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_STREQ(e->what(), "no group named 'kvm1' in /home/u/.config/hyperctl/config");
}

TEST(ConfigSelect, ByNameEachOnceAndUnknownName) {
  const FleetConfig cfg = FleetConfig::parse(kSample, "/cfg");
  const auto sel = cfg.select({"win1", "kvm1", "win1"});
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].name, "win1");
  EXPECT_EQ(sel[1].name, "kvm1");
  auto e = error_of([&] { cfg.select({"kvm1", "x"}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::NotFound);
  EXPECT_STREQ(e->what(), "no connection named 'x' in /cfg");
}

TEST(ConfigEdit, AddChecksLikeLoad) {
  FleetConfig cfg = FleetConfig::parse(kSample, "/cfg");
  ConnectionEntry e;
  e.name = "lab";
  e.uri = "test:///default";
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::AlreadyExists);
  e.name = "prod";  // a group's name
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::AlreadyExists);
  e.name = "bad name";
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::InvalidArgument);
  e.name = "new";
  e.uri = "no-scheme";
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::InvalidArgument);
  e.uri = "test:///default";
  e.user = "a\nb";
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::InvalidArgument);
  e.user.clear();
  e.credentials = "vault";
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::InvalidArgument);
  e.credentials.clear();
  e.tags = {"ok", "not ok"};
  EXPECT_ERROR_CODE(cfg.add(e), ErrorCode::InvalidArgument);
  e.tags = {"ok"};
  cfg.add(e);
  ASSERT_NE(cfg.find("new"), nullptr);
  EXPECT_EQ(cfg.connections().back().name, "new");
}

TEST(ConfigEdit, RemoveNotFoundAndConflict) {
  FleetConfig cfg = FleetConfig::parse(kSample, "/cfg");
  auto nf = error_of([&] { cfg.remove("nope"); });
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->code(), ErrorCode::NotFound);
  EXPECT_STREQ(nf->what(), "no connection named 'nope' in /cfg");
  auto conflict = error_of([&] { cfg.remove("kvm1"); });
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->code(), ErrorCode::Conflict);
  EXPECT_STREQ(conflict->what(),
               "connection 'kvm1' is a member of group 'prod' (/cfg:20); remove it there first");
  // A group is not a connection.
  EXPECT_ERROR_CODE(cfg.remove("prod"), ErrorCode::NotFound);
  // Membership through a tag is no conflict: the group just gets smaller.
  cfg.remove("lab");
  EXPECT_EQ(cfg.find("lab"), nullptr);
  ASSERT_EQ(cfg.group("all-kvm").size(), 1u);
}

class ConfigFile : public TempDir {};

TEST_F(ConfigFile, MissingFileIsEmptyAndSaveCreatesFolder0700) {
  const std::string path = (dir_ / "a" / "hyperctl" / "config").string();
  FleetConfig cfg = FleetConfig::load(path);
  EXPECT_TRUE(cfg.connections().empty());
  EXPECT_EQ(cfg.origin(), path);
  ConnectionEntry e;
  e.name = "lab";
  e.uri = "test:///default";
  e.user = "alice";
  e.credentials = "file:lab-key";
  e.tags = {"a", "b"};
  e.timeout = std::chrono::milliseconds(1500);
  cfg.add(e);
  cfg.save();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "a" / "hyperctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(read_file(path),
            "[connection lab]\nuri = test:///default\nuser = alice\ncredentials = file:lab-key\n"
            "tags = a, b\ntimeout = 1500ms\n");
  // No temporary left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir_ / "a" / "hyperctl")) ++files;
  EXPECT_EQ(files, 1u);
  const FleetConfig again = FleetConfig::load(path);
  ASSERT_NE(again.find("lab"), nullptr);
  EXPECT_EQ(again.find("lab")->timeout->count(), 1500);
  EXPECT_EQ(again.find("lab")->tags, e.tags);
  EXPECT_EQ(again.find("lab")->credentials, "file:lab-key");
}

TEST_F(ConfigFile, SaveKeepsCommentsAndOrder) {
  const std::string path = (dir_ / "config").string();
  { std::ofstream(path) << kSample; }
  ::chmod(path.c_str(), 0640);
  FleetConfig cfg = FleetConfig::load(path);
  cfg.save();
  EXPECT_EQ(read_file(path), kSample) << "a load/save round trip changes nothing";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "the file's mode is kept";

  // Remove lab (its comment line above goes with it), add one at the end.
  cfg.remove("lab");
  ConnectionEntry e;
  e.name = "new1";
  e.uri = "qemu:///system";
  cfg.add(e);
  cfg.save();
  const std::string expected =
      "# my hosts\n"
      "[connection kvm1]\n"
      "uri = qemu+ssh://root@kvm1.example.com/system\n"
      "user = admin\n"
      "credentials = env:KVM1_PASSWORD\n"
      "tags = prod, kvm\n"
      "timeout = 20s\n"
      "\n"
      "[connection win1]\n"
      "uri = hyperv://win1.example.com/\n"
      "tags = windows, prod\n"
      "timeout = 2m\n"
      "\n"
      "[group prod]\n"
      "members = kvm1, tag:windows, tag:prod\n"
      "[group all-kvm]\n"
      "members = tag:kvm\n"
      "\n"
      "[connection new1]\n"
      "uri = qemu:///system\n";
  EXPECT_EQ(read_file(path), expected);
  const FleetConfig again = FleetConfig::load(path);
  ASSERT_EQ(again.connections().size(), 3u);
  EXPECT_EQ(again.connections()[0].name, "kvm1");
  EXPECT_EQ(again.connections()[1].name, "win1");
  EXPECT_EQ(again.connections()[2].name, "new1");

  // Remove the one just added, and one in the middle after edits.
  FleetConfig edit = FleetConfig::load(path);
  edit.remove("new1");
  edit.remove("win1");
  edit.save();
  const FleetConfig last = FleetConfig::load(path);
  ASSERT_EQ(last.connections().size(), 1u);
  EXPECT_EQ(last.group("prod").size(), 1u);
  EXPECT_EQ(read_file(path).find("\n\n\n"), std::string::npos) << read_file(path);
  EXPECT_EQ(read_file(path).rfind("# my hosts\n", 0), 0u);
}

TEST_F(ConfigFile, RemovingTheFirstSectionKeepsTheFileComment) {
  // A comment right above a section goes with it, except at the top of the
  // file, where it is taken to be about the file.
  FleetConfig cfg = FleetConfig::parse(
      "# about this file\n[connection a]\nuri = test:///default\n\n# b's own comment\n"
      "[connection b]\nuri = test:///default\n",
      "x");
  cfg.remove("a");
  cfg.remove("b");
  const std::string path = (dir_ / "c").string();
  cfg.save(path);
  EXPECT_EQ(read_file(path), "# about this file\n");
}

TEST_F(ConfigFile, SaveToAnotherPath) {
  FleetConfig cfg = FleetConfig::parse(kSample, "sample");
  const std::string path = (dir_ / "copy").string();
  cfg.save(path);
  EXPECT_EQ(read_file(path), kSample);
}

TEST_F(ConfigFile, LoadReportsThePath) {
  const std::string path = (dir_ / "config").string();
  std::ofstream(path) << "[connection a]\nuri = test:///default\nbogus = 1\n";
  auto e = error_of([&] { FleetConfig::load(path); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(
      std::string(e->what()),
      path + ":3: unknown key 'bogus' in a connection (uri, user, credentials, tags, timeout)");
  // A folder is not a config file.
  EXPECT_ERROR_CODE(FleetConfig::load(dir_.string()), ErrorCode::InvalidArgument);
}

TEST(ConfigPath, XdgConfigHomeThenHome) {
  const hyperctl::test_env::ScopedEnv env(
      {{"XDG_CONFIG_HOME", std::nullopt}, {"HOME", std::nullopt}});
  ::setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(FleetConfig::default_path(), "/x/cfg/hyperctl/config");
  ::setenv("XDG_CONFIG_HOME", "", 1);
  EXPECT_EQ(FleetConfig::default_path(), "/home/u/.config/hyperctl/config");
  ::setenv("XDG_CONFIG_HOME", "relative/cfg", 1);  // ignored, as the XDG spec says
  EXPECT_EQ(FleetConfig::default_path(), "/home/u/.config/hyperctl/config");
  ::unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(FleetConfig::default_path(), "/home/u/.config/hyperctl/config");
  ::unsetenv("HOME");
  EXPECT_ERROR_CODE(FleetConfig::default_path(), ErrorCode::InvalidArgument);
}

TEST(ConfigNames, Valid) {
  EXPECT_TRUE(hyperctl::valid_connection_name("kvm1"));
  EXPECT_TRUE(hyperctl::valid_connection_name("0a.b_c-d"));
  EXPECT_FALSE(hyperctl::valid_connection_name(""));
  EXPECT_FALSE(hyperctl::valid_connection_name(".a"));
  EXPECT_FALSE(hyperctl::valid_connection_name("a/b"));
  EXPECT_FALSE(hyperctl::valid_connection_name("qemu:///system"));
  EXPECT_FALSE(hyperctl::valid_connection_name("h\xc3\xa9"));
}

// save() learns what mode a new file gets without touching the umask, which
// is process-wide: a umask(0) for a moment would let another thread create
// its files readable and writable by everyone.
TEST(ConfigSave, ANewFileGetsTheUmaskWithoutAnyThreadSeeingItChange) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hyperctl-umask-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const mode_t old_mask = ::umask(027);
  std::atomic<bool> stop{false};
  std::atomic<int> loose{0}, probes{0};
  std::thread prober([&] {
    const std::string probe = (dir / "probe").string();
    while (!stop) {
      const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        struct stat st {};
        if (::fstat(fd, &st) == 0 && (st.st_mode & 027) != 0) ++loose;
        ::close(fd);
        ::unlink(probe.c_str());
        ++probes;
      }
    }
  });
  FleetConfig c = FleetConfig::parse("[connection a]\nuri = test:///default\n", "test");
  mode_t saved_mode = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string path = (dir / ("config-" + std::to_string(i))).string();
    c.save(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    saved_mode = st.st_mode & 07777;
    ::unlink(path.c_str());
  }
  stop = true;
  prober.join();
  ::umask(old_mask);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(saved_mode, 0640u) << "0644 less the umask 027";
  EXPECT_GT(probes.load(), 0);
  EXPECT_EQ(loose.load(), 0) << "another thread created files while the umask was 0";
}
