// vim25 faults (SOAP faults and a task's LocalizedMethodFault) as Errors.
#include <string_view>

#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"
#include "session.hpp"

namespace hyperctl::vsphere {

namespace {

bool one_of(std::string_view type, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names)
    if (type == n) return true;
  return false;
}

ErrorCode code_of(std::string_view type) {
  if (one_of(type, {"InvalidLogin", "NoPermission", "NotAuthenticated", "InvalidPrivilege",
                    "RestrictedVersion", "SecurityError", "NoPermissionOnHost"}))
    return ErrorCode::AuthFailed;
  if (one_of(type, {"ManagedObjectNotFound", "FileNotFound", "NotFound", "VmConfigFileNotFound"}))
    return ErrorCode::NotFound;
  if (one_of(type, {"DuplicateName", "FileAlreadyExists", "AlreadyExists"}))
    return ErrorCode::AlreadyExists;
  // HostNotConnected: vCenter answered; the host behind it is in the wrong
  // state for the call (disconnected), not our endpoint unreachable.
  if (one_of(type, {"InvalidPowerState", "InvalidState", "TaskInProgress", "HostInMaintenanceMode",
                    "ConcurrentAccess", "ResourceInUse", "FileLocked", "InvalidHostState",
                    "InvalidVmState", "VmAlreadyExistsInDatacenter", "SnapshotLocked",
                    "HostNotConnected"}))
    return ErrorCode::Conflict;
  if (one_of(type, {"InvalidArgument", "InvalidRequest", "InvalidName", "InvalidDatastorePath",
                    "InvalidProperty", "InvalidType", "InvalidCollectorVersion",
                    "InvalidDeviceSpec", "InvalidDatastore", "InvalidController"}))
    return ErrorCode::InvalidArgument;
  if (one_of(type, {"NotSupported", "NotImplemented"})) return ErrorCode::Unsupported;
  if (one_of(type, {"Timedout", "Timeout"})) return ErrorCode::Timeout;
  if (type == "RequestCanceled") return ErrorCode::Cancelled;
  return ErrorCode::BackendFailure;
}

}  // namespace

Error fault_error(const std::string& fault_type, const std::string& message,
                  const std::string& operation) {
  std::string text = message;
  // One line: VMware's messages sometimes end with a newline or span several.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (text.empty()) text = fault_type.empty() ? "the server reported a fault" : fault_type;
  std::string line = escape::terminal_text(text);
  if (!fault_type.empty() && text.find(fault_type) == std::string::npos)
    line += " (" + escape::terminal_text(fault_type) + ")";
  return Error(code_of(fault_type), operation.empty() ? line : operation + ": " + line, operation,
               "vim25 fault " + escape::terminal_text(fault_type));
}

std::string fault_type_of(pugi::xml_node fault) {
  if (!fault) return {};
  std::string type = xml::xsi_type(fault);
  if (!type.empty()) return type;
  std::string name(xml::local_name(fault));
  constexpr std::string_view suffix = "Fault";
  // "InvalidLoginFault" -> "InvalidLogin"; "Fault" alone stays.
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0)
    name.resize(name.size() - suffix.size());
  return name;
}

}  // namespace hyperctl::vsphere
