// Stand-in for wsl.exe (target fake-wsl) and, built with FAKE_REG=1, for reg.exe (target
// fake-reg). The WSL backend's tests run their real process path against it: it checks the
// arguments it receives, keeps its distributions in $FAKE_WSL_STATE/state.json and prints what
// wsl.exe prints, byte for byte where the reference and the public WSL sources say so. README.md
// next to this file lists the knobs and which outputs are recorded and which are chosen.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// wsl.exe exits with 0xFFFFFFFF; a Linux parent sees its low byte.
constexpr int kWslFailure = 255;
constexpr int kNoState = 127;
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::string_view kHeaderMagic = "FAKEWSL-EXPORT ";

const char* EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

// ---------------------------------------------------------------------------------------------
// Text

// Decodes UTF-8; every byte that does not start a well-formed sequence becomes U+FFFD, the way a
// Windows program sees a name that did not survive the trip through UTF-16.
std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && len > 1 && (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  const std::u32string decoded = DecodeUtf8(s);
  std::size_t replacements = std::count(decoded.begin(), decoded.end(), U'\uFFFD');
  // A literal U+FFFD in the input is three bytes EF BF BD; count those to tell them apart.
  std::size_t literal = 0;
  for (std::size_t pos = s.find("\xEF\xBF\xBD"); pos != std::string_view::npos;
       pos = s.find("\xEF\xBF\xBD", pos + 3)) {
    ++literal;
  }
  return replacements == literal;
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

void AppendUtf16Le(std::string& out, char32_t cp) {
  auto unit = [&out](char32_t u) {
    out.push_back(static_cast<char>(u & 0xFF));
    out.push_back(static_cast<char>((u >> 8) & 0xFF));
  };
  if (cp < 0x10000) {
    unit(cp);
  } else {
    cp -= 0x10000;
    unit(0xD800 + (cp >> 10));
    unit(0xDC00 + (cp & 0x3FF));
  }
}

// wsl.exe pads its columns with wprintf("%-*s"), so widths count UTF-16 code units.
std::size_t Utf16Units(std::string_view s) {
  std::size_t n = 0;
  for (char32_t cp : DecodeUtf8(s)) n += cp >= 0x10000 ? 2 : 1;
  return n;
}

std::string PadRight(std::string s, std::size_t width) {
  const std::size_t units = Utf16Units(s);
  if (units < width) s.append(width - units, ' ');
  return s;
}

// Replaces each "{}" of the pattern with the next argument.
std::string Fmt(std::string_view pattern, std::initializer_list<std::string_view> args) {
  std::string out;
  auto arg = args.begin();
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern.compare(i, 2, "{}") == 0 && arg != args.end()) {
      out += *arg++;
      i += 2;
    } else {
      out.push_back(pattern[i++]);
    }
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
           };
           return lower(x) == lower(y);
         });
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages. English and French strings come from the public WSL resources
// (localization/strings/*/Resources.resw) where the README says so; the rest are Windows system
// messages or shapes chosen here.

struct Text {
  const char* en;
  const char* fr;
};

bool g_french = false;

std::string Tr(const Text& t) {
  return g_french ? t.fr : t.en;
}

