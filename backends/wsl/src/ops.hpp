// The operation groups of a WSL connection.
#pragma once

#include "connection.hpp"

namespace hyperctl::wsl {

class WslVmOps final : public VmOps {
 public:
  explicit WslVmOps(WslConnection& c) : VmOps(kBackendName), c_(c) {}

  std::vector<VmInfo> list(const VmFilter& filter) override;
  VmInfo get(const VmRef& vm) override;
  VmInfo create(const VmSpec& spec) override;
  void start(const VmRef& vm) override;
  ShutdownOutcome shutdown(const VmRef& vm, const ShutdownOptions& options,
                           const ProgressFn& progress, const CancelToken& cancel) override;
  void power_off(const VmRef& vm) override;
  DeleteReport remove(const VmRef& vm, const DeleteOptions& options) override;
  VmInfo set_property(const VmRef& vm, const std::string& key, const std::string& value) override;
  std::string export_config(const VmRef& vm) override;

 private:
  WslConnection& c_;
};

class WslStorageOps final : public StorageOps {
 public:
  explicit WslStorageOps(WslConnection& c) : StorageOps(kBackendName), c_(c) {}

  std::vector<Pool> list_pools() override;
  Pool get_pool(const std::string& name) override;
  std::vector<Volume> list_volumes(const std::string& pool) override;
  Volume get_volume(const std::string& pool, const std::string& name) override;
  void remove_volume(const std::string& pool, const std::string& name) override;
  Volume resize_volume(const std::string& pool, const std::string& name,
                       std::uint64_t capacity_bytes, const ResizeOptions& options) override;
  void upload_volume(const std::string& pool, const std::string& name,
                     const std::string& local_path, const TransferOptions& options,
                     const ProgressFn& progress, const CancelToken& cancel) override;
  void download_volume(const std::string& pool, const std::string& name,
                       const std::string& local_path, const TransferOptions& options,
                       const ProgressFn& progress, const CancelToken& cancel) override;

 private:
  WslConnection& c_;
  void check_pool(const std::string& pool, const std::string& op) const;
};

class WslHostOps final : public HostOps {
 public:
  explicit WslHostOps(WslConnection& c) : HostOps(kBackendName), c_(c) {}
  HostInfo info() override;
  void shutdown(bool force) override;

 private:
  WslConnection& c_;
};

/// The one pool: every distribution's disk is a volume of it.
inline constexpr const char* kPoolName = "wsl";

/// `--manage --resize` size text: the largest unit that divides `bytes`
/// exactly (TB, GB, MB, KB as powers of 1024, as wsl.exe reads them), else B.
std::string resize_argument(std::uint64_t bytes);

/// The volume of a distribution (its ext4.vhdx, or a WSL 1 rootfs folder).
Volume volume_of(const Distro& d);

}  // namespace hyperctl::wsl
