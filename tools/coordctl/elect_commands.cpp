// coordctl elect: leader election from the shell, interoperable with `etcdctl elect`.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <coordination/election.hpp>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;

namespace coordctl {

namespace {

class elect_commands : public command_group {
 public:
  explicit elect_commands(CLI::App& app) {
    cmd_ = app.add_subcommand(
        "elect",
        "campaign for leadership of NAME with PROPOSAL (prints it once leader, holds until "
        "SIGINT/SIGTERM, then resigns), or --listen: print each leader's proposal");
    cmd_->add_option("NAME", name_, "election name, used exactly as given (etcdctl elect's)")
        ->required();
    cmd_->add_option("PROPOSAL", proposal_, "this candidate's value");
    cmd_->add_flag("-l,--listen", listen_, "observe the leaders instead of campaigning");
    cmd_->add_option("--ttl", ttl_, "session TTL in seconds (default 60)");
  }

  bool parsed() const override { return cmd_->parsed(); }
  bool unbounded() const override { return true; }

  asio::awaitable<void> run(client& c, const global_options& g, asio::io_context& io,
                            int& exit_code) override {
    if (listen_) {
      if (!proposal_.empty())
        throw coordination_error(error::invalid_argument, "--listen takes no PROPOSAL");
      auto obs = observe_leader(c, name_);
      on_interrupt stop(io, [&] { obs.cancel(); });
      try {
        for (;;) {
          auto l = co_await obs.next();
          if (!l) {  // no leader now: a JSON line says so, the text output (etcdctl's) does not
            if (g.json) print_json({{"key", nullptr}, {"value", nullptr}});
            std::cout.flush();
            continue;
          }
          if (g.json)
            print_json({{"key", l->key},
                        {"value", l->value},
                        {"create_revision", l->create_revision},
                        {"lease", l->lease}});
          else
            std::cout << l->value << std::endl;
        }
      } catch (const coordination_error& e) {
        if (e.code() != error::cancelled) throw;
      }
      co_return;
    }
    if (!cmd_->count("PROPOSAL"))
      throw coordination_error(error::invalid_argument, "PROPOSAL: required (or --listen)");
    if (ttl_ <= 0) throw coordination_error(error::invalid_argument, "--ttl: must be positive");
    session_options so;
    so.ttl = std::chrono::seconds(ttl_);
    auto s = co_await session::create(c, so);
    elector e(s);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    // Campaigning is interruptible: SIGINT/SIGTERM cancels it (and the candidate's key goes).
    auto campaigned = co_await unless_interrupted(signals, e.campaign(name_, proposal_));
    if (!campaigned) {
      co_await s.close();
      co_return;
    }
    auto& won = *campaigned;
    if (g.json)
      print_json(
          {{"key", won.key()}, {"value", won.value()}, {"fencing_token", won.fencing_token()}});
    else
      std::cout << won.value() << std::endl;
    signals.cancel();
    asio::signal_set stop(io, SIGINT, SIGTERM);
    using namespace asio::experimental::awaitable_operators;
    auto how = co_await (stop.async_wait(asio::use_awaitable) || won.wait_lost());
    if (how.index() == 1 && std::get<1>(how) == error::lock_lost) {
      std::cerr << "coordctl: leadership of " << name_ << " was lost\n";
      exit_code = 1;
    }
    co_await won.resign();
    co_await s.close();
  }

 private:
  CLI::App* cmd_;
  std::string name_, proposal_;
  bool listen_ = false;
  std::int64_t ttl_ = 60;
};

}  // namespace

std::unique_ptr<command_group> add_elect_commands(CLI::App& app) {
  return std::make_unique<elect_commands>(app);
}

}  // namespace coordctl
