// Issue 23 through the CLI: what hyperctl parses, says and passes to the
// backend when data is at stake.
//   CliSafety.*         single commands on the libvirt test driver;
//   CliSafetySpy.*      the recording backend of spy_plugin.cpp: the options
//                       the CLI passed (its log), and the situations the test
//                       driver cannot make (a failing start, kept disks, a
//                       clone that waits for its cancel token);
//   CliSafetyTestbed.*  sequences on the real libvirtd (tests/testbed).
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../common/pty.hpp"
#include "harness.hpp"

namespace {

using namespace hyperctl_cli_test;
using nlohmann::json;

constexpr const char* kDefault = "test:///default";

/// A test driver host: 'web' (shut off, disk pool-a/web.img), 'up' (running)
/// and the pool pool-a.
std::string node_xml() {
  return R"(<node>
<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>web</name>
 <memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
 <devices><disk type='file' device='disk'><source file='/pool-a/web.img'/><target dev='vda'/>
 </disk></devices><test:runstate>5</test:runstate></domain>
<domain type='test'><name>up</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
 <os><type>hvm</type></os></domain>
<pool type='dir'><name>pool-a</name><target><path>/pool-a</path></target>
 <volume><name>web.img</name><capacity>104857600</capacity><allocation>1048576</allocation>
 <target><path>/pool-a/web.img</path></target></volume></pool>
</node>
)";
}

class CliSafety : public ::testing::Test {
 protected:
  void SetUp() override { uri_ = "test://" + dir_.write("node.xml", node_xml()); }
  Result hc(std::vector<std::string> args) {
    args.insert(args.begin(), {"-c", uri_});
    return run(args);
  }
  TempDir dir_;
  std::string uri_;
};

// ---------------------------------------------------------------- units

TEST_F(CliSafety, EverySizeNeedsAUnitAndTheMessageNamesTheOption) {
  expect_error(hc({"set", "web", "--memory", "1048576"}), 2, "bad --memory: ");
  expect_error(hc({"create", "--name", "x", "--memory", "1024"}), 2, "bad --memory: ");
  const auto disk = hc({"create", "--name", "x", "--disk", "20:qcow2@pool-a"});
  expect_error(disk, 2, "bad --disk: ");
  EXPECT_NE(disk.err.find("no unit"), std::string::npos) << disk;
  expect_error(hc({"volume", "create", "pool-a/x", "--size", "100"}), 2, "bad --size: ");
  expect_error(hc({"volume", "resize", "pool-a/web.img", "--size", "+100"}), 2, "bad --size: ");
  // With units, the same values are fine up to the backend.
  expect_ok(hc({"set", "web", "--memory", "1048576K"}));
}

// ------------------------------------------------------------- vol: names

TEST_F(CliSafety, VolumeReferencesSplitAtTheFirstSlash) {
  // vSphere volume names are datastore paths: pool LocalDS_0, volume vols/d2.
  expect_error(hc({"create", "--name", "x", "--disk", "vol:pool-a/vols/d2"}), 3,
               "volume 'vols/d2' not found in pool 'pool-a'");
  expect_error(hc({"create", "--name", "x", "--iso", "vol:pool-a/isos/a.iso"}), 3,
               "volume 'isos/a.iso' not found in pool 'pool-a'");
  expect_error(hc({"create", "--name", "x", "--disk", "vol:/d2"}), 2, "vol:POOL/NAME");
  expect_error(hc({"create", "--name", "x", "--disk", "vol:pool-a/"}), 2, "vol:POOL/NAME");
}

// ---------------------------------------------------- already in that state

