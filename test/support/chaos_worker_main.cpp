// coord-chaos-worker: one contender process of the lock chaos test (etcd members are killed and
// restarted while it runs). Takes lock NAME until it has completed ROUNDS critical sections:
//   1. lock with a deadline of DEADLINE_MS (with_timeout); a failure (unavailable, timeout,
//      outcome_unknown, a lost session...) is counted and the attempt repeated; a lock call that
//      returns later than its deadline + 2 s is a hang (exit 4);
//   2. a fencing-guarded write (NAME-fence := token, only while the lock key is ours); when etcd
//      refuses it (lock_lost) or it fails, or the lease is not vouched for (valid_until()) for
//      the section's length, the section is skipped: this holder may not act;
//   3. only after the guarded write succeeded: create MARKER with O_EXCL (a second holder inside
//      would fail: exit 3), append "token pid key" to LOG (O_APPEND: the file's order is the order
//      of the sections), wait HOLD_MS, remove MARKER, release.
// A lost session is replaced by a new one. Prints a line per failure (time since start, how long
// the call took, the error) and one summary line on stderr. Exit 0 when every
// section was exclusive and no wait overran, 3/4 as above, 1 on unexpected errors, 2 on usage.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <coordination/client.hpp>
#include <coordination/lock.hpp>
#include <coordination/observability.hpp>
#include <coordination/session.hpp>
#include <coordination/with_timeout.hpp>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <typeinfo>

namespace asio = boost::asio;
using namespace coordination;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: coord-chaos-worker ENDPOINTS NAME ROUNDS MARKER LOG DEADLINE_MS HOLD_MS\n";
    return 2;
  }
  auto hold = std::chrono::milliseconds(std::atoi(argv[7]));
  std::string name = argv[2], marker = argv[4], log = argv[5];
  int rounds = std::atoi(argv[3]);
  auto deadline = std::chrono::milliseconds(std::atoi(argv[6]));
  asio::io_context io;
  client_config cfg;
  cfg.endpoints = client_config::split_endpoints(argv[1]);
  cfg.request_timeout = std::chrono::seconds(3);
  int status = 0;
  int sections = 0, attempts = 0, refused = 0, new_sessions = 0;
  long long max_wait_ms = 0;
  std::map<std::string, int> failures;  // error name -> count
  client c(io.get_executor(), cfg);
  // Each failure: counted, and one line on stderr with the time since start and how long the
  // call took (the timeline of a failed run).
  const auto begun = clock_type::now();
  auto note = [&](const std::string& what, clock_type::time_point call_started,
                  const std::string& detail) {
    ++failures[what];
    auto ms = [](clock_type::duration d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    std::cerr << "+" << ms(clock_type::now() - begun) << " ms: " << what << " after "
              << ms(clock_type::now() - call_started) << " ms: " << detail << "\n";
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        session_options so;
        so.ttl = std::chrono::seconds(5);
        std::optional<session> s;
        asio::steady_timer pause(io);
        while (sections < rounds) {
          if (!s || s->lost()) {
            bool created = false;
            auto asked = clock_type::now();
            try {  // (bounded by the client's request timeout)
              s.emplace(co_await session::create(c, so));
              ++new_sessions;
              created = true;
            } catch (const coordination_error& e) {
              note(std::string("session: ") + error_name(e.code()), asked, e.what());
            }
            if (!created) {  // (no co_await inside a handler)
              pause.expires_after(std::chrono::milliseconds(200));
              co_await pause.async_wait(asio::use_awaitable);
              continue;
            }
          }
          locker l(*s);
          ++attempts;
          auto started = clock_type::now();
          lock_handle h;
          std::string failed, why;
          try {
            h = co_await with_timeout(l.lock(name), deadline);
          } catch (const coordination_error& e) {
            failed = std::string("lock: ") + error_name(e.code());
            why = e.what();
          }
          auto waited =
              std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
          max_wait_ms = std::max<long long>(max_wait_ms, waited.count());
          if (waited > deadline + std::chrono::seconds(2)) {
            std::cerr << "a lock call returned " << waited.count() << " ms after it started ("
                      << "deadline " << deadline.count() << " ms)\n";
            status = 4;
          }
          if (!failed.empty()) {
            note(failed, started, why);
            continue;
          }
          bool may_act = false;
          auto guarded_at = clock_type::now();
          try {
            std::vector<txn_op> ops;
            ops.push_back(put_op{name + "-fence", std::to_string(h.fencing_token()), {}});
            auto r = co_await with_timeout(h.guarded_txn({}, std::move(ops)), deadline);
            may_act = r.succeeded;
          } catch (const coordination_error& e) {
            if (e.code() == error::lock_lost) ++refused;
            note(std::string("guarded write: ") + error_name(e.code()), guarded_at, e.what());
          }
          // The section must end while the lease is still vouched for (see valid_until()).
          if (may_act &&
              h.valid_until() - clock_type::now() < hold + std::chrono::milliseconds(100)) {
            may_act = false;
            note("lease about to expire", guarded_at, "no time left for the section");
          }
          if (may_act) {
            int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
            if (fd < 0 && errno == EEXIST) {
              std::cerr << "critical section entered twice (token " << h.fencing_token() << ")\n";
              status = 3;
            } else if (fd < 0) {
              std::cerr << "coord-chaos-worker: cannot create " << marker << ": "
                        << std::strerror(errno) << "\n";
              status = std::max(status, 1);
            } else {
              ::close(fd);
            }
            int lf = ::open(log.c_str(), O_CREAT | O_APPEND | O_WRONLY, 0600);
            auto line = std::to_string(h.fencing_token()) + " " + std::to_string(::getpid()) + " " +
                        h.key() + "\n";
            if (lf < 0 || ::write(lf, line.data(), line.size()) < 0) {
              std::cerr << "coord-chaos-worker: cannot append to " << log << ": "
                        << std::strerror(errno) << "\n";
              status = std::max(status, 1);
            }
            if (lf >= 0) ::close(lf);
            pause.expires_after(hold);
            co_await pause.async_wait(asio::use_awaitable);
            if (fd >= 0) ::unlink(marker.c_str());
            ++sections;
          }
          auto releasing = clock_type::now();
          try {
            co_await with_timeout(h.release(), deadline);
          } catch (const coordination_error& e) {
            // The handle's destructor releases in the background; the lease ends it at worst.
            note(std::string("release: ") + error_name(e.code()), releasing, e.what());
          }
        }
        if (s) {
          try {
            co_await with_timeout(s->close(), deadline);
          } catch (const coordination_error&) {
          }
        }
      },
      [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            std::cerr << "coord-chaos-worker: unexpected exception (" << typeid(x).name()
                      << "): " << x.what() << "\n";
          } catch (...) {
            std::cerr << "coord-chaos-worker: unexpected exception of an unknown type\n";
          }
          status = 1;
        }
        io.stop();
      });
  io.run();
  std::cerr << "sections=" << sections << " attempts=" << attempts << " refused=" << refused
            << " sessions=" << new_sessions << " max_wait_ms=" << max_wait_ms;
  for (auto& [what, n] : failures) std::cerr << " [" << what << "]=" << n;
  std::cerr << "\n";
  return status;
}
