// Shared helpers of the vSphere backend (see common.hpp).
#include "common.hpp"

#include "hyperctl/escape.hpp"
#include "xml.hpp"

namespace hyperctl::vsphere {

std::string quoted(std::string_view text) {
  return "'" + escape::terminal_text(text) + "'";
}

std::string quoted(const std::string& text) {
  return quoted(std::string_view(text));
}

std::string quoted(const char* text) {
  return quoted(std::string_view(text ? text : ""));
}

std::string lower_ascii(std::string text) {
  for (char& ch : text)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return text;
}

VmState vm_state_of(std::string_view power_state) {
  if (power_state == "poweredOn") return VmState::Running;
  if (power_state == "poweredOff") return VmState::Off;
  if (power_state == "suspended") return VmState::Suspended;
  return VmState::Unknown;
}

std::string cpu_vendor_of(pugi::xml_node node) {
  if (!node) return {};
  if (xml::child(node, "vendor")) return xml::text(node, "vendor");  // one package
  for (pugi::xml_node pkg : xml::elements(node)) {
    std::string vendor = xml::text(pkg, "vendor");
    if (!vendor.empty()) return vendor;
  }
  return {};
}

std::optional<DatastorePath> split_datastore_path(std::string_view path) {
  std::size_t i = 0;
  while (i < path.size() && path[i] == ' ') ++i;
  if (i >= path.size() || path[i] != '[') return std::nullopt;
  const auto close = path.find(']', i);
  if (close == std::string_view::npos || close == i + 1) return std::nullopt;
  DatastorePath out;
  out.datastore = std::string(path.substr(i + 1, close - i - 1));
  std::size_t j = close + 1;
  while (j < path.size() && path[j] == ' ') ++j;
  while (j < path.size() && path[j] == '/') ++j;
  std::string_view rel = path.substr(j);
  while (!rel.empty() && rel.back() == '/') rel.remove_suffix(1);
  out.rel = std::string(rel);
  return out;
}

std::string datastore_path(std::string_view datastore, std::string_view rel) {
  std::string out = "[";
  out += datastore;
  out += ']';
  if (!rel.empty()) {
    out += ' ';
    out += rel;
  }
  return out;
}

std::string folder_of_path(std::string_view rel) {
  const auto cut = rel.rfind('/');
  return cut == std::string_view::npos ? std::string() : std::string(rel.substr(0, cut));
}

std::string leaf_of_path(std::string_view rel) {
  const auto cut = rel.rfind('/');
  return std::string(cut == std::string_view::npos ? rel : rel.substr(cut + 1));
}

std::string join_path(std::string_view folder, std::string_view leaf) {
  std::string out(folder);
  if (!out.empty()) out += '/';
  out += leaf;
  return out;
}

}  // namespace hyperctl::vsphere
