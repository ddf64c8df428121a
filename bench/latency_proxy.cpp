// A TCP proxy that delays every byte by a fixed time in each direction, for
// the fleet benchmark: a libvirt daemon on this machine behind it answers
// like one on a host ROUND_TRIP ms away. Bytes keep their order; the delay is
// added to whatever the link itself takes.
//
//   hyperctl-latency-proxy TARGET_PORT ONE_WAY_MS
//
// Listens on 127.0.0.1 on a free port, prints that port on one line of
// standard output, then serves until killed. Every accepted connection gets
// its own connection to 127.0.0.1:TARGET_PORT.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <utility>  // before Asio: its C++20 coroutine header needs std::exchange
#include <vector>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// One direction of a connection: what is read from `from` is written to
/// `to` `delay` later, in order.
class Pipe : public std::enable_shared_from_this<Pipe> {
 public:
  Pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
       std::chrono::milliseconds delay)
      : from_(std::move(from)), to_(std::move(to)), delay_(delay), timer_(from_->get_executor()) {}

  void start() { read(); }

 private:
  struct Chunk {
    Clock::time_point due;
    std::vector<char> bytes;
  };

  void read() {
    auto self = shared_from_this();
    from_->async_read_some(asio::buffer(buffer_), [self](boost::system::error_code ec,
                                                         std::size_t n) {
      if (ec) {
        self->eof_ = true;
        if (self->queue_.empty() && !self->writing_) self->close();
        return;
      }
      self->queue_.push_back({Clock::now() + self->delay_,
                              std::vector<char>(self->buffer_.begin(), self->buffer_.begin() + n)});
      if (self->queue_.size() == 1 && !self->writing_) self->wait();
      self->read();
    });
  }

  void wait() {
    auto self = shared_from_this();
    timer_.expires_at(queue_.front().due);
    timer_.async_wait([self](boost::system::error_code) { self->write(); });
  }

  void write() {
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(*to_, asio::buffer(queue_.front().bytes),
                      [self](boost::system::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (ec) return self->close();
                        self->queue_.pop_front();
                        if (!self->queue_.empty())
                          self->wait();
                        else if (self->eof_)
                          self->close();
                      });
  }

  void close() {
    boost::system::error_code ignored;
    to_->shutdown(tcp::socket::shutdown_send, ignored);
  }

  std::shared_ptr<tcp::socket> from_, to_;
  std::chrono::milliseconds delay_;
  asio::steady_timer timer_;
  std::array<char, 65536> buffer_{};
  std::deque<Chunk> queue_;
  bool writing_ = false, eof_ = false;
};

void accept(tcp::acceptor& acceptor, unsigned short target, std::chrono::milliseconds delay) {
  acceptor.async_accept(
      [&acceptor, target, delay](boost::system::error_code ec, tcp::socket client) {
        if (!ec) {
          auto down = std::make_shared<tcp::socket>(std::move(client));
          auto up = std::make_shared<tcp::socket>(acceptor.get_executor());
          boost::system::error_code cec;
          up->connect({asio::ip::address_v4::loopback(), target}, cec);
          if (!cec) {
            up->set_option(tcp::no_delay(true));
            down->set_option(tcp::no_delay(true));
            std::make_shared<Pipe>(down, up, delay)->start();
            std::make_shared<Pipe>(up, down, delay)->start();
          }
        }
        accept(acceptor, target, delay);
      });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: hyperctl-latency-proxy TARGET_PORT ONE_WAY_MS\n");
    return 2;
  }
  const int target = std::atoi(argv[1]);
  const int delay_ms = std::atoi(argv[2]);
  if (target <= 0 || target > 65535 || delay_ms < 0) {
    std::fprintf(stderr, "hyperctl-latency-proxy: bad port or delay\n");
    return 2;
  }
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  std::cout << acceptor.local_endpoint().port() << std::endl;
  accept(acceptor, static_cast<unsigned short>(target), std::chrono::milliseconds(delay_ms));
  io.run();
  return 0;
}
