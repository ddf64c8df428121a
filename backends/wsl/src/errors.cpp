#include "errors.hpp"

#include <cctype>
#include <string_view>
#include <vector>

#include "hyperctl/escape.hpp"

namespace hyperctl::wsl {
namespace {

enum class Match { Token, TokenSuffix, Text };

// THE table. Tokens are the last part of wsl.exe's "Error code:
// Wsl/Service/WSL_E_DISTRO_NOT_FOUND" line, which stays English in every
// language; texts are sentences printed without such a line (older
// wsl.exe, or an option this wsl.exe does not know). Rows are tried in
// order, the first that matches wins; anything else is a BackendFailure.
struct ErrorRule {
  Match match;
  const char* pattern;
  ErrorCode code;
};

constexpr ErrorRule kErrorTable[] = {
    {Match::Token, "WSL_E_DISTRO_NOT_FOUND", ErrorCode::NotFound},
    {Match::Token, "WSL_E_DEFAULT_DISTRO_NOT_FOUND", ErrorCode::NotFound},
    {Match::Token, "WSL_E_DISTRO_EXISTS", ErrorCode::AlreadyExists},
    {Match::TokenSuffix, "_ALREADY_EXISTS", ErrorCode::AlreadyExists},
    {Match::Token, "ERROR_FILE_EXISTS", ErrorCode::AlreadyExists},
    // An option this wsl.exe does not know (an inbox wsl.exe, or one older
    // than the option): before E_INVALIDARG, which newer versions add to it.
    {Match::Text, "Invalid command line option", ErrorCode::Unsupported},
    {Match::Text, "Invalid command line argument", ErrorCode::Unsupported},
    {Match::Token, "WSL_E_DISTRO_NOT_STOPPED", ErrorCode::Conflict},
    {Match::TokenSuffix, "_RUNNING", ErrorCode::Conflict},
    {Match::Token, "E_ILLEGAL_STATE_CHANGE", ErrorCode::Conflict},
    {Match::Token, "WSL_E_VM_MODE_INVALID_STATE", ErrorCode::Conflict},
    {Match::Token, "WSL_E_WSL2_NEEDED", ErrorCode::Conflict},
    {Match::Token, "E_INVALIDARG", ErrorCode::InvalidArgument},
    {Match::Token, "ERROR_VERSION_PARSE_ERROR", ErrorCode::InvalidArgument},
    {Match::Token, "WSL_E_NOT_A_LINUX_DISTRO", ErrorCode::InvalidArgument},
    {Match::Token, "ERROR_FILE_NOT_FOUND", ErrorCode::InvalidArgument},
    {Match::Token, "ERROR_PATH_NOT_FOUND", ErrorCode::InvalidArgument},
    {Match::Token, "E_ABORT", ErrorCode::Cancelled},
    {Match::Token, "ERROR_CANCELLED", ErrorCode::Cancelled},
    {Match::TokenSuffix, "_CANCELLED", ErrorCode::Cancelled},
    {Match::TokenSuffix, "_CANCELED", ErrorCode::Cancelled},
    {Match::Text, "There is no distribution with the supplied name", ErrorCode::NotFound},
    {Match::Text, "has no installed distributions", ErrorCode::NotFound},
    {Match::Text, "This looks like a VHD file", ErrorCode::InvalidArgument},
};

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '/';
}

/// Every `Wsl/...` token's last part, in order.
std::vector<std::string> error_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = text.find("Wsl/", pos)) != std::string::npos) {
    std::size_t end = pos;
    while (end < text.size() && token_char(text[end])) ++end;
    const std::string token = text.substr(pos, end - pos);
    out.push_back(token.substr(token.rfind('/') + 1));
    pos = end;
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_error_code_line(const std::string& line) {
  return line.find("Wsl/") != std::string::npos;
}

std::string trimmed(std::string s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

ErrorCode classify(const std::string& text) {
  const auto tokens = error_tokens(text);
  for (const auto& rule : kErrorTable) {
    if (rule.match == Match::Text) {
      if (text.find(rule.pattern) != std::string::npos) return rule.code;
      continue;
    }
    for (const auto& t : tokens) {
      if (rule.match == Match::Token && t == rule.pattern) return rule.code;
      if (rule.match == Match::TokenSuffix && ends_with(t, rule.pattern)) return rule.code;
    }
  }
  return ErrorCode::BackendFailure;
}

std::string first_message_line(const std::string& text) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = trimmed(text.substr(pos, end - pos));
    if (!line.empty() && !is_error_code_line(line)) return line;
    pos = end + 1;
  }
  return {};
}

void fail(const std::string& op, const std::string& distro, const std::string& decoded_text,
          const process::Result& result) {
  const ErrorCode code = result.signal ? ErrorCode::BackendFailure : classify(decoded_text);
  const std::string subject =
      distro.empty() ? std::string() : " distribution '" + escape::terminal_text(distro) + "'";
  std::string message;
  if (code == ErrorCode::Unsupported) {
    message = "this wsl.exe is too old for " + op + (subject.empty() ? "" : " of" + subject) +
              "; update WSL (wsl --update) or install it from the Microsoft Store";
  } else {
    message = op + (subject.empty() ? "" : ":" + subject);
    std::string why = first_message_line(decoded_text);
    if (result.signal)
      why = "wsl.exe was killed by signal " + std::to_string(result.signal);
    else if (why.empty())
      why = "wsl.exe failed with exit status " + std::to_string(result.exit_code);
    message += ": " + escape::terminal_text(why);
  }
  std::string detail = "wsl.exe exit status " + std::to_string(result.exit_code);
  if (result.signal) detail += " (signal " + std::to_string(result.signal) + ")";
  if (!decoded_text.empty()) detail += "\n" + decoded_text;
  throw Error(code, std::move(message), op, std::move(detail));
}

}  // namespace hyperctl::wsl
