#include <gtest/gtest.h>

#include <string>
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
