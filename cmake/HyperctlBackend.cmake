# hyperctl_add_backend(NAME SOURCES...)
#
# Builds a hyperctl backend plugin: a MODULE library libhyperctl-NAME.so (the
# name the registry looks for), target name hyperctl-NAME. The same function
# serves the in-tree backends (included by the top CMakeLists.txt) and
# out-of-tree ones (included by the installed hyperctlConfig.cmake).
#
# What it sets, and why:
# - hidden visibility (code and inline functions): only the two entry points
#   that HYPERCTL_PLUGIN exports through Boost.DLL aliases are visible, so two
#   plugins can never bind to each other's symbols;
# - -Wl,--no-undefined: a missing symbol fails the link, not the dlopen;
# - links hyperctl::core (public headers, libhyperctl) and asks for C++20;
# - no RUNPATH: libhyperctl is already loaded by the program that opens a
#   plugin, and a padded build RUNPATH would carry an empty entry (".");
# - installs into ${HYPERCTL_PLUGIN_INSTALL_DIR}: relative to the prefix
#   in-tree (lib/hyperctl/plugins); out of tree the package sets it to the
#   plugin folder of the hyperctl install it found (overridable with -D).
#
# Variables read:
#   HYPERCTL_PLUGIN_INSTALL_DIR  install destination (required)
#   HYPERCTL_BUILD_PLUGIN_DIR    where the built library goes; unset: the
#                                usual output folder of the calling directory
#   HYPERCTL_CXX_COMPILER_ID     compiler hyperctl was built with (package only)
include_guard(GLOBAL)

function(hyperctl_add_backend name)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "hyperctl_add_backend: '${name}' is not a backend name "
                        "(lower-case letters, digits and '_', starting with a letter)")
  endif()
  if(NOT ARGN)
    message(FATAL_ERROR "hyperctl_add_backend(${name}): no source files given")
  endif()
  if(NOT DEFINED HYPERCTL_PLUGIN_INSTALL_DIR OR HYPERCTL_PLUGIN_INSTALL_DIR STREQUAL "")
    message(FATAL_ERROR "hyperctl_add_backend(${name}): HYPERCTL_PLUGIN_INSTALL_DIR is not set")
  endif()
  if(NOT TARGET hyperctl::core)
    message(FATAL_ERROR "hyperctl_add_backend(${name}): hyperctl::core is not defined; "
                        "call find_package(hyperctl CONFIG REQUIRED) first")
  endif()

  # The ABI covers class layouts and vtables: the plugin must be built by the
  # same compiler family against the same standard library as hyperctl.
  if(HYPERCTL_CXX_COMPILER_ID AND NOT CMAKE_CXX_COMPILER_ID STREQUAL HYPERCTL_CXX_COMPILER_ID)
    message(WARNING "hyperctl_add_backend(${name}): hyperctl was built with "
                    "${HYPERCTL_CXX_COMPILER_ID}, this plugin with ${CMAKE_CXX_COMPILER_ID}; "
                    "the plugin ABI assumes the same compiler and standard library")
  endif()

  set(target hyperctl-${name})
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "hyperctl-${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    BUILD_WITH_INSTALL_RPATH ON
    INSTALL_RPATH "")
  if(HYPERCTL_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${HYPERCTL_BUILD_PLUGIN_DIR}")
  endif()
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_link_libraries(${target} PRIVATE hyperctl::core)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  install(TARGETS ${target} LIBRARY DESTINATION "${HYPERCTL_PLUGIN_INSTALL_DIR}")
endfunction()
