// coordctl barrier hold|release|wait NAME, and barrier enter NAME --count N -- CMD: Go's
// barrier and double barrier from the shell.
#include <boost/asio/signal_set.hpp>
#include <coordination/barrier.hpp>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;

namespace coordctl {

namespace {

class barrier_commands : public command_group {
 public:
  explicit barrier_commands(CLI::App& app) {
    cmd_ = app.add_subcommand("barrier", "barriers and double barriers (Go's recipes)");
    cmd_->require_subcommand(1);
    hold_ = cmd_->add_subcommand("hold", "create barrier NAME (prints held, or already held)");
    release_ = cmd_->add_subcommand("release", "delete barrier NAME, waking its waiters");
    wait_ = cmd_->add_subcommand("wait", "return once barrier NAME is not held");
    for (auto* sub : {hold_, release_, wait_})
      sub->add_option("NAME", name_, "the barrier's key")->required();
    enter_ = cmd_->add_subcommand(
        "enter",
        "enter double barrier NAME, run CMD once COUNT participants entered, leave, and exit "
        "with CMD's status once all have left");
    enter_->add_option("NAME", name_, "the double barrier's name (a key prefix)")->required();
    enter_->add_option("--count", count_, "participants")->required();
    enter_->add_option("--ttl", ttl_, "session TTL in seconds (default 60)");
    enter_->add_option("CMD", command_, "command to run between enter and leave (after --)")
        ->required();
  }

  bool parsed() const override { return cmd_->parsed(); }
  bool unbounded() const override { return wait_->parsed() || enter_->parsed(); }

  asio::awaitable<void> run(client& c, const global_options&, asio::io_context& io,
                            int& exit_code) override {
    if (hold_->parsed()) {
      barrier b(c, name_);
      std::cout << ((co_await b.hold()) ? "held" : "already held") << "\n";
    } else if (release_->parsed()) {
      barrier b(c, name_);
      co_await b.release();
      std::cout << "released\n";
    } else if (wait_->parsed()) {
      barrier b(c, name_);
      asio::signal_set signals(io, SIGINT, SIGTERM);
      if (!co_await unless_interrupted(signals, [](barrier& b) -> asio::awaitable<bool> {
            co_await b.wait();
            co_return true;
          }(b)))
        exit_code = 1;
    } else {
      if (count_ <= 0)
        throw coordination_error(error::invalid_argument, "--count: must be positive");
      if (ttl_ <= 0) throw coordination_error(error::invalid_argument, "--ttl: must be positive");
      session_options so;
      so.ttl = std::chrono::seconds(ttl_);
      auto s = co_await session::create(c, so);
      double_barrier d(s, name_, static_cast<std::size_t>(count_));
      asio::signal_set signals(io, SIGINT, SIGTERM);
      auto entered =
          co_await unless_interrupted(signals, [](double_barrier& d) -> asio::awaitable<bool> {
            co_await d.enter();
            co_return true;
          }(d));
      signals.cancel();
      if (!entered) {
        co_await s.close();
        exit_code = 1;
        co_return;
      }
      exit_code = co_await run_child(io, command_);
      co_await d.leave();
      co_await s.close();
    }
  }

 private:
  CLI::App *cmd_, *hold_, *release_, *wait_, *enter_;
  std::string name_;
  std::int64_t count_ = 0, ttl_ = 60;
  std::vector<std::string> command_;
};

}  // namespace

std::unique_ptr<command_group> add_barrier_commands(CLI::App& app) {
  return std::make_unique<barrier_commands>(app);
}

}  // namespace coordctl
