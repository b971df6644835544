// The fault proxy itself (test/support/fault_proxy): it forwards every byte unchanged, however
// the bytes are split (against a fake member that records what it gets: a real etcd cannot tell
// us the bytes it read), and each fault kind does to a real etcd what it says.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "common.hpp"
#include "support/fault_proxy.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

namespace {

// Writes `bytes` in pieces of 1, 2, 3, ... bytes.
asio::awaitable<void> write_split(tcp::socket& s, const std::string& bytes) {
  std::size_t at = 0, piece = 1;
  while (at < bytes.size()) {
    auto n = std::min(piece++, bytes.size() - at);
    co_await asio::async_write(s, asio::buffer(bytes.data() + at, n), asio::use_awaitable);
    at += n;
    if (piece % 3 == 0) co_await sleep_for(1ms);  // (so the reader sees separate reads)
  }
}

asio::awaitable<std::string> read_exactly(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  co_await asio::async_read(s, asio::buffer(out), asio::use_awaitable);
  co_return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_proxy_suite)

BOOST_AUTO_TEST_CASE(forwards_every_byte_unchanged_however_it_is_split) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    tcp::acceptor member(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    fault_proxy proxy(io.get_executor(),
                      "http://127.0.0.1:" + std::to_string(member.local_endpoint().port()));
    const std::string req1 =
        "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\ncontent-LENGTH:  11 \r\n\r\n{\"a\":\"b\r\n\"}";
    const std::string req2 = "POST /v3/kv/range?x=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    const std::string ans1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n{\r\n}\n";
    const std::string ans2 =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n"
        "A\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n";
    tcp::socket client(io);
    co_await client.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(),
                      static_cast<unsigned short>(std::stoi(proxy.url().substr(17)))),
        asio::use_awaitable);
    co_await write_split(client, req1);  // (the proxy connects to the member at the first request)
    auto server = co_await member.async_accept(asio::use_awaitable);
    BOOST_TEST(co_await read_exactly(server, req1.size()) == req1);
    co_await write_split(server, ans1);
    BOOST_TEST(co_await read_exactly(client, ans1.size()) == ans1);
    co_await write_split(client, req2);
    BOOST_TEST(co_await read_exactly(server, req2.size()) == req2);
    co_await write_split(server, ans2);
    BOOST_TEST(co_await read_exactly(client, ans2.size()) == ans2);

    BOOST_REQUIRE(proxy.requests().size() == 2u);
    BOOST_TEST(proxy.requests()[0].path == "/v3/kv/put");
    BOOST_TEST(proxy.requests()[1].path == "/v3/kv/range");
    BOOST_TEST(proxy.faults_applied() == 0u);
  });
}