TEST_F(CliSafety, ShutdownOfAVmAlreadyOffIsAConflictLikePoweroff) {
  expect_error(hc({"shutdown", "web"}), 5, "VM 'web' is already off");
  expect_error(hc({"poweroff", "web"}), 5);
  expect_error(hc({"-o", "json", "shutdown", "web"}), 5, "is already off");
  const auto r = hc({"shutdown", "up"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'up' shut down\n");
}

// -------------------------------------------------------------------- set

TEST_F(CliSafety, SetSaysWhatItChangedByTheVmsState) {
  auto r = hc({"set", "up", "--vcpus", "1", "--live"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'up' updated (configuration and running VM)\n");
  r = hc({"set", "up", "--vcpus", "1"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'up' updated (configuration)\n");
  r = hc({"set", "web", "--vcpus", "1"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'web' updated (configuration)\n");
}

TEST_F(CliSafety, SetWithAPropertyTheBackendLacksIsRefusedBeforeAnyChange) {
  expect_error(hc({"set", "web", "--vcpus", "2", "--property", "foo=bar"}), 4,
               "libvirt has no backend-specific properties (vm.set-property); nothing was changed");
}

// ----------------------------------------------------------------- delete

TEST_F(CliSafety, DeleteWithStorageSaysWhichDisksItDeleted) {
  auto r = hc({"delete", "web", "--with-storage"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'web' deleted; deleted disk '/pool-a/web.img'\n");
  r = hc({"-o", "json", "delete", "web", "--with-storage"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("schema"), "hyperctl.result/1");
  EXPECT_EQ(doc.at("operation"), "vm.delete-storage");
  EXPECT_EQ(doc.at("deleted"), json::array({"/pool-a/web.img"}));
  EXPECT_EQ(doc.at("kept"), json::array());
  r = hc({"-o", "json", "delete", "web"});
  expect_ok(r);
  EXPECT_EQ(json::parse(r.out).at("deleted"), json::array());
}

// ------------------------------------------------------------------ usage

TEST(CliSafetyUsage, UnknownCommandsFailEvenWithHelp) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"vm", "--help"}, "vm"},
      {{"foo", "--help"}, "foo"},
      {{"foo"}, "foo"},
      {{"-o", "json", "foo"}, "foo"},
      {{"-c", kDefault, "vm", "--help"}, "vm"},
  };
  for (const auto& [args, word] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = run(args);
    expect_error(r, 2, "unknown command '" + word + "' (see hyperctl --help)");
  }
  expect_error(run({"volume", "frob", "--help"}), 2,
               "unknown command 'frob' for hyperctl volume (see hyperctl volume --help)");
  // Known commands still print their help with status 0.
  const auto help = run({"volume", "resize", "--help"});
  expect_ok(help);
  EXPECT_NE(help.out.find("--shrink"), std::string::npos) << help;
  EXPECT_NE(help.out.find("+SIZE"), std::string::npos) << help;
}

TEST(CliSafetyUsage, UsageErrorsPointAtTheCommandsOwnHelp) {
  expect_error(run({"-c", kDefault, "volume", "resize", "default-pool/x"}), 2,
               "(see hyperctl volume resize --help)");
  expect_error(run({"-c", kDefault, "info"}), 2, "(see hyperctl info --help)");
  expect_error(run({"-c", kDefault, "delete", "x", "--bogus"}), 2, "(see hyperctl delete --help)");
  expect_error(run({"-c", kDefault, "create", "--name", "x", "--rm-on-failure"}), 2,
               "(see hyperctl create --help)");
  expect_error(
      run({"-c", kDefault, "volume", "resize", "default-pool/x", "--size", "1G", "--force"}), 2,
      "--force requires --shrink");
}

TEST(CliSafetyUsage, TableColumnsCountEmojiAndWideCharactersAsTwo) {
  TempDir dir;
  // U+1F680 (rocket) and U+26A1 (high voltage) are wide emoji, U+6570... CJK.
  const std::string rocket = "\xF0\x9F\x9A\x80", bolt = "\xE2\x9A\xA1";
  const std::string cjk = "\xE6\x95\xB0\xE6\x8D\xAE\xE5\xBA\x93";  // 3 wide characters
  const std::string names[] = {rocket + rocket + "-x", bolt + "db", cjk, "plain-name"};
  std::string xml = "<node>";
  for (const auto& n : names)
    xml += "<domain type='test'><name>" + n +
           "</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
           "</domain>";
  xml += "</node>";
  const auto r = run({"-c", "test://" + dir.write("node.xml", xml), "list"});
  expect_ok(r);
  // Widths: 2+2+2=6, 2+2=4, 6, 10; the STATE column starts at 10 + 2 = 12.
  const std::size_t widths[] = {6, 4, 6, 10};
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5u) << r;
  EXPECT_EQ(lines[0].rfind("NAME        STATE", 0), 0u) << r;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string expected = names[i] + std::string(12 - widths[i], ' ') + "running";
    bool found = false;
    for (const auto& l : lines) found = found || l.rfind(expected, 0) == 0;
    EXPECT_TRUE(found) << "no line starts with '" << expected << "'\n" << r;
  }
}

// -------------------------------------------------------------- URI hosts

// A host no DNS name or address looks like is refused by the core before
// any backend runs anything with it: one line, exit 2, for every scheme.
TEST(CliUriHosts, HostileHostsAreRefusedForEveryBackend) {
  const std::string long_label(64, 'a');
  for (const std::string scheme : {"qemu+ssh", "vsphere", "hyperv", "wsl"}) {
    for (const std::string& host :
         std::vector<std::string>{"a;b", "$(id)", "%0aid", "a%00b", "`id`", "a%20b", "a..b",
                                  long_label, "fe80::1", "h%C3%A9"}) {
      const std::string uri =
          scheme + "://secret-user@" + host + "/" + (scheme == "qemu+ssh" ? "system" : "");
      const Result r = run({"-c", uri, "list"});
      expect_error(r, 2, "malformed URI");
      EXPECT_EQ(r.err.find("secret-user"), std::string::npos) << r;
    }
  }
}

TEST(CliUriHosts, SshProgramMustBeAnAbsolutePath) {
  TempDir dir;
  const std::string marker = (dir.path() / "ran").string();
  const std::string ssh =
      dir.write("fake-ssh", "#!/bin/sh\ntouch '" + marker + "'\necho 'ssh: no' >&2\nexit 255\n");
  ASSERT_EQ(::chmod(ssh.c_str(), 0700), 0);
  expect_error(run({"-c", "wsl://pc/?ssh=fake-ssh", "list"}), 2, "absolute path");
  expect_error(run({"-c", "hyperv://pc/?ssh=./fake-ssh", "list"}), 2, "absolute path");
  expect_error(run({"-c", "wsl:///?wsl=wsl.exe", "list"}), 2, "absolute path");
  expect_error(run({"-c", "wsl:///?reg=reg.exe", "list"}), 2, "absolute path");
  EXPECT_FALSE(fs::exists(marker));
  // The absolute path is the program that runs.
  const Result r = run({"-c", "wsl://pc/?ssh=" + ssh, "list"});
  EXPECT_NE(r.status, 2) << r;
  EXPECT_TRUE(fs::exists(marker)) << r;
}

// ------------------------------------------------------- recording backend

class CliSafetySpy : public ::testing::Test {
 protected:
  Result spy(std::vector<std::string> args, RunOptions opt = {}) {
    args.insert(args.begin(), {"--plugin-dir", HYPERCTL_TEST_SPY_PLUGIN_DIR, "-c", "spy:///"});
    opt.env["HYPERCTL_SPY_LOG"] = log_path();
    return run(args, opt);
  }
  std::string log_path() const { return (dir_.path() / "spy.log").string(); }
  std::vector<std::string> log() const {
    std::ifstream in(log_path());
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  bool logged(const std::string& line) const {
    const auto l = log();
    return std::find(l.begin(), l.end(), line) != l.end();
  }
  /// Whether any log line contains `text`.
  bool mentioned(const std::string& text) const {
    for (const auto& l : log())
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
  TempDir dir_;
};

TEST_F(CliSafetySpy, ResizeTakesSignedSizesAsDeltasFromTheCurrentCapacity) {
  // data.qcow2: 100 MiB.
  auto r = spy({"volume", "resize", "pool/data.qcow2", "--size", "+50M"});
  expect_ok(r);
  EXPECT_EQ(r.out, "volume 'pool/data.qcow2' resized from 100 MiB to 150 MiB\n");
  EXPECT_TRUE(logged("volume.resize pool/data.qcow2 bytes=157286400 shrink=0 force=0"))
      << ::testing::PrintToString(log());

  r = spy({"volume", "resize", "pool/data.qcow2", "--size", "-40M", "--shrink"});
  expect_ok(r);
  EXPECT_EQ(r.out, "volume 'pool/data.qcow2' resized from 100 MiB to 60 MiB\n");
  EXPECT_TRUE(logged("volume.resize pool/data.qcow2 bytes=62914560 shrink=1 force=0"));

  r = spy({"volume", "resize", "pool/data.qcow2", "--size", "5M", "--shrink", "--force"});
  expect_ok(r);
  EXPECT_TRUE(logged("volume.resize pool/data.qcow2 bytes=5242880 shrink=1 force=1"));

  // The shrink rule is the backend's (core check_resize): without --shrink,
  // exit 5 with its sentence.
  expect_error(spy({"volume", "resize", "pool/data.qcow2", "--size", "50M"}), 5, "add --shrink");
  expect_error(spy({"volume", "resize", "pool/data.qcow2", "--size=-200M", "--shrink"}), 2,
               "bad --size: ");
}

TEST_F(CliSafetySpy, DeletePassesSnapshotsAndReportsKeptDisks) {
  auto r = spy({"delete", "off1", "--with-storage", "--snapshots"});
  expect_ok(r);
  EXPECT_EQ(r.out,
            "VM 'off1' deleted; deleted disk '/spy/pool/off1.qcow2'; kept disk "
            "'/spy/pool/shared.qcow2': used by VM 'run1'\n");
  EXPECT_TRUE(mentioned("vm.delete off1 with_storage=1 snapshots=1 force=0"));

  r = spy({"-o", "json", "delete", "off1", "--with-storage", "--force"});
  expect_ok(r);
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("deleted"), json::array({"/spy/pool/off1.qcow2"}));
  EXPECT_EQ(doc.at("kept"),
            json::parse(R"([{"disk":"/spy/pool/shared.qcow2","reason":"used by VM 'run1'"}])"));
  EXPECT_TRUE(mentioned("vm.delete off1 with_storage=1 snapshots=0 force=1"));

  expect_ok(spy({"delete", "off1"}));
  EXPECT_TRUE(logged("vm.delete off1 with_storage=0 snapshots=0 force=0"));
}

TEST_F(CliSafetySpy, CreateWhoseStartFailsSaysTheVmIsLeftDefined) {
  const auto r = spy({"create", "--name", "nostart-a", "--disk", "1G", "--start"});
  expect_error(r, 10,
               "hyperctl: error: VM 'nostart-a' was created but could not be started: not enough "
               "free memory on the host; it is left defined (shut off). Delete it with 'hyperctl "
               "delete nostart-a --with-storage' or use --rm-on-failure\n");
  EXPECT_TRUE(logged("vm.start nostart-a"));
  EXPECT_FALSE(mentioned("delete")) << ::testing::PrintToString(log());
}

TEST_F(CliSafetySpy, RmOnFailureDeletesOnlyWhatTheCommandCreated) {
  // An existing volume among the disks: the VM goes without its storage,
  // then the new volume alone.
  auto r = spy({"create", "--name", "nostart-b", "--disk", "1G", "--disk",
                "vol:pool/existing.qcow2", "--start", "--rm-on-failure"});
  expect_error(r, 10, "VM 'nostart-b' was created but could not be started");
  EXPECT_NE(r.err.find("it was deleted again (--rm-on-failure) with the volumes this command "
                       "created: 'pool/nostart-b-vda.qcow2'"),
            std::string::npos)
      << r;
  EXPECT_TRUE(logged("vm.delete nostart-b with_storage=0 snapshots=1 force=1"))
      << ::testing::PrintToString(log());
  EXPECT_TRUE(logged("volume.delete pool/nostart-b-vda.qcow2"));
  EXPECT_FALSE(logged("volume.delete pool/existing.qcow2"));

  // Only new disks: delete with storage is safe.
  r = spy({"create", "--name", "nostart-c", "--disk", "1G", "--start", "--rm-on-failure"});
  expect_error(r, 10, "it was deleted again (--rm-on-failure)");
  EXPECT_TRUE(mentioned("vm.delete nostart-c with_storage=1 snapshots=1 force=1"));

  // The hint without --with-storage when an existing volume is attached.
  r = spy({"create", "--name", "nostart-d", "--disk", "vol:pool/existing.qcow2", "--start"});
  expect_error(r, 10, "Delete it with 'hyperctl delete nostart-d' or use --rm-on-failure");
}

TEST_F(CliSafetySpy, SetRefusesAPartTheBackendLacksBeforeChangingAnything) {
  expect_error(spy({"set", "off1", "--vcpus", "2", "--property", "foo=bar"}), 4,
               "spy has no backend-specific properties");
  EXPECT_FALSE(mentioned("vm.set")) << ::testing::PrintToString(log());
}

TEST_F(CliSafetySpy, SetLiveOnAStoppedVmDoesNotClaimALiveChange) {
  const auto r = spy({"set", "off1", "--vcpus", "2", "--live"});
  expect_ok(r);
  EXPECT_EQ(r.out, "VM 'off1' updated (configuration)\n");
  EXPECT_TRUE(logged("vm.set off1 vcpus=2 live=1"));
}

TEST_F(CliSafetySpy, TerminationSignalsCancelLikeCtrlC) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(sig);
    RunOptions opt;
    opt.sigint_after = std::chrono::milliseconds(400);
    opt.signal = sig;
    auto r = spy({"volume", "clone", "pool/slow.qcow2", "copy"}, opt);
    expect_error(r, 11, "clone of volume 'pool/slow.qcow2' cancelled");
    EXPECT_LT(r.elapsed, std::chrono::seconds(10)) << r;
    r = spy({"volume", "upload", "pool/up", "/dev/null"}, opt);
    expect_error(r, 11, "cancelled");
  }
  const auto lines = log();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "volume.clone cancelled"), 3);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "volume.upload cancelled"), 3);
}

