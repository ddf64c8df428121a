#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/uri.hpp"

using hyperctl::Uri;

TEST(UriParse, LibvirtFormsKeepTheirRawText) {
  auto u = Uri::parse("qemu:///system");
  EXPECT_EQ(u.scheme, "qemu");
  EXPECT_EQ(u.transport, "");
  EXPECT_EQ(u.host, "");
  EXPECT_EQ(u.path, "/system");
  EXPECT_EQ(u.raw, "qemu:///system");

  u = Uri::parse("qemu+ssh://root@kvm01:2222/system?keyfile=/k&no_verify=1");
  EXPECT_EQ(u.scheme, "qemu");
  EXPECT_EQ(u.transport, "ssh");
  EXPECT_EQ(u.full_scheme(), "qemu+ssh");
  EXPECT_EQ(u.user, "root");
  EXPECT_EQ(u.host, "kvm01");
  EXPECT_EQ(u.port, 2222u);
  EXPECT_EQ(u.query.at("keyfile"), "/k");
  EXPECT_EQ(u.query.at("no_verify"), "1");

  u = Uri::parse("test:///tmp/my%20node.xml");
  EXPECT_EQ(u.scheme, "test");
  EXPECT_EQ(u.path, "/tmp/my node.xml");
}

TEST(UriParse, VsphereAndIpv6) {
  auto u = Uri::parse("vsphere://admin%40corp@[::1]:8443/?thumbprint=SHA256:AB&insecure=0");
  EXPECT_EQ(u.user, "admin@corp");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 8443u);
  EXPECT_EQ(u.query.at("thumbprint"), "SHA256:AB");
  EXPECT_EQ(Uri::parse("HyperV://ops@hv03").scheme, "hyperv");
  EXPECT_EQ(Uri::parse("wsl:///").path, "/");
}

TEST(UriParse, MalformedInputIsRefusedWithTheReason) {
  for (const char* bad :
       {"", "qemu", "qemu:/system", "://", "1qemu:///", "qe mu:///", "qemu+:///", "qemu://h:0/",
        "qemu://h:99999/", "qemu://h:x/", "qemu://h:/", "qemu://[::1/", "qemu://%zz/",
        "qemu://a b/", "qemu:///a#frag", "qemu://@h/", "qemu:///\n"}) {
    try {
      Uri::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument) << bad;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << bad;
    }
  }
}

TEST(UriParse, PasswordsAreRefusedWithoutBeingEchoed) {
  for (const char* uri : {"vsphere://admin:s3cr3t-pw@vc01/", "esx://u@h/?password=s3cr3t-pw"}) {
    try {
      Uri::parse(uri);
      ADD_FAILURE() << "accepted a password";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument);
      EXPECT_EQ(std::string(e.what()).find("s3cr3t-pw"), std::string::npos) << e.what();
      EXPECT_EQ(e.detail().find("s3cr3t-pw"), std::string::npos);
    }
  }
}

// A password the parser cannot see as one ('#', '/', '?' or a bad '%' in
// it make the URI malformed first) is never echoed by the error.
TEST(UriParse, MalformedUrisWithAPasswordNeverEchoIt) {
  for (const std::string& uri : std::vector<std::string>{
           std::string("vsphere://admin:S3cret#1@vc/"), std::string("vsphere://admin:S3cr/et@vc/"),
           std::string("vsphere://admin:S3cr?et@vc/"), std::string("vsphere://admin:S3cr%zzet@vc/"),
           std::string("hyperv://ops:S3cret@@hv03:99999/"),
           std::string("esx://root:S3cr#et@h/x?y=1")}) {
    try {
      hyperctl::Uri::parse(uri);
      ADD_FAILURE() << "accepted " << uri;
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument) << uri;
      EXPECT_EQ(std::string(e.what()).find("S3cr"), std::string::npos) << e.what();
      EXPECT_EQ(e.detail().find("S3cr"), std::string::npos) << e.detail();
    }
  }
  // What is not userinfo is still shown, so the user sees which URI it was.
  try {
    hyperctl::Uri::parse("vsphere://vc01:99999/");
    ADD_FAILURE() << "accepted port 99999";
  } catch (const hyperctl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("vsphere://vc01:99999/"), std::string::npos) << e.what();
  }
}

namespace {

std::string parse_error(const std::string& text) {
  try {
    Uri::parse(text);
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument) << text;
    return e.what();
  }
  return "";
}

}  // namespace

