// coordctl endpoint status | endpoint health | member list: what operators type first with
// etcdctl, from the library's status() and member_list(). Every endpoint of --endpoints is asked
// at once, each within --timeout.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <coordination/with_timeout.hpp>
#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace asio = boost::asio;
using namespace coordination;
using nlohmann::json;

namespace coordctl {

namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// What one endpoint answered to status (or why it did not), and how long it took.
struct probe {
  std::string endpoint;
  std::optional<status_result> status;
  std::string error;
  double took_ms = 0;
};

// status() of every endpoint at once, each bounded by `timeout`; in the endpoints' order.
asio::awaitable<std::vector<probe>> probe_all(client& c, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto eps = c.endpoints();
  std::vector<probe> out(eps.size());
  std::size_t left = eps.size();
  asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
  for (std::size_t i = 0; i < eps.size(); ++i) {
    out[i].endpoint = eps[i];
    asio::co_spawn(
        ex,
        [&, i]() -> asio::awaitable<void> {
          auto t0 = std::chrono::steady_clock::now();
          try {
            out[i].status = co_await with_timeout(c.status(out[i].endpoint), timeout);
          } catch (const std::exception& e) {
            out[i].error = e.what();
          }
          out[i].took_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
          if (--left == 0) all_done.cancel();
        },
        asio::detached);
  }
  if (left > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return out;
}

class cluster_commands : public command_group {
 public:
  explicit cluster_commands(CLI::App& app) {
    endpoint_ = app.add_subcommand("endpoint", "status or health of every endpoint");
    endpoint_->require_subcommand(1);
    status_ = endpoint_->add_subcommand(
        "status",
        "per endpoint: member id, version, db size, leader or not, raft term and index (exit 1 "
        "when one does not answer)");
    health_ = endpoint_->add_subcommand(
        "health",
        "per endpoint: healthy (answers and has a leader) or not, and the round trip (exit 1 "
        "when one is unhealthy)");
    member_ = app.add_subcommand("member", "the cluster's members");
    member_->require_subcommand(1);
    list_ = member_->add_subcommand("list", "id, name, peer and client URLs, learner or not");
  }

  bool parsed() const override { return endpoint_->parsed() || member_->parsed(); }
  bool unbounded() const override { return false; }

  asio::awaitable<void> run(client& c, const global_options& g, asio::io_context&,
                            int& exit_code) override {
    auto timeout = std::chrono::milliseconds(static_cast<long>(g.timeout * 1000));
    if (list_->parsed()) {
      auto r = co_await c.member_list();
      for (auto& m : r.members) {
        if (g.json)
          print_json({{"id", hex(m.id)},
                      {"name", m.name},
                      {"peer_urls", m.peer_urls},
                      {"client_urls", m.client_urls},
                      {"is_learner", m.is_learner}});
        else
          std::cout << hex(m.id) << ", started, " << m.name << ", " << joined(m.peer_urls) << ", "
                    << joined(m.client_urls) << ", " << std::boolalpha << m.is_learner << "\n";
      }
      co_return;
    }
    auto probes = co_await probe_all(c, timeout);
    for (auto& p : probes) {
      if (status_->parsed()) {
        if (!p.status) {
          exit_code = 1;
          if (g.json)
            print_json({{"endpoint", p.endpoint}, {"error", p.error}});
          else
            std::cerr << "coordctl: " << p.endpoint << ": " << p.error << "\n";
          continue;
        }
        auto& s = *p.status;
        const bool leader = s.leader != 0 && s.leader == s.header.member_id;
        if (g.json)
          print_json({{"endpoint", p.endpoint},
                      {"member_id", hex(s.header.member_id)},
                      {"version", s.version},
                      {"db_size", s.db_size},
                      {"is_leader", leader},
                      {"leader", hex(s.leader)},
                      {"raft_term", s.raft_term},
                      {"raft_index", s.raft_index},
                      {"revision", s.header.revision}});
        else
          std::cout << p.endpoint << ", " << hex(s.header.member_id) << ", " << s.version << ", "
                    << s.db_size << " B, " << std::boolalpha << leader << ", " << s.raft_term
                    << ", " << s.raft_index << "\n";
      } else {
        // Healthy: the member answered and knows a leader (a member cut off from the others
        // answers status too, with leader 0).
        bool healthy = p.status && p.status->leader != 0;
        std::string why = p.status ? (healthy ? "" : "no leader") : p.error;
        if (!healthy) exit_code = 1;
        char took[32];
        std::snprintf(took, sizeof took, "%.1fms", p.took_ms);
        if (g.json)
          print_json({{"endpoint", p.endpoint},
                      {"health", healthy},
                      {"took_ms", p.took_ms},
                      {"error", why}});
        else if (healthy)
          std::cout << p.endpoint << " is healthy: took = " << took << "\n";
        else
          std::cout << p.endpoint << " is unhealthy: " << why << " (took = " << took << ")\n";
      }
    }
  }

 private:
  CLI::App* endpoint_;
  CLI::App* status_;
  CLI::App* health_;
  CLI::App* member_;
  CLI::App* list_;
};

}  // namespace

std::unique_ptr<command_group> add_cluster_commands(CLI::App& app) {
  return std::make_unique<cluster_commands>(app);
}

}  // namespace coordctl
