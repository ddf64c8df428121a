// Stand-in for powershell.exe on a Hyper-V host (target fake-pwsh). The Hyper-V backend's tests run
// their real process path against it: it checks the command line and the request exactly as
// backends/hyperv/PROTOCOL.md fixes them (the bootstrap as -EncodedCommand, the operation's own
// script on standard input), records what it received, emulates the operation on a JSON host
// state and prints the framed result the bootstrap would print. README.md next to this file lists
// the state schema, the knobs, and which behaviours come from the reference and which are chosen.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#ifndef HYPERV_SCRIPTS_DIR
#error "HYPERV_SCRIPTS_DIR must name backends/hyperv/scripts"
#endif

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kBadArgv = 98;
constexpr int kScriptMismatch = 99;
constexpr int kNoState = 127;

const char* EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

[[noreturn]] void Die(int status, const std::string& sentence) {
  std::cerr << "fake-pwsh: " << sentence << "\n";
  std::cerr.flush();
  std::_Exit(status);
}

// ---------------------------------------------------------------------------------------------
// Encodings

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Strict: the alphabet, '=' padding only at the end, a length that is a multiple of 4.
std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      ++padding;
      if (padding > 2 || i < text.size() - 2) return std::nullopt;
      continue;
    }
    if (padding > 0) return std::nullopt;
    const std::size_t pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// UTF-16LE to UTF-8; nullopt on an odd length or an unpaired surrogate (PowerShell would not get
// the bootstrap's text from such bytes either).
std::optional<std::string> Utf16LeToUtf8(std::string_view bytes) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    char32_t unit =
        static_cast<unsigned char>(bytes[i]) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (i + 3 >= bytes.size()) return std::nullopt;
      const char32_t low = static_cast<unsigned char>(bytes[i + 2]) |
                           (static_cast<unsigned char>(bytes[i + 3]) << 8);
      if (low < 0xDC00 || low > 0xDFFF) return std::nullopt;
      unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
      i += 2;
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      return std::nullopt;
    }
    AppendUtf8(out, unit);
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && Lower(std::string(a)) == Lower(std::string(b));
}

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------
// Errors the emulated cmdlets raise: the bootstrap's catch turns them into {"ok":false,...}.

struct PsError {
  std::string category;
  std::string message;
  std::string id;
  std::string type = "Microsoft.HyperV.PowerShell.VirtualizationException";
};

[[noreturn]] void Throw(std::string category, std::string message, std::string id,
                        std::string type = "Microsoft.HyperV.PowerShell.VirtualizationException") {
  throw PsError{std::move(category), std::move(message), std::move(id), std::move(type)};
}

// What the backend's own scripts raise with Write-Error -Category C -ErrorAction Stop.
[[noreturn]] void WriteError(std::string category, std::string message) {
  Throw(std::move(category), std::move(message),
        "Microsoft.PowerShell.Commands.WriteErrorException",
        "Microsoft.PowerShell.Commands.WriteErrorException");
}

// ---------------------------------------------------------------------------------------------
// Enumerations: each as the reference numbers it (Microsoft.HyperV.PowerShell types).

using EnumTable = std::vector<std::pair<std::string, int>>;

const EnumTable kVmState = {{"Other", 1},
                            {"Running", 2},
                            {"Off", 3},
                            {"Stopping", 4},
                            {"Saved", 6},
                            {"Paused", 9},
                            {"Starting", 10},
                            {"Reset", 11},
                            {"Saving", 32773},
                            {"Pausing", 32776},
                            {"Resuming", 32777},
                            {"FastSaved", 32779},
                            {"FastSaving", 32780},
                            {"ForceShutdown", 32781},
                            {"ForceReboot", 32782}};
const EnumTable kCheckpointType = {
    {"Disabled", 2}, {"Production", 3}, {"ProductionOnly", 4}, {"Standard", 5}};
const EnumTable kControllerType = {{"IDE", 0}, {"SCSI", 1}};
const EnumTable kSwitchType = {{"Private", 0}, {"Internal", 1}, {"External", 2}};
const EnumTable kVhdFormat = {{"VHD", 2}, {"VHDX", 3}, {"VHDSet", 4}};
const EnumTable kVhdType = {{"Fixed", 2}, {"Dynamic", 3}, {"Differencing", 4}};
// Microsoft.HyperV.PowerShell.SnapshotType as the Hyper-V module defines it (3 and 4 unused).
const EnumTable kSnapshotType = {{"Standard", 0},     {"Recovery", 1}, {"Planned", 2},
                                 {"Missing", 5},      {"Replica", 6},  {"AppConsistentReplica", 7},
                                 {"SyncedReplica", 8}};

bool g_enums_as_strings = false;

// The enum's name, from a number or a string as the state file holds it.
std::string EnumName(const EnumTable& table, const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) {
    for (const auto& [name, number] : table) {
      if (number == value.get<int>()) return name;
    }
  }
  return value.is_null() ? "" : value.dump();
}

json EnumOut(const EnumTable& table, const json& value) {
  if (value.is_null()) return value;
  const std::string name = EnumName(table, value);
  if (g_enums_as_strings) return name;
  for (const auto& [n, number] : table) {
    if (n == name) return number;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// State: <dir>/state.json, read and rewritten under an exclusive flock of <dir>/state.lock.

class StateFile {
 public:
  explicit StateFile(fs::path dir) : dir_(std::move(dir)) {}
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;
  ~StateFile() {
    if (lock_fd_ >= 0) close(lock_fd_);
  }

  void Lock() {
    const std::string lock = (dir_ / "state.lock").string();
    lock_fd_ = open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX) != 0) {
      Die(kNoState, "cannot lock " + lock + ": " + std::strerror(errno));
    }
  }

  json Load() const {
    const auto text = ReadFile(dir_ / "state.json");
    if (!text) Die(kNoState, "cannot read " + (dir_ / "state.json").string());
    json state = json::parse(*text, nullptr, false);
    if (state.is_discarded() || !state.is_object()) {
      Die(kNoState, (dir_ / "state.json").string() + " is not a JSON object");
    }
    for (const char* key : {"vms", "switches", "vhds"}) {
      if (!state.contains(key)) state[key] = json::array();
    }
    if (!state.contains("host")) state["host"] = json::object();
    if (!state.contains("peers")) state["peers"] = json::object();
    return state;
  }

  void Save(const json& state) const {
    const fs::path tmp = dir_ / ("state.json.tmp." + std::to_string(getpid()));
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << state.dump(1) << "\n";
      if (!out) Die(kNoState, "cannot write " + tmp.string());
    }
    fs::rename(tmp, dir_ / "state.json");
  }

  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  int lock_fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Helpers on records

std::mt19937_64& Rng() {
  static std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return rng;
}

std::string NewGuid() {
  std::uniform_int_distribution<int> hex(0, 15);
  std::string out = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  for (char& c : out) {
    if (c == 'x') c = "0123456789abcdef"[hex(Rng())];
    if (c == 'y') c = "89ab"[hex(Rng()) & 3];
  }
  return out;
}

std::string NewMac() {
  std::uniform_int_distribution<int> hex(0, 15);
  std::string out = "00155D";
  for (int i = 0; i < 6; ++i) out += "0123456789ABCDEF"[hex(Rng())];
  return out;
}

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto ticks =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld0Z", static_cast<long long>(ticks));
  return std::string(buf) + frac;
}

bool IsGuid(const std::string& s) {
  std::string t = s;
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? t[i] != '-' : !std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

std::string NormGuid(const std::string& s) {
  std::string t = Lower(s);
  if (t.size() == 38 && t.front() == '{') t = t.substr(1, 36);
  return t;
}

std::string Str(const json& obj, const char* key, const std::string& fallback = "") {
  if (obj.is_object() && obj.contains(key) && obj[key].is_string()) return obj[key];
  return fallback;
}

std::int64_t Int(const json& obj, const char* key, std::int64_t fallback = 0) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_number()) {
    return obj[key].get<std::int64_t>();
  }
  return fallback;
}

bool Bool(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() && obj[key].get<bool>();
}

// A data field the script passes to a cmdlet: missing or of the wrong type fails parameter
// binding, as it would in PowerShell.
std::string DataStr(const json& data, const char* key, const std::string& cmdlet) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) {
    Throw("InvalidData",
          std::string("Cannot validate argument on parameter '") + key +
              "'. The argument is null or empty. Provide an argument that is not null or empty, "
              "and then try the command again.",
          "ParameterArgumentValidationError,Microsoft.HyperV.PowerShell.Commands." + cmdlet,
          "System.Management.Automation.ParameterBindingValidationException");
  }
  return data[key];
}

std::int64_t DataInt(const json& data, const char* key, const std::string& cmdlet) {
  if (!data.is_object() || !data.contains(key) || !data[key].is_number_integer()) {
    Throw("InvalidArgument",
          std::string("Cannot bind parameter '") + key + "' to the target. The value is missing " +
              "or not a number.",
          "ParameterBindingFailed,Microsoft.HyperV.PowerShell.Commands." + cmdlet,
          "System.Management.Automation.ParameterBindingException");
  }
  return data[key].get<std::int64_t>();
}

std::string StateName(const json& vm) {
  return EnumName(kVmState, vm.value("State", json("Off")));
}

void SetState(json& vm, const std::string& name) {
  for (const auto& [n, number] : kVmState) {
    if (n == name) vm["State"] = vm["State"].is_string() ? json(n) : json(number);
  }
  if (!vm.contains("State")) vm["State"] = name;
  const bool on = name == "Running" || name == "Paused";
  vm["MemoryAssigned"] = on ? Int(vm, "MemoryStartup", 1073741824) : 0;
  if (!on) vm["UptimeSeconds"] = 0;
}

// Windows paths compare without regard to case; the parent folder is everything before the last
// backslash (or slash, for the real folders of export and import).
std::string ParentOf(const std::string& path) {
  const std::size_t pos = path.find_last_of("\\/");
  return pos == std::string::npos ? "" : path.substr(0, pos);
}

