// quickstart: the etcd API of the coordination library in a few awaitables.
// Run against COORD_ENDPOINTS (default http://127.0.0.1:2379); scripts/demo.sh starts an etcd.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <coordination/client.hpp>
#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;
using namespace coordination;

asio::awaitable<void> tour(client& etcd) {
  // Plain writes and reads.
  co_await etcd.put("/quickstart/greeting", "hello");
  auto kv = co_await etcd.get("/quickstart/greeting");
  std::cout << "get /quickstart/greeting -> " << kv->value << " (version " << kv->version
            << ", revision " << kv->mod_revision << ")\n";

  // Put-if-absent as a transaction: only the first writer wins.
  for (const char* who : {"first", "second"}) {
    txn_request t;
    t.compares.push_back(compare::create_revision("/quickstart/owner", compare_result::equal, 0));
    t.success.push_back(put_op{"/quickstart/owner", who, {}});
    t.failure.push_back(range_op{"/quickstart/owner", {}});
    auto r = co_await etcd.txn(t);
    std::cout << who << " claims /quickstart/owner: " << (r.succeeded ? "won" : "lost") << "\n";
  }

  // A key that lives only as long as its lease.
  auto lease = co_await etcd.lease_grant(10);
  put_options with_lease;
  with_lease.lease = lease.id;
  co_await etcd.put("/quickstart/ephemeral", "gone when the lease ends", with_lease);
  auto ttl = co_await etcd.lease_time_to_live(lease.id, true);
  std::cout << "lease " << std::hex << lease.id << std::dec << " has " << ttl.ttl
            << " s left and holds " << ttl.keys.size() << " key\n";
  co_await etcd.lease_revoke(lease.id);

  auto all = co_await etcd.get_prefix("/quickstart/");
  std::cout << all.count << " keys under /quickstart/ after revoking the lease\n";
  delete_options everything;
  everything.prefix = true;
  co_await etcd.del("/quickstart/", everything);

  auto status = co_await etcd.status();
  std::cout << "etcd " << status.version << " at " << status.endpoint << "\n";
}

int main() {
  asio::io_context io;
  client_config cfg;
  if (const char* env = std::getenv("COORD_ENDPOINTS"); env && *env)
    cfg.endpoints = client_config::split_endpoints(env);
  try {
    client etcd(io.get_executor(), cfg);
    std::exception_ptr failure;
    asio::co_spawn(io, tour(etcd), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const coordination_error& e) {
    std::cerr << "quickstart: " << e.what() << "\n";
    return 1;
  }
  std::cout << "quickstart: OK\n";
  return 0;
}
