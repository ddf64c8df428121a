// What a vSphere server sends: SOAP answers (read as the session reads
// them: status, fault, answer element, RetrieveResult pages, the property
// values the backend walks), datastore paths and inventory names. The first
// input byte picks the entry point (and the HTTP status of an answer).
#include <cstdint>

#include "common.hpp"
#include "http.hpp"
#include "hyperctl/error.hpp"
#include "session.hpp"
#include "support.hpp"
#include "xml.hpp"

using namespace hyperctl;
using namespace hyperctl::vsphere;

namespace {

bool one_line(const char* text) {
  return std::string(text).find('\n') == std::string::npos;
}

// Every reading helper the operations use on a property value.
void walk(pugi::xml_node node, int depth) {
  if (!node || depth > 8) return;
  (void)xml::text(node);
  (void)xml::xsi_type(node);
  (void)xml::moref(node);
  (void)xml::morefs(node);
  (void)xml::i64(node, "capacity");
  (void)xml::boolean(node, "connected");
  (void)xml::path(node, "config.hardware.numCPU");
  (void)cpu_vendor_of(node);
  (void)vm_state_of(xml::text(node, "powerState"));
  if (auto p = split_datastore_path(xml::text(node, "fileName"))) (void)decode_name(p->datastore);
  for (const pugi::xml_node child : xml::elements(node)) walk(child, depth + 1);
}

void answer(int status, const std::string& body) {
  HttpReply reply;
  reply.status = status;
  reply.body = body;
  reply.content_type = "text/xml; charset=utf-8";
  try {
    const SoapOutcome o = read_soap_answer(reply, "RetrievePropertiesEx", "vm.list", "vc:443");
    if (o.faulted) {
      const Error e = fault_error(o.fault_type, o.fault_message, "vm.list");
      fuzz::check(one_line(e.what()), "a SOAP fault is one line");
      return;
    }
    std::vector<ObjectContent> objects;
    (void)read_retrieve_result(o.reply, objects);
    for (const ObjectContent& oc : objects) {
      (void)decode_name(oc.obj.value);
      for (const auto& [name, value] : oc.props) walk(value, 0);
    }
    walk(o.reply.returnval(), 0);
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::BackendFailure || e.code() == ErrorCode::AuthFailed,
                "a bad answer is BackendFailure");
    fuzz::check(one_line(e.what()), "the message is one line");
  }
}

void datastore_path_round_trip(const std::string& text) {
  const auto p = split_datastore_path(text);
  if (!p) return;
  fuzz::check(!p->datastore.empty(), "a datastore path names a datastore");
  fuzz::check(p->rel.empty() || (p->rel.front() != '/' && p->rel.back() != '/'),
              "the path inside has no leading or trailing '/'");
  const auto again = split_datastore_path(datastore_path(p->datastore, p->rel));
  fuzz::check(again && again->datastore == p->datastore, "a datastore path rebuilt splits again");
  fuzz::check(join_path(folder_of_path(p->rel), leaf_of_path(p->rel)) == p->rel,
              "folder and leaf join back to the path");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      answer(200, rest);
      break;
    case 1:
      answer(500, rest);  // how servers send faults
      break;
    case 2:
      datastore_path_round_trip(rest);
      break;
    default:
      fuzz::check(decode_name(encode_name(rest)) == rest, "inventory names round-trip");
      (void)decode_name(rest);
  }
  return 0;
}
