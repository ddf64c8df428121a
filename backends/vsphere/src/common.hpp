// Small helpers every operation group of the vSphere backend shares: names
// in messages, ASCII case folding, power states, CPU vendors and datastore
// paths ("[datastore] folder/file").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <pugixml.hpp>

#include "hyperctl/types.hpp"

namespace hyperctl::vsphere {

/// 'text' for a message: quoted, and made safe for a terminal
/// (escape::terminal_text: control characters, escapes, bad UTF-8).
/// Overloads for std::string and const char* so that argument-dependent
/// lookup never prefers std::quoted (<iomanip>) for those arguments.
std::string quoted(std::string_view text);
std::string quoted(const std::string& text);
std::string quoted(const char* text);

/// `text` with A-Z turned into a-z; every other byte as it is (UTF-8 safe,
/// locale independent).
std::string lower_ascii(std::string text);

/// A VirtualMachinePowerState as the core's state: poweredOn Running,
/// poweredOff Off, suspended Suspended, anything else (or "") Unknown.
VmState vm_state_of(std::string_view power_state);

/// The CPU vendor of a host from its hardware.cpuPkg: the first non-empty
/// <vendor> of the packages, as the server wrote it ("intel", "amd"...; ""
/// when none names one). `node` may be the property's <val>
/// (ArrayOfHostCpuPackage: one <HostCpuPackage> per package), a
/// <hardware> element (its <cpuPkg> children), or one package itself.
/// Compare vendors through lower_ascii().
std::string cpu_vendor_of(pugi::xml_node node);

/// A datastore path "[ds] folder/file" taken apart: the datastore's name as
/// written between the brackets (the stored, encoded name) and the path
/// inside it without leading or trailing '/' ("" for the datastore's root).
struct DatastorePath {
  std::string datastore;
  std::string rel;
};

/// "[ds] a/b", "[ds]a/b", "[ds]/a/b" (the simulator's folderPath) and
/// "[ds]" split; leading spaces are skipped. nullopt when `path` is no
/// datastore path (no '[', no ']', or an empty datastore name).
std::optional<DatastorePath> split_datastore_path(std::string_view path);

/// "[ds] rel", or "[ds]" when rel is empty. `datastore` is the stored name.
std::string datastore_path(std::string_view datastore, std::string_view rel = {});

/// The folder part of a relative path ("a/b/c.vmdk" -> "a/b"; "c" -> "").
std::string folder_of_path(std::string_view rel);
/// The last element of a relative path ("a/b/c.vmdk" -> "c.vmdk").
std::string leaf_of_path(std::string_view rel);
/// "folder/leaf", or "leaf" when folder is empty.
std::string join_path(std::string_view folder, std::string_view leaf);

}  // namespace hyperctl::vsphere
