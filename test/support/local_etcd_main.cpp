// coord-local-etcd: starts a throwaway etcd cluster on free loopback ports (temporary data dirs),
// writes its client URLs (comma-separated) to --endpoints-file, and holds it until SIGINT/SIGTERM
// or until its standard input closes, then stops every member and removes the data. Used by
// scripts/demo.sh, scripts/test.sh and the coordctl tests.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "support/etcd_fixture.hpp"

int main(int argc, char** argv) {
  int members = 1;
  std::string endpoints_file;
  bool until_stdin_closes = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--members" && i + 1 < argc) {
      members = std::atoi(argv[++i]);
    } else if (a == "--endpoints-file" && i + 1 < argc) {
      endpoints_file = argv[++i];
    } else if (a == "--until-stdin-closes") {
      until_stdin_closes = true;
    } else {
      std::cerr << "usage: coord-local-etcd [--members N] --endpoints-file FILE "
                   "[--until-stdin-closes]\n";
      return 2;
    }
  }
  if (members < 1 || members > 7 || endpoints_file.empty()) {
    std::cerr << "coord-local-etcd: --members must be 1..7 and --endpoints-file is required\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // taken with sigtimedwait below
  try {
    coordination::test::etcd_cluster cluster(members);
    {
      std::ofstream out(endpoints_file + ".tmp");
      out << cluster.endpoints_csv() << "\n";
    }
    std::rename((endpoints_file + ".tmp").c_str(), endpoints_file.c_str());
    std::cerr << "coord-local-etcd: " << cluster.endpoints_csv() << " (data in "
              << cluster.temp_dir() << ")\n";
    for (;;) {
      timespec tick{0, 200 * 1000 * 1000};
      int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig > 0) break;
      if (until_stdin_closes) {
        pollfd p{0, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
          char c;
          if (read(0, &c, 1) <= 0) break;
        }
      }
    }
    std::cerr << "coord-local-etcd: stopping\n";
  } catch (const std::exception& e) {
    std::cerr << "coord-local-etcd: " << e.what() << "\n";
    return 1;
  }
  std::remove(endpoints_file.c_str());
  return 0;
}
