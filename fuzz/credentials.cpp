// The credentials file (KEY = SECRET lines): read for a secret, then
// rewritten by store() and erase(). It lives in the harness's own folder
// with mode 0600, as the store demands.
#include <cstdint>

#include "hyperctl/credentials.hpp"
#include "hyperctl/error.hpp"
#include "support.hpp"

using namespace hyperctl;

namespace {

std::optional<std::string> secret_under(const CredentialStore& store, const std::string& key) {
  ConnectionEntry entry;
  entry.name = "fuzz";
  entry.uri = "test:///default";
  entry.credentials = "file:" + key;
  return store.secret_for(&entry, entry.uri, "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::temp_dir() + "/credentials";
  fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  const CredentialStore store(path, /*interactive=*/false);
  try {
    (void)secret_under(store, "fuzz");
    (void)secret_under(store, "vc1");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad file is InvalidArgument");
    return 0;
  }
  // A file that reads can be written back: one key replaced, then removed.
  try {
    store.store("fuzz-key", "s3cret value");
    const auto got = secret_under(store, "fuzz-key");
    fuzz::check(got && *got == "s3cret value", "a stored secret reads back");
    fuzz::check(store.erase("fuzz-key"), "a stored key can be erased");
    fuzz::check(!secret_under(store, "fuzz-key"), "an erased key is gone");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad file is InvalidArgument");
  }
  return 0;
}
