// coordctl service ...: the service registry from the shell.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <coordination/registry.hpp>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;
using nlohmann::json;

namespace coordctl {

namespace {

json instance_json(const service_info& i) {
  return {{"name", i.name},       {"id", i.instance_id},
          {"address", i.address}, {"health", to_string(i.health)},
          {"weight", i.weight},   {"metadata", i.metadata},
          {"lease", i.lease},     {"revision", i.revision}};
}

void print_instance(const service_info& i, bool as_json) {
  if (as_json)
    print_json(instance_json(i));
  else
    std::cout << i.instance_id << " " << i.address << " " << to_string(i.health) << "\n";
}

class service_commands : public command_group {
 public:
  explicit service_commands(CLI::App& app) {
    group_ = app.add_subcommand("service", "the service registry: register, list, watch, pick");
    group_->require_subcommand(1);
    group_->add_option("--registry-prefix", prefix_, "etcd prefix of registrations")
        ->default_val(prefix_);

    register_ = group_->add_subcommand(
        "register", "register an instance and hold it until SIGINT/SIGTERM, then deregister");
    register_->add_option("NAME", name_, "service name")->required();
    register_->add_option("ID", id_, "instance id")->required();
    register_->add_option("ADDR", address_, "host:port")->required();
    register_->add_option("--meta", meta_, "metadata entry k=v (repeatable)");
    register_->add_option("--weight", weight_, "weight for weighted picks (default 1)");
    register_->add_option("--ttl", ttl_, "lease TTL in seconds (default 10)");
    register_->add_flag("--replace", replace_, "take over the id if another process holds it");

    list_ = group_->add_subcommand("list", "print the instances: id address health");
    list_->add_option("NAME", name_, "service name")->required();
    list_->add_flag("--healthy", healthy_only_, "healthy instances only");

    watch_ = group_->add_subcommand("watch",
                                    "print the instance list on every change until interrupted");
    watch_->add_option("NAME", name_, "service name")->required();

    pick_ = group_->add_subcommand("pick", "pick one healthy instance: id address");
    pick_->add_option("NAME", name_, "service name")->required();
    pick_->add_option("--strategy", strategy_, "round-robin|random|weighted|least-conn")
        ->default_val(strategy_);
  }

  bool parsed() const override { return group_->parsed(); }
  bool unbounded() const override { return register_->parsed() || watch_->parsed(); }

  asio::awaitable<void> run(client& c, const global_options& g, asio::io_context& io,
                            int& exit_code) override {
    registry_options o;
    o.prefix = prefix_;
    service_registry reg(c, o);
    if (register_->parsed()) {
      service_info i;
      i.name = name_;
      i.instance_id = id_;
      i.address = address_;
      if (weight_ < 0 || weight_ > 1'000'000)
        throw coordination_error(error::invalid_argument, "--weight: must be 0..1000000");
      i.weight = static_cast<std::uint32_t>(weight_);
      i.metadata = parse_pairs("--meta", meta_);
      if (ttl_ <= 0) throw coordination_error(error::invalid_argument, "--ttl: must be positive");
      register_options ro;
      ro.replace = replace_;
      asio::signal_set signals(io, SIGINT, SIGTERM);
      auto stored = co_await reg.register_service(i, std::chrono::seconds(ttl_), ro);
      if (g.json)
        print_json(instance_json(stored));
      else
        std::cout << "registered " << name_ << "/" << id_ << " (lease " << std::hex << stored.lease
                  << std::dec << ")" << std::endl;
      co_await signals.async_wait(asio::use_awaitable);
      co_await reg.close();  // deregisters, revokes the lease
    } else if (list_->parsed()) {
      service_list l;
      if (healthy_only_)  // (no co_await inside ?: with GCC 12)
        l = co_await reg.discover(name_);
      else
        l = co_await reg.discover_all(name_);
      for (auto& i : *l) print_instance(i, g.json);
    } else if (pick_->parsed()) {
      auto s = parse_pick_strategy(strategy_);
      if (!s)
        throw coordination_error(error::invalid_argument,
                                 "--strategy: want round-robin, random, weighted or least-conn");
      auto i = co_await reg.pick(name_, *s);
      if (g.json)
        print_json(instance_json(i));
      else
        std::cout << i.instance_id << " " << i.address << "\n";
    } else if (watch_->parsed()) {
      auto w = co_await reg.watch(name_);
      on_interrupt stop(io, [&] { w.cancel(); });
      try {
        for (;;) {
          auto u = co_await w.next();
          auto& l = u.instances;
          if (g.json) {
            auto list = [&](const std::vector<service_info>& v) {
              json a = json::array();
              for (auto& i : v) a.push_back(instance_json(i));
              return a;
            };
            print_json({{"service", name_},
                        {"instances", list(*l)},
                        {"added", list(u.added)},
                        {"removed", list(u.removed)},
                        {"updated", list(u.updated)}});
          } else {
            std::cout << "-- " << name_ << ": " << l->size() << " instance(s)\n";
            for (auto& i : *l) print_instance(i, false);
          }
          std::cout.flush();
        }
      } catch (const coordination_error& e) {
        if (e.code() != error::cancelled) throw;
      }
    }
    (void)exit_code;
  }

 private:
  CLI::App* group_;
  CLI::App *register_, *list_, *watch_, *pick_;
  std::string prefix_ = "/coordination/services/";
  std::string name_, id_, address_, strategy_ = "round-robin";
  std::vector<std::string> meta_;
  std::int64_t weight_ = 1, ttl_ = 10;
  bool replace_ = false, healthy_only_ = false;
};

}  // namespace

std::unique_ptr<command_group> add_service_commands(CLI::App& app) {
  return std::make_unique<service_commands>(app);
}

}  // namespace coordctl
