// Storage of a vSphere connection.
//
// Pools are the datastores of the connection's datacenter (summary: name,
// type, capacity, free space, accessible, url). Volumes are the VMDK
// descriptors, ISO images and other stored files (format "file": an
// uploaded raw image, a text file) on a datastore, found with its
// HostDatastoreBrowser; a VM's own files (.vmx, .nvram, logs...) and hidden
// files are none. A file a registered VM uses (usage.hpp) is never deleted
// or replaced. A volume is named by its path relative to the datastore
// root, a VMDK without its ".vmdk" (the Hyper-V backend's convention: a
// volume is its file's stem): "[ds] vm1/vm1.vmdk" is volume "vm1/vm1",
// "[ds] isos/x.iso" is "isos/x.iso", any other file by its whole path. A
// name given with ".vmdk" means the same volume; a name ending in ".iso" is
// an ISO; a name with neither is the disk name.vmdk when there is one, else
// the file of that name. The -flat extent
// holding a VMDK's data is no volume of its own (the browser's
// VmDiskFileQuery hides it); VirtualDiskManager creates, copies and deletes
// descriptor and extent together.
//
// Uploads and downloads move ONE datastore file byte for byte through the
// datastore HTTP endpoint (/folder/...): downloading "vm1/vm1" gives the
// small text descriptor, "vm1/vm1-flat.vmdk" the data; a streamOptimized or
// monolithic VMDK uploaded is stored as it is, not converted into a disk
// ESXi can attach. Any file path on the datastore may be transferred. An
// upload goes to a hidden temporary file beside its target and is moved onto
// the target only once complete, so a failed or cancelled upload leaves the
// target as it was.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "common.hpp"
#include "hyperctl/escape.hpp"
#include "ops.hpp"
#include "usage.hpp"

namespace hyperctl::vsphere {
namespace {

bool ends_with_ci(const std::string& s, std::string_view tail) {
  return s.size() > tail.size() &&
         lower_ascii(s.substr(s.size() - tail.size())) == std::string(tail);
}

/// A datastore as the storage operations need it: the raw inventory name
/// (used in "[ds] path" and the HTTP dsName) and the pool users see.
struct Store {
  MoRef ref;
  MoRef browser;
  std::string raw_name;
  Pool pool;
};

Store store_of(const ObjectContent& o) {
  const pugi::xml_node s = o.prop("summary");
  Store st;
  st.ref = o.obj;
  st.browser = xml::moref(o.prop("browser"));
  st.raw_name = xml::text(s, "name");
  Pool& p = st.pool;
  p.name = decode_name(st.raw_name);
  p.id = o.obj.value;
  p.type = lower_ascii(xml::text(s, "type"));
  p.path = xml::text(s, "url");
  p.active = xml::boolean(s, "accessible");
  const std::int64_t capacity = xml::i64(s, "capacity");
  const std::int64_t free = xml::i64(s, "freeSpace");
  p.capacity_bytes = capacity > 0 ? static_cast<std::uint64_t>(capacity) : 0;
  p.available_bytes = free > 0 ? static_cast<std::uint64_t>(free) : 0;
  p.allocation_bytes =
      p.capacity_bytes > p.available_bytes ? p.capacity_bytes - p.available_bytes : 0;
  return st;
}

std::vector<Store> stores(VsphereConnection& c, const std::string& op) {
  const Datacenter& dc = c.datacenter(op);
  std::vector<Store> out;
  for (const auto& o :
       c.session().retrieve_all({{"Datastore", {"summary", "browser"}}}, op, dc.ref))
    out.push_back(store_of(o));
  std::sort(out.begin(), out.end(),
            [](const Store& a, const Store& b) { return a.pool.name < b.pool.name; });
  return out;
}

std::string pool_names(const std::vector<Store>& all) {
  std::string names;
  for (const auto& s : all) names += (names.empty() ? "" : ", ") + quoted(s.pool.name);
  return names.empty() ? std::string("none") : names;
}

Store find_store(VsphereConnection& c, const std::string& name, const std::string& op) {
  const auto all = stores(c, op);
  for (const auto& s : all)
    if (s.pool.name == name) return s;
  throw Error(ErrorCode::NotFound,
              "no datastore " + quoted(name) + " in datacenter " +
                  quoted(decode_name(c.datacenter(op).name)) + " on " + c.session().endpoint() +
                  " (datastores: " + pool_names(all) + ")",
              op);
}

/// The pool a new volume goes to: the one named, else the URI's ?datastore=,
/// else the only datastore.
Store pool_for_new(VsphereConnection& c, const std::string& name, const std::string& op) {
  if (!name.empty()) return find_store(c, name, op);
  const std::string& preset = c.session().target().placement_datastore;
  if (!preset.empty()) return find_store(c, preset, op);
  const auto all = stores(c, op);
  if (all.size() == 1) return all.front();
  throw Error(ErrorCode::InvalidArgument,
              "name the datastore (pool) for the volume; datastores: " + pool_names(all), op);
}

void require_accessible(const Store& s, const std::string& op) {
  if (!s.pool.active)
    throw Error(ErrorCode::Conflict,
                "datastore " + quoted(s.pool.name) + " is not accessible (summary.accessible)", op);
}

// ------------------------------------------------------------------ paths

/// A volume or file name: a relative path on the datastore, '/' between
/// folders. Refused: empty, leading '/', empty, '.' or '..' elements, a
/// backslash, control characters, invalid UTF-8, leading or trailing white
/// space (vSphere trims the path after "[ds] ").
void check_name(const std::string& name, const std::string& op) {
  auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::InvalidArgument,
                "bad volume name " + quoted(name) + ": " + why +
                    " (a volume is a path relative to the datastore root, such as "
                    "'folder/disk' for 'folder/disk.vmdk')",
                op);
  };
  if (name.empty()) bad("it is empty");
  if (!escape::valid_utf8(name)) bad("it is not valid UTF-8");
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7f) bad("it holds a control character");
  if (name.find('\\') != std::string::npos) bad("it holds a backslash");
  if (name.front() == ' ' || name.back() == ' ') bad("it starts or ends with a space");
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash == std::string::npos ? slash : slash - start);
    if (part.empty()) bad("it has an empty path element (leading, trailing or doubled '/')");
    if (part == "." || part == "..") bad("'.' and '..' are not allowed");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

