// run_child: the CMD of `coordctl lock ... -- CMD` and `coordctl barrier enter ... -- CMD`.
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include "commands.hpp"

namespace asio = boost::asio;

namespace coordctl {

asio::awaitable<int> run_child(asio::io_context& io, std::vector<std::string> argv,
                               std::function<void()> in_child, std::function<void(pid_t)> started) {
  // (made before the fork: a child that exits at once still raises a SIGCHLD seen here)
  asio::signal_set signals(io, SIGCHLD, SIGINT, SIGTERM);
  pid_t child = fork();
  if (child == 0) {
    if (in_child) in_child();
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror(("coordctl: " + argv[0]).c_str());
    _exit(127);
  }
  if (child < 0) throw std::runtime_error("fork failed");
  if (started) started(child);
  int status = 0;
  while (waitpid(child, &status, WNOHANG) != child) {
    auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec && (sig == SIGINT || sig == SIGTERM)) kill(child, sig);  // pass it on
  }
  co_return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace coordctl
