#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/size.hpp"

using hyperctl::format_size;
using hyperctl::parse_size;

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("4096B"), 4096u);
  EXPECT_EQ(parse_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_size("512m"), 512ull << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("2 GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("2GB"), 2'000'000'000ull);
  EXPECT_EQ(parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, RefusesBadInputNamingIt) {
  for (const char* bad : {"12Q", "-1G", "", "  ", "G", "1.5", "1.G", "2 G B", "0x10", "1e9",
                          "99999999999P", "18446744073709551616", "1GiBs", "½G"}) {
    try {
      parse_size(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(ParseSize, LargestValueFitsAndOneMoreDoesNot) {
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
  EXPECT_THROW(parse_size("16EiB"), hyperctl::Error);
}

TEST(FormatSize, UsesTheLargestWholeBinaryUnit) {
  EXPECT_EQ(format_size(300), "300 B");
  EXPECT_EQ(format_size(512ull << 20), "512 MiB");
  EXPECT_EQ(format_size(2ull << 30), "2 GiB");
  EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
  EXPECT_EQ(parse_size(format_size(64ull << 20)), 64ull << 20);
}
