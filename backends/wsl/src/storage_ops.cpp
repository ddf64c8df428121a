// Storage of WSL distributions: one pool, one volume (its disk) per distribution.
#include "hyperctl/escape.hpp"
#include "hyperctl/rules.hpp"
#include "ops.hpp"

namespace hyperctl::wsl {
namespace {

using namespace std::chrono_literals;
constexpr std::chrono::milliseconds kResizeTimeout = 10min;

}  // namespace

std::string resize_argument(std::uint64_t bytes) {
  struct Unit {
    const char* suffix;
    std::uint64_t factor;
  };
  constexpr Unit kUnits[] = {
      {"TB", 1ull << 40}, {"GB", 1ull << 30}, {"MB", 1ull << 20}, {"KB", 1ull << 10}};
  for (const auto& u : kUnits)
    if (bytes >= u.factor && bytes % u.factor == 0)
      return std::to_string(bytes / u.factor) + u.suffix;
  return std::to_string(bytes) + "B";
}

Volume volume_of(const Distro& d) {
  Volume v;
  v.name = d.name();
  v.pool = kPoolName;
  v.key = d.id();
  const std::string base = d.base_path();
  if (d.listed.version == 1) {
    v.format = "wsl1-rootfs";
    v.type = "dir";
    if (!base.empty()) v.path = join_path(base, "rootfs");
  } else {
    v.format = "vhdx";
    v.type = "file";
    const std::string file =
        d.registry && !d.registry->vhd_file_name.empty() ? d.registry->vhd_file_name : "ext4.vhdx";
    if (!base.empty()) v.path = join_path(base, file);
  }
  v.used_by = {d.name()};
  return v;
}

void WslStorageOps::check_pool(const std::string& pool, const std::string& op) const {
  if (pool != kPoolName)
    throw Error(ErrorCode::NotFound,
                op + ": no pool " + quoted(pool) + "; the wsl backend has one pool, 'wsl'", op);
}

std::vector<Pool> WslStorageOps::list_pools() {
  return guarded("pool.list", [&] { return std::vector<Pool>{get_pool(kPoolName)}; });
}

Pool WslStorageOps::get_pool(const std::string& name) {
  return guarded("pool.info", [&] {
    check_pool(name, "pool.info");
    Pool p;
    p.name = kPoolName;
    p.id = kPoolName;
    p.type = "wsl";
    p.path = c_.location();
    p.active = true;
    return p;
  });
}

std::vector<Volume> WslStorageOps::list_volumes(const std::string& pool) {
  return guarded("volume.list", [&] {
    check_pool(pool, "volume.list");
    std::vector<Volume> out;
    for (const auto& d : c_.distros()) out.push_back(volume_of(d));
    return out;
  });
}

Volume WslStorageOps::get_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.info";
  return guarded(op, [&] {
    check_pool(pool, op);
    const auto d = c_.find_name(name);
    if (!d)
      throw Error(ErrorCode::NotFound, op + ": no volume " + quoted(name) + " in pool 'wsl'", op);
    return volume_of(*d);
  });
}

void WslStorageOps::remove_volume(const std::string& pool, const std::string& name) {
  const std::string op = "volume.delete";
  guarded(op, [&] {
    check_pool(pool, op);
    if (!c_.find_name(name))
      throw Error(ErrorCode::NotFound, op + ": no volume " + quoted(name) + " in pool 'wsl'", op);
    throw Error(ErrorCode::Conflict,
                op + ": the disk of distribution " + quoted(name) +
                    " is not deleted on its own; delete the distribution with `hyperctl delete "
                    "--force`",
                op);
  });
}

Volume WslStorageOps::resize_volume(const std::string& pool, const std::string& name,
                                    std::uint64_t capacity_bytes, const ResizeOptions& options) {
  const std::string op = "volume.resize";
  return guarded(op, [&] {
    check_pool(pool, op);
    if (capacity_bytes == 0)
      throw Error(ErrorCode::InvalidArgument, op + ": a size of 0 bytes", op);
    const auto current = c_.find_name(name);
    if (!current)
      throw Error(ErrorCode::NotFound, op + ": no volume " + quoted(name) + " in pool 'wsl'", op);
    // wsl.exe grows a disk only; asked to allow a shrink, say so before it runs.
    if (options.shrink)
      throw Error(ErrorCode::Unsupported,
                  op +
                      ": WSL's `--manage --resize` only grows a distribution's disk; it cannot "
                      "shrink " +
                      quoted(name) + " (nothing was changed)",
                  op);
    const Volume before = volume_of(*current);
    check_resize(name, before.capacity_bytes, capacity_bytes, before.allocation_bytes, options, op);
    if (capacity_bytes == before.capacity_bytes) return before;
    c_.exe().run({"--manage", name, "--resize", resize_argument(capacity_bytes)}, op, name,
                 kResizeTimeout);
    const auto d = c_.find_name(name);
    if (!d)
      throw Error(ErrorCode::BackendFailure, op + ": " + quoted(name) + " is no longer listed", op);
    return volume_of(*d);
  });
}

void WslStorageOps::upload_volume(const std::string& pool, const std::string& name,
                                  const std::string& local_path, const TransferOptions&,
                                  const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "volume.upload";
  guarded(op, [&] {
    check_pool(pool, op);
    // A volume is a distribution: uploading imports a new one. Replacing an
    // existing one would mean unregistering it, which only delete --force does.
    c_.import_from_file(name, local_path, std::nullopt, progress, cancel, op);
  });
}

void WslStorageOps::download_volume(const std::string& pool, const std::string& name,
                                    const std::string& local_path, const TransferOptions& options,
                                    const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "volume.download";
  guarded(op, [&] {
    check_pool(pool, op);
    c_.export_to_file(name, local_path, "", options.overwrite, progress, cancel, op);
  });
}

}  // namespace hyperctl::wsl
