// The HTTPS transport of a vSphere session (private to session.cpp): HTTP/1.1
// on Boost.Beast, run on the calling thread, kept-alive connections reused,
// the TLS policy of session.hpp, the session cookie, the HYPERCTL_TRACE line
// and the mapping of network failures to Errors naming host:port. Beast and
// Asio stay in http.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hyperctl/error.hpp"
#include "hyperctl/types.hpp"
#include "secret_text.hpp"
#include "session.hpp"

namespace hyperctl::vsphere {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
};

class Http {
 public:
  explicit Http(const Target& target);
  ~Http();
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  /// "host:port" ("[::1]:443" for IPv6 literals).
  const std::string& endpoint() const;

  /// POST /sdk. `method` names the call in the trace line. Throws
  /// Error(Unreachable/Timeout) for the network, Error(AuthFailed) for a
  /// refused TLS certificate; any HTTP status is returned.
  /// `deadline` > 0 replaces the target's timeout for this request.
  /// `body` is handed over: it is wiped when the request no longer needs it.
  HttpReply post_sdk(const std::string& soap_action, WipedString body, const std::string& method,
                     const std::string& operation,
                     std::chrono::milliseconds deadline = std::chrono::milliseconds(0));

  /// GET `path_and_query` into `file` (created or truncated). progress gets
  /// (bytes so far, total or 0). Returns the HTTP status; the body of a
  /// failed request is what the file holds. Cancelled: Error(Cancelled).
  int get_to_file(const std::string& path_and_query, const std::string& file,
                  const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                  const CancelToken& cancel, const std::string& operation);
  /// PUT of `file` to `path_and_query`; returns the HTTP status.
  int put_from_file(const std::string& path_and_query, const std::string& file,
                    const std::function<void(std::uint64_t, std::uint64_t)>& progress,
                    const CancelToken& cancel, const std::string& operation);

  /// The vmware_soap_session cookie (set by the answer to Login); empty when none.
  std::string cookie() const;
  void clear_cookie();

  std::uint64_t requests() const { return requests_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> requests_{0};
};

/// "30 s", or "1500 ms" when not whole seconds (for messages).
std::string duration_text(std::chrono::milliseconds d);

/// "/a b/c.vmdk" -> "/a%20b/c.vmdk": every byte outside RFC 3986's unreserved
/// set percent-encoded, '/' kept as the separator.
std::string percent_encode_path(const std::string& path);
/// A query value, every byte outside the unreserved set percent-encoded.
std::string percent_encode_query(const std::string& value);

}  // namespace hyperctl::vsphere
