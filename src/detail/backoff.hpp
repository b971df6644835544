// One backoff for the retry loops of the recipes and the session (issue #30: one backoff type):
// a sans-io value, tested without timers (test/unit/test_backoff.cpp). Not thread-safe: each is
// used by one loop.
#pragma once

#include <algorithm>
#include <chrono>

namespace coordination::detail {

class backoff {
 public:
  using ms = std::chrono::milliseconds;

  // Pauses start at `base` and grow by `multiplier` after each, up to `cap`.
  backoff(ms base, ms cap, double multiplier = 2.0)
      : base_(base),
        cap_(std::max(cap, base)),
        multiplier_(std::max(multiplier, 1.0)),
        next_(base_) {}

  // The pause to wait now; the next one grows. `random` in [0, 1] draws a jittered pause within
  // [pause / 2, pause] (1: no jitter, the default).
  ms next(double random = 1.0) {
    auto full = next_;
    double grown = static_cast<double>(next_.count()) * multiplier_;
    next_ = grown >= static_cast<double>(cap_.count()) ? cap_ : ms(static_cast<ms::rep>(grown));
    random = std::clamp(random, 0.0, 1.0);
    auto half = full.count() / 2;
    return ms(half + static_cast<ms::rep>(random * static_cast<double>(full.count() - half)));
  }

  // After a success: the next pause is `base` again.
  void reset() { next_ = base_; }

  // The pause next() would return without jitter.
  ms peek() const { return next_; }

 private:
  ms base_, cap_;
  double multiplier_;
  ms next_;
};

}  // namespace coordination::detail
