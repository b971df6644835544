// quickstart: the coordinator in a few awaitables — a lock with a fencing-guarded write, a config
// value with compare-and-set, a registered and discovered service, an election, and the plain
// etcd API underneath; then the global free functions. Run against COORD_ENDPOINTS (default
// http://127.0.0.1:2379); scripts/demo.sh starts a throwaway etcd and runs it.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <coordination/coordinator.hpp>
#include <iostream>

namespace asio = boost::asio;
using namespace coordination;
using namespace std::chrono_literals;

asio::awaitable<void> tour(coordinator& coord) {
  // A distributed lock; the write it protects applies only while the lock is still held.
  auto lock = co_await coord.lock("quickstart/report", 15s);
  std::cout << "locked " << lock.key() << " (fencing token " << lock.fencing_token() << ")\n";
  std::vector<txn_op> write;
  write.push_back(put_op{"/quickstart/report", "written under the lock", put_options{}});
  auto guarded = co_await lock.guarded_txn({}, std::move(write));
  std::cout << "guarded write applied: " << std::boolalpha << guarded.succeeded << "\n";
  co_await lock.release();

  // Config center: versions, compare-and-set, history.
  auto& cfg = coord.config_center();
  auto v = co_await cfg.set("quickstart/max_conns", 64);
  co_await cfg.set("quickstart/max_conns", 128, v.version);  // only if nobody changed it
  std::cout << "max_conns = " << co_await cfg.get_as<int>("quickstart/max_conns")
            << " (history: " << (co_await cfg.history("quickstart/max_conns")).size()
            << " versions)\n";

  // Service registry: register (bound to a lease), discover from the watch-backed cache, pick.
  service_info me;
  me.name = "quickstart-api";
  me.instance_id = "api-1";
  me.address = "127.0.0.1:8080";
  co_await coord.registry().register_service(me);
  auto up = co_await coord.registry().discover("quickstart-api");
  auto pick = co_await coord.registry().pick("quickstart-api", pick_strategy::round_robin);
  std::cout << up->size() << " instance(s) of quickstart-api; picked " << pick.address << "\n";

  // Leader election (etcd's recipe: etcdctl elect sees it).
  auto leader = co_await coord.campaign("quickstart", "api-1");
  std::cout << "leader of quickstart: " << leader.value() << "\n";
  co_await leader.resign();

  // The plain etcd API underneath.
  auto& etcd = coord.etcd();
  auto kv = co_await etcd.get("/quickstart/report");
  std::cout << "get /quickstart/report -> " << kv->value << "\n";
  auto status = co_await coord.ping();
  std::cout << "etcd " << status.version << " at " << status.endpoint << "\n";

  // Clean up what the tour wrote; close() releases, deregisters, revokes, disconnects.
  co_await cfg.remove("quickstart/max_conns");
  delete_options everything;
  everything.prefix = true;
  co_await etcd.del("/quickstart/", everything);
  co_await coord.close();
}

// The same with free functions on a global coordinator (the seeds' API): init() once, then call
// them from coroutines on that executor; shutdown() closes it.
asio::awaitable<void> global_tour() {
  init(co_await asio::this_coro::executor, config::from_env());
  auto status = co_await ping();
  std::cout << "global: etcd " << status.version << ", revision " << status.header.revision << "\n";
  auto nightly = co_await try_acquire_lock("quickstart/nightly", 30s);  // locked if held
  auto again = co_await acquire_reentrant_lock("quickstart/reentrant");
  auto twice = co_await acquire_reentrant_lock("quickstart/reentrant");  // counts up
  std::cout << "global: reentrant count " << twice.acquire_count() << "\n";
  auto reader = co_await acquire_read_lock("quickstart/catalog");  // many readers
  auto other_reader = co_await acquire_read_lock("quickstart/catalog", 20s);
  std::cout << "global: two readers on quickstart/catalog\n";
  co_await reader.release();
  co_await other_reader.release();
  auto v = co_await set_config("quickstart/mode", "fast");
  co_await delete_config("quickstart/mode", v.version);  // conflict if it changed meanwhile
  co_await shutdown();
}

int main() {
  asio::io_context io;
  try {
    coordinator coord(io.get_executor(), config::from_env());
    std::exception_ptr failure;
    asio::co_spawn(io, tour(coord), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
    io.restart();
    asio::co_spawn(io, global_tour(), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const coordination_error& e) {
    std::cerr << "quickstart: " << e.what() << "\n";
    return 1;
  }
  std::cout << "quickstart: OK\n";
  return 0;
}
