// Storage of a Hyper-V connection; see storage_ops.hpp.
#include "storage_ops.hpp"

#include <algorithm>
#include <map>

#include "hyperctl/escape.hpp"
#include "ops.hpp"
#include "record.hpp"

namespace hyperctl::hyperv {
namespace {

using json = nlohmann::json;

const char* const kPools[] = {"vhd", "vm"};
const std::string kDefaultPool = "vhd";

std::string lower_ascii(std::string s) {
  for (char& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// "vhd" / "vhdx" from a name's extension; "" otherwise.
std::string format_of_name(const std::string& name) {
  const std::string l = lower_ascii(name);
  if (ends_with(l, ".vhdx") && l.size() > 5) return "vhdx";
  if (ends_with(l, ".vhd") && l.size() > 4) return "vhd";
  return {};
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

Volume volume_of(const json& vhd, const std::string& pool,
                 const std::map<std::string, std::vector<std::string>>& users) {
  Volume v;
  v.path = text_field(vhd, "Path");
  v.name = leaf_of(v.path);
  v.pool = pool;
  v.key = v.path;
  v.format = enum_word(vhd, "VhdFormat", kFormats);
  v.type = enum_word(vhd, "VhdType", kTypes);
  v.capacity_bytes = number_field(vhd, "Size");
  v.allocation_bytes = number_field(vhd, "FileSize");
  if (auto it = users.find(path_key(v.path)); it != users.end()) v.used_by = it->second;
  return v;
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
    const auto users = users_by_path(c_);
    std::vector<Volume> out;
    for (const auto& v : vols) out.push_back(volume_of(v, p.name, users));
    std::sort(out.begin(), out.end(),
              [](const Volume& a, const Volume& b) { return a.name < b.name; });
    return out;
  });
}

Volume HypervStorageOps::get_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.get";
  return guarded(op, [&] {
    check_name(name, op);
    const Pool p = get_pool(pool);
    const json answer = c_.ps().run(op, json{{"path", join_path(p.path, name)}}, quoted(name));
    return volume_of(answer.value("volume", json::object()), p.name, users_by_path(c_));
  });
}

Volume HypervStorageOps::create_volume(const VolumeSpec& spec) {
  const std::string op = "volume.create";
  return guarded(op, [&] {
    check_name(spec.name, op);
    const std::string wanted = lower_ascii(spec.format);
    if (!wanted.empty() && wanted != "vhd" && wanted != "vhdx")
      throw Error(ErrorCode::InvalidArgument,
                  "bad format " + quoted(spec.format) + " for a Hyper-V volume; use vhd or vhdx",
                  op);
    std::string name = spec.name;
    const std::string by_name = format_of_name(name);
    if (by_name.empty())
      name += "." + (wanted.empty() ? std::string("vhdx") : wanted);
    else if (!wanted.empty() && wanted != by_name)
      throw Error(ErrorCode::InvalidArgument,
                  "volume " + quoted(spec.name) + " is named as a " + by_name +
                      " but the format asked is " + wanted + "; the extension decides the format",
                  op);
    check_name(name, op);
    if (spec.capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "volume " + quoted(name) + " needs a size", op);
    const Pool p = get_pool(spec.pool.empty() ? kDefaultPool : spec.pool);
    const json answer = c_.ps().run(op,
                                    json{{"path", join_path(p.path, name)},
                                         {"size_bytes", spec.capacity_bytes},
                                         {"dynamic", true}},
                                    quoted(name));
    return volume_of(answer.value("volume", json::object()), p.name, {});
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
                                       std::uint64_t capacity_bytes) {
  const std::string op = "volume.resize";
  return guarded(op, [&] {
    if (capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, "volume " + quoted(name) + " needs a size", op);
    const Volume v = get_volume(pool, name);
    if (capacity_bytes < v.allocation_bytes)
      throw Error(ErrorCode::Conflict,
                  "volume " + quoted(name) + " already holds " +
                      std::to_string(v.allocation_bytes) + " bytes; it cannot shrink to " +
                      std::to_string(capacity_bytes) + " bytes (nothing was changed)",
                  op);
    const json answer =
        c_.ps().run(op, json{{"path", v.path}, {"size_bytes", capacity_bytes}}, quoted(name));
    Volume out = volume_of(answer.value("volume", json::object()), v.pool, {});
    out.used_by = v.used_by;
    return out;
  });
}

Volume HypervStorageOps::clone_volume(const std::string& pool, const std::string& name,
                                      const VolumeSpec& target) {
  const std::string op = "volume.clone";
  return guarded(op, [&] {
    check_name(name, op);
    check_name(target.name, op);
    const std::string wanted = lower_ascii(target.format);
    if (!wanted.empty() && wanted != "vhd" && wanted != "vhdx")
      throw Error(ErrorCode::InvalidArgument,
                  "bad format " + quoted(target.format) + " for a Hyper-V volume; use vhd or vhdx",
                  op);
    const Volume source = get_volume(pool, name);
    std::string target_name = target.name;
    const std::string by_name = format_of_name(target_name);
    if (by_name.empty()) {
      std::string format = wanted.empty() ? source.format : wanted;
      if (format != "vhd" && format != "vhdx") format = "vhdx";
      target_name += "." + format;
      check_name(target_name, op);
    } else if (!wanted.empty() && wanted != by_name) {
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
    const Pool tp = target.pool.empty() || target.pool == source.pool ? get_pool(source.pool)
                                                                      : get_pool(target.pool);
    const std::string destination = join_path(tp.path, target_name);
    if (path_key(destination) == path_key(source.path))
      throw Error(ErrorCode::AlreadyExists,
                  "volume " + quoted(target_name) + " is the source itself", op);
    json answer =
        c_.ps().run("volume.convert", json{{"path", source.path}, {"destination", destination}},
                    quoted(target_name));
    Volume out = volume_of(answer.value("volume", json::object()), tp.name, {});
    if (target.capacity_bytes > out.capacity_bytes) {
      answer = c_.ps().run("volume.resize",
                           json{{"path", out.path}, {"size_bytes", target.capacity_bytes}},
                           quoted(target_name));
      out = volume_of(answer.value("volume", json::object()), tp.name, {});
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
