// registry_connect: three echo servers register as "examples-echo" (weights 1, 1, 2); a client
// discovers them from the watch-backed cache and connects with client-side load balancing.
// When a server stops, connect() skips it (the failed connect marks it down) and the next one
// answers; when its registration goes (deregister, or its lease expires), it leaves every cache.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <map>

#include "example_main.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace coordination;

namespace {

// A line-echo server on a free loopback port that prefixes answers with its name.
struct echo_server {
  echo_server(asio::io_context& io, std::string name)
      : name(std::move(name)), acceptor(io, {asio::ip::make_address("127.0.0.1"), 0}) {}
  std::string name;
  tcp::acceptor acceptor;

  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }

  static asio::awaitable<void> session(tcp::socket s, std::string name) {
    std::string line;
    auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(line), '\n',
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto answer = name + ": " + line.substr(0, n);
    co_await asio::async_write(s, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> serve() {
    for (;;) {
      auto [ec, s] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // closed
      asio::co_spawn(acceptor.get_executor(), session(std::move(s), name), asio::detached);
    }
  }
};

// Connects to one instance of the service, sends a line, returns the answer.
asio::awaitable<std::string> ask(service_registry& registry, pick_strategy how) {
  auto conn = co_await registry.connect("examples-echo", how);
  std::string hello = "hello\n", answer;
  co_await asio::async_write(conn.socket(), asio::buffer(hello), asio::use_awaitable);
  co_await asio::async_read_until(conn.socket(), asio::dynamic_buffer(answer), '\n',
                                  asio::use_awaitable);
  co_return answer.substr(0, answer.find(':'));
}

asio::awaitable<void> demo(asio::io_context& io) {
  auto cfg = config::from_env();
  coordinator servers(io.get_executor(), cfg), clients(io.get_executor(), cfg);
  std::vector<std::unique_ptr<echo_server>> echo;
  for (int i = 1; i <= 3; ++i) {
    echo.push_back(std::make_unique<echo_server>(io, "echo-" + std::to_string(i)));
    asio::co_spawn(io, echo.back()->serve(), asio::detached);
    service_info me;
    me.name = "examples-echo";
    me.instance_id = echo.back()->name;
    me.address = echo.back()->address();
    me.weight = i == 3 ? 2 : 1;
    co_await servers.registry().register_service(me);
    std::cout << "registered " << me.instance_id << " at " << me.address << " (weight " << me.weight
              << ")\n";
  }

  auto& registry = clients.registry();
  auto found = co_await registry.discover("examples-echo");
  example::check(found->size() == 3, "3 instances discovered");

  std::map<std::string, int> answers;
  for (int i = 0; i < 8; ++i) ++answers[co_await ask(registry, pick_strategy::weighted)];
  std::cout << "8 weighted connects:";
  for (auto& [who, n] : answers) std::cout << " " << who << "=" << n;
  std::cout << "\n";
  example::check(answers["echo-1"] == 2 && answers["echo-2"] == 2 && answers["echo-3"] == 4,
                 "smooth weighted round robin gives 2/2/4");

  // echo-2 stops listening but stays registered: connects skip it after one failure.
  echo[1]->acceptor.close();
  answers.clear();
  for (int i = 0; i < 6; ++i) ++answers[co_await ask(registry, pick_strategy::round_robin)];
  std::cout << "echo-2 down, 6 round-robin connects:";
  for (auto& [who, n] : answers) std::cout << " " << who << "=" << n;
  std::cout << "\n";
  example::check(answers.count("echo-2") == 0 && answers["echo-1"] + answers["echo-3"] == 6,
                 "every connect reached a live server");

  // Deregistered: gone from the client's cache once its watch delivers the deletion.
  co_await servers.registry().deregister("examples-echo", "echo-2");
  auto changes = co_await registry.watch("examples-echo");
  auto list = (co_await changes.next()).instances;
  while (list->size() != 2) list = (co_await changes.next()).instances;
  std::cout << "after deregistering echo-2: " << list->size() << " instances\n";

  co_await servers.close();  // deregisters the rest
  co_await clients.close();
  for (auto& e : echo) e->acceptor.close();
}

}  // namespace

int main() {
  return example::run("registry_connect", demo);
}