/// "[ds] rel" ("[ds]" for the root) of a datastore of ours.
std::string ds_path(const Store& s, const std::string& rel) {
  return datastore_path(s.raw_name, rel);
}

bool is_vmdk(const std::string& rel) {
  return ends_with_ci(rel, ".vmdk") && !ends_with_ci(rel, "-flat.vmdk");
}
bool is_iso(const std::string& rel) {
  return ends_with_ci(rel, ".iso");
}

/// A file vSphere keeps for a VM itself (configuration, NVRAM, snapshot
/// state, memory, swap, logs, locks): none is a volume.
bool is_vm_own_file(const std::string& rel) {
  for (std::string_view ext : {".vmx", ".vmxf", ".vmsd", ".vmsn", ".vmss", ".vmem", ".vmtx",
                               ".nvram", ".log", ".vswp", ".hlog", ".lck", "~"})
    if (ends_with_ci(rel, ext)) return true;
  return false;
}

/// Any other file stored on the datastore (an uploaded raw image, a text
/// file...): a volume of format "file". Not: any VMDK file (descriptors are
/// disks, the rest their extents), ISOs, a VM's own files, and hidden files
/// (an element starting with '.': upload temporaries, VMFS's system files).
bool is_plain_file(const std::string& rel) {
  if (ends_with_ci(rel, ".vmdk") || is_iso(rel) || is_vm_own_file(rel)) return false;
  if (rel.empty() || rel.front() == '.' || rel.find("/.") != std::string::npos) return false;
  return true;
}

/// A volume's format: "vmdk", "iso", or "file" for any other file (its
/// bytes are whatever was uploaded; the name's extension proves nothing).
std::string format_of(const std::string& rel) {
  if (is_vmdk(rel)) return "vmdk";
  if (is_iso(rel)) return "iso";
  return "file";
}

/// The volume name of the file `rel`: a VMDK's path without ".vmdk", other
/// files' whole path. The whole path stays when the stem would read as
/// another kind of name (it ends in ".iso" or ".vmdk") or the extension is
/// not spelled ".vmdk" (a lookup adds ".vmdk" exactly), so every name finds
/// its file again.
std::string volume_name_of(const std::string& rel) {
  if (!is_vmdk(rel) || rel.compare(rel.size() - 5, 5, ".vmdk") != 0) return rel;
  const std::string stem = rel.substr(0, rel.size() - 5);
  if (ends_with_ci(stem, ".iso") || ends_with_ci(stem, ".vmdk")) return rel;
  return stem;
}

// ------------------------------------------------------ the datastore browser

struct FileEntry {
  std::string rel;
  std::string kind;  ///< xsi:type: VmDiskFileInfo, IsoImageFileInfo, FileInfo...
  std::uint64_t size = 0;
  std::uint64_t capacity = 0;  ///< VmDiskFileInfo.capacityKb * 1024, 0 when not given
};

std::string file_flags() {
  return soap::raw("details", soap::el("fileType", "true") + soap::el("fileSize", "true") +
                                  soap::el("modification", "true") +
                                  soap::el("fileOwner", "false"));
}

std::string disk_query() {
  return soap::typed(
      "query", "VmDiskFileQuery",
      soap::raw("details", soap::el("diskType", "true") + soap::el("capacityKb", "true") +
                               soap::el("hardwareVersion", "true")));
}

/// Volumes: VMDK descriptors and ISO images.
std::string volume_queries() {
  return disk_query() + soap::typed("query", "IsoImageFileQuery", "");
}

/// The query that finds `rel` as a volume; "" when it names no volume file.
std::string volume_query_for(const std::string& rel) {
  if (is_vmdk(rel)) return disk_query();
  if (is_iso(rel)) return soap::typed("query", "IsoImageFileQuery", "");
  return {};
}

std::string any_file_query() {
  return soap::typed("query", "FileQuery", "");
}

/// A match pattern for exactly `leaf` when it holds no wildcard, else "*"
/// (the caller compares names itself).
std::string pattern_for(const std::string& leaf) {
  return leaf.find_first_of("*?[]\\") == std::string::npos ? leaf : std::string("*");
}

/// One SearchDatastore(SubFolders)_Task on `folder` of `s` (folders found
/// come back as kind FolderFileInfo). Error(NotFound) from the server when the folder does not
/// exist.
std::vector<FileEntry> search(VsphereConnection& c, const Store& s, const std::string& folder,
                              bool recurse, const std::string& queries,
                              const std::vector<std::string>& patterns, const std::string& op) {
  std::string spec = queries + file_flags();
  for (const auto& p : patterns) spec += soap::el("matchPattern", p);
  const std::string method = recurse ? "SearchDatastoreSubFolders_Task" : "SearchDatastore_Task";
  const Reply done = c.session().run_task(
      method, s.browser,
      soap::el("datastorePath", ds_path(s, folder)) + soap::raw("searchSpec", spec), op);
  std::vector<pugi::xml_node> results;
  if (xml::child(done.node, "folderPath"))
    results.push_back(done.node);
  else
    results = xml::children(done.node, "HostDatastoreBrowserSearchResults");
  std::vector<FileEntry> out;
  for (const auto& res : results) {
    const auto where = split_datastore_path(xml::text(res, "folderPath"));
    const std::string base = where ? where->rel : folder;
    for (const auto& f : xml::children(res, "file")) {
      FileEntry e;
      e.kind = xml::xsi_type(f);
      e.rel = join_path(base, xml::text(f, "path"));
      const std::int64_t size = xml::i64(f, "fileSize");
      const std::int64_t kb = xml::i64(f, "capacityKb");
      e.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
      e.capacity = kb > 0 ? static_cast<std::uint64_t>(kb) * 1024 : 0;
      out.push_back(std::move(e));
    }
  }
  return out;
}

