#include <boost/test/unit_test.hpp>

#include "../support/beast_reference.hpp"
#include "../support/http_chunk.hpp"
#include "coordination/error.hpp"
#include "transport/response_parser.hpp"

using namespace coordination;
using test::chunk;
using transport::response_parser;

namespace {

// What etcd 3.4's gateway (Go net/http) sends for a small answer.
const std::string body =
    R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
    R"("revision":"7","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"7",)"
    R"("mod_revision":"7","version":"1","value":"YmFy"}],"count":"1"})";
const std::string gateway_answer =
    "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Headers: accept, content-type, authorization\r\n"
    "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
    "Access-Control-Allow-Origin: *\r\nContent-Type: application/json\r\n"
    "Grpc-Metadata-Content-Type: application/grpc\r\nDate: Sat, 21 Nov 2026 12:00:00 GMT\r\n"
    "Content-Length: " +
    std::to_string(body.size()) + "\r\n\r\n" + body;

const std::string chunked_answer =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
    chunk(body.substr(0, 40)) + chunk(body.substr(40, 1), ";name=value") + chunk(body.substr(41)) +
    "0\r\nGrpc-Trailer: x\r\n\r\n";

struct parsed {
  std::error_code ec;
  std::string why;
  bool done = false;
  unsigned status = 0;
  bool keep_alive = false;
  std::string body;
  std::size_t used = 0;
};

// Feeds `in` in pieces of `step` bytes (0: whole), then the end of the connection if `eof`.
parsed parse(const std::string& in, std::size_t step = 0, bool eof = false,
             std::size_t max_body = SIZE_MAX) {
  response_parser p(max_body);
  parsed out;
  std::size_t pos = 0;
  while (pos < in.size() && !p.done() && !out.ec) {
    std::size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    auto used = p.feed(std::string_view(in).substr(pos, n), out.ec);
    out.used += used;
    pos += n;
    if (used < n) break;
  }
  if (eof && !out.ec) p.feed_eof(out.ec);
  out.why = std::string(p.why());
  out.done = p.done();
  out.status = p.status();
  out.keep_alive = p.keep_alive();
  out.body = p.body();
  return out;
}

void expect_like_beast(const std::string& in, bool eof = false) {
  auto ref = test::beast_read(in, SIZE_MAX, response_parser::max_header);
  BOOST_TEST_REQUIRE(ref.complete, "Beast refuses the reference answer: " << ref.error);
  for (std::size_t step : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(64)}) {
    auto got = parse(in, step, eof);
    BOOST_TEST_CONTEXT("step " << step) {
      BOOST_TEST(!got.ec, got.ec.message() << ": " << got.why);
      BOOST_TEST(got.done);
      BOOST_TEST(got.status == ref.status);
      BOOST_TEST(got.keep_alive == ref.keep_alive);
      BOOST_TEST(got.body == ref.body);
    }
  }
}

