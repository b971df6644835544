// Riding through a member's pause or death on 3-member clusters, as a user sees it: fresh
// coordctl processes with the paused member listed first, a client whose member pauses under
// it, and coordctl lock commands while members are killed and restarted.
// (ctest: integration.ride_through; the figures are printed with --log_level=message.)
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "common.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::string coordctl_path() {
  return std::string(COORD_BIN_DIR) + "/coordctl";
}

struct command_result {
  int status = -1;
  double seconds = 0;
  std::string output;
};

// Runs coordctl with `args` (killed after `limit` seconds: a hang fails instead of stalling).
command_result coordctl(const std::string& endpoints, std::vector<std::string> args,
                        int limit = 30) {
  std::vector<std::string> argv{"timeout",       "-s",          "KILL",   std::to_string(limit),
                                coordctl_path(), "--endpoints", endpoints};
  for (auto& a : args) argv.push_back(std::move(a));
  command_result r;
  auto t0 = steady::now();
  r.status = run_command(argv, &r.output);
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  return r;
}

// The member urls with `first` first.
std::string csv_starting_at(etcd_cluster& cluster, int first) {
  std::string out;
  for (int k = 0; k < cluster.size(); ++k) {
    if (k) out += ",";
    out += cluster.client_url((first + k) % cluster.size());
  }
  return out;
}

int leader_of(etcd_cluster& cluster) {
  int leader = -1;
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client probe(io.get_executor(), config_for(cluster.client_urls()));
    leader = co_await find_leader(probe, cluster);
  });
  return leader;
}

// Resumes a paused member whatever happens in the test.
struct resume_at_exit {
  etcd_cluster& cluster;
  int member;
  ~resume_at_exit() {
    try {
      cluster.resume(member);
    } catch (...) {
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ride_through)

// A paused member (SIGSTOP: its kernel still accepts connections) listed first: fresh coordctl
// processes get, put and lock within 2.5 s each (the readiness probe of the first connection
// finds it silent within probe_timeout, and the call moves on).
BOOST_AUTO_TEST_CASE(fresh_coordctl_commands_pass_a_paused_first_member) {
  if (using_external_cluster() || !std::filesystem::exists(coordctl_path())) return;
  etcd_cluster cluster(3);
  int follower = (leader_of(cluster) + 1) % 3;  // (a paused leader costs an election too)
  auto eps = csv_starting_at(cluster, follower);
  auto key = unique_prefix("ride-pause") + "k";
  auto seed = coordctl(eps, {"put", key, "v1"});
  BOOST_REQUIRE_MESSAGE(seed.status == 0, seed.output);

  cluster.pause(follower);
  resume_at_exit guard{cluster, follower};
  const std::vector<std::vector<std::string>> commands{
      {"--timeout", "6", "get", key},
      {"--timeout", "6", "put", key, "v2"},
      {"--timeout", "6", "lock", key + "-lock", "--", "true"},
      {"--timeout", "6", "lock", key + "-lock", "--ttl", "5", "--", "true"},
      {"--timeout", "6", "get", key},
  };
  for (auto& args : commands) {
    auto r = coordctl(eps, args);
    std::string what;
    for (auto& a : args) what += a + " ";
    BOOST_TEST_MESSAGE("paused first member: coordctl " << what << "-> exit " << r.status << " in "
                                                        << r.seconds << " s");
    BOOST_TEST(r.status == 0, what << ": " << r.output);
    BOOST_TEST(r.seconds <= 2.5, what << " took " << r.seconds << " s");
  }
  auto last = coordctl(eps, {"--timeout", "6", "get", key});
  BOOST_TEST(last.output.find("v2") != std::string::npos, last.output);
}

// A client whose first member pauses under it (its pooled connections already proven): a read
// moves on after attempt_timeout, the member is then suspect and gets no calls (the next ones
// are fast), a write sent into it fails `timeout` after attempt_timeout (not request_timeout)
// saying it may have been applied, and once the member runs again a background probe finds it
// answering and calls may go there again.
BOOST_AUTO_TEST_CASE(a_member_paused_under_a_client_is_passed_then_used_again) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  int follower = (leader_of(cluster) + 1) % 3;
  run(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        std::vector<std::string> eps;
        for (int k = 0; k < 3; ++k) eps.push_back(cluster.client_url((follower + k) % 3));
        auto cfg = config_for(eps);
        cfg.attempt_timeout = 1500ms;
        cfg.probe_timeout = 300ms;
        client c(io.get_executor(), cfg);
        client w(io.get_executor(), cfg);  // for the write: it must be sent to the paused member
        auto& t = coordination::detail::impl_of(c).transport;
        auto key = unique_prefix("ride-under") + "k";
        co_await c.put(key, "1");
        co_await w.get(key);  // a proven connection to the member
        BOOST_REQUIRE(t.current_endpoint() == eps[0]);

        cluster.pause(follower);
        resume_at_exit guard{cluster, follower};
        auto t0 = steady::now();
        auto got = co_await c.get(key);
        auto took = steady::now() - t0;
        BOOST_REQUIRE(got.has_value());
        BOOST_TEST(got->value == "1");
        BOOST_TEST((took >= 1400ms), "the read came back before its attempt could time out");
        BOOST_TEST((took <= 3s), "the read took " << std::chrono::duration<double>(took).count());
        BOOST_TEST((t.health().state(0).condition == transport::endpoint_condition::suspect));
        BOOST_TEST(t.stats().suspect_marks >= 1u);
        BOOST_TEST(t.current_endpoint() != eps[0]);

        // The suspect member gets no calls: each next one is fast.
        for (int i = 0; i < 5; ++i) {
          auto s = steady::now();
          co_await c.put(key, std::to_string(i + 2));
          BOOST_TEST((steady::now() - s < 1s));
        }

        // A plain write sent into the paused member: timeout after attempt_timeout.
        t0 = steady::now();
        try {
          co_await w.put(key + "-w", "x");
          BOOST_ERROR("a put sent to a paused member succeeded");
        } catch (const coordination_error& e) {
          BOOST_TEST(e.code() == error::timeout, e.what());
          BOOST_TEST(std::string(e.what()).find("may have been applied") != std::string::npos,
                     e.what());
        }
        took = steady::now() - t0;
        BOOST_TEST((took <= 3s), "the write failed after "
                                     << std::chrono::duration<double>(took).count() << " s");

        // Back: the background probe finds it answering.
        cluster.resume(follower);
        co_await eventually(
            [&] { return t.health().state(0).condition == transport::endpoint_condition::healthy; },
            10s, "the resumed member was probed healthy again", 50ms);
        BOOST_TEST(t.stats().background_probes >= 1u);
        // Calls reach it again: a call fixed to it answers.
        auto st = co_await c.status(eps[0]);
        BOOST_TEST(st.header.member_id != 0u);
      },
      60s);
}

