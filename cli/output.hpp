// How the CLI shows its results: the one JSON mapping of VmInfo (see
// JSON-SCHEMA.md) and the table / CSV views built from the same data.
#pragma once

#include <functional>
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
/// Hands to_json_text(vm_list_Json(uri, vms)) to `write` in pieces, the
/// same text made VM by VM: no document of the whole list is held (for
/// 10,000 VMs that document was 18 MiB).
void vm_list_json_text(const std::string& uri, const std::vector<VmInfo>& vms,
                       const std::function<void(const std::string&)>& write);
/// {"schema":"hyperctl.vm/1","uri":..., <VmInfo fields>}
JsonValue vm_doc_Json(const std::string& uri, const VmInfo& vm);

/// `list` as a table: NAME STATE VCPUS MEMORY AUTOSTART ID.
std::string vm_list_table(const std::vector<VmInfo>& vms);
/// `info` as "Field: value" lines, then disk and NIC tables.
std::string vm_info_text(const VmInfo& vm);
/// One header row, then one row per VM (scalar fields only).
std::string vm_list_csv(const std::vector<VmInfo>& vms);

/// The Pool object of the JSON schema (hyperctl.pool-list/1, hyperctl.pool/1).
JsonValue pool_Json(const Pool& pool);
/// {"schema":"hyperctl.pool-list/1","uri":...,"pools":[...]}
JsonValue pool_list_Json(const std::string& uri, const std::vector<Pool>& pools);
/// {"schema":"hyperctl.pool/1","uri":..., <Pool fields>}
JsonValue pool_doc_Json(const std::string& uri, const Pool& pool);
/// `pool list`: NAME STATE AUTOSTART TYPE CAPACITY ALLOCATION AVAILABLE PATH.
std::string pool_list_table(const std::vector<Pool>& pools);
std::string pool_info_text(const Pool& pool);
std::string pool_list_csv(const std::vector<Pool>& pools);

/// True for the staging volume of an unfinished upload ("x.hyperctl-partial").
bool volume_incomplete(const Volume& volume);
/// The Volume object; `used_by` is null unless `with_users` (list does not
/// look the users up).
JsonValue volume_Json(const Volume& volume, bool with_users);
/// {"schema":"hyperctl.volume-list/1","uri":...,"pool":...,"volumes":[...]}
JsonValue volume_list_Json(const std::string& uri, const std::string& pool,
                           const std::vector<Volume>& volumes);
/// {"schema":"hyperctl.volume/1","uri":..., <Volume fields>}
JsonValue volume_doc_Json(const std::string& uri, const Volume& volume, bool with_users);
/// `volume list`: NAME FORMAT CAPACITY ALLOCATION STATE PATH.
std::string volume_list_table(const std::vector<Volume>& volumes);
std::string volume_info_text(const Volume& volume);
std::string volume_list_csv(const std::vector<Volume>& volumes);

/// A Snapshot as JSON (hyperctl.snapshot-list/1 elements); `depth` is its
/// level in the tree (0 for a root).
JsonValue snapshot_Json(const Snapshot& snap, unsigned depth);
/// {"schema":"hyperctl.snapshot-list/1","uri":...,"vm":...,"snapshots":[...]}
JsonValue snapshot_list_Json(const std::string& uri, const std::string& vm,
                             const std::vector<Snapshot>& snaps);
/// `snapshot list` as a tree: children indented under their parent, the
/// current snapshot marked with '*'.
std::string snapshot_list_table(const std::vector<Snapshot>& snaps);
std::string snapshot_list_csv(const std::vector<Snapshot>& snaps);

/// A Network as JSON; `vms` only when `with_vms` (info, not list).
JsonValue network_Json(const Network& net, bool with_vms);
/// {"schema":"hyperctl.network-list/1","uri":...,"networks":[...]}
JsonValue network_list_Json(const std::string& uri, const std::vector<Network>& nets);
/// {"schema":"hyperctl.network/1","uri":..., <network fields, vms included>}
JsonValue network_doc_Json(const std::string& uri, const Network& net);
std::string network_list_table(const std::vector<Network>& nets);
std::string network_info_text(const Network& net);
std::string network_list_csv(const std::vector<Network>& nets);

/// {"schema":"hyperctl.host/1","uri":..., <HostInfo fields>}
JsonValue host_doc_Json(const std::string& uri, const HostInfo& host);
std::string host_info_text(const HostInfo& host);

/// `backends`: {"schema":"hyperctl.backends/1", "search_path", "plugins", "operations"}.
JsonValue backends_Json(const std::vector<std::string>& search_path,
                        const std::vector<PluginInfo>& plugins);
/// Plugin table, then the capability matrix (operations as rows).
std::string backends_text(const std::vector<std::string>& search_path,
                          const std::vector<PluginInfo>& plugins);
/// Capability matrix as CSV: operation,<backend>...
std::string backends_csv(const std::vector<PluginInfo>& plugins);
/// `backends --check FILE`: {"schema":"hyperctl.backend-check/1", "plugin": <as in
/// backends>, "operations"}.
JsonValue backend_check_Json(const PluginInfo& plugin);
/// Name, file, ABI, schemes, description, then the plugin's capability matrix.
std::string backend_check_text(const PluginInfo& plugin);

/// Renders a generic document (action results, version) in `format`:
/// json/yaml print `doc`; csv prints the keys of a flat object as header and
/// values as one row; table prints `text`.
std::string render(Format format, const JsonValue& doc, const std::string& text);

}  // namespace hyperctl::cli
