#include "hyperctl/digest.hpp"

#include <openssl/evp.h>

#include "hyperctl/error.hpp"

namespace hyperctl {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  bool done = false;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1)
    throw Error(ErrorCode::Internal, "cannot start a SHA-256 digest");
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(state_->ctx);
}

void Sha256::update(std::string_view data) {
  if (state_->done) throw Error(ErrorCode::Internal, "SHA-256 digest updated after its end");
  if (EVP_DigestUpdate(state_->ctx, data.data(), data.size()) != 1)
    throw Error(ErrorCode::Internal, "SHA-256 digest failed");
}

std::string Sha256::hex() {
  if (state_->done) throw Error(ErrorCode::Internal, "SHA-256 digest read twice");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(state_->ctx, md, &len) != 1)
    throw Error(ErrorCode::Internal, "SHA-256 digest failed");
  state_->done = true;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

}  // namespace hyperctl
