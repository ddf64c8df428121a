# Sanitizer builds: -DHYPERCTL_SANITIZE=address,undefined or =thread.
#
# The flags go to every target of the tree (library, CLI, plugins, tests) at
# compile and link time: a plugin built without them would hide its bugs, and
# a sanitizer runtime must be linked into everything that uses it. These
# builds are for finding bugs, not for shipping: -O1 -g1 keeps them quick to
# compile on two cores while stacks stay readable, and the release hardening
# of cmake/Hardening.cmake is left out (_FORTIFY_SOURCE and ASan both wrap the
# string functions). scripts/sanitize.sh builds and runs them.
include_guard(GLOBAL)

set(HYPERCTL_SANITIZE "" CACHE STRING
    "Sanitizers to build with: empty, address,undefined (ASan+UBSan) or thread (TSan)")

if(HYPERCTL_SANITIZE STREQUAL "")
  return()
endif()
if(NOT HYPERCTL_SANITIZE MATCHES "^(address|undefined|thread|leak)(,(address|undefined|thread|leak))*$")
  message(FATAL_ERROR "HYPERCTL_SANITIZE='${HYPERCTL_SANITIZE}': a comma-separated list of "
                      "address, undefined, leak, thread")
endif()
if(HYPERCTL_SANITIZE MATCHES "thread" AND HYPERCTL_SANITIZE MATCHES "address|leak")
  message(FATAL_ERROR "HYPERCTL_SANITIZE: thread cannot be combined with address or leak")
endif()

set(_hyperctl_sanitize_flags
    -fsanitize=${HYPERCTL_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
# Later options win: these override the -O2 -g of RelWithDebInfo.
add_compile_options(${_hyperctl_sanitize_flags} -O1 -g1)
add_link_options(${_hyperctl_sanitize_flags})

# GCC at -O1 with the sanitizers' extra branches reports uninitialized use
# inside libstdc++'s own <regex> (std::function moved out of a regex state:
# a known GCC 12 false positive); release builds keep the warning an error.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-maybe-uninitialized)
endif()

# Boost.Asio orders a handler's memory with standalone fences, which TSan
# does not model (GCC refuses them under -Werror=tsan). Its scheduler hands
# every handler over under a mutex as well, which TSan does see, so the TSan
# build leaves the fences out: what it checks is ordered by the mutex alone,
# a weaker program than the release build, never a stronger one.
if(HYPERCTL_SANITIZE MATCHES "thread")
  add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
endif()

# The XDR interceptors of ASan and TSan look up libtirpc once, when the
# process starts; the libvirt plugin brings libtirpc in later (dlopen), and
# the interceptors then call a null pointer inside libvirt's RPC code (under
# TSan: 'SEGV on unknown address 0x000000000000', pc 0, in hyperctl run by
# the fleet CLI tests). Every executable of these builds therefore depends on
# libtirpc directly. (Preloading it instead would reach the libvirtd daemons
# the tests start, which are not ours.)
if(HYPERCTL_SANITIZE MATCHES "address|thread" AND HYPERCTL_BACKEND_LIBVIRT)
  find_library(HYPERCTL_TIRPC_LIBRARY NAMES tirpc)
  if(HYPERCTL_TIRPC_LIBRARY)
    string(APPEND CMAKE_EXE_LINKER_FLAGS
           " -Wl,--push-state,--no-as-needed ${HYPERCTL_TIRPC_LIBRARY} -Wl,--pop-state")
  else()
    message(WARNING "libtirpc not found: libvirt tests will crash under ASan")
  endif()
endif()

message(STATUS "hyperctl: sanitizers ${HYPERCTL_SANITIZE} (-O1 -g1)")
