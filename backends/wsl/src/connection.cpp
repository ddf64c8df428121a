// WslConnection: look-ups shared by every operation group.
#include "connection.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "hyperctl/escape.hpp"
#include "migration.hpp"
#include "ops.hpp"

namespace hyperctl::wsl {
namespace {

bool looks_like_guid(const std::string& key) {
  if (key.size() != 36) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? key[i] != '-' : !std::isxdigit(static_cast<unsigned char>(key[i]))) return false;
  }
  return true;
}

bool windows_path(const std::string& p) {
  return p.find('\\') != std::string::npos ||
         (p.size() >= 2 && std::isalpha(static_cast<unsigned char>(p[0])) && p[1] == ':');
}

/// By name in `all`: an exact match, else one that differs only in ASCII
/// case (wsl.exe compares names without regard to case, so "ubuntu" is
/// taken when "Ubuntu" exists); nullopt when absent.
std::optional<Distro> by_name(const std::vector<Distro>& all, const std::string& name) {
  auto lower = [](std::string s) {
    for (char& ch : s)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return s;
  };
  std::optional<Distro> folded;
  for (const auto& d : all) {
    if (d.name() == name) return d;
    if (!folded && lower(d.name()) == lower(name)) folded = d;
  }
  return folded;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string guid_key(std::string text) {
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}')
    text = text.substr(1, text.size() - 2);
  for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text;
}

std::string quoted(const std::string& name) {
  return "'" + escape::terminal_text(name) + "'";
}

std::string Distro::id() const {
  return registry && !registry->guid.empty() ? registry->guid : listed.name;
}

std::string Distro::base_path() const {
  return registry ? registry->base_path : std::string();
}

std::optional<std::string> archive_format(const std::string& path) {
  std::string file =
      path.substr(path.find_last_of("/\\") == std::string::npos ? 0 : path.find_last_of("/\\") + 1);
  for (char& ch : file) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ends_with(file, ".tar.gz") || ends_with(file, ".tgz")) return "tar.gz";
  if (ends_with(file, ".tar.xz")) return "tar.xz";
  if (ends_with(file, ".tar")) return "tar";
  if (ends_with(file, ".vhd") || ends_with(file, ".vhdx")) return "vhd";
  return std::nullopt;
}

std::string join_path(const std::string& folder, const std::string& leaf) {
  if (folder.empty()) return leaf;
  const char sep = windows_path(folder) ? '\\' : '/';
  if (folder.back() == '/' || folder.back() == '\\') return folder + leaf;
  return folder + sep + leaf;
}

WslConnection::WslConnection(Uri uri, WslExe exe, std::string location, std::string host_name)
    : Connection(kBackendName),
      uri_(std::move(uri)),
      exe_(std::move(exe)),
      location_(std::move(location)),
      host_name_(std::move(host_name)),
      vms_(std::make_unique<WslVmOps>(*this)),
      storage_(std::make_unique<WslStorageOps>(*this)),
      host_(std::make_unique<WslHostOps>(*this)),
      migration_(std::make_unique<WslMigrationOps>(*this)) {}

WslConnection::~WslConnection() = default;

VmOps& WslConnection::vms() {
  return *vms_;
}
StorageOps& WslConnection::storage() {
  return *storage_;
}
HostOps& WslConnection::host() {
  return *host_;
}
MigrationOps& WslConnection::migration() {
  return *migration_;
}

std::vector<Distro> WslConnection::distros() const {
  const auto listed = exe_.list();
  std::vector<RegistryDistro> reg;
  if (!listed.empty()) reg = exe_.registry();
  std::vector<Distro> out;
  for (const auto& l : listed) {
    Distro d{l, std::nullopt};
    for (const auto& r : reg)
      if (r.name == l.name) d.registry = r;
    out.push_back(std::move(d));
  }
  return out;
}

Distro WslConnection::find(const VmRef& ref, const std::string& op) const {
  if (ref.value.empty())
    throw Error(ErrorCode::InvalidArgument, op + ": no distribution named", op);
  const auto all = distros();
  const std::string key = guid_key(ref.value);
  if (looks_like_guid(key))
    for (const auto& d : all)
      if (d.registry && guid_key(d.registry->guid) == key) return d;
  if (auto d = by_name(all, ref.value)) return *d;  // wsl.exe ignores case too
  throw Error(
      ErrorCode::NotFound,
      op + ": no WSL distribution " + quoted(ref.value) + " on " + escape::terminal_text(uri_.raw),
      op);
}

std::optional<Distro> WslConnection::find_name(const std::string& name) const {
  return by_name(distros(), name);
}

VmInfo WslConnection::describe(const Distro& d) const {
  VmInfo i;
  i.id = d.id();
  i.name = d.name();
  i.state = map_state(d.listed.state);
  i.state_reason = d.listed.state;
  // WSL 2 distributions share one utility VM: no vCPUs or memory of their own.
  const Volume v = volume_of(d);
  if (!v.path.empty()) {
    DiskInfo disk;
    disk.path = v.path;
    disk.format = v.format;
    disk.device = "disk";
    i.disks.push_back(disk);
  }
  i.host = host_name_;
  i.backend = kBackendName;
  i.guest_os = "linux";
  i.persistent = true;
  i.extras["wsl_version"] = std::to_string(d.listed.version);
  i.extras["default"] = d.listed.is_default ? "true" : "false";
  i.extras["base_path"] = d.base_path();
  i.extras["state"] = d.listed.state;
  return i;
}

std::string WslConnection::install_folder(const std::string& name, const std::string& op) const {
  if (location_.empty())
    throw Error(ErrorCode::InvalidArgument,
                op + ": importing distribution " + quoted(name) +
                    " needs a folder for its files: add ?location=FOLDER to the URI (" +
                    escape::terminal_text(uri_.raw) + ")",
                op);
  // The name becomes a folder: it must not climb out of the location.
  if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos)
    throw Error(
        ErrorCode::InvalidArgument,
        op + ": " + quoted(name) + " cannot name a distribution folder (no '/', '\\', '.' or '..')",
        op);
  // wsl.exe creates LOCATION/<name> but not LOCATION itself. A location
  // this machine can see (a local POSIX path) is made here; a Windows path
  // (C:\...) must exist already.
  if (!remote() && !location_.empty() && location_.front() == '/') {
    std::error_code ec;
    std::filesystem::create_directories(location_, ec);
    if (ec)
      throw Error(
          ErrorCode::BackendFailure,
          op + ": cannot create the location folder " + quoted(location_) + ": " + ec.message(),
          op);
  }
  return join_path(location_, name);
}

WslConnection* wsl_connection_of(Connection& connection) {
  return dynamic_cast<WslConnection*>(&connection);
}

}  // namespace hyperctl::wsl
