// Storage of a Hyper-V connection; see storage_ops.hpp.
#include "storage_ops.hpp"

#include <algorithm>
#include <map>

#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

using json = nlohmann::json;

const std::string kDefaultPool = "vhd";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// VhdFormat and VhdType as numbers (Microsoft.Vhd.PowerShell enums) or
// strings: one table each.
const std::map<std::string, std::string> kFormats = {{"2", "vhd"},     {"3", "vhdx"},
                                                     {"4", "vhdset"},  {"vhd", "vhd"},
                                                     {"vhdx", "vhdx"}, {"vhdset", "vhdset"}};
const std::map<std::string, std::string> kTypes = {
    {"2", "fixed"},     {"3", "dynamic"},       {"4", "differencing"},
    {"fixed", "fixed"}, {"dynamic", "dynamic"}, {"differencing", "differencing"}};

std::string enum_word(const json& record, const char* key,
                      const std::map<std::string, std::string>& table) {
  const std::string raw = lower_ascii(text_field(record, key));
  auto it = table.find(raw);
  return it == table.end() ? raw : it->second;
}

/// The file name at the end of a Windows (or POSIX) path.
std::string leaf_of(const std::string& path) {
  const auto cut = path.find_last_of("\\/");
  return cut == std::string::npos ? path : path.substr(cut + 1);
}

/// VM names by volume path (path_key), from one vm.list.
std::map<std::string, std::vector<std::string>> users_by_path(const HypervConnection& c) {
  std::map<std::string, std::vector<std::string>> users;
  const json listed = c.ps().run("vm.list", json::object());
  const json vms = listed.value("vms", json::array());
  if (!vms.is_array()) return users;
  for (const auto& vm : vms) {
    const json drives = vm.value("HardDrives", json());
    if (!drives.is_array()) continue;  // depth-truncated: unknown, and volume.delete checks again
    for (const auto& d : drives) {
      const std::string p = text_field(d, "Path");
      if (!p.empty()) users[path_key(p)].push_back(text_field(vm, "Name"));
    }
  }
  return users;
}

/// The name of a file without its .vhd/.vhdx extension ("" when it has none).
std::string stem_of(const std::string& file) {
  const std::string f = format_of_name(file);
  return f.empty() ? std::string() : file.substr(0, file.size() - f.size() - 1);
}

}  // namespace

Volume volume_of(const json& vhd, const std::string& pool,
                 const std::map<std::string, std::vector<std::string>>& users,
                 const std::string& name) {
  Volume v;
  v.path = text_field(vhd, "Path");
  v.name = name;
  if (v.name.empty()) v.name = stem_of(leaf_of(v.path));
  if (v.name.empty()) v.name = leaf_of(v.path);
  v.pool = pool;
  v.key = v.path;
  v.format = enum_word(vhd, "VhdFormat", kFormats);
  v.type = enum_word(vhd, "VhdType", kTypes);
  v.capacity_bytes = number_field(vhd, "Size");
  v.allocation_bytes = number_field(vhd, "FileSize");
  if (auto it = users.find(path_key(v.path)); it != users.end()) v.used_by = it->second;
  return v;
}

namespace {

/// A format asked for: "vhd", "vhdx", "raw" (a fixed VHD: a raw image with
/// a 512-byte footer) or "" (the default). Anything else is InvalidArgument.
std::string check_format(const std::string& format, const std::string& op) {
  const std::string f = lower_ascii(format);
  if (!f.empty() && f != "vhd" && f != "vhdx" && f != "raw")
    throw Error(ErrorCode::InvalidArgument,
                "bad format " + quoted(format) +
                    " for a Hyper-V volume; use vhdx, vhd, or raw (a fixed VHD)",
                op);
  return f;
}

/// The file extension of a format word.
std::string extension_of(const std::string& format) {
  return format == "raw" ? "vhd" : format;
}

void check_name(const std::string& name, const std::string& op) {
  if (!safe_file_name(name))
    throw Error(ErrorCode::InvalidArgument,
                "bad volume name " + quoted(name) +
                    ": a volume is a file directly in its pool's folder (no path separator, no "
                    "'..', none of < > : \" / \\ | ? * or control characters)",
                op);
}

std::string pool_list_text() {
  return "the pools are 'vhd' (Get-VMHost's VirtualHardDiskPath) and 'vm' "
         "(VirtualMachinePath)";
}

}  // namespace

