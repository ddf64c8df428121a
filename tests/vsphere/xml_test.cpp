// The SOAP/XML layer without a server (xml.cpp, faults.cpp and parse_target
// compiled in): every value that goes into a vim25 request is escaped by one
// function, survives a parse unchanged and cannot add elements; answers are
// read by local name; faults map to codes; URIs are checked before anything
// is sent.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../common/expect_error.hpp"
#include "hyperctl/error.hpp"
#include "secret_text.hpp"
#include "session.hpp"
#include "xml.hpp"

namespace hyperctl::vsphere {
namespace {

using test::error_of;

// Names a user may give a VM, a snapshot or a file.
const std::vector<std::string> kHostile = {
    "a'b\"c",
    "$(rm -rf /)",
    "`id`; echo x & y && z | w",
    "<name>x</name>",
    "]]><evil/><![CDATA[",
    "&amp; &lt; &#x41;",
    "line\nbreak\ttab\rcr",
    "Ünïcödé 名前 🚀",
    "%2f/\\%",
    "</_this><Destroy_Task/>",
};

TEST(SoapTest, ElementTextRoundTripsThroughAParser) {
  for (const std::string& name : kHostile) {
    const std::string body = "<r>" + soap::el("name", name) + "</r>";
    const auto doc = xml::parse(body, "test");
    const pugi::xml_node r = doc->child("r");
    // Exactly one child element: nothing the name holds became markup.
    EXPECT_EQ(std::distance(r.children().begin(), r.children().end()), 1) << body;
    EXPECT_EQ(xml::text(r, "name"), name) << body;
  }
}

TEST(SoapTest, EnvelopeKeepsArgumentsAndTargetAsData) {
  const MoRef self{"VirtualMachine", "vm-<1>&\"'"};
  const std::string args = soap::el("name", "</_this><Destroy_Task/>") +
                           soap::moref("host", MoRef{"HostSystem", "host-\"1\""});
  const WipedString wiped = soap::envelope("Rename_Task", self, args);
  const std::string env(wiped.data(), wiped.size());
  const auto doc = xml::parse(env, "test");
  const pugi::xml_node body = xml::child(doc->document_element(), "Body");
  const pugi::xml_node call = xml::child(body, "Rename_Task");
  ASSERT_TRUE(call) << env;
  EXPECT_EQ(xml::moref(xml::child(call, "_this")), self);
  EXPECT_EQ(xml::text(call, "name"), "</_this><Destroy_Task/>");
  EXPECT_FALSE(xml::child(call, "Destroy_Task"));
  EXPECT_EQ(xml::moref(xml::child(call, "host")), (MoRef{"HostSystem", "host-\"1\""}));
  EXPECT_EQ(std::string(call.attribute("xmlns").value()), "urn:vim25");
}

// An upstream that never frees: the test can look at a block after the
// string gave it back (whose bytes are wiped by then).
struct KeepingAllocator {
  using value_type = char;
  template <class U>
  struct rebind {
    using other = KeepingAllocator;  // strings of char only
  };
  std::vector<std::pair<char*, std::size_t>>* blocks;
  char* allocate(std::size_t n) {
    blocks->emplace_back(new char[n], n);
    return blocks->back().first;
  }
  void deallocate(char*, std::size_t) {}
  bool operator==(const KeepingAllocator& o) const { return blocks == o.blocks; }
};

bool all_zero(const char* p, std::size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == '\0'; });
}

TEST(SecretTextTest, EveryBufferAStringOutgrowsOrFreesIsWiped) {
  std::vector<std::pair<char*, std::size_t>> blocks;
  {
    using Kept =
        std::basic_string<char, std::char_traits<char>, WipingAllocator<char, KeepingAllocator>>;
    Kept s{WipingAllocator<char, KeepingAllocator>(KeepingAllocator{&blocks})};
    for (int i = 0; i < 40; ++i) s += "password-password-";  // several reallocations
    ASSERT_GE(blocks.size(), 3u);
  }
  for (const auto& [p, n] : blocks) {
    EXPECT_TRUE(all_zero(p, n)) << "a block of " << n
                                << " bytes still holds: " << std::string(p, n);
    delete[] p;
  }
}

