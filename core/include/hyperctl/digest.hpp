// Checksums the multi-step operations record and verify (offline migration,
// transfers), one implementation for every backend.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace hyperctl {

/// SHA-256 over a stream of chunks (OpenSSL's libcrypto underneath).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view data);
  /// The digest as 64 lower-case hex digits. Ends the digest: call once.
  std::string hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hyperctl