void expect_refused(const std::string& in, const std::string& why_part, bool eof = false) {
  for (std::size_t step : {std::size_t(0), std::size_t(1)}) {
    auto got = parse(in, step, eof);
    BOOST_TEST_CONTEXT("step " << step << ", input " << in.substr(0, 80)) {
      BOOST_TEST((got.ec == error::protocol_error), got.ec.message());
      BOOST_TEST(got.why.find(why_part) != std::string::npos, got.why);
      BOOST_TEST(!got.done);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(response_parser_suite)

BOOST_AUTO_TEST_CASE(gateway_answer_in_every_split) {
  for (std::size_t cut = 0; cut <= gateway_answer.size(); ++cut) {
    response_parser p;
    std::error_code ec;
    auto a = p.feed(std::string_view(gateway_answer).substr(0, cut), ec);
    auto b = p.feed(std::string_view(gateway_answer).substr(cut), ec);
    BOOST_TEST_CONTEXT("cut at " << cut) {
      BOOST_TEST(!ec);
      BOOST_TEST(a + b == gateway_answer.size());
      BOOST_TEST(p.done());
      BOOST_TEST(p.status() == 200u);
      BOOST_TEST(p.keep_alive());
      BOOST_TEST(p.body() == body);
    }
  }
  expect_like_beast(gateway_answer);
}

BOOST_AUTO_TEST_CASE(chunked_answer_with_extensions_and_trailers) {
  auto got = parse(chunked_answer, 1);
  BOOST_TEST(!got.ec, got.why);
  BOOST_TEST(got.body == body);
  BOOST_TEST(got.used == chunked_answer.size());
  expect_like_beast(chunked_answer);
  expect_like_beast(
      "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n0\r\n\r\n");
  expect_like_beast(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000001\r\nx\r\n0\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(framing_and_keep_alive_like_beast) {
  expect_like_beast("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n");
  expect_like_beast("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  expect_like_beast("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
  expect_like_beast(
      "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\n{}");
  expect_like_beast("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  expect_like_beast("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}");
  expect_like_beast("HTTP/1.1 500 \r\nContent-Length: 2\r\n\r\n{}");
  expect_like_beast("HTTP/1.1 200 OK\r\nContent-Length:   3  \r\nX-Empty:\r\n\r\nabc");
  expect_like_beast("HTTP/1.1 200 OK\r\nContent-Length: 000000000000000000000003\r\n\r\nabc");
  // Obsolete folding continues a field.
  expect_like_beast("HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n \t close\r\nX: y\r\n\r\n",
                    true);
  expect_like_beast("HTTP/1.1 200 OK\r\nContent-Length:\r\n 2\r\n\r\n{}");
  // No length, or a last transfer coding other than chunked: the body ends with the connection,
  // which cannot be kept.
  expect_like_beast("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n\x1f\x8b", true);
  expect_like_beast("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true);
}

BOOST_AUTO_TEST_CASE(what_beast_would_refuse_but_is_harmless) {
  // Control characters in the values of fields that are not read, or in the reason phrase.
  auto skipped =
      parse(std::string("HTTP/1.1 200 O\x01K\r\nX: a\0b\r\nContent-Length: 2\r\n\r\n{}", 50));
  BOOST_TEST(!skipped.ec, skipped.why);
  BOOST_TEST(skipped.body == "{}");
  // Interim answers are skipped (Beast stops at them).
  auto interim = parse(
      "HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 3);
  BOOST_TEST(!interim.ec);
  BOOST_TEST(interim.status == 200u);
  BOOST_TEST(interim.body == "{}");
  // A status line without a reason or its space; a repeated, equal Content-Length.
  BOOST_TEST(parse("HTTP/1.1 500\r\nContent-Length: 2\r\n\r\n{}").body == "{}");
  auto twice = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
  BOOST_TEST(!twice.ec);
  BOOST_TEST(twice.body == "abc");
  auto listed = parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 003\r\n\r\nabc");
  BOOST_TEST(!listed.ec);
  BOOST_TEST(listed.body == "abc");
}

BOOST_AUTO_TEST_CASE(bytes_after_the_answer_are_left) {
  auto two = gateway_answer + gateway_answer;
  for (std::size_t step : {std::size_t(0), std::size_t(5)}) {
    auto got = parse(two, step);
    BOOST_TEST(got.done);
    BOOST_TEST(got.used == gateway_answer.size());
    BOOST_TEST(got.body == body);
  }
}

BOOST_AUTO_TEST_CASE(reset_reads_the_next_answer) {
  response_parser p;
  std::error_code ec;
  p.feed(chunked_answer, ec);
  BOOST_TEST(p.body() == body);
  p.reset(SIZE_MAX);
  BOOST_TEST(!p.done());
  p.feed("HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx", ec);
  BOOST_TEST(!ec);
  BOOST_TEST(p.status() == 404u);
  BOOST_TEST(p.body() == "x");
}

BOOST_AUTO_TEST_CASE(a_long_body_can_be_read_straight_into_place) {
  std::string big(100000, 'b');
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n";
  response_parser p;
  std::error_code ec;
  BOOST_TEST(p.feed(head + big.substr(0, 10), ec) == head.size() + 10);
  BOOST_TEST(p.header_done());
  BOOST_TEST(p.body_due() == big.size() - 10);
  std::memcpy(p.body_tail(), big.data() + 10, 50000);
  p.body_written(50000);
  BOOST_TEST(!p.done());
  BOOST_TEST(p.feed(std::string_view(big).substr(50010), ec) == big.size() - 50010);
  BOOST_TEST(!ec);
  BOOST_TEST(p.done());
  BOOST_TEST(p.body_due() == 0u);
  BOOST_TEST((p.body() == big));
}

BOOST_AUTO_TEST_CASE(malformed_answers_are_refused_with_the_reason) {
  expect_refused("this is not http\r\n\r\n", "bad status line");
  expect_refused("HTTP/2 200 OK\r\n\r\n", "bad status line");
  expect_refused("HTTP/1.2 200 OK\r\n\r\n", "unsupported HTTP version");
  expect_refused("HTTP/1.1 20 OK\r\n\r\n", "bad status line");
  expect_refused("HTTP/1.1 200OK\r\n\r\n", "bad status line");
  expect_refused("HTTP/1.1 099 X\r\n\r\n", "bad status code");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                 "conflicting Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "conflicting Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                 "both Content-Length and Transfer-Encoding");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked H\r\n\r\n",
                 "bad Transfer-Encoding");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n", "bad Transfer-Encoding");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;p=1\r\n\r\n",
                 "bad Transfer-Encoding");
  expect_refused("HTTP/1.1 200 OK\r\n folded\r\n\r\n", "folded header line with no field");
  expect_refused("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line");
  expect_refused("HTTP/1.1 200 OK\r\n: no name\r\n\r\n", "bad header line");
  expect_refused("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "bad header line");
  expect_refused(std::string("HTTP/1.1 200 OK\r\nX\0: a\r\n\r\n", 27), "bad header line");
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 1\x01\r\n\r\n", "bad Content-Length");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\x7f\r\n\r\n",
                 "bad Transfer-Encoding");
  expect_refused("HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n", "CR or LF outside a line end");
  expect_refused("HTTP/1.1 200 OK\rX: a\r\n\r\n", "CR or LF outside a line end");
  expect_refused("HTTP/1.1 200 OK\r\n\nX: y\r\n\r\n", "CR or LF outside a line end");
  expect_refused("HTTP/1.1 200 OK\n\r\n\r\n", "CR or LF outside a line end");
  expect_refused("HTTP/1.1 101 Switching Protocols\r\n\r\n", "101");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
                 "chunk size too large");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
                 "chunk data not followed by CR LF");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\rx",
                 "chunk data not followed by CR LF");
  expect_refused(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(5000, 'e') + "\r\n",
      "chunk or trailer line is too long");
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", "CR LF");
  expect_refused("HTTP/1.1 200 OK\r\n" + std::string(70000, 'x'), "header block too large");
  expect_refused("HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'x') + "\r\n\r\n",
                 "header block too large");
}

BOOST_AUTO_TEST_CASE(answers_cut_short_are_refused) {
  expect_refused("", "without answering", true);
  expect_refused("HTTP/1.1 200 OK\r\nContent-Le", "in the middle of the answer", true);
  expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"kvs\":[",
                 "in the middle of the answer", true);
  expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                 "in the middle of the answer", true);
  expect_refused(chunked_answer.substr(0, chunked_answer.size() - 2), "in the middle", true);
}

