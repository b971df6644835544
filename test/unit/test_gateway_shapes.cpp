// The error shapes of etcd's gateway in each version, mapped the same way. 3.4 and 3.5 use
// grpc-gateway v1; 3.6 uses v2. The 3.6 answers here are written from etcd v3.6.0's source,
// since no 3.6 build is packaged: unary errors are {"code","message"} with no "error" key,
// stream errors are {"error":{"code","message"}}, Canceled is HTTP 499, and protojson puts
// spaces after ':' and ','.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "coordination/error.hpp"
#include "protocol/codec.hpp"
#include "protocol/error_mapping.hpp"

using namespace coordination;
using namespace coordination::detail;

namespace {

struct known_error {
  int grpc_code;
  unsigned http_v1;  // grpc-gateway v1's HTTP status for it (3.4, 3.5)
  unsigned http_v2;  // v2's (3.6)
  const char* message;
  error expected;
  disposition action;
};

// Every code the mapping knows, with a message etcd sends for it.
const std::vector<known_error> known = {
    {1, 408, 499, "etcdserver: request cancelled", error::timeout, disposition::retry_if_read},
    {2, 500, 500, "context deadline exceeded", error::timeout, disposition::retry_if_read},
    {2, 500, 500, "etcdserver: unknown", error::server_error, disposition::fail},
    {3, 400, 400, "etcdserver: authentication failed, invalid user ID or password",
     error::auth_failed, disposition::fail},
    {3, 400, 400, "etcdserver: request is too large", error::invalid_argument, disposition::fail},
    {4, 504, 504, "etcdserver: request timed out", error::timeout, disposition::retry_if_read},
    {5, 404, 404, "etcdserver: requested lease not found", error::lease_not_found,
     disposition::fail},
    {5, 404, 404, "etcdserver: member not found", error::not_found, disposition::fail},
    {6, 409, 409, "etcdserver: user name already exists", error::conflict, disposition::fail},
    {7, 403, 403, "etcdserver: permission denied", error::permission_denied, disposition::fail},
    {8, 429, 429, "etcdserver: too many requests", error::unavailable, disposition::retry},
    {8, 429, 429, "grpc: received message larger than max", error::invalid_argument,
     disposition::fail},
    {9, 400, 400, "etcdserver: role name already exists", error::conflict, disposition::fail},
    {9, 400, 400, "etcdserver: not capable", error::server_error, disposition::fail},
    {10, 409, 409, "etcdserver: transaction aborted", error::conflict, disposition::fail},
    {11, 400, 400, "mvcc: required revision has been compacted", error::compacted,
     disposition::fail},
    {11, 400, 400, "etcdserver: revision out of range", error::invalid_argument, disposition::fail},
    {14, 503, 503, "etcdserver: no leader", error::unavailable, disposition::retry},
    {14, 503, 503, "etcdserver: leader changed", error::unavailable, disposition::retry_if_read},
    {16, 401, 401, "etcdserver: invalid auth token", error::auth_failed,
     disposition::reauthenticate},
    {16, 401, 401, "etcdserver: user name is empty", error::auth_failed, disposition::fail},
    {13, 500, 500, "etcdserver: corrupt cluster", error::server_error, disposition::fail},
};

std::string v1_unary(const known_error& k) {
  return std::string(R"({"error":")") + k.message + R"(","code":)" + std::to_string(k.grpc_code) +
         R"(,"message":")" + k.message + R"("})";
}
std::string v2_unary(const known_error& k) {  // (protojson's spaces)
  return std::string(R"({"code": )") + std::to_string(k.grpc_code) + R"(,  "message": ")" +
         k.message + R"("})";
}
std::string v1_stream(const known_error& k) {
  return std::string(R"({"error":{"grpc_code":)") + std::to_string(k.grpc_code) +
         R"(,"http_code":)" + std::to_string(k.http_v1) + R"(,"message":")" + k.message +
         R"(","http_status":"x"}})" + "\n";
}
std::string v2_stream(const known_error& k) {
  return std::string(R"({"error":{"code":)") + std::to_string(k.grpc_code) + R"(,"message":")" +
         k.message + R"("}})" + "\n";
}

