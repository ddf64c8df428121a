#include "hyperctl/registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <dlfcn.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include "hyperctl/error.hpp"
#include "hyperctl/plugin.hpp"
#include "hyperctl/version.hpp"

namespace fs = boost::filesystem;

namespace hyperctl {

namespace {

// Libraries are never unloaded: objects a plugin made (vtables, strings with
// its allocator, static data) may be alive until the process exits.
std::vector<boost::dll::shared_library>& pinned_libraries() {
  static auto* libs = new std::vector<boost::dll::shared_library>();
  return *libs;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "(none)" : out;
}

// The backend name a plugin file carries: libhyperctl-NAME.so or hyperctl-NAME.so.
std::string plugin_name_of(const fs::path& file) {
  std::string stem = file.filename().string();
  if (stem.size() < 4 || stem.compare(stem.size() - 3, 3, ".so") != 0) return {};
  stem.resize(stem.size() - 3);
  for (const char* prefix : {"libhyperctl-", "hyperctl-"}) {
    const std::string p = prefix;
    if (stem.rfind(p, 0) == 0 && stem.size() > p.size()) return stem.substr(p.size());
  }
  return {};
}

std::string canonical_or_same(const std::string& path) {
  boost::system::error_code ec;
  auto c = fs::canonical(path, ec);
  return ec ? path : c.string();
}

[[noreturn]] void refuse(ErrorCode code, const std::string& path, const std::string& why) {
  throw Error(code, "plugin " + path + " " + why, "plugin.load");
}

}  // namespace

struct Registry::Loaded {
  std::string path;
  std::uint32_t abi = 0;
  std::unique_ptr<Backend> backend;
  std::string name;
  std::vector<std::string> schemes;
  Capabilities capabilities;
  std::string description;
};

std::string builtin_plugin_for_scheme(const std::string& scheme) {
  static const std::pair<const char*, const char*> kTable[] = {
      {"test", "libvirt"},    {"qemu", "libvirt"}, {"xen", "libvirt"},   {"lxc", "libvirt"},
      {"vsphere", "vsphere"}, {"esx", "vsphere"},  {"hyperv", "hyperv"}, {"wsl", "wsl"},
  };
  for (const auto& [s, name] : kTable)
    if (scheme == s) return name;
  return {};
}

Registry::Registry(std::vector<std::string> plugin_dirs) {
  std::vector<std::string> dirs = std::move(plugin_dirs);
  if (const char* env = std::getenv("HYPERCTL_PLUGIN_PATH")) {
    std::string value = env;
    std::size_t start = 0;
    while (start <= value.size()) {
      auto colon = value.find(':', start);
      if (colon == std::string::npos) colon = value.size();
      if (colon > start) dirs.push_back(value.substr(start, colon - start));
      start = colon + 1;
    }
  }
  // Then the built-in folders. A libhyperctl running from the build tree
  // searches the build tree's plugins only: an older installed plugin must not
  // shadow the one just built. An installed one searches the folder beside it
  // (wherever the tree was moved to), then the configured prefix's, and never
  // the build tree it was made in.
  boost::system::error_code ec;
  const fs::path self = boost::dll::this_line_location(ec);
  const fs::path build_lib = HYPERCTL_BUILD_LIB_DIR;
  boost::system::error_code eq_ec;
  if (!ec && fs::equivalent(self.parent_path(), build_lib, eq_ec)) {
    dirs.push_back(HYPERCTL_BUILD_PLUGIN_DIR);
  } else {
    if (!ec) {
      const fs::path beside = self.parent_path() / "hyperctl" / "plugins";
      if (fs::is_directory(beside, ec)) dirs.push_back(beside.string());
    }
    dirs.push_back(HYPERCTL_INSTALL_PLUGIN_DIR);
  }

  std::set<std::string> seen;
  for (auto& d : dirs) {
    const std::string norm = fs::path(d).lexically_normal().string();
    if (seen.insert(norm).second) search_path_.push_back(norm);
  }
}

Registry::~Registry() = default;

Backend* Registry::find_loaded(const std::string& scheme) const {
  for (const auto& l : loaded_)
    if (std::find(l->schemes.begin(), l->schemes.end(), scheme) != l->schemes.end())
      return l->backend.get();
  return nullptr;
}

std::vector<std::string> Registry::plugin_files() const {
  std::vector<std::string> files;
  std::set<std::string> names;  // the first folder that has a name wins
  for (const auto& dir : search_path_) {
    boost::system::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> here;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      // Only regular files (or links to them): opening a FIFO would block.
      boost::system::error_code fec;
      if (!plugin_name_of(it->path()).empty() && fs::is_regular_file(it->path(), fec))
        here.push_back(it->path());
    }
    std::sort(here.begin(), here.end());
    for (const auto& p : here)
      if (names.insert(plugin_name_of(p)).second) files.push_back(p.string());
  }
  return files;
}

