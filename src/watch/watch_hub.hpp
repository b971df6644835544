// The watch hub: every watch of one client, multiplexed over a few WebSocket links per endpoint.
// It places each watch on a link (at most max_watches_per_link per link, max_links_per_endpoint
// links per endpoint), routes answers by the watch id on the wire, drops events already
// delivered, and when a link breaks re-creates its watches from their next revision on a link to
// the endpoint the transport picks (after a backoff). See coordination/watch.hpp for the
// guarantees. Not thread-safe: the client's executor only.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <random>

#include "coordination/watch.hpp"
#include "transport/connection.hpp"
#include "transport/ws_connection.hpp"
#include "watch/watch_mux.hpp"

namespace coordination::detail {

struct client_impl;
class watch_hub;
struct watch_link;

enum class watch_phase { placing, creating, active, paused, ended };

struct watch_state {
  watch_state(boost::asio::any_io_executor ex, std::string key, std::string range_end,
              const watch_options& o)
      : cursor(std::move(key), std::move(range_end), o),
        signal(ex, std::chrono::steady_clock::time_point::max()) {}
  std::shared_ptr<watch_hub> hub;
  std::int64_t id = 0;       // stable, for the user
  std::int64_t wire_id = 0;  // the etcd watch_id of the current creation
  watch_cursor cursor;       // revisions, dedup, fragments, back-pressure
  std::deque<watch_batch> batches;
  watch_phase phase = watch_phase::placing;
  std::error_code end_code;
  std::string end_message;
  std::int64_t compact_revision = 0;
  std::shared_ptr<watch_link> link;
  boost::asio::steady_timer signal;  // cancelled to wake the consumer or the creator
  bool woken = false;
  void wake() {
    woken = true;
    signal.cancel();
  }
};

// One stream to one endpoint carrying many watches: a WebSocket (full duplex: watches are added
// and cancelled on the live stream) or, as the fallback, a POST whose body created a fixed set
// of watches (cancelled ones are dropped locally; the stream closes when none is left).
struct watch_link {
  watch_link(boost::asio::any_io_executor ex, std::size_t endpoint_index, bool post_form)
      : endpoint_index(endpoint_index),
        post_form(post_form),
        outbox_signal(ex, std::chrono::steady_clock::time_point::max()) {}
  std::size_t endpoint_index;
  bool post_form;
  std::unique_ptr<transport::ws_connection> ws;
  std::unique_ptr<transport::connection> post;
  std::map<std::int64_t, std::shared_ptr<watch_state>> watches;  // by wire id
  create_queue creates;  // wire ids in the order their creates were sent
  std::deque<std::string> outbox;
  boost::asio::steady_timer outbox_signal;
  bool dead = false;
  bool healthy = false;  // has received a message
  void close() {
    if (ws) ws->close();
    if (post) post->close();
  }
};

struct watch_hub_stats {
  std::size_t links = 0;
  std::size_t watches = 0;
  std::uint64_t link_failures = 0;
  std::uint64_t leaderless_endpoints = 0;  // found by the health probe
  std::uint64_t resumed_watches = 0;
  std::uint64_t events_delivered = 0;
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t fragments = 0;  // messages that were parts of a split revision
  bool post_form = false;       // streams use the POST fallback instead of WebSockets
};

class watch_hub : public std::enable_shared_from_this<watch_hub> {
 public:
  explicit watch_hub(client_impl& impl);
  ~watch_hub();

  boost::asio::awaitable<watch_stream> watch(std::string key, std::string range_end,
                                             watch_options options);
  void cancel(watch_state& w);
  // The consumer took a batch: a paused watch resumes once its queue is half empty.
  void consumed(const std::shared_ptr<watch_state>& w);
  void shutdown();
  watch_hub_stats stats() const;

  std::size_t max_watches_per_link = 1000;
  std::size_t max_links_per_endpoint = 16;
  std::chrono::milliseconds idle_timeout{10000};
  bool post_form = false;  // set from client_config::watch_transport, or after a refusal

 private:
  void place(const std::shared_ptr<watch_state>& w);
  std::shared_ptr<watch_link> link_for(std::size_t endpoint_index);
  std::vector<std::shared_ptr<watch_link>> links_on(std::size_t endpoint_index) const;
  static std::vector<std::size_t> loads_of(const std::vector<std::shared_ptr<watch_link>>& ls);
  boost::asio::awaitable<void> run_link(std::shared_ptr<watch_link> link);
  boost::asio::awaitable<void> write_loop(std::shared_ptr<watch_link> link);
  boost::asio::awaitable<void> run_post_link(std::shared_ptr<watch_link> link, std::string body);
  void flush_post_batch();
  void drop_from_link(watch_state& w);
  boost::asio::awaitable<void> health_loop();
  boost::asio::awaitable<void> place_later(std::vector<std::shared_ptr<watch_state>> ws);
  void on_message(const std::shared_ptr<watch_link>& link, const std::string& text);
  void link_failed(const std::shared_ptr<watch_link>& link, const std::string& why);
  void end(watch_state& w, std::error_code code, std::string message);
  void send(watch_link& link, std::string frame);
  void note_counts();  // metrics: streams and watches now

  client_impl& impl_;
  std::list<std::shared_ptr<watch_link>> links_;
  std::vector<std::shared_ptr<watch_state>> post_batch_;  // POST form: creates not sent yet
  std::vector<std::weak_ptr<watch_state>> all_;           // every watch made, for shutdown()
  std::size_t live_watches_seen_ = 0;                     // all_.size() after the last pruning
  bool flush_scheduled_ = false;
  bool health_running_ = false;
  std::int64_t next_id_ = 1;
  std::int64_t next_wire_id_ = 1;
  int consecutive_failures_ = 0;
  bool shut_down_ = false;
  std::minstd_rand rng_{std::random_device{}()};
  watch_hub_stats stats_;
};

}  // namespace coordination::detail
