// The plugin entry points. A backend library includes this header once and
// writes HYPERCTL_PLUGIN(factory) where factory has the signature
//   std::unique_ptr<hyperctl::Backend> factory();
// The loader reads hyperctl_plugin_abi before anything else and refuses a
// library whose number differs from kPluginAbi.
#pragma once

#include <cstdint>
#include <memory>

#include <boost/dll/alias.hpp>

#include "hyperctl/backend.hpp"

namespace hyperctl {

/// Bumped on every change to a public header that alters layout or virtual
/// tables (types.hpp, connection.hpp, backend.hpp, capabilities.hpp, error.hpp).
inline constexpr std::uint32_t kPluginAbi = 7;

using BackendFactory = std::unique_ptr<Backend>();

inline constexpr const char* kAbiSymbol = "hyperctl_plugin_abi";
inline constexpr const char* kFactorySymbol = "hyperctl_plugin_factory";

}  // namespace hyperctl

#define HYPERCTL_PLUGIN(factory)                                                         \
  namespace hyperctl_plugin_entry {                                                      \
  const std::uint32_t hyperctl_plugin_abi_value = ::hyperctl::kPluginAbi;                \
  std::unique_ptr<::hyperctl::Backend> hyperctl_plugin_make() {                          \
    return factory();                                                                    \
  }                                                                                      \
  }                                                                                      \
  BOOST_DLL_ALIAS(hyperctl_plugin_entry::hyperctl_plugin_abi_value, hyperctl_plugin_abi) \
  BOOST_DLL_ALIAS(hyperctl_plugin_entry::hyperctl_plugin_make, hyperctl_plugin_factory)
