# hyperctl_discover_tests(TARGET [TEST_PREFIX p] [TEST_FILTER f]
#                         [EXTRA_ARGS a...] [PROPERTIES k v...]
#                         [WORKING_DIRECTORY d] [DISCOVERY_TIMEOUT s])
#
# gtest_discover_tests, except that a test binary which cannot be listed is
# one failing test, <prefix><target>.listing, that says why, and every other
# test of the run still runs. (CMake's own function stops the build when a
# binary fails to list after linking, and stops the whole ctest run when it
# fails at test time.) A binary may fail to list because it was not built,
# because a sanitizer reports something in its start-up or exit, or because
# its main() needs something missing, such as the vSphere simulator.
#
# The listing happens when ctest starts and is kept until the binary changes;
# a failed listing is not kept, so the next run tries again. Listing then
# naming the tests is left to CMake's GoogleTestAddTests.cmake, called only
# once the binary has listed cleanly here, so names and properties are the
# ones gtest_discover_tests gives.
include_guard(GLOBAL)
include(GoogleTest)

function(hyperctl_discover_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""
    "TEST_PREFIX;TEST_FILTER;WORKING_DIRECTORY;DISCOVERY_TIMEOUT"
    "EXTRA_ARGS;PROPERTIES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hyperctl_discover_tests(${target}): unknown arguments "
                        "${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  # Sanitizer builds start slower, and some mains start a simulator first.
  if(NOT arg_DISCOVERY_TIMEOUT)
    set(arg_DISCOVERY_TIMEOUT 60)
  endif()

  # One target may be listed several times (different filters, properties).
  get_property(count TARGET ${target} PROPERTY HYPERCTL_DISCOVER_COUNT)
  if(NOT count)
    set(count 0)
  endif()
  math(EXPR count "${count} + 1")
  set_property(TARGET ${target} PROPERTY HYPERCTL_DISCOVER_COUNT ${count})
  set(listing_name "${arg_TEST_PREFIX}${target}.listing")
  if(count GREATER 1)
    string(APPEND listing_name "${count}")
  endif()

  set(filter "")
  if(arg_TEST_FILTER)
    set(filter "[==[--gtest_filter=${arg_TEST_FILTER}]==]")
  endif()
  set(base "${CMAKE_CURRENT_BINARY_DIR}/${target}[${count}]")
  set(tests_file "${base}_tests.cmake")
  set(include_file "${base}_include.cmake")

  # Runs inside ctest. Bracket arguments keep ';' and quotes of the values.
  string(CONCAT content
    "set(hyperctl_exe [==[$<TARGET_FILE:${target}>]==])\n"
    "set(hyperctl_tests [==[${tests_file}]==])\n"
    "set(hyperctl_why \"\")\n"
    "set(hyperctl_properties [==[${arg_PROPERTIES}]==])\n"
    "if(NOT EXISTS \"\${hyperctl_exe}\")\n"
    "  set(hyperctl_why \"the test binary was not built: \${hyperctl_exe}\")\n"
    "elseif(NOT EXISTS \"\${hyperctl_tests}\" OR\n"
    "       NOT \"\${hyperctl_tests}\" IS_NEWER_THAN \"\${hyperctl_exe}\" OR\n"
    "       NOT \"\${hyperctl_tests}\" IS_NEWER_THAN \"\${CMAKE_CURRENT_LIST_FILE}\")\n"
    "  file(REMOVE \"\${hyperctl_tests}\")\n"
    "  execute_process(COMMAND \"\${hyperctl_exe}\" --gtest_list_tests ${filter}\n"
    "    WORKING_DIRECTORY [==[${arg_WORKING_DIRECTORY}]==]\n"
    "    TIMEOUT ${arg_DISCOVERY_TIMEOUT}\n"
    "    RESULT_VARIABLE hyperctl_result OUTPUT_VARIABLE hyperctl_out ERROR_VARIABLE hyperctl_out)\n"
    "  if(NOT hyperctl_result STREQUAL \"0\")\n"
    "    string(LENGTH \"\${hyperctl_out}\" hyperctl_length)\n"
    "    if(hyperctl_length GREATER 4000)\n"
    "      math(EXPR hyperctl_length \"\${hyperctl_length} - 4000\")\n"
    "      string(SUBSTRING \"\${hyperctl_out}\" \${hyperctl_length} -1 hyperctl_out)\n"
    "      string(PREPEND hyperctl_out \"[...]\")\n"
    "    endif()\n"
    "    set(hyperctl_why \"listing the tests of \${hyperctl_exe} failed (\${hyperctl_result}):\\n\${hyperctl_out}\")\n"
    "  else()\n"
    "    include([==[${_GOOGLETEST_DISCOVER_TESTS_SCRIPT}]==])\n"
    "    gtest_discover_tests_impl(\n"
    "      TEST_EXECUTABLE \"\${hyperctl_exe}\"\n"
    "      TEST_WORKING_DIR [==[${arg_WORKING_DIRECTORY}]==]\n"
    "      TEST_EXTRA_ARGS [==[${arg_EXTRA_ARGS}]==]\n"
    "      TEST_PROPERTIES [==[${arg_PROPERTIES}]==]\n"
    "      TEST_PREFIX [==[${arg_TEST_PREFIX}]==]\n"
    "      TEST_FILTER [==[${arg_TEST_FILTER}]==]\n"
    "      TEST_LIST [==[${target}_TESTS]==]\n"
    "      CTEST_FILE \"\${hyperctl_tests}\"\n"
    "      TEST_DISCOVERY_TIMEOUT ${arg_DISCOVERY_TIMEOUT})\n"
    "  endif()\n"
    "endif()\n"
    "if(hyperctl_why STREQUAL \"\")\n"
    "  include(\"\${hyperctl_tests}\")\n"
    "else()\n"
    "  add_test([==[${listing_name}]==] [==[${CMAKE_COMMAND}]==] -E echo \"\${hyperctl_why}\")\n"
    "  if(hyperctl_properties)\n"
    "    set_tests_properties([==[${listing_name}]==] PROPERTIES \${hyperctl_properties})\n"
    "  endif()\n"
    "  # echo succeeds, so the test fails, and its output is the reason.\n"
    "  set_tests_properties([==[${listing_name}]==] PROPERTIES WILL_FAIL TRUE)\n"
    "endif()\n")
  file(GENERATE OUTPUT "${include_file}" CONTENT "${content}")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
