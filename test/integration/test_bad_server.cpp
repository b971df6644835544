// What a real etcd cannot be made to do: garbage, wrong types, truncation, stalls, huge bodies.
// A fake gateway on loopback answers every request one way; each call must end with a clear
// error within its deadline.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common.hpp"
#include "support/http_chunk.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

enum class behaviour {
  garbage,
  wrong_types,
  truncated,
  stall,
  html_500,
  huge,
  no_leader,
  hang_up,
  not_http,
  bad_chunk,
  chunked,             // a valid answer, chunked
  long_body,           // a valid answer of ~200 KB with a Content-Length (read straight into place)
  dribble,             // a body sent one byte every 2 ms, never done before the deadline
  close_after_answer,  // a valid answer with "Connection: close", then the server hangs up
};

// A valid answer to both the range and the put the tests send, with `value` base64-encoded.
std::string valid_json(const std::string& value_b64 = "dg==") {
  return R"({"header":{"revision":"5"},"kvs":[{"key":"aw==","value":")" + value_b64 +
         R"(","create_revision":"2","mod_revision":"5","version":"1"}],"count":"1"})";
}
const std::string long_value(150000, 'w');  // base64: "d3d3" repeated

class fake_gateway {
 public:
  fake_gateway(asio::io_context& io, behaviour b)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), behaviour_(b) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int requests = 0;
  void stop() { acceptor_.close(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket sock) {
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    asio::streambuf buf;
    for (;;) {
      auto [ec, n] =
          co_await asio::async_read_until(*s, buf, "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
      buf.consume(n);
      auto pos = head.find("Content-Length: ");
      std::size_t len = pos == std::string::npos ? 0 : std::stoul(head.substr(pos + 16));
      if (buf.size() < len) {
        auto [ec2, _] = co_await asio::async_read(*s, buf, asio::transfer_exactly(len - buf.size()),
                                                  asio::as_tuple(asio::use_awaitable));
        if (ec2) co_return;
      }
      buf.consume(len);
      if (head.starts_with("GET /version ")) {  // the client's readiness probe: answered as etcd
        auto [wec, _] = co_await asio::async_write(
            *s, asio::buffer(reply(200, R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0"})")),
            asio::as_tuple(asio::use_awaitable));
        if (wec) co_return;
        continue;
      }
      ++requests;
      std::string answer;
      switch (behaviour_) {
        case behaviour::garbage:
          answer = reply(200, "this is not json");
          break;
        case behaviour::wrong_types:
          answer = reply(200, R"({"header":"x","kvs":"surprise","count":[1],"prev_kv":7})");
          break;
        case behaviour::truncated:
          answer = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"kvs\":[";
          co_await asio::async_write(*s, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
          co_return;  // hang up mid-body
        case behaviour::stall: {
          asio::steady_timer t(s->get_executor(), 60s);
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          co_return;
        }
        case behaviour::html_500:
          answer = reply(500, "<html><body>Internal Server Error</body></html>");
          break;
        case behaviour::huge: {
          std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n{\"kvs\":[";
          co_await asio::async_write(*s, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
          std::string block(64 * 1024, ' ');
          for (int i = 0; i < 1600; ++i) {
            auto [wec, _] = co_await asio::async_write(*s, asio::buffer(block),
                                                       asio::as_tuple(asio::use_awaitable));
            if (wec) co_return;
          }
          co_return;
        }
        case behaviour::no_leader:
          answer = reply(
              503,
              R"({"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"})");
          break;
        case behaviour::hang_up:
          co_return;
        case behaviour::not_http:
          answer = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
          break;
        case behaviour::bad_chunk:
          answer =
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":1}\r\n0\r\n\r\n";
          break;
        case behaviour::chunked:
          answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   chunk(valid_json().substr(0, 9)) + chunk(valid_json().substr(9)) + "0\r\n\r\n";
          break;
        case behaviour::dribble: {
          std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{";
          co_await asio::async_write(*s, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
          for (int i = 0; i < 5000; ++i) {
            asio::steady_timer t(s->get_executor(), 2ms);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            auto [wec, _] = co_await asio::async_write(*s, asio::buffer(" ", 1),
                                                       asio::as_tuple(asio::use_awaitable));
            if (wec) co_return;
          }
          co_return;
        }
        case behaviour::long_body: {
          std::string b64;
          for (std::size_t i = 0; i < long_value.size() / 3; ++i) b64 += "d3d3";
          answer = reply(200, valid_json(b64));
          break;
        }
        case behaviour::close_after_answer: {
          answer = reply(200, valid_json());
          answer.insert(answer.find("\r\n") + 2, "Connection: close\r\n");
          co_await asio::async_write(*s, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
          co_return;
        }
      }
      auto [wec, _] =
          co_await asio::async_write(*s, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }

  static std::string reply(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  tcp::acceptor acceptor_;
  behaviour behaviour_;
};

// Runs a get and a put against a fake gateway behaving as `b`; checks the codes, the time, and
// that each error's text has `says` in it.
void check(behaviour b, error read_code, error write_code, const std::string& says = "") {
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    fake_gateway fake(io, b);
    auto cfg = config_for({fake.url()});
    cfg.request_timeout = 2s;
    cfg.retry.initial_interval = 10ms;
    cfg.max_response_bytes = 1024 * 1024;
    client c(io.get_executor(), cfg);
    for (bool write : {false, true}) {
      auto start = std::chrono::steady_clock::now();
      try {
        if (write)
          co_await c.put("k", "v");
        else
          co_await c.get("k");
        BOOST_FAIL("a call against a broken gateway succeeded");
      } catch (const coordination_error& e) {
        BOOST_TEST(e.code() == (write ? write_code : read_code), (write ? "put: " : "get: ")
                                                                     << e.what());
        BOOST_TEST(!e.diagnostic().empty());
        BOOST_TEST(std::string(e.what()).find(says) != std::string::npos, e.what());
      }
      BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
    }
    fake.stop();
  });
}

// A gateway answering well in an unusual but valid way: calls succeed.
void check_served(behaviour b, const std::string& value = "v") {
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    fake_gateway fake(io, b);
    auto cfg = config_for({fake.url()});
    cfg.request_timeout = 2s;
    client c(io.get_executor(), cfg);
    for (int i = 0; i < 3; ++i) {
      auto kv = co_await c.get("k");
      BOOST_TEST_REQUIRE(kv.has_value());
      BOOST_TEST((kv->value == value));
      BOOST_TEST(kv->mod_revision == 5);
      auto put = co_await c.put("k", "v");
      BOOST_TEST(put.header.revision == 5);
    }
    BOOST_TEST(fake.requests == 6);
    fake.stop();
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_server)

BOOST_AUTO_TEST_CASE(garbage_json) {
  check(behaviour::garbage, error::protocol_error, error::protocol_error);
}
BOOST_AUTO_TEST_CASE(wrong_types) {
  check(behaviour::wrong_types, error::protocol_error, error::protocol_error);
}
// A read is resent until it runs out of attempts; a write that was sent is never resent.
BOOST_AUTO_TEST_CASE(truncated_body) {
  check(behaviour::truncated, error::unavailable, error::outcome_unknown);
}
BOOST_AUTO_TEST_CASE(stalled_answer) {
  check(behaviour::stall, error::timeout, error::timeout);
}
// Bytes keep coming, so reads keep completing: the deadline still ends the call.
BOOST_AUTO_TEST_CASE(dribbled_answer) {
  check(behaviour::dribble, error::timeout, error::timeout);
}
BOOST_AUTO_TEST_CASE(html_error_page) {
  check(behaviour::html_500, error::protocol_error, error::outcome_unknown);
}
BOOST_AUTO_TEST_CASE(huge_body) {
  check(behaviour::huge, error::response_too_large, error::response_too_large);
}
BOOST_AUTO_TEST_CASE(no_leader) {
  check(behaviour::no_leader, error::unavailable, error::unavailable);
}
BOOST_AUTO_TEST_CASE(hang_up_before_answering) {
  check(behaviour::hang_up, error::unavailable, error::outcome_unknown);
}

BOOST_AUTO_TEST_CASE(not_http_at_all) {
  check(behaviour::not_http, error::unavailable, error::outcome_unknown, "bad status line");
}
BOOST_AUTO_TEST_CASE(malformed_chunk) {
  check(behaviour::bad_chunk, error::unavailable, error::outcome_unknown,
        "chunk data not followed by CR LF");
}
BOOST_AUTO_TEST_CASE(chunked_answers_are_read) {
  check_served(behaviour::chunked);
}
BOOST_AUTO_TEST_CASE(long_answers_with_a_length_are_read) {
  check_served(behaviour::long_body, long_value);
}
BOOST_AUTO_TEST_CASE(connection_close_answers_are_read_and_the_next_call_reconnects) {
  check_served(behaviour::close_after_answer);
}

BOOST_AUTO_TEST_SUITE_END()