TEST_F(CliSafetySpy, ACancelTheBackendCouldNotHonourIsSaid) {
  RunOptions opt;
  opt.sigint_after = std::chrono::milliseconds(400);
  opt.signal = SIGTERM;
  const auto r = spy({"volume", "clone", "pool/stubborn.qcow2", "copy"}, opt);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "volume 'pool/stubborn.qcow2' cloned to 'pool/copy'\n");
  EXPECT_EQ(r.err,
            "hyperctl: warning: the clone could not be stopped and completed; undo it yourself "
            "if needed\n");
}

TEST_F(CliSafetySpy, ASecondTerminationSignalKillsAtOnce) {
  for (int sig : {SIGTERM, SIGHUP}) {
    SCOPED_TRACE(sig);
    RunOptions opt;
    opt.sigint_after = std::chrono::milliseconds(300);
    opt.again_after = std::chrono::milliseconds(900);
    opt.signal = sig;
    const auto r = spy({"volume", "clone", "pool/stubborn.qcow2", "copy"}, opt);
    EXPECT_EQ(r.status, 128 + sig) << r;
    EXPECT_LT(r.elapsed, std::chrono::milliseconds(1900)) << "did not wait for the copy\n" << r;
  }
  // The first signal of each run was a cancel the backend saw, not death.
  const auto lines = log();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "volume.clone cancel ignored"), 2);
}