/// The file `rel` on `s` found with `query`; nullopt when it (or its folder)
/// is not there. `folder_missing` tells which.
std::optional<FileEntry> find_file(VsphereConnection& c, const Store& s, const std::string& rel,
                                   const std::string& query, const std::string& op,
                                   bool* folder_missing = nullptr) {
  if (folder_missing) *folder_missing = false;
  if (query.empty()) return std::nullopt;
  std::vector<FileEntry> found;
  try {
    found = search(c, s, folder_of_path(rel), false, query, {pattern_for(leaf_of_path(rel))}, op);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    if (folder_missing) *folder_missing = true;
    return std::nullopt;
  }
  for (auto& f : found)
    if (f.rel == rel && f.kind != "FolderFileInfo") return f;
  return std::nullopt;
}

/// The folder `folder` exists on `s` (a search in it is answered).
bool folder_exists(VsphereConnection& c, const Store& s, const std::string& folder,
                   const std::string& op) {
  if (folder.empty()) return true;
  try {
    search(c, s, folder, false, soap::typed("query", "FolderFileQuery", ""),
           {pattern_for(leaf_of_path(folder))}, op);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- users

/// Who uses the datastore files now (usage.hpp).
FileUse file_use(VsphereConnection& c, const std::string& op) {
  return FileUse(registered_vm_files(c, op));
}

Volume volume_of(const Store& s, const FileEntry& f, const FileUse& use) {
  Volume v;
  v.name = volume_name_of(f.rel);
  v.pool = s.pool.name;
  v.path = ds_path(s, f.rel);
  v.key = v.path;
  v.type = "file";
  v.format = format_of(f.rel);
  v.allocation_bytes = f.size;
  v.capacity_bytes = f.capacity;
  v.used_by = use.users(s.raw_name, f.rel);
  if (!v.capacity_bytes)
    v.capacity_bytes = v.format == "vmdk" ? use.capacity(s.raw_name, f.rel) : f.size;
  return v;
}

/// The file a volume name stands for: name.vmdk, or the name itself when it
/// ends in ".vmdk" or ".iso".
std::string volume_file_of(const std::string& name) {
  return ends_with_ci(name, ".vmdk") || is_iso(name) ? name : name + ".vmdk";
}

struct Located {
  Store store;
  FileEntry file;
};

Located locate_volume(VsphereConnection& c, const std::string& pool, const std::string& name,
                      const std::string& op) {
  check_name(name, op);
  Located at{find_store(c, pool, op), {}};
  require_accessible(at.store, op);
  const std::string rel = volume_file_of(name);
  if (auto f = find_file(c, at.store, rel, volume_query_for(rel), op)) {
    at.file = *f;
    return at;
  }
  // Not a disk: another file by its whole name.
  if (is_plain_file(name))
    if (auto f = find_file(c, at.store, name, any_file_query(), op)) {
      at.file = *f;
      return at;
    }
  throw Error(ErrorCode::NotFound,
              "no volume " + quoted(name) + " (" + quoted(ds_path(at.store, rel)) +
                  ") on datastore " + vsphere::quoted(at.store.pool.name) +
                  " (volumes are .vmdk disks, named by their path from the datastore root "
                  "without .vmdk, .iso images and other uploaded files, by their whole path)",
              op);
}

/// Any file (for transfers): the file `name` itself, else the volume it
/// names (name.vmdk). The exact file comes first so that every file stays
/// reachable: with both "x" and "x.vmdk" there, "x.vmdk" names the disk.
std::optional<FileEntry> locate_file(VsphereConnection& c, const Store& s, const std::string& name,
                                     const std::string& op) {
  if (auto f = find_file(c, s, name, any_file_query(), op)) return f;
  if (const std::string rel = volume_file_of(name); rel != name)
    return find_file(c, s, rel, any_file_query(), op);
  return std::nullopt;
}

// ---------------------------------------------------------- file manager

/// The datacenter argument of FileManager and VirtualDiskManager: required
/// on a vCenter, left out on a standalone host.
std::string dc_arg(VsphereConnection& c, const std::string& tag, const std::string& op) {
  return c.session().is_vcenter() ? soap::moref(tag, c.datacenter(op).ref) : std::string();
}

void delete_file(VsphereConnection& c, const Store& s, const std::string& rel,
                 const std::string& op) {
  c.session().run_task("DeleteDatastoreFile_Task", c.session().content().file_manager,
                       soap::el("name", ds_path(s, rel)) + dc_arg(c, "datacenter", op), op);
}

/// Makes `folder` (and its missing parents) unless it exists. Returns the
/// top-most folder it made ("" when none), for undoing.
std::string make_folder(VsphereConnection& c, const Store& s, const std::string& folder,
                        const std::string& op) {
  if (folder.empty()) return {};
  std::string top;
  for (std::string f = folder; !f.empty(); f = folder_of_path(f)) {
    if (folder_exists(c, s, f, op)) break;
    top = f;
  }
  if (top.empty()) return {};
  c.session().call("MakeDirectory", c.session().content().file_manager,
                   soap::el("name", ds_path(s, folder)) + dc_arg(c, "datacenter", op) +
                       soap::el("createParentDirectories", "true"),
                   op);
  return top;
}

/// The data extent VirtualDiskManager writes beside the descriptor `rel`
/// ("d/x.vmdk" -> "d/x-flat.vmdk").
std::string flat_of(const std::string& rel) {
  return rel.substr(0, rel.size() - 5) + "-flat.vmdk";
}

/// Which of `rels` (all in one folder) are on `s` now: one search; none when
/// the folder is missing.
std::set<std::string> present(VsphereConnection& c, const Store& s,
                              const std::vector<std::string>& rels, const std::string& op) {
  std::set<std::string> out;
  if (rels.empty()) return out;
  std::vector<std::string> patterns;
  for (const auto& r : rels) patterns.push_back(pattern_for(leaf_of_path(r)));
  std::vector<FileEntry> found;
  try {
    found = search(c, s, folder_of_path(rels.front()), false, any_file_query(), patterns, op);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound) throw;
    return out;
  }
  for (const auto& f : found)
    if (f.kind != "FolderFileInfo" && std::find(rels.begin(), rels.end(), f.rel) != rels.end())
      out.insert(f.rel);
  return out;
}

/// Best effort, after a failed create or copy: removes the folder it made
/// (`made`), else each of `rels` that was not there before and is now (a
/// task that failed halfway, or whose answer was lost, may have written it).
void undo_new_files(VsphereConnection& c, const Store& s, const std::string& made,
                    const std::vector<std::string>& rels, const std::set<std::string>& before,
                    const std::string& op) {
  try {
    if (!made.empty()) {
      delete_file(c, s, made, op);
      return;
    }
    for (const auto& r : present(c, s, rels, op))
      if (!before.count(r)) delete_file(c, s, r, op);
  } catch (...) {
  }
}

/// Best effort: removes what a failed operation made.
void undo_quietly(VsphereConnection& c, const Store& s, const std::string& rel,
                  const std::string& op) {
  if (rel.empty()) return;
  try {
    delete_file(c, s, rel, op);
  } catch (...) {
  }
}

/// AlreadyExists when the new volume (files[0]) or its data extent is there.
void refuse_existing(const std::set<std::string>& before, const std::vector<std::string>& files,
                     const Store& s, const std::string& op) {
  if (before.count(files.front()))
    throw Error(
        ErrorCode::AlreadyExists,
        "volume " + quoted(files.front()) + " already exists on datastore " + quoted(s.pool.name),
        op);
  for (const auto& f : files)
    if (before.count(f))
      throw Error(ErrorCode::AlreadyExists,
                  quoted(f) + ", the data file of volume " + quoted(files.front()) +
                      ", already exists on datastore " + quoted(s.pool.name) +
                      " (nothing was made)",
                  op);
}

std::string random_hex() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    out += buf;
  }
  return out;
}

