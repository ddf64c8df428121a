// A connection of the Hyper-V backend: its PowerShell, and the look-ups
// every operation group (and migration.cpp) shares.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hyperctl/connection.hpp"
#include "hyperctl/uri.hpp"
#include "powershell.hpp"

namespace hyperctl::hyperv {

inline constexpr const char* kBackendName = "hyperv";

class HypervVmOps;
class HypervSnapshotOps;
class HypervStorageOps;
class HypervNetworkOps;
class HypervHostOps;
class HypervMigrationOps;

class HypervConnection final : public Connection {
 public:
  HypervConnection(Uri uri, PowerShell ps, std::string host_name);
  ~HypervConnection() override;

  const Uri& uri() const override { return uri_; }
  VmOps& vms() override;
  SnapshotOps& snapshots() override;
  StorageOps& storage() override;
  NetworkOps& networks() override;
  MigrationOps& migration() override;
  HostOps& host() override;

  const PowerShell& ps() const { return ps_; }
  /// The ssh host, or the local computer name.
  const std::string& host_name() const { return host_name_; }

  /// The VM record (PROTOCOL.md) of `ref`: an Id (GUID, any case, braces
  /// optional) first, then an exact name (Hyper-V names are not unique:
  /// two VMs of that name are Error(Conflict) asking for the Id; names are
  /// never passed to -Name, which takes wildcards). Error(NotFound) naming
  /// the reference and the host otherwise.
  nlohmann::json resolve(const VmRef& ref, const std::string& op) const;
  /// The VM records of one vm.list run (`subject` names what it is for in
  /// its errors); Error(BackendFailure) when the answer holds no list.
  nlohmann::json list_vms(const std::string& op, const std::string& subject = {}) const;
  /// The VmInfo of a VM record.
  VmInfo describe(const nlohmann::json& vm) const;

 private:
  Uri uri_;
  PowerShell ps_;
  std::string host_name_;
  std::unique_ptr<HypervVmOps> vms_;
  std::unique_ptr<HypervSnapshotOps> snapshots_;
  std::unique_ptr<HypervStorageOps> storage_;
  std::unique_ptr<HypervNetworkOps> networks_;
  std::unique_ptr<HypervHostOps> host_;
  std::unique_ptr<HypervMigrationOps> migration_;
};

/// The HypervConnection behind `c`; nullptr for another backend's.
HypervConnection* hyperv_connection_of(Connection& c);

}  // namespace hyperctl::hyperv
