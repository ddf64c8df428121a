// PowerShell's error records -> ErrorCode, one table.
#include "hyperctl/error.hpp"  // first: powershell.hpp uses ErrorCode without it

#include <array>
#include <string_view>

#include "powershell.hpp"

namespace hyperctl::hyperv {
namespace {

enum class Field { Category, Id, Type };

struct Rule {
  Field field;
  std::string_view text;  ///< Category: the whole word; Id/Type: a substring
  ErrorCode code;
};

// First match wins. A few ids come first because their category says less
// than they do (a missing cmdlet is ObjectNotFound, but what is missing is
// the Hyper-V module, not the VM); then the categories; then ids and
// exception types for records whose category is NotSpecified.
constexpr std::array kRules = {
    Rule{Field::Id, "CommandNotFoundException", ErrorCode::Unsupported},
    Rule{Field::Type, "CommandNotFoundException", ErrorCode::Unsupported},
    Rule{Field::Category, "ObjectNotFound", ErrorCode::NotFound},
    Rule{Field::Category, "ResourceExists", ErrorCode::AlreadyExists},
    Rule{Field::Category, "InvalidArgument", ErrorCode::InvalidArgument},
    Rule{Field::Category, "InvalidData", ErrorCode::InvalidArgument},
    Rule{Field::Category, "InvalidType", ErrorCode::InvalidArgument},
    Rule{Field::Category, "SyntaxError", ErrorCode::InvalidArgument},
    Rule{Field::Category, "LimitsExceeded", ErrorCode::InvalidArgument},
    Rule{Field::Category, "InvalidOperation", ErrorCode::Conflict},
    Rule{Field::Category, "ResourceUnavailable", ErrorCode::Conflict},
    Rule{Field::Category, "ResourceBusy", ErrorCode::Conflict},
    Rule{Field::Category, "InvalidResult", ErrorCode::BackendFailure},
    Rule{Field::Category, "PermissionDenied", ErrorCode::AuthFailed},
    Rule{Field::Category, "SecurityError", ErrorCode::AuthFailed},
    Rule{Field::Category, "AuthenticationError", ErrorCode::AuthFailed},
    Rule{Field::Category, "ConnectionError", ErrorCode::Unreachable},
    Rule{Field::Category, "OperationTimeout", ErrorCode::Timeout},
    Rule{Field::Category, "OperationStopped", ErrorCode::Cancelled},
    Rule{Field::Category, "NotImplemented", ErrorCode::Unsupported},
    Rule{Field::Category, "NotInstalled", ErrorCode::Unsupported},
    Rule{Field::Category, "NotEnabled", ErrorCode::Unsupported},
    Rule{Field::Category, "DeviceError", ErrorCode::BackendFailure},
    Rule{Field::Category, "WriteError", ErrorCode::BackendFailure},
    Rule{Field::Category, "ReadError", ErrorCode::BackendFailure},
    Rule{Field::Id, "InvalidState", ErrorCode::Conflict},
    Rule{Field::Id, "ObjectNotFound", ErrorCode::NotFound},
    Rule{Field::Id, "AccessDenied", ErrorCode::AuthFailed},
    Rule{Field::Id, "UnauthorizedAccess", ErrorCode::AuthFailed},
    Rule{Field::Type, "UnauthorizedAccessException", ErrorCode::AuthFailed},
    Rule{Field::Type, "ItemNotFoundException", ErrorCode::NotFound},
    Rule{Field::Type, "FileNotFoundException", ErrorCode::NotFound},
    Rule{Field::Type, "TimeoutException", ErrorCode::Timeout},
    Rule{Field::Type, "ArgumentException", ErrorCode::InvalidArgument},
    Rule{Field::Type, "OperationCanceledException", ErrorCode::Cancelled},
};

std::string text_of(const nlohmann::json& error, const char* key) {
  if (!error.is_object()) return {};
  auto it = error.find(key);
  return it != error.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ErrorCode map_error(const nlohmann::json& error) {
  const std::string category = text_of(error, "category");
  const std::string id = text_of(error, "id");
  const std::string type = text_of(error, "type");
  for (const auto& rule : kRules) {
    switch (rule.field) {
      case Field::Category:
        if (category == rule.text) return rule.code;
        break;
      case Field::Id:
        if (id.find(rule.text) != std::string::npos) return rule.code;
        break;
      case Field::Type:
        if (type.find(rule.text) != std::string::npos) return rule.code;
        break;
    }
  }
  return ErrorCode::BackendFailure;
}

}  // namespace hyperctl::hyperv
