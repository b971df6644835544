#include <unistd.h>

#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "coordination/with_timeout.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/coord-pki-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(security)

BOOST_AUTO_TEST_CASE(mutual_tls_with_a_test_ca) {
  if (using_external_cluster()) return;
  temp_dir dir;
  auto pki = make_test_pki(dir.path);
  etcd_options opts;
  opts.tls = pki;
  opts.client_cert_auth = true;
  etcd_cluster cluster(1, opts);
  BOOST_TEST(cluster.client_url(0).starts_with("https://"));

  auto cfg = config_for(cluster.client_urls());
  cfg.tls.ca_file = pki.ca;
  cfg.tls.cert_file = pki.client_cert;
  cfg.tls.key_file = pki.client_key;
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), cfg);
    co_await c.put("tls-key", "secret");
    BOOST_TEST((co_await c.get("tls-key"))->value == "secret");
  });

  // The server's certificate is not signed by the CA we trust: the handshake fails, clearly.
  auto wrong_ca = cfg;
  wrong_ca.tls.ca_file = pki.other_ca;
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), wrong_ca);
    try {
      co_await c.get("tls-key");
      BOOST_FAIL("a server outside the trusted CA was accepted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::tls_error, e.what());
      BOOST_TEST(std::string(e.what()).find("certificate") != std::string::npos, e.what());
    }
  });

  // No client certificate: etcd refuses the handshake.
  auto no_cert = cfg;
  no_cert.tls.cert_file.clear();
  no_cert.tls.key_file.clear();
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), no_cert);
    try {
      co_await c.get("tls-key");
      BOOST_FAIL("mTLS without a client certificate succeeded");
    } catch (const coordination_error& e) {
      BOOST_TEST((e.code() == error::tls_error || e.code() == error::unavailable), e.what());
    }
  });

  // Files that do not exist are named.
  auto missing = cfg;
  missing.tls.ca_file = dir.path + "/nope.pem";
  expect_error(
      [&] {
        asio::io_context io;
        client c(io.get_executor(), missing);
      },
      error::invalid_argument);
}

BOOST_AUTO_TEST_CASE(user_and_password_auth) {
  if (using_external_cluster()) return;
  etcd_options opts;
  opts.extra_args = {"--auth-token-ttl=2"};
  etcd_cluster cluster(1, opts);
  add_app_user(cluster);

  auto cfg = config_for(cluster.client_urls());
  cfg.username = "root";
  cfg.password = "rootpw";
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        client c(io.get_executor(), cfg);
        co_await c.put("/app/x", "1");
        BOOST_TEST((co_await c.get("/app/x"))->value == "1");
        // Simple tokens expire (here after 2 s): the client authenticates again by itself.
        asio::steady_timer t(io, 3500ms);
        co_await t.async_wait(asio::use_awaitable);
        co_await c.put("/app/x", "2");
        BOOST_TEST((co_await c.get("/app/x"))->value == "2");
        BOOST_TEST(coordination::detail::impl_of(c).transport.stats().reauthentications >= 1u);
        // Watches work with auth: over the POST form, since etcd 3.4's WebSocket proxy passes
        // no token (automatic picks POST; websocket is refused, then falls back to POST).
        for (auto mode : {watch_transport::automatic, watch_transport::websocket}) {
          auto wcfg = cfg;
          wcfg.watch_transport = mode;
          client wc(io.get_executor(), wcfg);
          auto w = co_await wc.watch("/app/w");
          auto r = co_await wc.put("/app/w", "seen");
          auto b = co_await with_timeout(w.next(), 10s);
          BOOST_TEST(b.events.at(0).kv.mod_revision == r.header.revision);
          BOOST_TEST(coordination::detail::impl_of(wc).hub().stats().post_form);
        }
      },
      60s);

  auto wrong = cfg;
  wrong.password = "not-the-password";
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), wrong);
    try {
      co_await c.get("/app/x");
      BOOST_FAIL("a wrong password was accepted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::auth_failed, e.what());
      BOOST_TEST(std::string(e.what()).find("not-the-password") == std::string::npos);
    }
  });

  auto app = cfg;
  app.username = "app";
  app.password = "apppw";
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), app);
    co_await c.put("/app/y", "ok");
    try {
      co_await c.put("/other/y", "no");
      BOOST_FAIL("a write outside the role's keys was accepted");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::permission_denied, e.what());
    }
  });

  auto anonymous = cfg;
  anonymous.username.clear();
  anonymous.password.clear();
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), anonymous);
    try {
      co_await c.get("/app/x");
      BOOST_FAIL("an anonymous read was accepted with auth on");
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::auth_failed, e.what());
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()
