# Hardening of release builds (Release, RelWithDebInfo, MinSizeRel): what
# scripts/setup.sh and scripts/test.sh build and what the .deb ships.
#   _FORTIFY_SOURCE=2        glibc checks buffer sizes it can see (needs -O)
#   -fstack-protector-strong canaries in functions with local arrays
#   -z relro -z now          full RELRO: the GOT is read-only after start-up
#   PIE                      the executables are position-independent too
# The test hardening.elf (tests/hardening) reads the built binaries and fails
# when one of these is missing. Sanitizer builds (cmake/Sanitizers.cmake)
# leave it out: they are not shipped and ASan wraps the same functions.
include_guard(GLOBAL)

option(HYPERCTL_HARDENING "Harden release builds (fortify, stack protector, RELRO, PIE)" ON)

set(HYPERCTL_HARDENED OFF)
if(NOT HYPERCTL_HARDENING OR NOT HYPERCTL_SANITIZE STREQUAL "")
  return()
endif()

set(_hyperctl_release_configs "Release,RelWithDebInfo,MinSizeRel")
set(_hyperctl_if_release "$<CONFIG:${_hyperctl_release_configs}>")
# A distribution may already pass its own level in CXXFLAGS: ours replaces it
# rather than clash with it (a redefinition is a warning, hence an error).
add_compile_options("$<${_hyperctl_if_release}:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>"
                    "$<${_hyperctl_if_release}:-fstack-protector-strong>")
add_link_options("$<${_hyperctl_if_release}:LINKER:-z,relro,-z,now>")

include(CheckPIESupported)
check_pie_supported(OUTPUT_VARIABLE _hyperctl_pie_output LANGUAGES CXX)
if(NOT CMAKE_CXX_LINK_PIE_SUPPORTED)
  message(FATAL_ERROR "hardening: the linker cannot build PIE executables:\n${_hyperctl_pie_output}\n"
                      "(configure with -DHYPERCTL_HARDENING=OFF to build without it)")
endif()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  set(HYPERCTL_HARDENED ON)
endif()