std::string BaseName(const std::string& path) {
  const std::size_t pos = path.find_last_of("\\/");
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  const char sep =
      dir.find('\\') == std::string::npos && dir.find('/') != std::string::npos ? '/' : '\\';
  if (!dir.empty() && (dir.back() == '\\' || dir.back() == '/')) return dir + name;
  return dir + sep + name;
}

std::string Extension(const std::string& path) {
  const std::string base = BaseName(path);
  const std::size_t pos = base.rfind('.');
  return pos == std::string::npos ? "" : Lower(base.substr(pos));
}

// ---------------------------------------------------------------------------------------------
// Output shapes

const std::vector<std::string> kVmFields = {"Id",
                                            "Name",
                                            "State",
                                            "Status",
                                            "ProcessorCount",
                                            "MemoryAssigned",
                                            "MemoryStartup",
                                            "DynamicMemoryEnabled",
                                            "UptimeSeconds",
                                            "Generation",
                                            "Version",
                                            "Path",
                                            "Notes",
                                            "ComputerName",
                                            "CheckpointType",
                                            "ParentSnapshotName",
                                            "HardDrives",
                                            "NetworkAdapters"};

bool g_depth_truncate = false;

json VmOut(const json& vm, bool every_field) {
  json out = json::object();
  if (every_field) {
    // vm.export-config.ps1 keeps every other property: scalars as they are, objects as their
    // [string] (the type name). The stand-in's own bookkeeping is no Get-VM property.
    static const std::set<std::string> kInternal = {"Snapshots", "ParentSnapshotId",
                                                    "NoIntegrationServices"};
    for (const auto& [key, value] : vm.items()) {
      if (kInternal.count(key) != 0) continue;
      out[key] = value.is_structured()
                     ? json(value.is_array() ? "System.Object[]" : "System.Object")
                     : value;
    }
    for (const auto& [key, value] :
         {std::pair<const char*, json>{"CPUUsage", 0},
          {"MemoryMinimum", 536870912},
          {"MemoryMaximum", 1099511627776LL},
          {"IsClustered", false},
          {"AutomaticStartAction", g_enums_as_strings ? json("StartIfRunning") : json(3)},
          {"AutomaticStopAction", g_enums_as_strings ? json("Save") : json(3)}}) {
      if (!out.contains(key)) out[key] = value;
    }
  }
  for (const std::string& key : kVmFields) out[key] = vm.contains(key) ? vm[key] : json(nullptr);
  if (!vm.contains("Status")) out["Status"] = "Operating normally";
  if (!vm.contains("Notes")) out["Notes"] = "";
  if (!vm.contains("HardDrives")) out["HardDrives"] = json::array();
  if (!vm.contains("NetworkAdapters")) out["NetworkAdapters"] = json::array();
  out["State"] = EnumOut(kVmState, vm.value("State", json("Off")));
  out["CheckpointType"] = EnumOut(kCheckpointType, vm.value("CheckpointType", json("Production")));
  for (json& drive : out["HardDrives"]) {
    if (drive.contains("ControllerType")) {
      drive["ControllerType"] = EnumOut(kControllerType, drive["ControllerType"]);
    }
  }
  if (g_depth_truncate) {
    // ConvertTo-Json past its -Depth writes each nested object as its ToString(): the type name.
    auto names = [](const json& list, const std::string& type) {
      std::string joined;
      for (std::size_t i = 0; i < list.size(); ++i) joined += (i > 0 ? " " : "") + type;
      return joined;
    };
    out["HardDrives"] = names(out["HardDrives"], "Microsoft.HyperV.PowerShell.HardDiskDrive");
    out["NetworkAdapters"] =
        names(out["NetworkAdapters"], "Microsoft.HyperV.PowerShell.VMNetworkAdapter");
  }
  return out;
}

bool VhdAttached(const json& state, const std::string& path, std::string* vm_name = nullptr) {
  for (const json& vm : state["vms"]) {
    for (const json& drive : vm.value("HardDrives", json::array())) {
      if (IEquals(Str(drive, "Path"), path)) {
        if (vm_name != nullptr) *vm_name = Str(vm, "Name");
        return true;
      }
    }
  }
  return false;
}

// A disk a VM that is not Off holds open.
bool UsedByRunningVm(const json& state, const std::string& path, std::string* name) {
  for (const json& vm : state["vms"]) {
    const std::string s = StateName(vm);
    if (s == "Off") continue;
    for (const json& drive : vm.value("HardDrives", json::array())) {
      if (IEquals(Str(drive, "Path"), path)) {
        *name = Str(vm, "Name");
        return true;
      }
    }
  }
  return false;
}

json VhdOut(const json& state, const json& vhd) {
  json out = json::object();
  out["Path"] = vhd.value("Path", json(""));
  out["VhdFormat"] = EnumOut(kVhdFormat, vhd.value("VhdFormat", json("VHDX")));
  out["VhdType"] = EnumOut(kVhdType, vhd.value("VhdType", json("Dynamic")));
  out["Size"] = vhd.value("Size", json(0));
  out["FileSize"] = vhd.value("FileSize", json(0));
  out["ParentPath"] = vhd.value("ParentPath", json(nullptr));
  out["Attached"] = VhdAttached(state, Str(vhd, "Path")) || Bool(vhd, "Attached");
  return out;
}

json SnapshotOut(const json& snap) {
  return {{"Id", snap.value("Id", json(""))},
          {"Name", snap.value("Name", json(""))},
          {"ParentSnapshotName", snap.value("ParentSnapshotName", json(nullptr))},
          {"CreationTime", snap.value("CreationTime", json(""))},
          {"SnapshotType", EnumOut(kSnapshotType, snap.value("SnapshotType", json("Standard")))}};
}

// ---------------------------------------------------------------------------------------------
// Look-ups

std::string CmdletOf(const std::string& op) {
  static const std::map<std::string, std::string> kCmdlets = {
      {"vm.list", "GetVM"},
      {"vm.get", "GetVM"},
      {"vm.create", "NewVM"},
      {"vm.start", "StartVM"},
      {"vm.save", "SaveVM"},
      {"vm.suspend", "SuspendVM"},
      {"vm.resume", "ResumeVM"},
      {"vm.shutdown", "StopVM"},
      {"vm.poweroff", "StopVM"},
      {"vm.reboot", "RestartVM"},
      {"vm.reset", "RestartVM"},
      {"vm.delete", "RemoveVM"},
      {"vm.set", "SetVM"},
      {"vm.export-config", "GetVM"},
      {"snapshot.list", "GetVMSnapshot"},
      {"snapshot.create", "CheckpointVM"},
      {"snapshot.revert", "RestoreVMSnapshot"},
      {"snapshot.delete", "RemoveVMSnapshot"},
      {"pool.list", "GetVMHost"},
      {"volume.list", "GetVHD"},
      {"volume.get", "GetVHD"},
      {"volume.create", "NewVHD"},
      {"volume.resize", "ResizeVHD"},
      {"volume.convert", "ConvertVHD"},
      {"volume.delete", "RemoveItem"},
      {"network.list", "GetVMSwitch"},
      {"host.info", "GetVMHost"},
      {"migrate.check", "CompareVM"},
      {"migrate.live", "MoveVM"},
      {"migrate.export", "ExportVM"},
      {"migrate.import", "ImportVM"},
      {"migrate.cleanup", "RemoveItem"},
  };
  const auto it = kCmdlets.find(op);
  return it == kCmdlets.end() ? "" : it->second;
}

// Get-VM -Id: the Id must convert to a Guid, then name an existing VM.
json& FindVm(json& state, const json& data, const std::string& cmdlet) {
  const std::string id = DataStr(data, "id", cmdlet);
  if (!IsGuid(id)) {
    Throw("InvalidArgument",
          "Cannot bind parameter 'Id'. Cannot convert value \"" + id +
              "\" to type \"System.Guid\". Error: \"Guid should contain 32 digits with 4 dashes "
              "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).\"",
          "CannotConvertArgumentNoMessage,Microsoft.HyperV.PowerShell.Commands.GetVM",
          "System.Management.Automation.ParameterBindingException");
  }
  for (json& vm : state["vms"]) {
    if (NormGuid(Str(vm, "Id")) == NormGuid(id)) return vm;
  }
  Throw("ObjectNotFound",
        "Hyper-V was unable to find a virtual machine with id \"" + NormGuid(id) + "\".",
        "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM");
}

json* FindVhd(json& state, const std::string& path) {
  for (json& vhd : state["vhds"]) {
    if (IEquals(Str(vhd, "Path"), path)) return &vhd;
  }
  return nullptr;
}

