// map_data_end(): the end of the data qemu-img map reports, read from its
// JSON; whatever the output, an answer that covers every data extent or
// none (the caller then copies the whole image).
#include <gtest/gtest.h>

#include <string>

#include "qemu_img.hpp"

namespace hyperctl::lv {
namespace {

TEST(QemuImgMap, EndOfTheLastDataExtent) {
  EXPECT_EQ(map_data_end(R"([{"start": 0, "length": 65536, "data": true, "offset": 327680},
                              {"start": 65536, "length": 1048576, "data": false},
                              {"start": 1114112, "length": 4096, "data": true}])"),
            1118208u);
  EXPECT_EQ(map_data_end("[]"), 0u);
  EXPECT_EQ(map_data_end("not json"), std::nullopt);
  EXPECT_EQ(map_data_end(R"([{"data": true}])"), std::nullopt);
}

// fuzz/regressions/libvirt/qemu-img-map-*: the sum wrapped around 2^64 and
// gave an end before the data (a copy would then stop short).
TEST(QemuImgMap, AnExtentPastTwoToThe64IsNoAnswer) {
  EXPECT_EQ(map_data_end(R"([{"start": 18446744073709551614, "length": 65536, "data": true}])"),
            std::nullopt);
}

TEST(QemuImgMap, ANegativeOrFractionalOffsetIsNoAnswer) {
  EXPECT_EQ(map_data_end(R"([{"start": -1, "length": 1, "data": true}])"), std::nullopt);
  EXPECT_EQ(map_data_end(R"([{"start": 0, "length": -65536, "data": true}])"), std::nullopt);
  EXPECT_EQ(map_data_end(R"([{"start": 0, "length": 1e300, "data": true}])"), std::nullopt);
}

}  // namespace
}  // namespace hyperctl::lv
