#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "coordination/error.hpp"
#include "coordination/watch.hpp"
#include "detail/cancelled.hpp"
#include "watch/watch_hub.hpp"

namespace coordination {

namespace asio = boost::asio;

watch_stream::watch_stream() = default;
watch_stream::watch_stream(std::shared_ptr<detail::watch_state> s) : state_(std::move(s)) {}
watch_stream::watch_stream(watch_stream&&) noexcept = default;
watch_stream& watch_stream::operator=(watch_stream&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}
watch_stream::~watch_stream() {
  cancel();
}

void watch_stream::cancel() {
  if (state_ && state_->hub) state_->hub->cancel(*state_);
}

std::int64_t watch_stream::id() const {
  return state_ ? state_->id : 0;
}
std::int64_t watch_stream::last_revision() const {
  return state_ ? state_->cursor.last_revision() : 0;
}
std::int64_t watch_stream::compact_revision() const {
  return state_ ? state_->compact_revision : 0;
}
std::size_t watch_stream::queued_events() const {
  return state_ ? state_->cursor.queued_events() : 0;
}

asio::awaitable<watch_batch> watch_stream::next() {
  auto s = state_;
  if (!s) throw coordination_error(error::invalid_argument, "watch_stream: empty handle");
  for (;;) {
    if (!s->batches.empty()) {
      auto b = std::move(s->batches.front());
      s->batches.pop_front();
      if (s->cursor.consumed(b)) s->hub->consumed(s);
      co_return b;
    }
    if (s->phase == detail::watch_phase::ended)
      throw coordination_error(s->end_code, s->end_message);
    s->woken = false;
    s->signal.expires_at(std::chrono::steady_clock::time_point::max());
    co_await detail::wait_signal(s->signal, "watch_stream::next");
    if (!s->woken) throw coordination_error(error::cancelled, "watch_stream::next cancelled");
  }
}

}  // namespace coordination
