// VM names that are data, not markup or commands: quotes, $(), ;, &, <, >,
// newlines, tabs, non-ASCII, and vSphere's own escapes ('%', '/', '\').
// Each VM is created and deleted through the plugin against govmomi's
// simulator; the second session (show(): govmomi's client) must see exactly
// that name, decoded, and every SOAP body on the way must stay valid (the
// calls succeed, nothing else appears or disappears).
#include <set>
#include <string>
#include <vector>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "support.hpp"

namespace {

using hyperctl::ErrorCode;
using hyperctl::VmSpec;
using vsphere_test::json;
using vsphere_test::SimOptions;

const std::vector<std::string>& hostile_names() {
  static const std::vector<std::string> names = {
      "quote\"d 'single'",
      "$(touch /tmp/hyperctl-pwned) `id`",
      "semi;colon && amp & pipe | end",
      "<tag attr=\"x\">&amp;</tag> ]]> <!--",
      "less<than>greater",
      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80",  // café 日本語 🚀
      "100% sure %25 %2f",
      "slash/and\\backslash",
      "line\nbreak",
      "tab\there",
      "carriage\rreturn\r\nand crlf",
      "inner  spaces",
      "[LocalDS_0] not/a/path",
  };
  return names;
}

std::string first_datastore(const json& inv) {
  return inv["datastores"].at(0)["name"].get<std::string>();
}

class HostileNames : public vsphere_test::SimTest<HostileNames> {
 public:
  static SimOptions sim_options() { return {.mode = "vpx", .vms = 1}; }
};

class HostileNamesEsx : public vsphere_test::SimTest<HostileNamesEsx> {
 public:
  static SimOptions sim_options() { return {.mode = "esx", .vms = 1}; }
};

void create_find_export_delete(vsphere_test::Simulator& sim, const std::string& name) {
  SCOPED_TRACE(name);
  auto c = sim.connect();
  const json before = sim.show();
  const std::string ds = first_datastore(before);

  VmSpec spec;
  spec.name = name;
  spec.memory_bytes = 64ull << 20;
  spec.disks.push_back({.size_bytes = 1ull << 20});
  spec.networks.push_back("VM Network");
  const hyperctl::VmInfo made = c->vms().create(spec);
  EXPECT_EQ(made.name, name);

  // The second session sees exactly that name (decoded), once.
  const json inv = sim.show();
  int found = 0;
  json seen;
  for (const auto& vm : inv["vms"])
    if (vm["name"] == name) ++found, seen = vm;
  ASSERT_EQ(found, 1) << inv["vms"].dump(1);
  EXPECT_EQ(seen["instanceUuid"], made.id);
  EXPECT_EQ(inv["vms"].size(), before["vms"].size() + 1);
  EXPECT_EQ(seen["disks"].size(), 1u);
  EXPECT_EQ(seen["nics"].size(), 1u);

  // list and get find it by that name.
  int listed = 0;
  for (const auto& vm : c->vms().list({}))
    if (vm.name == name) ++listed;
  EXPECT_EQ(listed, 1);
  EXPECT_EQ(c->vms().get(name).id, made.id);

  // Lifecycle by name: the name is only looked up, never sent again.
  c->vms().start(name);
  EXPECT_EQ(sim.find_vm(name)["powerState"], "poweredOn");
  c->vms().power_off(name);
  c->vms().set_resources(name, {.vcpus = 2});
  EXPECT_EQ(sim.find_vm(name)["numCpu"], 2);

  // export-config is JSON carrying the name as it is.
  const json doc = json::parse(c->vms().export_config(name));
  EXPECT_EQ(doc["name"], name);
  EXPECT_EQ(doc["instanceUuid"], made.id);

  // A second one with that name is refused, naming it safely on one line.
  std::string message;
  try {
    c->vms().create(spec);
    ADD_FAILURE() << "a duplicate name was accepted";
  } catch (const hyperctl::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::AlreadyExists);
    message = e.what();
  }
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find('\t'), std::string::npos) << message;

  c->vms().remove(name, {.with_storage = true});
  EXPECT_TRUE(sim.find_vm(name).is_null());
  EXPECT_EQ(sim.show()["vms"], before["vms"]);
  // Its folder went with it (vSphere keeps '%' and '/' escaped in file names).
  std::set<std::string> after;
  for (const auto& f : sim.files(ds)) after.insert(f["path"].get<std::string>());
  for (const auto& p : after) {
    const std::string top = p.substr(0, p.find('/'));
    bool known = false;
    for (const auto& vm : before["vms"]) known = known || top == vm["rawName"].get<std::string>();
    EXPECT_TRUE(known) << "left on the datastore: " << p;
  }
}

TEST_F(HostileNames, CreateFindExportDeleteEachName) {
  for (const auto& name : hostile_names())
    EXPECT_NO_THROW(create_find_export_delete(sim(), name))
        << hyperctl::escape::terminal_text(name);
}

TEST_F(HostileNamesEsx, CreateFindExportDeleteEachName) {
  for (const auto& name : hostile_names())
    EXPECT_NO_THROW(create_find_export_delete(sim(), name))
        << hyperctl::escape::terminal_text(name);
}

// Names vSphere cannot carry are refused before anything is sent.
TEST_F(HostileNames, UnsendableNamesAreRefusedAndNothingIsMade) {
  auto c = sim().connect();
  const json before = sim().show();
  for (const std::string& name :
       {std::string("nul\0byte", 8), std::string("bell\x07"), std::string("bad utf8 \xff\xfe"),
        std::string("lone surrogate \xed\xa0\x80"), std::string(81, 'x'), std::string("  spaced"),
        std::string("trailing\n"),
        // 27 '%' are 81 characters once stored (%25 each), over vSphere's 80.
        std::string(27, '%'), std::string(20, 'a') + std::string(21, '/')}) {
    VmSpec spec;
    spec.name = name;
    spec.memory_bytes = 64ull << 20;
    try {
      c->vms().create(spec);
      ADD_FAILURE() << "accepted a name it cannot send: " << hyperctl::escape::terminal_text(name);
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      const std::string what = e.what();
      for (char ch : what) EXPECT_GE(static_cast<unsigned char>(ch), 0x20u) << what;
    }
  }
  EXPECT_EQ(sim().show()["vms"], before["vms"]);
}

// The 80-character limit counts the name as stored: 26 '%' (78 stored) and
// 80 non-ASCII characters (160 bytes) are fine; the 81-character stored
// names above are not.
TEST_F(HostileNames, TheLengthLimitCountsStoredCharacters) {
  for (const std::string& name : {std::string(26, '%') + "ab", [] {
                                    std::string s;
                                    for (int i = 0; i < 80; ++i) s += "\xc3\xa9";  // é
                                    return s;
                                  }()})
    EXPECT_NO_THROW(create_find_export_delete(sim(), name))
        << hyperctl::escape::terminal_text(name);
}

// Looking a hostile name up that does not exist is a NotFound whose message
// shows the name escaped on one line.
TEST_F(HostileNames, UnknownHostileNameIsNotFoundOnOneLine) {
  auto c = sim().connect();
  for (const auto& name : hostile_names()) {
    try {
      c->vms().get(name);
      ADD_FAILURE() << "found " << name;
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NotFound);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

}  // namespace
