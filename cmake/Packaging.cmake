# The SDK as installed: the CMake package (hyperctlConfig.cmake, its version
# file, hyperctlTargets.cmake, the hyperctl_add_backend helper), a pkg-config
# file, and CPack settings for a Debian package. Included at the end of the
# top CMakeLists.txt, once every target of the hyperctlTargets export exists.
include(CMakePackageConfigHelpers)

set(HYPERCTL_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/hyperctl")

# One source of truth for the ABI number: the header the loader compiles.
file(STRINGS "${PROJECT_SOURCE_DIR}/core/include/hyperctl/plugin.hpp" _abi_line
     REGEX "kPluginAbi = [0-9]+;")
set(HYPERCTL_PLUGIN_ABI "")
if(_abi_line MATCHES "kPluginAbi = ([0-9]+)")
  set(HYPERCTL_PLUGIN_ABI "${CMAKE_MATCH_1}")
endif()
if(HYPERCTL_PLUGIN_ABI STREQUAL "")
  message(FATAL_ERROR "cannot read kPluginAbi from core/include/hyperctl/plugin.hpp")
endif()

if(TARGET hyperctl_conformance)
  set(HYPERCTL_PACKAGE_HAS_CONFORMANCE ON)
else()
  set(HYPERCTL_PACKAGE_HAS_CONFORMANCE OFF)
endif()

install(EXPORT hyperctlTargets
  NAMESPACE hyperctl::
  FILE hyperctlTargets.cmake
  DESTINATION "${HYPERCTL_CMAKE_INSTALL_DIR}")
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/hyperctlConfig.cmake.in"
  "${CMAKE_BINARY_DIR}/cmake/hyperctlConfig.cmake"
  INSTALL_DESTINATION "${HYPERCTL_CMAKE_INSTALL_DIR}"
  PATH_VARS HYPERCTL_INSTALL_PLUGIN_DIR)
# 0.x: a minor release may break the API, so only the same minor matches.
write_basic_package_version_file(
  "${CMAKE_BINARY_DIR}/cmake/hyperctlConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${CMAKE_BINARY_DIR}/cmake/hyperctlConfig.cmake"
  "${CMAKE_BINARY_DIR}/cmake/hyperctlConfigVersion.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/HyperctlBackend.cmake"
  DESTINATION "${HYPERCTL_CMAKE_INSTALL_DIR}")
# The plugin folder exists even when no in-tree backend is built.
install(DIRECTORY DESTINATION "${HYPERCTL_INSTALL_PLUGIN_DIR}")

file(RELATIVE_PATH HYPERCTL_PC_PREFIX_FROM_PCDIR
     "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file("${CMAKE_CURRENT_LIST_DIR}/hyperctl.pc.in" "${CMAKE_BINARY_DIR}/cmake/hyperctl.pc" @ONLY)
install(FILES "${CMAKE_BINARY_DIR}/cmake/hyperctl.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

# cpack -G DEB in the build folder: one package with the CLI, the library,
# the in-tree plugins and the SDK (headers, CMake package, pkg-config file).
set(CPACK_PACKAGE_NAME "hyperctl")
set(CPACK_PACKAGE_VENDOR "hyperctl")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "hyperctl manages virtual machines the same way on every hypervisor: a CLI, "
    "a C++ library and backend plugins (libvirt: KVM/QEMU, Xen, LXC). Includes "
    "the plugin SDK: headers, CMake package and pkg-config file.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "hyperctl developers <hyperctl@invalid>" CACHE STRING
    "Maintainer field of the .deb")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
# Run-time dependencies come from the binaries (dpkg-shlibdeps: libvirt0,
# libboost-filesystem1.74.0, libxml2, libstdc++...). Only the SDK half needs
# the Boost headers (plugin.hpp includes Boost.DLL): recommended, not required.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libboost-dev (>= 1.74)")
include(CPack)
