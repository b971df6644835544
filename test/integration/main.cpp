#define BOOST_TEST_MODULE coordination_integration
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>

#include "common.hpp"

namespace coordination::test {

namespace {
std::unique_ptr<etcd_cluster> shared_cluster;
std::mutex shared_mutex;

struct stop_shared_cluster {
  ~stop_shared_cluster() { shared_cluster.reset(); }
};
}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(stop_shared_cluster);

bool using_external_cluster() {
  const char* env = std::getenv("COORD_ENDPOINTS");
  return env && *env;
}

std::vector<std::string> shared_endpoints() {
  if (using_external_cluster())
    return client_config::split_endpoints(std::getenv("COORD_ENDPOINTS"));
  std::lock_guard lock(shared_mutex);
  if (!shared_cluster) shared_cluster = std::make_unique<etcd_cluster>(1);
  return shared_cluster->client_urls();
}

client_config config_for(std::vector<std::string> endpoints) {
  client_config cfg;
  cfg.endpoints = std::move(endpoints);
  cfg.request_timeout = std::chrono::seconds(10);
  cfg.dial_timeout = std::chrono::seconds(2);
  return cfg;
}

std::string unique_prefix(const std::string& name) {
  static std::atomic<int> counter{0};
  return "/coord-test/" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "/" +
         name + "/";
}

std::string dead_endpoint() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return "http://127.0.0.1:" + std::to_string(port);
}

}  // namespace coordination::test