std::string Registry::find_plugin_file(const std::string& name) const {
  for (const auto& dir : search_path_) {
    for (const char* prefix : {"libhyperctl-", "hyperctl-"}) {
      const fs::path p = fs::path(dir) / (std::string(prefix) + name + ".so");
      boost::system::error_code ec;
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  }
  return {};
}

Backend& Registry::adopt(std::unique_ptr<Backend> backend, std::string origin, std::uint32_t abi) {
  auto l = std::make_unique<Loaded>();
  l->path = std::move(origin);
  l->abi = abi;
  try {
    l->name = backend->name();
    l->schemes = backend->schemes();
    l->capabilities = backend->capabilities();
    l->description = backend->description();
  } catch (const std::exception& e) {
    refuse(ErrorCode::BackendFailure, l->path,
           std::string("failed to describe itself: ") + e.what());
  }
  for (const auto& other : loaded_) {
    if (other->name == l->name)
      refuse(ErrorCode::AlreadyExists, l->path,
             "names its backend '" + l->name + "', which " + other->path + " already provides");
    for (const auto& s : l->schemes) {
      if (std::find(other->schemes.begin(), other->schemes.end(), s) != other->schemes.end())
        refuse(ErrorCode::AlreadyExists, l->path,
               "claims the scheme '" + s + "', which " + other->path + " already serves");
    }
  }
  l->backend = std::move(backend);
  loaded_.push_back(std::move(l));
  return *loaded_.back()->backend;
}

void Registry::add(std::unique_ptr<Backend> backend, std::string origin) {
  if (!backend) throw Error(ErrorCode::InvalidArgument, "no backend given", "plugin.add");
  adopt(std::move(backend), std::move(origin), kPluginAbi);
}

Backend& Registry::load_file(const std::string& path_in) {
  const std::string path = canonical_or_same(path_in);
  for (const auto& l : loaded_)
    if (l->path == path) return *l->backend;
  if (auto f = failed_.find(path); f != failed_.end())
    throw Error(ErrorCode::BackendFailure, f->second, "plugin.load");

  try {
    boost::system::error_code ec;
    if (!fs::is_regular_file(path, ec))
      refuse(ErrorCode::BackendFailure, path, "is not a regular file");
    boost::dll::shared_library lib(
        path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
      const char* why = ::dlerror();
      refuse(ErrorCode::BackendFailure, path,
             "cannot be loaded: " + (why ? std::string(why) : ec.message()));
    }
    if (!lib.has(kAbiSymbol))
      refuse(ErrorCode::BackendFailure, path,
             "is not a hyperctl plugin: it exports no " + std::string(kAbiSymbol) + " symbol");
    const std::uint32_t abi = lib.get_alias<const std::uint32_t>(kAbiSymbol);
    if (abi != kPluginAbi)
      refuse(ErrorCode::BackendFailure, path,
             "was built for plugin ABI " + std::to_string(abi) + ", but this hyperctl (" +
                 std::string(version()) + ") loads plugin ABI " + std::to_string(kPluginAbi) +
                 " only: rebuild the plugin against this version");
    if (!lib.has(kFactorySymbol))
      refuse(ErrorCode::BackendFailure, path,
             "has plugin ABI " + std::to_string(abi) + " but exports no " +
                 std::string(kFactorySymbol) + " entry point");
    auto& factory = lib.get_alias<BackendFactory>(kFactorySymbol);
    pinned_libraries().push_back(lib);

    std::unique_ptr<Backend> backend;
    try {
      backend = factory();
    } catch (const Error& e) {
      refuse(ErrorCode::BackendFailure, path, std::string("failed to start: ") + e.what());
    } catch (const std::exception& e) {
      refuse(ErrorCode::BackendFailure, path, std::string("failed to start: ") + e.what());
    } catch (...) {
      refuse(ErrorCode::BackendFailure, path, "failed to start: an unknown exception");
    }
    if (!backend) refuse(ErrorCode::BackendFailure, path, "returned no backend from its factory");
    return adopt(std::move(backend), path, abi);
  } catch (const Error& e) {
    failed_[path] = e.what();
    throw;
  }
}

Backend& Registry::backend_for(const std::string& scheme) {
  if (Backend* b = find_loaded(scheme)) return *b;

  const std::string expected = builtin_plugin_for_scheme(scheme);
  if (!expected.empty()) {
    const std::string file = find_plugin_file(expected);
    if (!file.empty()) {
      load_file(file);
      if (Backend* b = find_loaded(scheme)) return *b;
    }
  }
  // A scheme no in-tree plugin serves: ask every plugin found.
  std::size_t broken = 0;
  for (const auto& file : plugin_files()) {
    try {
      load_file(file);
    } catch (const Error&) {
      ++broken;
      continue;
    }
    if (Backend* b = find_loaded(scheme)) return *b;
  }
  std::string msg = "no backend serves the scheme '" + scheme + "'";
  if (!expected.empty())
    msg += ": the " + expected + " plugin (libhyperctl-" + expected + ".so) was not found";
  msg += " (searched " + joined(search_path_) + ")";
  if (broken)
    msg += "; " + std::to_string(broken) + " plugin(s) failed to load: see 'hyperctl backends'";
  throw Error(ErrorCode::Unsupported, msg, "plugin.find");
}

std::unique_ptr<Connection> Registry::open(const std::string& uri_text,
                                           const ConnectOptions& options) {
  const Uri uri = Uri::parse(uri_text);
  Backend& backend = backend_for(uri.scheme);
  try {
    auto conn = backend.connect(uri, options);
    if (!conn)
      throw Error(ErrorCode::Internal, "the " + backend.name() + " backend returned no connection",
                  "connect");
    return conn;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal,
                "the " + backend.name() + " backend failed with an untranslated error", "connect",
                e.what());
  }
}

std::vector<PluginInfo> Registry::loaded() const {
  std::vector<PluginInfo> out;
  for (const auto& l : loaded_) {
    PluginInfo info;
    info.name = l->name;
    info.path = l->path;
    info.abi = l->abi;
    info.loaded = true;
    info.schemes = l->schemes;
    info.capabilities = l->capabilities;
    info.description = l->description;
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<PluginInfo> Registry::discover() {
  for (const auto& file : plugin_files()) {
    try {
      load_file(file);
    } catch (const Error&) {
      // kept in failed_
    }
  }
  std::vector<PluginInfo> out = loaded();
  for (const auto& [path, error] : failed_) {
    PluginInfo info;
    info.name = plugin_name_of(path);
    info.path = path;
    info.error = error;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace hyperctl
