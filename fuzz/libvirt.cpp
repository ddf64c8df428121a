// The documents the libvirt backend reads: domain XML (parse_domain_xml),
// the other XML documents through XmlDoc and the XPath queries the
// operations ask (capabilities, CPU, network, pool, volume, snapshot), and
// qemu-img map's JSON. The first input byte picks the reader.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "domain_xml.hpp"
#include "hyperctl/error.hpp"
#include "qemu_img.hpp"
#include "support.hpp"
#include "xml.hpp"

using namespace hyperctl;
using namespace hyperctl::lv;

namespace {

// Every fixed query of the backend's sources (grep 'select("' / 'value("').
constexpr const char* kValues[] = {"/capabilities/host/cpu/arch",
                                   "/capabilities/host/cpu/model",
                                   "/capabilities/host/cpu/vendor",
                                   "/capabilities/host/uuid",
                                   "/cpu/model",
                                   "/domain/@type",
                                   "/domain/cpu/@mode",
                                   "/domain/cpu/model",
                                   "/domain/memory",
                                   "/domain/name",
                                   "/domain/os/@firmware",
                                   "/domain/os/type",
                                   "/domain/os/type/@arch",
                                   "/domain/os/type/@machine",
                                   "/domain/uuid",
                                   "/domainsnapshot/creationTime",
                                   "/domainsnapshot/description",
                                   "/domainsnapshot/memory/@snapshot",
                                   "/domainsnapshot/parent/name",
                                   "/domainsnapshot/state",
                                   "/network/bridge/@name",
                                   "/network/forward/@mode",
                                   "/pool/@type",
                                   "/pool/target/path",
                                   "/volume/backingStore/path",
                                   "/volume/target/format/@type"};
constexpr const char* kSelects[] = {"/capabilities/guest",
                                    "/capabilities/guest/arch",
                                    "/capabilities/guest/arch/domain",
                                    "/capabilities/host/cpu/feature",
                                    "/capabilities/host/cpu/features/*",
                                    "/cpu/feature",
                                    "/domain/devices/disk",
                                    "/domain/devices/interface",
                                    "/domainCapabilities/os/enum[@name='firmware']/value",
                                    "/domainsnapshot/disks/disk",
                                    "/network/forward",
                                    "/network/ip"};

void read_document(const std::string& text) {
  const XmlDoc doc = XmlDoc::parse(text, "a fuzzed document");
  for (const char* xpath : kValues) (void)doc.value(xpath);
  for (const char* xpath : kSelects)
    for (const XmlNode& n : doc.select(xpath)) {
      (void)n.name();
      (void)n.text();
      (void)n.attr("name");
      for (const XmlNode& c : n.children("model")) (void)c.attr("fallback");
      (void)n.child("target").attr("dev");
    }
  if (const XmlNode root = doc.root()) (void)root.name();
}

// The end found covers every data extent: no extent ends past it.
void check_data_end(const std::string& json, std::uint64_t end) {
  for (const auto& e : nlohmann::json::parse(json)) {
    if (!e.is_object() || !e.value("data", false)) continue;
    const auto start = e.at("start").get<std::uint64_t>();
    const auto length = e.at("length").get<std::uint64_t>();
    fuzz::check(end >= start && end >= length && end - start >= length,
                "the data end covers every data extent");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest = fuzz::text_of(data + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: {
        const DomainDetails d = parse_domain_xml(rest);
        fuzz::check(d.sources.size() == d.disks.size(), "one source per disk");
        break;
      }
      case 1:
        read_document(rest);
        break;
      default:
        if (const auto end = map_data_end(rest)) check_data_end(rest, *end);
    }
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::BackendFailure, "bad XML is BackendFailure");
    fuzz::check(std::string(e.what()).find('\n') == std::string::npos, "one line");
  }
  return 0;
}