// A cmdlet given a VHD path that does not exist.
json& RequireVhd(json& state, const std::string& path, const std::string& cmdlet) {
  json* vhd = FindVhd(state, path);
  if (vhd == nullptr) {
    Throw("ObjectNotFound", "The system cannot find the file '" + path + "'.",
          "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet);
  }
  return *vhd;
}

// The volume.* scripts test the path first (Test-Path -LiteralPath -PathType Leaf).
json& ScriptRequireVhd(json& state, const std::string& path) {
  json* vhd = FindVhd(state, path);
  if (vhd == nullptr)
    WriteError("ObjectNotFound", "The virtual hard disk " + path + " does not exist.");
  return *vhd;
}

[[noreturn]] void WrongState(const json& vm, const std::string& cmdlet) {
  Throw("InvalidOperation",
        "'" + Str(vm, "Name") +
            "' failed to change state. The operation cannot be performed while the virtual "
            "machine is in its current state.",
        "InvalidState,Microsoft.HyperV.PowerShell.Commands." + cmdlet);
}

// PowerShell's truth of a data field ($d.x in an if): absent, null, false, 0 and "" are false.
bool Truthy(const json& data, const char* key) {
  if (!data.is_object() || !data.contains(key)) return false;
  const json& v = data[key];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get<std::string>().empty();
  return !v.is_null();
}

bool SwitchExists(const json& state, const std::string& name) {
  for (const json& s : state["switches"]) {
    if (IEquals(Str(s, "Name"), name)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Operations. Each takes the locked state (and the request's data) and returns the script's
// hashtable; they mutate `state`, which the caller saves.

struct Context {
  json& state;
  const json& data;
  const std::string& op;
  StateFile& file;
};

json Transition(Context& c, const std::string& cmdlet,
                const std::function<std::string(json&)>& next) {
  json& vm = FindVm(c.state, c.data, cmdlet);
  const std::string before = StateName(vm);
  const std::string target = next(vm);
  SetState(vm, target);
  // A fresh boot (from Off, or a reboot/reset) starts the uptime again; a resume does not.
  if (before == "Off" || c.op == "vm.reboot" || c.op == "vm.reset") vm["UptimeSeconds"] = 0;
  return {{"vm", VmOut(vm, false)}};
}

json VmTransition(Context& c) {
  const std::string& op = c.op;
  const std::string cmdlet = CmdletOf(op);
  return Transition(c, cmdlet, [&](json& vm) -> std::string {
    const std::string s = StateName(vm);
    const bool no_ic = Bool(vm, "NoIntegrationServices");
    if (op == "vm.start") {
      if (s == "Off" || s == "Saved" || s == "Paused") return "Running";
    } else if (op == "vm.save") {
      if (s == "Running" || s == "Paused") return "Saved";
    } else if (op == "vm.suspend") {
      if (s == "Running") return "Paused";
    } else if (op == "vm.resume") {
      if (s == "Paused") return "Running";
    } else if (op == "vm.shutdown" || op == "vm.reboot") {
      if (s == "Running" && no_ic) {
        Throw("InvalidOperation",
              "The virtual machine '" + Str(vm, "Name") +
                  "' is not running the shutdown integration service.",
              "Unspecified,Microsoft.HyperV.PowerShell.Commands." + cmdlet);
      }
      if (s == "Running") return op == "vm.shutdown" ? "Off" : "Running";
    } else if (op == "vm.poweroff") {
      if (s == "Running" || s == "Paused" || s == "Saved") return "Off";
    } else if (op == "vm.reset") {
      if (s == "Running") return "Running";
    }
    WrongState(vm, cmdlet);
  });
}

json VmList(Context& c) {
  json vms = json::array();
  for (const json& vm : c.state["vms"]) vms.push_back(VmOut(vm, false));
  return {{"vms", vms}};
}

json VmGet(Context& c) {
  return {{"vm", VmOut(FindVm(c.state, c.data, "GetVM"), false)}};
}

json VmExportConfig(Context& c) {
  return {{"vm", VmOut(FindVm(c.state, c.data, "GetVM"), true)}};
}

json NewVhdRecord(const std::string& path, std::int64_t size, bool dynamic) {
  const std::string ext = Extension(path);
  const bool vhdx = ext == ".vhdx";
  json vhd = {{"Path", path},
              {"VhdFormat", vhdx ? "VHDX" : "VHD"},
              {"VhdType", dynamic ? "Dynamic" : "Fixed"},
              {"Size", size},
              {"FileSize", dynamic ? (vhdx ? 4194304 : 512 * 1024) : size + (vhdx ? 4194304 : 512)},
              {"ParentPath", nullptr}};
  return vhd;
}

void CheckVhdPath(const json& state, const std::string& path, std::int64_t size,
                  const std::string& cmdlet) {
  const std::string ext = Extension(path);
  if (ext != ".vhd" && ext != ".vhdx") {
    Throw("InvalidArgument",
          "The format of the virtual hard disk file '" + path +
              "' cannot be determined from its extension: use .vhd or .vhdx.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet);
  }
  if (size <= 0 || size % 512 != 0) {
    Throw("InvalidArgument",
          "The size of the virtual hard disk must be a positive multiple of 512 bytes.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet);
  }
  const std::int64_t max = ext == ".vhd" ? 2040LL << 30 : 64LL << 40;
  if (size > max) {
    Throw("InvalidArgument",
          "The requested size exceeds the maximum size of a " +
              std::string(ext == ".vhd" ? "VHD" : "VHDX") + " file.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet);
  }
  for (const json& vhd : state["vhds"]) {
    if (IEquals(Str(vhd, "Path"), path)) {
      Throw("ResourceExists", "The file '" + path + "' already exists.",
            "ResourceExists,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet);
    }
  }
}

json VmCreate(Context& c) {
  const json& d = c.data;
  json& host = c.state["host"];
  const std::string name = DataStr(d, "name", "NewVM");
  if (name.empty()) {
    Throw("InvalidData",
          "Cannot validate argument on parameter 'Name'. The argument is null or empty. Provide "
          "an argument that is not null or empty, and then try the command again.",
          "ParameterArgumentValidationError,Microsoft.HyperV.PowerShell.Commands.NewVM",
          "System.Management.Automation.ParameterBindingValidationException");
  }
  const std::int64_t generation = DataInt(d, "generation", "NewVM");
  const std::int64_t memory = DataInt(d, "memory_bytes", "NewVM");
  const std::int64_t vcpus = DataInt(d, "vcpus", "NewVM");
  if (generation != 1 && generation != 2) {
    Throw("InvalidArgument",
          "Cannot validate argument on parameter 'Generation'. The " + std::to_string(generation) +
              " argument does not belong to the set \"1,2\".",
          "ParameterArgumentValidationError,Microsoft.HyperV.PowerShell.Commands.NewVM",
          "System.Management.Automation.ParameterBindingValidationException");
  }
  if (memory < (32LL << 20) || memory % (2LL << 20) != 0) {
    Throw("InvalidArgument",
          "Failed to modify device 'Memory'. The memory size must be at least 32 MB and a "
          "multiple of 2 MB.",
          "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.NewVM");
  }
  const std::int64_t max_cpus = Int(host, "LogicalProcessorCount", 8);
  if (vcpus < 1 || vcpus > max_cpus) {
    Throw("InvalidArgument",
          "Failed to modify device 'Processor'. The processor count must be between 1 and " +
              std::to_string(max_cpus) + ".",
          "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.SetVM");
  }
  std::optional<std::string> sw;
  if (Truthy(d, "switch")) {
    sw = DataStr(d, "switch", "NewVM");
    if (!SwitchExists(c.state, *sw)) {
      Throw("ObjectNotFound",
            "Hyper-V was unable to find a virtual switch with name \"" + *sw + "\".",
            "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.NewVM");
    }
  }
  json drives = json::array();
  const int controller = generation == 2 ? 1 : 0;
  if (Truthy(d, "new_vhd_path")) {
    const std::string path = DataStr(d, "new_vhd_path", "NewVM");
    const std::int64_t size = DataInt(d, "new_vhd_bytes", "NewVM");
    CheckVhdPath(c.state, path, size, "NewVHD");
    c.state["vhds"].push_back(NewVhdRecord(path, size, true));
    drives.push_back({{"Path", path},
                      {"ControllerType", controller},
                      {"ControllerNumber", 0},
                      {"ControllerLocation", 0}});
  } else if (Truthy(d, "vhd_path")) {
    const std::string path = DataStr(d, "vhd_path", "NewVM");
    RequireVhd(c.state, path, "AddVMHardDiskDrive");
    drives.push_back({{"Path", path},
                      {"ControllerType", controller},
                      {"ControllerNumber", 0},
                      {"ControllerLocation", 0}});
  }
  const std::string base = Truthy(d, "path") ? JoinPath(DataStr(d, "path", "NewVM"), name)
                                             : Str(host, "VirtualMachinePath",
                                                   "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V");
  json vm = {{"Id", NewGuid()},
             {"Name", name},
             {"State", "Off"},
             {"Status", "Operating normally"},
             {"CreationTime", NowIso()},
             {"ProcessorCount", vcpus},
             {"MemoryAssigned", 0},
             {"MemoryStartup", memory},
             {"DynamicMemoryEnabled", false},
             {"UptimeSeconds", 0},
             {"Generation", generation},
             {"Version", Str(host, "DefaultVmVersion", "9.0")},
             {"Path", base},
             {"Notes", ""},
             {"ComputerName", Str(host, "ComputerName", "HV01")},
             {"CheckpointType", "Production"},
             {"ParentSnapshotName", nullptr},
             {"HardDrives", drives},
             {"NetworkAdapters", json::array({{{"Name", "Network Adapter"},
                                               {"MacAddress", NewMac()},
                                               {"SwitchName", sw ? json(*sw) : json(nullptr)}}})},
             {"Snapshots", json::array()}};
  c.state["vms"].push_back(vm);
  return {{"vm", VmOut(vm, false)}};
}

// Get-VHD's ParentPath chain of a disk: the disk, then each parent (an .avhdx's base .vhdx).
// Strict: a missing file is Get-VHD's ObjectNotFound; otherwise it ends the chain
// (-ErrorAction SilentlyContinue).
std::vector<std::string> VhdChain(json& state, const std::string& path, bool strict) {
  std::vector<std::string> chain;
  std::string next = path;
  while (!next.empty() && chain.size() < 128) {
    json* vhd = strict ? &RequireVhd(state, next, "GetVHD") : FindVhd(state, next);
    if (vhd == nullptr) break;
    chain.push_back(Str(*vhd, "Path"));
    const json parent = vhd->value("ParentPath", json(nullptr));
    next = parent.is_string() ? parent.get<std::string>() : "";
  }
  return chain;
}

// vm.delete.ps1's Get-HyperctlFiles: the chains of the VM's drives, then of its checkpoints'.
std::vector<std::string> FilesOfVm(json& state, const json& vm, bool strict) {
  std::vector<std::string> out;
  const auto add = [&](const json& drives) {
    for (const json& drive : drives) {
      if (Str(drive, "Path").empty()) continue;
      for (auto& f : VhdChain(state, Str(drive, "Path"), strict)) out.push_back(f);
    }
  };
  add(vm.value("HardDrives", json::array()));
  for (const json& s : vm.value("Snapshots", json::array()))
    add(s.value("HardDrives", json::array()));
  return out;
}

// vm.delete.ps1: checkpoints without `snapshots` → its Write-Error, nothing changed; the files
// this VM stands on (strict chains: a missing one fails before anything changes) and those other
// VMs stand on (keys without case); Remove-VM; then Remove-Item of each file of this VM no other
// VM stands on. The answer says which were deleted and which kept, by whom they are used.
json VmDelete(Context& c) {
  json& vm = FindVm(c.state, c.data, "RemoveVM");
  const std::string id = Str(vm, "Id");
  const std::size_t checkpoints = vm.value("Snapshots", json::array()).size();
  if (checkpoints > 0 && !Truthy(c.data, "snapshots")) {
    WriteError("InvalidOperation", "The virtual machine " + Str(vm, "Name") + " has " +
                                       std::to_string(checkpoints) + " checkpoints.");
  }
  std::vector<std::string> mine;
  if (Truthy(c.data, "with_storage")) mine = FilesOfVm(c.state, vm, true);
  std::vector<std::pair<std::string, json>> users;  // lower-case path -> VM names
  const auto users_of = [&](const std::string& f) -> json* {
    for (auto& [key, names] : users)
      if (key == Lower(f)) return &names;
    return nullptr;
  };
  if (!mine.empty()) {
    for (const json& other : c.state["vms"]) {
      if (Str(other, "Id") == id) continue;
      for (const auto& f : FilesOfVm(c.state, other, false)) {
        json* names = users_of(f);
        if (names == nullptr) {
          users.emplace_back(Lower(f), json::array());
          names = &users.back().second;
        }
        if (std::find(names->begin(), names->end(), Str(other, "Name")) == names->end())
          names->push_back(Str(other, "Name"));
      }
    }
  }
  json& vms = c.state["vms"];
  for (auto it = vms.begin(); it != vms.end(); ++it) {
    if (Str(*it, "Id") == id) {
      vms.erase(it);
      break;
    }
  }
  json deleted = json::array();
  json kept = json::array();
  std::set<std::string> seen;
  for (const auto& f : mine) {
    if (!seen.insert(Lower(f)).second) continue;
    if (const json* names = users_of(f)) {
      kept.push_back({{"path", f}, {"used_by", *names}});
      continue;
    }
    json& vhds = c.state["vhds"];
    for (auto it = vhds.begin(); it != vhds.end(); ++it) {
      if (IEquals(Str(*it, "Path"), f)) {
        vhds.erase(it);
        break;
      }
    }
    deleted.push_back(f);
  }
  return {{"deleted", deleted}, {"kept", kept}};
}

json VmSet(Context& c) {
  json& vm = FindVm(c.state, c.data, "SetVM");
  const bool cpus = c.data.contains("vcpus") && !c.data["vcpus"].is_null();
  const bool memory = c.data.contains("memory_bytes") && !c.data["memory_bytes"].is_null();
  // The script sets the processors, then the memory; a refused memory puts the processors back.
  const json processors = vm.value("ProcessorCount", json(1));
  auto refuse_unless_off = [&](const char* device) {
    if (StateName(vm) == "Off") return;
    Throw("InvalidOperation",
          "Failed to modify device '" + std::string(device) + "' of '" + Str(vm, "Name") +
              "'. The operation cannot be performed while the virtual machine is in its current "
              "state.",
          "InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVM");
  };
  if (cpus) {
    refuse_unless_off("Processor");
    const std::int64_t n = DataInt(c.data, "vcpus", "SetVM");
    const std::int64_t max = Int(c.state["host"], "LogicalProcessorCount", 8);
    if (n < 1 || n > max) {
      Throw("InvalidArgument",
            "Failed to modify device 'Processor'. The processor count must be between 1 and " +
                std::to_string(max) + ".",
            "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.SetVM");
    }
    vm["ProcessorCount"] = n;
  }
  if (memory) {
    refuse_unless_off("Memory");
    const std::int64_t m = DataInt(c.data, "memory_bytes", "SetVM");
    if (m > Int(c.state["host"], "MemoryCapacity", 1LL << 40)) {
      vm["ProcessorCount"] = processors;
      Throw("InvalidArgument",
            "Failed to modify device 'Memory'. The startup memory is more than the host has.",
            "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.SetVM");
    }
    if (m < (32LL << 20) || m % (2LL << 20) != 0) {
      vm["ProcessorCount"] = processors;
      Throw("InvalidArgument",
            "Failed to modify device 'Memory'. The memory size must be at least 32 MB and a "
            "multiple of 2 MB.",
            "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.SetVM");
    }
    vm["MemoryStartup"] = m;
  }
  return {{"vm", VmOut(vm, false)}};
}

// --- snapshots

json& Snapshots(json& vm) {
  if (!vm.contains("Snapshots") || !vm["Snapshots"].is_array()) vm["Snapshots"] = json::array();
  return vm["Snapshots"];
}

// The scripts pick the checkpoint with Where-Object { $_.Name -eq $d.name }: PowerShell's -eq
// ignores case, and anything but exactly one match is an error (Hyper-V allows duplicate names).
json& RequireSnapshot(json& vm, const json& data, const std::string& cmdlet) {
  const std::string name = DataStr(data, "name", cmdlet);
  json* found = nullptr;
  int matches = 0;
  // The scripts pick the checkpoint with -ceq: exact, case included.
  for (json& s : Snapshots(vm)) {
    if (Str(s, "Name") == name) {
      found = &s;
      ++matches;
    }
  }
  if (matches != 1) WriteError("ObjectNotFound", "no single checkpoint of that name");
  return *found;
}

// The drives of a VM or checkpoint record, when it has a list of them (nothing is added).
void ForEachDrive(json& holder, const std::function<void(json&)>& f) {
  if (!holder.is_object() || !holder.contains("HardDrives") || !holder["HardDrives"].is_array())
    return;
  for (json& drive : holder["HardDrives"]) f(drive);
}

// Checkpoint disks [REF]: a checkpoint moves each drive onto a new differencing disk
// <stem>_<GUID>.avhdx beside the file it was on, whose ParentPath is that file; the checkpoint
// keeps the file (its HardDrives). A drive whose file has no record stays where it is [CHOSEN].
std::string NewDifferencing(json& state, const std::string& parent) {
  const json* base = FindVhd(state, parent);
  // Named after the chain's root (Hyper-V's <disk>_<GUID>.avhdx), not after another .avhdx.
  std::string root = parent;
  for (const auto& f : VhdChain(state, parent, false)) root = f;
  std::string stem = BaseName(root);
  stem = stem.substr(0, stem.size() - Extension(root).size());
  const std::string path = JoinPath(ParentOf(parent), stem + "_" + NewGuid() + ".avhdx");
  state["vhds"].push_back({{"Path", path},
                           {"VhdFormat", "VHDX"},
                           {"VhdType", "Differencing"},
                           {"Size", base != nullptr ? Int(*base, "Size") : 0},
                           {"FileSize", 4194304},
                           {"ParentPath", parent}});
  return path;
}

// True when a checkpoint of any VM keeps `path`, or another disk stands on it.
bool DiskHeld(const json& state, const std::string& path) {
  for (const json& vm : state["vms"])
    for (const json& s : vm.value("Snapshots", json::array()))
      for (const json& d : s.value("HardDrives", json::array()))
        if (IEquals(Str(d, "Path"), path)) return true;
  for (const json& vhd : state["vhds"]) {
    const json parent = vhd.value("ParentPath", json(nullptr));
    if (parent.is_string() && IEquals(parent.get<std::string>(), path)) return true;
  }
  return false;
}

void EraseVhd(json& state, const std::string& path) {
  json& vhds = state["vhds"];
  for (auto it = vhds.begin(); it != vhds.end(); ++it) {
    if (IEquals(Str(*it, "Path"), path)) {
      vhds.erase(it);
      return;
    }
  }
}

// Remove-VMSnapshot merges: a file no checkpoint keeps any more, with exactly one differencing
// disk on it, takes that disk's content; whatever pointed at the child points at it.
void MergeInto(json& state, const std::string& parent) {
  if (FindVhd(state, parent) == nullptr) return;
  for (const json& vm : state["vms"])
    for (const json& s : vm.value("Snapshots", json::array()))
      for (const json& d : s.value("HardDrives", json::array()))
        if (IEquals(Str(d, "Path"), parent)) return;
  std::vector<std::string> children;
  for (const json& vhd : state["vhds"]) {
    const json p = vhd.value("ParentPath", json(nullptr));
    if (p.is_string() && IEquals(p.get<std::string>(), parent))
      children.push_back(Str(vhd, "Path"));
  }
  if (children.size() != 1) return;
  const std::string child = children.front();
  for (json& vhd : state["vhds"]) {
    const json p = vhd.value("ParentPath", json(nullptr));
    if (p.is_string() && IEquals(p.get<std::string>(), child)) vhd["ParentPath"] = parent;
  }
  const auto repoint = [&](json& d) {
    if (IEquals(Str(d, "Path"), child)) d["Path"] = parent;
  };
  for (json& vm : state["vms"]) {
    ForEachDrive(vm, repoint);
    if (vm.contains("Snapshots") && vm["Snapshots"].is_array())
      for (json& s : vm["Snapshots"]) ForEachDrive(s, repoint);
  }
  EraseVhd(state, child);
}

json SnapshotList(Context& c) {
  json& vm = FindVm(c.state, c.data, "GetVMSnapshot");
  json list = json::array();
  for (const json& s : vm.value("Snapshots", json::array())) list.push_back(SnapshotOut(s));
  return {{"snapshots", list}, {"current", vm.value("ParentSnapshotName", json(nullptr))}};
}

json SnapshotCreate(Context& c) {
  json& vm = FindVm(c.state, c.data, "CheckpointVM");
  const std::string name = DataStr(c.data, "name", "CheckpointVM");
  if (EnumName(kCheckpointType, vm.value("CheckpointType", json("Production"))) == "Disabled") {
    Throw("InvalidOperation", "Checkpoints are disabled for '" + Str(vm, "Name") + "'.",
          "OperationFailed,Microsoft.HyperV.PowerShell.Commands.CheckpointVM");
  }
  json snap = {{"Id", NewGuid()},
               {"Name", name},
               {"ParentSnapshotName", vm.value("ParentSnapshotName", json(nullptr))},
               {"ParentSnapshotId", vm.value("ParentSnapshotId", json(nullptr))},
               {"CreationTime", NowIso()},
               {"SnapshotType", "Standard"},
               {"Captured",
                {{"State", StateName(vm)},
                 {"CheckpointType",
                  EnumName(kCheckpointType, vm.value("CheckpointType", json("Production")))},
                 {"ProcessorCount", vm.value("ProcessorCount", json(1))},
                 {"MemoryStartup", vm.value("MemoryStartup", json(1073741824))}}}};
  snap["HardDrives"] = vm.value("HardDrives", json::array());
  if (vm.contains("HardDrives") && vm["HardDrives"].is_array()) {
    for (json& drive : vm["HardDrives"]) {
      const std::string file = Str(drive, "Path");
      if (!file.empty() && FindVhd(c.state, file) != nullptr)
        drive["Path"] = NewDifferencing(c.state, file);
    }
  }
  Snapshots(vm).push_back(snap);
  vm["ParentSnapshotName"] = name;
  vm["ParentSnapshotId"] = snap["Id"];
  return {{"snapshot", SnapshotOut(snap)}};
}

json SnapshotRevert(Context& c) {
  json& vm = FindVm(c.state, c.data, "RestoreVMSnapshot");
  json& snap = RequireSnapshot(vm, c.data, "RestoreVMSnapshot");
  const json captured = snap.value("Captured", json::object());
  // A checkpoint of a running VM holds its memory: restoring it leaves the VM Saved. Production
  // checkpoints (and those of a VM that was off) leave it Off.
  const std::string was = Str(captured, "State", "Off");
  const bool production =
      Str(captured, "CheckpointType",
          EnumName(kCheckpointType, vm.value("CheckpointType", json("Production")))) != "Standard";
  SetState(
      vm, !production && (was == "Running" || was == "Paused" || was == "Saved") ? "Saved" : "Off");
  // The drives leave their differencing disks (discarded unless something stands on them) for
  // new ones on the files the checkpoint kept.
  const json kept_drives = snap.value("HardDrives", json::array());
  if (vm.contains("HardDrives") && vm["HardDrives"].is_array()) {
    json& drives = vm["HardDrives"];
    for (std::size_t i = 0; i < drives.size() && i < kept_drives.size(); ++i) {
      const std::string now = Str(drives[i], "Path");
      const std::string then = Str(kept_drives[i], "Path");
      if (then.empty() || FindVhd(c.state, then) == nullptr) continue;
      drives[i]["Path"] = NewDifferencing(c.state, then);
      if (Extension(now) == ".avhdx" && !DiskHeld(c.state, now)) EraseVhd(c.state, now);
    }
  }
  if (captured.contains("ProcessorCount")) vm["ProcessorCount"] = captured["ProcessorCount"];
  if (captured.contains("MemoryStartup")) vm["MemoryStartup"] = captured["MemoryStartup"];
  vm["ParentSnapshotName"] = snap["Name"];
  vm["ParentSnapshotId"] = snap.value("Id", json(nullptr));
  return json::object();
}

bool IsChildOf(const json& child, const json& parent) {
  if (child.contains("ParentSnapshotId") && child["ParentSnapshotId"].is_string()) {
    return child["ParentSnapshotId"] == parent.value("Id", json(""));
  }
  return child.value("ParentSnapshotName", json(nullptr)) == parent.value("Name", json(""));
}

json SnapshotDelete(Context& c) {
  json& vm = FindVm(c.state, c.data, "RemoveVMSnapshot");
  const json target = RequireSnapshot(vm, c.data, "RemoveVMSnapshot");
  json& snaps = Snapshots(vm);
  std::set<std::string> removed = {Str(target, "Id")};
  if (Bool(c.data, "with_children")) {
    for (bool grew = true; grew;) {
      grew = false;
      for (const json& s : snaps) {
        if (removed.count(Str(s, "Id")) != 0) continue;
        for (const json& r : snaps) {
          if (removed.count(Str(r, "Id")) != 0 && IsChildOf(s, r)) {
            removed.insert(Str(s, "Id"));
            grew = true;
            break;
          }
        }
      }
    }
  } else {
    for (json& s : snaps) {
      if (Str(s, "Id") != Str(target, "Id") && IsChildOf(s, target)) {
        s["ParentSnapshotName"] = target.value("ParentSnapshotName", json(nullptr));
        s["ParentSnapshotId"] = target.value("ParentSnapshotId", json(nullptr));
      }
    }
  }
  const bool current_removed =
      vm.contains("ParentSnapshotId") && vm["ParentSnapshotId"].is_string()
          ? removed.count(vm["ParentSnapshotId"].get<std::string>()) != 0
          : vm.value("ParentSnapshotName", json(nullptr)) == target["Name"];
  json kept = json::array();
  std::vector<std::string> released;
  for (const json& s : snaps) {
    if (removed.count(Str(s, "Id")) == 0) {
      kept.push_back(s);
      continue;
    }
    for (const json& d : s.value("HardDrives", json::array())) released.push_back(Str(d, "Path"));
  }
  snaps = kept;
  for (const auto& file : released) MergeInto(c.state, file);
  if (current_removed) {
    vm["ParentSnapshotName"] = target.value("ParentSnapshotName", json(nullptr));
    vm["ParentSnapshotId"] = target.value("ParentSnapshotId", json(nullptr));
  }
  return json::object();
}

// --- storage

json PoolList(Context& c) {
  const json& host = c.state["host"];
  const std::int64_t capacity = Int(host, "DiskCapacityBytes", 1LL << 40);
  const std::int64_t free = Int(host, "DiskFreeBytes", 1LL << 39);
  json pools = json::array();
  pools.push_back({{"Name", "vhd"},
                   {"Path", Str(host, "VirtualHardDiskPath")},
                   {"CapacityBytes", capacity},
                   {"FreeBytes", free}});
  pools.push_back({{"Name", "vm"},
                   {"Path", Str(host, "VirtualMachinePath")},
                   {"CapacityBytes", capacity},
                   {"FreeBytes", free}});
  return {{"pools", pools}};
}

bool FolderExists(const json& state, const std::string& folder) {
  const json& host = state["host"];
  if (IEquals(folder, Str(host, "VirtualHardDiskPath")) ||
      IEquals(folder, Str(host, "VirtualMachinePath"))) {
    return true;
  }
  for (const json& f : state.value("folders", json::array())) {
    if (f.is_string() && IEquals(f.get<std::string>(), folder)) return true;
  }
  for (const json& vhd : state["vhds"]) {
    if (IEquals(ParentOf(Str(vhd, "Path")), folder)) return true;
  }
  return false;
}

json VolumeList(Context& c) {
  std::string folder = DataStr(c.data, "path", "GetChildItem");
  while (folder.size() > 3 && (folder.back() == '\\' || folder.back() == '/')) folder.pop_back();
  if (!FolderExists(c.state, folder)) {
    Throw("ObjectNotFound", "Cannot find path '" + folder + "' because it does not exist.",
          "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand",
          "System.Management.Automation.ItemNotFoundException");
  }
  json out = json::array();
  for (const json& vhd : c.state["vhds"]) {
    const std::string path = Str(vhd, "Path");
    const std::string ext = Extension(path);
    if (IEquals(ParentOf(path), folder) && (ext == ".vhd" || ext == ".vhdx")) {
      out.push_back(VhdOut(c.state, vhd));
    }
  }
  return {{"volumes", out}};
}

json VolumeGet(Context& c) {
  const std::string path = DataStr(c.data, "path", "GetVHD");
  return {{"volume", VhdOut(c.state, ScriptRequireVhd(c.state, path))}};
}

json VolumeCreate(Context& c) {
  const std::string path = DataStr(c.data, "path", "NewVHD");
  if (FindVhd(c.state, path) != nullptr) {
    WriteError("ResourceExists", "The file " + path + " already exists.");
  }
  const std::int64_t size = DataInt(c.data, "size_bytes", "NewVHD");
  if (!FolderExists(c.state, ParentOf(path))) {
    Throw("ObjectNotFound",
          "Failed to create the virtual hard disk. The system cannot find the path specified.",
          "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.NewVHD");
  }
  CheckVhdPath(c.state, path, size, "NewVHD");
  json vhd = NewVhdRecord(path, size, Truthy(c.data, "dynamic"));
  c.state["vhds"].push_back(vhd);
  return {{"volume", VhdOut(c.state, vhd)}};
}

// Resize-VHD: only VHDX shrinks, never below what the data on it needs (FileSize stands for
// that), and not while a running VM holds it on an IDE controller.
json VolumeResize(Context& c) {
  const std::string path = DataStr(c.data, "path", "ResizeVHD");
  json& vhd = ScriptRequireVhd(c.state, path);
  const std::int64_t size = DataInt(c.data, "size_bytes", "ResizeVHD");
  const std::int64_t current = Int(vhd, "Size");
  const bool vhdx = EnumName(kVhdFormat, vhd.value("VhdFormat", json("VHDX"))) == "VHDX";
  if (size <= 0 || size % 512 != 0) {
    Throw("InvalidArgument",
          "The size of the virtual hard disk must be a positive multiple of 512 bytes.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ResizeVHD");
  }
  if (size < current && !vhdx) {
    Throw("InvalidArgument",
          "Failed to resize the virtual disk '" + path + "': only VHDX files can be shrunk.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ResizeVHD");
  }
  const std::int64_t used = Int(vhd, "FileSize");
  if (size < current && size < used) {
    Throw("InvalidArgument",
          "Failed to resize the virtual disk '" + path + "': the requested size " +
              std::to_string(size) + " is smaller than the minimum size " + std::to_string(used) +
              " the data on it needs.",
          "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ResizeVHD");
  }
  vhd["Size"] = size;
  if (EnumName(kVhdType, vhd.value("VhdType", json("Dynamic"))) == "Fixed") {
    vhd["FileSize"] = size + (vhdx ? 4194304 : 512);
  }
  return {{"volume", VhdOut(c.state, vhd)}};
}

json VolumeConvert(Context& c) {
  const std::string path = DataStr(c.data, "path", "ConvertVHD");
  const std::string destination = DataStr(c.data, "destination", "ConvertVHD");
  const json source = ScriptRequireVhd(c.state, path);
  if (FindVhd(c.state, destination) != nullptr) {
    WriteError("ResourceExists", "The file " + destination + " already exists.");
  }
  std::string user;
  if (UsedByRunningVm(c.state, path, &user)) {
    Throw("InvalidOperation",
          "The process cannot access the file '" + path +
              "' because it is being used by another process.",
          "InvalidState,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVHD");
  }
  const std::int64_t size = Int(source, "Size");
  CheckVhdPath(c.state, destination, size, "ConvertVHD");
  json vhd = NewVhdRecord(destination, size,
                          EnumName(kVhdType, source.value("VhdType", json("Dynamic"))) != "Fixed");
  if (EnumName(kVhdType, vhd["VhdType"]) == "Dynamic") {
    vhd["FileSize"] = std::max<std::int64_t>(Int(source, "FileSize"), Int(vhd, "FileSize"));
  }
  c.state["vhds"].push_back(vhd);
  return {{"volume", VhdOut(c.state, vhd)}};
}

// volume.delete.ps1 refuses a disk any VM (running or not) stands on - a drive of it or of a
// checkpoint, or a differencing disk of theirs on it - listing those VMs.
json VolumeDelete(Context& c) {
  const std::string path = DataStr(c.data, "path", "RemoveItem");
  json& vhd = ScriptRequireVhd(c.state, path);
  const std::string full = Str(vhd, "Path");
  std::string users;
  for (const json& vm : c.state["vms"]) {
    for (const auto& f : FilesOfVm(c.state, vm, false)) {
      if (IEquals(f, full)) {
        users += (users.empty() ? "" : ", ") + Str(vm, "Name");
        break;
      }
    }
  }
  if (!users.empty()) {
    WriteError("InvalidOperation",
               "The virtual hard disk " + full + " is in use by " + users + ".");
  }
  json& vhds = c.state["vhds"];
  for (auto it = vhds.begin(); it != vhds.end(); ++it) {
    if (IEquals(Str(*it, "Path"), path)) {
      vhds.erase(it);
      break;
    }
  }
  return json::object();
}

json NetworkList(Context& c) {
  json out = json::array();
  for (const json& s : c.state["switches"]) {
    out.push_back({{"Id", s.value("Id", json(""))},
                   {"Name", s.value("Name", json(""))},
                   {"SwitchType", EnumOut(kSwitchType, s.value("SwitchType", json("Internal")))},
                   {"NetAdapterInterfaceDescription",
                    s.value("NetAdapterInterfaceDescription", json(nullptr))}});
  }
  return {{"switches", out}};
}

json HostInfo(Context& c) {
  const json& host = c.state["host"];
  std::int64_t used = 0;
  for (const json& vm : c.state["vms"]) {
    const std::string s = StateName(vm);
    if (s == "Running" || s == "Paused") used += Int(vm, "MemoryStartup", 1073741824);
  }
  const std::int64_t capacity = Int(host, "MemoryCapacity", 17179869184LL);
  json out = {{"ComputerName", Str(host, "ComputerName", "HV01")},
              {"LogicalProcessorCount", Int(host, "LogicalProcessorCount", 8)},
              {"MemoryCapacity", capacity},
              {"FreeMemoryBytes", host.contains("FreeMemoryBytes")
                                      ? host["FreeMemoryBytes"]
                                      : json(std::max<std::int64_t>(0, capacity - used))},
              {"OsVersion", Str(host, "OsVersion", "10.0.20348")},
              {"ProcessorName", Str(host, "ProcessorName", "Intel(R) Xeon(R) CPU")},
              {"ProcessorManufacturer", Str(host, "ProcessorManufacturer", "GenuineIntel")},
              {"VirtualHardDiskPath", Str(host, "VirtualHardDiskPath")},
              {"VirtualMachinePath", Str(host, "VirtualMachinePath")},
              {"ModuleVersion", Str(host, "ModuleVersion", "2.0.0.0")}};
  return {{"host", out}};
}

// --- migration

std::optional<fs::path> PeerDir(const json& state, const std::string& destination) {
  for (const auto& [name, dir] : state["peers"].items()) {
    if (IEquals(name, destination) && dir.is_string()) return fs::path(dir.get<std::string>());
  }
  return std::nullopt;
}

[[noreturn]] void Unreachable(const std::string& destination, const std::string& cmdlet) {
  Throw("ConnectionError",
        "Failed to establish a connection with host '" + destination +
            "'. The operation failed because the destination host could not be reached.",
        "Unspecified,Microsoft.HyperV.PowerShell.Commands." + cmdlet);
}

json Incompatibilities(const json& state, const json& vm, const json& peer) {
  json out = json::array();
  const std::string here = Str(state["host"], "ProcessorManufacturer", "GenuineIntel");
  const std::string there = Str(peer["host"], "ProcessorManufacturer", "GenuineIntel");
  const std::string peer_name = Str(peer["host"], "ComputerName", "peer");
  if (here != there) {
    out.push_back({{"Message", "The virtual machine '" + Str(vm, "Name") +
                                   "' is using processor-specific features not supported on "
                                   "physical computer '" +
                                   peer_name + "'."},
                   {"MessageId", 24004}});
  }
  for (const json& nic : vm.value("NetworkAdapters", json::array())) {
    if (!nic.is_object() || !nic.contains("SwitchName") || !nic["SwitchName"].is_string()) continue;
    const std::string sw = nic["SwitchName"];
    if (!SwitchExists(peer, sw)) {
      out.push_back(
          {{"Message", "Could not find Ethernet switch '" + sw + "'."}, {"MessageId", 33012}});
    }
  }
  for (const json& other : peer["vms"]) {
    if (NormGuid(Str(other, "Id")) == NormGuid(Str(vm, "Id"))) {
      out.push_back(
          {{"Message", "A virtual machine with the identifier '" + NormGuid(Str(vm, "Id")) +
                           "' already exists on '" + peer_name + "'."},
           {"MessageId", 21018}});
    }
  }
  return out;
}

// Move-VM and Compare-VM take -IncludeStorage together with -DestinationStoragePath.
std::string StoragePath(const json& data, const std::string& cmdlet) {
  const std::string path =
      Truthy(data, "destination_path") ? DataStr(data, "destination_path", cmdlet) : std::string();
  if (Truthy(data, "include_storage") && path.empty()) {
    Throw("InvalidArgument",
          "Parameter set cannot be resolved using the specified named parameters: "
          "-IncludeStorage needs -DestinationStoragePath.",
          "AmbiguousParameterSet,Microsoft.HyperV.PowerShell.Commands." + cmdlet,
          "System.Management.Automation.ParameterBindingException");
  }
  return path;
}

// The peer's state directory; an unknown peer, or one without a state, cannot be reached.
fs::path ReachPeer(const json& state, const std::string& destination, const std::string& cmdlet) {
  const auto dir = PeerDir(state, destination);
  std::error_code ec;
  if (!dir || !fs::is_regular_file(*dir / "state.json", ec)) Unreachable(destination, cmdlet);
  return *dir;
}

json MigrateCheck(Context& c) {
  json& vm = FindVm(c.state, c.data, "CompareVM");
  const std::string destination = DataStr(c.data, "destination", "CompareVM");
  StoragePath(c.data, "CompareVM");
  const fs::path dir = ReachPeer(c.state, destination, "CompareVM");
  if (fs::equivalent(dir, c.file.dir())) {
    return {{"incompatibilities", Incompatibilities(c.state, vm, c.state)}};
  }
  StateFile peer_file(dir);
  peer_file.Lock();
  const json peer = peer_file.Load();
  return {{"incompatibilities", Incompatibilities(c.state, vm, peer)}};
}

json MigrateLive(Context& c) {
  json& vm = FindVm(c.state, c.data, "MoveVM");
  const std::string destination = DataStr(c.data, "destination", "MoveVM");
  const std::string dest_path = StoragePath(c.data, "MoveVM");
  const bool storage = Truthy(c.data, "include_storage");
  const fs::path dir = ReachPeer(c.state, destination, "MoveVM");
  if (fs::equivalent(dir, c.file.dir())) {
    Throw("InvalidArgument",
          "The virtual machine migration operation failed: the source and the destination "
          "host are the same.",
          "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.MoveVM");
  }
  // This host's lock is held; the peer's is taken second. Two hosts migrating to each other at
  // the same moment could deadlock; the tests do not do that.
  StateFile peer_file(dir);
  peer_file.Lock();
  json peer = peer_file.Load();
  const json problems = Incompatibilities(c.state, vm, peer);
  if (!problems.empty()) {
    Throw("InvalidOperation",
          "Virtual machine migration operation for '" + Str(vm, "Name") +
              "' failed at migration source '" + Str(c.state["host"], "ComputerName", "HV01") +
              "'. " + problems[0]["Message"].get<std::string>(),
          "Unspecified,Microsoft.HyperV.PowerShell.Commands.MoveVM");
  }
  json moved = vm;
  moved["ComputerName"] = Str(peer["host"], "ComputerName", destination);
  if (storage) {
    moved["Path"] = dest_path;
    for (json& drive : moved["HardDrives"]) {
      const std::string old_path = Str(drive, "Path");
      const std::string new_path = JoinPath(dest_path, BaseName(old_path));
      json& vhds = c.state["vhds"];
      for (auto it = vhds.begin(); it != vhds.end(); ++it) {
        if (IEquals(Str(*it, "Path"), old_path)) {
          json record = *it;
          record["Path"] = new_path;
          peer["vhds"].push_back(record);
          vhds.erase(it);
          break;
        }
      }
      drive["Path"] = new_path;
    }
  }
  peer["vms"].push_back(moved);
  const std::string id = Str(vm, "Id");
  json& vms = c.state["vms"];
  for (auto it = vms.begin(); it != vms.end(); ++it) {
    if (Str(*it, "Id") == id) {
      vms.erase(it);
      break;
    }
  }
  peer_file.Save(peer);
  return json::object();
}

// Windows file-name rules: Export-VM names the folder after the VM.
bool ValidFileName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.back() == ' ' || name.back() == '.') {
    return false;
  }
  for (const char ch : name) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || std::string_view("\\/:*?\"<>|").find(ch) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return s;
}

// Export-VM -Path P: P/<Name>/Virtual Machines/<ID>.vmcx and P/<Name>/Virtual Hard Disks/<disk>,
// as real files (the vmcx holds the VM record, each disk its VHD record, both as JSON).
json MigrateExport(Context& c) {
  json& vm = FindVm(c.state, c.data, "ExportVM");
  const std::string path = DataStr(c.data, "path", "ExportVM");
  const std::string name = Str(vm, "Name");
  if (!ValidFileName(name)) {
    Throw("InvalidArgument",
          "Failed to create the export folder for '" + name +
              "': the name contains characters not allowed in a file name.",
          "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.ExportVM");
  }
  if (path.empty() || path.front() != '/') {
    // The export goes to a real folder; a Windows-style path would become a folder named
    // "C:\..." in the test's working directory.
    Throw("InvalidArgument",
          "fake-pwsh exports to real folders only: '" + path + "' is not an absolute path.",
          "FakeRefused,Microsoft.HyperV.PowerShell.Commands.ExportVM", "System.ArgumentException");
  }
  const fs::path root = fs::path(path) / name;
  std::error_code ec;
  if (fs::exists(root / "Virtual Machines", ec)) {
    Throw("ResourceExists",
          "Failed to export '" + name + "': the folder '" + root.string() + "' already exists.",
          "OperationFailed,Microsoft.HyperV.PowerShell.Commands.ExportVM");
  }
  fs::create_directories(root / "Virtual Machines", ec);
  if (!ec) fs::create_directories(root / "Virtual Hard Disks", ec);
  if (ec) {
    Throw("PermissionDenied",
          "Failed to create the export folder '" + root.string() + "': " + ec.message() + ".",
          "OperationFailed,Microsoft.HyperV.PowerShell.Commands.ExportVM");
  }
  // Every file the VM stands on goes: its drives' and its checkpoints' drives' chains, each
  // parent re-pointed to its own copy.
  std::map<std::string, std::string> copied;
  std::function<std::string(const std::string&)> copy_out = [&](const std::string& from) {
    if (const auto it = copied.find(Lower(from)); it != copied.end()) return it->second;
    json record = RequireVhd(c.state, from, "ExportVM");
    const std::string to = (root / "Virtual Hard Disks" / BaseName(from)).string();
    copied[Lower(from)] = to;
    const json parent = record.value("ParentPath", json(nullptr));
    if (parent.is_string() && !parent.get<std::string>().empty())
      record["ParentPath"] = copy_out(parent.get<std::string>());
    record["Path"] = to;
    std::ofstream(to, std::ios::binary) << record.dump(1) << "\n";
    return to;
  };
  json exported = vm;
  const auto out = [&](json& drive) { drive["Path"] = copy_out(Str(drive, "Path")); };
  ForEachDrive(exported, out);
  if (exported.contains("Snapshots") && exported["Snapshots"].is_array())
    for (json& s : exported["Snapshots"]) ForEachDrive(s, out);
  const fs::path vmcx = root / "Virtual Machines" / (Upper(NormGuid(Str(vm, "Id"))) + ".vmcx");
  std::ofstream(vmcx, std::ios::binary) << exported.dump(1) << "\n";
  return {{"vmcx", vmcx.string()}};
}

// Compare-VM -Copy -GenerateNewId then Import-VM: a new Id, the disks copied to vhd_destination
// (from the exported files, or this host's records when the vmcx names disks it knows), the VM's
// files under vm_path. Export-VM captures a running VM's saved state by default, so a VM that
// was running, paused or saved comes back Saved.
json MigrateImport(Context& c) {
  const std::string vmcx = DataStr(c.data, "vmcx", "CompareVM");
  const std::string vhd_destination = DataStr(c.data, "vhd_destination", "CompareVM");
  const std::string vm_path = DataStr(c.data, "vm_path", "CompareVM");
  const auto text = ReadFile(vmcx);
  if (!text) {
    Throw("ObjectNotFound", "Cannot find path '" + vmcx + "' because it does not exist.",
          "PathNotFound,Microsoft.HyperV.PowerShell.Commands.CompareVM",
          "System.Management.Automation.ItemNotFoundException");
  }
  json vm = json::parse(*text, nullptr, false);
  if (!vm.is_object()) {
    Throw("InvalidArgument", "The file '" + vmcx + "' is not a virtual machine configuration.",
          "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.CompareVM");
  }
  std::string problems;
  for (const json& nic : vm.value("NetworkAdapters", json::array())) {
    if (!nic.is_object() || !nic.contains("SwitchName") || !nic["SwitchName"].is_string()) continue;
    if (!SwitchExists(c.state, nic["SwitchName"])) {
      problems += (problems.empty() ? "" : "; ") + std::string("Could not find Ethernet switch '") +
                  nic["SwitchName"].get<std::string>() + "'.";
    }
  }
  if (!problems.empty()) {
    WriteError("InvalidOperation", "The virtual machine cannot be imported: " + problems);
  }
  // Each file with its parents (a checkpointed drive's chain), once.
  json new_vhds = json::array();
  std::map<std::string, std::string> copied;
  std::function<std::string(const std::string&)> copy_in = [&](const std::string& src) {
    if (const auto it = copied.find(Lower(src)); it != copied.end()) return it->second;
    const std::string dst = JoinPath(vhd_destination, BaseName(src));
    json record;
    if (const auto body = ReadFile(src)) record = json::parse(*body, nullptr, false);
    if (!record.is_object()) {
      if (json* vhd = FindVhd(c.state, src)) {
        record = *vhd;
      } else {
        Throw("ObjectNotFound", "The system cannot find the file '" + src + "'.",
              "ObjectNotFound,Microsoft.HyperV.PowerShell.Commands.ImportVM");
      }
    }
    if (FindVhd(c.state, dst) != nullptr) {
      Throw("ResourceExists", "The file '" + dst + "' already exists.",
            "OperationFailed,Microsoft.HyperV.PowerShell.Commands.ImportVM");
    }
    copied[Lower(src)] = dst;
    const json parent = record.value("ParentPath", json(nullptr));
    if (parent.is_string() && !parent.get<std::string>().empty())
      record["ParentPath"] = copy_in(parent.get<std::string>());
    record["Path"] = dst;
    new_vhds.push_back(record);
    return dst;
  };
  const auto in = [&](json& drive) { drive["Path"] = copy_in(Str(drive, "Path")); };
  ForEachDrive(vm, in);
  if (vm.contains("Snapshots") && vm["Snapshots"].is_array())
    for (json& s : vm["Snapshots"]) ForEachDrive(s, in);
  for (const json& r : new_vhds) c.state["vhds"].push_back(r);
  const std::string was = StateName(vm);
  vm["Id"] = NewGuid();
  vm["Path"] = vm_path;
  vm["ComputerName"] = Str(c.state["host"], "ComputerName", "HV01");
  SetState(vm, was == "Running" || was == "Paused" || was == "Saved" ? "Saved" : "Off");
  std::map<std::string, std::string> renamed;
  for (json& s : Snapshots(vm)) {
    const std::string fresh = NewGuid();
    renamed[Str(s, "Id")] = fresh;
    s["Id"] = fresh;
  }
  for (json& s : Snapshots(vm)) {
    if (s.contains("ParentSnapshotId") && s["ParentSnapshotId"].is_string()) {
      s["ParentSnapshotId"] = renamed[s["ParentSnapshotId"]];
    }
  }
  if (vm.contains("ParentSnapshotId") && vm["ParentSnapshotId"].is_string()) {
    vm["ParentSnapshotId"] = renamed[vm["ParentSnapshotId"]];
  }
  c.state["vms"].push_back(vm);
  return {{"vm", VmOut(vm, false)}};
}

// migrate.cleanup.ps1: Remove-Item -Recurse of a real folder when it exists. So that a wrong path
// cannot wipe the test machine, the stand-in only deletes an absolute path that looks like an
// export (it holds a "Virtual Machines" folder) or is named hyperctl-*; anything else is refused
// as InvalidArgument.
json MigrateCleanup(Context& c) {
  const std::string path = DataStr(c.data, "path", "RemoveItem");
  std::error_code ec;
  if (!fs::exists(path, ec)) return json::object();
  const fs::path folder(path);
  const bool looks_made = BaseName(path).rfind("hyperctl-", 0) == 0 ||
                          fs::is_directory(folder / "Virtual Machines", ec);
  if (!folder.is_absolute() || folder == folder.root_path() || !looks_made) {
    Throw("InvalidArgument",
          "fake-pwsh refuses to remove '" + path +
              "': not an absolute path to an export folder or a hyperctl-* folder.",
          "FakeRefused,Microsoft.PowerShell.Commands.RemoveItemCommand",
          "System.ArgumentException");
  }
  fs::remove_all(folder, ec);
  if (ec) {
    Throw("WriteError", "Cannot remove item " + path + ": " + ec.message() + ".",
          "RemoveFileSystemItemIOError,Microsoft.PowerShell.Commands.RemoveItemCommand",
          "System.IO.IOException");
  }
  return json::object();
}

using Handler = json (*)(Context&);

const std::map<std::string, Handler>& Handlers() {
  static const std::map<std::string, Handler> kHandlers = {
      {"vm.list", VmList},
      {"vm.get", VmGet},
      {"vm.create", VmCreate},
      {"vm.start", VmTransition},
      {"vm.save", VmTransition},
      {"vm.suspend", VmTransition},
      {"vm.resume", VmTransition},
      {"vm.shutdown", VmTransition},
      {"vm.poweroff", VmTransition},
      {"vm.reboot", VmTransition},
      {"vm.reset", VmTransition},
      {"vm.delete", VmDelete},
      {"vm.set", VmSet},
      {"vm.export-config", VmExportConfig},
      {"snapshot.list", SnapshotList},
      {"snapshot.create", SnapshotCreate},
      {"snapshot.revert", SnapshotRevert},
      {"snapshot.delete", SnapshotDelete},
      {"pool.list", PoolList},
      {"volume.list", VolumeList},
      {"volume.get", VolumeGet},
      {"volume.create", VolumeCreate},
      {"volume.resize", VolumeResize},
      {"volume.convert", VolumeConvert},
      {"volume.delete", VolumeDelete},
      {"network.list", NetworkList},
      {"host.info", HostInfo},
      {"migrate.check", MigrateCheck},
      {"migrate.live", MigrateLive},
      {"migrate.export", MigrateExport},
      {"migrate.import", MigrateImport},
      {"migrate.cleanup", MigrateCleanup},
  };
  return kHandlers;
}

// ---------------------------------------------------------------------------------------------
// Output

// Windows PowerShell 5.1's ConvertTo-Json (JavaScriptSerializer) writes ' < > & as \u escapes;
// 7.x does not. Those characters only occur inside JSON strings, so replacing them is safe.
std::string PsJson(const json& doc) {
  const std::string plain = doc.dump(-1, ' ', false, json::error_handler_t::strict);
  if (g_enums_as_strings) return plain;
  std::string out;
  for (const char ch : plain) {
    switch (ch) {
      case '\'':
        out += "\\u0027";
        break;
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

void PrintFrame(const json& doc) {
  // [Console]::Out.WriteLine on Windows ends lines with CR LF.
  std::string out;
  if (std::getenv("FAKE_PWSH_WARNING") != nullptr &&
      std::string_view(std::getenv("FAKE_PWSH_WARNING")) == "1") {
    out += "Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n";
    out +=
        "WARNING: The names of some imported commands from the module 'Hyper-V' include "
        "unapproved verbs that might make them less discoverable.\r\n";
  }
  out += "#hyperctl-result-begin\r\n" + Base64Encode(PsJson(doc)) + "\r\n#hyperctl-result-end\r\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    switch (ch) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

[[noreturn]] void CrashClixml() {
  const std::vector<std::string> lines = {
      "Get-VM : The term 'Get-VM' is not recognized as the name of a cmdlet, function, script "
      "file, or operable program. Check the spelling of the name, or if a path was included, "
      "verify that the path is correct and try again.",
      "At line:1 char:1",
      "+ Get-VM",
      "+ ~~~~~~",
      "    + CategoryInfo          : ObjectNotFound: (Get-VM:String) [], CommandNotFoundException",
      "    + FullyQualifiedErrorId : CommandNotFoundException"};
  std::string err =
      "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" "
      "xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">";
  for (const std::string& line : lines) {
    err += "<S S=\"Error\">" + XmlEscape(line) + "_x000D__x000A_</S>";
  }
  err += "</Objs>";
  std::fwrite(err.data(), 1, err.size(), stderr);
  std::fflush(stderr);
  std::_Exit(1);
}

// ---------------------------------------------------------------------------------------------
// The process

void WatchParent() {
  const pid_t parent = getppid();
  // Orphaned already (adopted by init): the session ended while we were
  // still starting (slowly, e.g. under a sanitizer), and the watch below
  // would never see the parent change.
  if (parent == 1) std::_Exit(1);
  std::thread([parent] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (getppid() != parent) std::_Exit(1);
    }
  }).detach();
}

std::vector<std::string> SplitSpaces(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t pos = s.find(' ', start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

// The source tree's scripts, read at run time: the very files the plugin embeds.
fs::path ScriptsDir() {
  return HYPERV_SCRIPTS_DIR;
}

void CheckArgv(const std::vector<std::string>& args) {
  static const std::vector<std::string> kFlags = {
      "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"};
  if (args.size() != kFlags.size() + 2) {
    Die(kBadArgv, "expected " + std::to_string(kFlags.size() + 1) + " arguments (" +
                      "-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass " +
                      "-EncodedCommand B64), got " + std::to_string(args.size() - 1));
  }
  for (std::size_t i = 0; i < kFlags.size(); ++i) {
    if (args[i + 1] != kFlags[i]) {
      Die(kBadArgv, "argument " + std::to_string(i + 1) + " is \"" + args[i + 1] +
                        "\", expected \"" + kFlags[i] + "\"");
    }
  }
  const auto bytes = Base64Decode(args.back());
  if (!bytes) Die(kBadArgv, "the -EncodedCommand argument is not base64");
  const auto text = Utf16LeToUtf8(*bytes);
  if (!text) Die(kBadArgv, "the -EncodedCommand argument is not UTF-16LE text");
  const fs::path bootstrap = ScriptsDir() / "bootstrap.ps1";
  const auto expected = ReadFile(bootstrap);
  if (!expected) Die(kBadArgv, "cannot read " + bootstrap.string());
  if (*text != *expected) {
    Die(kBadArgv, "the -EncodedCommand argument is not scripts/bootstrap.ps1 byte for byte (" +
                      std::to_string(text->size()) + " bytes, expected " +
                      std::to_string(expected->size()) + ")");
  }
}

void AppendLog(const json& entry) {
  const char* path = std::getenv("FAKE_PWSH_LOG");
  if (path == nullptr || *path == '\0') return;
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) Die(kNoState, std::string("cannot open FAKE_PWSH_LOG ") + path);
  flock(fd, LOCK_EX);
  const std::string line = entry.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  const ssize_t written = write(fd, line.data(), line.size());
  flock(fd, LOCK_UN);
  close(fd);
  if (written != static_cast<ssize_t>(line.size())) Die(kNoState, "cannot write FAKE_PWSH_LOG");
}

bool ValidOpName(const std::string& op) {
  if (op.empty() || op.size() > 64) return false;
  for (const char ch : op) {
    if (!(std::islower(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-')) return false;
  }
  return op.find("..") == std::string::npos && op.front() != '.';
}

// FAKE_PWSH_FAIL=op|category|message ("*" as op matches every op).
std::optional<PsError> InjectedFailure(const std::string& op) {
  const char* spec = std::getenv("FAKE_PWSH_FAIL");
  if (spec == nullptr || *spec == '\0') return std::nullopt;
  const std::string s = spec;
  const std::size_t a = s.find('|');
  const std::size_t b = a == std::string::npos ? a : s.find('|', a + 1);
  if (b == std::string::npos) Die(kBadArgv, "FAKE_PWSH_FAIL must be op|category|message");
  const std::string target = s.substr(0, a);
  if (target != op && target != "*") return std::nullopt;
  const std::string category = s.substr(a + 1, b - a - 1);
  return PsError{category, s.substr(b + 1),
                 category + ",Microsoft.HyperV.PowerShell.Commands." + CmdletOf(op),
                 "Microsoft.HyperV.PowerShell.VirtualizationException"};
}

int Run(const std::vector<std::string>& args) {
  const char* state_dir = std::getenv("FAKE_HYPERV_STATE");
  if (state_dir == nullptr || *state_dir == '\0') Die(kNoState, "FAKE_HYPERV_STATE is not set");
  g_enums_as_strings = std::string_view(EnvOr("FAKE_PWSH_STATE_AS", "number")) == "string";
  g_depth_truncate = std::string_view(EnvOr("FAKE_PWSH_DEPTH_TRUNCATE", "")) == "1";

  CheckArgv(args);

  // The bootstrap: [Console]::In.ReadToEnd().Trim(), base64, UTF-8, ConvertFrom-Json. One line.
  std::string input(std::istreambuf_iterator<char>(std::cin), {});
  while (!input.empty() && std::isspace(static_cast<unsigned char>(input.back()))) input.pop_back();
  if (input.find_first_of(" \t\r\n") != std::string::npos) {
    Die(1, "standard input is not one base64 line");
  }
  const auto request_text = Base64Decode(input);
  if (!request_text) Die(1, "standard input is not base64");
  const json request = json::parse(*request_text, nullptr, false);
  if (request.is_discarded() || !request.is_object() || !request.contains("op") ||
      !request["op"].is_string() || !request.contains("script") || !request["script"].is_string() ||
      !request.contains("data")) {
    Die(1, "standard input does not decode to a JSON {\"op\",\"script\",\"data\"}");
  }
  const std::string op = request["op"];
  const json& data = request["data"];

  bool script_ok = false;
  if (ValidOpName(op)) {
    const auto expected = ReadFile(ScriptsDir() / (op + ".ps1"));
    const std::string header = "# hyperctl-op: " + op;
    script_ok = expected && request["script"].get<std::string>() == *expected &&
                expected->compare(0, header.size(), header) == 0;
  }
  AppendLog({{"argv", args}, {"op", op}, {"data", data}, {"script_ok", script_ok}});
  if (!script_ok) {
    std::cerr << "fake-pwsh: script mismatch for " << op << "\n";
    return kScriptMismatch;
  }

  if (const char* slow = std::getenv("FAKE_PWSH_SLOW_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoll(slow)));
  }
  if (std::string_view(EnvOr("FAKE_PWSH_CRASH", "")) == "clixml") CrashClixml();

  json doc;
  if (const auto failure = InjectedFailure(op)) {
    doc = {{"ok", false},
           {"error",
            {{"message", failure->message},
             {"category", failure->category},
             {"id", failure->id},
             {"type", failure->type}}}};
    PrintFrame(doc);
    return 0;
  }
  const auto handler = Handlers().find(op);
  StateFile file{fs::path(state_dir)};
  file.Lock();
  json state = file.Load();
  const json loaded = state;
  try {
    if (handler == Handlers().end()) {
      Throw("NotImplemented", "fake-pwsh does not emulate " + op + ".", "NotImplemented",
            "System.NotImplementedException");
    }
    Context context{state, data, op, file};
    json result = handler->second(context);
    doc = {{"ok", true}, {"result", result}};
  } catch (const PsError& e) {
    doc = {{"ok", false},
           {"error",
            {{"message", e.message}, {"category", e.category}, {"id", e.id}, {"type", e.type}}}};
  }
  // What a script did before it failed stays done, as on Windows (vm.delete's Remove-VM before a
  // failing Remove-Item; vm.set's processors before a refused memory). A run that changed nothing
  // leaves the file as the test wrote it.
  if (state != loaded) file.Save(state);
  PrintFrame(doc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (const char* command = std::getenv("SSH_ORIGINAL_COMMAND")) {
    WatchParent();
    args = SplitSpaces(command);
  }
  try {
    return Run(args);
  } catch (const std::exception& e) {
    Die(kNoState, std::string("internal error: ") + e.what());
  }
}
