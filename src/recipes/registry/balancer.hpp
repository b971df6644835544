// detail::balancer: which instance of a service a pick()/connect() takes, and the state that
// choice depends on: the round-robin position, the smooth weights, the open connections per
// instance and the down marks of instances that failed.
//
// A sans-io core: no I/O, no clock (`now` is an argument) and no randomness of its own (the
// random strategy uses a number the caller draws), so it is tested without etcd or a network
// (test/unit/test_balancer.cpp). Not thread-safe: one per service cache, on the client's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "coordination/registry.hpp"

namespace coordination::detail {

struct balancer_options {
  int errors_before_down = 1;                    // note_error()s that mark an instance down
  std::chrono::milliseconds down_period{10000};  // how long it then stays down
};

class balancer {
 public:
  using clock = std::chrono::steady_clock;
  using options = balancer_options;

  explicit balancer(options o = {}) : options_(o) {}

  // One of `instances` not in `tried`, chosen by `strategy`. Instances down at `now` are passed
  // over, unless every untried one is down: then all the untried are candidates again. nullptr
  // when every instance was tried (or the list is empty). `random` is any uniformly drawn number
  // (only pick_strategy::random uses it). The pointer is into `instances`.
  //  - round_robin: the candidates in turn (the position advances on every pick);
  //  - random: uniform over the candidates;
  //  - weighted: smooth weighted round robin (nginx's): each candidate gets weight/total of the
  //    picks over every run of `total` picks, spread out; weight 0 is never picked unless every
  //    candidate has weight 0 (then round robin);
  //  - least_connections: fewest open connections (opened() minus closed()); ties take turns.
  const service_info* pick(const std::vector<service_info>& instances,
                           const std::set<std::string>& tried, pick_strategy strategy,
                           clock::time_point now, std::uint64_t random);

  // A failed use of an instance (e.g. a refused connect). Returns true when this error marks it
  // down: every `errors_before_down`-th error, for `down_period` from `now`.
  bool note_error(const std::string& id, clock::time_point now);
  bool is_down(const std::string& id, clock::time_point now) const;

  // A connection to the instance was opened / closed (least_connections counts them).
  void opened(const std::string& id);
  void closed(const std::string& id);
  int open_connections(const std::string& id) const;

  // The service's instances are now `instances`: forgets the weights of those that are gone.
  void retain(const std::vector<service_info>& instances);
  std::size_t weights_kept() const { return smooth_weights_.size(); }

 private:
  const service_info* choose(const std::vector<const service_info*>& candidates,
                             pick_strategy strategy, std::uint64_t random);

  struct down_state {
    int errors = 0;
    clock::time_point until{};
  };

  options options_;
  std::uint64_t next_ = 0;                              // round robin, tie breaks
  std::map<std::string, int> connections_;              // open connections per instance
  std::map<std::string, std::int64_t> smooth_weights_;  // weighted picks' running weights
  std::map<std::string, down_state> down_;
};

}  // namespace coordination::detail
