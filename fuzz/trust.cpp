// The trust store's two files (tls_known_hosts, ssh_known_hosts) and
// normalize_thumbprint. The first input byte picks the file; the rest is
// its content.
#include <cstdint>

#include "hyperctl/error.hpp"
#include "hyperctl/trust.hpp"
#include "support.hpp"

using namespace hyperctl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool tls = (data[0] & 1) == 0;
  const std::string text = fuzz::text_of(data + 1, size - 1);
  try {
    const std::string canonical = normalize_thumbprint(text);
    fuzz::check(normalize_thumbprint(canonical) == canonical, "a canonical thumbprint stays");
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad thumbprint is InvalidArgument");
  }
  TrustStore store(fuzz::temp_dir());
  // One file at a time: the other is left empty.
  fuzz::write_file(store.tls_file(), tls ? text : std::string(), 0644);
  fuzz::write_file(store.ssh_file(), tls ? std::string() : text, 0644);
  std::vector<TrustEntry> entries;
  try {
    entries = store.list();
  } catch (const Error& e) {
    fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad line is InvalidArgument");
    return 0;
  }
  for (const TrustEntry& e : entries) {
    fuzz::check(e.kind == (tls ? "tls" : "ssh"), "entries come from the file read");
    fuzz::check(e.port >= 1 && e.port <= 65535, "a listed port is in range");
    if (tls)
      fuzz::check(store.check_tls(e.host, e.port, e.key) == TrustStore::Verdict::Trusted,
                  "a listed thumbprint is trusted for its host");
  }
  // A file that lists can be rewritten: remove what the first entry names.
  if (!entries.empty()) {
    try {
      fuzz::check(store.remove(entries[0].host, entries[0].port) >= 1, "a listed entry goes");
      (void)store.list();
    } catch (const Error& e) {
      fuzz::check(e.code() == ErrorCode::InvalidArgument, "a bad line is InvalidArgument");
    }
  }
  return 0;
}
