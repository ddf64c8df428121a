// A small read-only view of an XML document (libxml2), for the documents
// libvirt returns: domain, capabilities, pool, volume, network XML.
#pragma once

#include <memory>
#include <string>
#include <vector>

struct _xmlDoc;
struct _xmlNode;
struct _xmlXPathContext;

namespace hyperctl::lv {

class XmlDoc;

/// A node inside an XmlDoc; valid while the document lives.
class XmlNode {
 public:
  explicit XmlNode(_xmlNode* node) : node_(node) {}
  /// Attribute value, "" when absent.
  std::string attr(const char* name) const;
  /// Text content of the node.
  std::string text() const;
  /// Element name ("feature", "pae"...), "" for an empty node.
  std::string name() const;
  /// First child element with this name, or an empty node.
  XmlNode child(const char* name) const;
  std::vector<XmlNode> children(const char* name) const;
  explicit operator bool() const { return node_ != nullptr; }

 private:
  _xmlNode* node_;
};

class XmlDoc {
 public:
  /// Parses `text` without network access or entity expansion. Throws
  /// Error(BackendFailure) naming `what` when libvirt handed us bad XML.
  static XmlDoc parse(const std::string& text, const std::string& what);
  ~XmlDoc();
  XmlDoc(XmlDoc&&) noexcept;
  XmlDoc& operator=(XmlDoc&&) = delete;
  XmlDoc(const XmlDoc&) = delete;
  XmlDoc& operator=(const XmlDoc&) = delete;

  /// Nodes matching a fixed XPath expression (never built from user input).
  std::vector<XmlNode> select(const char* xpath) const;
  /// Text of the first node matched, "" when none.
  std::string value(const char* xpath) const;
  XmlNode root() const;

 private:
  explicit XmlDoc(_xmlDoc* doc);
  _xmlDoc* doc_;
  _xmlXPathContext* ctx_;
};

}  // namespace hyperctl::lv
