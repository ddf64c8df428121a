// How the CLI shows its results: the one JSON mapping of VmInfo (see
// JSON-SCHEMA.md) and the table / CSV views built from the same data.
#pragma once

#include <string>
#include <vector>

#include "text.hpp"

#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl::cli {

enum class Format { Table, Json, Yaml, Csv };

/// "table", "json", "yaml", "csv"; throws Error(InvalidArgument) otherwise.
Format parse_format(const std::string& text);

/// The VmInfo object of the JSON schema (hyperctl.vm-list/1, hyperctl.vm/1).
JsonValue vm_Json(const VmInfo& vm);
/// {"schema":"hyperctl.vm-list/1","uri":...,"vms":[...]}
JsonValue vm_list_Json(const std::string& uri, const std::vector<VmInfo>& vms);
/// {"schema":"hyperctl.vm/1","uri":..., <VmInfo fields>}
JsonValue vm_doc_Json(const std::string& uri, const VmInfo& vm);

/// `list` as a table: NAME STATE VCPUS MEMORY AUTOSTART ID.
std::string vm_list_table(const std::vector<VmInfo>& vms);
/// `info` as "Field: value" lines, then disk and NIC tables.
std::string vm_info_text(const VmInfo& vm);
/// One header row, then one row per VM (scalar fields only).
std::string vm_list_csv(const std::vector<VmInfo>& vms);

/// `backends`: {"schema":"hyperctl.backends/1", "search_path", "plugins", "operations"}.
JsonValue backends_Json(const std::vector<std::string>& search_path,
                        const std::vector<PluginInfo>& plugins);
/// Plugin table, then the capability matrix (operations as rows).
std::string backends_text(const std::vector<std::string>& search_path,
                          const std::vector<PluginInfo>& plugins);
/// Capability matrix as CSV: operation,<backend>...
std::string backends_csv(const std::vector<PluginInfo>& plugins);

/// Renders a generic document (action results, version) in `format`:
/// json/yaml print `doc`; csv prints the keys of a flat object as header and
/// values as one row; table prints `text`.
std::string render(Format format, const JsonValue& doc, const std::string& text);

}  // namespace hyperctl::cli
