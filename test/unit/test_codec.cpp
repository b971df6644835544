#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>
#include "coordination/error.hpp"
#include "protocol/base64.hpp"
#include "protocol/codec.hpp"
#include "protocol/error_mapping.hpp"

using namespace coordination;
using namespace coordination::detail;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(base64_round_trips_every_length_and_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); ++n) {
    auto in = all.substr(0, n);
    auto enc = base64_encode(in);
    BOOST_TEST(enc.size() == (n + 2) / 3 * 4);
    auto dec = base64_decode(enc);
    BOOST_REQUIRE(dec.has_value());
    BOOST_TEST(*dec == in);
  }
  BOOST_TEST(base64_encode("foo") == "Zm9v");
  BOOST_TEST(base64_encode("fo") == "Zm8=");
  BOOST_TEST(base64_encode(std::string(1, '\0')) == "AA==");
}

BOOST_AUTO_TEST_CASE(base64_rejects_non_canonical_input) {
  BOOST_TEST(!base64_decode("Zm8").has_value());  // unpadded
  BOOST_TEST(!base64_decode("Zm9=v").has_value());
  BOOST_TEST(!base64_decode("Zm!v").has_value());  // bad character
  BOOST_TEST(!base64_decode("Zm=v").has_value());  // padding in the middle
  BOOST_TEST(base64_decode("Zm8=").has_value());
  BOOST_TEST(!base64_decode("Zm9").has_value());
  BOOST_TEST(!base64_decode("AB==").has_value());  // non-zero dropped bits
  BOOST_TEST(!base64_decode("Zm9=").has_value());  // non-zero dropped bits, one '='
  BOOST_TEST(!base64_decode("====").has_value());
  BOOST_TEST(!base64_decode("A===").has_value());
  BOOST_TEST(!base64_decode("Zm8=Zm8=").has_value());  // a padded quad before the last
  BOOST_TEST(base64_decode("").value() == "");
}

BOOST_AUTO_TEST_CASE(prefix_range_end_follows_etcd) {
  BOOST_TEST(prefix_range_end("abc") == "abd");
  BOOST_TEST(prefix_range_end(std::string("a\xff", 2)) == "b");
  BOOST_TEST(prefix_range_end("") == std::string(1, '\0'));
  BOOST_TEST(prefix_range_end(std::string("\xff\xff", 2)) == std::string(1, '\0'));
}

BOOST_AUTO_TEST_CASE(encodes_range_with_options) {
  range_options o;
  o.prefix = true;
  o.limit = 5;
  o.order = sort_order::descend;
  o.target = sort_target::mod;
  o.serializable = true;
  auto j = json::parse(encode_range("ab", o));
  BOOST_TEST(j["key"] == base64_encode("ab"));
  BOOST_TEST(j["range_end"] == base64_encode("ac"));
  BOOST_TEST(j["limit"] == 5);
  BOOST_TEST(j["sort_order"] == "DESCEND");
  BOOST_TEST(j["sort_target"] == "MOD");
  BOOST_TEST(j["serializable"] == true);
  BOOST_TEST(!j.contains("keys_only"));
  // every key: key = range_end = "\0"
  range_options all;
  all.prefix = true;
  auto k = json::parse(encode_range("", all));
  BOOST_TEST(k["key"] == "AA==");
  BOOST_TEST(k["range_end"] == "AA==");
}

BOOST_AUTO_TEST_CASE(encodes_put_and_txn) {
  put_options po;
  po.lease = 7;
  po.prev_kv = true;
  auto p = json::parse(encode_put(std::string("k\0", 2), "v", po));
  BOOST_TEST(p["key"] == base64_encode(std::string("k\0", 2)));
  BOOST_TEST(p["value"] == "dg==");
  BOOST_TEST(p["lease"] == 7);
  BOOST_TEST(p["prev_kv"] == true);

  txn_request t;
  t.compares.push_back(compare::create_revision("k", compare_result::equal, 0));
  t.compares.push_back(compare::value_of("k", compare_result::not_equal, "x"));
  t.success.push_back(put_op{"k", "v", {}});
  t.failure.push_back(range_op{"k", {}});
  t.failure.push_back(delete_op{"k", {}});
  auto j = json::parse(encode_txn(t));
  BOOST_TEST(j["compare"][0]["target"] == "CREATE");
  BOOST_TEST(j["compare"][0]["result"] == "EQUAL");
  BOOST_TEST(j["compare"][0]["create_revision"] == 0);
  BOOST_TEST(j["compare"][1]["target"] == "VALUE");
  BOOST_TEST(j["compare"][1]["result"] == "NOT_EQUAL");
  BOOST_TEST(j["compare"][1]["value"] == "eA==");
  BOOST_TEST(j["success"][0]["request_put"]["key"] == "aw==");
  BOOST_TEST(j["failure"][0].contains("request_range"));
  BOOST_TEST(j["failure"][1].contains("request_delete_range"));
}

