// What the client knows of each endpoint's health, and which endpoint a new call goes to. A
// sans-io core: no sockets, no timers, no coroutines; time is an argument. The transport feeds it
// what its attempts and probes saw and asks it where to go next.
//
// An endpoint is
//   healthy: it answered last time (or was never tried);
//   down:    a connect or a connection failed; skipped for `cooldown`, then tried again inline;
//   suspect: it accepted a request (or a connection) and did not answer within the attempt's
//            deadline: a paused process (SIGSTOP, GC, a frozen VM) whose kernel still accepts
//            TCP. It gets no new calls until a probe in the background finds it answering;
//            probes back off from probe_initial to probe_max.
// When nothing is usable, a call goes to the endpoint that failed longest ago (a suspect one
// included): better a try than no try.
// Not thread-safe (the client's executor).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace coordination::transport {

enum class endpoint_condition { healthy, down, suspect };

struct endpoint_state {
  endpoint_condition condition = endpoint_condition::healthy;
  std::chrono::steady_clock::time_point failed_at{};     // last mark as down or suspect
  std::chrono::steady_clock::time_point usable_again{};  // down: end of the cooldown
  std::chrono::steady_clock::time_point next_probe{};    // suspect: when to probe next
  std::chrono::milliseconds probe_interval{0};           // suspect: the current backoff
  bool probing = false;                                  // suspect: a probe is in flight
};

class endpoint_health {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  struct settings {
    std::chrono::milliseconds cooldown{1000};
    std::chrono::milliseconds probe_initial{250};
    std::chrono::milliseconds probe_max{4000};
  };

  endpoint_health(std::size_t count, settings s);

  // Replaces the endpoint list: `kept[i]` is the old index of new endpoint i (its state stays),
  // or nullopt for a new one (healthy).
  void replace(const std::vector<std::optional<std::size_t>>& kept);
  std::size_t size() const { return states_.size(); }
  const endpoint_state& state(std::size_t i) const { return states_.at(i); }
  std::size_t current() const { return current_; }

  // Takes calls now: healthy, or down with the cooldown over.
  bool usable(std::size_t i, time_point now) const;
  // The endpoint for a new call: the current one when usable, else the next usable one in list
  // order (which becomes current), else the one that failed longest ago.
  std::size_t pick(time_point now);
  // Another endpoint than `i` is usable now (a retry can go there at once).
  bool usable_other_than(std::size_t i, time_point now) const;

  // Each returns true when the current endpoint moved on to another (a failover).
  bool mark_down(std::size_t i, time_point now);
  bool mark_suspect(std::size_t i, time_point now);
  // It answered (a call, or a probe): healthy again.
  void answered(std::size_t i);

  // Background probing of suspect endpoints: when the next probe is due (nullopt: none is
  // suspect, or every suspect one has a probe in flight); the suspect endpoints whose probe is due
  // now (each is marked probing); a probe's end.
  std::optional<time_point> next_probe_due() const;
  std::vector<std::size_t> start_due_probes(time_point now);
  void probe_failed(std::size_t i, time_point now);

 private:
  bool move_off(std::size_t i, time_point now);

  settings settings_;
  std::vector<endpoint_state> states_;
  std::size_t current_ = 0;
};

}  // namespace coordination::transport
