#include <gtest/gtest.h>

#include "hyperctl/error.hpp"
#include "hyperctl/size.hpp"

using hyperctl::format_size;
using hyperctl::parse_size;

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("4096B"), 4096u);
  EXPECT_EQ(parse_size("4096 b"), 4096u);
  EXPECT_EQ(parse_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_size("512m"), 512ull << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("2 GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("2GB"), 2'000'000'000ull);
  EXPECT_EQ(parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("0B"), 0u);
}

// virsh's setmem reads a bare number as KiB, govc's -m as MiB, PowerShell as
// bytes: hyperctl asks which instead of guessing.
TEST(ParseSize, RefusesANumberWithoutAUnitAndSaysHowToWriteIt) {
  for (const char* bare : {"1048576", "0", " 512 ", "+4096", "1.5"}) {
    try {
      parse_size(bare);
      ADD_FAILURE() << "accepted '" << bare << "'";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument);
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      if (std::string(bare) != "1.5" && std::string(bare) != "+4096") {
        EXPECT_NE(msg.find("no unit"), std::string::npos) << msg;
      }
    }
  }
}

TEST(ParseSize, RefusesBadInputNamingIt) {
  for (const char* bad : {"12Q", "-1G", "", "  ", "G", "1.5", "1.G", "2 G B", "0x10", "1e9",
                          "99999999999P", "18446744073709551616B", "1GiBs", "½G", "+5G",
                          // 128-bit products of these wrapped around to small sizes
                          "302231454903657293676545P", "340282366920938463463374607431768211457B",
                          "18446744073709551616P"}) {
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
  EXPECT_EQ(parse_size("18446744073709551615B"), UINT64_MAX);
  EXPECT_EQ(parse_size("16383P"), 16383ull << 50);
  EXPECT_THROW(parse_size("16384P"), hyperctl::Error);
  EXPECT_THROW(parse_size("16EiB"), hyperctl::Error);
}

TEST(FormatSize, UsesTheLargestWholeBinaryUnit) {
  EXPECT_EQ(format_size(300), "300 B");
  EXPECT_EQ(format_size(512ull << 20), "512 MiB");
  EXPECT_EQ(format_size(2ull << 30), "2 GiB");
  EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
  EXPECT_EQ(parse_size(format_size(64ull << 20)), 64ull << 20);
}

using hyperctl::apply_size_change;
using hyperctl::parse_size_change;
using hyperctl::SizeChange;

TEST(SizeChange, PlusAndMinusAreDeltasAndABareSizeIsTheNewCapacity) {
  const auto grow = parse_size_change("+50M");
  EXPECT_EQ(grow.kind, SizeChange::Kind::Grow);
  EXPECT_EQ(grow.bytes, 50ull << 20);
  EXPECT_EQ(apply_size_change(grow, 1536ull << 20), 1586ull << 20);

  const auto shrink = parse_size_change("-512M");
  EXPECT_EQ(shrink.kind, SizeChange::Kind::Shrink);
  EXPECT_EQ(apply_size_change(shrink, 1ull << 30), 512ull << 20);

  const auto set = parse_size_change("20G");
  EXPECT_EQ(set.kind, SizeChange::Kind::Absolute);
  EXPECT_EQ(apply_size_change(set, 1ull << 30), 20ull << 30);
}

TEST(SizeChange, RefusesChangesThatLeaveNothingOrOverflow) {
  EXPECT_THROW(apply_size_change(parse_size_change("-1G"), 1ull << 30), hyperctl::Error);
  EXPECT_THROW(apply_size_change(parse_size_change("-2G"), 1ull << 30), hyperctl::Error);
  EXPECT_THROW(apply_size_change(parse_size_change("+1P"), UINT64_MAX - 5), hyperctl::Error);
  for (const char* bad : {"+", "-", "+-5G", "--5G", "+ 5G", "+0G", "-0B", "+50", "-7"}) {
    try {
      parse_size_change(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const hyperctl::Error& e) {
      EXPECT_EQ(e.code(), hyperctl::ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}
