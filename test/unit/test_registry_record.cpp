// The registry's names, addresses and stored record (recipes/registry/record) without etcd:
// what is refused (naming what is wrong), and that a record survives its round trip while
// garbage under the prefix is passed over.
#include <boost/test/unit_test.hpp>

#include "coordination/error.hpp"
#include "protocol/text.hpp"
#include "recipes/registry/record.hpp"
#include "unit/refusal.hpp"

using namespace coordination;
using namespace coordination::detail;
using coordination::test::refusal;
using namespace std::chrono_literals;

namespace {

key_value record_kv(std::string key, std::string value) {
  key_value kv;
  kv.key = std::move(key);
  kv.value = std::move(value);
  kv.lease = 77;
  kv.mod_revision = 12;
  return kv;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(registry_record)

BOOST_AUTO_TEST_CASE(service_names_take_letters_digits_dots_dashes_and_underscores) {
  BOOST_TEST(refusal([] { check_name("orders-v2.api_x"); }).empty());
  BOOST_TEST(refusal([] { check_name("a"); }).empty());
  BOOST_TEST(refusal([] { check_name(std::string(128, 'n')); }).empty());
}

BOOST_AUTO_TEST_CASE(bad_service_names_are_refused_naming_the_field) {
  for (std::string bad :
       std::vector<std::string>{"", "a/b", "has space", "colon:x", std::string(129, 'n')}) {
    auto why = refusal([&] { check_name(bad); });
    BOOST_TEST(why.find("service name") != std::string::npos, bad << ": " << why);
  }
}

BOOST_AUTO_TEST_CASE(instance_ids_also_take_colons_and_at_signs) {
  BOOST_TEST(refusal([] { check_instance_id("host-1:8080@zone"); }).empty());
  auto why = refusal([] { check_instance_id("a/b"); });
  BOOST_TEST(why.find("instance id") != std::string::npos, why);
  BOOST_TEST(!refusal([] { check_instance_id(""); }).empty());
}

BOOST_AUTO_TEST_CASE(addresses_split_into_host_and_port) {
  auto hp = split_address("db.internal:5432");
  BOOST_REQUIRE(hp.has_value());
  BOOST_TEST(hp->host == "db.internal");
  BOOST_TEST(hp->port == 5432);
  auto v6 = split_address("[::1]:80");
  BOOST_REQUIRE(v6.has_value());
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(v6->port == 80);
}

BOOST_AUTO_TEST_CASE(malformed_addresses_are_refused) {
  for (std::string bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:8o", "::1:80",
                          "[::1]", "[nonsense]:80", "a b:1", "a/b:1"}) {
    BOOST_TEST(!split_address(bad).has_value(), bad);
    auto why = refusal([&] { check_address(bad); });
    BOOST_TEST(why.find("address") != std::string::npos, bad << ": " << why);
  }
  BOOST_TEST(split_address("h:65535").has_value());
  BOOST_TEST(split_address("h:1").has_value());
}

BOOST_AUTO_TEST_CASE(ttls_go_from_one_second_to_a_day) {
  BOOST_TEST(refusal([] { check_ttl(1s); }).empty());
  BOOST_TEST(refusal([] { check_ttl(24h); }).empty());
  BOOST_TEST(refusal([] { check_ttl(0s); }).find("ttl") != std::string::npos);
  BOOST_TEST(refusal([] { check_ttl(24h + 1s); }).find("ttl") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_record_survives_its_round_trip) {
  service_info i;
  i.name = "api";
  i.instance_id = "i1";
  i.address = "127.0.0.1:8080";
  i.health = health_status::maintenance;
  i.weight = 7;
  i.metadata = {{"zone", "eu-1"}, {"version", "2.3"}};
  i.register_time = from_unix_ms(1700000000123);
  auto updated = from_unix_ms(1700000005000);
  auto j = encode_record(i, 15s, updated);
  BOOST_TEST(j.at("ttl").get<int>() == 15);
  auto back = decode_record(record_kv("/svc/api/i1", j.dump()), "/svc/api/", "api");
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->name == "api");
  BOOST_TEST(back->instance_id == "i1");
  BOOST_TEST(back->address == i.address);
  BOOST_TEST((back->health == health_status::maintenance));
  BOOST_TEST(back->weight == 7u);
  BOOST_TEST((back->metadata == i.metadata));
  BOOST_TEST((back->register_time == i.register_time));
  BOOST_TEST((back->last_heartbeat == updated));
  BOOST_TEST(back->lease == 77);
  BOOST_TEST(back->revision == 12);
}

BOOST_AUTO_TEST_CASE(the_instance_id_comes_from_the_key) {
  auto back = decode_record(record_kv("/svc/api/from-key", R"({"id":"other","address":"h:1"})"),
                            "/svc/api/", "api");
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->instance_id == "from-key");
}

BOOST_AUTO_TEST_CASE(missing_fields_take_their_defaults) {
  auto back = decode_record(record_kv("/svc/api/i", "{}"), "/svc/api/", "api");
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->address.empty());
  BOOST_TEST((back->health == health_status::unknown));
  BOOST_TEST(back->weight == 1u);
  BOOST_TEST(back->metadata.empty());
}

