#include "support/fault_proxy.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <list>
#include <random>
#include <stdexcept>
#include <string_view>

namespace coordination::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

const char* to_string(fault f) {
  switch (f) {
    case fault::none:
      return "none";
    case fault::lost_answer:
      return "lost_answer";
    case fault::reset_before:
      return "reset_before";
    case fault::late_answer:
      return "late_answer";
    case fault::late_drop:
      return "late_drop";
    case fault::late_apply:
      return "late_apply";
    case fault::cut:
      return "cut";
    case fault::canned:
      return "canned";
  }
  return "?";
}

namespace {

constexpr std::size_t max_head = 64 * 1024;

// The end of the peer's bytes or a broken connection.
struct closed_error : std::runtime_error {
  closed_error() : std::runtime_error("connection closed") {}
};

void reset(tcp::socket& s) {
  boost::system::error_code ignored;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ignored);  // close with RST
  s.close(ignored);
}

// Appends what the socket has to `buf`; throws closed_error at the end or on an error.
asio::awaitable<void> read_more(tcp::socket& s, std::string& buf) {
  char chunk[16384];
  auto [ec, n] =
      co_await s.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
  if (ec || n == 0) throw closed_error();
  buf.append(chunk, n);
}

asio::awaitable<void> write_all(tcp::socket& s, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(bytes.data(), bytes.size()),
                                            asio::as_tuple(asio::use_awaitable));
  (void)n;
  if (ec) throw closed_error();
}

// Reads until `buf` holds a whole head; returns its length (with the blank line). 0: the peer
// closed before sending anything.
asio::awaitable<std::size_t> read_head(tcp::socket& s, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) co_return end + 4;
    if (buf.size() > max_head) throw std::runtime_error("fault_proxy: head over 64 KiB");
    if (buf.empty()) {
      try {
        co_await read_more(s, buf);
      } catch (const closed_error&) {
        co_return 0;
      }
    } else {
      co_await read_more(s, buf);
    }
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of header `name` (lower case) in `head` (lower case), if present.
std::optional<std::string> header(const std::string& head, std::string_view name) {
  auto at = head.find("\r\n" + std::string(name) + ":");
  if (at == std::string::npos) return std::nullopt;
  auto from = at + 3 + name.size();
  auto to = head.find("\r\n", from);
  auto v = head.substr(from, to - from);
  auto first = v.find_first_not_of(" \t");
  auto last = v.find_last_not_of(" \t");
  if (first == std::string::npos) return std::string();
  return v.substr(first, last - first + 1);
}

struct request_bytes {
  std::string raw;
  std::string method;
  std::string path;
  bool stream = false;  // a watch: pumped both ways after the request
};

// One whole request off `s` (its bytes removed from `buf`); nullopt: the client closed.
asio::awaitable<std::optional<request_bytes>> read_request(tcp::socket& s, std::string& buf) {
  auto head_len = co_await read_head(s, buf);
  if (head_len == 0) co_return std::nullopt;
  auto head = lower(std::string_view(buf).substr(0, head_len));
  request_bytes r;
  auto sp1 = buf.find(' ');
  auto sp2 = buf.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos || sp2 > head_len)
    throw std::runtime_error("fault_proxy: bad request line");
  r.method = buf.substr(0, sp1);
  r.path = buf.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = r.path.find('?'); q != std::string::npos) r.path.resize(q);
  if (header(head, "transfer-encoding"))
    throw std::runtime_error("fault_proxy: chunked requests are not supported");
  std::size_t body = 0;
  if (auto cl = header(head, "content-length")) body = std::stoull(*cl);
  while (buf.size() < head_len + body) co_await read_more(s, buf);
  r.raw = buf.substr(0, head_len + body);
  buf.erase(0, head_len + body);
  r.stream = r.path.starts_with("/v3/watch");
  co_return r;
}

// One whole answer off `s` (its bytes removed from `buf`), as it came.
asio::awaitable<std::string> read_response(tcp::socket& s, std::string& buf) {
  auto head_len = co_await read_head(s, buf);
  if (head_len == 0) throw closed_error();
  auto head = lower(std::string_view(buf).substr(0, head_len));
  std::size_t end = head_len;
  auto te = header(head, "transfer-encoding");
  if (te && te->find("chunked") != std::string::npos) {
    std::size_t p = head_len;
    for (;;) {
      std::size_t eol;
      while ((eol = buf.find("\r\n", p)) == std::string::npos) co_await read_more(s, buf);
      auto size = std::stoull(buf.substr(p, eol - p), nullptr, 16);
      p = eol + 2;
      if (size == 0) {  // the trailer: header lines up to a blank one
        for (;;) {
          while ((eol = buf.find("\r\n", p)) == std::string::npos) co_await read_more(s, buf);
          bool blank = eol == p;
          p = eol + 2;
          if (blank) break;
        }
        break;
      }
      while (buf.size() < p + size + 2) co_await read_more(s, buf);
      p += size + 2;
    }
    end = p;
  } else if (auto cl = header(head, "content-length")) {
    end = head_len + std::stoull(*cl);
    while (buf.size() < end) co_await read_more(s, buf);
  }
  auto out = buf.substr(0, end);
  buf.erase(0, end);
  co_return out;
}

}  // namespace

