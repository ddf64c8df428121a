// File helpers the migration suites share: checksums computed here, with
// OpenSSL directly (independent of the code under test), and disks of
// pseudo-random, never-zero bytes (so that no layer can treat them as holes).
#pragma once

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace hyperctl_test {

/// SHA-256 of a file's bytes as lower-case hex.
inline std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

/// A file of `size` bytes of pseudo-random data in which no byte is zero.
inline void write_random_file(const std::string& path, std::uint64_t size, unsigned seed) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> buf(1 << 16);
  for (std::uint64_t done = 0; done < size;) {
    for (auto& w : buf) w = rng() | 0x0101010101010101ULL;
    const auto n = std::min<std::uint64_t>(size - done, buf.size() * 8);
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    done += n;
  }
}

}  // namespace hyperctl_test
