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
#include "coordination/with_timeout.hpp"
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
  denied,              // 403, PermissionDenied
  canceled,            // Canceled: 408 from etcd 3.4/3.5's gateway, 499 from 3.6's
  watch_error,         // a POST watch stream: created, then a stream error (PermissionDenied)
};

// Which etcd gateway the fake one speaks like. v3_4: grpc-gateway v1 (etcd 3.4 and upstream
// 3.5): unary errors {"error":m,"code":c,"message":m}, stream errors
// {"error":{"grpc_code":c,"http_code":h,"message":m,"http_status":s}}. v3_6: grpc-gateway v2
// with protojson (etcd 3.6, and Debian's 3.5.30 build): unary errors {"code":c, "message":m},
// stream errors {"error":{"code":c,"message":m}}, Canceled as 499, zero fields left out, and a
// space after every ':' and ',' of a unary body.
enum class dialect { v3_4, v3_6 };

// A valid answer to both the range and the put the tests send, with `value` base64-encoded.
std::string valid_json(const std::string& value_b64 = "dg==") {
  return R"({"header":{"revision":"5"},"kvs":[{"key":"aw==","value":")" + value_b64 +
         R"(","create_revision":"2","mod_revision":"5","version":"1"}],"count":"1"})";
}
const std::string long_value(150000, 'w');  // base64: "d3d3" repeated

// protojson's spacing (this JSON has no ':' or ',' inside its strings).
std::string spaced(const std::string& json) {
  std::string out;
  for (char ch : json) {
    out += ch;
    if (ch == ':' || ch == ',') out += ' ';
  }
  return out;
}

std::string error_body(dialect d, int code, const std::string& message) {
  if (d == dialect::v3_6)
    return spaced(R"({"code":)" + std::to_string(code) + R"(,"message":")") + message + R"("})";
  return R"({"error":")" + message + R"(","code":)" + std::to_string(code) + R"(,"message":")" +
         message + R"("})";
}

