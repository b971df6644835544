#include "watch/watch_mux.hpp"

#include <algorithm>

#include "coordination/error.hpp"

namespace coordination::detail {

using namespace std::chrono_literals;

watch_cursor::watch_cursor(std::string key, std::string range_end, const watch_options& o)
    : key_(std::move(key)),
      range_end_(std::move(range_end)),
      options_(o),
      max_queued_(std::max<std::size_t>(o.max_queued_events, 1)),
      next_(o.start_revision) {}

watch_create watch_cursor::create_request(std::int64_t wire_id) {
  fragments_.clear();
  watch_create c;
  c.watch_id = wire_id;
  c.key = key_;
  c.range_end = range_end_;
  c.start_revision = next_;
  c.prev_kv = options_.prev_kv;
  c.progress_notify = options_.progress_notify;
  c.filter_put = options_.filter_put;
  c.filter_delete = options_.filter_delete;
  c.fragment = options_.fragment;
  return c;
}

void watch_cursor::created(std::int64_t header_revision) {
  if (next_ == 0) next_ = header_revision + 1;
}

namespace {
watch_event to_event(watch_event_wire& e) {
  return watch_event{e.is_delete ? event_type::del : event_type::put, std::move(e.kv),
                     std::move(e.prev_kv)};
}
}  // namespace

watch_cursor::outcome watch_cursor::on_message(watch_message& m) {
  outcome out;
  if (m.events.empty() && fragments_.empty()) {
    // A progress notification: every event up to header.revision has been sent.
    if (!m.created && m.header.revision >= next_) {
      next_ = m.header.revision + 1;
      if (options_.progress_notify) out.batch = watch_batch{m.header.revision, {}};
    }
    return out;
  }
  if (m.fragment) {
    // Part of one revision's events: held until the part without the flag.
    out.fragment = true;
    for (auto& e : m.events) fragments_.push_back(to_event(e));
    return out;
  }
  watch_batch b;
  b.revision = m.header.revision;
  for (auto& e : fragments_)
    if (e.kv.mod_revision >= next_) b.events.push_back(std::move(e));
  fragments_.clear();
  b.events.reserve(b.events.size() + m.events.size());
  for (auto& e : m.events) {
    if (e.kv.mod_revision < next_) {
      ++out.duplicates;
      continue;
    }
    b.events.push_back(to_event(e));
  }
  if (b.events.empty()) return out;
  next_ = b.events.back().kv.mod_revision + 1;
  queued_ += b.events.size();
  out.pause = queued_ > max_queued_;
  out.batch = std::move(b);
  return out;
}

bool watch_cursor::consumed(const watch_batch& b) {
  queued_ -= std::min(queued_, b.events.size());
  if (!b.events.empty())
    last_ = b.events.back().kv.mod_revision;
  else
    last_ = std::max(last_, b.revision);
  return may_resume();
}

std::optional<std::int64_t> create_queue::answered(std::int64_t watch_id) {
  std::int64_t wire = watch_id;
  if (wire == -1) {
    if (pending_.empty()) return std::nullopt;
    wire = pending_.front();
  }
  auto pos = std::find(pending_.begin(), pending_.end(), wire);
  if (pos != pending_.end()) pending_.erase(pos);
  return wire;
}

refusal classify_refusal(const std::string& why, bool post_form) {
  refusal r;
  bool auth = why.find("user name is empty") != std::string::npos ||
              why.find("auth token") != std::string::npos;
  if (auth && !post_form) {
    r.use_post_form = true;
    return r;
  }
  error code = error::server_error;
  if (auth)
    code = error::auth_failed;
  else if (why.find("ermission") != std::string::npos)
    code = error::permission_denied;
  r.code = make_error_code(code);
  r.message = "etcd refused the watch: " + why;
  return r;
}

std::pair<std::error_code, std::string> classify_cancel(const watch_message& m,
                                                        std::int64_t next_revision) {
  if (m.compact_revision > 0)
    return {make_error_code(error::compacted),
            "watch from revision " + std::to_string(next_revision) +
                ": history was compacted up to revision " + std::to_string(m.compact_revision)};
  auto code = m.cancel_reason.find("permission") != std::string::npos ? error::permission_denied
                                                                      : error::server_error;
  return {make_error_code(code), "etcd cancelled the watch: " + m.cancel_reason};
}

std::optional<std::size_t> choose_link(const std::vector<std::size_t>& loads,
                                       std::size_t max_watches_per_link, std::size_t max_links) {
  std::optional<std::size_t> least;
  for (std::size_t k = 0; k < loads.size(); ++k) {
    if (loads[k] < max_watches_per_link) return k;  // fill links before opening more
    if (!least || loads[k] < loads[*least]) least = k;
  }
  if (least && loads.size() >= max_links) return least;
  return std::nullopt;
}

std::optional<std::size_t> link_to_fold(const std::vector<std::size_t>& loads,
                                        std::size_t max_links) {
  if (loads.empty() || loads.size() < max_links) return std::nullopt;
  return static_cast<std::size_t>(std::min_element(loads.begin(), loads.end()) - loads.begin());
}

std::chrono::milliseconds resume_delay(int consecutive_failures, double random) {
  int shift = std::clamp(consecutive_failures, 0, 6);
  auto cap = std::min<std::chrono::milliseconds>(50ms * (1 << shift), 2000ms);
  auto low = cap.count() / 2;
  random = std::clamp(random, 0.0, 1.0);
  return std::chrono::milliseconds(low + static_cast<long>(random * (cap.count() - low)));
}

}  // namespace coordination::detail
