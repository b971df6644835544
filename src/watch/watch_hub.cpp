#include "watch/watch_hub.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/access.hpp"
#include "client/client_impl.hpp"
#include "coordination/error.hpp"
#include "detail/cancelled.hpp"
#include "detail/use_tuple.hpp"
#include "protocol/codec.hpp"
#include "protocol/error_mapping.hpp"
#include "transport/stream_reader.hpp"

namespace coordination::detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

watch_hub::watch_hub(client_impl& impl) : impl_(impl) {}

watch_hub::~watch_hub() {
  shutdown();
}

void watch_hub::note_counts() {
  if (shut_down_ || !impl_.metrics) return;  // (after shutdown the client may be gone)
  std::int64_t watches = 0;
  for (auto& l : links_) watches += static_cast<std::int64_t>(l->watches.size());
  impl_.metrics->watch_counts(static_cast<std::int64_t>(links_.size()), watches);
}

watch_hub_stats watch_hub::stats() const {
  auto s = stats_;
  s.post_form = post_form;
  s.links = links_.size();
  s.watches = 0;
  for (auto& l : links_) s.watches += l->watches.size();
  return s;
}

void watch_hub::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  auto links = std::move(links_);
  links_.clear();
  for (auto& link : links) {
    link->dead = true;
    link->close();
    link->outbox_signal.cancel();
    auto watches = std::move(link->watches);
    link->watches.clear();
    for (auto& [id, w] : watches) end(*w, make_error_code(error::cancelled), "client closed");
  }
  // Also the watches on no link: waiting to be placed again (their re-placement task is
  // cancelled with the client's tasks), paused by back-pressure, or being created over POST.
  auto all = std::move(all_);
  all_.clear();
  for (auto& weak : all)
    if (auto w = weak.lock()) end(*w, make_error_code(error::cancelled), "client closed");
}

asio::awaitable<watch_stream> watch_hub::watch(std::string key, std::string range_end,
                                               watch_options options) {
  auto self = shared_from_this();
  if (shut_down_) throw coordination_error(error::cancelled, "client closed");
  auto w =
      std::make_shared<watch_state>(impl_.executor, std::move(key), std::move(range_end), options);
  w->hub = self;
  w->id = next_id_++;
  if (all_.size() >= 2 * live_watches_seen_ + 16) {  // prune the gone, amortised
    std::erase_if(all_, [](auto& weak) { return weak.expired(); });
    live_watches_seen_ = all_.size();
  }
  all_.push_back(w);
  place(w);
  const auto deadline = clock::now() + impl_.config.request_timeout;
  while (w->phase == watch_phase::placing || w->phase == watch_phase::creating) {
    w->woken = false;
    w->signal.expires_at(deadline);
    try {
      co_await detail::wait_signal(w->signal, "watch");
    } catch (const coordination_error&) {
      cancel(*w);
      throw;
    }
    if (!w->woken) {
      bool late = clock::now() >= deadline;
      cancel(*w);
      if (late)
        throw coordination_error(
            error::unavailable,
            "watch: not created within request_timeout (no endpoint served it)");
      throw coordination_error(error::cancelled, "watch: creation cancelled");
    }
  }
  w->signal.expires_at(clock::time_point::max());
  if (w->phase == watch_phase::ended && w->batches.empty())
    throw coordination_error(w->end_code, w->end_message);
  co_return detail::access::make_watch_stream(std::move(w));
}

namespace {
std::string create_frame(watch_state& w) {
  return encode_watch_create(w.cursor.create_request(w.wire_id));
}
}  // namespace

void watch_hub::place(const std::shared_ptr<watch_state>& w) {
  if (shut_down_) {
    end(*w, make_error_code(error::cancelled), "client closed");
    return;
  }
  w->wire_id = next_wire_id_++;
  w->phase = watch_phase::creating;
  if (post_form) {
    // Creates made in the same turn of the executor share one POST stream.
    post_batch_.push_back(w);
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      asio::post(impl_.executor, [self = shared_from_this()] { self->flush_post_batch(); });
    }
    return;
  }
  auto link = link_for(impl_.transport.pick_endpoint());
  w->link = link;
  link->watches[w->wire_id] = w;
  link->creates.sent(w->wire_id);
  send(*link, create_frame(*w));
  note_counts();
}

