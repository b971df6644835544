#include <boost/test/unit_test.hpp>

#include "../support/http_chunk.hpp"
#include "coordination/client_config.hpp"
#include "coordination/error.hpp"
#include "protocol/json_stream.hpp"
#include "transport/endpoint.hpp"
#include "transport/stream_reader.hpp"

using namespace coordination;
using coordination::test::chunk;

namespace {

const std::string msg1 = R"({"result":{"header":{"revision":"5"},"created":true}})";
const std::string msg2 =
    R"({"result":{"events":[{"kv":{"key":"e30=","value":"In0i"}}],"s":"}{\"\\"}})";
const std::string msg3 = R"({"result":{"header":{},"canceled":true,"compact_revision":"3"}})";

std::string chunked_answer() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunk(msg1 + "\n") + chunk(msg2.substr(0, 10)) + chunk(msg2.substr(10) + "\n" + msg3) +
         chunk("\n") + "0\r\n\r\n";
}

std::vector<std::string> drain(transport::stream_reader& r) {
  std::vector<std::string> out;
  while (auto m = r.next_message()) out.push_back(*m);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stream_reader)

BOOST_AUTO_TEST_CASE(json_stream_splits_objects_in_every_split) {
  const std::string all = msg1 + "\n" + msg2 + msg3 + "\r\n";
  for (std::size_t a = 0; a <= all.size(); ++a) {
    detail::json_stream s;
    BOOST_REQUIRE(!s.feed(std::string_view(all).substr(0, a)));
    BOOST_REQUIRE(!s.feed(std::string_view(all).substr(a)));
    std::vector<std::string> got;
    while (auto m = s.next()) got.push_back(*m);
    BOOST_REQUIRE_EQUAL(got.size(), 3u);
    BOOST_TEST(got[0] == msg1);
    BOOST_TEST(got[1] == msg2);
    BOOST_TEST(got[2] == msg3);
    BOOST_TEST(!s.partial());
  }
}

BOOST_AUTO_TEST_CASE(json_stream_one_byte_at_a_time_and_limits) {
  detail::json_stream s(64);
  for (char c : msg1) BOOST_REQUIRE(!s.feed(std::string_view(&c, 1)));
  BOOST_TEST(s.next().value() == msg1);
  detail::json_stream small(16);
  BOOST_TEST(small.feed(msg1) == error::response_too_large);
  detail::json_stream garbage;
  BOOST_TEST(garbage.feed("  x{}") == error::protocol_error);
  BOOST_TEST(garbage.feed("{}") == error::protocol_error);  // stays failed
  detail::json_stream cut;
  BOOST_TEST(!cut.feed(msg1.substr(0, 20)));
  BOOST_TEST(cut.partial());
  BOOST_TEST(!cut.next().has_value());
}

