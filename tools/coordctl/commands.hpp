// coordctl's command groups: each adds its subcommands to the CLI11 app and runs the one that
// was parsed. Exit codes: 0 success; 1 the operation failed; 2 bad usage or invalid input
// (coordination_error(invalid_argument) thrown from run() becomes 2 in main).
#pragma once

#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <coordination/client.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace coordctl {

struct global_options {
  std::string endpoints;
  std::string user, password, cacert, cert, key;
  double timeout = 5;
  bool json = false;
  std::string log_level = "off";  // the library's log on stderr: off, warn, info, debug
};

// One JSON object on one line (invalid UTF-8 replaced).
void print_json(const nlohmann::json& j);

// "k=v" entries of a repeatable option into a map; invalid_argument naming `option` otherwise.
std::map<std::string, std::string> parse_pairs(const char* option,
                                               const std::vector<std::string>& entries);

// Calls `f` on SIGINT/SIGTERM while it lives (for commands that run until interrupted).
class on_interrupt {
 public:
  on_interrupt(boost::asio::io_context& io, std::function<void()> f)
      : signals_(io, SIGINT, SIGTERM) {
    signals_.async_wait([f = std::move(f)](boost::system::error_code ec, int) {
      if (!ec) f();
    });
  }
  ~on_interrupt() { signals_.cancel(); }

 private:
  boost::asio::signal_set signals_;
};

// Awaits `op` unless one of `signals` comes first (then `op` is cancelled and nullopt returned).
// The caller keeps `signals` alive: no window where SIGINT has its default action.
template <class T>
boost::asio::awaitable<std::optional<T>> unless_interrupted(boost::asio::signal_set& signals,
                                                            boost::asio::awaitable<T> op) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  auto [order, failure, value, sig_ec, sig] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(ex, std::move(op), asio::deferred), signals.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  (void)sig_ec;
  (void)sig;
  if (order[0] == 1) co_return std::nullopt;
  if (failure) std::rethrow_exception(failure);
  co_return std::optional<T>(std::move(value));
}

// Runs argv as a child process (`in_child` runs in it before the exec, `started` gets its pid),
// passes SIGINT and SIGTERM on to it, and returns its exit status (128 + the signal that ended
// it; 127 when it could not be run).
boost::asio::awaitable<int> run_child(boost::asio::io_context& io, std::vector<std::string> argv,
                                      std::function<void()> in_child = {},
                                      std::function<void(pid_t)> started = {});

class command_group {
 public:
  virtual ~command_group() = default;
  virtual bool parsed() const = 0;
  // Runs until interrupted (watch, hold): no --timeout for the whole command.
  virtual bool unbounded() const = 0;
  virtual boost::asio::awaitable<void> run(coordination::client& c, const global_options& g,
                                           boost::asio::io_context& io, int& exit_code) = 0;
};

std::unique_ptr<command_group> add_config_commands(CLI::App& app);
std::unique_ptr<command_group> add_service_commands(CLI::App& app);
std::unique_ptr<command_group> add_elect_commands(CLI::App& app);
std::unique_ptr<command_group> add_cluster_commands(CLI::App& app);
std::unique_ptr<command_group> add_recipe_commands(CLI::App& app);
std::unique_ptr<command_group> add_barrier_commands(CLI::App& app);

}  // namespace coordctl