BOOST_AUTO_TEST_CASE(decodes_range_with_strings_numbers_and_omitted_zeros) {
  auto r = decode_range(
      R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
      R"("revision":"42","raft_term":"3"},"kvs":[{"key":"YQ==","create_revision":"5",)"
      R"("mod_revision":7,"version":"2","value":"AAE="}],"more":true,"count":"9"})");
  BOOST_TEST(r.header.revision == 42);
  BOOST_TEST(r.header.cluster_id == 14841639068965178418ull);
  BOOST_REQUIRE(r.kvs.size() == 1u);
  BOOST_TEST(r.kvs[0].key == "a");
  BOOST_TEST(r.kvs[0].value == std::string("\0\1", 2));
  BOOST_TEST(r.kvs[0].create_revision == 5);
  BOOST_TEST(r.kvs[0].mod_revision == 7);
  BOOST_TEST(r.kvs[0].lease == 0);
  BOOST_TEST(r.more);
  BOOST_TEST(r.count == 9);
  auto empty = decode_range(R"({"header":{"revision":"1"}})");
  BOOST_TEST(empty.kvs.empty());
  BOOST_TEST(empty.count == 0);
}

BOOST_AUTO_TEST_CASE(decodes_txn_responses_of_each_kind) {
  auto t = decode_txn(
      R"({"header":{"revision":"3"},"succeeded":true,"responses":[)"
      R"({"response_put":{"header":{"revision":"3"},"prev_kv":{"key":"aw==","value":"dg=="}}},)"
      R"({"response_range":{"header":{},"kvs":[{"key":"aw=="}],"count":"1"}},)"
      R"({"response_delete_range":{"header":{},"deleted":"2"}}]})");
  BOOST_TEST(t.succeeded);
  BOOST_REQUIRE(t.responses.size() == 3u);
  BOOST_TEST(std::get<put_result>(t.responses[0]).prev_kv->value == "v");
  BOOST_TEST(std::get<range_result>(t.responses[1]).count == 1);
  BOOST_TEST(std::get<delete_result>(t.responses[2]).deleted == 2);
  auto f = decode_txn(R"({"header":{},"responses":[]})");
  BOOST_TEST(!f.succeeded);
}