void require_disk_manager(VsphereConnection& c, const std::string& op) {
  if (c.session().content().virtual_disk_manager.empty())
    throw Error(ErrorCode::Unsupported,
                c.session().endpoint() + " (" +
                    escape::terminal_text(c.session().content().full_name) +
                    ") offers no VirtualDiskManager, which creates, copies and deletes VMDK disks",
                op);
}

/// A new VMDK's file: `name`, with ".vmdk" added when it has no such end.
/// A format other than VMDK is Unsupported (vSphere has no other virtual
/// disk to make), told in our own sentence.
std::string vmdk_file_for(const std::string& name, const std::string& format,
                          const std::string& op) {
  const std::string f = lower_ascii(format);
  if (!f.empty() && f != "vmdk")
    throw Error(ErrorCode::Unsupported,
                "vSphere makes virtual disks as VMDK only; format " +
                    escape::terminal_text(format) +
                    " is not offered (upload a raw image as a datastore file instead)",
                op);
  if (is_iso(name))
    throw Error(ErrorCode::InvalidArgument,
                "bad volume name " + quoted(name) + ": an .iso is uploaded, not created", op);
  const std::string rel = volume_file_of(name);
  if (ends_with_ci(rel, "-flat.vmdk"))
    throw Error(ErrorCode::InvalidArgument,
                "bad volume name " + quoted(name) + ": its file " + quoted(rel) +
                    " would end in -flat.vmdk, the data extent of another disk",
                op);
  return rel;
}

}  // namespace

// ------------------------------------------------------------------ pools

std::vector<Pool> VsphereStorageOps::list_pools() {
  const std::string op = "pool.list";
  return guarded(op, [&] {
    std::vector<Pool> out;
    for (auto& s : stores(c_, op)) out.push_back(std::move(s.pool));
    return out;
  });
}

Pool VsphereStorageOps::get_pool(const std::string& name) {
  const std::string op = "pool.info";
  return guarded(op, [&] { return find_store(c_, name, op).pool; });
}

void VsphereStorageOps::refresh_pool(const std::string& name) {
  const std::string op = "pool.refresh";
  guarded(op, [&] {
    const Store s = find_store(c_, name, op);
    c_.session().call("RefreshDatastore", s.ref, "", op);
  });
}

// ---------------------------------------------------------------- volumes

std::vector<Volume> VsphereStorageOps::list_volumes(const std::string& pool) {
  const std::string op = "volume.list";
  return guarded(op, [&] {
    const Store s = find_store(c_, pool, op);
    require_accessible(s, op);
    // Disks through the disk query (a real server hides their extents),
    // then every file for the other volumes.
    const auto files = search(c_, s, "", true, volume_queries(), {"*.vmdk", "*.iso"}, op);
    const auto others = search(c_, s, "", true, any_file_query(), {"*"}, op);
    const FileUse use = file_use(c_, op);
    std::vector<Volume> out;
    for (const auto& f : files)
      if (f.kind != "FolderFileInfo" && (is_vmdk(f.rel) || is_iso(f.rel)))
        out.push_back(volume_of(s, f, use));
    for (const auto& f : others)
      if (f.kind != "FolderFileInfo" && is_plain_file(f.rel)) out.push_back(volume_of(s, f, use));
    std::sort(out.begin(), out.end(),
              [](const Volume& a, const Volume& b) { return a.name < b.name; });
    return out;
  });
}

Volume VsphereStorageOps::get_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.info";
  return guarded(op, [&] {
    const Located at = locate_volume(c_, pool, name, op);
    return volume_of(at.store, at.file, file_use(c_, op));
  });
}

Volume VsphereStorageOps::create_volume(const VolumeSpec& spec) {
  const std::string op = "volume.create";
  return guarded(op, [&] {
    check_name(spec.name, op);
    const std::string rel = vmdk_file_for(spec.name, spec.format, op);
    check_name(rel, op);
    if (spec.capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "volume " + quoted(spec.name) + " needs a size", op);
    if (spec.capacity_bytes % 1024)
      throw Error(ErrorCode::InvalidArgument,
                  "the size of a VMDK is a whole number of KiB; " +
                      std::to_string(spec.capacity_bytes) + " bytes is not",
                  op);
    require_disk_manager(c_, op);
    const Store s = pool_for_new(c_, spec.pool, op);
    require_accessible(s, op);
    const std::vector<std::string> files = {rel, flat_of(rel)};
    const auto before = present(c_, s, files, op);
    refuse_existing(before, files, s, op);
    const std::string made = make_folder(c_, s, folder_of_path(rel), op);
    try {
      const std::string disk_spec =
          soap::el("diskType", "thin") + soap::el("adapterType", "lsiLogic") +
          soap::el("capacityKb", std::to_string(spec.capacity_bytes / 1024));
      c_.session().run_task("CreateVirtualDisk_Task", c_.session().content().virtual_disk_manager,
                            soap::el("name", ds_path(s, rel)) + dc_arg(c_, "datacenter", op) +
                                soap::typed("spec", "FileBackedVirtualDiskSpec", disk_spec),
                            op);
    } catch (...) {
      undo_new_files(c_, s, made, files, before, op);
      throw;
    }
    Volume v;
    if (auto f = find_file(c_, s, rel, volume_query_for(rel), op))
      v = volume_of(s, *f, {});
    else
      throw Error(ErrorCode::BackendFailure,
                  "CreateVirtualDisk_Task succeeded but " + quoted(ds_path(s, rel)) +
                      " is not on the datastore",
                  op);
    // The server made the disk with the capacity asked; the simulator's
    // browser does not report capacityKb.
    if (!v.capacity_bytes) v.capacity_bytes = spec.capacity_bytes;
    return v;
  });
}

