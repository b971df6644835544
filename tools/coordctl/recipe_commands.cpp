// coordctl queue push|pop and counter get|add: the queue (and priority queue, with --priority)
// and counter recipes from the shell, one line of output each (or one JSON object with --json).
#include <coordination/counter.hpp>
#include <coordination/queue.hpp>
#include <coordination/with_timeout.hpp>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;

namespace coordctl {

namespace {

// Takes an item of `q` (a queue or priority_queue): waits up to `wait` seconds (0: at once).
template <class Queue>
asio::awaitable<std::optional<std::string>> take(Queue& q, double wait) {
  if (wait <= 0) co_return co_await q.try_pop();
  try {
    auto limit = std::chrono::milliseconds(static_cast<std::int64_t>(wait * 1000));
    co_return co_await with_timeout(q.pop(), limit);
  } catch (const coordination_error& e) {
    if (e.code() != error::timeout) throw;
  }
  co_return std::nullopt;
}

class recipe_commands : public command_group {
 public:
  explicit recipe_commands(CLI::App& app) {
    queue_ = app.add_subcommand("queue", "a FIFO work queue (each item goes to one popper)");
    queue_->require_subcommand(1);
    push_ = queue_->add_subcommand("push", "add VALUE at the tail of queue NAME");
    push_->add_option("NAME", name_, "queue name (a key prefix)")->required();
    push_->add_option("VALUE", value_, "the item")->required();
    priority_opt_ = push_->add_option(
        "--priority", priority_, "push to the priority queue NAME (0-65535; 0 is popped first)");
    pop_ = queue_->add_subcommand(
        "pop", "take the oldest item of NAME and print it (exit 1 when there is none)");
    pop_->add_option("NAME", name_, "queue name (a key prefix)")->required();
    pop_->add_option("--wait", wait_, "seconds to wait for an item when the queue is empty");
    pop_->add_flag("--priority", prioritized_,
                   "NAME is a priority queue (pushed with --priority): take the oldest item of "
                   "the lowest priority number");

    counter_ = app.add_subcommand("counter", "a shared 64-bit integer in one key");
    counter_->require_subcommand(1);
    get_ = counter_->add_subcommand("get", "print the value of counter NAME (absent: 0)");
    get_->add_option("NAME", name_, "the counter's key")->required();
    add_ = counter_->add_subcommand("add", "add DELTA (may be negative) and print the new value");
    add_->add_option("NAME", name_, "the counter's key")->required();
    add_->add_option("DELTA", delta_, "the integer to add")->required();
  }

  bool parsed() const override { return queue_->parsed() || counter_->parsed(); }
  // A pop that waits longer than --timeout is bounded by its --wait instead.
  bool unbounded() const override { return pop_->parsed() && wait_ > 0; }

  asio::awaitable<void> run(client& c, const global_options& g, asio::io_context&,
                            int& exit_code) override {
    if (push_->parsed()) {
      std::int64_t rev = 0;
      if (priority_opt_->count() > 0) {
        if (priority_ < 0 || priority_ > 65535)
          throw coordination_error(error::invalid_argument, "--priority: must be 0 to 65535");
        priority_queue q(c, name_);
        rev = co_await q.push(value_, static_cast<std::uint16_t>(priority_));
      } else {
        queue q(c, name_);
        rev = co_await q.push(value_);
      }
      if (g.json)
        print_json({{"queue", name_}, {"revision", rev}});
      else
        std::cout << rev << "\n";
    } else if (pop_->parsed()) {
      if (wait_ < 0) throw coordination_error(error::invalid_argument, "--wait: negative");
      std::optional<std::string> item;
      if (prioritized_) {
        priority_queue q(c, name_);
        item = co_await take(q, wait_);
      } else {
        queue q(c, name_);
        item = co_await take(q, wait_);
      }
      if (!item) {
        std::cerr << "coordctl: queue " << name_ << " is empty"
                  << (wait_ > 0 ? " (waited " + std::to_string(wait_) + " s)" : "") << "\n";
        exit_code = 1;
        co_return;
      }
      if (g.json)
        print_json({{"queue", name_}, {"value", *item}});
      else
        std::cout << *item << "\n";
    } else {
      counter k(c, name_);
      std::int64_t v = 0;
      if (get_->parsed())
        v = co_await k.get();
      else
        v = co_await k.add(delta_);
      if (g.json)
        print_json({{"counter", name_}, {"value", v}});
      else
        std::cout << v << "\n";
    }
  }

 private:
  CLI::App *queue_, *push_, *pop_, *counter_, *get_, *add_;
  std::string name_, value_;
  double wait_ = 0;
  CLI::Option* priority_opt_;
  int priority_ = 0;
  bool prioritized_ = false;
  std::int64_t delta_ = 0;
};

}  // namespace

std::unique_ptr<command_group> add_recipe_commands(CLI::App& app) {
  return std::make_unique<recipe_commands>(app);
}

}  // namespace coordctl