namespace msg {
constexpr Text kSuccess{"The operation completed successfully.", "L’opération a réussi."};
constexpr Text kErrorCode{"{}\nError code: {}", "{}\nCode d'erreur\u00a0: {}"};
constexpr Text kDistroNotFound{"There is no distribution with the supplied name.",
                               "Il n’existe aucune distribution avec le nom fourni."};
constexpr Text kNoDistros{
    "Windows Subsystem for Linux has no installed distributions.\n"
    "You can resolve this by installing a distribution with the instructions below:\n\n"
    "Use 'wsl.exe --list --online' to list available distributions\n"
    "and 'wsl.exe --install <Distro>' to install.",
    "Sous-système Windows pour Linux n’a aucune distribution installée.\n"
    "Vous pouvez résoudre ce problème en installant une distribution avec les instructions "
    "ci-dessous :\n\n"
    "Utiliser wsl.exe --list --online' pour répertorier les distributions disponibles\n"
    "et 'wsl.exe --install <Distro>' à installer."};
constexpr Text kInboxNoDistros{
    "Windows Subsystem for Linux has no installed distributions.\n"
    "Distributions can be installed by visiting the Microsoft Store:\n"
    "https://aka.ms/wslstore",
    "Le Sous-système Windows pour Linux n’a aucune distribution installée.\n"
    "Les distributions peuvent être installées à partir du Microsoft Store :\n"
    "https://aka.ms/wslstore"};
constexpr Text kNoRunning{"There are no running distributions.",
                          "Aucune distribution en cours d'exécution."};
constexpr Text kAlreadyExists{"A distribution with the supplied name already exists.",
                              "Une distribution portant le nom fourni existe déjà."};
constexpr Text kVhdInUse{
    "The operation could not be completed because the VHD is currently in use. To force WSL to "
    "stop use: wsl.exe --shutdown",
    "L'opération n'a pas pu être effectuée car le VHD est actuellement utilisé. Pour forcer "
    "l'arrêt de WSL, utilisez : wsl.exe --shutdown"};
constexpr Text kInvalidState{
    "An install, uninstall, or conversion is in progress for this distribution.",
    "Une installation, une désinstallation ou une conversion est en cours pour cette "
    "distribution."};
constexpr Text kInvalidArgument{
    "Invalid command line argument: {}\nPlease use 'wsl.exe --help' to get a list of supported "
    "arguments.",
    "Argument de ligne de commande non valide : {}\nUtilisez «\u00a0wsl.exe --help' pour obtenir "
    "la liste des arguments pris en charge."};
constexpr Text kInboxInvalidOption{"Invalid command line option: {}",
                                   "Option de ligne de commande non valide : {}"};
constexpr Text kMissingParameter{"Argument {} is missing a required parameter.",
                                 "Un paramètre obligatoire est manquant dans l’argument {}."};
constexpr Text kInvalidSize{"Invalid size: {}", "Taille non valide\u00a0: {}"};
constexpr Text kInvalidBoolean{"{} is not a valid boolean, <true|false>",
                               "{} n’est pas un booléen valide, <true|false>"};
constexpr Text kVersionParse{"A version number could not be parsed.",
                             "Un numéro de version n’a pas pu être analysé."};
constexpr Text kAlreadyVersion{"The distribution is already the requested version.",
                               "La distribution présente déjà la version demandée."};
constexpr Text kWsl2Needed{"This operation is only supported by WSL2.",
                           "Cette opération est uniquement prise en charge par WSL2."};
constexpr Text kSparseWsl2Only{
    "Sparse VHD is supported on WSL2 only.",
    "Le VHD partiellement alloué est pris en charge uniquement sur WSL2."};
constexpr Text kNotADistro{"The imported file is not a valid Linux distribution.",
                           "Le fichier importé n’est pas une distribution Linux valide."};
constexpr Text kPassVhd{
    "This looks like a VHD file. Use --vhd to import a VHD instead of a tar.",
    "Cela ressemble à un fichier VHD. Utilisez --vhd pour importer un VHD au lieu d’un tar."};
constexpr Text kRequiresExtension{"The specified file must have the {} file extension.",
                                  "Le fichier spécifié doit avoir l’extension de fichier {}."};
constexpr Text kInvalidName{"Invalid distribution name: \"{}\".",
                            "Nom de distribution non valide : «\u00a0{}\u00a0»."};
constexpr Text kCanceled{"The operation was canceled by the user.",
                         "L’opération a été annulée par l’utilisateur."};
constexpr Text kConfirmUnregister{
    "Unregistering '{}' permanently deletes the distribution and all its data. Continue? [y/N]",
    "L’annulation de l’inscription de « {} » supprime définitivement la distribution et toutes "
    "ses données. Continuer ? [o/N]"};
constexpr Text kConversionInfo{
    "For information on key differences with WSL 2 please visit https://aka.ms/wsl2",
    "Pour plus d'informations concernant les différences principales avec WSL 2, consultez "
    "https://aka.ms/wsl2"};
constexpr Text kConversionStart{
    "Conversion in progress, this may take a few minutes.",
    "Conversion en cours. Cette opération peut prendre quelques minutes."};
constexpr Text kStatusDefaultDistro{"Default Distribution: {}",
                                    "Distribution par défaut\u00a0: {}"};
constexpr Text kStatusDefaultVersion{"Default Version: {}", "Version par défaut\u00a0: {}"};
constexpr Text kPackageVersions{
    "WSL version: {}\nKernel version: {}\nWSLg version: {}\nMSRDC version: {}\nDirect3D version: "
    "{}\nDXCore version: {}\nWindows version: {}",
    "Version WSL : {}\nVersion du noyau : {}\nVersion WSLg : {}\nVersion MSRDC : {}\nVersion "
    "direct3D : {}\nVersion de DXCore : {}\nVersion de Windows : {}"};
constexpr Text kRegisteredHeader{"Windows Subsystem for Linux Distributions:",
                                 "Distributions du Sous-système Windows pour Linux\u00a0:"};
constexpr Text kPrintDefault{"{} (Default)", "{} (par défaut)"};
constexpr Text kHeaderName{"NAME", "NOM"};
constexpr Text kHeaderState{"STATE", "ÉTAT"};
constexpr Text kHeaderVersion{"VERSION", "VERSION"};
// Windows system messages (FormatMessage) for the HRESULTs used below.
constexpr Text kInvalidParameter{"The parameter is incorrect.", "Paramètre incorrect."};
constexpr Text kFileNotFound{"The system cannot find the file specified.",
                             "Le fichier spécifié est introuvable."};
constexpr Text kPathNotFound{"The system cannot find the path specified.",
                             "Le chemin d’accès spécifié est introuvable."};
constexpr Text kFileExists{"The file exists.", "Le fichier existe."};
constexpr Text kExportFailed{"Exporting the distribution failed.",
                             "Échec de l’exportation de la distribution."};
constexpr Text kImportFailed{"Importing the distribution failed.",
                             "Échec de l’importation de la distribution."};
constexpr Text kNotImplemented{"Not implemented", "Non implémenté"};
constexpr Text kAccessDenied{"Access is denied.", "Accès refusé."};
// Chosen here: the real usage text is several screens long.
constexpr Text kUsage{
    "Copyright (c) Microsoft Corporation. All rights reserved.\n\n"
    "Usage: wsl.exe [Argument] [Options...] [CommandLine]\n\n"
    "    --exec, -e <CommandLine>    --distribution, -d <Distro>    --user, -u <UserName>\n"
    "    --list, -l [--all] [--running] [--quiet, -q] [--verbose, -v]\n"
    "    --export <Distro> <FileName> [--format <tar|tar.gz|tar.xz|vhd>]\n"
    "    --import <Distro> <InstallLocation> <FileName> [--version <1|2>] [--vhd]\n"
    "    --import-in-place <Distro> <FileName>    --unregister <Distro> [--force]\n"
    "    --manage <Distro> --move <Location> | --set-sparse <true|false> | --resize <Size>\n"
    "    --set-default, -s <Distro>    --set-version <Distro> <1|2>    --set-default-version "
    "<1|2>\n"
    "    --terminate, -t <Distro>    --shutdown [--force]    --status    --version, -v    --help",
    "Copyright (c) Microsoft Corporation. Tous droits réservés.\n\n"
    "Utilisation : wsl.exe [Argument] [Options...] [Ligne de commande]\n\n"
    "    --exec, -e <CommandLine>    --distribution, -d <Distro>    --user, -u <UserName>\n"
    "    --list, -l [--all] [--running] [--quiet, -q] [--verbose, -v]\n"
    "    --export <Distro> <FileName> [--format <tar|tar.gz|tar.xz|vhd>]\n"
    "    --import <Distro> <InstallLocation> <FileName> [--version <1|2>] [--vhd]\n"
    "    --import-in-place <Distro> <FileName>    --unregister <Distro> [--force]\n"
    "    --manage <Distro> --move <Location> | --set-sparse <true|false> | --resize <Size>\n"
    "    --set-default, -s <Distro>    --set-version <Distro> <1|2>    --set-default-version "
    "<1|2>\n"
    "    --terminate, -t <Distro>    --shutdown [--force]    --status    --version, -v    --help"};
constexpr Text kInboxUsage{
    "Copyright (c) Microsoft Corporation. All rights reserved.\n\n"
    "Usage: wsl.exe [Argument] [Options...] [CommandLine]\n\n"
    "    -d, --distribution <Distro>    -u, --user <UserName>    -l, --list [--all] [--running]\n"
    "    --export <Distro> <FileName>    --import <Distro> <InstallLocation> <FileName>\n"
    "    --set-default, -s <Distro>    --terminate, -t <Distro>    --unregister <Distro>    "
    "--help",
    "Copyright (c) Microsoft Corporation. Tous droits réservés.\n\n"
    "Utilisation : wsl.exe [Argument] [Options...] [Ligne de commande]\n\n"
    "    -d, --distribution <Distro>    -u, --user <UserName>    -l, --list [--all] [--running]\n"
    "    --export <Distro> <FileName>    --import <Distro> <InstallLocation> <FileName>\n"
    "    --set-default, -s <Distro>    --terminate, -t <Distro>    --unregister <Distro>    "
    "--help"};
}  // namespace msg

// ---------------------------------------------------------------------------------------------
// Output

enum class Encoding { kUtf16, kUtf16Bom, kUtf8 };

// Standard output as wsl.exe's CRT sets it up: _O_U16TEXT (UTF-16LE, no BOM) unless WSL_UTF8=1,
// in text mode so every "\n" leaves as "\r\n".
class Console {
 public:
  Console(Encoding encoding, std::string newline)
      : encoding_(encoding), newline_(std::move(newline)) {}

  // Prints a message and a line break; a "\n" inside the message is a line break too.
  void Print(std::string_view text) { Emit(std::string(text) + "\n"); }

