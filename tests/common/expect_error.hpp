// What the backend suites share to check errors: readable names for codes and
// states in failure messages, error_of(), EXPECT_ERROR_CODE, read_file().
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>

#include "hyperctl/error.hpp"
#include "hyperctl/types.hpp"

namespace hyperctl {
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << to_string(code);
}
inline void PrintTo(VmState state, std::ostream* os) {
  *os << to_string(state);
}
}  // namespace hyperctl

namespace hyperctl::test {

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

#define EXPECT_ERROR_CODE(expr, expected_code)                                         \
  do {                                                                                 \
    auto err_ = ::hyperctl::test::error_of([&] { (void)(expr); });                     \
    if (err_) {                                                                        \
      EXPECT_EQ(err_->code(), (expected_code))                                         \
          << #expr << "\nmessage: " << err_->what() << "\ndetail: " << err_->detail(); \
    }                                                                                  \
  } while (0)

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace hyperctl::test
