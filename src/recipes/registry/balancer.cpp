#include "recipes/registry/balancer.hpp"

#include <string_view>

namespace coordination::detail {

const service_info* balancer::pick(const std::vector<service_info>& instances,
                                   const std::set<std::string>& tried, pick_strategy strategy,
                                   clock::time_point now, std::uint64_t random) {
  std::vector<const service_info*> up, any;
  for (auto& i : instances) {
    if (tried.count(i.instance_id)) continue;
    any.push_back(&i);
    if (!is_down(i.instance_id, now)) up.push_back(&i);
  }
  auto& candidates = up.empty() ? any : up;
  if (candidates.empty()) return nullptr;
  return choose(candidates, strategy, random);
}

const service_info* balancer::choose(const std::vector<const service_info*>& cands,
                                     pick_strategy strategy, std::uint64_t random) {
  auto n = cands.size();
  auto rr = next_++;
  switch (strategy) {
    case pick_strategy::round_robin:
      return cands[rr % n];
    case pick_strategy::random:
      return cands[random % n];
    case pick_strategy::weighted: {
      // Smooth weighted round robin (nginx): deterministic, exactly proportional over every run
      // of total-weight picks, and spread out (no bursts to the heaviest instance).
      std::int64_t total = 0;
      const service_info* best = nullptr;
      std::int64_t* best_current = nullptr;
      for (auto* i : cands) {
        if (i->weight == 0) continue;
        total += i->weight;
        auto& cur = smooth_weights_[i->instance_id];
        cur += i->weight;
        if (!best || cur > *best_current) {
          best = i;
          best_current = &cur;
        }
      }
      if (!best) return cands[rr % n];
      *best_current -= total;
      return best;
    }
    case pick_strategy::least_connections: {
      const service_info* best = nullptr;
      int best_count = 0;
      for (std::size_t k = 0; k < n; ++k) {  // start at a rotating index: ties take turns
        auto* i = cands[(rr + k) % n];
        int count = open_connections(i->instance_id);
        if (!best || count < best_count) {
          best = i;
          best_count = count;
        }
      }
      return best;
    }
  }
  return cands.front();
}

bool balancer::note_error(const std::string& id, clock::time_point now) {
  auto& d = down_[id];
  ++d.errors;
  if (d.errors < options_.errors_before_down) return false;
  d.until = now + options_.down_period;
  d.errors = 0;
  return true;
}

bool balancer::is_down(const std::string& id, clock::time_point now) const {
  auto it = down_.find(id);
  return it != down_.end() && it->second.until > now;
}

void balancer::opened(const std::string& id) {
  ++connections_[id];
}

void balancer::closed(const std::string& id) {
  auto it = connections_.find(id);
  if (it != connections_.end() && --it->second <= 0) connections_.erase(it);
}

int balancer::open_connections(const std::string& id) const {
  auto it = connections_.find(id);
  return it == connections_.end() ? 0 : it->second;
}

void balancer::retain(const std::vector<service_info>& instances) {
  std::set<std::string_view> live;
  for (auto& i : instances) live.insert(i.instance_id);
  std::erase_if(smooth_weights_, [&](auto& w) { return !live.count(w.first); });
}

}  // namespace coordination::detail