 private:
  void Emit(std::string_view text) {
    std::string bytes;
    if (encoding_ == Encoding::kUtf16Bom && !bom_written_) {
      bytes += "\xFF\xFE";
      bom_written_ = true;
    }
    for (char32_t cp : DecodeUtf8(text)) {
      if (cp == U'\n') {
        for (char c : newline_) Append(bytes, static_cast<unsigned char>(c));
      } else {
        Append(bytes, cp);
      }
    }
    WriteAll(bytes);
  }

  void Append(std::string& bytes, char32_t cp) const {
    if (encoding_ == Encoding::kUtf8) {
      AppendUtf8(bytes, cp);
    } else {
      AppendUtf16Le(bytes, cp);
    }
  }

  static void WriteAll(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  Encoding encoding_;
  std::string newline_;
  bool bom_written_ = false;
};

// A failure as wsl.exe reports it: the message, then "Error code: <code>" unless code is empty.
struct WslFailure {
  std::string message;
  std::string code;
};

[[noreturn]] void Fail(std::string message, std::string code = {}) {
  throw WslFailure{std::move(message), std::move(code)};
}

// ---------------------------------------------------------------------------------------------
// Logging: one JSON line per invocation, so tests can assert on what the program received.

void AppendLog(const json& entry) {
  const char* path = std::getenv("FAKE_WSL_LOG");
  if (path == nullptr || *path == '\0') return;
  const std::string line = entry.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write with O_APPEND keeps lines of concurrent invocations whole.
  [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

void LogInvocation(const char* prog, int argc, char** argv) {
  json entry;
  entry["prog"] = prog;
  entry["argv"] = json::array();
  bool all_utf8 = true;
  for (int i = 1; i < argc; ++i) {
    entry["argv"].push_back(argv[i]);
    all_utf8 = all_utf8 && IsValidUtf8(argv[i]);
  }
  if (!all_utf8) {
    // "argv" replaced the bad bytes with U+FFFD; keep the exact bytes too.
    entry["argv_hex"] = json::array();
    for (int i = 1; i < argc; ++i) entry["argv_hex"].push_back(Hex(argv[i]));
  }
  entry["env"] = json::object();
  for (const char* name : {"WSL_UTF8", "WSLENV"}) {
    if (const char* value = std::getenv(name)) entry["env"][name] = value;
  }
  std::error_code ec;
  entry["cwd"] = fs::current_path(ec).string();
  AppendLog(entry);
}

// ---------------------------------------------------------------------------------------------
// State: $FAKE_WSL_STATE/state.json, guarded by an exclusive flock on $FAKE_WSL_STATE/lock.

class StateLock {
 public:
  explicit StateLock(const fs::path& dir) {
    fd_ = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~StateLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  int fd_ = -1;
};

json LoadState(const fs::path& dir) {
  json doc = json::object();
  std::ifstream in(dir / "state.json", std::ios::binary);
  if (in) {
    try {
      in >> doc;
    } catch (const json::exception& e) {
      std::fprintf(stderr, "fake-wsl: %s/state.json is not valid JSON: %s\n", dir.c_str(),
                   e.what());
      std::exit(kNoState);
    }
  }
  if (!doc.contains("wsl_version")) doc["wsl_version"] = "2.3.24.0";
  if (!doc.contains("kernel_version")) doc["kernel_version"] = "5.15.153.1-2";
  if (!doc.contains("default_version")) doc["default_version"] = 2;
  if (!doc.contains("distros")) doc["distros"] = json::array();
  return doc;
}

void SaveState(const fs::path& dir, const json& doc) {
  const fs::path tmp = dir / ("state.json.tmp." + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  }
  fs::rename(tmp, dir / "state.json");
}

std::string Name(const json& d) {
  return d.value("name", "");
}
std::string StateOf(const json& d) {
  return d.value("state", "Stopped");
}
int VersionOf(const json& d) {
  return d.value("version", 2);
}
bool IsBusy(const json& d) {
  const std::string s = StateOf(d);
  return s == "Installing" || s == "Uninstalling" || s == "Converting" || s == "Exporting";
}

fs::path DiskPath(const json& d) {
  const fs::path base = d.value("base_path", "");
  return VersionOf(d) == 2 ? base / d.value("vhd_file_name", "ext4.vhdx") : base / "rootfs.img";
}

// Index of the default distribution: the first one marked "default": true.
std::optional<std::size_t> DefaultIndex(const json& doc) {
  const json& distros = doc["distros"];
  for (std::size_t i = 0; i < distros.size(); ++i) {
    if (distros[i].value("default", false)) return i;
  }
  return std::nullopt;
}

void SetDefault(json& doc, std::size_t index) {
  json& distros = doc["distros"];
  for (std::size_t i = 0; i < distros.size(); ++i) distros[i]["default"] = (i == index);
}

// Distribution names compare case-insensitively, as in the registry.
std::optional<std::size_t> FindIndex(const json& doc, std::string_view name) {
  const json& distros = doc["distros"];
  for (std::size_t i = 0; i < distros.size(); ++i) {
    if (IEquals(Name(distros[i]), name)) return i;
  }
  return std::nullopt;
}

std::string NewGuid() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<std::uint64_t>(::getpid()));
  std::uint64_t hi = gen();
  std::uint64_t lo = gen();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;  // version 4
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);
  char buf[64];
  std::snprintf(buf, sizeof buf, "{%08llx-%04llx-%04llx-%04llx-%012llx}",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Byte streams for export and import: 64 KiB chunks, FAKE_WSL_SLOW_MS and FAKE_WSL_DIE_AFTER.

class Pump {
 public:
  Pump() {
    slow_ms_ = std::strtoll(EnvOr("FAKE_WSL_SLOW_MS", "0"), nullptr, 10);
    if (const char* die = std::getenv("FAKE_WSL_DIE_AFTER"); die != nullptr && *die != '\0') {
      die_after_ = std::strtoull(die, nullptr, 10);
    }
  }

  // Writes everything or returns false; dies by SIGKILL once die_after_ bytes are out.
  bool Write(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      std::size_t n = size;
      if (die_after_) n = std::min<std::size_t>(n, *die_after_ - written_);
      if (n > 0 && !WriteAll(fd, data, n)) return false;
      written_ += n;
      data += n;
      size -= n;
      if (die_after_ && written_ >= *die_after_) std::raise(SIGKILL);
    }
    return true;
  }

  void Pace() const {
    if (slow_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
  }

 private:
  static bool WriteAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  long long slow_ms_ = 0;
  std::optional<std::uint64_t> die_after_;
  std::uint64_t written_ = 0;
};

ssize_t ReadSome(int fd, char* buf, std::size_t size) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, size);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Argument parsing shared by the subcommands (wsl.exe's ArgumentParser: positionals and
// options in any order).

struct Parsed {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;  // canonical name, value

  const std::string* Option(std::string_view name) const {
    for (const auto& [key, value] : options) {
      if (key == name) return &value;
    }
    return nullptr;
  }
  bool Has(std::string_view name) const { return Option(name) != nullptr; }
};

struct OptionSpec {
  std::vector<std::string_view> spellings;  // the first is the canonical name
  bool takes_value;
};

class Wsl {
 public:
  Wsl(fs::path state_dir, Console& console, bool inbox)
      : dir_(std::move(state_dir)), out_(console), inbox_(inbox) {}

  int Run(const std::vector<std::string>& args);

 private:
  [[noreturn]] void InvalidArgument(const std::string& arg, bool with_code) {
    if (inbox_) InboxReject(arg);
    Fail(Fmt(Tr(msg::kInvalidArgument), {arg}), with_code ? "Wsl/E_INVALIDARG" : "");
  }
  [[noreturn]] void InboxReject(const std::string& arg) {
    Fail(Fmt(Tr(msg::kInboxInvalidOption), {arg}) + "\n" + Tr(msg::kInboxUsage));
  }
  [[noreturn]] void Usage() { Fail(Tr(inbox_ ? msg::kInboxUsage : msg::kUsage)); }
  [[noreturn]] void MissingParameter(std::string_view arg) {
    Fail(Fmt(Tr(msg::kMissingParameter), {arg}));
  }
  [[noreturn]] static void NotFound() {
    Fail(Tr(msg::kDistroNotFound), "Wsl/Service/WSL_E_DISTRO_NOT_FOUND");
  }
  [[noreturn]] static void NotStopped(std::string_view context) {
    Fail(Tr(msg::kVhdInUse),
         std::string("Wsl/Service/") + std::string(context) + "WSL_E_DISTRO_NOT_STOPPED");
  }
  [[noreturn]] static void Busy(std::string_view context) {
    Fail(Tr(msg::kInvalidState),
         std::string("Wsl/Service/") + std::string(context) + "E_ILLEGAL_STATE_CHANGE");
  }
  void Success() { out_.Print(Tr(msg::kSuccess)); }

  Parsed Parse(const std::vector<std::string>& args, std::size_t from,
               const std::vector<OptionSpec>& specs);
  static int ParseVersion(const std::string& text);
  json& Lookup(json& doc, const std::string& name) {
    const auto index = FindIndex(doc, name);
    if (!index) NotFound();
    return doc["distros"][*index];
  }

  int Launch(const std::optional<std::string>& distro);
  int List(const std::vector<std::string>& args, std::size_t from);
  int Terminate(const std::string& name);
  int SetDefaultDistro(const std::string& name);
  int Unregister(const std::vector<std::string>& args, std::size_t from);
  int Shutdown(const std::vector<std::string>& args, std::size_t from);
  int SetVersion(const std::vector<std::string>& args, std::size_t from);
  int SetDefaultVersion(const std::vector<std::string>& args, std::size_t from);
  int Manage(const std::vector<std::string>& args, std::size_t from);
  int Export(const std::vector<std::string>& args, std::size_t from);
  int Import(const std::vector<std::string>& args, std::size_t from);
  int ImportInPlace(const std::vector<std::string>& args, std::size_t from);
  int Status();
  int Version();
  void CheckImportName(const std::string& name);

  fs::path dir_;
  Console& out_;
  bool inbox_;
};

Parsed Wsl::Parse(const std::vector<std::string>& args, std::size_t from,
                  const std::vector<OptionSpec>& specs) {
  Parsed parsed;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& candidate : specs) {
      for (auto spelling : candidate.spellings) {
        if (arg == spelling) spec = &candidate;
      }
    }
    if (spec == nullptr) InvalidArgument(arg, true);
    std::string value;
    if (spec->takes_value) {
      if (i + 1 >= args.size()) {
        Fail(Fmt(Tr(msg::kMissingParameter), {arg}), inbox_ ? "" : "Wsl/E_INVALIDARG");
      }
      value = args[++i];
    }
    parsed.options.emplace_back(std::string(spec->spellings.front()), value);
  }
  return parsed;
}

int Wsl::ParseVersion(const std::string& text) {
  if (text == "1" || text == "2") return text[0] - '0';
  Fail(Tr(msg::kVersionParse), "Wsl/ERROR_VERSION_PARSE_ERROR");
}

int Wsl::Run(const std::vector<std::string>& args) {
  // Options wsl.exe gained after the inbox version; an inbox wsl.exe rejects them by name.
  static const std::vector<std::string_view> kNewer = {"--set-version",
                                                       "--shutdown",
                                                       "--manage",
                                                       "--import-in-place",
                                                       "--status",
                                                       "--version",
                                                       "-v",
                                                       "--exec",
                                                       "-e",
                                                       "--verbose",
                                                       "--set-default-version"};
  std::optional<std::string> distro;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (inbox_ && std::find(kNewer.begin(), kNewer.end(), arg) != kNewer.end()) InboxReject(arg);
    auto value = [&](std::string_view long_name) -> std::string {
      if (i + 1 >= args.size()) MissingParameter(long_name);
      return args[++i];
    };
    if (arg == "-d" || arg == "--distribution") {
      const std::string name = value("--distribution");
      StateLock lock(dir_);
      json doc = LoadState(dir_);
      Lookup(doc, name);
      distro = name;
    } else if (arg == "-u" || arg == "--user") {
      value("--user");
    } else if (arg == "--cd") {
      value("--cd");
    } else if (arg == "-e" || arg == "--exec" || arg == "--") {
      return Launch(distro);
    } else if (arg == "-l" || arg == "--list") {
      return List(args, i + 1);
    } else if (arg == "-s" || arg == "--set-default" || arg == "--setdefault") {
      return SetDefaultDistro(value("--set-default"));
    } else if (arg == "-t" || arg == "--terminate") {
      return Terminate(value("--terminate"));
    } else if (arg == "--unregister") {
      return Unregister(args, i + 1);
    } else if (arg == "--shutdown") {
      return Shutdown(args, i + 1);
    } else if (arg == "--set-version") {
      return SetVersion(args, i + 1);
    } else if (arg == "--set-default-version") {
      return SetDefaultVersion(args, i + 1);
    } else if (arg == "--manage") {
      return Manage(args, i + 1);
    } else if (arg == "--export") {
      return Export(args, i + 1);
    } else if (arg == "--import") {
      return Import(args, i + 1);
    } else if (arg == "--import-in-place") {
      return ImportInPlace(args, i + 1);
    } else if (arg == "--status") {
      return Status();
    } else if (arg == "--version" || arg == "-v") {
      return Version();
    } else if (arg == "--help") {
      Usage();
    } else if (!arg.empty() && arg[0] == '-') {
      InvalidArgument(arg, false);
    } else {
      // Anything else starts the command line to run in the distribution.
      return Launch(distro);
    }
  }
  return Launch(distro);
}

