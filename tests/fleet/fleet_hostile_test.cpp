// A fleet run where three hosts answer with what a broken or hostile host
// could send: Hyper-V's PowerShell a frame nested 100,000 levels deep, a WSL
// host's wsl.exe UTF-16 output cut off in the middle of a character, a
// vSphere endpoint an answer without end. Each is one error row with one
// line and its code; the healthy host beside them is listed in full; the
// process ends with the documented exit status of the first failed host, not
// a signal. The hostile programs are shell scripts the suite writes (absolute
// paths, as the URI parameters require); the SOAP flood is
// tests/common/tls_server.hpp.
#include <sys/stat.h>

#include <fstream>
#include <set>

#include "../cli/harness.hpp"
#include "../common/tls_server.hpp"
#include "fleet_common.hpp"

namespace hyperctl::fleet_test {
namespace {

using namespace hyperctl_cli_test;
using hyperctl::test_net::FloodingTlsServer;

std::string utf16le(const std::string& ascii) {
  std::string out;
  for (char c : ascii) out += c, out += '\0';
  return out;
}

void write_file(const fs::path& path, const std::string& bytes, bool executable = false) {
  std::ofstream(path, std::ios::binary) << bytes;
  if (executable) ::chmod(path.c_str(), 0755);
}

TEST(FleetHostileAnswers, EachBadHostIsOneErrorRowAndTheRestIsListed) {
#if !HYPERCTL_TEST_HAVE_LIBVIRT || !HYPERCTL_TEST_HAVE_HYPERV || !HYPERCTL_TEST_HAVE_WSL || \
    !HYPERCTL_TEST_HAVE_VSPHERE
  GTEST_SKIP() << "needs the libvirt, Hyper-V, WSL and vSphere plugins, which this build lacks";
#else
  TempDir dir;
  const fs::path d = dir.path();
  // Hyper-V: the bootstrap's frame around a document nested 100,000 deep
  // (coreutils' base64 encodes it).
  const std::size_t depth = 100000;
  write_file(d / "deep.json",
             "{\"ok\":true,\"result\":" + std::string(depth, '[') + std::string(depth, ']') + "}");
  write_file(d / "pwsh",
             "#!/bin/sh\ncat >/dev/null\nprintf '#hyperctl-result-begin\\r\\n'\nbase64 -w0 '" +
                 (d / "deep.json").string() + "'\nprintf '\\r\\n#hyperctl-result-end\\r\\n'\n",
             true);
  // WSL: `--list --verbose` in UTF-16LE, cut after an odd number of bytes.
  const std::string listing = utf16le(
      "  NAME      STATE           VERSION\r\n* Ubuntu    Running         2\r\n"
      "  Debian    Stopped         2\r\n");
  write_file(d / "wsl.out", listing.substr(0, 111));
  write_file(d / "wsl", "#!/bin/sh\ncat '" + (d / "wsl.out").string() + "'\n", true);
  // vSphere: an endpoint flooding its first answer.
  FloodingTlsServer flood(FloodingTlsServer::Flood::Chunked);
  const std::string good = "test://" + write_test_node(d, "good", 5);

  write_config(d / "xdg",
               {{"good", good, "", ""},
                {"deep", "hyperv:///", "", ""},
                {"cut", "wsl:///?wsl=" + (d / "wsl").string(), "", ""},
                {"flood",
                 "vsphere://hyper@127.0.0.1:" + std::to_string(flood.port()) +
                     "/?thumbprint=" + flood.thumbprint(),
                 "", "60s"},
                {"good2", good, "", ""}},
               {});
  const auto r = run({"inventory", "--all", "-o", "json"},
                     with_env({{"XDG_CONFIG_HOME", (d / "xdg").string()},
                               {"HYPERCTL_POWERSHELL", (d / "pwsh").string()},
                               {"HYPERCTL_PASSWORD", "not-used"}}));
  // The first failed host in config order sets the status: backend-failure.
  ASSERT_EQ(r.status, 10) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  EXPECT_NE(r.err.find("3 of 5 hosts failed"), std::string::npos) << r;
  const auto doc = json::parse(r.out);
  ASSERT_EQ(doc["hosts"].size(), 5u) << r.out;
  const struct {
    const char* name;
    const char* status;
    const char* says;
  } expect[] = {{"good", "ok", ""},
                {"deep", "error", "nested deeper than 64 levels"},
                {"cut", "error", "unexpected output from wsl.exe --list --verbose"},
                {"flood", "error", "with more than 256 MiB"},
                {"good2", "ok", ""}};
  for (std::size_t i = 0; i < std::size(expect); ++i) {
    const auto& h = doc["hosts"][i];
    EXPECT_EQ(h["name"], expect[i].name);
    EXPECT_EQ(h["status"], expect[i].status) << h.dump();
    if (std::string(expect[i].status) == "ok") continue;
    EXPECT_EQ(h["code"], "backend-failure") << h.dump();
    const std::string message = h["message"].get<std::string>();
    EXPECT_NE(message.find(expect[i].says), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_LT(message.size(), 400u) << message;
  }
  // The healthy hosts are listed in full.
  std::multiset<std::string> hosts;
  for (const auto& row : doc["vms"]) hosts.insert(row["host"].get<std::string>());
  EXPECT_EQ(hosts.count("good"), 5u) << r.out;
  EXPECT_EQ(hosts.count("good2"), 5u) << r.out;
  EXPECT_EQ(doc["vms"].size(), 10u);
  // The limit (256 MiB) plus what the sockets' buffers held: the flood has no end.
  EXPECT_LT(flood.sent(), std::uint64_t{320} << 20) << "the flood was read past the limit";
#endif
}

}  // namespace
}  // namespace hyperctl::fleet_test
