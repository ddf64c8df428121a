// vim25 SOAP documents: request bodies built from escaped pieces, answers
// read by local element name.
#include "xml.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"

namespace hyperctl::vsphere {

pugi::xml_node Reply::returnval() const {
  return xml::child(node, "returnval");
}

namespace soap {

namespace {

// Tags and type names come from the backend's own code, never from users;
// a character outside the XML name alphabet is a bug, refused loudly.
void check_name(std::string_view name) {
  bool ok = !name.empty();
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.' || c == ':'))
      ok = false;
  if (!ok)
    throw Error(ErrorCode::Internal,
                "invalid XML element or type name '" + escape::terminal_text(name) + "'", "soap");
}

std::string open(std::string_view tag) {
  check_name(tag);
  std::string s;
  s.reserve(tag.size() + 2);
  s += '<';
  s += tag;
  s += '>';
  return s;
}

std::string close(std::string_view tag) {
  std::string s = "</";
  s += tag;
  s += '>';
  return s;
}

}  // namespace

std::string el(std::string_view tag, std::string_view text) {
  return open(tag) + escape::xml_text(text) + close(tag);
}

std::string raw(std::string_view tag, std::string_view inner_xml) {
  std::string s = open(tag);
  s += inner_xml;
  s += close(tag);
  return s;
}

std::string typed(std::string_view tag, std::string_view xsi_type, std::string_view inner_xml) {
  check_name(tag);
  check_name(xsi_type);
  std::string s = "<";
  s += tag;
  s += " xsi:type=\"";
  s += xsi_type;
  s += "\">";
  s += inner_xml;
  s += close(tag);
  return s;
}

std::string moref(std::string_view tag, const MoRef& ref) {
  check_name(tag);
  std::string s = "<";
  s += tag;
  s += " type=\"";
  s += escape::xml_attr(ref.type);
  s += "\">";
  s += escape::xml_text(ref.value);
  s += close(tag);
  return s;
}

WipedString envelope(std::string_view method, const MoRef& self, std::string_view args) {
  check_name(method);
  WipedString s =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\""
      " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\""
      " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<soapenv:Body><";
  s += method;
  s += " xmlns=\"urn:vim25\">";
  s += moref("_this", self).c_str();
  s.append(args.data(), args.size());
  s += "</";
  s += method;
  s += "></soapenv:Body></soapenv:Envelope>";
  return s;
}

}  // namespace soap

namespace xml {

std::string_view local_name(pugi::xml_node node) {
  std::string_view name = node.name();
  const auto colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(pugi::xml_node node, std::string_view local) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == local) return c;
  return {};
}

std::vector<pugi::xml_node> children(pugi::xml_node node, std::string_view local) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == local) out.push_back(c);
  return out;
}

std::vector<pugi::xml_node> elements(pugi::xml_node node) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element) out.push_back(c);
  return out;
}

pugi::xml_node path(pugi::xml_node node, std::string_view dotted) {
  while (node && !dotted.empty()) {
    const auto dot = dotted.find('.');
    node = child(node, dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
  }
  return node;
}

std::string text(pugi::xml_node node, std::string_view local) {
  if (!local.empty()) node = child(node, local);
  if (!node) return {};
  return node.text().get();
}

std::string xsi_type(pugi::xml_node node) {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    std::string_view name = a.name();
    const auto colon = name.rfind(':');
    if (colon == std::string_view::npos || name.substr(colon + 1) != "type") continue;
    // Only a namespaced "type" (xsi:type); the plain "type" is a MoRef's.
    std::string_view value = a.value();
    const auto vc = value.rfind(':');
    return std::string(vc == std::string_view::npos ? value : value.substr(vc + 1));
  }
  return {};
}

MoRef moref(pugi::xml_node node) {
  if (!node) return {};
  return MoRef{node.attribute("type").value(), node.text().get()};
}

std::vector<MoRef> morefs(pugi::xml_node node) {
  std::vector<MoRef> out;
  if (!node) return out;
  const std::vector<pugi::xml_node> items = elements(node);
  if (items.empty()) {
    if (node.attribute("type")) {
      MoRef one = moref(node);
      if (!one.empty() && !one.type.empty()) out.push_back(std::move(one));
    }
    return out;
  }
  for (pugi::xml_node item : items) {
    if (!item.attribute("type")) continue;
    MoRef ref = moref(item);
    if (!ref.empty() && !ref.type.empty()) out.push_back(std::move(ref));
  }
  return out;
}

std::int64_t i64(pugi::xml_node node, std::string_view local, std::int64_t fallback) {
  const std::string t = text(node, local);
  if (t.empty()) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end == t.c_str() || *end != '\0') return fallback;
  return v;
}

bool boolean(pugi::xml_node node, std::string_view local, bool fallback) {
  const std::string t = text(node, local);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return fallback;
}

std::shared_ptr<pugi::xml_document> parse(const std::string& body, const std::string& operation) {
  auto doc = std::make_shared<pugi::xml_document>();
  const pugi::xml_parse_result r =
      doc->load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r)
    throw Error(ErrorCode::BackendFailure,
                "the server sent malformed XML (" + operation + "): " + r.description() +
                    " at offset " + std::to_string(r.offset),
                operation);
  if (!doc->document_element())
    throw Error(ErrorCode::BackendFailure,
                "the server sent an empty XML document (" + operation + ")", operation);
  return doc;
}

}  // namespace xml

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string encode_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '%')
      out += "%25";
    else if (c == '/')
      out += "%2f";
    else if (c == '\\')
      out += "%5c";
    else
      out += c;
  }
  return out;
}

std::string decode_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size()) {
      const int hi = hex_value(name[i + 1]);
      const int lo = hex_value(name[i + 2]);
      if (hi >= 0 && lo >= 0) {
        const char c = static_cast<char>(hi * 16 + lo);
        // Only the escapes vSphere itself writes are undone; anything else
        // stays as the server sent it.
        if (c == '%' || c == '/' || c == '\\') {
          out += c;
          i += 2;
          continue;
        }
      }
    }
    out += name[i];
  }
  return out;
}

}  // namespace hyperctl::vsphere
