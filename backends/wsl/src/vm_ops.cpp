// VM lifecycle for WSL distributions.
#include <fnmatch.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "hyperctl/escape.hpp"
#include "ops.hpp"

namespace hyperctl::wsl {
namespace {

using namespace std::chrono_literals;

/// How long start() waits for wsl --list to say Running.
constexpr auto kStartTimeout = 30s;
constexpr auto kPoll = 200ms;
/// Imports, conversions and moves copy whole disks.
constexpr std::chrono::milliseconds kLongTimeout = std::chrono::hours(1);

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::optional<bool> parse_bool(const std::string& value) {
  const std::string v = lower(value);
  if (v == "true" || v == "yes" || v == "1" || v == "on") return true;
  if (v == "false" || v == "no" || v == "0" || v == "off") return false;
  return std::nullopt;
}

std::string subject(const Distro& d) {
  return "distribution " + quoted(d.name());
}

bool process_gone(int pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

std::vector<VmInfo> WslVmOps::list(const VmFilter& filter) {
  return guarded("vm.list", [&] {
    std::vector<VmInfo> out;
    for (const auto& d : c_.distros()) {
      if (!filter.name_glob.empty() &&
          ::fnmatch(filter.name_glob.c_str(), d.name().c_str(), 0) != 0)
        continue;
      VmInfo info = c_.describe(d);
      if (!filter.states.empty() &&
          std::find(filter.states.begin(), filter.states.end(), info.state) == filter.states.end())
        continue;
      out.push_back(std::move(info));
    }
    return out;
  });
}

VmInfo WslVmOps::get(const VmRef& vm) {
  return guarded("vm.get", [&] { return c_.describe(c_.find(vm, "vm.get")); });
}

VmInfo WslVmOps::create(const VmSpec& spec) {
  const std::string op = "vm.create";
  return guarded(op, [&] {
    if (spec.name.empty()) throw Error(ErrorCode::InvalidArgument, op + ": no name", op);
    if (spec.disks.size() != 1 || spec.disks[0].path.empty())
      throw Error(ErrorCode::InvalidArgument,
                  op + ": a WSL distribution is made from one file: give a .tar, .tar.gz, "
                       ".tar.xz or .vhd archive to import, or a .vhdx to register in place, as "
                       "the path of its only disk",
                  op);
    std::optional<int> version;
    for (const auto& [key, value] : spec.extras) {
      if (key != "version")
        throw Error(ErrorCode::InvalidArgument,
                    op + ": unknown setting " + quoted(key) + "; the wsl backend accepts version",
                    op);
      if (value != "1" && value != "2")
        throw Error(ErrorCode::InvalidArgument, op + ": version must be 1 or 2", op);
      version = value == "1" ? 1 : 2;
    }
    const std::string& path = spec.disks[0].path;
    if (!c_.remote()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec))
        throw Error(ErrorCode::InvalidArgument, op + ": no file " + quoted(path), op);
    }
    const bool in_place = lower(path).ends_with(".vhdx");
    const auto format = archive_format(path);
    if (!in_place && !format)
      throw Error(ErrorCode::InvalidArgument,
                  op + ": " + quoted(path) +
                      " is not a file wsl.exe imports (.tar, .tar.gz, .tgz, .tar.xz, .vhd, .vhdx)",
                  op);
    if (in_place && version == 1)
      throw Error(ErrorCode::InvalidArgument,
                  op + ": a .vhdx is registered in place as WSL 2; version 1 cannot apply", op);
    std::vector<std::string> args;
    if (in_place) {
      args = {"--import-in-place", spec.name, path};
    } else {
      args = {"--import", spec.name, c_.install_folder(spec.name, op), path};
      if (version) args.insert(args.end(), {"--version", std::to_string(*version)});
      if (*format == "vhd") args.push_back("--vhd");
    }
    if (c_.find_name(spec.name))
      throw Error(ErrorCode::AlreadyExists,
                  op + ": a WSL distribution named " + quoted(spec.name) + " exists already", op);
    try {
      c_.exe().run(args, op, spec.name, kLongTimeout);
    } catch (const Error& e) {
      // A failed import may leave the name registered (Installing): remove
      // it, as nothing created by a failed create may stay. Never after
      // --import-in-place, whose disk is the user's own file (unregistering
      // deletes it), nor when wsl.exe found the name taken by someone else.
      if (!in_place && e.code() != ErrorCode::AlreadyExists) {
        try {
          if (c_.find_name(spec.name)) c_.unregister(spec.name, op);
        } catch (const Error&) {
        }
      }
      throw;
    }
    const auto d = c_.find_name(spec.name);
    if (!d)
      throw Error(ErrorCode::BackendFailure,
                  op + ": wsl.exe imported " + quoted(spec.name) + " but does not list it", op);
    return c_.describe(*d);
  });
}

void WslVmOps::start(const VmRef& vm) {
  const std::string op = "vm.start";
  guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    const VmState state = map_state(d.listed.state);
    if (state == VmState::Running)
      throw Error(ErrorCode::Conflict, op + ": " + subject(d) + " is already running", op);
    if (state != VmState::Off)
      throw Error(ErrorCode::Conflict,
                  op + ": " + subject(d) + " is " + escape::terminal_text(d.listed.state), op);
    const std::vector<std::string> probe = {"--distribution", d.name(), "--exec", "true"};
    int pid = -1;
    if (c_.remote()) {
      // No detached process over ssh (the session would end it): booting it
      // with a command that returns at once leaves it running until WSL's
      // idle timeout stops it.
      c_.exe().run(probe, op, d.name());
    } else {
      // A distribution runs as long as a process of it does; WSL stops it
      // shortly after the last one ends. A detached `sleep infinity` keeps
      // it running until shutdown/poweroff (--terminate) ends it.
      pid =
          c_.exe().spawn_detached({"--distribution", d.name(), "--exec", "sleep", "infinity"}, op);
    }
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    bool probed = false;
    while (true) {
      // Whether the keeper has ended is read before the list: one that set
      // the state and exited is then seen Running, not mistaken for a failure.
      const bool keeper_gone = pid > 0 && !probed && process_gone(pid);
      // Only the state is polled: wsl --list, without the registry query.
      const auto listed = c_.exe().list();
      const auto now = std::find_if(listed.begin(), listed.end(),
                                    [&](const ListedDistro& l) { return l.name == d.name(); });
      if (now == listed.end())
        throw Error(ErrorCode::NotFound, op + ": " + subject(d) + " vanished while starting", op);
      if (map_state(now->state) == VmState::Running) return;
      if (keeper_gone) {
        // The keeper ended before the distribution ran: run the same start
        // in the foreground to get wsl.exe's reason (throws it).
        probed = true;
        c_.exe().run(probe, op, d.name());
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        if (pid > 0 && !process_gone(pid)) ::kill(pid, SIGKILL);
        throw Error(ErrorCode::Timeout,
                    op + ": " + subject(d) + " did not start within " +
                        std::to_string(kStartTimeout.count()) + " s",
                    op);
      }
      std::this_thread::sleep_for(kPoll);
    }
  });
}

