#include "transport/endpoint_health.hpp"

#include <algorithm>
#include <stdexcept>

namespace coordination::transport {

endpoint_health::endpoint_health(std::size_t count, settings s) : settings_(s), states_(count) {}

void endpoint_health::replace(const std::vector<std::optional<std::size_t>>& kept) {
  std::vector<endpoint_state> next(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (kept[i] && *kept[i] < states_.size()) next[i] = states_[*kept[i]];
  states_ = std::move(next);
  if (states_.empty()) states_.resize(1);
  current_ %= states_.size();
}

bool endpoint_health::usable(std::size_t i, time_point now) const {
  const auto& s = states_.at(i);
  switch (s.condition) {
    case endpoint_condition::healthy:
      return true;
    case endpoint_condition::down:
      return s.usable_again <= now;
    case endpoint_condition::suspect:
      return false;
  }
  return false;
}

std::size_t endpoint_health::pick(time_point now) {
  const std::size_t n = states_.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (current_ + k) % n;
    if (usable(i, now)) return current_ = i;
  }
  std::size_t best = current_;
  for (std::size_t i = 0; i < n; ++i)
    if (states_[i].failed_at < states_[best].failed_at) best = i;
  return current_ = best;
}

bool endpoint_health::usable_other_than(std::size_t i, time_point now) const {
  for (std::size_t k = 0; k < states_.size(); ++k)
    if (k != i && usable(k, now)) return true;
  return false;
}

bool endpoint_health::move_off(std::size_t i, time_point now) {
  if (i != current_ || states_.size() < 2) return false;
  const std::size_t n = states_.size();
  for (std::size_t k = 1; k < n; ++k) {
    std::size_t j = (i + k) % n;
    if (usable(j, now)) {
      current_ = j;
      return true;
    }
  }
  current_ = (i + 1) % n;  // nothing usable: the next one will be tried first
  return true;
}

bool endpoint_health::mark_down(std::size_t i, time_point now) {
  auto& s = states_.at(i);
  // A suspect endpoint whose connection then fails stays suspect: only an answer clears that.
  if (s.condition != endpoint_condition::suspect) {
    s.condition = endpoint_condition::down;
    s.usable_again = now + settings_.cooldown;
  }
  s.failed_at = now;
  return move_off(i, now);
}

bool endpoint_health::mark_suspect(std::size_t i, time_point now) {
  auto& s = states_.at(i);
  if (s.condition != endpoint_condition::suspect) {
    s.condition = endpoint_condition::suspect;
    s.probe_interval = settings_.probe_initial;
    s.next_probe = now + s.probe_interval;
  }
  s.failed_at = now;
  return move_off(i, now);
}

void endpoint_health::answered(std::size_t i) {
  auto& s = states_.at(i);
  s.condition = endpoint_condition::healthy;
  s.usable_again = {};
  s.next_probe = {};
  s.probe_interval = std::chrono::milliseconds(0);
  s.probing = false;
}

std::optional<endpoint_health::time_point> endpoint_health::next_probe_due() const {
  std::optional<time_point> due;
  for (auto& s : states_)
    if (s.condition == endpoint_condition::suspect && !s.probing)
      due = due ? std::min(*due, s.next_probe) : s.next_probe;
  return due;
}

std::vector<std::size_t> endpoint_health::start_due_probes(time_point now) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    auto& s = states_[i];
    if (s.condition == endpoint_condition::suspect && !s.probing && s.next_probe <= now) {
      s.probing = true;
      out.push_back(i);
    }
  }
  return out;
}

void endpoint_health::probe_failed(std::size_t i, time_point now) {
  auto& s = states_.at(i);
  s.probing = false;
  if (s.condition != endpoint_condition::suspect) return;  // answered a call meanwhile
  s.probe_interval = std::min(s.probe_interval * 2, settings_.probe_max);
  if (s.probe_interval.count() == 0) s.probe_interval = settings_.probe_initial;
  s.next_probe = now + s.probe_interval;
}

}  // namespace coordination::transport
