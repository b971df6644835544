#define BOOST_TEST_MODULE coordination_integration
#include <unistd.h>

#include <atomic>
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

}  // namespace coordination::test