BOOST_AUTO_TEST_CASE(decodes_leases_and_cluster) {
  auto g = decode_lease_grant(R"({"header":{},"ID":"7587869123","TTL":"5"})");
  BOOST_TEST(g.id == 7587869123);
  BOOST_TEST(g.ttl == 5);
  auto k = decode_lease_keep_alive("{\"result\":{\"header\":{},\"ID\":\"12\",\"TTL\":\"9\"}}\n");
  BOOST_TEST(k.ttl == 9);
  try {
    decode_lease_keep_alive(R"({"result":{"header":{},"ID":"12"}})");
    BOOST_FAIL("a keep-alive without TTL must say lease_not_found");
  } catch (const coordination_error& e) {
    BOOST_TEST(e.code() == error::lease_not_found);
  }
  auto t = decode_lease_time_to_live(
      R"({"header":{},"ID":"12","TTL":"-1","grantedTTL":"0","keys":["YQ=="]})");
  BOOST_TEST(t.ttl == -1);
  BOOST_TEST(t.keys.at(0) == "a");
  auto s = decode_status(
      R"({"header":{"member_id":"9"},"version":"3.4.23","dbSize":"20480","leader":"9",)"
      R"("raftIndex":"11","raftTerm":"2"})");
  BOOST_TEST(s.version == "3.4.23");
  BOOST_TEST(s.leader == 9u);
  auto m =
      decode_member_list(R"({"header":{},"members":[{"ID":"1","name":"m0","peerURLs":["http://p"],)"
                         R"("clientURLs":["http://c1","http://c2"]}]})");
  BOOST_TEST(m.members.at(0).client_urls.size() == 2u);
  BOOST_TEST(!m.members.at(0).is_learner);
}

BOOST_AUTO_TEST_CASE(wrong_shapes_are_protocol_errors) {
  for (std::string bad :
       {"", "garbage", "[]", "{\"kvs\":{}}", "{\"kvs\":[{\"key\":\"@@\"}]}", "{\"count\":\"12x\"}",
        "{\"count\":true}", "{\"kvs\":[3]}", "{\"header\":[]}", "{\"more\":\"yes\"}"}) {
    try {
      decode_range(bad);
      BOOST_FAIL("accepted: " + bad);
    } catch (const coordination_error& e) {
      BOOST_TEST(e.code() == error::protocol_error, bad);
    }
  }
}

BOOST_AUTO_TEST_CASE(maps_gateway_errors) {
  auto m =
      map_gateway_error(400, R"({"error":"mvcc: required revision has been compacted","code":11,)"
                             R"("message":"mvcc: required revision has been compacted"})");
  BOOST_TEST(m.code == error::compacted);
  BOOST_TEST(m.message == "mvcc: required revision has been compacted");
  BOOST_TEST((m.action == disposition::fail));

  m = map_gateway_error(503, R"({"code":14,"message":"etcdserver: no leader"})");
  BOOST_TEST(m.code == error::unavailable);
  BOOST_TEST((m.action == disposition::retry));

  // The streaming endpoints' form (lease keep-alive): the same error, wrapped.
  m = map_gateway_error(
      503, R"({"error":{"grpc_code":14,"http_code":503,)"
           R"("message":"etcdserver: no leader","http_status":"Service Unavailable"}})");
  BOOST_TEST(m.code == make_error_code(error::unavailable));
  BOOST_TEST(m.message == "etcdserver: no leader");
  BOOST_TEST((m.action == disposition::retry));
  m = map_gateway_error(503, R"({"code":14,"message":"etcdserver: leader changed"})");
  BOOST_TEST((m.action == disposition::retry_if_read));

  m = map_gateway_error(500, R"({"code":2,"message":"context deadline exceeded"})");
  BOOST_TEST(m.code == error::timeout);
  BOOST_TEST((m.action == disposition::retry_if_read));

  m = map_gateway_error(401, R"({"code":16,"message":"etcdserver: invalid auth token"})");
  BOOST_TEST((m.action == disposition::reauthenticate));

  m = map_gateway_error(
      400,
      R"({"code":3,"message":"etcdserver: authentication failed, invalid user ID or password"})");
  BOOST_TEST(m.code == error::auth_failed);

  m = map_gateway_error(403, R"({"code":7,"message":"etcdserver: permission denied"})");
  BOOST_TEST(m.code == error::permission_denied);

  m = map_gateway_error(404, R"({"code":5,"message":"etcdserver: requested lease not found"})");
  BOOST_TEST(m.code == error::lease_not_found);

  m = map_gateway_error(400, R"({"code":3,"message":"etcdserver: request is too large"})");
  BOOST_TEST(m.code == error::invalid_argument);

  m = map_gateway_error(502, "<html>bad gateway</html>");
  BOOST_TEST(m.code == error::protocol_error);
  BOOST_TEST((m.action == disposition::retry_if_read));
}

BOOST_AUTO_TEST_CASE(error_category_and_exception) {
  std::error_code ec = error::conflict;
  BOOST_TEST(ec.category().name() == std::string("coordination"));
  BOOST_TEST(!is_retryable(ec));
  BOOST_TEST(is_retryable(error::unavailable));
  BOOST_TEST(!is_retryable(error::outcome_unknown));
  coordination_error e(error::not_found, "key 'a'");
  BOOST_TEST(e.code() == error::not_found);
  BOOST_TEST(std::string(e.what()) == "not found: key 'a'");
  BOOST_TEST(e.diagnostic() == "key 'a'");
}

BOOST_AUTO_TEST_SUITE_END()
