// http_server: an async HTTP server (Boost.Beast) that uses the coordinator the way a service
// would. It registers itself in the service registry, takes a distributed lock per request that
// changes shared state, and serves the coordinator's Prometheus metrics.
//
//   GET /counter/<name>  lock "examples/counter/<name>", add 1 to a counter in etcd with a
//                        fenced write, answer the new value (any number of servers can share it)
//   GET /services        the instances of "examples-http" this server sees, one per line
//   GET /metrics         Prometheus text format
//   GET /healthz         "ok"
//
// Usage: http_server [--port N] [--port-file FILE]   (etcd from COORD_ENDPOINTS)
// Stops on SIGINT/SIGTERM: deregisters, releases, revokes (coordinator::close), exits 0.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <sstream>

#include "example_main.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace coordination;
using namespace std::chrono_literals;

namespace {

struct server {
  coordinator& coord;
  tcp::acceptor acceptor;
  std::string address;

  asio::awaitable<std::string> bump_counter(const std::string& name) {
    // One lock per counter: requests for different counters do not wait for each other.
    auto lock = co_await coord.lock("examples/counter/" + name);
    auto key = "/examples/http/counter/" + name;
    auto kv = co_await coord.etcd().get(key);
    auto next = std::to_string((kv ? std::stoll(kv->value) : 0) + 1);
    std::vector<txn_op> write;
    write.push_back(put_op{key, next, put_options{}});
    co_await lock.guarded_txn({}, std::move(write));  // lock_lost if our lease lapsed meanwhile
    co_await lock.release();
    co_return next;
  }

  asio::awaitable<http::response<http::string_body>> handle(
      const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    std::string target(req.target());
    try {
      if (req.method() != http::verb::get) {
        res.result(http::status::method_not_allowed);
        res.body() = "GET only\n";
      } else if (target == "/healthz") {
        res.body() = "ok\n";
      } else if (target.starts_with("/counter/") && target.size() > 9) {
        res.body() = co_await bump_counter(target.substr(9)) + "\n";
      } else if (target == "/services") {
        for (auto& i : *co_await coord.registry().discover("examples-http"))
          res.body() += i.instance_id + " " + i.address + "\n";
      } else if (target == "/metrics") {
        std::ostringstream text;
        prometheus::TextSerializer().Serialize(text, coord.metrics()->Collect());
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = text.str();
      } else {
        res.result(http::status::not_found);
        res.body() = "not found\n";
      }
    } catch (const coordination_error& e) {
      res.result(http::status::service_unavailable);
      res.body() = std::string(e.what()) + "\n";
    }
    res.prepare_payload();
    co_return res;
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      stream.expires_after(30s);
      auto [ec, n] =
          co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // closed, timed out or malformed
      auto res = co_await handle(req);
      res.keep_alive(req.keep_alive());
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) co_return;
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, s] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // closed by the shutdown
      asio::co_spawn(acceptor.get_executor(), connection(std::move(s)), asio::detached);
    }
  }
};

asio::awaitable<void> main_coroutine(asio::io_context& io, unsigned short port,
                                     std::string port_file) {
  auto cfg = config::from_env();
  cfg.enable_metrics = true;
  coordinator coord(io.get_executor(), cfg);
  server srv{coord, tcp::acceptor(io, {asio::ip::make_address("127.0.0.1"), port}), {}};
  srv.address = "127.0.0.1:" + std::to_string(srv.acceptor.local_endpoint().port());

  service_info me;
  me.name = "examples-http";
  me.instance_id = "http-" + std::to_string(::getpid());
  me.address = srv.address;
  co_await coord.registry().register_service(me);
  std::cout << "http_server: serving on http://" << srv.address << " as " << me.instance_id
            << std::endl;
  if (!port_file.empty()) std::ofstream(port_file) << srv.acceptor.local_endpoint().port() << "\n";

  asio::co_spawn(io, srv.accept_loop(), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  co_await signals.async_wait(asio::use_awaitable);
  std::cout << "http_server: stopping" << std::endl;
  srv.acceptor.close();
  co_await coord.close();  // deregisters, releases, revokes, disconnects
  io.stop();               // connections still open end with the process
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  std::string port_file;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "http_server: " << flag << " needs a value\n";
      return 2;
    }
    if (flag == "--port") {
      char* end = nullptr;
      long v = std::strtol(argv[i + 1], &end, 10);
      if (*argv[i + 1] == '\0' || *end != '\0' || v < 0 || v > 65535) {
        std::cerr << "http_server: --port: not a port number: '" << argv[i + 1] << "'\n";
        return 2;
      }
      port = static_cast<unsigned short>(v);
    } else if (flag == "--port-file") {
      port_file = argv[i + 1];
    } else {
      std::cerr << "usage: http_server [--port N] [--port-file FILE]\n";
      return 2;
    }
  }
  return example::run("http_server",
                      [&](asio::io_context& io) { return main_coroutine(io, port, port_file); });
}