void VsphereStorageOps::remove_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.delete";
  guarded(op, [&] {
    const Located at = locate_volume(c_, pool, name, op);
    const Volume v = volume_of(at.store, at.file, file_use(c_, op));
    if (!v.used_by.empty())
      throw Error(ErrorCode::Conflict,
                  "volume " + quoted(v.name) + " is in use by VM " + vm_names(v.used_by) +
                      " (its disk, image or a file in its folder); detach it (or delete the "
                      "VM) first; nothing was deleted",
                  op);
    const MoRef& vdm = c_.session().content().virtual_disk_manager;
    if (v.format == "vmdk" && !vdm.empty()) {
      try {
        c_.session().run_task("DeleteVirtualDisk_Task", vdm,
                              soap::el("name", v.path) + dc_arg(c_, "datacenter", op), op);
        return;
      } catch (const Error& e) {
        // A descriptor without its extent (e.g. an uploaded single-file
        // VMDK): the disk manager cannot find the extent; the file itself
        // still goes.
        if (e.code() != ErrorCode::NotFound) throw;
        if (!find_file(c_, at.store, at.file.rel, any_file_query(), op)) return;
      }
    }
    delete_file(c_, at.store, at.file.rel, op);
  });
}

Volume VsphereStorageOps::clone_volume(const std::string& pool, const std::string& name,
                                       const VolumeSpec& target, const ProgressFn& progress,
                                       const CancelToken& cancel) {
  const std::string op = "volume.clone";
  return guarded(op, [&] {
    check_name(target.name, op);
    const Located at = locate_volume(c_, pool, name, op);
    const Volume source = volume_of(at.store, at.file, file_use(c_, op));
    const bool disk = source.format == "vmdk";
    std::string rel = target.name;
    if (disk) {
      rel = vmdk_file_for(target.name, target.format, op);
      require_disk_manager(c_, op);
    } else if (!target.format.empty() && lower_ascii(target.format) != source.format) {
      throw Error(ErrorCode::InvalidArgument,
                  "a copy of " + quoted(source.name) + " stays a " + source.format +
                      " file; format " + quoted(target.format) + " is not offered",
                  op);
    } else if (format_of(rel) != source.format || !(is_iso(rel) || is_plain_file(rel))) {
      // Named otherwise, the copy would be another kind of volume, or none.
      throw Error(ErrorCode::InvalidArgument,
                  "bad volume name " + quoted(target.name) + ": a copy of " + quoted(source.name) +
                      (source.format == "iso" ? " is an ISO image, named with .iso"
                                              : " is a file, named without .vmdk or .iso"),
                  op);
    }
    check_name(rel, op);
    if (target.capacity_bytes && target.capacity_bytes != source.capacity_bytes)
      throw Error(ErrorCode::InvalidArgument,
                  "a copy of " + quoted(source.name) + " keeps its size (" +
                      std::to_string(source.capacity_bytes) + " bytes); " +
                      std::to_string(target.capacity_bytes) + " bytes cannot be asked",
                  op);
    const Store ts = target.pool.empty() ? at.store : find_store(c_, target.pool, op);
    require_accessible(ts, op);
    const std::vector<std::string> files =
        disk ? std::vector<std::string>{rel, flat_of(rel)} : std::vector<std::string>{rel};
    const auto before = present(c_, ts, files, op);
    refuse_existing(before, files, ts, op);
    if (cancel.cancelled())
      throw Error(ErrorCode::Cancelled, "cancelled before the copy began; nothing was made", op);
    const std::string made = make_folder(c_, ts, folder_of_path(rel), op);
    try {
      // A cancel asks CancelTask and waits for the task (wait_task's grace).
      if (disk)
        c_.session().run_task("CopyVirtualDisk_Task", c_.session().content().virtual_disk_manager,
                              soap::el("sourceName", source.path) +
                                  dc_arg(c_, "sourceDatacenter", op) +
                                  soap::el("destName", ds_path(ts, rel)) +
                                  dc_arg(c_, "destDatacenter", op) + soap::el("force", "false"),
                              op, "copy", progress, &cancel);
      else
        c_.session().run_task(
            "CopyDatastoreFile_Task", c_.session().content().file_manager,
            soap::el("sourceName", source.path) + dc_arg(c_, "sourceDatacenter", op) +
                soap::el("destinationName", ds_path(ts, rel)) +
                dc_arg(c_, "destinationDatacenter", op) + soap::el("force", "false"),
            op, "copy", progress, &cancel);
      // The task finished although it was asked to stop: cancelled still
      // means no copy.
      if (cancel.cancelled())
        throw Error(ErrorCode::Cancelled, "cancelled (the copy finished meanwhile)", op);
    } catch (const Error& e) {
      undo_new_files(c_, ts, made, files, before, op);
      if (e.code() != ErrorCode::Cancelled) throw;
      // What the copy wrote is gone; a task that did not end may still
      // write (wait_task's message says so).
      throw Error(ErrorCode::Cancelled,
                  std::string(e.what()) + "; the files the copy had made were removed", op,
                  e.detail());
    } catch (...) {
      undo_new_files(c_, ts, made, files, before, op);
      throw;
    }
    auto f = find_file(c_, ts, rel, volume_query_for(rel), op);
    if (!f)
      throw Error(ErrorCode::BackendFailure,
                  "the copy succeeded but " + quoted(ds_path(ts, rel)) + " is not on the datastore",
                  op);
    Volume v = volume_of(ts, *f, {});
    if (!v.capacity_bytes) v.capacity_bytes = source.capacity_bytes;
    return v;
  });
}