// What the host may be once percent-decoded: a DNS name of LDH labels, a
// dotted-quad IPv4 address or an IPv6 address in brackets; nothing that a
// shell, ssh's argv or a log line would read as more than a name.
TEST(UriHost, HostileHostsAreRefusedForEveryScheme) {
  const std::string long_label(64, 'a');
  const std::string too_long = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                               std::string(63, 'c') + "." + std::string(63, 'd');  // 255
  for (const std::string scheme : {"qemu+ssh", "vsphere", "hyperv", "wsl", "esx", "qemu"}) {
    for (const std::string& host : std::vector<std::string>{"a;b",
                                                            "$(id)",
                                                            "%24(id)",
                                                            "h%0aProxyCommand=x",
                                                            "h%00x",
                                                            "`id`",
                                                            "%60id%60",
                                                            "a%20b",
                                                            "a..b",
                                                            ".a",
                                                            "a..",
                                                            "-a",
                                                            "a-",
                                                            "a.-b",
                                                            long_label,
                                                            too_long,
                                                            "fe80::1",
                                                            "::1",
                                                            "2001:db8::1:22",
                                                            "h%09x",
                                                            "a|b",
                                                            "a&b",
                                                            "a'b",
                                                            "a%22b",
                                                            "a<b",
                                                            "a>b",
                                                            "a*b",
                                                            "a!b",
                                                            "h%C3%A9",
                                                            "h\xC3\xA9",
                                                            "1.2.3",
                                                            "1.2.3.4.5",
                                                            "256.1.1.1",
                                                            "010.0.0.1",
                                                            "167772161",
                                                            "[1.2.3.4]",
                                                            "[::1%]",
                                                            "[::1%25a;b]",
                                                            "[fe80::zz]"}) {
      const std::string uri = scheme + "://ops@" + host + "/";
      const std::string why = parse_error(uri);
      EXPECT_FALSE(why.empty()) << "accepted " << uri;
      EXPECT_EQ(why.find('\n'), std::string::npos) << why;
      EXPECT_EQ(why.find('\0'), std::string::npos) << why;
    }
  }
}

TEST(UriHost, ProperHostsStillParse) {
  const std::string label63(63, 'a');
  for (const auto& [text, host] : std::vector<std::pair<std::string, std::string>>{
           {"wsl://pc/", "pc"},
           {"hyperv://ops@HV-03.corp.example:22/", "HV-03.corp.example"},
           {"vsphere://vc01.example.com/", "vc01.example.com"},
           {"qemu+ssh://root@10.0.0.255/system", "10.0.0.255"},
           {"qemu+ssh://root@0.0.0.0/system", "0.0.0.0"},
           {"vsphere://[2001:db8::1]:443/", "2001:db8::1"},
           {"wsl://[fe80::1%25eth0]/", "fe80::1%eth0"},
           {"wsl://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1"},
           {"esx://xn--bcher-kva.example/", "xn--bcher-kva.example"},
           {"qemu+ssh://" + label63 + ".example/system", label63 + ".example"},
           {"wsl://9host/", "9host"},
           {"hyperv://ops@HV_03/", "HV_03"},
           {"vsphere://vc01.example.com./", "vc01.example.com."},
           {"qemu:///system", ""}}) {
    EXPECT_EQ(Uri::parse(text).host, host) << text;
  }
}

TEST(UriHost, TheMessageSaysWhyAndNeverShowsTheUser) {
  const std::string why = parse_error("wsl://secret-user@a;b/");
  EXPECT_NE(why.find("only letters, digits"), std::string::npos) << why;
  EXPECT_EQ(why.find("secret-user"), std::string::npos) << why;
  EXPECT_NE(parse_error("wsl://h%C3%A9/").find("xn--"), std::string::npos);
  EXPECT_NE(parse_error("wsl://fe80::1/").find("brackets"), std::string::npos);
  EXPECT_NE(parse_error("wsl://a%0ab/").find("control character"), std::string::npos);
  EXPECT_NE(parse_error("wsl://u%0a@h/").find("control character"), std::string::npos);
}

TEST(UriHost, ProgramParametersTakeAbsolutePathsOnly) {
  for (const std::string uri :
       {"wsl://pc/?ssh=ssh", "wsl://pc/?ssh=./ssh", "wsl://pc/?ssh=bin/ssh", "wsl:///?wsl=wsl.exe",
        "wsl:///?reg=reg.exe", "qemu+ssh://h/system?command=ssh", "wsl://pc/?ssh=/usr/bin/ssh%0a",
        "hyperv://pc/?ssh=~/ssh"}) {
    const std::string why = parse_error(uri);
    EXPECT_NE(why.find("absolute path"), std::string::npos) << uri << ": " << why;
  }
  EXPECT_EQ(Uri::parse("wsl://pc/?ssh=/usr/bin/ssh").query.at("ssh"), "/usr/bin/ssh");
  EXPECT_EQ(Uri::parse("wsl:///?wsl=/opt/w%20x/wsl.exe&reg=/r").query.at("wsl"),
            "/opt/w x/wsl.exe");
  EXPECT_EQ(Uri::parse("qemu+ssh://h/system?command=/usr/bin/ssh").query.at("command"),
            "/usr/bin/ssh");
  // Another parameter's value is not a program: a relative path stays.
  EXPECT_EQ(Uri::parse("wsl:///?location=rel/dir").query.at("location"), "rel/dir");
}
