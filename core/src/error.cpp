#include "hyperctl/error.hpp"

namespace hyperctl {

namespace {
struct CodeRow {
  ErrorCode code;
  std::string_view name;
  int exit_status;
};

// One table: the code, its JSON name and its CLI exit status.
constexpr CodeRow kCodes[] = {
    {ErrorCode::Internal, "internal", 1},      {ErrorCode::InvalidArgument, "invalid-argument", 2},
    {ErrorCode::NotFound, "not-found", 3},     {ErrorCode::Unsupported, "unsupported", 4},
    {ErrorCode::Conflict, "conflict", 5},      {ErrorCode::AlreadyExists, "already-exists", 6},
    {ErrorCode::AuthFailed, "auth-failed", 7}, {ErrorCode::Unreachable, "unreachable", 8},
    {ErrorCode::Timeout, "timeout", 9},        {ErrorCode::BackendFailure, "backend-failure", 10},
    {ErrorCode::Cancelled, "cancelled", 11},
};

const CodeRow& row(ErrorCode code) {
  for (const auto& r : kCodes)
    if (r.code == code) return r;
  return kCodes[0];
}
}  // namespace

std::string_view to_string(ErrorCode code) {
  return row(code).name;
}
int exit_status(ErrorCode code) {
  return row(code).exit_status;
}

Error::Error(ErrorCode code, std::string message, std::string operation, std::string detail)
    : std::runtime_error(std::move(message)),
      code_(code),
      operation_(std::move(operation)),
      detail_(std::move(detail)) {}

}  // namespace hyperctl
