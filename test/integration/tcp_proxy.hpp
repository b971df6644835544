// A TCP forwarder on a free loopback port, for tests that need a network partition between one
// client and an etcd that stays up for everyone else: cut() drops every forwarded connection and
// turns new ones away (accepted, then closed at once) until restore(); hold_watch_streams()
// parks every new connection that opens a watch stream (GET or POST /v3/watch): it is accepted
// and never answered, while unary requests pass; drop_txn_answers() forwards each txn request and
// closes its connection when the answer comes, instead of forwarding it (the client cannot know
// whether it was applied); drop_txn_answers_with() does that to chosen txns only. Runs on the
// test's io_context; not thread-safe.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <list>
#include <memory>
#include <string>
#include <string_view>

namespace coordination::test {

class tcp_proxy {
 public:
  // Forwards 127.0.0.1:<port()> to `target` ("http://127.0.0.1:PORT").
  tcp_proxy(boost::asio::any_io_executor ex, const std::string& target)
      : state_(std::make_shared<state>(ex)) {
    namespace ip = boost::asio::ip;
    auto hostport = target.substr(target.find("//") + 2);
    auto colon = hostport.rfind(':');
    state_->target =
        ip::tcp::endpoint(ip::make_address(hostport.substr(0, colon)),
                          static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1))));
    state_->acceptor.open(ip::tcp::v4());
    state_->acceptor.set_option(ip::tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(ip::tcp::endpoint(ip::address_v4::loopback(), 0));
    state_->acceptor.listen();
    boost::asio::co_spawn(ex, accept_loop(state_), boost::asio::detached);
  }
  ~tcp_proxy() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    cut();
  }
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port());
  }
  void cut() {
    state_->cut = true;
    for (auto& p : state_->pairs) p->close();
    state_->pairs.clear();
  }
  void restore() { state_->cut = false; }
  void hold_watch_streams(bool on) { state_->hold_watches = on; }
  std::size_t watch_streams_held() const { return state_->held; }
  void drop_txn_answers(bool on) { state_->drop_txn = on; }
  // Drops the answers of the next `times` txn requests whose bytes contain `needle` (seen in
  // the request's first read), e.g. a value's base64 or "request_delete_range".
  void drop_txn_answers_with(std::string needle, std::size_t times) {
    state_->drop_needle = std::move(needle);
    state_->drop_needle_times = times;
  }
  std::size_t answers_dropped() const { return state_->dropped; }
  std::size_t connections_accepted() const { return state_->accepted; }

 private:
  using tcp = boost::asio::ip::tcp;
  struct pair {
    tcp::socket a, b;
    bool drop_answer = false;  // a txn request went through: close at its answer
    explicit pair(boost::asio::any_io_executor ex) : a(ex), b(ex) {}
    void close() {
      boost::system::error_code ignored;
      a.close(ignored);
      b.close(ignored);
    }
  };
  struct state {
    explicit state(boost::asio::any_io_executor ex) : acceptor(ex) {}
    tcp::acceptor acceptor;
    tcp::endpoint target;
    bool cut = false;
    bool hold_watches = false;
    bool drop_txn = false;
    std::string drop_needle;
    std::size_t drop_needle_times = 0;
    std::size_t accepted = 0;
    std::size_t held = 0;
    std::size_t dropped = 0;
    std::list<std::shared_ptr<pair>> pairs;
  };

  static boost::asio::awaitable<void> pump(std::shared_ptr<state> s, std::shared_ptr<pair> p,
                                           tcp::socket& from, tcp::socket& to) {
    char buf[16384];
    try {
      for (;;) {
        auto n =
            co_await from.async_read_some(boost::asio::buffer(buf), boost::asio::use_awaitable);
        if (&from == &p->a) {  // a request (a pooled connection carries many)
          std::string_view head(buf, n);
          if (s->hold_watches &&
              (head.starts_with("GET /v3/watch") || head.starts_with("POST /v3/watch"))) {
            ++s->held;
            co_return;  // parked: open, never answered (closed by cut() or the destructor)
          }
          if (s->drop_txn && head.starts_with("POST /v3/kv/txn")) p->drop_answer = true;
          if (s->drop_needle_times > 0 && head.starts_with("POST /v3/kv/txn") &&
              head.find(s->drop_needle) != std::string_view::npos) {
            --s->drop_needle_times;
            p->drop_answer = true;
          }
        } else if (p->drop_answer) {  // its answer: never delivered
          ++s->dropped;
          break;
        }
        co_await boost::asio::async_write(to, boost::asio::buffer(buf, n),
                                          boost::asio::use_awaitable);
      }
    } catch (const std::exception&) {
    }
    p->close();
  }

  static boost::asio::awaitable<void> accept_loop(std::shared_ptr<state> s) {
    auto ex = co_await boost::asio::this_coro::executor;
    for (;;) {
      auto p = std::make_shared<pair>(ex);
      try {
        co_await s->acceptor.async_accept(p->a, boost::asio::use_awaitable);
      } catch (const std::exception&) {
        co_return;  // closed
      }
      ++s->accepted;
      if (s->cut) {
        p->close();
        continue;
      }
      try {
        co_await p->b.async_connect(s->target, boost::asio::use_awaitable);
      } catch (const std::exception&) {
        p->close();
        continue;
      }
      if (s->cut) {  // cut while connecting
        p->close();
        continue;
      }
      s->pairs.remove_if([](auto& q) { return !q->a.is_open(); });
      s->pairs.push_back(p);
      boost::asio::co_spawn(ex, pump(s, p, p->a, p->b), boost::asio::detached);
      boost::asio::co_spawn(ex, pump(s, p, p->b, p->a), boost::asio::detached);
    }
  }

  std::shared_ptr<state> state_;
};

}  // namespace coordination::test