class fake_gateway {
 public:
  fake_gateway(asio::io_context& io, behaviour b, dialect d = dialect::v3_4)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), behaviour_(b), dialect_(d) {
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
      std::string body(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + len);
      buf.consume(len);
      if (head.starts_with("GET /version ")) {  // the client's readiness probe: answered as etcd
        auto [wec, _] = co_await asio::async_write(
            *s,
            asio::buffer(reply(200, dialect_ == dialect::v3_6
                                        ? R"({"etcdserver":"3.6.0","etcdcluster":"3.6.0"})"
                                        : R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0"})")),
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
          answer = reply(503, error_body(dialect_, 14, "etcdserver: no leader"));
          break;
        case behaviour::denied:
          answer = reply(403, error_body(dialect_, 7, "etcdserver: permission denied"));
          break;
        case behaviour::canceled:
          answer = reply(dialect_ == dialect::v3_6 ? 499 : 408,
                         error_body(dialect_, 1, "etcdserver: request cancelled"));
          break;
        case behaviour::watch_error: {
          if (!head.starts_with("POST /v3/watch ")) {
            answer = reply(200, valid());
            break;
          }
          // etcd answers with the watch_id the create asked for (0 is left out by protojson).
          std::string id = "0";
          if (auto at = body.find("\"watch_id\":"); at != std::string::npos) {
            auto digits = body.substr(at + 11);
            id = digits.substr(0, digits.find_first_not_of("0123456789"));
          }
          std::string created, failed;
          const std::string header =
              R"({"result":{"header":{"cluster_id":"1","member_id":"1","revision":"5",)"
              R"("raft_term":"2"},)";
          if (dialect_ == dialect::v3_6) {
            created = header + (id == "0" ? "" : R"("watch_id":")" + id + R"(",)") +
                      R"("created":true}})";
            failed = R"({"error":{"code":7,"message":"etcdserver: permission denied"}})";
          } else {
            created = header + R"("watch_id":")" + id + R"(","created":true}})";
            failed = R"({"error":{"grpc_code":7,"http_code":403,"message":"etcdserver: )"
                     R"(permission denied","http_status":"Forbidden"}})";
          }
          std::string stream =
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n" +
              chunk(created + "\n") + chunk(failed + "\n");
          auto [wec, _] = co_await asio::async_write(*s, asio::buffer(stream),
                                                     asio::as_tuple(asio::use_awaitable));
          if (wec) co_return;
          asio::steady_timer t(s->get_executor(), 60s);  // the stream stays open, as etcd's
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          co_return;
        }
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
                   chunk(valid().substr(0, 9)) + chunk(valid().substr(9)) + "0\r\n\r\n";
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
          answer = reply(200, valid(b64));
          break;
        }
        case behaviour::close_after_answer: {
          answer = reply(200, valid());
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

  // A valid answer to a range or a put, spaced as protojson writes it for v3_6.
  std::string valid(const std::string& value_b64 = "dg==") const {
    return dialect_ == dialect::v3_6 ? spaced(valid_json(value_b64)) : valid_json(value_b64);
  }

  static std::string reply(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  tcp::acceptor acceptor_;
  behaviour behaviour_;
  dialect dialect_;
};

// Runs a get and a put against a fake gateway behaving as `b`; checks the codes, the time, and
// that each error's text has `says` in it.
void check(behaviour b, error read_code, error write_code, const std::string& says = "",
           dialect d = dialect::v3_4) {
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    fake_gateway fake(io, b, d);
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
void check_served(behaviour b, const std::string& value = "v", dialect d = dialect::v3_4) {
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    fake_gateway fake(io, b, d);
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

// A watch (the POST form) on a gateway whose stream fails with PermissionDenied after created:
// the watch ends with permission_denied, whichever shape the stream error has (it used to be
// moved to another stream and retried for ever, its next() never returning).
void check_watch_stream_error(dialect d) {
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    fake_gateway fake(io, behaviour::watch_error, d);
    auto cfg = config_for({fake.url()});
    cfg.request_timeout = 2s;
    cfg.watch_transport = watch_transport::post;
    client c(io.get_executor(), cfg);
    try {
      // (created and the error may arrive together: then watch() itself reports it)
      auto w = co_await c.watch("k");
      co_await with_timeout(w.next(), 5s);
      BOOST_FAIL("a failed watch stream delivered a batch");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::permission_denied, e.what());
      BOOST_TEST(std::string(e.what()).find("permission denied") != std::string::npos, e.what());
    }
    BOOST_TEST(fake.requests == 1);  // ended, not retried on another stream
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

// The same failures in both gateway dialects map to the same codes.
BOOST_AUTO_TEST_CASE(errors_map_the_same_from_a_3_4_and_a_3_6_gateway) {
  for (auto d : {dialect::v3_4, dialect::v3_6}) {
    BOOST_TEST_CONTEXT((d == dialect::v3_6 ? "3.6" : "3.4")) {
      check(behaviour::no_leader, error::unavailable, error::unavailable, "no leader", d);
      check(behaviour::denied, error::permission_denied, error::permission_denied,
            "permission denied", d);
      // (a write etcd reports Canceled may still have been applied)
      check(behaviour::canceled, error::timeout, error::outcome_unknown, "request cancelled", d);
    }
  }
}
BOOST_AUTO_TEST_CASE(spaced_3_6_answers_are_read) {
  check_served(behaviour::chunked, "v", dialect::v3_6);
  check_served(behaviour::long_body, long_value, dialect::v3_6);
}
BOOST_AUTO_TEST_CASE(a_watch_stream_error_ends_the_watch_with_its_code_in_both_dialects) {
  check_watch_stream_error(dialect::v3_4);
  check_watch_stream_error(dialect::v3_6);
}

BOOST_AUTO_TEST_SUITE_END()
