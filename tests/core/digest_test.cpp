// SHA-256 against the FIPS 180-4 example vectors, fed whole and in chunks.
#include "hyperctl/digest.hpp"

#include <gtest/gtest.h>

#include "hyperctl/error.hpp"

namespace {

std::string sha256(std::string_view data, std::size_t chunk) {
  hyperctl::Sha256 sha;
  for (std::size_t at = 0; at < data.size(); at += chunk) sha.update(data.substr(at, chunk));
  return sha.hex();
}

TEST(Sha256, KnownVectorsWholeAndInChunks) {
  const std::string abc = "abc";
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const std::string million(1000000, 'a');
  for (std::size_t chunk : {1ul, 7ul, 64ul, 1000000ul}) {
    EXPECT_EQ(sha256("", chunk),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256(abc, chunk),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256(two_blocks, chunk),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    if (chunk >= 64) {
      EXPECT_EQ(sha256(million, chunk),
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }
  }
}

TEST(Sha256, EndsOnce) {
  hyperctl::Sha256 sha;
  sha.update("x");
  sha.hex();
  EXPECT_THROW(sha.hex(), hyperctl::Error);
  EXPECT_THROW(sha.update("y"), hyperctl::Error);
}

}  // namespace
