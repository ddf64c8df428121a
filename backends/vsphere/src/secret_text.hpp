// Text that holds a password (the Login request, the password kept for a
// re-login): its bytes are overwritten with OPENSSL_cleanse, which the
// compiler may not drop as a dead store, whenever memory holding them is
// given back, so that no copy stays behind in freed memory for a core file,
// a swap page or the next allocation to show.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace hyperctl::vsphere {

/// An allocator that wipes each block before giving it back to `Upstream`:
/// a string growing past its capacity wipes the buffer it leaves.
template <class T, class Upstream = std::allocator<T>>
struct WipingAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other =
        WipingAllocator<U, typename std::allocator_traits<Upstream>::template rebind_alloc<U>>;
  };

  Upstream upstream;

  WipingAllocator() = default;
  explicit WipingAllocator(Upstream u) : upstream(std::move(u)) {}
  template <class U, class V>
  WipingAllocator(const WipingAllocator<U, V>& other) : upstream(other.upstream) {}

  T* allocate(std::size_t n) { return upstream.allocate(n); }
  void deallocate(T* p, std::size_t n) {
    OPENSSL_cleanse(p, n * sizeof(T));
    upstream.deallocate(p, n);
  }
  template <class U, class V>
  bool operator==(const WipingAllocator<U, V>& other) const {
    return upstream == other.upstream;
  }
};

/// A string whose heap buffers are wiped when freed; what lives in the
/// object itself (a short string) is wiped by SecretText below.
using WipedString = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;

/// A password or a request carrying one: wiped on destruction and clear(),
/// every buffer it outgrew wiped too.
class SecretText {
 public:
  SecretText() = default;
  explicit SecretText(std::string_view text) : text_(text.data(), text.size()) {}
  /// Takes `text` and wipes the caller's copy.
  explicit SecretText(std::string&& text) : text_(text.data(), text.size()) {
    OPENSSL_cleanse(text.data(), text.capacity());
    text.clear();
  }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() { clear(); }

  void reserve(std::size_t n) { text_.reserve(n); }
  SecretText& append(std::string_view more) {
    text_.append(more.data(), more.size());
    return *this;
  }
  /// Overwrites every byte the string holds, its unused capacity included.
  void clear() {
    OPENSSL_cleanse(text_.data(), text_.capacity());
    text_.clear();
  }
  std::string_view view() const { return {text_.data(), text_.size()}; }
  std::size_t size() const { return text_.size(); }
  /// The string itself, to be moved into what sends it (its allocator wipes
  /// it there when that lets go of it).
  WipedString take() && { return std::move(text_); }

 private:
  WipedString text_;
};

}  // namespace hyperctl::vsphere
