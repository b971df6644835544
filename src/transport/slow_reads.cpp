#include "transport/slow_reads.hpp"

#include <algorithm>

namespace coordination::transport {

slow_reads::slow_reads(settings s) : s_(s), tokens_(s.tokens) {
  recent_.reserve(s_.window);
}

std::optional<std::chrono::milliseconds> slow_reads::bound() const {
  if (recent_.size() < s_.min_samples || tokens_ < 1 - 1e-9) return std::nullopt;  // (sums of 0.1)
  auto slowest = *std::max_element(recent_.begin(), recent_.end());
  auto scaled = std::chrono::duration_cast<std::chrono::milliseconds>(slowest * s_.multiple) +
                std::chrono::milliseconds(1);
  auto b = std::max(scaled, s_.floor);
  if (b >= s_.ceiling) return std::nullopt;
  return b;
}

void slow_reads::answered(std::chrono::steady_clock::duration took) {
  if (s_.window == 0) return;
  if (recent_.size() < s_.window) {
    recent_.push_back(took);
  } else {
    recent_[next_] = took;
    next_ = (next_ + 1) % s_.window;
  }
  tokens_ = std::min(s_.tokens, tokens_ + s_.earned_per_answer);
}

void slow_reads::resent() {
  tokens_ = std::max(0.0, tokens_ - 1);
}

}  // namespace coordination::transport