// -------------------------------------------------------------- transfers

void VsphereStorageOps::upload_volume(const std::string& pool, const std::string& name,
                                      const std::string& local_path, const TransferOptions& options,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "volume.upload";
  guarded(op, [&] {
    check_name(name, op);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(local_path, ec))
      throw Error(std::filesystem::exists(local_path, ec) ? ErrorCode::InvalidArgument
                                                          : ErrorCode::NotFound,
                  "the local file " + quoted(local_path) + " is not there or not a regular file",
                  op);
    const Store s = find_store(c_, pool, op);
    require_accessible(s, op);
    const auto existing = locate_file(c_, s, name, op);
    if (existing && !options.overwrite)
      throw Error(ErrorCode::AlreadyExists,
                  quoted(ds_path(s, existing->rel)) +
                      " already exists; ask to overwrite it (nothing was uploaded)",
                  op);
    const std::string rel = existing ? existing->rel : name;
    // Replacing a file a VM stands on (its disk, a parent of it, its CD-ROM,
    // or anything in its folder: .vmx, .nvram, logs...) would change what
    // the VM reads or, running, what it writes to: refused before anything
    // moves.
    if (existing)
      if (const auto vms = file_use(c_, op).users(s.raw_name, rel); !vms.empty())
        throw Error(ErrorCode::Conflict,
                    quoted(ds_path(s, rel)) + " is in use by VM " + vm_names(vms) +
                        "; detach it (or delete the VM) first; nothing was uploaded",
                    op);
    const std::string partial =
        join_path(folder_of_path(rel), ".hyperctl-upload-" + random_hex() + ".part");
    // dcPath is the datacenter's inventory path (names as stored).
    const std::string dc = c_.datacenter(op).path;
    const std::string made = make_folder(c_, s, folder_of_path(rel), op);
    try {
      c_.session().upload(dc, s.raw_name, partial, local_path, progress, cancel, op);
      if (cancel.cancelled())
        throw Error(ErrorCode::Cancelled, "the upload was cancelled; nothing was changed", op);
      try {
        c_.session().run_task("MoveDatastoreFile_Task", c_.session().content().file_manager,
                              soap::el("sourceName", ds_path(s, partial)) +
                                  dc_arg(c_, "sourceDatacenter", op) +
                                  soap::el("destinationName", ds_path(s, rel)) +
                                  dc_arg(c_, "destinationDatacenter", op) +
                                  soap::el("force", options.overwrite ? "true" : "false"),
                              op);
      } catch (const Error& e) {
        // Another client made the file while ours was on its way.
        if (e.code() != ErrorCode::AlreadyExists) throw;
        throw Error(ErrorCode::AlreadyExists,
                    quoted(ds_path(s, rel)) +
                        " appeared during the upload; ask to overwrite it (nothing was changed)",
                    op, e.what());
      }
    } catch (...) {
      undo_quietly(c_, s, made.empty() ? partial : made, op);
      throw;
    }
  });
}

void VsphereStorageOps::download_volume(const std::string& pool, const std::string& name,
                                        const std::string& local_path,
                                        const TransferOptions& options, const ProgressFn& progress,
                                        const CancelToken& cancel) {
  const std::string op = "volume.download";
  guarded(op, [&] {
    check_name(name, op);
    check_download_target(local_path, options.overwrite, op);
    const Store s = find_store(c_, pool, op);
    require_accessible(s, op);
    const auto file = locate_file(c_, s, name, op);
    if (!file)
      throw Error(ErrorCode::NotFound,
                  "no file " + quoted(name) + " on datastore " + quoted(s.pool.name), op);
    c_.session().download(c_.datacenter(op).path, s.raw_name, file->rel, local_path,
                          options.overwrite, progress, cancel, op);
  });
}

// ------------------------------------------------- between families

