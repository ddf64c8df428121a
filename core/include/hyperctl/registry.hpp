// Finds, checks and loads backend plugins, and opens connections by URI.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hyperctl/backend.hpp"
#include "hyperctl/uri.hpp"

namespace hyperctl {

/// What is known about one plugin file, loaded or not.
struct PluginInfo {
  std::string name;  ///< backend name ("libvirt"); from the file name until loaded
  std::string path;  ///< file it came from; "(built in)" for injected factories
  std::uint32_t abi = 0;
  bool loaded = false;
  std::string error;  ///< why it could not be loaded; empty when fine
  std::vector<std::string> schemes;
  Capabilities capabilities;
  std::string description;
};

class Registry {
 public:
  /// Folders searched, in order: `plugin_dirs` (from --plugin-dir), then
  /// HYPERCTL_PLUGIN_PATH (colon-separated), then the install's plugin folder,
  /// then the build tree's plugin folder.
  explicit Registry(std::vector<std::string> plugin_dirs = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The folders that will be searched, in order, after de-duplication.
  const std::vector<std::string>& search_path() const { return search_path_; }

  /// Adds a backend without a library (tests, statically linked builds).
  /// Throws Error(AlreadyExists) when its name or a scheme is taken.
  void add(std::unique_ptr<Backend> backend, std::string origin = "(built in)");

  /// Loads one plugin file: checks the ABI symbol first, then calls the
  /// factory. Throws Error(BackendFailure / InvalidArgument) with a sentence
  /// naming the file. The library stays loaded for the life of the process.
  Backend& load_file(const std::string& path);

  /// The backend serving `scheme` (without transport). Loads only the plugin
  /// expected to serve it: known schemes map to in-tree plugin names; an
  /// unknown scheme is looked for in every plugin found. Throws
  /// Error(Unsupported) when none serves it, naming the folders searched.
  Backend& backend_for(const std::string& scheme);

  /// Parses `uri_text` and connects through the backend for its scheme.
  std::unique_ptr<Connection> open(const std::string& uri_text, const ConnectOptions& options = {});

  /// Every plugin file found on the search path, loading each one (errors are
  /// reported in PluginInfo::error, not thrown), plus injected backends.
  std::vector<PluginInfo> discover();

  /// The backends loaded or added so far, without loading anything.
  std::vector<PluginInfo> loaded() const;

 private:
  struct Loaded;
  std::vector<std::string> search_path_;
  std::vector<std::unique_ptr<Loaded>> loaded_;
  std::map<std::string, std::string> failed_;  // path -> error, for discover()

  Backend* find_loaded(const std::string& scheme) const;
  std::vector<std::string> plugin_files() const;
  std::string find_plugin_file(const std::string& name) const;
  Backend& adopt(std::unique_ptr<Backend> backend, std::string origin, std::uint32_t abi);
};

/// The in-tree plugin expected to serve a scheme ("qemu" -> "libvirt"), or "".
std::string builtin_plugin_for_scheme(const std::string& scheme);

}  // namespace hyperctl
