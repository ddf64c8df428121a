// The libvirt plugin's auth callback, with the real library: a test-driver
// node file with <auth> makes libvirt ask for a user name and a password,
// which the plugin takes from ConnectOptions (user, secret provider) and the
// credentials store. The plugin is loaded through the Registry as the CLI does.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../common/expect_error.hpp"
#include "hyperctl/credentials.hpp"
#include "hyperctl/registry.hpp"

namespace fs = std::filesystem;
using namespace hyperctl;
using hyperctl::test::error_of;

namespace {

constexpr const char* kPassword = "s3cr=t #x y<&>\"'";

Registry& registry() {
  static Registry r({HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR});
  return r;
}

class LibvirtAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hyperctl-lvauth-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream node(dir_ / "node.xml");
    // The password is XML-escaped in the attribute: libvirt reads it back raw.
    node << "<node>\n"
            "  <auth><user password=\"s3cr=t #x y&lt;&amp;&gt;&quot;&apos;\">alice</user></auth>\n"
            "  <domain type=\"test\">\n"
            "    <name>vm1</name><memory>65536</memory><os><type>hvm</type></os>\n"
            "  </domain>\n"
            "</node>\n";
    uri_ = "test://" + (dir_ / "node.xml").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A provider that records the prompts it was shown.
  SecretProvider answering(std::optional<std::string> answer) {
    return [this, answer](const std::string& prompt) {
      prompts_.push_back(prompt);
      return answer;
    };
  }

  /// The error of connecting and listing with `options`; checks that no
  /// part of it holds the password.
  std::optional<Error> failure(const ConnectOptions& options) {
    auto e = error_of([&] { registry().open(uri_, options)->vms().list({}); });
    if (e) {
      EXPECT_EQ(std::string(e->what()).find("s3cr"), std::string::npos) << e->what();
      EXPECT_EQ(e->detail().find("s3cr"), std::string::npos) << e->detail();
    }
    return e;
  }

  fs::path dir_;
  std::string uri_;
  std::vector<std::string> prompts_;
};

}  // namespace

TEST_F(LibvirtAuth, RightPasswordLists) {
  ConnectOptions options;
  options.user = "alice";
  options.secret = answering(kPassword);
  auto conn = registry().open(uri_, options);
  const auto vms = conn->vms().list({});
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].name, "vm1");
  ASSERT_EQ(prompts_.size(), 1u);
  EXPECT_EQ(prompts_[0], "Password for alice on " + uri_);
}

TEST_F(LibvirtAuth, UserFromTheUri) {
  ConnectOptions options;
  options.secret = answering(kPassword);
  const std::string with_user = "test://alice@" + (dir_ / "node.xml").string();
  auto conn = registry().open(with_user, options);
  EXPECT_EQ(conn->vms().list({}).size(), 1u);
  ASSERT_EQ(prompts_.size(), 1u);
  EXPECT_EQ(prompts_[0], "Password for alice on " + with_user);
}

TEST_F(LibvirtAuth, WrongPasswordIsAuthFailed) {
  ConnectOptions options;
  options.user = "alice";
  options.secret = answering("s3cr-wrong");
  auto e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
  EXPECT_EQ(std::string(e->what()).find("s3cr-wrong"), std::string::npos);
  // The wrong user with the right password is refused too.
  options.user = "bob";
  options.secret = answering(kPassword);
  e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed) << e->what();
}

TEST_F(LibvirtAuth, NoPasswordSaysWhereOneCanComeFrom) {
  ConnectOptions options;
  options.user = "alice";
  options.secret = answering(std::nullopt);
  auto e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed);
  EXPECT_EQ(std::string(e->what()),
            "cannot connect to " + uri_ +
                ": it asks for the password of 'alice' and none was given (set "
                "HYPERCTL_PASSWORD_<NAME> for a named connection or HYPERCTL_PASSWORD, put it "
                "in the credentials file, or run on a terminal to be asked)");
  EXPECT_EQ(e->operation(), "connect");

  // No provider at all: the same.
  options.secret = nullptr;
  e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed);
}

TEST_F(LibvirtAuth, NoUserName) {
  ConnectOptions options;
  options.secret = answering(kPassword);
  auto e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::AuthFailed);
  EXPECT_EQ(std::string(e->what()),
            "cannot connect to " + uri_ +
                ": it asks for a user name; give one in the URI (USER@HOST) or as the "
                "connection's user");
  EXPECT_TRUE(prompts_.empty()) << "no password asked for without a user";
}

TEST_F(LibvirtAuth, ProviderErrorCrossesTheCallback) {
  // An Error thrown by the provider (a refused credentials file) comes out of
  // connect() unchanged, not as an authentication failure.
  ConnectOptions options;
  options.user = "alice";
  options.secret = [](const std::string&) -> std::optional<std::string> {
    throw Error(ErrorCode::InvalidArgument, "credentials file 'x': mode 0644 ...");
  };
  auto e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_STREQ(e->what(), "credentials file 'x': mode 0644 ...");
}

TEST_F(LibvirtAuth, ThroughTheCredentialsStore) {
  const std::string file = (dir_ / "credentials").string();
  const CredentialStore store(file, /*interactive=*/false);
  store.store("lab", kPassword);
  ConnectionEntry lab;
  lab.name = "lab";
  lab.uri = uri_;
  lab.user = "alice";
  ConnectOptions options;
  options.user = lab.user;
  options.secret = store.provider(&lab, uri_);
  EXPECT_EQ(registry().open(uri_, options)->vms().list({}).size(), 1u);

  // Loosened: refused, with the chmod hint, before libvirt sees anything.
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto e = failure(options);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(e->what()).find("chmod 600 " + file), std::string::npos) << e->what();
}