std::string lower_ascii(std::string s) {
  for (char& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

std::string format_of_name(const std::string& name) {
  const std::string l = lower_ascii(name);
  if (ends_with(l, ".vhdx") && l.size() > 5) return "vhdx";
  if (ends_with(l, ".vhd") && l.size() > 4) return "vhd";
  return {};
}

std::string path_key(const std::string& path) {
  std::string k = lower_ascii(path);
  std::replace(k.begin(), k.end(), '/', '\\');
  while (k.size() > 1 && k.back() == '\\') k.pop_back();
  return k;
}

std::string join_path(const std::string& folder, const std::string& leaf) {
  if (folder.empty()) return leaf;
  const char last = folder.back();
  return last == '\\' || last == '/' ? folder + leaf : folder + "\\" + leaf;
}

bool safe_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find("..") != std::string::npos)
    return false;
  if (!escape::valid_utf8(name)) return false;
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7f ||
        std::string_view("<>:\"/\\|?*").find(static_cast<char>(ch)) != std::string_view::npos)
      return false;
  // Windows drops trailing dots and spaces: "a.vhdx " would be another file.
  return name.back() != '.' && name.back() != ' ';
}

HypervStorageOps::HypervStorageOps(HypervConnection& c) : StorageOps(kBackendName), c_(c) {}

std::vector<Pool> HypervStorageOps::list_pools() {
  return guarded("pool.list", [&] {
    const json answer = c_.ps().run("pool.list", json::object());
    const json pools = answer.value("pools", json::array());
    if (!pools.is_array())
      throw Error(ErrorCode::BackendFailure, "pool.list answered without a list of pools",
                  "pool.list");
    std::vector<Pool> out;
    for (const auto& p : pools) {
      Pool pool;
      pool.name = text_field(p, "Name");
      pool.id = pool.name;
      pool.type = "folder";
      pool.path = text_field(p, "Path");
      pool.active = true;
      pool.autostart = true;
      pool.capacity_bytes = number_field(p, "CapacityBytes");
      pool.available_bytes = number_field(p, "FreeBytes");
      pool.allocation_bytes = pool.capacity_bytes > pool.available_bytes
                                  ? pool.capacity_bytes - pool.available_bytes
                                  : 0;
      out.push_back(std::move(pool));
    }
    return out;
  });
}

Pool HypervStorageOps::get_pool(const std::string& name) {
  return guarded("pool.info", [&] {
    for (auto& p : list_pools())
      if (p.name == name) {
        if (p.path.empty())
          throw Error(ErrorCode::BackendFailure,
                      "the host " + escape::terminal_text(c_.host_name()) +
                          " gives no folder for pool " + quoted(name),
                      "pool.info");
        return p;
      }
    throw Error(ErrorCode::NotFound,
                "no pool " + quoted(name) + " on " + escape::terminal_text(c_.host_name()) + "; " +
                    pool_list_text(),
                "pool.info");
  });
}

std::vector<Volume> HypervStorageOps::list_volumes(const std::string& pool) {
  const std::string op = "volume.list";
  return guarded(op, [&] {
    const Pool p = get_pool(pool);
    const json answer = c_.ps().run(op, json{{"path", p.path}}, quoted(p.name));
    const json vols = answer.value("volumes", json::array());
    if (!vols.is_array())
      throw Error(ErrorCode::BackendFailure, "volume.list answered without a list of volumes", op);
    // A volume is named by its file's stem, unless x.vhd and x.vhdx are both
    // there: then both go by their whole file names.
    std::map<std::string, int> stems;
    for (const auto& v : vols) ++stems[lower_ascii(stem_of(leaf_of(text_field(v, "Path"))))];
    const auto users = users_by_path(c_);
    std::vector<Volume> out;
    for (const auto& v : vols) {
      const std::string file = leaf_of(text_field(v, "Path"));
      const std::string stem = stem_of(file);
      out.push_back(volume_of(v, p.name, users, stems[lower_ascii(stem)] > 1 ? file : stem));
    }
    std::sort(out.begin(), out.end(),
              [](const Volume& a, const Volume& b) { return a.name < b.name; });
    return out;
  });
}