TEST(SecretTextTest, ClearWipesTheBytesAndTheShortBuffer) {
  SecretText shortish(std::string_view("pw-123"));  // fits in the string object itself
  const char* inside = shortish.view().data();
  shortish.clear();
  EXPECT_TRUE(all_zero(inside, 6));
  SecretText longer(std::string_view("a password that is too long for the string object itself"));
  const char* heap = longer.view().data();
  const std::size_t n = longer.size();
  longer.clear();  // clear keeps the buffer: it can be looked at
  EXPECT_TRUE(all_zero(heap, n));
  std::string given = "handed-over-password-of-some-length";
  const char* given_bytes = given.data();
  const std::size_t given_size = given.size();
  SecretText taken(std::move(given));
  EXPECT_EQ(taken.view(), "handed-over-password-of-some-length");
  EXPECT_TRUE(all_zero(given_bytes, given_size)) << "the caller's copy is wiped";
}

TEST(SoapTest, TheLoginRequestIsAWipedString) {
  // What Session sends for Login: the envelope around the password is a
  // WipedString, so that the request the transport holds is wiped when freed.
  static_assert(std::is_same_v<decltype(soap::envelope("Login", MoRef{}, "")), WipedString>);
  const WipedString login =
      soap::envelope("Login", MoRef{"SessionManager", "sm"}, "<password>a&lt;b</password>");
  EXPECT_NE(std::string_view(login.data(), login.size()).find("<password>a&lt;b</password>"),
            std::string_view::npos);
}

TEST(SoapTest, TypedAndRawNestWithoutEscapingTwice) {
  const std::string inner = soap::el("key", "a&b");
  const auto doc = xml::parse(
      "<r xmlns:xsi=\"x\">" + soap::typed("spec", "VirtualDiskSpec", inner) + "</r>", "test");
  const pugi::xml_node spec = xml::child(doc->child("r"), "spec");
  EXPECT_EQ(xml::xsi_type(spec), "VirtualDiskSpec");
  EXPECT_EQ(xml::text(spec, "key"), "a&b");
}

