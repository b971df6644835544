#include "recipes/lock/wait_set.hpp"

#include <algorithm>

namespace coordination::detail {

wait_plan plan_wait(const std::vector<key_value>& before, const std::string& blockers,
                    const std::string& key, std::int64_t my_rev) {
  wait_plan plan;
  std::size_t first = 0;
  if (key.starts_with(blockers)) {
    if (before.empty() || before[0].create_revision != my_rev) {
      plan.own_key_gone = true;
      return plan;
    }
    first = 1;
  }
  for (std::size_t k = first; k < before.size(); ++k) plan.predecessors.push_back(before[k].key);
  return plan;
}

deletion_index::deletion_index(std::int64_t start, std::size_t capacity)
    : start_(start), capacity_(std::max<std::size_t>(capacity, 1)), forgotten_below_(start) {}

bool deletion_index::covers(std::int64_t at) const {
  return !failed_ && at + 1 >= start_ && at + 1 >= forgotten_below_;
}

std::int64_t deletion_index::deleted_after(const std::string& key, std::int64_t at) const {
  if (!covers(at)) return 0;
  auto it = recent_.find(key);
  return it != recent_.end() && it->second > at ? it->second : 0;
}

std::optional<bool> deletion_index::deleted_since(const std::string& key, std::int64_t at,
                                                  std::int64_t upto) const {
  if (!covers(at) || through_ < upto) return std::nullopt;
  return deleted_after(key, at) != 0;
}

deletion_index::waiter_id deletion_index::wait(const std::string& key, std::int64_t after) {
  auto id = next_id_++;
  waiters_.emplace(key, waiter{id, after});
  return id;
}

void deletion_index::cancel(waiter_id id) {
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it)
    if (it->second.id == id) {
      waiters_.erase(it);
      return;
    }
}

std::vector<deletion_index::completion> deletion_index::deleted(const std::string& key,
                                                                std::int64_t revision) {
  std::vector<completion> done;
  if (failed_) return done;
  through_ = std::max(through_, revision);
  recent_[key] = revision;
  order_.emplace_back(revision, key);
  while (order_.size() > capacity_) {
    auto& [old_rev, old_key] = order_.front();
    auto it = recent_.find(old_key);
    if (it != recent_.end() && it->second == old_rev) recent_.erase(it);
    forgotten_below_ = old_rev + 1;
    order_.pop_front();
  }
  auto [b, e] = waiters_.equal_range(key);
  for (auto it = b; it != e;) {
    if (revision > it->second.after) {
      done.push_back({it->second.id, revision});
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

std::vector<deletion_index::completion> deletion_index::fail() {
  failed_ = true;
  std::vector<completion> done;
  for (auto& [k, w] : waiters_) done.push_back({w.id, 0});
  waiters_.clear();
  return done;
}

std::optional<fifo_gate::ticket> fifo_gate::enter() {
  if (!busy_) {
    busy_ = true;
    return std::nullopt;
  }
  queue_.push_back(next_);
  return next_++;
}

std::optional<fifo_gate::ticket> fifo_gate::leave() {
  if (queue_.empty()) {
    busy_ = false;
    return std::nullopt;
  }
  auto t = queue_.front();
  queue_.pop_front();
  return t;  // (still busy: now held by t)
}

bool fifo_gate::withdraw(ticket t) {
  auto it = std::find(queue_.begin(), queue_.end(), t);
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

}  // namespace coordination::detail