// 6 workers x 12 `coordctl lock NAME --ttl 5 -- CMD` commands while single members are killed
// -9 and restarted (3 kills), twice: no command fails, no critical section is entered twice
// (CMD makes a directory that must not exist), and the fencing tokens increase in the order the
// sections ran.
BOOST_AUTO_TEST_CASE(coordctl_locks_ride_through_member_kills) {
  if (using_external_cluster() || !std::filesystem::exists(coordctl_path())) return;
  constexpr int workers = 6;
  constexpr int per_worker = 12;
  etcd_cluster cluster(3);
  int failed_total = 0;
  for (int round = 0; round < 2; ++round) {
    auto dir = std::filesystem::path(cluster.temp_dir()) / ("locks-" + std::to_string(round));
    std::filesystem::create_directories(dir);
    auto name = unique_prefix("ride-locks") + "L" + std::to_string(round);
    const std::string body =
        "mkdir \"$D/inside\" || exit 3; echo \"$COORD_FENCING_TOKEN\" >> \"$D/tokens\"; "
        "sleep 0.05; rmdir \"$D/inside\"";
    std::atomic<int> done{0};
    std::mutex m;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int wk = 0; wk < workers; ++wk)
      threads.emplace_back([&, wk] {
        auto eps = csv_starting_at(cluster, wk % 3);
        for (int i = 0; i < per_worker; ++i) {
          auto r = coordctl(eps,
                            {"--timeout", "10", "lock", name, "--ttl", "5", "--", "env",
                             "D=" + dir.string(), "sh", "-c", body},
                            60);
          if (r.status != 0) {
            std::lock_guard g(m);
            failures.push_back("worker " + std::to_string(wk) + " command " + std::to_string(i) +
                               ": exit " + std::to_string(r.status) + ": " + r.output);
          }
        }
        ++done;
      });
    int kills = 0;
    for (int k = 0; k < 3 && done < workers; ++k) {
      std::this_thread::sleep_for(700ms);
      cluster.kill((k + round) % 3);
      ++kills;
      std::this_thread::sleep_for(1000ms);
      cluster.restart((k + round) % 3);
    }
    for (auto& th : threads) th.join();
    BOOST_TEST_MESSAGE("coordctl locks, round " << round << ": " << workers * per_worker
                                                << " commands, " << failures.size() << " failed, "
                                                << kills << " kills");
    BOOST_TEST(kills == 3, "the commands ended before the third kill");
    for (auto& f : failures) BOOST_ERROR(f);
    failed_total += static_cast<int>(failures.size());
    std::ifstream in(dir / "tokens");
    std::vector<long long> tokens;
    for (long long v; in >> v;) tokens.push_back(v);
    BOOST_TEST(tokens.size() == static_cast<std::size_t>(workers * per_worker - failures.size()));
    for (std::size_t i = 1; i < tokens.size(); ++i)
      BOOST_TEST(tokens[i] > tokens[i - 1],
                 "token " << tokens[i] << " ran after " << tokens[i - 1]);
    BOOST_TEST(!std::filesystem::exists(dir / "inside"));
  }
  BOOST_TEST(failed_total == 0);
}

BOOST_AUTO_TEST_SUITE_END()
