// An HTTPS host that answers every request with more than anyone should
// read, for the suites that check a client's limit on answers (vSphere SOAP)
// alone and inside a fleet run. It listens on 127.0.0.1 with a self-signed
// certificate made in memory (pin it with thumbprint()), reads one request
// head per connection and answers 200 with text/xml:
//  - Flood::Chunked: chunks of 64 KiB, without end, until the client closes;
//  - Flood::DeclaredLength: a Content-Length of 16 GiB, then the same bytes.
// sent() counts the body bytes written over all connections: a client that
// gives up at its limit keeps it bounded. Header-only; link OpenSSL.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net.hpp"

namespace hyperctl::test_net {

class FloodingTlsServer {
 public:
  enum class Flood { Chunked, DeclaredLength };

  explicit FloodingTlsServer(Flood flood) : flood_(flood) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    key_ = EVP_EC_gen("P-256");
    cert_ = X509_new();
    if (!ctx_ || !key_ || !cert_) throw std::runtime_error("tls server: OpenSSL setup failed");
    X509_set_version(cert_, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_), 86400);
    X509_set_pubkey(cert_, key_);
    X509_NAME* name = X509_get_subject_name(cert_);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert_, name);
    if (X509_sign(cert_, key_, EVP_sha256()) <= 0 || SSL_CTX_use_certificate(ctx_, cert_) != 1 ||
        SSL_CTX_use_PrivateKey(ctx_, key_) != 1)
      throw std::runtime_error("tls server: cannot make its certificate");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    X509_digest(cert_, EVP_sha256(), md, &md_len);
    for (unsigned i = 0; i < md_len; ++i) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02x", md[i]);
      thumbprint_ += hex;
    }

    fd_ = listen_loopback(port_, "the flooding TLS server");
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FloodingTlsServer() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(connections_);
    }
    for (auto& t : threads) t.join();
    ::close(fd_);
    X509_free(cert_);
    EVP_PKEY_free(key_);
    SSL_CTX_free(ctx_);
  }
  FloodingTlsServer(const FloodingTlsServer&) = delete;
  FloodingTlsServer& operator=(const FloodingTlsServer&) = delete;

  unsigned port() const { return port_; }
  /// SHA-256 of the certificate, lower-case hex without colons.
  const std::string& thumbprint() const { return thumbprint_; }
  /// Body bytes written so far, over every connection.
  std::uint64_t sent() const { return sent_.load(); }
  /// Connections accepted so far.
  int connections() const { return accepted_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      const int c = accept_briefly(fd_);
      if (c < 0) continue;
      ++accepted_;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, c] { serve(c); });
    }
  }

  // Writes all of `data`; false once the client is gone or we stop.
  bool write_all(SSL* ssl, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      if (stop_) return false;
      const int n = SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  void serve(int fd) {
    // A client that stops reading must not hold the server past its end.
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      // The request head (the body, if any, is never read).
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < (1u << 20) && !stop_) {
        const int n = SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      const std::string chunk(64 * 1024, 'x');
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n";
      if (flood_ == Flood::Chunked)
        reply += "Transfer-Encoding: chunked\r\n\r\n";
      else
        reply += "Content-Length: " + std::to_string(std::uint64_t{16} << 30) + "\r\n\r\n";
      const auto framed_as_sent = [this](const std::string& data) {
        if (flood_ != Flood::Chunked) return data;
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
        return std::string(size_line) + data + "\r\n";
      };
      reply += framed_as_sent("<?xml version=\"1.0\"?><soapenv:Envelope><soapenv:Body>");
      bool ok = write_all(ssl, reply);
      const std::string framed = framed_as_sent(chunk);
      while (ok && !stop_) {
        ok = write_all(ssl, framed);
        if (ok) sent_ += chunk.size();
      }
    }
    SSL_free(ssl);
    ::close(fd);
  }

  Flood flood_;
  SSL_CTX* ctx_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  std::string thumbprint_;
  int fd_ = -1;
  unsigned port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
};

}  // namespace hyperctl::test_net