// A client's connection and the one to the member behind it.
struct link {
  tcp::socket a, b;
  explicit link(asio::any_io_executor ex) : a(ex), b(ex) {}
  void reset_both() {
    reset(a);
    reset(b);
  }
};

struct fault_proxy::state {
  explicit state(asio::any_io_executor e, std::uint64_t seed) : ex(e), acceptor(e), rng(seed) {}
  struct rule_state {
    fault_rule rule;
    std::size_t seen = 0, hits = 0;
  };
  asio::any_io_executor ex;
  tcp::acceptor acceptor;
  tcp::endpoint target;
  std::mt19937_64 rng;
  std::vector<rule_state> rules;
  bool cut = false, closed = false;
  std::vector<proxied_request> log;
  std::size_t faults = 0;
  std::vector<std::string> held;         // late_apply with delay 0: until release_held()
  std::size_t delayed = 0;               // late_apply with a delay, not yet answered
  std::list<std::weak_ptr<link>> links;  // for cut()
  std::list<std::weak_ptr<asio::steady_timer>> timers;   // every delay, for the destructor
  std::list<std::weak_ptr<asio::steady_timer>> waiters;  // wait_late_applies()

  struct hit {
    fault kind = fault::none;
    std::chrono::milliseconds delay{0};
    std::function<asio::awaitable<void>()> on_hit;
    std::string answer;
  };

  hit decide(const request_bytes& r) {
    for (auto& rs : rules) {
      auto& rule = rs.rule;
      if (rs.hits >= rule.times) continue;
      if (rule.path.empty() ? r.stream : !r.path.starts_with(rule.path)) continue;
      if (!rule.needle.empty() && r.raw.find(rule.needle) == std::string::npos) continue;
      ++rs.seen;
      bool hit = false;
      if (rule.index)
        hit = rs.seen == *rule.index;
      else
        hit = rule.probability >= 1.0 ||
              std::uniform_real_distribution<double>(0.0, 1.0)(rng) < rule.probability;
      if (!hit) continue;
      ++rs.hits;
      return {rule.kind, rule.delay, rule.on_hit, rule.answer};
    }
    return {};
  }

  std::shared_ptr<asio::steady_timer> timer() {
    auto t = std::make_shared<asio::steady_timer>(ex);
    timers.remove_if([](auto& w) { return w.expired(); });
    timers.push_back(t);
    return t;
  }

  // Resets every connection; turns new ones away for `d` (0: not at all).
  void cut_all(std::chrono::milliseconds d);

  void wake_waiters() {
    for (auto& w : waiters)
      if (auto t = w.lock()) t->cancel();
  }
};

void fault_proxy::state::cut_all(std::chrono::milliseconds d) {
  for (auto& w : links)
    if (auto l = w.lock()) l->reset_both();
  links.clear();
  if (d.count() == 0) return;
  cut = true;
  auto t = timer();
  t->expires_after(d);
  t->async_wait([self = this, t](boost::system::error_code ec) {
    if (!ec) self->cut = false;
  });
}

