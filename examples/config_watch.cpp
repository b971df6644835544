// config_watch: a service's limits as a typed config value. A writer changes them with
// compare-and-set; a validator keeps bad values out of etcd; the service watches the key and
// applies each new version as it arrives (the same thing `coordctl config set` would trigger).
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include "example_main.hpp"

namespace asio = boost::asio;
using namespace coordination;

namespace {

struct limits {
  int max_connections = 100;
  double shed_ratio = 0.0;  // share of requests to refuse under load, 0..1
  bool operator==(const limits&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(limits, max_connections, shed_ratio)

const std::string key = "examples/api/limits";

// The service side: applies every version it is told about until it sees `last`.
asio::awaitable<void> service(config_center& cfg, config_watch changes, limits last) {
  for (;;) {
    auto change = co_await changes.next();
    if (!change.new_value) continue;  // deleted: keep the current limits
    auto applied = nlohmann::json::parse(change.new_value->value).get<limits>();
    std::cout << "  service: version " << change.version << " -> max_connections "
              << applied.max_connections << ", shed_ratio " << applied.shed_ratio << "\n";
    if (applied == last) break;
  }
  // What a restarted service would read: the latest value, typed.
  example::check(co_await cfg.get_as<limits>(key) == last, "get_as reads the latest limits");
}

asio::awaitable<void> demo(asio::io_context& io) {
  using namespace asio::experimental::awaitable_operators;
  coordinator coord(io.get_executor(), config::from_env());
  config_center_options o;
  o.prefix = "/examples/config/";
  o.validator = [](const std::string&, const std::string& value) -> std::optional<std::string> {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_discarded()) return "not JSON";
    auto l = j.get<limits>();
    if (l.max_connections < 1) return "max_connections must be at least 1";
    if (l.shed_ratio < 0 || l.shed_ratio > 1) return "shed_ratio must be within 0..1";
    return std::nullopt;
  };
  config_center cfg(coord.etcd(), o);
  delete_options everything;  // a fresh start: values, meta and history of earlier runs
  everything.prefix = true;
  co_await coord.etcd().del("/examples/config", everything);

  const limits initial, busy{400, 0.0}, invalid{0, 2.0}, overloaded{400, 0.25};
  auto v = co_await cfg.set(key, initial);
  auto changes = co_await cfg.watch(key);  // from now on

  auto writer = [&]() -> asio::awaitable<void> {
    auto v2 = co_await cfg.set(key, busy, v.version);  // only if still the version we read
    try {
      co_await cfg.set(key, invalid);
    } catch (const coordination_error& e) {
      std::cout << "  writer: refused: " << e.what() << "\n";
    }
    try {
      co_await cfg.set(key, overloaded, v.version);  // stale version: conflict
    } catch (const coordination_error& e) {
      std::cout << "  writer: " << e.what() << "\n";
    }
    co_await cfg.set(key, overloaded, v2.version);
  };
  co_await (service(cfg, std::move(changes), overloaded) && writer());

  auto history = co_await cfg.history(key);
  std::cout << "history: " << history.size() << " versions, newest " << history.front().value
            << "\n";
  example::check(history.size() == 3, "3 versions kept (the refused writes wrote nothing)");
  co_await coord.etcd().del("/examples/config", everything);
  co_await coord.close();
}

}  // namespace

int main() {
  return example::run("config_watch", demo);
}
