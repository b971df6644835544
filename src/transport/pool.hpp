// A bounded set of keep-alive connections to one endpoint. acquire() hands out an idle connection,
// opens a new one while under the limit, or waits (FIFO) for one to come back. The handle returns
// its connection on destruction: to the pool when it is still good, otherwise it is closed and the
// slot freed. Not thread-safe: all calls on the client's executor.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <vector>

#include "transport/connection.hpp"

namespace coordination::transport {

class pool : public std::enable_shared_from_this<pool> {
 public:
  class handle {
   public:
    handle() = default;
    handle(std::shared_ptr<pool> p, std::unique_ptr<connection> c, bool reused)
        : pool_(std::move(p)), conn_(std::move(c)), reused_(reused) {}
    handle(handle&&) noexcept = default;
    handle& operator=(handle&&) noexcept;
    ~handle() { reset(); }
    connection* operator->() const { return conn_.get(); }
    connection& get() const { return *conn_; }
    explicit operator bool() const { return conn_ != nullptr; }
    bool reused() const { return reused_; }
    // Gives the connection back; a connection that is no longer reusable is closed instead.
    void reset();

   private:
    std::shared_ptr<pool> pool_;
    std::unique_ptr<connection> conn_;
    bool reused_ = false;
  };

  pool(boost::asio::any_io_executor ex, endpoint ep, boost::asio::ssl::context* tls,
       std::size_t max_connections);

  // ec is a coordination::error (timeout, cancelled) or the connect/handshake error.
  boost::asio::awaitable<std::pair<std::error_code, handle>> acquire(
      clock::time_point deadline, std::chrono::milliseconds dial_timeout);

  const endpoint& remote() const { return ep_; }
  std::size_t open_connections() const { return open_; }
  // Closes idle connections; connections in use close when they come back.
  void close();

 private:
  struct waiter {
    boost::asio::steady_timer timer;
    std::unique_ptr<connection> handed;
    bool slot_freed = false;
  };
  void give_back(std::unique_ptr<connection> c);
  void free_slot();
  void pass_on_slot();  // a free slot goes to the first waiter, if any

  boost::asio::any_io_executor ex_;
  endpoint ep_;
  boost::asio::ssl::context* tls_;
  std::size_t max_;
  std::size_t open_ = 0;
  bool closed_ = false;
  std::vector<std::unique_ptr<connection>> idle_;
  std::list<waiter*> waiters_;
};

}  // namespace coordination::transport