namespace {

/// Descriptors are small text files; a VMDK file larger than this holds data.
constexpr std::uint64_t kMaxDescriptor = 64 * 1024;

/// A local temporary file removed when this goes out of scope.
struct TempFile {
  std::string path;
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir && *dir ? dir : "/tmp") + "/hyperctl-vmdk-" + random_hex();
  }
  ~TempFile() { ::unlink(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

std::string read_local(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// What a VMDK file is: a descriptor naming one flat extent (its file, in
/// the descriptor's folder), or a sparse disk in one file.
struct VmdkKind {
  bool sparse = false;
  std::string extent;  ///< relative path of the flat extent
};

VmdkKind vmdk_kind(VsphereConnection& c, const Store& s, const FileEntry& f,
                   const std::string& op) {
  VmdkKind k;
  if (f.size > kMaxDescriptor) {
    k.sparse = true;  // a descriptor is never this large: a monolithic sparse disk
    return k;
  }
  TempFile tmp;
  c.session().download(c.datacenter(op).path, s.raw_name, f.rel, tmp.path, true, {}, {}, op);
  const std::string text = read_local(tmp.path);
  if (text.rfind("KDMV", 0) == 0) {
    k.sparse = true;
    return k;
  }
  if (text.empty())
    throw Error(ErrorCode::BackendFailure,
                vsphere::quoted(ds_path(s, f.rel)) + " is empty: no disk descriptor to read", op);
  // Extent lines: RW <sectors> FLAT|VMFS "<file>" [offset]
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> extents;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string access, sectors, type;
    if (!(words >> access >> sectors >> type)) continue;
    if (access != "RW" && access != "RDONLY") continue;
    const auto open = line.find('"');
    const auto close = open == std::string::npos ? open : line.find('"', open + 1);
    if (close == std::string::npos) continue;
    if (type != "FLAT" && type != "VMFS")
      throw Error(ErrorCode::Unsupported,
                  vsphere::quoted(ds_path(s, f.rel)) + " has a " + vsphere::quoted(type) +
                      " extent; only flat disks and single-file sparse disks can be exported "
                      "(consolidate its snapshots, or clone it to a thick or thin disk)",
                  op);
    extents.push_back(line.substr(open + 1, close - open - 1));
  }
  if (extents.size() != 1)
    throw Error(ErrorCode::Unsupported,
                vsphere::quoted(ds_path(s, f.rel)) + " has " + std::to_string(extents.size()) +
                    " extents; only a disk of one extent can be exported",
                op);
  const std::string& e = extents.front();
  if (e.empty() || e.find('/') != std::string::npos || e == "." || e == "..")
    throw Error(ErrorCode::BackendFailure,
                vsphere::quoted(ds_path(s, f.rel)) + " names its extent " + vsphere::quoted(e) +
                    ", which is not a file beside it",
                op);
  k.extent = join_path(folder_of_path(f.rel), e);
  return k;
}

/// A descriptor ESXi reads for a flat extent `extent_leaf` of `bytes`.
std::string flat_descriptor(const std::string& extent_leaf, std::uint64_t bytes) {
  const std::uint64_t sectors = bytes / 512;
  const std::uint64_t cylinders = std::max<std::uint64_t>(1, sectors / (255 * 63));
  std::random_device rd;
  char cid[9];
  std::snprintf(cid, sizeof cid, "%08x", static_cast<unsigned>(rd()));
  std::string d = "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=";
  d += cid;
  d += "\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\n# Extent description\nRW " +
       std::to_string(sectors) + " VMFS \"" + extent_leaf + "\"\n\n# The Disk Data Base\n#DDB\n\n" +
       "ddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"" + std::to_string(cylinders) +
       "\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n" +
       "ddb.virtualHWVersion = \"13\"\n";
  return d;
}

}  // namespace

std::string VsphereStorageOps::volume_name(const std::string& rel) {
  return volume_name_of(rel);
}

std::string VsphereStorageOps::disk_format(const std::string& pool, const std::string& name) {
  const std::string op = "volume.info";
  return guarded(op, [&] {
    const Located at = locate_volume(c_, pool, name, op);
    if (format_of(at.file.rel) != "vmdk")
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + vsphere::quoted(name) + " is no VMDK disk", op);
    return vmdk_kind(c_, at.store, at.file, op).sparse ? std::string("vmdk") : std::string("raw");
  });
}

std::string VsphereStorageOps::export_disk(const std::string& pool, const std::string& name,
                                           const std::string& local_path,
                                           const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "volume.download";
  return guarded(op, [&] {
    check_download_target(local_path, false, op);
    const Located at = locate_volume(c_, pool, name, op);
    if (format_of(at.file.rel) != "vmdk")
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + vsphere::quoted(name) + " is no VMDK disk", op);
    const VmdkKind k = vmdk_kind(c_, at.store, at.file, op);
    const std::string rel = k.sparse ? at.file.rel : k.extent;
    c_.session().download(c_.datacenter(op).path, at.store.raw_name, rel, local_path, false,
                          progress, cancel, op);
    return k.sparse ? std::string("vmdk") : std::string("raw");
  });
}

ImportFormat VsphereStorageOps::import_format(const std::string&) {
  // Volumes are named without ".vmdk"; the bytes become a flat extent.
  return {"raw", ""};
}

Volume VsphereStorageOps::import_disk(const VolumeSpec& spec, const std::string& local_path,
                                      const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "volume.upload";
  return guarded(op, [&] {
    check_name(spec.name, op);
    if (!spec.format.empty() && spec.format != "raw")
      throw Error(ErrorCode::InvalidArgument,
                  "a disk is imported into vSphere as raw bytes (a flat VMDK), not " +
                      vsphere::quoted(spec.format),
                  op);
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(local_path, ec);
    if (ec)
      throw Error(ErrorCode::NotFound,
                  "the local file " + vsphere::quoted(local_path) + " is not there", op);
    if (bytes == 0 || bytes % 512 != 0 || (spec.capacity_bytes && bytes != spec.capacity_bytes))
      throw Error(ErrorCode::InvalidArgument,
                  "a raw disk of " + std::to_string(bytes) +
                      " bytes cannot be a flat VMDK (a whole number of 512-byte sectors" +
                      (spec.capacity_bytes ? ", " + std::to_string(spec.capacity_bytes) : "") +
                      " bytes)",
                  op);
    const std::string rel = volume_file_of(spec.name);
    if (format_of(rel) != "vmdk")
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + vsphere::quoted(spec.name) + " would not be a .vmdk disk", op);
    const std::string extent = flat_of(rel);
    const Store s = pool_for_new(c_, spec.pool, op);
    require_accessible(s, op);
    const std::vector<std::string> files = {rel, extent};
    const auto before = present(c_, s, files, op);
    refuse_existing(before, files, s, op);
    const std::string made = make_folder(c_, s, folder_of_path(rel), op);
    const std::string dc = c_.datacenter(op).path;
    try {
      c_.session().upload(dc, s.raw_name, extent, local_path, progress, cancel, op);
      if (cancel.cancelled())
        throw Error(ErrorCode::Cancelled, "the upload was cancelled; nothing was kept", op);
      TempFile desc;
      {
        std::ofstream out(desc.path, std::ios::binary | std::ios::trunc);
        out << flat_descriptor(leaf_of_path(extent), bytes);
        if (!out) throw Error(ErrorCode::BackendFailure, "cannot write a local temporary file", op);
      }
      c_.session().upload(dc, s.raw_name, rel, desc.path, {}, cancel, op);
    } catch (...) {
      undo_new_files(c_, s, made, files, before, op);
      throw;
    }
    Volume v;
    if (auto f = find_file(c_, s, rel, volume_query_for(rel), op))
      v = volume_of(s, *f, {});
    else
      throw Error(ErrorCode::BackendFailure,
                  "the upload succeeded but " + vsphere::quoted(ds_path(s, rel)) +
                      " is not on the datastore",
                  op);
    if (!v.capacity_bytes || v.capacity_bytes == v.allocation_bytes) v.capacity_bytes = bytes;
    return v;
  });
}

// ------------------------------------------------- a VM's storage (vm.delete)

