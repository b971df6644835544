// coordctl: the shell face of the coordination library.
// Exit codes: 0 success; 1 the operation failed (etcd error, timeout, unavailable); 2 bad usage
// or invalid input.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <coordination/client.hpp>
#include <coordination/lock.hpp>
#include <coordination/session.hpp>
#include <coordination/with_timeout.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;
using nlohmann::json;
using namespace coordctl;

namespace coordctl {
void print_json(const json& j) {
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

std::map<std::string, std::string> parse_pairs(const char* option,
                                               const std::vector<std::string>& entries) {
  std::map<std::string, std::string> m;
  for (auto& kv : entries) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw coordination_error(error::invalid_argument,
                               std::string(option) + ": want k=v, got '" + kv + "'");
    m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return m;
}
}  // namespace coordctl

namespace {

json kv_json(const key_value& kv) {
  json j{{"key", kv.key},
         {"value", kv.value},
         {"create_revision", kv.create_revision},
         {"mod_revision", kv.mod_revision},
         {"version", kv.version}};
  if (kv.lease) j["lease"] = kv.lease;
  return j;
}

client_config make_config(const global_options& g) {
  client_config cfg;
  std::string eps = g.endpoints;
  if (eps.empty()) {
    const char* env = std::getenv("COORD_ENDPOINTS");
    eps = env && *env ? env : "http://127.0.0.1:2379";
  }
  cfg.endpoints = client_config::split_endpoints(eps);
  cfg.username = g.user;
  cfg.password = g.password;
  cfg.tls.ca_file = g.cacert;
  cfg.tls.cert_file = g.cert;
  cfg.tls.key_file = g.key;
  if (!(g.timeout > 0))
    throw coordination_error(error::invalid_argument, "--timeout: must be a positive number");
  cfg.request_timeout = std::chrono::milliseconds(static_cast<long>(g.timeout * 1000));
  cfg.dial_timeout = std::min(cfg.dial_timeout, cfg.request_timeout);
  // The tool reports errors itself, on one line: the library is quiet unless asked.
  if (g.log_level == "off") {
    cfg.logger = std::make_shared<spdlog::logger>("coordctl",
                                                  std::make_shared<spdlog::sinks::null_sink_mt>());
  } else {
    cfg.logger = std::make_shared<spdlog::logger>(
        "coordctl", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    cfg.logger->set_level(spdlog::level::from_str(g.log_level));
  }
  return cfg;
}

// The words that may follow `cmd`: its subcommands and long options (global ones included:
// they may follow any subcommand).
std::string completion_words(const CLI::App& cmd) {
  std::vector<std::string> words;
  auto add = [&](std::string w) {
    if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(std::move(w));
  };
  for (const auto* sub : cmd.get_subcommands({})) add(sub->get_name());
  // Options of the command, of the groups above it and the global ones (fallthrough).
  for (const auto* app = &cmd; app; app = app->get_parent())
    for (const auto* opt : app->get_options())
      for (auto& name : opt->get_lnames()) add("--" + name);
  std::string out;
  for (auto& w : words) out += w + " ";
  return out;
}

void completion_cases(const CLI::App& cmd, const std::string& path, std::string& out) {
  out += "    \"" + path + "\") echo \"" + completion_words(cmd) + "\" ;;\n";
  for (const auto* sub : cmd.get_subcommands({}))
    completion_cases(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

// A bash completion script for the whole command tree, generated from the CLI11 definitions.
std::string bash_completion(const CLI::App& root) {
  std::string cases;
  completion_cases(root, "", cases);
  return "# bash completion for coordctl: source <(coordctl completion)\n"
         "_coordctl_words() {\n  case \"$1\" in\n" +
         cases +
         "  esac\n}\n"
         "_coordctl() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} path=\"\" w i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    [[ $w == -* ]] && continue\n"
         "    case \" $(_coordctl_words \"$path\") \" in *\" $w \"*) path=${path:+$path }$w ;; "
         "esac\n"
         "  done\n"
         "  COMPREPLY=($(compgen -W \"$(_coordctl_words \"$path\")\" -- \"$cur\"))\n"
         "}\n"
         "complete -o default -F _coordctl coordctl\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coordctl: etcd coordination from the shell (speaks etcd's JSON gateway)"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  global_options g;
  app.add_option("--endpoints", g.endpoints,
                 "comma-separated URLs (default: $COORD_ENDPOINTS, else http://127.0.0.1:2379)");
  app.add_option("--user", g.user, "user name for etcd authentication");
  app.add_option("--password", g.password, "password for etcd authentication");
  app.add_option("--cacert", g.cacert, "CA file to verify https endpoints");
  app.add_option("--cert", g.cert, "client certificate (mTLS)");
  app.add_option("--key", g.key, "client private key (mTLS)");
  app.add_option("--timeout", g.timeout, "seconds for the whole command (default 5)");
  app.add_flag("--json", g.json, "print JSON, one object per line");
  app.add_option("--log-level", g.log_level,
                 "the library's log on stderr: off (default), warn, info, debug")
      ->check(CLI::IsMember({"off", "warn", "info", "debug"}));

  std::string key, value;
  bool prefix = false;
  std::int64_t rev = 0, ttl = 0;

  auto* get = app.add_subcommand("get", "print a key (or every key under a prefix)");
  get->add_option("KEY", key, "key")->required();
  get->add_flag("--prefix", prefix, "every key starting with KEY");
  get->add_option("--rev", rev, "read at this revision");

  auto* put = app.add_subcommand("put", "write a key");
  put->add_option("KEY", key, "key")->required();
  put->add_option("VALUE", value, "value")->required();
  put->add_option("--ttl", ttl, "attach a new lease of this many seconds");

  auto* del = app.add_subcommand("del", "delete a key (or every key under a prefix)");
  del->add_option("KEY", key, "key")->required();
  del->add_flag("--prefix", prefix, "every key starting with KEY");

  auto* watch = app.add_subcommand(
      "watch", "print every change of a key (or prefix) until interrupted; survives etcd restarts");
  watch->add_option("KEY", key, "key")->required();
  watch->add_flag("--prefix", prefix, "every key starting with KEY");
  watch->add_option("--rev", rev, "start at this revision (replays history)");

  std::int64_t lock_ttl = 60;
  std::vector<std::string> lock_command;
  auto* lock = app.add_subcommand(
      "lock",
      "take a lock (etcd's layout: excludes etcdctl lock on the same NAME); with -- CMD, run it "
      "holding the lock, else hold until SIGINT/SIGTERM");
  lock->add_option("NAME", key, "lock name, used exactly as given")->required();
  lock->add_option("--ttl", lock_ttl, "session TTL in seconds (default 60)");
  lock->add_option("CMD", lock_command, "command to run while holding the lock (after --)");

  std::vector<std::unique_ptr<command_group>> groups;
  groups.push_back(add_config_commands(app));
  groups.push_back(add_service_commands(app));
  groups.push_back(add_elect_commands(app));
  groups.push_back(add_cluster_commands(app));
  groups.push_back(add_recipe_commands(app));
  groups.push_back(add_barrier_commands(app));
  auto* completion = app.add_subcommand(
      "completion", "print a bash completion script: source <(coordctl completion)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (completion->parsed()) {
    std::cout << bash_completion(app);
    return 0;
  }

  int exit_code = 0;
  try {
    asio::io_context io;
    client c(io.get_executor(), make_config(g));
    command_group* group = nullptr;
    for (auto& grp : groups)
      if (grp->parsed()) group = grp.get();
    auto command = [&]() -> asio::awaitable<void> {
      if (group) {
        co_await group->run(c, g, io, exit_code);
      } else if (get->parsed()) {
        range_options o;
        o.prefix = prefix;
        o.revision = rev;
        if (rev < 0)
          throw coordination_error(error::invalid_argument, "--rev: must not be negative");
        auto r = co_await c.range(key, o);
        if (g.json) {
          json kvs = json::array();
          for (auto& kv : r.kvs) kvs.push_back(kv_json(kv));
          print_json({{"kvs", kvs}, {"count", r.count}, {"revision", r.header.revision}});
        } else {
          for (auto& kv : r.kvs) std::cout << kv.key << "\n" << kv.value << "\n";
        }
      } else if (put->parsed()) {
        put_options o;
        if (put->count("--ttl")) {
          if (ttl <= 0)
            throw coordination_error(error::invalid_argument, "--ttl: must be positive");
          o.lease = (co_await c.lease_grant(ttl)).id;
        }
        auto r = co_await c.put(key, value, o);
        if (g.json)
          print_json({{"revision", r.header.revision}, {"lease", o.lease}});
        else
          std::cout << "OK\n";
      } else if (lock->parsed()) {
        if (lock_ttl <= 0)
          throw coordination_error(error::invalid_argument, "--ttl: must be positive");
        session_options so;
        so.ttl = std::chrono::seconds(lock_ttl);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        // Waiting for the lock is interruptible: SIGINT/SIGTERM cancels the wait (and the
        // waiter's key goes). A session lost while waiting (its renewals failed for a TTL, as
        // under repeated leader elections) held nothing yet: wait again on a new session, up
        // to three sessions in all.
        std::optional<session> s;
        std::optional<lock_handle> held;
        for (int round = 1;; ++round) {
          s.emplace(co_await session::create(c, so));
          locker l(*s);
          std::string lost_while_waiting;
          try {
            held = co_await unless_interrupted(signals, l.lock(key));
          } catch (const coordination_error& e) {
            bool retry =
                (e.code() == error::lock_lost || e.code() == error::session_expired) && round < 3;
            if (!retry) throw;
            lost_while_waiting = e.what();
          }
          if (lost_while_waiting.empty()) break;
          c.config().logger->warn("coordctl: {}; waiting again on a new session",
                                  lost_while_waiting);
          co_await s->close();
        }
        if (!held) {
          co_await s->close();
          co_return;
        }
        if (lock_command.empty()) {
          std::cout << held->key() << std::endl;
          signals.cancel();
          asio::signal_set stop(io, SIGINT, SIGTERM);
          using namespace asio::experimental::awaitable_operators;
          auto how = co_await (stop.async_wait(asio::use_awaitable) || held->wait_lost());
          if (how.index() == 1 && std::get<1>(how) == error::lock_lost) {
            std::cerr << "coordctl: lock " << key << " was lost\n";
            exit_code = 1;
          }
          co_await held->release();
          co_await s->close();
          co_return;
        }
        signals.cancel();
        // Run CMD with the lock's key and fencing token in its environment.
        const std::string lock_key = held->key();
        const std::string token = std::to_string(held->fencing_token());
        bool lost = false;
        int status = co_await run_child(
            io, lock_command,
            [&] {
              setenv("COORD_LOCK_KEY", lock_key.c_str(), 1);
              setenv("COORD_FENCING_TOKEN", token.c_str(), 1);
            },
            [&](pid_t child) {
              asio::co_spawn(
                  io,
                  [&, child]() -> asio::awaitable<void> {
                    auto why = co_await held->wait_lost();
                    if (why == error::lock_lost) {
                      lost = true;
                      std::cerr << "coordctl: lock " << key << " was lost; stopping "
                                << lock_command[0] << "\n";
                      kill(child, SIGTERM);
                    }
                  },
                  asio::detached);
            });
        co_await held->release();
        co_await s->close();
        exit_code = lost ? 1 : status;
      } else if (watch->parsed()) {
        if (rev < 0)
          throw coordination_error(error::invalid_argument, "--rev: must not be negative");
        watch_options o;
        o.prefix = prefix;
        o.start_revision = rev;
        auto w = co_await c.watch(key, o);
        on_interrupt stop(io, [&] { w.cancel(); });
        try {
          for (;;) {
            auto b = co_await w.next();
            for (auto& e : b.events) {
              const char* type = e.type == event_type::put ? "PUT" : "DELETE";
              if (g.json)
                print_json({{"type", type},
                            {"key", e.kv.key},
                            {"value", e.kv.value},
                            {"mod_revision", e.kv.mod_revision}});
              else
                std::cout << type << " " << e.kv.key << " " << e.kv.value << "\n";
            }
            std::cout.flush();
          }
        } catch (const coordination_error& e) {
          if (e.code() != error::cancelled) throw;  // cancelled: interrupted, a normal end
        }
      } else if (del->parsed()) {
        delete_options o;
        o.prefix = prefix;
        auto r = co_await c.del(key, o);
        if (g.json)
          print_json({{"deleted", r.deleted}, {"revision", r.header.revision}});
        else
          std::cout << r.deleted << "\n";
      }
    };
    std::exception_ptr failure;
    auto whole = std::chrono::milliseconds(static_cast<long>(g.timeout * 1000) + 500);
    // A watch runs until interrupted; every other command has the --timeout deadline.
    bool unbounded = watch->parsed() || lock->parsed() || (group && group->unbounded());
    asio::co_spawn(io, unbounded ? command() : with_timeout(command(), whole),
                   [&](std::exception_ptr e) {
                     failure = e;
                     io.stop();  // idle pooled connections and watch links keep nobody waiting
                   });
    io.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const coordination_error& e) {
    std::cerr << "coordctl: " << e.what() << "\n";
    exit_code = e.code() == error::invalid_argument ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "coordctl: " << e.what() << "\n";
    exit_code = 1;
  }
  return exit_code;
}