using hyperctl::test_pty::read_until;

namespace {

/// An upload on the spy backend under a pty: the spy asks for the password in
/// the middle of it, as a vSphere session that expired would, so the prompt
/// waits with echo off under the command's Ctrl-C handler. `keys` are typed
/// once the prompt shows; returns the pid's wait status (-1: never prompted
/// or never ended) and whether echo was back on afterwards.
struct PromptRun {
  int status = -1;
  bool prompted = false;
  bool ended = false;
  bool echo_off_at_prompt = false;
  bool echo_on_after = false;
  std::string seen;
};

PromptRun ctrl_c_at_prompt(const std::string& home, const std::string& log, const std::string& file,
                           const std::string& keys) {
  PromptRun r;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return r;
  if (pid == 0) {
    for (const char* name : {"HYPERCTL_PASSWORD", "HYPERCTL_CREDENTIALS", "HYPERCTL_URI"})
      ::unsetenv(name);
    ::setenv("HOME", home.c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", home.c_str(), 1);
    ::setenv("HYPERCTL_SPY_LOG", log.c_str(), 1);
    ::execl(HYPERCTL_CLI, HYPERCTL_CLI, "--plugin-dir", HYPERCTL_TEST_SPY_PLUGIN_DIR, "-c",
            "spy:///", "volume", "upload", "pool/asks.qcow2", file.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  r.prompted = read_until(master, "password for spy: ", r.seen, 10000);
  termios tio{};
  if (r.prompted) {
    r.echo_off_at_prompt = ::tcgetattr(master, &tio) == 0 && (tio.c_lflag & ECHO) == 0;
    [[maybe_unused]] auto w = ::write(master, keys.data(), keys.size());
  }
  // Up to 5 s; read_until returns at once when the pty has closed.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!r.ended && std::chrono::steady_clock::now() < give_up) {
    r.ended = ::waitpid(pid, &r.status, WNOHANG) == pid;
    if (!r.ended) read_until(master, "no such text", r.seen, 10);
    if (!r.ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!r.ended) ::kill(pid, SIGKILL), ::waitpid(pid, &r.status, 0);
  read_until(master, "no such text", r.seen, 200);  // what it wrote before it ended
  r.echo_on_after = ::tcgetattr(master, &tio) == 0 && (tio.c_lflag & ECHO) != 0;
  ::close(master);
  return r;
}

}  // namespace

TEST_F(CliSafetySpy, OneCtrlCAtAPasswordPromptCancelsTheCommand) {
  // The prompt gives up with the command: nobody has to type a password (or
  // press Enter) for a command already cancelled.
  const auto r =
      ctrl_c_at_prompt(dir_.path().string(), log_path(), dir_.write("disk.img", "data"), "\x03");
  ASSERT_TRUE(r.prompted) << r.seen;
  EXPECT_TRUE(r.echo_off_at_prompt) << "echo is off while the prompt waits";
  ASSERT_TRUE(r.ended) << "one Ctrl-C did not end the command: " << r.seen;
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 11) << r.status << " " << r.seen;
  EXPECT_NE(r.seen.find("cancel"), std::string::npos) << r.seen;
  EXPECT_TRUE(r.echo_on_after) << "echo is back on";
  EXPECT_TRUE(logged("volume.upload asks for the password"));
}

TEST_F(CliSafetySpy, TwoQuickCtrlCsAtAPasswordPromptGiveTheEchoBack) {
  // The second Ctrl-C kills at once, maybe while the prompt still has echo
  // off: whichever way the process ends, the terminal must have echo.
  const auto r = ctrl_c_at_prompt(dir_.path().string(), log_path(), dir_.write("disk.img", "data"),
                                  "\x03\x03");
  ASSERT_TRUE(r.prompted) << r.seen;
  ASSERT_TRUE(r.ended) << "two Ctrl-Cs did not end the command: " << r.seen;
  EXPECT_TRUE((WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGINT) ||
              (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 11))
      << r.status << " " << r.seen;
  EXPECT_TRUE(r.echo_on_after) << "echo is back on";
}

// ---------------------------------------------------------- real libvirtd

class CliSafetyTestbed : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = std::getenv("HYPERCTL_TEST_QEMU_URI");
    if (uri == nullptr || *uri == '\0') GTEST_SKIP() << "HYPERCTL_TEST_QEMU_URI is not set";
    uri_ = uri;
    if (run({"-c", uri_, "pool", "info", "default"}).status != 0)
      GTEST_SKIP() << uri_ << " does not answer or has no pool 'default'";
    tag_ = std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override {
    for (const auto& v : volumes_) run({"-c", uri_, "volume", "delete", v});
  }
  Result hc(std::vector<std::string> args, const RunOptions& opt = {}) {
    args.insert(args.begin(), {"-c", uri_});
    return run(args, opt);
  }
  json volume(const std::string& v) {
    const auto r = hc({"-o", "json", "volume", "info", v});
    EXPECT_EQ(r.status, 0) << r;
    return r.status == 0 ? json::parse(r.out) : json::object();
  }
  std::vector<std::string> volume_names() {
    const auto r = hc({"-o", "json", "volume", "list", "default"});
    std::vector<std::string> out;
    if (r.status != 0) return out;
    // Named, not iterated as a temporary's member: that would read freed memory.
    const auto doc = json::parse(r.out);
    for (const auto& v : doc.at("volumes")) out.push_back(v.at("name").get<std::string>());
    return out;
  }
  std::string uri_, tag_;
  std::vector<std::string> volumes_;
};

TEST_F(CliSafetyTestbed, ResizeGrowsByADeltaAndRefusesAShrinkWithoutTheFlag) {
  const std::string vol = "default/hyperctl-test-resize-" + tag_;
  volumes_.push_back(vol);
  expect_ok(hc({"volume", "create", vol, "--size", "64M", "--format", "raw"}));
  auto r = hc({"volume", "resize", vol, "--size", "+50M"});
  expect_ok(r);
  EXPECT_EQ(r.out, "volume '" + vol + "' resized from 64 MiB to 114 MiB\n");
  EXPECT_EQ(volume(vol).at("capacity_bytes"), 114ull << 20);

  expect_error(hc({"volume", "resize", vol, "--size", "50M"}), 5, "add --shrink");
  EXPECT_EQ(volume(vol).at("capacity_bytes"), 114ull << 20) << "nothing changed";
  expect_error(hc({"volume", "resize", vol, "--size=-14M"}), 5, "add --shrink");
  EXPECT_EQ(volume(vol).at("capacity_bytes"), 114ull << 20) << "nothing changed";

  r = hc({"volume", "resize", vol, "--size=-14M", "--shrink"});
  expect_ok(r);
  EXPECT_EQ(volume(vol).at("capacity_bytes"), 100ull << 20);
}

TEST_F(CliSafetyTestbed, SetWithAPartTheBackendLacksChangesNothing) {
  const std::string vm = "hyperctl-test-cli-set-" + tag_;
  const std::string xml = "<domain type='qemu'><name>" + vm +
                          "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                          "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>";
  ASSERT_EQ(run({"-c", uri_, "define", "-"}, with_input(xml)).status, 0);
  expect_error(hc({"set", vm, "--vcpus", "2", "--property", "foo=bar"}), 4, "nothing was changed");
  const auto r = hc({"-o", "json", "info", vm});
  EXPECT_EQ(r.status, 0) << r;
  if (r.status == 0) {
    EXPECT_EQ(json::parse(r.out).at("vcpus"), 1) << "the vCPUs did not change";
  }
  const auto ok = hc({"set", vm, "--vcpus", "2", "--live"});
  hc({"delete", vm, "--force"});
  // A stopped VM: never "(configuration and running VM)"; the backends that
  // refuse a live change of a stopped VM exit 5.
  EXPECT_EQ(ok.out.find("running VM"), std::string::npos) << ok;
}

TEST_F(CliSafetyTestbed, SigtermDuringAnUploadCancelsAndLeavesNoVolume) {
  TempDir tmp;
  const std::string name = "hyperctl-test-term-" + tag_;
  volumes_.push_back("default/" + name + ".hyperctl-partial");
  volumes_.push_back("default/" + name);
  // A sparse file: every byte still crosses the stream.
  const std::string file = (tmp.path() / "big.img").string();
  {
    std::ofstream out(file, std::ios::binary);
    out.seekp((4ll << 30) - 1);
    out.put('\1');
  }
  RunOptions opt;
  opt.sigint_after = std::chrono::milliseconds(1500);
  opt.signal = SIGTERM;
  const auto r = hc({"volume", "upload", "default/" + name, file}, opt);
  expect_error(r, 11, "cancelled");
  const auto names = volume_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), name), 0) << "no volume under the name";
  EXPECT_EQ(std::count(names.begin(), names.end(), name + ".hyperctl-partial"), 0)
      << "no staging volume left";
}

}  // namespace
