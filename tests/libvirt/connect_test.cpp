// connect() against daemons that misbehave: one that accepts the connection
// and never answers is a Timeout within ConnectOptions::timeout (libvirt's
// own call would wait forever), a closed port is Unreachable at once, and the
// time a password prompt waits for the user is not counted.
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../common/net.hpp"
#include "hyperctl/backend.hpp"
#include "hyperctl/credentials.hpp"
#include "hyperctl/lingering.hpp"
#include "support.hpp"

namespace hyperctl::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

ConnectOptions with_timeout(milliseconds timeout) {
  ConnectOptions o;
  o.timeout = timeout;
  return o;
}

TEST(Connect, SilentDaemonIsATimeoutWithinTheConnectionsTimeout) {
  test_net::SilentListener silent;
  const std::string uri = "qemu+tcp://127.0.0.1:" + std::to_string(silent.port()) + "/system";
  const std::size_t lingering_before = lingering_work();
  const auto t0 = Clock::now();
  auto err = error_of([&] { registry().open(uri, with_timeout(milliseconds(600))); });
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Timeout) << err->what();
  EXPECT_NE(std::string(err->what()).find("no answer within 600 ms"), std::string::npos)
      << err->what();
  EXPECT_GE(took, milliseconds(600));
  EXPECT_LT(took, milliseconds(1600)) << "the deadline was not kept";
  EXPECT_GE(silent.accepted(), 1u) << "libvirt never reached the listener";
  EXPECT_EQ(lingering_work(), lingering_before + 1)
      << "the abandoned connect must count, so that the CLI leaves with _exit";
  // The abandoned attempt ends when the daemon goes away.
  silent.close_all();
  const auto t1 = Clock::now();
  while (lingering_work() != lingering_before && Clock::now() - t1 < std::chrono::seconds(10))
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(lingering_work(), lingering_before);
}

TEST(Connect, ClosedPortIsUnreachableAtOnce) {
  const std::string uri =
      "qemu+tcp://127.0.0.1:" + std::to_string(test_net::refusing_port()) + "/system";
  const auto t0 = Clock::now();
  auto err = error_of([&] { registry().open(uri, with_timeout(milliseconds(5000))); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Unreachable) << err->what();
  EXPECT_LT(Clock::now() - t0, milliseconds(2000));
}

TEST(Connect, APromptWaitingForTheUserDoesNotCountAgainstTheTimeout) {
  namespace fs = std::filesystem;
  const fs::path node =
      fs::temp_directory_path() / ("hyperctl-connect-auth-" + std::to_string(::getpid()) + ".xml");
  std::ofstream(node) << "<node><auth><user password='pw-1'>alice</user></auth>"
                         "<domain type='test'><name>one</name><memory>65536</memory>"
                         "<os><type>hvm</type></os></domain></node>\n";
  ConnectOptions o = with_timeout(milliseconds(300));
  o.user = "alice";
  int asked = 0;
  o.secret = [&](const std::string&) -> std::optional<std::string> {
    ++asked;
    const UserWait typing;                           // as prompt_secret() marks its wait
    std::this_thread::sleep_for(milliseconds(900));  // a slow typist
    return std::string("pw-1");
  };
  std::unique_ptr<Connection> conn;
  EXPECT_NO_THROW(conn = registry().open("test://" + node.string(), o));
  EXPECT_EQ(asked, 1);
  if (conn) {
    EXPECT_EQ(conn->vms().list({}).size(), 1u);
  }
  std::error_code ec;
  fs::remove(node, ec);
}

TEST(Connect, ASecretProviderThatIsNotWaitingForTheUserCountsAgainstTheTimeout) {
  namespace fs = std::filesystem;
  const fs::path node =
      fs::temp_directory_path() / ("hyperctl-connect-slow-" + std::to_string(::getpid()) + ".xml");
  std::ofstream(node) << "<node><auth><user password='pw-1'>alice</user></auth></node>\n";
  ConnectOptions o = with_timeout(milliseconds(300));
  o.user = "alice";
  o.secret = [](const std::string&) -> std::optional<std::string> {
    std::this_thread::sleep_for(milliseconds(900));  // a slow vault, not a user
    return std::string("pw-1");
  };
  auto err = error_of([&] { registry().open("test://" + node.string(), o); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code(), ErrorCode::Timeout) << err->what();
  std::this_thread::sleep_for(milliseconds(900));  // let the attempt end before the file goes
  std::error_code ec;
  fs::remove(node, ec);
}

TEST(Connect, SshTransportIsLeftToSshsOwnTimeouts) {
  // +ssh runs ssh, which may be asking the user something on the terminal
  // (a password, a new host key): no deadline of ours applies. Seen with an
  // "ssh" that takes a second to fail: its failure comes, not our Timeout.
  namespace fs = std::filesystem;
  const fs::path ssh =
      fs::temp_directory_path() / ("hyperctl-slow-ssh-" + std::to_string(::getpid()));
  std::ofstream(ssh) << "#!/bin/sh\nsleep 1\nexit 255\n";
  fs::permissions(ssh, fs::perms::owner_all);
  const std::string uri = "qemu+ssh://nobody@127.0.0.1/system?command=" + ssh.string();
  const auto t0 = Clock::now();
  auto err = error_of([&] { registry().open(uri, with_timeout(milliseconds(200))); });
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(err);
  EXPECT_NE(err->code(), ErrorCode::Timeout) << err->what();
  EXPECT_GE(took, milliseconds(900)) << err->what();
  std::error_code ec;
  fs::remove(ssh, ec);
}

}  // namespace
}  // namespace hyperctl::test
