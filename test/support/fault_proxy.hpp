// A fault-injecting HTTP/1.1 proxy for etcd's JSON gateway, on a free loopback port in front of
// one member: the test tool for what the network does to one request (issue #29).
//
// It reads each request whole (head and Content-Length body) and each unary answer whole
// (Content-Length or chunked), so a fault hits exactly one request, and it forwards the bytes it
// read unchanged. Watch requests (`GET /v3/watch` upgraded to a WebSocket, `POST /v3/watch`'s
// endless chunked answer) are forwarded, then the connection is pumped both ways as it is.
//
// Faults, chosen per request by the rules (the first rule that matches decides):
// - lost_answer:   the request is forwarded, etcd answers, the client's connection is reset
//                  instead (etcd applied it; the client cannot know);
// - reset_before:  the client's connection is reset before the request is forwarded (etcd never
//                  sees it);
// - late_answer:   the answer is held for `delay`, then forwarded;
// - late_drop:     the answer is held for `delay`, then the connection is reset;
// - late_apply:    the client's connection is reset at once and the request is kept; it reaches
//                  etcd (on a connection of its own, its answer thrown away) `delay` later, or,
//                  when `delay` is 0, at `release_held()`: what a paused member does on SIGCONT;
// - cut:           every connection through the proxy is reset (this request's before it is
//                  forwarded, watch streams and idle pooled ones too), and new ones are turned
//                  away for `delay` (0: none);
// - canned:        the request is not forwarded; the client gets `answer` (an etcd answer that
//                  takes a state hard to set up on purpose, e.g. a member behind a revision).
// cut() resets every connection and turns new ones away until restore() (a partition of the
// clients behind it).
//
// Deterministic: a rule with an index hits the index-th request it matches; a probability is
// drawn from a generator seeded by the constructor, in the order requests arrive.
// Runs on the executor it is given (a single-threaded io_context); not thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coordination::test {

enum class fault {
  none,
  lost_answer,
  reset_before,
  late_answer,
  late_drop,
  late_apply,
  cut,
  canned
};

const char* to_string(fault f);

struct fault_rule {
  fault kind = fault::lost_answer;
  std::string path;    // the request path starts with this ("/v3/kv/txn"); empty: any but a watch
  std::string needle;  // the request (head and body) contains this; empty: any request
  std::optional<std::size_t> index;  // only the index-th (1-based) request this rule matches
  double probability = 1.0;          // else each match is hit with this chance
  std::size_t times = std::numeric_limits<std::size_t>::max();  // hits at most
  std::chrono::milliseconds delay{0};                           // late_*: see above
  std::string answer;                                           // canned: the whole HTTP answer
  // Awaited when the rule hits, after etcd answered (lost_answer, late_*) or before anything
  // was forwarded (reset_before, late_apply), before the client sees anything: e.g. another
  // client writes the same keys between an applied request and the client's resend.
  std::function<boost::asio::awaitable<void>()> on_hit;
};

// A rule faulting up to `times` requests under `path` (late_* and cut: with `delay`).
inline fault_rule rule_of(fault kind, std::string path, std::size_t times,
                          std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
  fault_rule r;
  r.kind = kind;
  r.path = std::move(path);
  r.times = times;
  r.delay = delay;
  return r;
}

// A rule faulting only the index-th (1-based) request under `path`.
inline fault_rule rule_at(fault kind, std::string path, std::size_t index) {
  fault_rule r;
  r.kind = kind;
  r.path = std::move(path);
  r.index = index;
  return r;
}

// One request as the proxy saw it.
struct proxied_request {
  std::string method;
  std::string path;
  fault applied = fault::none;
};

class fault_proxy {
 public:
  // Forwards 127.0.0.1:<port()> to `target` ("http://127.0.0.1:PORT").
  fault_proxy(boost::asio::any_io_executor ex, const std::string& target, std::uint64_t seed = 1);
  ~fault_proxy();  // resets every connection; held requests are dropped
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"

  void add_rule(fault_rule r);
  void clear_rules();

  void cut();
  void restore();

  // Every request seen, in arrival order (also the ones cut or faulted).
  const std::vector<proxied_request>& requests() const;
  std::size_t faults_applied() const;
  std::size_t held() const;  // late_apply requests not yet forwarded
  // Forwards every held request now and waits for etcd's answers (thrown away). Returns how many.
  boost::asio::awaitable<std::size_t> release_held();
  // Waits until every held request with a delay has been forwarded and answered.
  boost::asio::awaitable<void> wait_late_applies();

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace coordination::test