void watch_hub::flush_post_batch() {
  flush_scheduled_ = false;
  if (shut_down_ || post_batch_.empty()) return;
  auto index = impl_.transport.pick_endpoint();
  std::vector<std::shared_ptr<watch_state>> batch;
  for (auto& w : post_batch_)
    if (w->phase == watch_phase::creating) batch.push_back(w);
  post_batch_.clear();
  // At most max_links_per_endpoint streams: fold the smallest ones into this batch.
  for (;;) {
    auto on_endpoint = links_on(index);
    auto fold = link_to_fold(loads_of(on_endpoint), max_links_per_endpoint);
    if (!fold) break;
    auto smallest = on_endpoint[*fold];
    smallest->dead = true;
    smallest->close();
    links_.remove(smallest);
    for (auto& [wire, w] : smallest->watches) {
      w->link.reset();
      if (w->phase == watch_phase::creating || w->phase == watch_phase::active) {
        w->wire_id = next_wire_id_++;
        w->phase = watch_phase::creating;
        batch.push_back(w);
      }
    }
  }
  if (batch.empty()) return;
  auto link = std::make_shared<watch_link>(impl_.executor, index, true);
  std::string body;
  for (auto& w : batch) {
    w->link = link;
    link->watches[w->wire_id] = w;
    link->creates.sent(w->wire_id);
    body += create_frame(*w);
  }
  links_.push_back(link);
  note_counts();
  impl_.tasks.spawn("watch stream (POST)", run_post_link(link, std::move(body)));
}

asio::awaitable<void> watch_hub::run_post_link(std::shared_ptr<watch_link> link, std::string body) {
  auto self = shared_from_this();
  try {
    const auto& ep = impl_.transport.endpoint_at(link->endpoint_index);
    link->post =
        std::make_unique<transport::connection>(impl_.executor, ep, impl_.transport.tls_context());
    auto token =
        co_await impl_.transport.authorization(clock::now() + impl_.config.request_timeout);
    if (link->dead) co_return;
    auto ec = co_await link->post->connect(clock::now() + impl_.config.dial_timeout);
    if (!ec && !link->dead) {
      transport::http_request req{"/v3/watch", body, token, impl_.config.require_leader};
      ec = co_await link->post->send_streaming(req, clock::now() + impl_.config.request_timeout);
    }
    if (link->dead) co_return;
    if (ec) {
      link_failed(link, "connect: " + ec.message());
      co_return;
    }
    transport::stream_reader reader(impl_.config.max_response_bytes);
    std::vector<char> buffer(16 * 1024);
    for (;;) {
      auto [rec, n] = co_await link->post->read_some(buffer.data(), buffer.size());
      if (link->dead) co_return;
      if (rec) {
        link_failed(link, rec.message());
        co_return;
      }
      if (auto fec = reader.feed(std::string_view(buffer.data(), n))) {
        link_failed(link, "bad stream: " + fec.message());
        co_return;
      }
      if (reader.header_done() && reader.status() != 200) {
        if (!reader.done()) continue;  // read the error body first
        auto first = reader.next_message();
        auto mapped = map_gateway_error(reader.status(), first ? *first : "");
        if (mapped.action == disposition::reauthenticate) impl_.transport.drop_token();
        link_failed(link, "HTTP " + std::to_string(reader.status()) + ": " + mapped.message);
        co_return;
      }
      while (auto message = reader.next_message()) {
        if (!link->healthy) {
          link->healthy = true;
          consecutive_failures_ = 0;
        }
        on_message(link, *message);
        if (link->dead) co_return;
      }
      if (reader.done()) {
        link_failed(link, "etcd ended the stream");
        co_return;
      }
    }
  } catch (const std::exception& e) {
    if (!link->dead) link_failed(link, e.what());
  }
}

std::vector<std::shared_ptr<watch_link>> watch_hub::links_on(std::size_t endpoint_index) const {
  std::vector<std::shared_ptr<watch_link>> out;
  for (auto& l : links_)
    if (!l->dead && l->endpoint_index == endpoint_index) out.push_back(l);
  return out;
}

std::vector<std::size_t> watch_hub::loads_of(const std::vector<std::shared_ptr<watch_link>>& ls) {
  std::vector<std::size_t> loads;
  for (auto& l : ls) loads.push_back(l->watches.size());
  return loads;
}

std::shared_ptr<watch_link> watch_hub::link_for(std::size_t endpoint_index) {
  auto on_endpoint = links_on(endpoint_index);
  if (auto k = choose_link(loads_of(on_endpoint), max_watches_per_link, max_links_per_endpoint))
    return on_endpoint[*k];
  auto link = std::make_shared<watch_link>(impl_.executor, endpoint_index, false);
  link->ws = std::make_unique<transport::ws_connection>(
      impl_.executor, impl_.transport.endpoint_at(endpoint_index), impl_.transport.tls_context());
  links_.push_back(link);
  impl_.tasks.spawn("watch stream", run_link(link));
  if (!health_running_ && impl_.config.require_leader &&
      impl_.config.watch_health_interval.count() > 0) {
    health_running_ = true;
    impl_.tasks.spawn("watch streams' leader check", health_loop());
  }
  return link;
}