BOOST_AUTO_TEST_CASE(each_fault_does_what_it_says_to_a_real_etcd) {
  run(
      [](asio::io_context& io) -> asio::awaitable<void> {
        auto endpoints = shared_endpoints();
        fault_proxy proxy(io.get_executor(), endpoints.front());
        auto cfg = config_for({proxy.url()});
        cfg.retry.max_retries = 1;  // (a lost read is resent once)
        cfg.attempt_timeout = 500ms;
        cfg.request_timeout = 3s;
        client c(io.get_executor(), cfg);
        client direct(io.get_executor(), config_for(endpoints));
        auto p = unique_prefix("proxy");
        co_await c.put(p + "warm", "x");  // (the connection and its probe)

        // lost_answer: applied, the client cannot know.
        proxy.add_rule(rule_of(fault::lost_answer, "/v3/kv/put", 1));
        co_await expect_failure(c.put(p + "lost", "1"), error::outcome_unknown);
        BOOST_TEST((co_await direct.get(p + "lost")).has_value());

        // reset_before: never reaches etcd (the client cannot tell it from a lost answer).
        proxy.add_rule(rule_of(fault::reset_before, "/v3/kv/put", 1));
        co_await expect_failure(c.put(p + "reset", "1"), error::outcome_unknown);
        BOOST_TEST(!(co_await direct.get(p + "reset")).has_value());

        // late_answer past the attempt deadline: applied, the client gave up.
        proxy.add_rule(rule_of(fault::late_answer, "/v3/kv/put", 1, 800ms));
        co_await expect_failure(c.put(p + "late", "1"), error::timeout);
        BOOST_TEST((co_await direct.get(p + "late")).has_value());

        // late_apply: not there when the call fails, there once released.
        proxy.add_rule(rule_of(fault::late_apply, "/v3/kv/put", 1));
        co_await expect_failure(c.put(p + "held", "1"), error::outcome_unknown);
        BOOST_TEST(!(co_await direct.get(p + "held")).has_value());
        BOOST_TEST(proxy.held() == 1u);
        BOOST_TEST(co_await proxy.release_held() == 1u);
        BOOST_TEST((co_await direct.get(p + "held")).has_value());

        // late_apply with a delay: applied by itself later.
        proxy.add_rule(rule_of(fault::late_apply, "/v3/kv/put", 1, 300ms));
        co_await expect_failure(c.put(p + "delayed", "1"), error::outcome_unknown);
        co_await proxy.wait_late_applies();
        BOOST_TEST((co_await direct.get(p + "delayed")).has_value());

        // By index: only the 2nd range after this rule is lost; a read is resent.
        proxy.add_rule(rule_at(fault::lost_answer, "/v3/kv/range", 2));
        for (int i = 0; i < 3; ++i) BOOST_TEST((co_await c.get(p + "lost")).has_value());
        BOOST_TEST(proxy.faults_applied() == 6u);  // (5 above, this one)

        // An idempotent write whose every answer is lost may have been applied: it must end
        // outcome_unknown, never unavailable (which promises "not applied").
        proxy.add_rule(rule_of(fault::lost_answer, "/v3/kv/txn", 100));
        txn_request t;
        t.idempotent = true;
        t.success.push_back(put_op{p + "every-answer-lost", "1", put_options{}});
        co_await expect_failure(c.txn(std::move(t)), error::outcome_unknown);
        BOOST_TEST((co_await direct.get(p + "every-answer-lost")).has_value());
        proxy.clear_rules();

        // One answer lost, the resend answered: the answer says an earlier copy reached etcd
        // (txn_result::earlier_attempt_reached); answered at once, it does not.
        proxy.add_rule(rule_of(fault::lost_answer, "/v3/kv/txn", 1));
        txn_request once;
        once.idempotent = true;
        once.success.push_back(put_op{p + "one-answer-lost", "1", put_options{}});
        auto resent = co_await c.txn(once);
        BOOST_TEST(resent.earlier_attempt_reached);
        auto direct_answer = co_await c.txn(std::move(once));
        BOOST_TEST(!direct_answer.earlier_attempt_reached);

        // A cut fault at a request: every connection reset (a read is resent).
        proxy.add_rule(rule_of(fault::cut, "/v3/kv/range", 1));
        BOOST_TEST((co_await c.get(p + "lost")).has_value());
        BOOST_TEST((proxy.requests().back().applied == fault::none));

        // cut: everything turned away until restore.
        proxy.cut();
        co_await expect_failure(c.get(p + "lost"), error::unavailable);
        proxy.restore();
        BOOST_TEST((co_await c.get(p + "lost")).has_value());
      },
      60s);
}

BOOST_AUTO_TEST_CASE(a_watch_passes_through_and_a_cut_ends_its_link) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    auto endpoints = shared_endpoints();
    fault_proxy proxy(io.get_executor(), endpoints.front());
    client c(io.get_executor(), config_for({proxy.url()}));
    client direct(io.get_executor(), config_for(endpoints));
    auto p = unique_prefix("proxy-watch");
    auto w = co_await c.watch(p + "k");
    co_await direct.put(p + "k", "1");
    auto b1 = co_await w.next();
    BOOST_REQUIRE(b1.events.size() == 1u);
    BOOST_TEST(b1.events[0].kv.value == "1");
    proxy.cut();
    proxy.restore();
    co_await direct.put(p + "k", "2");  // delivered once the hub has resumed the stream
    auto b2 = co_await w.next();
    BOOST_REQUIRE(b2.events.size() == 1u);
    BOOST_TEST(b2.events[0].kv.value == "2");
    bool saw_watch = false;
    for (auto& r : proxy.requests()) saw_watch |= r.path.starts_with("/v3/watch");
    BOOST_TEST(saw_watch);
  });
}

BOOST_AUTO_TEST_SUITE_END()