namespace {

using state_ptr = std::shared_ptr<fault_proxy::state>;

// Sends one request on a connection of its own and waits for its answer (thrown away).
asio::awaitable<void> forward_once(state_ptr s, std::string raw) {
  tcp::socket b(s->ex);
  auto [ec] = co_await b.async_connect(s->target, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  try {
    co_await write_all(b, raw);
    std::string buf;
    co_await read_response(b, buf);
  } catch (const std::exception&) {
  }
  boost::system::error_code ignored;
  b.close(ignored);
}

asio::awaitable<void> late_apply_after(state_ptr s, std::string raw,
                                       std::chrono::milliseconds delay) {
  auto t = s->timer();
  t->expires_after(delay);
  auto [ec] = co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
  if (!ec && !s->closed) co_await forward_once(s, std::move(raw));
  --s->delayed;
  s->wake_waiters();
}

asio::awaitable<void> pump(std::shared_ptr<link> l, tcp::socket& from, tcp::socket& to) {
  char chunk[16384];
  for (;;) {
    auto [ec, n] =
        co_await from.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    if (ec || n == 0) break;
    auto [wec, wn] =
        co_await asio::async_write(to, asio::buffer(chunk, n), asio::as_tuple(asio::use_awaitable));
    (void)wn;
    if (wec) break;
  }
  l->reset_both();
}

// A watch: the request is forwarded (or faulted), then both directions are pumped unchanged.
asio::awaitable<void> stream(state_ptr s, std::shared_ptr<link> l, request_bytes r,
                             fault_proxy::state::hit h, std::string upstream_buf,
                             std::string client_buf) {
  const fault f = h.kind;
  if (f == fault::reset_before || f == fault::late_apply || f == fault::canned)
    co_return l->reset_both();
  co_await write_all(l->b, r.raw);
  if (!client_buf.empty()) co_await write_all(l->b, client_buf);
  if (f == fault::lost_answer || f == fault::late_drop || f == fault::late_answer) {
    std::string first;
    co_await read_more(l->b, first);
    if (f != fault::late_answer) co_return l->reset_both();
    auto t = s->timer();
    t->expires_after(h.delay);
    co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
    upstream_buf = first + upstream_buf;
  }
  if (!upstream_buf.empty()) co_await write_all(l->a, upstream_buf);
  asio::co_spawn(s->ex, pump(l, l->b, l->a), asio::detached);
  co_await pump(l, l->a, l->b);
}

asio::awaitable<void> serve(state_ptr s, std::shared_ptr<link> l) {
  std::string from_client, from_member;
  try {
    for (;;) {
      auto r = co_await read_request(l->a, from_client);
      if (!r || s->closed) break;
      fault_proxy::state::hit h;
      if (s->cut)
        h.kind = fault::reset_before;
      else
        h = s->decide(*r);
      const fault f = h.kind;
      s->log.push_back({r->method, r->path, f});
      if (f != fault::none) ++s->faults;
      if (!l->b.is_open() && f != fault::reset_before && f != fault::late_apply &&
          f != fault::canned && f != fault::cut) {
        auto [ec] = co_await l->b.async_connect(s->target, asio::as_tuple(asio::use_awaitable));
        if (ec) break;
      }
      if (h.on_hit && (f == fault::reset_before || f == fault::late_apply || f == fault::cut))
        co_await h.on_hit();
      if (f == fault::cut) {
        s->cut_all(h.delay);
        break;
      }
      if (r->stream) {
        co_await stream(s, l, std::move(*r), h, std::move(from_member), std::move(from_client));
        co_return;
      }
      if (f == fault::reset_before) break;
      if (f == fault::canned) {
        co_await write_all(l->a, h.answer);
        continue;
      }
      if (f == fault::late_apply) {
        auto delay = h.delay;
        if (delay.count() == 0) {
          s->held.push_back(std::move(r->raw));
        } else {
          ++s->delayed;
          asio::co_spawn(s->ex, late_apply_after(s, std::move(r->raw), delay), asio::detached);
        }
        break;
      }
      co_await write_all(l->b, r->raw);
      auto answer = co_await read_response(l->b, from_member);
      if (h.on_hit) co_await h.on_hit();
      if (f == fault::lost_answer) break;
      if (f == fault::late_answer || f == fault::late_drop) {
        auto t = s->timer();
        t->expires_after(h.delay);
        auto [ec] = co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || f == fault::late_drop) break;
      }
      co_await write_all(l->a, answer);
    }
  } catch (const std::exception&) {
  }
  l->reset_both();
}

asio::awaitable<void> accept_loop(state_ptr s) {
  for (;;) {
    auto l = std::make_shared<link>(s->ex);
    auto [ec] = co_await s->acceptor.async_accept(l->a, asio::as_tuple(asio::use_awaitable));
    if (ec || s->closed) co_return;
    if (s->cut) {
      l->reset_both();
      continue;
    }
    s->links.remove_if([](auto& w) { return w.expired(); });
    s->links.push_back(l);
    asio::co_spawn(s->ex, serve(s, l), asio::detached);
  }
}

}  // namespace

fault_proxy::fault_proxy(asio::any_io_executor ex, const std::string& target, std::uint64_t seed)
    : state_(std::make_shared<state>(ex, seed)) {
  auto hostport = target.substr(target.find("//") + 2);
  auto colon = hostport.rfind(':');
  state_->target =
      tcp::endpoint(asio::ip::make_address(hostport.substr(0, colon)),
                    static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1))));
  state_->acceptor.open(tcp::v4());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  state_->acceptor.listen();
  asio::co_spawn(ex, accept_loop(state_), asio::detached);
}

fault_proxy::~fault_proxy() {
  state_->closed = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  cut();
  state_->held.clear();
  for (auto& w : state_->timers)
    if (auto t = w.lock()) t->cancel();
}

std::string fault_proxy::url() const {
  return "http://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port());
}

void fault_proxy::add_rule(fault_rule r) {
  state_->rules.push_back({std::move(r)});
}
void fault_proxy::clear_rules() {
  state_->rules.clear();
}

void fault_proxy::cut() {
  state_->cut_all(std::chrono::milliseconds(0));
  state_->cut = true;
}

void fault_proxy::restore() {
  state_->cut = false;
}

const std::vector<proxied_request>& fault_proxy::requests() const {
  return state_->log;
}
std::size_t fault_proxy::faults_applied() const {
  return state_->faults;
}
std::size_t fault_proxy::held() const {
  return state_->held.size() + state_->delayed;
}

asio::awaitable<std::size_t> fault_proxy::release_held() {
  auto s = state_;
  auto held = std::move(s->held);
  s->held.clear();
  for (auto& raw : held) co_await forward_once(s, std::move(raw));
  co_return held.size();
}

asio::awaitable<void> fault_proxy::wait_late_applies() {
  auto s = state_;
  while (s->delayed > 0 && !s->closed) {
    auto t = s->timer();
    s->waiters.remove_if([](auto& w) { return w.expired(); });
    s->waiters.push_back(t);
    t->expires_at(asio::steady_timer::time_point::max());
    co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace coordination::test
