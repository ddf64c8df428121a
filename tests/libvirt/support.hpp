// Shared helpers of the libvirt suites: opening connections through the
// Registry (as the CLI does) and checking errors.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hyperctl/error.hpp"
#include "hyperctl/registry.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {
// Readable codes in gtest failure messages.
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << to_string(code);
}
inline void PrintTo(VmState state, std::ostream* os) {
  *os << to_string(state);
}
}  // namespace hyperctl

namespace hyperctl::test {

/// One registry for the process: plugin libraries stay loaded for its life.
inline Registry& registry() {
  static Registry r({HYPERCTL_TEST_LIBVIRT_PLUGIN_DIR});
  return r;
}

inline std::unique_ptr<Connection> open(const std::string& uri) {
  return registry().open(uri);
}

/// Runs `f` and returns the Error it threw; fails the test when it threw
/// nothing or something else.
inline std::optional<Error> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "foreign exception escaped: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "no error was thrown";
  return std::nullopt;
}

/// Expects `expr` to throw an Error with `expected_code`.
inline void expect_error_code(const std::function<void()>& f, ErrorCode expected, const char* expr,
                              const char* file, int line) {
  ::testing::ScopedTrace trace(file, line, expr);
  auto err = error_of(f);
  if (!err) return;
  EXPECT_EQ(err->code(), expected) << "message: " << err->what() << "\ndetail: " << err->detail();
}

#define EXPECT_ERROR_CODE(expr, expected_code)                                                 \
  ::hyperctl::test::expect_error_code([&] { (void)(expr); }, (expected_code), #expr, __FILE__, \
                                      __LINE__)

/// A VM name unique to this process and test, under the prefix the test
/// bed cleans up ("hyperctl-test-").
inline std::string unique_name(const std::string& stem) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? info->name() : "x";
  std::replace(test.begin(), test.end(), '/', '-');
  return "hyperctl-test-" + stem + "-" + test + "-" + std::to_string(::getpid());
}

/// Every volume path in every active pool, sorted.
inline std::vector<std::string> all_volume_paths(Connection& c) {
  std::vector<std::string> out;
  for (const auto& pool : c.storage().list_pools()) {
    if (!pool.active) continue;
    for (const auto& v : c.storage().list_volumes(pool.name)) out.push_back(v.path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline bool has_vm_named(Connection& c, const std::string& name) {
  for (const auto& vm : c.vms().list({}))
    if (vm.name == name) return true;
  return false;
}

}  // namespace hyperctl::test
