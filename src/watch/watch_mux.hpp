// The watch hub's decisions, as sans-io cores: no sockets, timers or coroutines (randomness is an
// argument), tested without etcd (test/unit/test_watch_mux.cpp). watch_hub does the I/O: links,
// frames, signals, timers. Not thread-safe: the client's executor only.
//
//  - watch_cursor: one watch's place in its history: the revision it is (re)created from, which
//    events of an answer are new (dedup by revision after a resume), fragment reassembly,
//    progress notifications, and back-pressure (pause over max_queued_events, resume at half);
//  - create_queue: which watch a "created" answer is for (etcd answers a link's creates in the
//    order they were sent; a refused one carries watch_id -1);
//  - classify_refusal() / classify_cancel(): what a refused create or a cancel from etcd means;
//  - choose_link() / link_to_fold(): placement of watches on a few links per endpoint;
//  - resume_delay(): the backoff before watches of a broken link are placed again.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "coordination/watch.hpp"
#include "protocol/codec.hpp"

namespace coordination::detail {

class watch_cursor {
 public:
  watch_cursor(std::string key, std::string range_end, const watch_options& o);

  // The create request for a (re)creation with wire id `wire_id`: from next_revision() (0: from
  // now, for a watch never created yet). A revision cut short by a broken link is asked for
  // again whole.
  watch_create create_request(std::int64_t wire_id);
  // etcd confirmed the creation; its header revision fixes "now" for a watch from now.
  void created(std::int64_t header_revision);

  struct outcome {
    std::optional<watch_batch> batch;  // to queue for the consumer
    bool pause = false;                // over max_queued_events: stop the server side
    std::size_t duplicates = 0;        // events dropped as already delivered
    bool fragment = false;             // the message was a part of a split revision (held)
  };
  // An answer for this watch that is neither its creation nor its cancellation (its events are
  // moved out): new events, a fragment, or a progress notification.
  outcome on_message(watch_message& m);
  // The consumer took `b`. Returns true when a paused watch may resume (queue half empty).
  bool consumed(const watch_batch& b);
  bool may_resume() const { return queued_ <= max_queued_ / 2; }

  const std::string& key() const { return key_; }
  const std::string& range_end() const { return range_end_; }
  const watch_options& options() const { return options_; }
  std::int64_t next_revision() const { return next_; }
  std::int64_t last_revision() const { return last_; }
  std::size_t queued_events() const { return queued_; }
  std::size_t held_fragments() const { return fragments_.size(); }

 private:
  std::string key_, range_end_;
  watch_options options_;
  std::size_t max_queued_;
  std::int64_t next_;      // first revision not queued yet; 0 = "now" (never created)
  std::int64_t last_ = 0;  // last revision handed to the consumer
  std::size_t queued_ = 0;
  std::vector<watch_event> fragments_;  // a revision split by etcd, until its last part
};

class create_queue {
 public:
  void sent(std::int64_t wire_id) { pending_.push_back(wire_id); }
  // The wire id a "created" answer with `watch_id` is for, taken off the queue (-1: the oldest
  // pending); nullopt for -1 with nothing pending.
  std::optional<std::int64_t> answered(std::int64_t watch_id);
  std::size_t pending() const { return pending_.size(); }

 private:
  std::deque<std::int64_t> pending_;
};

struct refusal {
  bool use_post_form = false;  // etcd 3.4's WebSocket proxy forwards no token: retry over POST
  std::error_code code;        // otherwise the watch ends with this
  std::string message;
};
refusal classify_refusal(const std::string& reason, bool post_form);

// A watch that etcd cancelled (compaction: `compact_revision` > 0, or a refusal), watched from
// `next_revision`: the code and message it ends with.
std::pair<std::error_code, std::string> classify_cancel(const watch_message& m,
                                                        std::int64_t next_revision);

// Placement on one endpoint whose live links carry `loads` watches each: the index of the link
// a new watch joins, or nullopt to open a new link. Links are filled before more are opened;
// with max_links links open, the least loaded takes it.
std::optional<std::size_t> choose_link(const std::vector<std::size_t>& loads,
                                       std::size_t max_watches_per_link, std::size_t max_links);
// POST streams (fixed sets of watches): before one more is opened on an endpoint that has
// `loads`, the index of the smallest to fold into it, or nullopt when under max_links.
std::optional<std::size_t> link_to_fold(const std::vector<std::size_t>& loads,
                                        std::size_t max_links);

// Backoff before re-placing the watches of a broken link after `consecutive_failures` link
// failures with no message in between: uniform in [cap/2, cap], cap = 50 ms * 2^failures (at
// most 2 s). `random` in [0, 1).
std::chrono::milliseconds resume_delay(int consecutive_failures, double random);

}  // namespace coordination::detail
