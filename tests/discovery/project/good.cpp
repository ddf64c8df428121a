#include <gtest/gtest.h>

TEST(Good, Adds) {
  EXPECT_EQ(2 + 2, 4);
}
TEST(Good, Compares) {
  EXPECT_LT(1, 2);
}