int Wsl::Launch(const std::optional<std::string>& distro) {
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  json* d = nullptr;
  if (distro) {
    d = &Lookup(doc, *distro);
  } else {
    const auto index = DefaultIndex(doc);
    if (!index) Fail(Tr(msg::kNoDistros), "Wsl/Service/WSL_E_DEFAULT_DISTRO_NOT_FOUND");
    d = &doc["distros"][*index];
  }
  if (IsBusy(*d)) Busy("CreateInstance/");
  (*d)["state"] = "Running";
  SaveState(dir_, doc);
  return 0;
}

int Wsl::List(const std::vector<std::string>& args, std::size_t from) {
  for (std::size_t i = from; i < args.size(); ++i) {
    if (inbox_ && (args[i] == "-v" || args[i] == "--verbose" || args[i] == "-q" ||
                   args[i] == "--quiet" || args[i] == "-o" || args[i] == "--online")) {
      InboxReject(args[i]);
    }
  }
  const Parsed p = Parse(args, from,
                         {{{"--verbose", "-v"}, false},
                          {{"--quiet", "-q"}, false},
                          {{"--all"}, false},
                          {{"--running"}, false},
                          {{"--online", "-o"}, false}});
  if (!p.positional.empty()) InvalidArgument(p.positional.front(), true);
  const bool verbose = p.Has("--verbose");
  const bool quiet = p.Has("--quiet");
  const bool all = p.Has("--all");
  const bool running = p.Has("--running");
  if ((quiet && verbose) || (all && running) || p.Has("--online")) Usage();

  StateLock lock(dir_);
  const json doc = LoadState(dir_);
  // The default first, the others in registry (state.json) order.
  std::vector<json> distros(doc["distros"].begin(), doc["distros"].end());
  std::stable_partition(distros.begin(), distros.end(),
                        [](const json& d) { return d.value("default", false); });
  // Only the first "default": true counts.
  bool seen_default = false;
  for (json& d : distros) {
    const bool is_default = d.value("default", false) && !seen_default;
    seen_default = seen_default || is_default;
    d["default"] = is_default;
  }

  const std::string no_distros_code = "Wsl/WSL_E_DEFAULT_DISTRO_NOT_FOUND";
  if (verbose) {
    if (distros.empty()) Fail(Tr(msg::kNoDistros), no_distros_code);
    std::size_t width = Utf16Units(Tr(msg::kHeaderName));
    for (const json& d : distros) width = std::max(width, Utf16Units(Name(d)));
    auto row = [&](std::string_view mark, const std::string& name, const std::string& state,
                   const std::string& version) {
      return std::string(mark) + " " + PadRight(name, width + 4) + PadRight(state, 16) + version;
    };
    out_.Print(row(" ", Tr(msg::kHeaderName), Tr(msg::kHeaderState), Tr(msg::kHeaderVersion)));
    for (const json& d : distros) {
      out_.Print(row(d["default"].get<bool>() ? "*" : " ", Name(d), StateOf(d),
                     std::to_string(VersionOf(d))));
    }
    return 0;
  }

  if (running) {
    std::erase_if(distros, [](const json& d) { return StateOf(d) != "Running"; });
    if (!quiet && distros.empty()) {
      out_.Print(Tr(msg::kNoRunning));
      return kWslFailure;
    }
  }
  if (!all) std::erase_if(distros, [](const json& d) { return IsBusy(d); });
  if (!quiet) {
    if (distros.empty()) {
      if (inbox_) Fail(Tr(msg::kInboxNoDistros));
      Fail(Tr(msg::kNoDistros), no_distros_code);
    }
    out_.Print(Tr(msg::kRegisteredHeader));
  }
  for (const json& d : distros) {
    if (!quiet && d["default"].get<bool>()) {
      out_.Print(Fmt(Tr(msg::kPrintDefault), {Name(d)}));
    } else {
      out_.Print(Name(d));
    }
  }
  return 0;
}

