// vim25 SOAP documents: building request bodies (every value escaped by
// hyperctl::escape) and reading answers with pugixml, by local element name
// (answers use prefixes such as soapenv: and a default namespace urn:vim25,
// which pugixml does not resolve; local names are unambiguous in vim25).
#pragma once

#include <pugixml.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "secret_text.hpp"

namespace hyperctl::vsphere {

/// A managed object reference: <x type="VirtualMachine">vm-42</x>.
struct MoRef {
  std::string type;
  std::string value;
  bool empty() const { return value.empty(); }
  friend bool operator==(const MoRef& a, const MoRef& b) {
    return a.type == b.type && a.value == b.value;
  }
  friend bool operator!=(const MoRef& a, const MoRef& b) { return !(a == b); }
  friend bool operator<(const MoRef& a, const MoRef& b) {
    return a.type != b.type ? a.type < b.type : a.value < b.value;
  }
};

/// One parsed answer; `node` points into `doc`, which the struct keeps alive.
struct Reply {
  std::shared_ptr<pugi::xml_document> doc;
  pugi::xml_node node;  ///< the <MethodResponse> element, or a task's info.result
  /// The first <returnval> child of node (empty node when there is none).
  pugi::xml_node returnval() const;
};

namespace soap {

/// <tag>text</tag>, text escaped with escape::xml_text (throws
/// Error(InvalidArgument) for characters XML cannot carry).
std::string el(std::string_view tag, std::string_view text);
/// <tag>inner</tag>, `inner` already built by these functions.
std::string raw(std::string_view tag, std::string_view inner_xml);
/// <tag xsi:type="TYPE">inner</tag>, `inner` already built.
std::string typed(std::string_view tag, std::string_view xsi_type, std::string_view inner_xml);
/// <tag type="TYPE">VALUE</tag>.
std::string moref(std::string_view tag, const MoRef& ref);
/// The whole request: envelope, body, <method xmlns="urn:vim25"><_this ...>
/// then `args` (already built). A WipedString: the Login request carries the
/// password, and every buffer of it is wiped when freed.
WipedString envelope(std::string_view method, const MoRef& self, std::string_view args);

}  // namespace soap

namespace xml {

/// "Envelope" for <soapenv:Envelope>.
std::string_view local_name(pugi::xml_node node);
/// First child element with that local name; an empty node if none.
pugi::xml_node child(pugi::xml_node node, std::string_view local);
/// Every child element with that local name, in document order.
std::vector<pugi::xml_node> children(pugi::xml_node node, std::string_view local);
/// Every child element whatever its name, in document order (an array
/// value's items: <ManagedObjectReference>, <VirtualDevice>...).
std::vector<pugi::xml_node> elements(pugi::xml_node node);
/// Follows a dotted path of local names ("config.hardware.numCPU" style,
/// each step one child); empty node when a step is missing.
pugi::xml_node path(pugi::xml_node node, std::string_view dotted);
/// Text of child `local` (or of node itself when local is empty); "" if absent.
std::string text(pugi::xml_node node, std::string_view local = {});
/// The xsi:type attribute without its prefix ("" when absent).
std::string xsi_type(pugi::xml_node node);
/// A MoRef from an element with a type attribute.
MoRef moref(pugi::xml_node node);
/// The morefs of an ArrayOfManagedObjectReference value: every child with a
/// type attribute and a value, in order. A value that is itself one
/// ManagedObjectReference (a type attribute, no element children) gives
/// that one; an empty node gives none.
std::vector<MoRef> morefs(pugi::xml_node node);
/// Integers and booleans of child `local`; `fallback` when absent or bad.
std::int64_t i64(pugi::xml_node node, std::string_view local, std::int64_t fallback = 0);
bool boolean(pugi::xml_node node, std::string_view local, bool fallback = false);

/// Parses a whole document. Malformed or truncated XML: Error(BackendFailure)
/// "the server sent malformed XML (OPERATION): pugixml's reason at offset N".
std::shared_ptr<pugi::xml_document> parse(const std::string& body, const std::string& operation);

}  // namespace xml

/// vSphere inventory names escape '%', '/' and '\' as %25, %2f, %5c. Names
/// given by users are encoded before they go into a spec and decoded on the
/// way out.
std::string encode_name(std::string_view name);
std::string decode_name(std::string_view name);

}  // namespace hyperctl::vsphere
