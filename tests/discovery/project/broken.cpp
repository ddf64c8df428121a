// Fails the way a suite does whose main() needs something missing.
#include <gtest/gtest.h>

#include <cstdio>

TEST(Broken, NeverListed) {
  FAIL() << "main() returns before any test runs";
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::fprintf(stderr, "the simulator is not usable: not built here\n");
  return 1;
}
