// When a read's answer is late enough to be resent on a new connection without waiting out
// attempt_timeout: a lost answer on a connection that stays silent (a proxy or a member's
// gateway that dropped it) otherwise costs the whole attempt_timeout, since HTTP/1.1 has no ping.
//
// The bound is a multiple of the slowest of the last reads' answer times (within [floor,
// ceiling]), used only once enough answers were seen; each early resend spends a token, each
// answered read earns a fraction of one, so that a member that slows down for everyone gets at
// most that fraction of its reads again (gRPC's retry throttling, in miniature).
// A sans-io core: no clock of its own. Not thread-safe (the transport's executor).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace coordination::transport {

class slow_reads {
 public:
  struct settings {
    double multiple = 4;                      // of the slowest recent answer
    std::chrono::milliseconds floor{20};      // never sooner than this
    std::chrono::milliseconds ceiling{2000};  // attempt_timeout: no sooner bound above it
    std::size_t window = 64;                  // recent answers remembered
    std::size_t min_samples = 16;             // answers seen before any bound is given
    double tokens = 10;                       // the budget (and its start)
    double earned_per_answer = 0.1;           // at most one read in ten resent early
  };

  explicit slow_reads(settings s);

  // The first attempt's answer bound for a read now: none while too few answers were seen, the
  // budget is spent, or the bound would not be below the ceiling.
  std::optional<std::chrono::milliseconds> bound() const;
  // A read's answer (any status) came this long after its request was sent.
  void answered(std::chrono::steady_clock::duration took);
  // A read was resent after bound() passed without an answer.
  void resent();

  double tokens() const { return tokens_; }

 private:
  settings s_;
  std::vector<std::chrono::steady_clock::duration> recent_;
  std::size_t next_ = 0;
  double tokens_;
};

}  // namespace coordination::transport