HypervStorageOps::Located HypervStorageOps::locate(const std::string& pool, const std::string& name,
                                                   const std::string& op) {
  check_name(name, op);
  Located at{get_pool(pool), json()};
  if (!format_of_name(name).empty()) {
    at.vhd = c_.ps()
                 .run("volume.get", json{{"path", join_path(at.pool.path, name)}}, quoted(name))
                 .value("volume", json::object());
    return at;
  }
  // A name without extension: name.vhdx or name.vhd, whichever is there.
  std::vector<json> found;
  for (const char* ext : {".vhdx", ".vhd"}) {
    try {
      found.push_back(
          c_.ps()
              .run("volume.get", json{{"path", join_path(at.pool.path, name + ext)}}, quoted(name))
              .value("volume", json::object()));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound) throw;
    }
  }
  if (found.empty())
    throw Error(ErrorCode::NotFound,
                "no volume " + quoted(name) + " (" + quoted(name + ".vhdx") + " or " +
                    quoted(name + ".vhd") + ") in pool " + quoted(at.pool.name) + " on " +
                    escape::terminal_text(c_.host_name()),
                op);
  if (found.size() > 1)
    throw Error(ErrorCode::Conflict,
                "pool " + quoted(at.pool.name) + " holds both " + quoted(name + ".vhdx") + " and " +
                    quoted(name + ".vhd"),
                op);
  at.vhd = found.front();
  return at;
}

Volume HypervStorageOps::get_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.get";
  return guarded(op, [&] {
    const Located at = locate(pool, name, op);
    return volume_of(at.vhd, at.pool.name, users_by_path(c_), name);
  });
}

Volume HypervStorageOps::create_volume(const VolumeSpec& spec) {
  const std::string op = "volume.create";
  return guarded(op, [&] {
    check_name(spec.name, op);
    const std::string wanted = check_format(spec.format, op);
    std::string file = spec.name;
    const std::string by_name = format_of_name(file);
    if (by_name.empty())
      file += "." + (wanted.empty() ? std::string("vhdx") : extension_of(wanted));
    else if (!wanted.empty() && extension_of(wanted) != by_name)
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + quoted(spec.name) + " is named as a " + by_name +
                      " but the format asked is " + wanted + "; the extension decides the format",
                  op);
    check_name(file, op);
    if (spec.capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "volume " + quoted(spec.name) + " needs a size", op);
    const Pool p = get_pool(spec.pool.empty() ? kDefaultPool : spec.pool);
    const json answer = c_.ps().run(op,
                                    json{{"path", join_path(p.path, file)},
                                         {"size_bytes", spec.capacity_bytes},
                                         {"dynamic", wanted != "raw"}},
                                    quoted(spec.name));
    return volume_of(answer.value("volume", json::object()), p.name, {}, spec.name);
  });
}

void HypervStorageOps::remove_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.delete";
  guarded(op, [&] {
    const Volume v = get_volume(pool, name);
    if (!v.used_by.empty()) {
      std::string vms;
      for (const auto& n : v.used_by) vms += (vms.empty() ? "" : ", ") + quoted(n);
      throw Error(ErrorCode::Conflict,
                  "volume " + quoted(name) + " is used by VM " + vms +
                      "; detach it from them (or delete them) first; nothing was deleted",
                  op);
    }
    c_.ps().run(op, json{{"path", v.path}}, quoted(name));
  });
}

Volume HypervStorageOps::resize_volume(const std::string& pool, const std::string& name,
                                       std::uint64_t capacity_bytes, const ResizeOptions& options) {
  const std::string op = "volume.resize";
  return guarded(op, [&] {
    if (capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "volume " + quoted(name) + " needs a size", op);
    const Volume v = get_volume(pool, name);
    check_resize(name, v.capacity_bytes, capacity_bytes, v.allocation_bytes, options, op);
    if (capacity_bytes == v.capacity_bytes) return v;
    const json answer =
        c_.ps().run(op, json{{"path", v.path}, {"size_bytes", capacity_bytes}}, quoted(name));
    Volume out = volume_of(answer.value("volume", json::object()), v.pool, {}, name);
    out.used_by = v.used_by;
    return out;
  });
}