TEST(SoapTest, TextXmlCannotCarryIsRefused) {
  for (const std::string& bad :
       {std::string("nul\0x", 5), std::string("bell\x07"), std::string("bad utf8 \xff\xfe")}) {
    const auto e = error_of([&] { soap::el("name", bad); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  }
}

TEST(XmlTest, ReadsByLocalNameWhateverThePrefix) {
  const auto doc = xml::parse(
      "<soapenv:Envelope xmlns:soapenv=\"s\" xmlns:xsi=\"i\"><soapenv:Body>"
      "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects>"
      "<obj type=\"VirtualMachine\">vm-7</obj><propSet><name>config.hardware.numCPU</name>"
      "<val xsi:type=\"xsd:int\">4</val></propSet></objects></returnval>"
      "</RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>",
      "test");
  const pugi::xml_node objects =
      xml::path(doc->document_element(), "Body.RetrievePropertiesExResponse.returnval.objects");
  ASSERT_TRUE(objects);
  EXPECT_EQ(xml::moref(xml::child(objects, "obj")), (MoRef{"VirtualMachine", "vm-7"}));
  const pugi::xml_node prop = xml::child(objects, "propSet");
  EXPECT_EQ(xml::text(prop, "name"), "config.hardware.numCPU");
  EXPECT_EQ(xml::i64(prop, "val"), 4);
  EXPECT_EQ(xml::xsi_type(xml::child(prop, "val")), "int");
  EXPECT_EQ(xml::i64(prop, "missing", -1), -1);
  EXPECT_EQ(xml::children(objects, "propSet").size(), 1u);
  EXPECT_FALSE(xml::path(objects, "propSet.nothing"));
}

TEST(XmlTest, MalformedOrTruncatedAnswersAreOneLineErrors) {
  for (const std::string& body :
       {std::string("<a><b></a>"), std::string("<soapenv:Envelope><soapenv:Body><Retr"),
        std::string("<<<not xml"), std::string(""), std::string("\0\0\0", 3)}) {
    const auto e = error_of([&] { xml::parse(body, "vm.list"); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::BackendFailure);
    EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos) << e->what();
  }
}

TEST(NameTest, InventoryNamesEncodeTheThreeReservedCharacters) {
  EXPECT_EQ(encode_name("a%b/c\\d"), "a%25b%2fc%5cd");
  EXPECT_EQ(decode_name("a%25b%2fc%5cd"), "a%b/c\\d");
  EXPECT_EQ(decode_name("a%2Fb"), "a/b");
  for (const std::string& name : kHostile) EXPECT_EQ(decode_name(encode_name(name)), name);
}

TEST(FaultTest, TypesMapToTheirCodes) {
  const std::vector<std::pair<std::string, ErrorCode>> cases = {
      {"InvalidLogin", ErrorCode::AuthFailed},
      {"NotAuthenticated", ErrorCode::AuthFailed},
      {"ManagedObjectNotFound", ErrorCode::NotFound},
      {"FileNotFound", ErrorCode::NotFound},
      {"DuplicateName", ErrorCode::AlreadyExists},
      {"FileAlreadyExists", ErrorCode::AlreadyExists},
      {"InvalidPowerState", ErrorCode::Conflict},
      {"TaskInProgress", ErrorCode::Conflict},
      {"InvalidArgument", ErrorCode::InvalidArgument},
      {"InvalidDatastorePath", ErrorCode::InvalidArgument},
      {"NotSupported", ErrorCode::Unsupported},
      {"RequestCanceled", ErrorCode::Cancelled},
      {"SystemError", ErrorCode::BackendFailure},
      {"", ErrorCode::BackendFailure},
  };
  for (const auto& [type, code] : cases) {
    const Error e = fault_error(type, "message from the server", "vm.start");
    EXPECT_EQ(e.code(), code) << type;
    EXPECT_EQ(std::string(e.what()).rfind("vm.start: message from the server", 0), 0u) << e.what();
  }
}

TEST(FaultTest, MessagesStayOneSafeLine) {
  const Error e = fault_error("SystemError", "first\nsecond\x1b[31m\n", "vm.get");
  const std::string what = e.what();
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
}

TEST(FaultTest, TypeFromXsiTypeOrElementName) {
  const auto doc = xml::parse(
      "<d xmlns:xsi=\"i\"><InvalidLoginFault xsi:type=\"InvalidLogin\"/>"
      "<FileNotFoundFault/><Fault/></d>",
      "test");
  const auto kids = xml::children(doc->child("d"), "InvalidLoginFault");
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(fault_type_of(kids[0]), "InvalidLogin");
  EXPECT_EQ(fault_type_of(xml::child(doc->child("d"), "FileNotFoundFault")), "FileNotFound");
  EXPECT_EQ(fault_type_of(xml::child(doc->child("d"), "Fault")), "Fault");
  EXPECT_EQ(fault_type_of(pugi::xml_node()), "");
}

ConnectOptions no_options() {
  return {};
}

TEST(TargetTest, ReadsEveryPart) {
  const Target t = parse_target(
      Uri::parse("vsphere://admin@vc01.example.com:8443/DC%20One?thumbprint=" +
                 std::string(64, 'a') + "&keepalive=0&timeout=7&host=esx02&datastore=ds%202"),
      no_options());
  EXPECT_EQ(t.scheme, "vsphere");
  EXPECT_EQ(t.host, "vc01.example.com");
  EXPECT_EQ(t.port, 8443u);
  EXPECT_EQ(t.user, "admin");
  EXPECT_EQ(t.datacenter, "DC One");
  EXPECT_EQ(t.thumbprint.size(), 95u);  // 32 pairs and 31 colons
  EXPECT_FALSE(t.insecure);
  EXPECT_EQ(t.keepalive.count(), 0);
  EXPECT_EQ(t.timeout, std::chrono::seconds(7));
  EXPECT_EQ(t.placement_host, "esx02");
  EXPECT_EQ(t.placement_datastore, "ds 2");
  const Target d = parse_target(Uri::parse("esx://root@esx01/"), no_options());
  EXPECT_EQ(d.port, 443u);
  EXPECT_TRUE(d.datacenter.empty());
  ConnectOptions o;
  o.user = "ops";
  EXPECT_EQ(parse_target(Uri::parse("esx://root@esx01/"), o).user, "ops");
}

TEST(TargetTest, RefusesWhatItCannotUse) {
  const std::vector<std::string> uris = {
      "qemu:///system",
      "vsphere+ssh://u@h/",
      "vsphere:///",
      "vsphere://h/",  // no user
      "vsphere://u@h/?insecure=1&thumbprint=" + std::string(64, 'a'),
      "vsphere://u@h/?thumbprint=" + std::string(40, 'a'),  // SHA-1
      "vsphere://u@h/?insecure=maybe",
      "vsphere://u@h/?keepalive=-1",
      "vsphere://u@h/?timeout=soon",
      "vsphere://u@h/?colour=blue",
  };
  for (const std::string& uri : uris) {
    const auto e = error_of([&] { parse_target(Uri::parse(uri), no_options()); });
    ASSERT_TRUE(e) << uri;
    EXPECT_EQ(e->code(), ErrorCode::InvalidArgument) << uri << ": " << e->what();
  }
}

}  // namespace
}  // namespace hyperctl::vsphere
