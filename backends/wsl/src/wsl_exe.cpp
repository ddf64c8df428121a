// WslExe: argv in, decoded text or a mapped Error out.
#include "wsl_exe.hpp"

#include <cstdlib>
#include <filesystem>

#include "errors.hpp"
#include "hyperctl/error.hpp"
#include "hyperctl/escape.hpp"

namespace hyperctl::wsl {
namespace {

constexpr const char* kLxssKey = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Lxss";
/// How much of a streamed standard output is kept for an error's detail.
constexpr std::size_t kKeptOutput = 64 * 1024;
/// Beyond this, a failed stream's output is taken for data, not a message.
constexpr std::size_t kMessageBytes = 4 * 1024;

std::string quoted_program(const std::string& program) {
  return "'" + escape::terminal_text(program) + "'";
}

bool wslenv_lists(const std::string& wslenv, const std::string& name) {
  std::size_t pos = 0;
  while (pos <= wslenv.size()) {
    auto end = wslenv.find(':', pos);
    if (end == std::string::npos) end = wslenv.size();
    const std::string entry = wslenv.substr(pos, end - pos);
    if (entry.substr(0, entry.find('/')) == name) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

bool inside_wsl() {
  const char* distro = std::getenv("WSL_DISTRO_NAME");
  if (distro && *distro) return true;
  std::error_code ec;
  return std::filesystem::exists("/proc/sys/fs/binfmt_misc/WSLInterop", ec);
}

std::map<std::string, std::string> wsl_environment(
    bool inside, const std::optional<std::string>& current_wslenv) {
  std::map<std::string, std::string> env{{"WSL_UTF8", "1"}};
  if (inside) {
    const std::string current = current_wslenv.value_or("");
    if (wslenv_lists(current, "WSL_UTF8"))
      env["WSLENV"] = current;
    else
      env["WSLENV"] = current.empty() ? "WSL_UTF8" : current + ":WSL_UTF8";
  }
  return env;
}

WslExe::WslExe(process::Runner runner, std::string program, std::chrono::milliseconds timeout)
    : runner_(std::move(runner)), program_(std::move(program)), timeout_(timeout) {
  const char* reg = std::getenv("HYPERCTL_REG");
  reg_program_ = reg && *reg ? reg : "reg.exe";
  if (runner_.remote()) {
    // The remote side's WSLENV is unknown; for this one wsl.exe run only
    // WSL_UTF8 has to cross, and decoding does not depend on it anyway.
    env_ = wsl_environment(true, std::nullopt);
  } else {
    const char* wslenv = std::getenv("WSLENV");
    env_ = wsl_environment(
        inside_wsl(), wslenv ? std::optional<std::string>(wslenv) : std::optional<std::string>());
  }
}

std::string WslExe::run(const std::vector<std::string>& args, const std::string& op) const {
  return run(args, op, std::string());
}

std::string WslExe::run(const std::vector<std::string>& args, const std::string& op,
                        const std::string& distro,
                        std::optional<std::chrono::milliseconds> timeout) const {
  process::Command c;
  c.argv = args;
  if (timeout) c.timeout = *timeout;
  return run_raw(std::move(c), op, distro).out;
}

process::Result WslExe::run_raw(process::Command command, const std::string& op) const {
  return run_raw(std::move(command), op, std::string());
}

process::Result WslExe::run_raw(process::Command command, const std::string& op,
                                const std::string& distro) const {
  command.argv.insert(command.argv.begin(), program_);
  for (const auto& [k, v] : env_) command.env.emplace(k, v);
  if (command.operation.empty()) command.operation = op;
  if (command.timeout.count() == 0 && !command.stdout_sink && command.stdin_file.empty())
    command.timeout = timeout_;
  std::string kept;  // the start of a streamed output, for the error's detail
  if (command.stdout_sink) {
    command.stdout_sink = [sink = std::move(command.stdout_sink), &kept](std::string_view chunk) {
      if (kept.size() < kKeptOutput)
        kept.append(chunk.substr(0, std::min(chunk.size(), kKeptOutput - kept.size())));
      sink(chunk);
    };
  }
  const bool streamed = static_cast<bool>(command.stdout_sink);
  process::Result r = runner_.run(command);
  if (!streamed) r.out = decode_output(r.out);
  r.err = decode_output(r.err);
  if (r.exit_code == 127 && !r.signal) {
    // The shell (remote) or the stand-in could not start wsl.exe at all.
    throw Error(ErrorCode::Unreachable,
                "cannot run " + quoted_program(program_) +
                    (runner_.remote() ? " on " + runner_.ssh()->host : std::string()) +
                    " (exit status 127: not found or not runnable)",
                op, r.err);
  }
  if (!r.ok()) {
    // A streamed output is an archive, not a message, unless wsl.exe failed
    // before streaming: then its short stdout is the message.
    std::string text;
    if (!streamed)
      text = r.out;
    else if (!r.signal && kept.size() <= kMessageBytes)
      text = decode_output(kept);
    if (!r.err.empty()) text += (text.empty() || text.back() == '\n' ? "" : "\n") + r.err;
    fail(op, distro, text, r);
  }
  return r;
}

int WslExe::spawn_detached(const std::vector<std::string>& args, const std::string& op) const {
  process::Command c;
  c.argv = args;
  c.argv.insert(c.argv.begin(), program_);
  c.env = env_;
  c.operation = op;
  return runner_.spawn_detached(c);
}

std::vector<ListedDistro> WslExe::list() const {
  try {
    return parse_list_verbose(run({"--list", "--verbose"}, "vm.list"));
  } catch (const Error& e) {
    // With no distribution, wsl.exe fails with WSL_E_DEFAULT_DISTRO_NOT_FOUND
    // ("has no installed distributions"): that is an empty list.
    if (e.code() == ErrorCode::NotFound) return {};
    throw;
  }
}

std::vector<RegistryDistro> WslExe::registry() const {
  process::Command c;
  c.argv = {reg_program_, "query", kLxssKey, "/s"};
  c.timeout = timeout_;
  c.operation = "vm.list";
  try {
    const auto r = runner_.run(c);
    if (!r.ok()) return {};
    return parse_registry(decode_output(r.out));
  } catch (const Error&) {
    return {};
  }
}

}  // namespace hyperctl::wsl