/// A cancelled copy: its partial destination is removed (volume.delete
/// answers NotFound when Convert-VHD had not begun it), then Cancelled. When
/// the file cannot be removed the message says where it was left.
[[noreturn]] static void discard_cancelled_copy(const HypervConnection& c,
                                                const std::string& destination,
                                                const std::string& label, const std::string& op) {
  try {
    c.ps().run("volume.delete", json{{"path", destination}}, label);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::NotFound)
      throw Error(ErrorCode::Cancelled,
                  "the copy to " + quoted(destination) +
                      " was cancelled, but its partial file could not be removed: " +
                      escape::terminal_text(e.what()),
                  op, e.detail());
  }
  throw Error(ErrorCode::Cancelled, "the copy to " + label + " was cancelled; no copy was left",
              op);
}

Volume HypervStorageOps::clone_volume(const std::string& pool, const std::string& name,
                                      const VolumeSpec& target, const ProgressFn&,
                                      const CancelToken& cancel) {
  const std::string op = "volume.clone";
  return guarded(op, [&] {
    check_name(name, op);
    check_name(target.name, op);
    const std::string wanted = check_format(target.format, op);
    const Volume source = get_volume(pool, name);
    std::string file = target.name;
    const std::string by_name = format_of_name(file);
    if (by_name.empty()) {
      std::string ext = wanted.empty() ? source.format : extension_of(wanted);
      if (ext != "vhd" && ext != "vhdx") ext = "vhdx";
      file += "." + ext;
      check_name(file, op);
    } else if (!wanted.empty() && extension_of(wanted) != by_name) {
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + quoted(target.name) + " is named as a " + by_name +
                      " but the format asked is " + wanted + "; the extension decides the format",
                  op);
    }
    if (target.capacity_bytes && target.capacity_bytes < source.capacity_bytes)
      throw Error(ErrorCode::InvalidArgument,
                  "a copy of " + quoted(name) + " keeps its " +
                      std::to_string(source.capacity_bytes) + " bytes; it cannot be " +
                      std::to_string(target.capacity_bytes) + " bytes",
                  op);
    const Pool tp = get_pool(target.pool.empty() ? source.pool : target.pool);
    const std::string destination = join_path(tp.path, file);
    if (path_key(destination) == path_key(source.path))
      throw Error(ErrorCode::AlreadyExists,
                  "volume " + quoted(target.name) + " is the source itself", op);
    if (cancel.cancelled())
      throw Error(ErrorCode::Cancelled, "the copy to " + quoted(target.name) + " was cancelled",
                  op);
    // Cancelling kills PowerShell (and with it Convert-VHD's wait).
    json answer;
    try {
      answer =
          c_.ps().run("volume.convert", json{{"path", source.path}, {"destination", destination}},
                      quoted(target.name), std::nullopt, cancel);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Cancelled) throw;
      discard_cancelled_copy(c_, destination, quoted(target.name), op);
    }
    if (cancel.cancelled()) discard_cancelled_copy(c_, destination, quoted(target.name), op);
    Volume out = volume_of(answer.value("volume", json::object()), tp.name, {}, target.name);
    if (target.capacity_bytes > out.capacity_bytes) {
      answer = c_.ps().run("volume.resize",
                           json{{"path", out.path}, {"size_bytes", target.capacity_bytes}},
                           quoted(target.name));
      out = volume_of(answer.value("volume", json::object()), tp.name, {}, target.name);
    }
    return out;
  });
}

Capabilities storage_capabilities() {
  return {Operation::PoolList,     Operation::PoolInfo,     Operation::VolumeList,
          Operation::VolumeInfo,   Operation::VolumeCreate, Operation::VolumeDelete,
          Operation::VolumeResize, Operation::VolumeClone};
}

}  // namespace hyperctl::hyperv
