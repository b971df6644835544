// Invalid input through every public entry point, in one place: each is refused with
// invalid_argument and a message naming the field, before anything is sent, and the client (its
// connections, its sessions) still works afterwards and nothing was written. (coordctl's flags:
// test/cli/coordctl_test.sh.)
#include <boost/asio/io_context.hpp>
#include <fstream>

#include "common.hpp"
#include "coordination/as_result.hpp"
#include "coordination/config_center.hpp"
#include "coordination/election.hpp"
#include "coordination/lock.hpp"
#include "coordination/registry.hpp"
#include "coordination/session.hpp"
#include "coordination/watch.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

// Building a client from `cfg` must throw invalid_argument naming `field`.
void config_refused(client_config cfg, const std::string& field) {
  expect_error(
      [&] {
        asio::io_context io;
        client c(io.get_executor(), cfg);
      },
      error::invalid_argument, field);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(invalid_input)

BOOST_AUTO_TEST_CASE(client_config_fields) {
  auto good = config_for({"http://127.0.0.1:2379"});
  auto with = [&](auto change) {
    auto c = good;
    change(c);
    return c;
  };
  config_refused(with([](auto& c) { c.endpoints.clear(); }), "endpoints");
  for (auto url : {"127.0.0.1:2379", "ftp://127.0.0.1:2379", "http://", "http://h:port",
                   "http://h:99999", "http://h:2379/v3", "http://[::1:2379", "http//h:1", ""})
    config_refused(with([&](auto& c) { c.endpoints = {url}; }), "endpoints");
  config_refused(with([](auto& c) { c.dial_timeout = 0ms; }), "dial_timeout");
  config_refused(with([](auto& c) { c.request_timeout = -1ms; }), "request_timeout");
  config_refused(with([](auto& c) { c.password = "p"; }), "username");
  config_refused(with([](auto& c) { c.retry.max_retries = -1; }), "retry.max_retries");
  config_refused(with([](auto& c) { c.retry.initial_interval = 0ms; }), "retry.initial_interval");
  config_refused(with([](auto& c) { c.retry.multiplier = 0.5; }), "retry.multiplier");
  config_refused(with([](auto& c) { c.pool_size = 0; }), "pool_size");
  config_refused(with([](auto& c) { c.max_response_bytes = 10; }), "max_response_bytes");
  config_refused(with([](auto& c) { c.max_request_bytes = 10; }), "max_request_bytes");
  config_refused(with([](auto& c) { c.tls.cert_file = "/tmp/x.pem"; }), "tls.cert_file");
}

BOOST_AUTO_TEST_CASE(tls_files_that_are_missing_or_not_pem) {
  char tmpl[] = "/tmp/coord-badtls-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/garbage.pem") << "this is not a certificate\n";
  auto tls = [&](std::string ca, std::string cert, std::string key) {
    auto c = config_for({"https://127.0.0.1:2379"});
    c.tls.ca_file = ca;
    c.tls.cert_file = cert;
    c.tls.key_file = key;
    return c;
  };
  // The files are read when the client is built, so a typo shows at start-up, not at the
  // first request.
  config_refused(tls(dir + "/missing.pem", "", ""), "tls.ca_file");
  config_refused(tls(dir + "/garbage.pem", "", ""), "tls.ca_file");
  config_refused(tls("", dir + "/missing.pem", dir + "/garbage.pem"), "tls.cert_file");
  config_refused(tls("", dir + "/garbage.pem", dir + "/garbage.pem"), "tls.cert_file");
  auto pki = make_test_pki(dir + "/pki");
  config_refused(tls(pki.ca, pki.client_cert, dir + "/missing.pem"), "tls.key_file");
  config_refused(tls(pki.ca, pki.client_cert, dir + "/garbage.pem"), "tls.key_file");
  config_refused(tls(pki.ca, pki.client_cert, pki.server_key), "tls.key_file");  // not its key
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(kv_lease_and_watch_calls) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("invalid-kv");
    co_await expect_failure([&] { return c.put("", "v"); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.get(""); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.del(""); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.put(p + "big", std::string(2 * 1024 * 1024, 'x')); },
                            error::invalid_argument, "value");
    range_options ro;
    ro.limit = -1;
    co_await expect_failure([&] { return c.range(p + "k", ro); }, error::invalid_argument, "limit");
    range_options rev;
    rev.revision = -3;
    co_await expect_failure([&] { return c.range(p + "k", rev); }, error::invalid_argument,
                            "revision");
    range_options backwards;
    backwards.range_end = p + "a";
    co_await expect_failure([&] { return c.range(p + "b", backwards); }, error::invalid_argument,
                            "range_end");
    delete_options backwards_delete;
    backwards_delete.range_end = p + "a";
    co_await expect_failure([&] { return c.del(p + "b", backwards_delete); },
                            error::invalid_argument, "range_end");
    txn_request t;
    t.success.push_back(put_op{"", "v", {}});
    co_await expect_failure([&] { return c.txn(t); }, error::invalid_argument, "key");
    co_await expect_failure([&] { return c.compact(0); }, error::invalid_argument, "revision");
    co_await expect_failure([&] { return c.compact(-1); }, error::invalid_argument, "revision");
    co_await expect_failure([&] { return c.lease_grant(0); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return c.lease_grant(-5); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return c.lease_revoke(0); }, error::invalid_argument, "lease id");
    co_await expect_failure([&] { return c.lease_keep_alive_once(-1); }, error::invalid_argument,
                            "lease id");
    co_await expect_failure([&] { return c.lease_time_to_live(0); }, error::invalid_argument,
                            "lease id");
    co_await expect_failure([&] { return c.watch(""); }, error::invalid_argument, "key");
    watch_options wo;
    wo.start_revision = -1;
    co_await expect_failure([&] { return c.watch(p, wo); }, error::invalid_argument,
                            "start_revision");
    // Thrown where awaited, not at the call: as_result() gets it as a value.
    auto no_end = co_await as_result(c.watch_range(p, ""));
    BOOST_REQUIRE(!no_end);
    BOOST_TEST((no_end.error().code == error::invalid_argument));
    BOOST_TEST(no_end.error().diagnostic.find("range_end") != std::string::npos);
    // Nothing was written, and the same client still works.
    BOOST_TEST((co_await c.get_prefix(p)).count == 0);
    co_await c.put(p + "ok", "v");
    BOOST_TEST((co_await c.get(p + "ok"))->value == "v");
  });
}