BOOST_AUTO_TEST_CASE(an_unknown_health_is_unknown_and_non_string_metadata_is_dropped) {
  auto back = decode_record(
      record_kv("/svc/api/i", R"({"health":"sleepy","metadata":{"a":"x","b":3,"c":null}})"),
      "/svc/api/", "api");
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((back->health == health_status::unknown));
  BOOST_TEST(back->metadata.size() == 1u);
  BOOST_TEST(back->metadata.at("a") == "x");
}

BOOST_AUTO_TEST_CASE(garbage_under_the_prefix_is_not_a_record) {
  for (std::string bad :
       {"", "not json", "[1,2]", "\"s\"", "42", R"({"weight":"heavy"})", R"({"address":7})"}) {
    BOOST_TEST(!decode_record(record_kv("/svc/api/i", bad), "/svc/api/", "api").has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(the_prefix_key_itself_is_not_a_record) {
  BOOST_TEST(!decode_record(record_kv("/svc/api/", "{}"), "/svc/api/", "api").has_value());
}

BOOST_AUTO_TEST_CASE(registry_options_refuse_each_bad_field_by_name) {
  auto check = [](auto change, const char* field) {
    registry_options o;
    change(o);
    auto why = refusal([&] { o.validate(); });
    BOOST_TEST(why.find(field) != std::string::npos, field << ": " << why);
  };
  check([](registry_options& o) { o.prefix.clear(); }, "registry.prefix");
  check([](registry_options& o) { o.ttl = 0s; }, "registry.ttl");
  check([](registry_options& o) { o.health_check_interval = 5ms; },
        "registry.health_check_interval");
  check([](registry_options& o) { o.connect_timeout = 0ms; }, "registry.connect_timeout");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

service_info inst(std::string id, std::string address, health_status h = health_status::healthy) {
  service_info i;
  i.name = "svc";
  i.instance_id = std::move(id);
  i.address = std::move(address);
  i.health = h;
  return i;
}

service_list list_of(std::vector<service_info> v) {
  return std::make_shared<const std::vector<service_info>>(std::move(v));
}

std::vector<std::string> ids_of(const std::vector<service_info>& v) {
  std::vector<std::string> out;
  for (auto& i : v) out.push_back(i.instance_id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_first_update_adds_every_instance) {
  auto after = list_of({inst("a", "h:1"), inst("b", "h:2")});
  auto u = diff_instances(nullptr, after);
  BOOST_TEST(ids_of(u.added) == (std::vector<std::string>{"a", "b"}));
  BOOST_TEST(u.removed.empty());
  BOOST_TEST(u.updated.empty());
  BOOST_TEST(u.instances.get() == after.get());  // the snapshot itself, not a copy
  auto none = diff_instances(nullptr, list_of({}));
  BOOST_TEST(none.empty());
  BOOST_TEST(none.instances->empty());
}

BOOST_AUTO_TEST_CASE(deltas_name_what_was_added_removed_and_updated) {
  auto before = list_of({inst("a", "h:1"), inst("b", "h:2"), inst("d", "h:4"), inst("f", "h:6")});
  auto moved = inst("b", "h:20");
  auto sick = inst("d", "h:4", health_status::unhealthy);
  auto after = list_of({inst("a", "h:1"), moved, inst("c", "h:3"), sick, inst("g", "h:7")});
  auto u = diff_instances(before, after);
  BOOST_TEST(ids_of(u.added) == (std::vector<std::string>{"c", "g"}));
  BOOST_TEST(ids_of(u.removed) == (std::vector<std::string>{"f"}));
  BOOST_TEST(u.removed[0].address == "h:6");  // as it was
  BOOST_TEST(ids_of(u.updated) == (std::vector<std::string>{"b", "d"}));
  BOOST_TEST(u.updated[0].address == "h:20");  // the new record
  BOOST_TEST((u.updated[1].health == health_status::unhealthy));
}

BOOST_AUTO_TEST_CASE(a_rewrite_that_changes_no_field_is_not_an_update) {
  auto a = inst("a", "h:1");
  auto rewritten = a;
  rewritten.revision = 99;  // a new write of the same record
  rewritten.last_heartbeat = wall_time(std::chrono::seconds(5));
  auto u = diff_instances(list_of({a}), list_of({rewritten}));
  BOOST_TEST(u.empty());
  auto weighted = a;
  weighted.weight = 5;
  BOOST_TEST(ids_of(diff_instances(list_of({a}), list_of({weighted})).updated) ==
             (std::vector<std::string>{"a"}));
  auto tagged = a;
  tagged.metadata["zone"] = "b";
  BOOST_TEST(diff_instances(list_of({a}), list_of({tagged})).updated.size() == 1u);
  auto released = a;
  released.lease = 7;  // registered again on a new lease
  BOOST_TEST(diff_instances(list_of({a}), list_of({released})).updated.size() == 1u);
  auto all_gone = diff_instances(list_of({a, inst("b", "h:2")}), list_of({}));
  BOOST_TEST(ids_of(all_gone.removed) == (std::vector<std::string>{"a", "b"}));
}