void check(const known_error& k, const mapped_error& m, const char* shape) {
  BOOST_TEST((m.code == make_error_code(k.expected)),
             shape << " code " << k.grpc_code << " '" << k.message << "': " << m.code.message());
  BOOST_TEST((m.action == k.action), shape << " code " << k.grpc_code << " '" << k.message << "'");
  BOOST_TEST(m.message == k.message, shape);
  BOOST_TEST(m.grpc_code == k.grpc_code, shape);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gateway_shapes)

BOOST_AUTO_TEST_CASE(unary_errors_of_3_4_and_3_5_map_as_the_table_says) {
  for (auto& k : known) check(k, map_gateway_error(k.http_v1, v1_unary(k)), "3.4 unary");
}

BOOST_AUTO_TEST_CASE(unary_errors_of_3_6_map_as_those_of_3_4) {
  for (auto& k : known) check(k, map_gateway_error(k.http_v2, v2_unary(k)), "3.6 unary");
}

BOOST_AUTO_TEST_CASE(stream_errors_of_3_4_and_3_5_map_as_the_table_says) {
  for (auto& k : known) check(k, map_gateway_error(200, v1_stream(k)), "3.4 stream");
}

BOOST_AUTO_TEST_CASE(stream_errors_of_3_6_map_as_those_of_3_4) {
  // (3.6 writes `code` where v1 wrote `grpc_code`; before, these came out as protocol_error)
  for (auto& k : known) check(k, map_gateway_error(200, v2_stream(k)), "3.6 stream");
}

BOOST_AUTO_TEST_CASE(canceled_is_a_timeout_on_499_as_on_408) {
  auto v1 = map_gateway_error(408, v1_unary(known[0]));
  auto v2 = map_gateway_error(499, v2_unary(known[0]));
  BOOST_TEST((v1.code == make_error_code(error::timeout)));
  BOOST_TEST((v2.code == v1.code));
  BOOST_TEST((v2.action == v1.action));
}

BOOST_AUTO_TEST_CASE(a_watch_stream_error_carries_its_code_in_both_shapes) {
  for (auto& k : known) {
    auto a = decode_watch_message(v1_stream(k));
    auto b = decode_watch_message(v2_stream(k));
    BOOST_TEST(a.stream_error.value_or("") == k.message);
    BOOST_TEST(b.stream_error.value_or("") == k.message);
    BOOST_TEST(a.stream_error_code == k.grpc_code);
    BOOST_TEST(b.stream_error_code == k.grpc_code, "3.6 watch stream error " << k.grpc_code);
  }
}

BOOST_AUTO_TEST_CASE(a_keep_alive_stream_error_is_unavailable_in_both_shapes) {
  const auto& no_leader = known[17];
  BOOST_REQUIRE(no_leader.grpc_code == 14);
  for (const auto& body : {v1_stream(no_leader), v2_stream(no_leader)}) {
    try {
      decode_lease_keep_alive(body);
      BOOST_ERROR("no error for " << body);
    } catch (const coordination_error& e) {
      BOOST_TEST((e.code() == make_error_code(error::unavailable)), e.what());
      BOOST_TEST(e.diagnostic() == std::string("keep-alive: ") + no_leader.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(spaced_answers_of_3_6_decode_as_compact_ones) {
  // protojson's random spaces (fixed per build), in a range answer with a kv.
  const std::string compact =
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"3"},)"
      R"("kvs":[{"key":"YQ==","create_revision":"5","mod_revision":"7","version":"2",)"
      R"("value":"dg=="}],"count":"1"})";
  const std::string spaced =
      R"({"header": {"cluster_id": "1",  "member_id": "2", "revision": "7", "raft_term": "3"},)"
      R"(  "kvs": [{"key": "YQ==", "create_revision": "5",  "mod_revision": "7", "version": "2", )"
      R"("value": "dg=="}], "count": "1"})";
  auto a = decode_range(compact);
  auto b = decode_range(spaced);
  BOOST_REQUIRE(b.kvs.size() == 1u);
  BOOST_TEST(b.kvs[0].key == "a");
  BOOST_TEST(b.kvs[0].value == "v");
  BOOST_TEST(b.kvs[0].mod_revision == a.kvs[0].mod_revision);
  BOOST_TEST(b.header.revision == 7);
  BOOST_TEST(b.count == a.count);
}

BOOST_AUTO_TEST_SUITE_END()
