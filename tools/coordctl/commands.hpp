// coordctl's command groups: each adds its subcommands to the CLI11 app and runs the one that
// was parsed. Exit codes: 0 success; 1 the operation failed; 2 bad usage or invalid input
// (coordination_error(invalid_argument) thrown from run() becomes 2 in main).
#pragma once

#include <CLI/CLI.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <coordination/client.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace coordctl {

struct global_options {
  std::string endpoints;
  std::string user, password, cacert, cert, key;
  double timeout = 5;
  bool json = false;
};

// One JSON object on one line (invalid UTF-8 replaced).
void print_json(const nlohmann::json& j);

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

}  // namespace coordctl