ShutdownOutcome WslVmOps::shutdown(const VmRef& vm, const ShutdownOptions&,
                                   const ProgressFn& progress, const CancelToken& cancel) {
  const std::string op = "vm.shutdown";
  return guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    if (map_state(d.listed.state) == VmState::Off) return ShutdownOutcome::AlreadyOff;
    if (cancel.cancelled()) throw Error(ErrorCode::Cancelled, op + ": cancelled", op);
    if (progress) progress(Progress{"shutdown", 0, 0, "", {}});
    // WSL has no graceful stop of one distribution: --terminate is the only
    // one (its processes are killed), so `force` and the timeout change nothing.
    c_.exe().run({"--terminate", d.name()}, op, d.name());
    return ShutdownOutcome::Stopped;
  });
}

void WslVmOps::power_off(const VmRef& vm) {
  const std::string op = "vm.poweroff";
  guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    if (map_state(d.listed.state) == VmState::Off)
      throw Error(ErrorCode::Conflict, op + ": " + subject(d) + " is not running", op);
    c_.exe().run({"--terminate", d.name()}, op, d.name());
  });
}

DeleteReport WslVmOps::remove(const VmRef& vm, const DeleteOptions& options) {
  const std::string op = options.with_storage ? "vm.delete-storage" : "vm.delete";
  return guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    if (!options.force)
      throw Error(ErrorCode::Conflict,
                  op + ": deleting " + subject(d) +
                      " destroys its files (its disk goes with it); repeat with --force",
                  op);
    const std::string disk = volume_of(d).path;
    c_.unregister(d.name(), op);
    // --unregister takes the disk with it; it is the distribution's own
    // (no other distribution or VM can use it), so nothing is ever kept.
    DeleteReport report;
    if (options.with_storage && !disk.empty()) report.deleted.push_back(disk);
    return report;
  });
}

VmInfo WslVmOps::set_property(const VmRef& vm, const std::string& key, const std::string& value) {
  const std::string op = "vm.set-property";
  return guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    const std::string& name = d.name();
    if (key == "default") {
      const auto on = parse_bool(value);
      if (!on) throw Error(ErrorCode::InvalidArgument, op + ": default takes true or false", op);
      if (!*on)
        throw Error(ErrorCode::InvalidArgument,
                    op + ": WSL always has a default distribution; make another one the "
                         "default instead (default=true on it)",
                    op);
      c_.exe().run({"--set-default", name}, op, name);
    } else if (key == "version") {
      if (value != "1" && value != "2")
        throw Error(ErrorCode::InvalidArgument, op + ": version takes 1 or 2", op);
      c_.exe().run({"--set-version", name, value}, op, name, kLongTimeout);
    } else if (key == "sparse") {
      const auto on = parse_bool(value);
      if (!on) throw Error(ErrorCode::InvalidArgument, op + ": sparse takes true or false", op);
      c_.exe().run({"--manage", name, "--set-sparse", *on ? "true" : "false"}, op, name);
    } else if (key == "location") {
      if (value.empty())
        throw Error(ErrorCode::InvalidArgument, op + ": location takes a folder", op);
      c_.exe().run({"--manage", name, "--move", value}, op, name, kLongTimeout);
    } else {
      throw Error(ErrorCode::InvalidArgument,
                  op + ": unknown property " + quoted(key) +
                      "; the wsl backend accepts default, version, sparse, location",
                  op);
    }
    const auto after = c_.find_name(name);
    if (!after)
      throw Error(ErrorCode::BackendFailure, op + ": " + subject(d) + " is no longer listed", op);
    return c_.describe(*after);
  });
}

std::string WslVmOps::export_config(const VmRef& vm) {
  const std::string op = "vm.export-config";
  return guarded(op, [&] {
    const Distro d = c_.find(vm, op);
    nlohmann::json doc = {
        {"backend", kBackendName},
        {"name", d.name()},
        {"id", d.id()},
        {"state", d.listed.state},
        {"version", d.listed.version},
        {"default", d.listed.is_default},
        {"base_path", d.base_path()},
        {"host", c_.host_name()},
    };
    if (d.registry)
      doc["registry"] = {{"guid", d.registry->guid},
                         {"name", d.registry->name},
                         {"base_path", d.registry->base_path},
                         {"version", d.registry->version}};
    else
      doc["registry"] = nullptr;
    return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  });
}

}  // namespace hyperctl::wsl
