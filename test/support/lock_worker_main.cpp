// coord-lock-worker: one contender process for the multi-process lock test. Runs `coroutines`
// coroutines on one session, each taking the lock `rounds` times. Inside the critical section it
// creates `marker` with O_EXCL (a second holder would fail), appends its fencing token to `log`
// (O_APPEND: the file's order is the real order of critical sections), then removes the marker.
// Exit 0 when every section was exclusive, 3 when the marker already existed, 1 on errors.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <coordination/client.hpp>
#include <coordination/lock.hpp>
#include <coordination/session.hpp>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace coordination;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: coord-lock-worker ENDPOINTS NAME COROUTINES ROUNDS MARKER LOG\n";
    return 2;
  }
  std::string name = argv[2], marker = argv[5], log = argv[6];
  int coroutines = std::atoi(argv[3]), rounds = std::atoi(argv[4]);
  asio::io_context io;
  client_config cfg;
  cfg.endpoints = client_config::split_endpoints(argv[1]);
  int status = 0;
  client c(io.get_executor(), cfg);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto s = co_await session::create(c);
        int running = coroutines;
        asio::steady_timer done(io, asio::steady_timer::time_point::max());
        for (int k = 0; k < coroutines; ++k)
          asio::co_spawn(
              io,
              [&]() -> asio::awaitable<void> {
                locker l(s);
                for (int r = 0; r < rounds; ++r) {
                  auto h = co_await l.lock(name);
                  int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
                  if (fd < 0) {
                    std::cerr << "critical section entered twice (token " << h.fencing_token()
                              << ")\n";
                    status = 3;
                  } else {
                    ::close(fd);
                  }
                  int lf = ::open(log.c_str(), O_CREAT | O_APPEND | O_WRONLY, 0600);
                  auto line = std::to_string(h.fencing_token()) + "\n";
                  if (::write(lf, line.data(), line.size()) < 0) status = 1;
                  ::close(lf);
                  asio::steady_timer t(io, std::chrono::milliseconds(1));
                  co_await t.async_wait(asio::use_awaitable);
                  if (fd >= 0) ::unlink(marker.c_str());
                  co_await h.release();
                }
                if (--running == 0) done.cancel();
              },
              [&](std::exception_ptr e) {
                if (!e) return;
                try {
                  std::rethrow_exception(e);
                } catch (const std::exception& x) {
                  std::cerr << "coord-lock-worker: " << x.what() << "\n";
                }
                status = 1;
                if (--running == 0) done.cancel();
              });
        boost::system::error_code ignored;
        co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        co_await s.close();
      },
      [&](std::exception_ptr e) {
        if (e) status = 1;
        io.stop();
      });
  io.run();
  return status;
}
