// election: three nodes take turns as leader of "examples/leader" while an observer prints each
// leader change. etcd's recipe (the same as `etcdctl elect`): the candidate that campaigned
// first leads; the others wait in line; resign() hands over to the next.
//   coordctl elect --listen /coordination/elections/examples/leader   # watch it from a shell
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <set>

#include "example_main.hpp"

namespace asio = boost::asio;
using namespace coordination;

namespace {

const std::string election_name = "examples/leader";

struct shared_view {
  explicit shared_view(asio::io_context& io)
      : changed(io, std::chrono::steady_clock::time_point::max()) {}
  std::set<std::string> observed;  // leader values the observer has printed
  asio::steady_timer changed;      // cancelled whenever `observed` grows
};

// Leads once: announces itself as serving, stays leader until the observer has seen that, then
// resigns.
asio::awaitable<void> serve_and_resign(leadership l, shared_view& view) {
  auto serving = l.value() + " (serving)";
  co_await l.proclaim(serving);
  // ... leader-only work here; its writes go through l.guarded_txn() ...
  while (!view.observed.count(serving))
    co_await view.changed.async_wait(asio::as_tuple(asio::use_awaitable));
  co_await l.resign();
}

asio::awaitable<void> candidate(coordinator& node, std::string name, shared_view& view) {
  auto l = co_await node.campaign(election_name, name);
  std::cout << name << " won (fencing token " << l.fencing_token() << ")\n";
  co_await serve_and_resign(std::move(l), view);
}

asio::awaitable<void> demo(asio::io_context& io) {
  using namespace asio::experimental::awaitable_operators;
  auto cfg = config::from_env();
  coordinator n1(io.get_executor(), cfg), n2(io.get_executor(), cfg), n3(io.get_executor(), cfg),
      watcher(io.get_executor(), cfg);
  shared_view view(io);

  auto first = co_await n1.campaign(election_name, "node-1");
  std::cout << "node-1 won (fencing token " << first.fencing_token() << ")\n";
  auto observer = watcher.observe(election_name);
  const std::vector<std::string> servings{"node-1 (serving)", "node-2 (serving)",
                                          "node-3 (serving)"};
  auto all_seen = [&] {
    for (auto& v : servings)
      if (!view.observed.count(v)) return false;
    return true;
  };
  auto observe = [&]() -> asio::awaitable<void> {
    while (!all_seen()) {
      auto leader = co_await observer.next();
      if (!leader) {  // resigned, nobody campaigning yet
        std::cout << "  observer: no leader\n";
        continue;
      }
      std::cout << "  observer: leader is '" << leader->value << "'\n";
      view.observed.insert(leader->value);
      view.changed.cancel();
    }
  };
  co_await (observe() && serve_and_resign(std::move(first), view) &&
            candidate(n2, "node-2", view) && candidate(n3, "node-3", view));
  example::check(all_seen(), "the observer saw every leader serving");
  example::check(!co_await watcher.leader(election_name), "nobody leads after all resigned");
  co_await n1.close();
  co_await n2.close();
  co_await n3.close();
  co_await watcher.close();
}

}  // namespace

int main() {
  return example::run("election", demo);
}