namespace {

/// The datacenter the VM is in: the connection's, else (several, none
/// named in the URI) the one above the VM. Empty on a standalone host.
MoRef datacenter_of_vm(VsphereConnection& c, const MoRef& vm, const std::string& op) {
  if (!c.session().is_vcenter()) return {};
  try {
    return c.datacenter(op).ref;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::InvalidArgument) throw;
  }
  MoRef at = vm;
  for (int depth = 0; depth < 64 && !at.empty(); ++depth) {
    at = xml::moref(
        c.session().retrieve_one(at, {"parent"}, op, "the folder of the VM").prop("parent"));
    if (at.type == "Datacenter") return at;
  }
  throw Error(ErrorCode::BackendFailure, "cannot find the datacenter of the VM", op);
}

bool is_extent(const std::string& rel) {
  for (std::string_view extent : {"-flat.vmdk", "-delta.vmdk", "-sesparse.vmdk", "-ctk.vmdk"})
    if (ends_with_ci(rel, extent)) return true;
  return false;
}

}  // namespace

StoragePlan plan_vm_storage(VsphereConnection& c, const VmObject& vm, const VmFiles& mine,
                            const FileUse& others, const std::string& op) {
  StoragePlan plan;
  plan.datacenter = datacenter_of_vm(c, vm.ref, op);
  std::map<std::string, Store> by_name;
  for (const auto& o :
       c.session().retrieve(xml::morefs(vm.raw.prop("datastore")), {"summary", "browser"}, op)) {
    Store st = store_of(o);
    by_name[st.raw_name] = std::move(st);
  }
  auto store = [&](const std::string& raw) -> const Store& {
    const auto it = by_name.find(raw);
    if (it == by_name.end())
      throw Error(ErrorCode::BackendFailure,
                  "the files of VM " + quoted(vm.info.name) + " are on datastore " + quoted(raw) +
                      ", which is not among its datastores; nothing was deleted",
                  op);
    return it->second;
  };
  std::set<std::string> planned;  // ds '\n' rel
  // Whether `f` stays (another VM uses it); notes it in plan.kept. A disk's
  // extent is not listed on its own: its descriptor says it.
  auto kept = [&](const DatastorePath& f) {
    const auto users = others.users(f.datastore, f.rel);
    if (users.empty()) return false;
    if (!is_extent(f.rel))
      plan.kept.push_back({datastore_path(f.datastore, f.rel), "used by VM " + vm_names(users)});
    return true;
  };
  for (const auto& folder : mine.folders) {
    const Store& s = store(folder.datastore);
    std::vector<FileEntry> entries;
    try {
      entries = search(c, s, folder.rel, !folder.rel.empty(), any_file_query(), {"*"}, op);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;  // the folder is gone already
      continue;
    }
    std::vector<StoragePlan::Item> singles;
    bool any_kept = false;
    for (const auto& f : entries) {
      if (f.kind == "FolderFileInfo" || !in_vm_folder(folder, mine.stem, s.raw_name, f.rel) ||
          !planned.insert(s.raw_name + '\n' + f.rel).second)
        continue;
      const DatastorePath where{s.raw_name, f.rel};
      if (kept(where))
        any_kept = true;
      else
        singles.push_back({where, false, false});
    }
    if (!any_kept && !folder.rel.empty())
      plan.doomed.push_back({folder, true, false});
    else
      plan.doomed.insert(plan.doomed.end(), singles.begin(), singles.end());
  }
  // Disks outside the VM's folders (attached from elsewhere, or the parents
  // of its deltas).
  for (const auto& d : mine.disks) {
    if (std::any_of(mine.folders.begin(), mine.folders.end(), [&](const DatastorePath& f) {
          return in_vm_folder(f, mine.stem, d.datastore, d.rel);
        })) {
      if (others.users(d.datastore, d.rel).empty()) plan.disks.push_back(d);
      continue;
    }
    if (!planned.insert(d.datastore + '\n' + d.rel).second) continue;
    (void)store(d.datastore);
    if (kept(d)) continue;
    plan.doomed.push_back({d, false, true});
    plan.disks.push_back(d);
  }
  return plan;
}

DeleteReport delete_planned(VsphereConnection& c, const StoragePlan& plan,
                            std::vector<std::string>& failed, const std::string& op) {
  Session& s = c.session();
  const std::string dc =
      plan.datacenter.empty() ? std::string() : soap::moref("datacenter", plan.datacenter);
  DeleteReport report;
  report.kept = plan.kept;
  for (const auto& d : plan.disks) report.deleted.push_back(datastore_path(d.datastore, d.rel));
  for (const auto& item : plan.doomed) {
    const std::string path = datastore_path(item.where.datastore, item.where.rel);
    const MoRef& vdm = s.content().virtual_disk_manager;
    auto delete_file_at = [&] {
      s.run_task("DeleteDatastoreFile_Task", s.content().file_manager, soap::el("name", path) + dc,
                 op, "delete " + path);
    };
    try {
      if (item.disk && !vdm.empty()) {
        try {
          s.run_task("DeleteVirtualDisk_Task", vdm, soap::el("name", path) + dc, op,
                     "delete " + path);
        } catch (const Error& e) {
          // A descriptor without its extent: the file itself.
          if (e.code() != ErrorCode::NotFound) throw;
          delete_file_at();
        }
      } else {
        delete_file_at();
      }
    } catch (const Error& e) {
      // Gone already: the server's Destroy_Task took it with the VM.
      if (e.code() != ErrorCode::NotFound) {
        failed.push_back(quoted(path) + ": " + e.what());
        continue;
      }
    }
    // The VM's disks are listed first; a folder, and single files other
    // than those disks and their extents, after them.
    if (!item.disk && !is_extent(item.where.rel) &&
        std::find(report.deleted.begin(), report.deleted.end(), path) == report.deleted.end())
      report.deleted.push_back(path);
  }
  return report;
}

Capabilities storage_capabilities() {
  return {Operation::PoolList,      Operation::PoolInfo,    Operation::PoolRefresh,
          Operation::VolumeList,    Operation::VolumeInfo,  Operation::VolumeCreate,
          Operation::VolumeDelete,  Operation::VolumeClone, Operation::VolumeUpload,
          Operation::VolumeDownload};
}

}  // namespace hyperctl::vsphere