BOOST_AUTO_TEST_CASE(bodies_over_the_limit_are_refused_before_they_are_read) {
  auto too_large = [](const std::string& in, bool eof = false) {
    auto got = parse(in, 0, eof, 10);
    BOOST_TEST((got.ec == error::response_too_large), in.substr(0, 60));
    BOOST_TEST(!got.done);
  };
  too_large("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n");
  too_large("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n");
  too_large("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n");
  too_large("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n");
  too_large("HTTP/1.1 200 OK\r\n\r\n" + std::string(11, 'x'), true);
  auto fits = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0, false, 10);
  BOOST_TEST(!fits.ec);
  BOOST_TEST(fits.body == "0123456789");
}

BOOST_AUTO_TEST_CASE(a_failed_parser_stays_failed) {
  response_parser p;
  std::error_code ec;
  p.feed("HTTP/9", ec);
  BOOST_TEST(!ec);
  p.feed(".9 200 OK\r\n\r\n", ec);
  BOOST_TEST((ec == error::protocol_error));
  std::error_code again;
  BOOST_TEST(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", again) == 0u);
  BOOST_TEST((again == error::protocol_error));
  std::error_code at_eof;
  p.feed_eof(at_eof);
  BOOST_TEST((at_eof == error::protocol_error));
}

BOOST_AUTO_TEST_SUITE_END()