// Found by fuzz_stream_reader: Beast reserved the whole Content-Length up front (bad_alloc).
BOOST_AUTO_TEST_CASE(oversized_content_length_is_refused_before_reading_the_body) {
  transport::stream_reader r(1024);
  auto ec = r.feed(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 9223372036854775807\r\n\r\n{\"result\":{}}");
  BOOST_TEST((ec == error::response_too_large), ec.message());
  transport::stream_reader ok(1024);
  BOOST_TEST(!ok.feed("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"));
  BOOST_TEST(ok.done());
  BOOST_TEST(drain(ok).size() == 1u);
}

BOOST_AUTO_TEST_CASE(reads_a_chunked_stream_in_every_two_way_split) {
  const std::string wire = chunked_answer();
  for (std::size_t a = 0; a <= wire.size(); ++a) {
    transport::stream_reader r;
    BOOST_REQUIRE(!r.feed(std::string_view(wire).substr(0, a)));
    auto first = drain(r);
    BOOST_REQUIRE(!r.feed(std::string_view(wire).substr(a)));
    auto rest = drain(r);
    first.insert(first.end(), rest.begin(), rest.end());
    BOOST_REQUIRE_EQUAL(first.size(), 3u);
    BOOST_TEST(first[0] == msg1);
    BOOST_TEST(first[1] == msg2);
    BOOST_TEST(first[2] == msg3);
    BOOST_TEST(r.done());
    BOOST_TEST(r.status() == 200u);
  }
}

BOOST_AUTO_TEST_CASE(reads_byte_by_byte_and_three_way_splits) {
  const std::string wire = chunked_answer();
  {
    transport::stream_reader r;
    std::vector<std::string> got;
    for (char c : wire) {
      BOOST_REQUIRE(!r.feed(std::string_view(&c, 1)));
      auto m = drain(r);
      got.insert(got.end(), m.begin(), m.end());
    }
    BOOST_TEST(got.size() == 3u);
    BOOST_TEST(r.done());
  }
  for (std::size_t a = 0; a < wire.size(); a += 7) {
    for (std::size_t b = a; b <= wire.size(); b += 5) {
      transport::stream_reader r;
      BOOST_REQUIRE(!r.feed(wire.substr(0, a)));
      BOOST_REQUIRE(!r.feed(wire.substr(a, b - a)));
      BOOST_REQUIRE(!r.feed(wire.substr(b)));
      BOOST_REQUIRE_EQUAL(drain(r).size(), 3u);
    }
  }
}

BOOST_AUTO_TEST_CASE(reads_content_length_answers_and_errors) {
  std::string body = msg1 + "\n";
  std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body + "HTTP/1.1";
  transport::stream_reader r;
  BOOST_REQUIRE(!r.feed(wire));
  BOOST_TEST(r.done());
  BOOST_TEST(r.next_message().value() == msg1);
  BOOST_TEST(r.leftover() == "HTTP/1.1");

  transport::stream_reader bad_http;
  BOOST_TEST(bad_http.feed("HTTX/1.1 200 OK\r\n\r\n") == error::protocol_error);

  transport::stream_reader bad_chunk;
  BOOST_TEST(bad_chunk.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") ==
             error::protocol_error);

  transport::stream_reader bad_json;
  BOOST_TEST(bad_json.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           chunk("not json")) == error::protocol_error);

  transport::stream_reader big(32);
  BOOST_TEST(big.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(msg1)) ==
             error::response_too_large);
}

BOOST_AUTO_TEST_CASE(parses_endpoints_and_names_bad_ones) {
  auto ep = transport::parse_endpoint("https://127.0.0.1:2379/");
  BOOST_TEST(ep.tls);
  BOOST_TEST(ep.host == "127.0.0.1");
  BOOST_TEST(ep.port == "2379");
  BOOST_TEST(ep.url == "https://127.0.0.1:2379");
  auto v6 = transport::parse_endpoint("http://[::1]:4001");
  BOOST_TEST(v6.host == "::1");
  BOOST_TEST(v6.url == "http://[::1]:4001");
  BOOST_TEST(transport::parse_endpoint("http://localhost").port == "2379");
  for (std::string bad : {"127.0.0.1:2379", "ftp://x:1", "http://", "http://h:0", "http://h:99999",
                          "http://h:12ab", "http://h:1/v3", "http://[::1"}) {
    try {
      transport::parse_endpoint(bad);
      BOOST_FAIL("accepted " + bad);
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::invalid_argument);
      BOOST_TEST(std::string(e.what()).find("endpoints") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(config_validation_names_the_field) {
  auto field_of = [](client_config c) -> std::string {
    try {
      c.validate();
      return "";
    } catch (const coordination_error& e) {
      return e.diagnostic().substr(0, e.diagnostic().find(':'));
    }
  };
  client_config ok;
  BOOST_TEST(field_of(ok) == "");
  auto c = ok;
  c.endpoints.clear();
  BOOST_TEST(field_of(c) == "endpoints");
  c = ok;
  c.request_timeout = std::chrono::milliseconds(0);
  BOOST_TEST(field_of(c) == "request_timeout");
  c = ok;
  c.pool_size = 0;
  BOOST_TEST(field_of(c) == "pool_size");
  c = ok;
  c.password = "x";
  BOOST_TEST(field_of(c) == "username");
  c = ok;
  c.retry.multiplier = 0.5;
  BOOST_TEST(field_of(c) == "retry.multiplier");
  BOOST_TEST(client_config::split_endpoints(" http://a:1, http://b:2 ,").size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