int Wsl::Terminate(const std::string& name) {
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  json& d = Lookup(doc, name);
  if (StateOf(d) == "Running") d["state"] = "Stopped";
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::SetDefaultDistro(const std::string& name) {
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  Lookup(doc, name);
  SetDefault(doc, *FindIndex(doc, name));
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::Unregister(const std::vector<std::string>& args, std::size_t from) {
  if (from >= args.size()) MissingParameter("--unregister");
  const std::string name = args[from];
  bool force = false;
  if (!inbox_) {
    // An inbox wsl.exe neither prompts nor knows --force; like wsl.exe, it ignores what follows.
    const Parsed p = Parse(args, from + 1, {{{"--force"}, false}});
    if (!p.positional.empty()) InvalidArgument(p.positional.front(), true);
    force = p.Has("--force");
  }
  {
    StateLock lock(dir_);
    json doc = LoadState(dir_);
    Lookup(doc, name);
  }
  if (!inbox_ && !force) {
    // Newer wsl.exe asks first; with stdin redirected the answer is "no".
    if (::isatty(STDIN_FILENO) == 0) Fail(Tr(msg::kCanceled), "Wsl/ERROR_CANCELLED");
    out_.Print(Fmt(Tr(msg::kConfirmUnregister), {name}));
    std::string answer;
    char c = 0;
    while (ReadSome(STDIN_FILENO, &c, 1) == 1 && c != '\n') answer.push_back(c);
    if (answer.empty() ||
        (answer[0] != 'y' && answer[0] != 'Y' && answer[0] != 'o' && answer[0] != 'O')) {
      Fail(Tr(msg::kCanceled), "Wsl/ERROR_CANCELLED");
    }
  }
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  const auto index = FindIndex(doc, name);
  if (!index) NotFound();
  const json d = doc["distros"][*index];
  const bool was_default = DefaultIndex(doc) == index;
  std::error_code ec;
  fs::remove(DiskPath(d), ec);
  if (const std::string base = d.value("base_path", ""); !base.empty() && fs::is_empty(base, ec)) {
    fs::remove(base, ec);
  }
  doc["distros"].erase(*index);
  if (was_default && !doc["distros"].empty()) SetDefault(doc, 0);
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::Shutdown(const std::vector<std::string>& args, std::size_t from) {
  const Parsed p = Parse(args, from, {{{"--force"}, false}});
  if (!p.positional.empty()) InvalidArgument(p.positional.front(), true);
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  for (json& d : doc["distros"]) {
    if (StateOf(d) == "Running") d["state"] = "Stopped";
  }
  SaveState(dir_, doc);
  return 0;
}

int Wsl::SetVersion(const std::vector<std::string>& args, std::size_t from) {
  if (from >= args.size()) MissingParameter("--set-version");
  const std::string name = args[from];
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  json& d = Lookup(doc, name);
  const int version = ParseVersion(from + 1 < args.size() ? args[from + 1] : "");
  if (version == 2) out_.Print(Tr(msg::kConversionInfo));
  out_.Print(Tr(msg::kConversionStart));
  if (IsBusy(d)) Busy("");
  if (VersionOf(d) == version) {
    Fail(Tr(msg::kAlreadyVersion), "Wsl/Service/WSL_E_VM_MODE_INVALID_STATE");
  }
  if (StateOf(d) == "Running") NotStopped("");
  const fs::path from_disk = DiskPath(d);
  json converted = d;
  converted["version"] = version;
  converted.erase("vhd_file_name");
  const fs::path to_disk = DiskPath(converted);
  std::error_code ec;
  if (fs::exists(from_disk, ec)) fs::rename(from_disk, to_disk, ec);
  if (ec) Fail(Tr(msg::kAccessDenied), "Wsl/Service/E_ACCESSDENIED");
  d = converted;
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::SetDefaultVersion(const std::vector<std::string>& args, std::size_t from) {
  const int version = ParseVersion(from < args.size() ? args[from] : "");
  if (version == 2) out_.Print(Tr(msg::kConversionInfo));
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  doc["default_version"] = version;
  SaveState(dir_, doc);
  Success();
  return 0;
}

// The size grammar of wsl.exe (ParseMemorySize): digits, then nothing or B, K/KB, M/MB, G/GB,
// T/TB, case-sensitive.
std::optional<std::uint64_t> ParseSize(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) return std::nullopt;
  const std::uint64_t value = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  static const std::vector<std::pair<std::vector<std::string>, int>> kUnits = {
      {{"", "B"}, 0}, {{"K", "KB"}, 10}, {{"M", "MB"}, 20}, {{"G", "GB"}, 30}, {{"T", "TB"}, 40}};
  for (const auto& [spellings, shift] : kUnits) {
    if (std::find(spellings.begin(), spellings.end(), unit) != spellings.end()) {
      if (shift > 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
      return value << shift;
    }
  }
  return std::nullopt;
}

int Wsl::Manage(const std::vector<std::string>& args, std::size_t from) {
  const Parsed p = Parse(args, from,
                         {{{"--move"}, true},
                          {{"--set-sparse"}, true},
                          {{"--allow-unsafe"}, false},
                          {{"--resize"}, true},
                          {{"--set-default-user"}, true}});
  std::optional<std::uint64_t> size;
  if (const std::string* text = p.Option("--resize")) {
    size = ParseSize(*text);
    if (!size) Fail(Fmt(Tr(msg::kInvalidSize), {*text}), "Wsl/E_INVALIDARG");
  }
  std::optional<bool> sparse;
  if (const std::string* text = p.Option("--set-sparse")) {
    if (IEquals(*text, "true")) {
      sparse = true;
    } else if (IEquals(*text, "false")) {
      sparse = false;
    } else {
      Fail(Fmt(Tr(msg::kInvalidBoolean), {*text}), "Wsl/E_INVALIDARG");
    }
  }
  if (p.positional.size() != 1) Usage();
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  json& d = Lookup(doc, p.positional[0]);
  const int operations =
      p.Has("--move") + p.Has("--set-sparse") + p.Has("--resize") + p.Has("--set-default-user");
  if (operations != 1) Usage();

  if (const std::string* location = p.Option("--move")) {
    if (IsBusy(d)) Busy("MoveDistro/");
    if (StateOf(d) == "Running") NotStopped("MoveDistro/");
    if (VersionOf(d) != 2) Fail(Tr(msg::kNotImplemented), "Wsl/Service/MoveDistro/E_NOTIMPL");
    const fs::path target_dir = fs::absolute(*location);
    const fs::path source = DiskPath(d);
    const fs::path target = target_dir / source.filename();
    std::error_code ec;
    fs::create_directories(target_dir, ec);
    if (ec) Fail(Tr(msg::kPathNotFound), "Wsl/Service/MoveDistro/ERROR_PATH_NOT_FOUND");
    if (fs::exists(target, ec) && !fs::equivalent(source, target, ec)) {
      Fail(Tr(msg::kFileExists), "Wsl/Service/MoveDistro/ERROR_FILE_EXISTS");
    }
    fs::rename(source, target, ec);
    if (ec) {
      // Another filesystem: copy, then remove the original.
      ec.clear();
      fs::copy_file(source, target, ec);
      if (ec) Fail(Tr(msg::kAccessDenied), "Wsl/Service/MoveDistro/E_ACCESSDENIED");
      fs::remove(source, ec);
    }
    d["base_path"] = target_dir.string();
  } else if (sparse) {
    if (VersionOf(d) != 2) Fail(Tr(msg::kSparseWsl2Only), "Wsl/Service/WSL_E_WSL2_NEEDED");
    if (IsBusy(d)) Busy("");
    if (StateOf(d) == "Running") NotStopped("");
    d["sparse"] = *sparse;
  } else if (size) {
    if (VersionOf(d) != 2) Fail(Tr(msg::kWsl2Needed), "Wsl/Service/WSL_E_WSL2_NEEDED");
    if (IsBusy(d)) Busy("");
    if (StateOf(d) == "Running") NotStopped("");
    d["size_bytes"] = *size;
  } else {
    d["default_user"] = *p.Option("--set-default-user");
  }
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::Export(const std::vector<std::string>& args, std::size_t from) {
  if (inbox_) {
    for (std::size_t i = from; i < args.size(); ++i) {
      if (args[i] == "--format" || args[i] == "--vhd") InboxReject(args[i]);
    }
  }
  const Parsed p = Parse(args, from, {{{"--format"}, true}, {{"--vhd"}, false}});
  std::string format = "tar";
  if (const std::string* f = p.Option("--format")) {
    if (*f != "tar" && *f != "tar.gz" && *f != "tar.xz" && *f != "vhd") {
      Fail(Tr(msg::kInvalidParameter), "Wsl/E_INVALIDARG");
    }
    format = *f;
  }
  if (p.Has("--vhd")) {
    if (format == "tar.gz" || format == "tar.xz") Usage();
    format = "vhd";
  }
  if (p.positional.size() > 2) InvalidArgument(p.positional[2], true);
  if (p.positional.size() < 2) Usage();
  const std::string& name = p.positional[0];
  const std::string& file = p.positional[1];
  const bool to_stdout = file == "-";

  // Like wsl.exe: the target file is created first, written in place and deleted again when the
  // export fails (but not when the process is killed).
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == ENOENT) Fail(Tr(msg::kPathNotFound), "Wsl/ERROR_PATH_NOT_FOUND");
      Fail(Tr(msg::kAccessDenied), "Wsl/E_ACCESSDENIED");
    }
  }
  struct Cleanup {
    int fd;
    const std::string* path;
    bool armed = true;
    ~Cleanup() {
      if (path == nullptr) return;
      ::close(fd);
      if (armed) ::unlink(path->c_str());
    }
  } cleanup{fd, to_stdout ? nullptr : &file};

  fs::path disk;
  {
    StateLock lock(dir_);
    json doc = LoadState(dir_);
    const json& d = Lookup(doc, name);
    if (IsBusy(d)) Busy("ExportDistro/");
    if (format == "vhd") {
      if (VersionOf(d) != 2)
        Fail(Tr(msg::kWsl2Needed), "Wsl/Service/ExportDistro/WSL_E_WSL2_NEEDED");
      if (StateOf(d) == "Running") NotStopped("ExportDistro/");
      if (!to_stdout && !IEquals(fs::path(file).extension().string(), ".vhdx")) {
        Fail(Fmt(Tr(msg::kRequiresExtension), {".vhdx"}),
             "Wsl/Service/ExportDistro/WSL_E_EXPORT_FAILED");
      }
    }
    disk = DiskPath(d);
  }

  const int in = ::open(disk.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) Fail(Tr(msg::kFileNotFound), "Wsl/Service/ExportDistro/ERROR_FILE_NOT_FOUND");
  Pump pump;
  const std::string header = std::string(kHeaderMagic) + format + "\n";
  bool ok = pump.Write(fd, header.data(), header.size());
  std::vector<char> buf(kChunk);
  while (ok) {
    const ssize_t n = ReadSome(in, buf.data(), buf.size());
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    pump.Pace();
    ok = pump.Write(fd, buf.data(), static_cast<std::size_t>(n));
  }
  ::close(in);
  if (!ok) Fail(Tr(msg::kExportFailed), "Wsl/Service/ExportDistro/WSL_E_EXPORT_FAILED");
  cleanup.armed = false;
  if (!to_stdout) Success();
  return 0;
}

void Wsl::CheckImportName(const std::string& name) {
  // wsl.exe registers only names matching ^[a-zA-Z0-9._-]{1,256}$ (and never "Legacy");
  // FAKE_WSL_NAME_CHECK=0 lifts that so tests can import hostile names.
  if (std::string_view(EnvOr("FAKE_WSL_NAME_CHECK", "1")) == "0") return;
  static const std::regex kValid("^[a-zA-Z0-9._-]{1,256}$");
  if (!std::regex_match(name, kValid) || IEquals(name, "Legacy")) {
    Fail(Fmt(Tr(msg::kInvalidName), {name}), "Wsl/Service/RegisterDistro/E_INVALIDARG");
  }
}

int Wsl::Import(const std::vector<std::string>& args, std::size_t from) {
  if (inbox_) {
    for (std::size_t i = from; i < args.size(); ++i) {
      if (args[i] == "--vhd") InboxReject(args[i]);
    }
  }
  const Parsed p = Parse(args, from, {{{"--version"}, true}, {{"--vhd"}, false}});
  if (p.positional.size() > 3) InvalidArgument(p.positional[3], true);
  if (p.positional.size() < 3) Fail(Tr(msg::kInvalidParameter), "Wsl/E_INVALIDARG");
  std::optional<int> requested_version;
  if (const std::string* v = p.Option("--version")) requested_version = ParseVersion(*v);
  const std::string& name = p.positional[0];
  const fs::path location = fs::absolute(p.positional[1]);
  const std::string& file = p.positional[2];
  const bool vhd = p.Has("--vhd");
  const bool from_stdin = file == "-";

  // Everything below undoes itself on failure: the registration, the disk file, and the install
  // folder if this invocation created it.
  std::error_code ec;
  const bool created_dir = fs::create_directory(location, ec);
  if (ec) Fail(Tr(msg::kPathNotFound), "Wsl/ERROR_PATH_NOT_FOUND");
  std::string guid;
  fs::path disk;
  bool disk_created = false;
  std::uint64_t stdin_bytes = 0;
  int in = STDIN_FILENO;
  auto undo = [&] {
    std::error_code ignored;
    if (disk_created) fs::remove(disk, ignored);
    if (!guid.empty()) {
      StateLock lock(dir_);
      json doc = LoadState(dir_);
      auto& distros = doc["distros"];
      for (std::size_t i = 0; i < distros.size(); ++i) {
        if (distros[i].value("guid", "") == guid) {
          distros.erase(i);
          SaveState(dir_, doc);
          break;
        }
      }
    }
    if (created_dir && fs::is_empty(location, ignored)) fs::remove(location, ignored);
    if (from_stdin) AppendLog({{"stdin_bytes", stdin_bytes}});
    if (in != STDIN_FILENO) ::close(in);
  };

  try {
    if (!from_stdin) {
      const std::string ext = fs::path(file).extension().string();
      if (!vhd && (IEquals(ext, ".vhd") || IEquals(ext, ".vhdx"))) Fail(Tr(msg::kPassVhd));
      in = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0) {
        in = STDIN_FILENO;
        Fail(Tr(msg::kFileNotFound), "Wsl/ERROR_FILE_NOT_FOUND");
      }
    }
    {
      StateLock lock(dir_);
      json doc = LoadState(dir_);
      CheckImportName(name);
      if (FindIndex(doc, name)) {
        Fail(Tr(msg::kAlreadyExists), "Wsl/Service/RegisterDistro/ERROR_ALREADY_EXISTS");
      }
      const int version = requested_version.value_or(doc.value("default_version", 2));
      if (vhd && version != 2) {
        Fail(Tr(msg::kWsl2Needed), "Wsl/Service/RegisterDistro/WSL_E_WSL2_NEEDED");
      }
      json entry = {{"name", name},          {"guid", NewGuid()},
                    {"state", "Installing"}, {"version", version},
                    {"default", false},      {"base_path", location.string()},
                    {"sparse", false},       {"size_bytes", std::uint64_t{1} << 40}};
      disk = DiskPath(entry);
      if (fs::exists(disk, ec)) {
        Fail(Tr(msg::kFileExists), "Wsl/Service/RegisterDistro/ERROR_FILE_EXISTS");
      }
      doc["distros"].push_back(entry);
      SaveState(dir_, doc);
      guid = entry["guid"];
    }

    // The archive starts with "FAKEWSL-EXPORT <format>\n" (see README.md).
    std::string header;
    char c = 0;
    while (header.size() < 64 && ReadSome(in, &c, 1) == 1) {
      ++stdin_bytes;
      if (c == '\n') break;
      header.push_back(c);
    }
    const std::string format =
        header.rfind(kHeaderMagic, 0) == 0 ? header.substr(kHeaderMagic.size()) : std::string();
    const bool header_ok =
        c == '\n' &&
        (vhd ? format == "vhd" : (format == "tar" || format == "tar.gz" || format == "tar.xz"));
    if (!header_ok) {
      Fail(Tr(msg::kNotADistro), "Wsl/Service/RegisterDistro/WSL_E_NOT_A_LINUX_DISTRO");
    }

    const int out = ::open(disk.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) Fail(Tr(msg::kAccessDenied), "Wsl/Service/RegisterDistro/E_ACCESSDENIED");
    disk_created = true;
    Pump pump;
    std::vector<char> buf(kChunk);
    bool ok = true;
    for (;;) {
      const ssize_t n = ReadSome(in, buf.data(), buf.size());
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      stdin_bytes += static_cast<std::uint64_t>(n);
      pump.Pace();
      if (!pump.Write(out, buf.data(), static_cast<std::size_t>(n))) {
        ok = false;
        break;
      }
    }
    ::close(out);
    if (!ok) Fail(Tr(msg::kImportFailed), "Wsl/Service/RegisterDistro/WSL_E_IMPORT_FAILED");

    StateLock lock(dir_);
    json doc = LoadState(dir_);
    auto& distros = doc["distros"];
    for (std::size_t i = 0; i < distros.size(); ++i) {
      if (distros[i].value("guid", "") != guid) continue;
      distros[i]["state"] = "Stopped";
      if (!DefaultIndex(doc)) SetDefault(doc, i);
    }
    SaveState(dir_, doc);
  } catch (const WslFailure&) {
    undo();
    throw;
  }
  if (from_stdin) AppendLog({{"stdin_bytes", stdin_bytes}});
  if (in != STDIN_FILENO) ::close(in);
  Success();
  return 0;
}

int Wsl::ImportInPlace(const std::vector<std::string>& args, std::size_t from) {
  if (args.size() - from != 2) Usage();
  const std::string& name = args[from];
  const fs::path file = fs::absolute(args[from + 1]);
  StateLock lock(dir_);
  json doc = LoadState(dir_);
  CheckImportName(name);
  if (FindIndex(doc, name)) {
    Fail(Tr(msg::kAlreadyExists), "Wsl/Service/RegisterDistro/ERROR_ALREADY_EXISTS");
  }
  if (!IEquals(file.extension().string(), ".vhdx")) {
    Fail(Fmt(Tr(msg::kRequiresExtension), {".vhdx"}), "Wsl/Service/RegisterDistro/E_INVALIDARG");
  }
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    Fail(Tr(msg::kFileNotFound), "Wsl/Service/RegisterDistro/ERROR_FILE_NOT_FOUND");
  }
  doc["distros"].push_back({{"name", name},
                            {"guid", NewGuid()},
                            {"state", "Stopped"},
                            {"version", 2},
                            {"default", false},
                            {"base_path", file.parent_path().string()},
                            {"vhd_file_name", file.filename().string()},
                            {"sparse", false},
                            {"size_bytes", std::uint64_t{1} << 40}});
  if (!DefaultIndex(doc)) SetDefault(doc, doc["distros"].size() - 1);
  SaveState(dir_, doc);
  Success();
  return 0;
}

