// Builds against the installed package; run with no etcd, it checks a config error is reported.
#include <coordination/client.hpp>

#include <boost/asio/io_context.hpp>
#include <iostream>

int main() {
  boost::asio::io_context io;
  coordination::client_config cfg;
  cfg.endpoints = {"not-a-url"};
  try {
    coordination::client c(io.get_executor(), cfg);
  } catch (const coordination::coordination_error& e) {
    std::cout << "rejected as expected: " << e.what() << "\n";
    return e.code() == coordination::error::invalid_argument ? 0 : 1;
  }
  return 1;
}
