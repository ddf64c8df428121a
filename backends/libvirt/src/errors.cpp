#include "errors.hpp"

#include <libxml/parser.h>

#include <mutex>
#include <optional>

namespace hyperctl::lv {
namespace {

// THE table: every libvirt error code the backend distinguishes. A code not
// listed is a BackendFailure. `at_connect` overrides `usually` while a
// connection is being opened.
struct ErrorRule {
  int libvirt;
  ErrorCode usually;
  std::optional<ErrorCode> at_connect;
};

constexpr ErrorRule kErrorTable[] = {
    {VIR_ERR_NO_DOMAIN, ErrorCode::NotFound, {}},
    {VIR_ERR_NO_STORAGE_POOL, ErrorCode::NotFound, {}},
    {VIR_ERR_NO_STORAGE_VOL, ErrorCode::NotFound, {}},
    {VIR_ERR_NO_NETWORK, ErrorCode::NotFound, {}},
    {VIR_ERR_NO_DOMAIN_SNAPSHOT, ErrorCode::NotFound, {}},
    {VIR_ERR_OPERATION_INVALID, ErrorCode::Conflict, {}},
    {VIR_ERR_NO_SUPPORT, ErrorCode::Unsupported, {}},
    {VIR_ERR_OPERATION_UNSUPPORTED, ErrorCode::Unsupported, {}},
    // "no connection driver available for <uri>": this libvirt build lacks the driver.
    {VIR_ERR_NO_CONNECT, ErrorCode::Unsupported, ErrorCode::Unsupported},
    // A socket that is missing or refuses: the daemon is not there.
    {VIR_ERR_SYSTEM_ERROR, ErrorCode::BackendFailure, ErrorCode::Unreachable},
    {VIR_ERR_RPC, ErrorCode::Unreachable, ErrorCode::Unreachable},
    {VIR_ERR_INVALID_CONN, ErrorCode::Unreachable, ErrorCode::Unreachable},
    {VIR_ERR_UNKNOWN_HOST, ErrorCode::Unreachable, ErrorCode::Unreachable},
    {VIR_ERR_AUTH_FAILED, ErrorCode::AuthFailed, {}},
    {VIR_ERR_AUTH_CANCELLED, ErrorCode::AuthFailed, {}},
    {VIR_ERR_AUTH_UNAVAILABLE, ErrorCode::AuthFailed, {}},
    {VIR_ERR_ACCESS_DENIED, ErrorCode::AuthFailed, {}},
    {VIR_ERR_OPERATION_DENIED, ErrorCode::AuthFailed, {}},
    {VIR_ERR_XML_ERROR, ErrorCode::InvalidArgument, {}},
    {VIR_ERR_XML_DETAIL, ErrorCode::InvalidArgument, {}},
    {VIR_ERR_XML_INVALID_SCHEMA, ErrorCode::InvalidArgument, {}},
    {VIR_ERR_INVALID_ARG, ErrorCode::InvalidArgument, {}},
    {VIR_ERR_NO_NAME, ErrorCode::InvalidArgument, {}},
    // "unsupported configuration": valid XML this driver or hypervisor cannot run.
    {VIR_ERR_CONFIG_UNSUPPORTED, ErrorCode::Unsupported, {}},
    {VIR_ERR_DOM_EXIST, ErrorCode::AlreadyExists, {}},
    {VIR_ERR_STORAGE_VOL_EXIST, ErrorCode::AlreadyExists, {}},
    {VIR_ERR_NETWORK_EXIST, ErrorCode::AlreadyExists, {}},
    {VIR_ERR_OPERATION_TIMEOUT, ErrorCode::Timeout, {}},
    {VIR_ERR_AGENT_UNRESPONSIVE, ErrorCode::Timeout, {}},
    {VIR_ERR_OPERATION_ABORTED, ErrorCode::Cancelled, {}},
};

// libvirt reports several "already exists" cases as a generic OPERATION_FAILED:
// "domain 'x' already exists with uuid ...", "storage vol already exists", and
// a define whose UUID another domain has: "domain 'x' is already defined with
// uuid ...".
constexpr const char* kAlreadyExistsTexts[] = {"already exists", "already defined"};

void quiet(void*, virErrorPtr) {}

}  // namespace

std::string LastError::first_line() const {
  auto end = message.find('\n');
  std::string line = message.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string LastError::detail() const {
  if (!present()) return "libvirt reported no error";
  return "libvirt error " + std::to_string(code) + " (domain " + std::to_string(domain) +
         "): " + message;
}

LastError take_last_error(virConnectPtr conn) {
  LastError out;
  virErrorPtr err = conn ? virConnGetLastError(conn) : nullptr;
  if (!err || err->code == VIR_ERR_OK) err = virGetLastError();
  if (err && err->code != VIR_ERR_OK) {
    out.code = err->code;
    out.domain = err->domain;
    out.message = err->message ? err->message : "";
  }
  if (conn) virConnResetLastError(conn);
  virResetLastError();
  return out;
}

ErrorCode translate(const LastError& error, Phase phase) {
  if (error.code == VIR_ERR_OPERATION_FAILED)
    for (const char* text : kAlreadyExistsTexts)
      if (error.message.find(text) != std::string::npos) return ErrorCode::AlreadyExists;
  for (const auto& rule : kErrorTable) {
    if (rule.libvirt != error.code) continue;
    if (phase == Phase::Connect && rule.at_connect) return *rule.at_connect;
    return rule.usually;
  }
  return ErrorCode::BackendFailure;
}

void fail(const LastError& error, const std::string& message, const std::string& operation,
          Phase phase) {
  std::string text = message;
  if (error.present() && !error.first_line().empty()) text += ": " + error.first_line();
  throw Error(translate(error, phase), std::move(text), operation, error.detail());
}

void fail(virConnectPtr conn, const std::string& message, const std::string& operation,
          Phase phase) {
  fail(take_last_error(conn), message, operation, phase);
}

bool unsupported_flags(const LastError& error) {
  return error.code == VIR_ERR_NO_SUPPORT ||
         (error.code == VIR_ERR_INVALID_ARG &&
          error.message.find("unsupported flags") != std::string::npos);
}

void install_quiet_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    // libxml2 (ours and libvirt's XML parsing) sets up its global state on
    // first use without a lock, so it must be set up once before threads
    // use it: connect threads of a fleet run parse at the same time.
    xmlInitParser();
    virSetErrorFunc(nullptr, quiet);
  });
}

void quiet_connection(virConnectPtr conn) {
  if (conn) virConnSetErrorFunc(conn, nullptr, quiet);
}

}  // namespace hyperctl::lv