int Wsl::Status() {
  StateLock lock(dir_);
  const json doc = LoadState(dir_);
  if (const auto index = DefaultIndex(doc)) {
    out_.Print(Fmt(Tr(msg::kStatusDefaultDistro), {Name(doc["distros"][*index])}));
  }
  out_.Print(
      Fmt(Tr(msg::kStatusDefaultVersion), {std::to_string(doc.value("default_version", 2))}));
  return 0;
}

int Wsl::Version() {
  StateLock lock(dir_);
  const json doc = LoadState(dir_);
  out_.Print(Fmt(
      Tr(msg::kPackageVersions),
      {doc.value("wsl_version", "2.3.24.0"), doc.value("kernel_version", "5.15.153.1-2"), "1.0.65",
       "1.2.5620", "1.611.1-81528511", "10.0.26100.1-240331-1435.ge-release", "10.0.22631.4460"}));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// reg.exe: `reg query HKCU\Software\Microsoft\Windows\CurrentVersion\Lxss /s`, the registry tree
// wsl.exe keeps, built from the same state.json.

int RegMain(const std::vector<std::string>& args, const fs::path& dir) {
  constexpr std::string_view kKey = "Software\\Microsoft\\Windows\\CurrentVersion\\Lxss";
  const std::string full_key = "HKEY_CURRENT_USER\\" + std::string(kKey);
  const bool ok = args.size() == 3 && IEquals(args[0], "query") &&
                  (IEquals(args[1], "HKCU\\" + std::string(kKey)) || IEquals(args[1], full_key)) &&
                  IEquals(args[2], "/s");
  if (!ok) {
    std::fputs("ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", stderr);
    return 1;
  }
  StateLock lock(dir);
  if (!fs::exists(dir / "state.json")) {
    std::fputs("ERROR: The system was unable to find the specified registry key or value.\r\n",
               stderr);
    return 1;
  }
  const json doc = LoadState(dir);
  const json& distros = doc["distros"];
  auto dword = [](std::uint64_t v) {
    std::ostringstream s;
    s << "0x" << std::hex << v;
    return s.str();
  };
  auto value = [](std::string& out, std::string_view name, std::string_view type,
                  std::string_view data) {
    out += "    " + std::string(name) + "    " + std::string(type) + "    " + std::string(data) +
           "\r\n";
  };
  std::string out = "\r\n" + full_key + "\r\n";
  if (const auto index = DefaultIndex(doc)) {
    value(out, "DefaultDistribution", "REG_SZ", distros[*index].value("guid", ""));
  }
  value(out, "DefaultVersion", "REG_DWORD", dword(doc.value("default_version", 2)));
  out += "\r\n";
  for (const json& d : distros) {
    // The registry keeps install states only: Running and Stopped are both "installed" (1).
    const std::string state = StateOf(d);
    const int reg_state = state == "Installing"     ? 3
                          : state == "Uninstalling" ? 4
                          : state == "Converting"   ? 5
                                                    : 1;
    const int version = VersionOf(d);
    out += full_key + "\\" + d.value("guid", "") + "\r\n";
    value(out, "State", "REG_DWORD", dword(reg_state));
    value(out, "DistributionName", "REG_SZ", Name(d));
    // "Version" is the filesystem layout version (2 for every modern distribution); the WSL
    // version is bit 0x8 of Flags.
    value(out, "Version", "REG_DWORD", dword(2));
    value(out, "BasePath", "REG_SZ", d.value("base_path", ""));
    value(out, "Flags", "REG_DWORD", dword(d.value("flags", version == 2 ? 0xf : 0x7)));
    value(out, "DefaultUid", "REG_DWORD", dword(d.value("default_uid", 1000)));
    if (version == 2) value(out, "VhdFileName", "REG_SZ", d.value("vhd_file_name", "ext4.vhdx"));
    out += "\r\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

#ifdef FAKE_REG
constexpr bool kRegExe = true;
#else
constexpr bool kRegExe = false;
#endif

int WslMain(const std::vector<std::string>& args, const fs::path& dir) {
  const std::string lang = EnvOr("FAKE_WSL_LANG", "en");
  g_french = lang.rfind("fr", 0) == 0;
  const std::string forced = EnvOr("FAKE_WSL_ENCODING", "");
  Encoding encoding =
      std::string_view(EnvOr("WSL_UTF8", "")) == "1" ? Encoding::kUtf8 : Encoding::kUtf16;
  if (forced == "utf16") {
    encoding = Encoding::kUtf16;
  } else if (forced == "utf16bom") {
    encoding = Encoding::kUtf16Bom;
  } else if (forced == "utf8") {
    encoding = Encoding::kUtf8;
  } else if (!forced.empty()) {
    std::fprintf(stderr, "fake-wsl: FAKE_WSL_ENCODING must be utf16, utf16bom or utf8\n");
    return kNoState;
  }
  const std::string newline =
      std::string_view(EnvOr("FAKE_WSL_NEWLINE", "crlf")) == "crcrlf" ? "\r\r\n" : "\r\n";
  const bool inbox = std::string_view(EnvOr("FAKE_WSL_INBOX", "")) == "1";

  Console console(encoding, newline);
  Wsl wsl(dir, console, inbox);
  try {
    return wsl.Run(args);
  } catch (const WslFailure& failure) {
    // An inbox wsl.exe prints the message alone, without an error code.
    console.Print(failure.code.empty() || inbox
                      ? failure.message
                      : Fmt(Tr(msg::kErrorCode), {failure.message, failure.code}));
    return kWslFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* prog = kRegExe ? "reg" : "wsl";
  LogInvocation(prog, argc, argv);
  const char* state = std::getenv("FAKE_WSL_STATE");
  if (state == nullptr || *state == '\0' || !fs::is_directory(state)) {
    std::fprintf(stderr,
                 "fake-%s: set FAKE_WSL_STATE to an existing directory (it holds state.json and "
                 "the lock file)\n",
                 prog);
    return kNoState;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return kRegExe ? RegMain(args, state) : WslMain(args, state);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-%s: internal error: %s\n", prog, e.what());
    return 70;
  }
}