void watch_hub::send(watch_link& link, std::string frame) {
  link.outbox.push_back(std::move(frame));
  link.outbox_signal.cancel();
}

asio::awaitable<void> watch_hub::run_link(std::shared_ptr<watch_link> link) {
  auto self = shared_from_this();
  try {
    transport::ws_options o;
    o.handshake_deadline = clock::now() + impl_.config.dial_timeout;
    o.idle_timeout = idle_timeout;
    o.require_leader = impl_.config.require_leader;
    o.max_message = impl_.config.max_response_bytes;
    o.authorization =
        co_await impl_.transport.authorization(clock::now() + impl_.config.request_timeout);
    if (link->dead) co_return;
    auto ec = co_await link->ws->connect(o);
    if (link->dead) co_return;
    if (ec) {
      link_failed(link, "connect: " + ec.message());
      co_return;
    }
    impl_.tasks.spawn("watch stream writer", write_loop(link));
    for (;;) {
      auto [rec, text] = co_await link->ws->read();
      if (link->dead) co_return;
      if (rec) {
        link_failed(link, rec.message());
        co_return;
      }
      if (!link->healthy) {
        link->healthy = true;
        consecutive_failures_ = 0;
      }
      on_message(link, text);
      if (link->dead) co_return;
    }
  } catch (const std::exception& e) {
    if (!link->dead) link_failed(link, e.what());
  }
}

asio::awaitable<void> watch_hub::write_loop(std::shared_ptr<watch_link> link) {
  auto self = shared_from_this();
  while (!link->dead) {
    if (link->outbox.empty()) {
      link->outbox_signal.expires_at(clock::time_point::max());
      co_await link->outbox_signal.async_wait(use_tuple);
      continue;
    }
    auto frame = std::move(link->outbox.front());
    link->outbox.pop_front();
    auto ec = co_await link->ws->write(frame);
    if (ec) {
      if (!link->dead) link_failed(link, "write: " + ec.message());
      co_return;
    }
  }
}

void watch_hub::link_failed(const std::shared_ptr<watch_link>& link, const std::string& why) {
  if (link->dead) return;
  link->dead = true;
  link->close();
  link->outbox_signal.cancel();
  links_.remove(link);
  note_counts();
  if (shut_down_) return;
  ++stats_.link_failures;
  if (impl_.metrics) impl_.metrics->watch_stream_failure();
  ++consecutive_failures_;
  impl_.transport.mark_endpoint_failed(link->endpoint_index);
  impl_.log->info("coordination: watch stream to {} broke ({}); moving {} watch(es)",
                  impl_.transport.endpoint_at(link->endpoint_index).url, why, link->watches.size());
  std::vector<std::shared_ptr<watch_state>> moving;
  for (auto& [wire, w] : link->watches) {
    w->link.reset();
    if (w->phase == watch_phase::creating || w->phase == watch_phase::active) {
      w->phase = watch_phase::placing;
      moving.push_back(w);
    }
  }
  link->watches.clear();
  if (!moving.empty())
    impl_.tasks.spawn("moving watches to another stream", place_later(std::move(moving)));
}

asio::awaitable<void> watch_hub::place_later(std::vector<std::shared_ptr<watch_state>> ws) {
  auto self = shared_from_this();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  asio::steady_timer t(impl_.executor, resume_delay(consecutive_failures_, unit(rng_)));
  co_await t.async_wait(use_tuple);
  for (auto& w : ws) {
    if (w->phase != watch_phase::placing) continue;  // cancelled meanwhile
    ++stats_.resumed_watches;
    if (impl_.metrics) impl_.metrics->watch_resume();
    place(w);
  }
}

asio::awaitable<void> watch_hub::health_loop() {
  auto self = shared_from_this();
  asio::steady_timer t(impl_.executor);
  while (!shut_down_) {
    t.expires_after(impl_.config.watch_health_interval);
    co_await t.async_wait(use_tuple);
    std::vector<std::size_t> probed;
    for (auto& l : links_)
      if (!l->dead && !l->post_form && l->healthy &&
          std::find(probed.begin(), probed.end(), l->endpoint_index) == probed.end())
        probed.push_back(l->endpoint_index);
    if (probed.empty()) {
      health_running_ = false;  // restarted with the next WebSocket link
      co_return;
    }
    for (auto index : probed) {
      if (shut_down_) co_return;
      auto url = impl_.transport.endpoint_at(index).url;
      bool leaderless = false;
      try {
        // With Grpc-Metadata-Hasleader a member without a leader answers "no leader" at once.
        co_await impl_.transport.call_at(url, "/v3/maintenance/status", "{}",
                                         transport::call_kind::read,
                                         clock::now() + impl_.config.watch_health_interval);
      } catch (const coordination_error& e) {
        leaderless = e.code() == error::unavailable || e.code() == error::timeout;
      } catch (const std::exception&) {
      }
      if (!leaderless || shut_down_) continue;
      ++stats_.leaderless_endpoints;
      std::vector<std::shared_ptr<watch_link>> failing;
      for (auto& l : links_)
        if (!l->dead && !l->post_form && l->endpoint_index == index) failing.push_back(l);
      for (auto& l : failing) link_failed(l, "endpoint has no leader or does not answer");
    }
  }
}