BOOST_AUTO_TEST_CASE(recipes) {
  run([](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(shared_endpoints()));
    auto p = unique_prefix("invalid-recipes");
    session_options zero;
    zero.ttl = 0s;
    co_await expect_failure([&] { return session::create(c, zero); }, error::invalid_argument,
                            "ttl");
    session_options negative_interval;
    negative_interval.renew_interval = -1ms;
    co_await expect_failure([&] { return session::create(c, negative_interval); },
                            error::invalid_argument, "renew_interval");

    auto s = co_await session::create(c);
    locker l(s);
    co_await expect_failure([&] { return l.lock(""); }, error::invalid_argument, "name");
    co_await expect_failure([&] { return l.try_lock(""); }, error::invalid_argument, "name");
    co_await expect_failure([&] { return l.lock(p + "L", 0s); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return l.lock(p + "L", -3s); }, error::invalid_argument, "ttl");
    co_await expect_failure([&] { return l.read_lock(""); }, error::invalid_argument, "name");
    co_await expect_failure([&] { return l.acquire_semaphore(p + "S", 0); },
                            error::invalid_argument, "permits");
    co_await expect_failure([&] { return l.acquire_semaphore(p + "S", -2); },
                            error::invalid_argument, "permits");

    elector e(s);
    co_await expect_failure([&] { return e.campaign("", "v"); }, error::invalid_argument,
                            "election name");

    registry_options ro;
    ro.prefix = p + "services/";
    service_registry reg(c, ro);
    auto info = [](std::string name, std::string id, std::string address) {
      service_info i;
      i.name = std::move(name);
      i.instance_id = std::move(id);
      i.address = std::move(address);
      return i;
    };
    co_await expect_failure([&] { return reg.register_service(info("", "a", "127.0.0.1:1")); },
                            error::invalid_argument, "service name");
    co_await expect_failure([&] { return reg.register_service(info("s", "", "127.0.0.1:1")); },
                            error::invalid_argument, "instance id");
    co_await expect_failure([&] { return reg.register_service(info("s", "a", "no-port")); },
                            error::invalid_argument, "address");
    co_await expect_failure(
        [&] { return reg.register_service(info("s", "a", "127.0.0.1:1"), -1s); },
        error::invalid_argument, "ttl");
    auto heavy = info("s", "a", "127.0.0.1:1");
    heavy.weight = 2000000;
    co_await expect_failure([&] { return reg.register_service(heavy); }, error::invalid_argument,
                            "weight");
    co_await expect_failure([&] { return reg.discover(""); }, error::invalid_argument,
                            "service name");
    registry_options bad_ttl;
    bad_ttl.ttl = 0s;
    BOOST_CHECK_EXCEPTION((void)service_registry(c, bad_ttl), coordination_error,
                          [](auto& e) { return e.code() == error::invalid_argument; });

    config_center_options co;
    co.prefix = p + "config/";
    config_center cc(c, co);
    co_await expect_failure([&] { return cc.set("", "x"); }, error::invalid_argument, "config key");
    co_await expect_failure([&] { return cc.get(""); }, error::invalid_argument, "config key");
    co_await expect_failure([&] { return cc.set("k", "x", -1); }, error::invalid_argument,
                            "expected_version");
    // A typed value that is not valid JSON text (not UTF-8): invalid_argument where awaited.
    const std::vector<std::string> not_utf8{"\xff\xfe"};
    auto refused = co_await as_result(cc.set("k", not_utf8));
    BOOST_REQUIRE(!refused);
    BOOST_TEST((refused.error().code == error::invalid_argument));
    BOOST_TEST(refused.error().diagnostic.find("config k") != std::string::npos,
               refused.error().diagnostic);
    auto refused_cas = co_await as_result(cc.set("k", not_utf8, 0));
    BOOST_TEST((!refused_cas && refused_cas.error().code == error::invalid_argument));

    // Nothing was written; the session and a real lock still work.
    BOOST_TEST((co_await c.get_prefix(p)).count == 0);
    BOOST_TEST(!s.lost());
    auto h = co_await l.lock(p + "L");
    BOOST_TEST(h.held());
    co_await h.release();
    co_await s.close();
    co_await reg.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()
