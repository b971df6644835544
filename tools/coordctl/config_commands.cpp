// coordctl config ...: the config center from the shell. KEY is relative to --config-prefix.
#include <boost/asio/signal_set.hpp>
#include <coordination/config_center.hpp>
#include <ctime>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;
using nlohmann::json;

namespace coordctl {

namespace {

std::string iso_time(config_time t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json value_json(const config_value& v) {
  return {{"key", v.key},
          {"value", v.value},
          {"version", v.version},
          {"revision", v.revision},
          {"create_time_ms", to_unix_ms(v.create_time)},
          {"update_time_ms", to_unix_ms(v.update_time)},
          {"metadata", v.metadata}};
}

class config_commands : public command_group {
 public:
  explicit config_commands(CLI::App& app) {
    group_ = app.add_subcommand("config", "the config center: versioned values with history");
    group_->require_subcommand(1);
    group_->add_option("--config-prefix", prefix_, "etcd prefix of config keys")
        ->default_val(prefix_);

    get_ = group_->add_subcommand("get", "print a value");
    get_->add_option("KEY", key_, "config key (relative to the prefix)")->required();

    set_ = group_->add_subcommand("set", "write a value (compare-and-set with --expect-version)");
    set_->add_option("KEY", key_, "config key")->required();
    set_->add_option("VALUE", value_, "value")->required();
    set_->add_option("--expect-version", expect_,
                     "write only if the current version is N (0: only if absent)");
    set_->add_option("--meta", meta_, "metadata entry k=v (repeatable; replaces the metadata)");

    rm_ = group_->add_subcommand("rm", "remove a value (its history stays)");
    rm_->add_option("KEY", key_, "config key")->required();
    rm_->add_option("--expect-version", expect_, "remove only if the current version is N");

    history_ = group_->add_subcommand("history", "print the latest versions, newest first");
    history_->add_option("KEY", key_, "config key")->required();
    history_->add_option("--limit", limit_, "at most N versions (0: all kept)");

    list_ = group_->add_subcommand("list", "print every value under a prefix");
    list_->add_option("PREFIX", key_, "key prefix (relative; empty: all)");

    watch_ = group_->add_subcommand("watch", "print every change until interrupted");
    watch_->add_option("KEY", key_, "config key (or prefix with --prefix)")->required();
    watch_->add_flag("--prefix", watch_prefix_, "every key starting with KEY");
  }

  bool parsed() const override { return group_->parsed(); }
  bool unbounded() const override { return watch_->parsed(); }

  asio::awaitable<void> run(client& c, const global_options& g, asio::io_context& io,
                            int& exit_code) override {
    (void)exit_code;
    config_center_options o;
    o.prefix = prefix_;
    config_center cc(c, o);
    if (get_->parsed()) {
      auto v = co_await cc.get(key_);
      if (g.json)
        print_json(value_json(v));
      else
        std::cout << v.value << "\n";
    } else if (set_->parsed()) {
      config_set_options so;
      if (set_->count("--expect-version")) so.expected_version = expect_;
      if (!meta_.empty()) so.metadata = parse_pairs("--meta", meta_);
      auto v = co_await cc.set(key_, value_, so);
      if (g.json)
        print_json({{"key", v.key}, {"version", v.version}, {"revision", v.revision}});
      else
        std::cout << "OK version " << v.version << "\n";
    } else if (rm_->parsed()) {
      std::optional<std::int64_t> expected;
      if (rm_->count("--expect-version")) expected = expect_;
      co_await cc.remove(key_, expected);
      std::cout << "OK\n";
    } else if (history_->parsed()) {
      if (limit_ < 0) throw coordination_error(error::invalid_argument, "--limit: must be >= 0");
      auto h = co_await cc.history(key_, static_cast<std::size_t>(limit_));
      for (auto& e : h) {
        if (g.json)
          print_json({{"version", e.version},
                      {"value", e.value},
                      {"time_ms", to_unix_ms(e.time)},
                      {"deleted", e.deleted}});
        else if (e.deleted)
          std::cout << "- " << iso_time(e.time) << " (removed)\n";
        else
          std::cout << e.version << " " << iso_time(e.time) << " " << e.value << "\n";
      }
    } else if (list_->parsed()) {
      for (auto& v : co_await cc.list(key_)) {
        if (g.json)
          print_json(value_json(v));
        else
          std::cout << v.key << " = " << v.value << "\n";
      }
    } else if (watch_->parsed()) {
      config_watch w;
      if (watch_prefix_)
        w = co_await cc.watch_prefix(key_);
      else
        w = co_await cc.watch(key_);
      on_interrupt stop(io, [&] { w.cancel(); });
      try {
        for (;;) {
          auto ch = co_await w.next();
          const char* type = ch.type == config_change_type::create   ? "CREATE"
                             : ch.type == config_change_type::update ? "UPDATE"
                                                                     : "DELETE";
          if (g.json) {
            json j{{"type", type},
                   {"key", ch.key},
                   {"revision", ch.revision},
                   {"version", ch.version}};
            if (ch.old_value) j["old_value"] = ch.old_value->value;
            if (ch.new_value) j["new_value"] = ch.new_value->value;
            if (ch.old_value) j["old_version"] = ch.old_value->version;
            if (ch.new_value && !ch.new_value->metadata.empty())
              j["metadata"] = ch.new_value->metadata;
            print_json(j);
          } else {
            std::cout << type << " " << ch.key;
            if (ch.old_value && ch.new_value)
              std::cout << " " << ch.old_value->value << " -> " << ch.new_value->value;
            else if (ch.new_value)
              std::cout << " " << ch.new_value->value;
            std::cout << "\n";
          }
          std::cout.flush();
        }
      } catch (const coordination_error& e) {
        if (e.code() != error::cancelled) throw;
      }
    }
  }

 private:
  CLI::App* group_;
  CLI::App *get_, *set_, *rm_, *history_, *list_, *watch_;
  std::string prefix_ = "/coordination/config/";
  std::string key_, value_;
  std::int64_t expect_ = 0;
  std::int64_t limit_ = 0;
  std::vector<std::string> meta_;
  bool watch_prefix_ = false;
};

}  // namespace

std::unique_ptr<command_group> add_config_commands(CLI::App& app) {
  return std::make_unique<config_commands>(app);
}

}  // namespace coordctl
