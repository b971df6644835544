// Chaos for the lock recipe: 8 worker processes take one lock while members of a 3-member
// cluster die and come back (one at a time, or two at once so that quorum comes and goes). What
// must hold: mutual exclusion checked by the workers' O_EXCL marker, strictly increasing fencing
// tokens, no lock call past its deadline. (The rest of the chaos suite: test_chaos.cpp.)
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
using namespace coordination;
using namespace coordination::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

BOOST_AUTO_TEST_SUITE(chaos)

namespace {

// 8 processes x `rounds` critical sections through one lock while `chaos` kills and restarts
// members (called every 1.5 s, at most `chaos_rounds` times, until the workers are done; it
// returns how many members it killed). Holds: no two holders whose fencing-guarded write
// succeeded are ever inside at once (O_EXCL marker), fencing tokens strictly increase, no lock
// call outlives its deadline, no worker fails otherwise.
void check_locks_under(etcd_cluster& cluster, int rounds, int chaos_rounds,
                       const std::function<int(int round)>& chaos) {
  char tmpl[] = "/tmp/coord-chaoslock-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string worker = std::string(COORD_BIN_DIR) + "/coord-chaos-worker";
  auto name = unique_prefix("chaos-lock") + "L";
  constexpr int processes = 8;
  std::vector<child_process> workers;
  for (int p = 0; p < processes; ++p)
    workers.push_back(
        child_process::spawn({worker, cluster.endpoints_csv(), name, std::to_string(rounds),
                              dir + "/marker", dir + "/log", "10000", "20"}));
  auto limit = steady::now() + 300s;
  int kills = 0;
  auto any_running = [&] {
    for (auto& w : workers)
      if (w.running()) return true;
    return false;
  };
  for (int k = 0; any_running() && steady::now() < limit; ++k) {
    std::this_thread::sleep_for(1500ms);  // (the restarted members catch up meanwhile)
    if (!any_running()) break;
    if (k < chaos_rounds) kills += chaos(k);
  }
  BOOST_TEST(kills >= 2);
  for (auto& w : workers) {
    if (w.running()) BOOST_ERROR("a worker is still running after 300 s: " << w.log_tail());
    int status = w.wait();
    // The worker's own lines (its verdict, its summary) first: CI shows only the start of a
    // long failure message.
    std::string own, tail = w.log_tail();
    std::istringstream lines_in(tail);
    for (std::string line; std::getline(lines_in, line);)
      if (!line.starts_with("[")) own += line + "\n";  // (library log lines start with a date)
    BOOST_TEST(status == 0, "worker exit " << status << ":\n" << own << "whole output:\n" << tail);
    BOOST_TEST_MESSAGE("worker: " << own);
  }
  std::ifstream in(dir + "/log");
  std::vector<long long> tokens;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    tokens.push_back(std::stoll(line));
  }
  BOOST_TEST(tokens.size() == std::size_t(processes * rounds));
  for (std::size_t i = 1; i < tokens.size(); ++i)
    BOOST_TEST(tokens[i] > tokens[i - 1], "'" << lines[i] << "' after '" << lines[i - 1] << "'");
  run([&](asio::io_context& io) -> asio::awaitable<void> {
    client c(io.get_executor(), config_for(cluster.client_urls()));
    auto fence = co_await c.get(name + "-fence");
    BOOST_REQUIRE(fence.has_value());
    BOOST_TEST(std::stoll(fence->value) == tokens.back(),
               "the last guarded write is not the last token");
  });
  BOOST_TEST_MESSAGE("chaos locks: " << tokens.size() << " critical sections checked, " << kills
                                     << " member kills");
  std::filesystem::remove_all(dir);
}

}  // namespace

// One member (in turn) is killed, restarted 1.5 s later, and the next one killed 1.5 s after
// that. (Sections hold the lock 20 ms: 400 of them take at least 8 s, several kills.)
BOOST_AUTO_TEST_CASE(locks_stay_exclusive_while_members_die) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  check_locks_under(cluster, 50, std::numeric_limits<int>::max(), [&](int k) {
    cluster.kill(k % 3);
    std::this_thread::sleep_for(1500ms);
    cluster.restart(k % 3);
    return 1;
  });
}

// Quorum lost again and again: two members (in turn) killed for 2.5 s, six times, so every lock,
// release and renewal fails or waits meanwhile, and sessions may expire; then the workers finish
// on a healthy cluster. (Chaos without end stalls the workers: each new leader extends every
// lease by its TTL, so a lost session's leftover key, whose revocation failed, can block the
// lock for as long as leaders keep changing.)
BOOST_AUTO_TEST_CASE(locks_stay_exclusive_while_quorum_comes_and_goes) {
  if (using_external_cluster()) return;
  etcd_cluster cluster(3);
  check_locks_under(cluster, 30, 6, [&](int k) {
    cluster.kill(k % 3);
    cluster.kill((k + 1) % 3);
    std::this_thread::sleep_for(2500ms);
    cluster.restart_members({k % 3, (k + 1) % 3});
    return 2;
  });
}

BOOST_AUTO_TEST_SUITE_END()
