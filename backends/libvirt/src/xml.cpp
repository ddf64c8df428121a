#include "xml.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <cstring>

#include "hyperctl/error.hpp"

namespace hyperctl::lv {
namespace {

std::string take_xml_string(xmlChar* s) {
  if (!s) return {};
  std::string out(reinterpret_cast<const char*>(s));
  xmlFree(s);
  return out;
}

bool is_element(xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE &&
         std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

}  // namespace

std::string XmlNode::attr(const char* name) const {
  if (!node_) return {};
  return take_xml_string(xmlGetProp(node_, reinterpret_cast<const xmlChar*>(name)));
}

std::string XmlNode::text() const {
  if (!node_) return {};
  return take_xml_string(xmlNodeGetContent(node_));
}

std::string XmlNode::name() const {
  if (!node_ || !node_->name) return {};
  return reinterpret_cast<const char*>(node_->name);
}

XmlNode XmlNode::child(const char* name) const {
  if (!node_) return XmlNode(nullptr);
  for (xmlNode* c = node_->children; c; c = c->next)
    if (is_element(c, name)) return XmlNode(c);
  return XmlNode(nullptr);
}

std::vector<XmlNode> XmlNode::children(const char* name) const {
  std::vector<XmlNode> out;
  if (!node_) return out;
  for (xmlNode* c = node_->children; c; c = c->next)
    if (is_element(c, name)) out.emplace_back(c);
  return out;
}

XmlDoc XmlDoc::parse(const std::string& text, const std::string& what) {
  xmlDoc* doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), "libvirt.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    xmlResetLastError();
    throw Error(ErrorCode::BackendFailure, "libvirt returned " + what + " that is not valid XML",
                {}, text.substr(0, 200));
  }
  return XmlDoc(doc);
}

XmlDoc::XmlDoc(xmlDoc* doc) : doc_(doc), ctx_(xmlXPathNewContext(doc)) {
  if (!ctx_) {
    xmlFreeDoc(doc_);
    throw std::bad_alloc();
  }
}

XmlDoc::XmlDoc(XmlDoc&& other) noexcept : doc_(other.doc_), ctx_(other.ctx_) {
  other.doc_ = nullptr;
  other.ctx_ = nullptr;
}

XmlDoc::~XmlDoc() {
  if (ctx_) xmlXPathFreeContext(ctx_);
  if (doc_) xmlFreeDoc(doc_);
}

std::vector<XmlNode> XmlDoc::select(const char* xpath) const {
  std::vector<XmlNode> out;
  xmlXPathObject* res = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath), ctx_);
  if (!res) return out;
  if (res->type == XPATH_NODESET && res->nodesetval) {
    for (int i = 0; i < res->nodesetval->nodeNr; ++i) out.emplace_back(res->nodesetval->nodeTab[i]);
  }
  xmlXPathFreeObject(res);
  return out;
}

std::string XmlDoc::value(const char* xpath) const {
  auto nodes = select(xpath);
  return nodes.empty() ? std::string{} : nodes.front().text();
}

XmlNode XmlDoc::root() const {
  return XmlNode(xmlDocGetRootElement(doc_));
}

}  // namespace hyperctl::lv