void watch_hub::end(watch_state& w, std::error_code code, std::string message) {
  if (w.phase == watch_phase::ended) return;
  w.phase = watch_phase::ended;
  w.end_code = code;
  w.end_message = std::move(message);
  w.link.reset();
  w.wake();
  note_counts();
}

void watch_hub::drop_from_link(watch_state& w) {
  auto link = w.link;
  w.link.reset();
  if (!link || link->dead) return;
  link->watches.erase(w.wire_id);
  if (!link->post_form) {
    send(*link, encode_watch_cancel(w.wire_id));
  } else if (link->watches.empty()) {
    // A POST stream cannot cancel one of its watches; with none left it just closes.
    link->dead = true;
    link->close();
    links_.remove(link);
  }
  note_counts();
}

void watch_hub::cancel(watch_state& w) {
  if (w.phase == watch_phase::ended) return;
  drop_from_link(w);
  end(w, make_error_code(error::cancelled), "watch cancelled");
}

void watch_hub::consumed(const std::shared_ptr<watch_state>& w) {
  if (w->phase == watch_phase::paused && w->cursor.may_resume()) place(w);
}

void watch_hub::on_message(const std::shared_ptr<watch_link>& link, const std::string& text) {
  watch_message m;
  try {
    m = decode_watch_message(text);
  } catch (const coordination_error& e) {
    link_failed(link, e.what());
    return;
  }
  if (m.stream_error) {
    // Unauthenticated (16): an expired or revoked token; the next stream authenticates again.
    if (m.stream_error_code == 16 || m.stream_error->find("auth token") != std::string::npos)
      impl_.transport.drop_token();
    if (m.stream_error_code == 7) {
      // PermissionDenied: every stream would be refused alike, so the watches end with it
      // (moved, they would be retried for ever and their next() would never return).
      std::vector<std::shared_ptr<watch_state>> refused;
      for (auto& [wire, w] : link->watches) refused.push_back(w);
      link->watches.clear();
      for (auto& w : refused)
        end(*w, make_error_code(error::permission_denied), "watch: " + *m.stream_error);
    }
    link_failed(link, "etcd ended the stream: " + *m.stream_error);
    return;
  }
  if (m.created) {
    auto wire = link->creates.answered(m.watch_id);
    if (m.watch_id == -1) {
      auto refused = wire ? link->watches.find(*wire) : link->watches.end();
      if (refused == link->watches.end()) return;
      auto w = refused->second;
      link->watches.erase(refused);
      w->link.reset();
      auto r = classify_refusal(m.cancel_reason, link->post_form);
      if (r.use_post_form) {
        impl_.log->info("coordination: watch refused over WebSocket ({}); using POST streams",
                        m.cancel_reason);
        post_form = true;
        place(w);
        return;
      }
      end(*w, r.code, std::move(r.message));
      return;
    }
  }
  if (m.watch_id == -1) return;  // answer to a progress_request
  auto it = link->watches.find(m.watch_id);
  if (it == link->watches.end()) return;  // cancelled or paused meanwhile
  auto w = it->second;
  if (m.created && w->phase == watch_phase::creating) {
    w->phase = watch_phase::active;
    w->cursor.created(m.header.revision);
    w->wake();
  }
  if (m.canceled) {
    link->watches.erase(it);
    w->link.reset();
    auto [code, message] = classify_cancel(m, w->cursor.next_revision());
    if (m.compact_revision > 0) w->compact_revision = m.compact_revision;
    end(*w, code, std::move(message));
    return;
  }
  if (w->phase != watch_phase::active) return;
  auto out = w->cursor.on_message(m);
  stats_.fragments += out.fragment;
  stats_.duplicates_dropped += out.duplicates;
  if (!out.batch) return;
  auto events = out.batch->events.size();
  if (events && impl_.metrics) impl_.metrics->watch_events(events);
  w->batches.push_back(std::move(*out.batch));
  w->wake();
  if (out.pause) {
    // Back-pressure: stop the server side, keep what is queued, resume from the next revision
    // once the consumer has caught up (consumed()).
    drop_from_link(*w);  // late answers for this wire id are ignored
    w->phase = watch_phase::paused;
    impl_.log->debug("coordination: watch {} paused with {} events queued", w->id,
                     w->cursor.queued_events());
  }
}

}  // namespace coordination::detail
