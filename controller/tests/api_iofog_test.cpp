// Fog (agent node) endpoints over real HTTP against a real PostgreSQL cluster.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "../src/migrations.hpp"  // the compiled-in migrations (not public API)
#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

using iofog_api = api_test;
namespace json = boost::json;

TEST_F(iofog_api, CreateGetListPatchDelete) {
  std::string token = new_user_token();
  auto c = post(
      "/api/v3/iofog",
      R"({"name":"edge-1","fogType":1,"host":"10.0.0.5","tags":["a","b"],"latitude":12.5,"cpuLimit":60})",
      token);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string uuid(c.json().at("uuid").as_string());

  auto g = get("/api/v3/iofog/" + uuid, token);
  ASSERT_EQ(g.status, 200) << g.body;
  auto f = g.json().as_object();
  EXPECT_EQ(f.at("uuid").as_string(), uuid);
  EXPECT_EQ(f.at("name").as_string(), "edge-1");
  EXPECT_EQ(f.at("host").as_string(), "10.0.0.5");
  EXPECT_EQ(f.at("routerMode").as_string(), "edge");
  EXPECT_EQ(f.at("messagingPort").as_int64(), 5672);
  EXPECT_EQ(f.at("cpuLimit").to_number<double>(), 60);
  EXPECT_EQ(f.at("latitude").to_number<double>(), 12.5);
  EXPECT_EQ(f.at("memoryLimit").to_number<double>(), 4096);  // default
  EXPECT_EQ(f.at("daemonStatus").as_string(), "UNKNOWN");
  EXPECT_EQ(f.at("fogTypeId").as_int64(), 1);
  EXPECT_EQ(f.at("tags"), (json::array{"a", "b"}));
  EXPECT_TRUE(f.at("edgeResources").is_array());

  auto l = get("/api/v3/iofog-list", token);
  ASSERT_EQ(l.status, 200);
  ASSERT_EQ(l.json().at("fogs").as_array().size(), 1u);

  EXPECT_EQ(
      patch("/api/v3/iofog/" + uuid, R"({"name":"edge-renamed","logLevel":"DEBUG"})", token).status,
      204);
  auto g2 = get("/api/v3/iofog/" + uuid, token).json();
  EXPECT_EQ(g2.at("name").as_string(), "edge-renamed");
  EXPECT_EQ(g2.at("logLevel").as_string(), "DEBUG");
  EXPECT_EQ(g2.at("host").as_string(), "10.0.0.5");

  EXPECT_EQ(del("/api/v3/iofog/" + uuid, token).status, 202);
  expect_error(get("/api/v3/iofog/" + uuid, token), 404, "NotFoundError",
               "Invalid ioFog UUID '" + uuid + "'");
  EXPECT_EQ(get("/api/v3/iofog-list", token).json().at("fogs").as_array().size(), 0u);
}

// GET /iofog-list writes its rows by hand (json_row_writer); a string with every kind of byte
// that needs escaping, and UTF-8 that must not be escaped, comes out as Boost.JSON writes it.
TEST_F(iofog_api, ListWritesStringsAsBoostJsonDoes) {
  std::string token = new_user_token();
  const std::string text =
      "q\"uote back\\slash \x01\x1f\b\f\n\r\t del\x7f r\xC3\xA9sum\xC3\xA9 \xE2\x82\xAC "
      "\xF0\x9F\x98\x80 end";
  json::object body{
      {"name", "escaping"}, {"fogType", 1}, {"routerMode", "none"}, {"description", text}};
  auto c = post("/api/v3/iofog", json::serialize(body), token);
  ASSERT_EQ(c.status, 201) << c.body;
  auto l = get("/api/v3/iofog-list", token);
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(l.json().at("fogs").at(0).at("description").as_string(), text);
  EXPECT_NE(l.body.find("\"description\":" + json::serialize(json::string(text))),
            std::string::npos)
      << l.body;
}

TEST_F(iofog_api, ListFiltersAndSystemFog) {
  std::string token = new_user_token();
  std::string sys = create_fog(
      token, "system-node",
      R"("isSystem":true,"routerMode":"interior","interRouterPort":56721,"edgeRouterPort":56722)");
  std::string a = create_fog(token, "alpha", R"("location":"Berlin")");
  std::string b = create_fog(token, "beta", R"("location":"Bern")");
  ASSERT_FALSE(sys.empty());

  auto system = get("/api/v3/iofog-list?system=true", token).json().at("fogs").as_array();
  ASSERT_EQ(system.size(), 1u);
  EXPECT_EQ(system[0].at("uuid").as_string(), sys);
  EXPECT_EQ(system[0].at("isSystem"), true);

  auto eq =
      get("/api/v3/"
          "iofog-list?filters[0][key]=name&filters[0][value]=alpha&filters[0][condition]=equals",
          token);
  ASSERT_EQ(eq.status, 200) << eq.body;
  ASSERT_EQ(eq.json().at("fogs").as_array().size(), 1u);
  EXPECT_EQ(eq.json().at("fogs").at(0).at("uuid").as_string(), a);
  auto has =
      get("/api/v3/iofog-list?filters%5B0%5D%5Bkey%5D=location&filters%5B0%5D%5Bvalue%5D=Ber"
          "&filters%5B0%5D%5Bcondition%5D=has",
          token);
  ASSERT_EQ(has.status, 200) << has.body;
  EXPECT_EQ(has.json().at("fogs").as_array().size(), 2u);

  // A second system fog is refused and nothing is written.
  std::string before = db().query("SELECT count(*) FROM fogs");
  expect_error(
      post(
          "/api/v3/iofog",
          R"({"name":"sys2","fogType":1,"host":"h","isSystem":true,"routerMode":"interior","interRouterPort":1,"edgeRouterPort":2})",
          token),
      400, "ValidationError");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs"), before);

  // Upstreams must be interior routers the user can see.
  EXPECT_EQ(create_fog(token, "child", "\"upstreamRouters\":[\"" + sys + "\"]").empty(), false);
  expect_error(
      post("/api/v3/iofog",
           R"({"name":"bad-child","fogType":1,"host":"h","upstreamRouters":[")" + a + R"("]})",
           token),
      400, "ValidationError", "is not an interior router");
  (void)b;
}

TEST_F(iofog_api, ValidationAndOwnership) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string uuid = create_fog(token, "mine");
  std::string before = db().query("SELECT count(*) FROM fogs");

  expect_error(post("/api/v3/iofog", "{oops", token), 400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"fogType":1,"host":"h"})", token), 400, "ValidationError",
               "Required field 'name' is missing");
  expect_error(post("/api/v3/iofog", R"({"name":"x","host":"h"})", token), 400, "ValidationError",
               "Required field 'fogType' is missing");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":"1","host":"h"})", token), 400,
               "ValidationError", "Field 'fogType' is not of a type(s) integer");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":7,"host":"h"})", token), 400,
               "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1e300,"host":"h"})", token), 400,
               "ValidationError", "Field 'fogType' is not of a type(s) integer");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","logFileCount":99999999999})", token),
               400, "ValidationError");
  expect_error(
      post("/api/v3/iofog", R"({"name":"x","fogType":1,"cpuLimit":"lots","host":"h"})", token), 400,
      "ValidationError", "Field 'cpuLimit' is not of a type(s) number");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1,"tags":[1],"host":"h"})", token),
               400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"x","fogType":1})", token), 400, "ValidationError",
               "Required field 'host' is missing");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","routerMode":"interior"})", token),
               400, "ValidationError", "Required field 'interRouterPort' is missing");
  expect_error(post("/api/v3/iofog",
                    R"({"name":"x","fogType":1,"host":"h","routerMode":"sideways"})", token),
               400, "ValidationError");
  expect_error(post("/api/v3/iofog", R"({"name":"mine","fogType":1,"host":"h"})", token), 400,
               "ValidationError", "Duplicate name 'mine'");
  expect_error(
      post("/api/v3/iofog", R"({"name":"x","fogType":1,"host":"h","messagingPort":70000})", token),
      400, "ValidationError");
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs"), before);

  // Router mode none needs no host.
  EXPECT_EQ(
      post("/api/v3/iofog", R"({"name":"nohost","fogType":0,"routerMode":"none"})", token).status,
      201);

  // Another user's fog is indistinguishable from a missing one, and untouched.
  expect_error(get("/api/v3/iofog/" + uuid, other), 404, "NotFoundError", "Invalid ioFog UUID");
  expect_error(patch("/api/v3/iofog/" + uuid, R"({"name":"stolen"})", other), 404, "NotFoundError");
  expect_error(del("/api/v3/iofog/" + uuid, other), 404, "NotFoundError");
  expect_error(get("/api/v3/iofog/" + uuid + "/provisioning-key", other), 404, "NotFoundError");
  expect_error(post("/api/v3/iofog/" + uuid + "/reboot", "", other), 404, "NotFoundError");
  EXPECT_EQ(get("/api/v3/iofog-list", other).json().at("fogs").as_array().size(), 0u);
  EXPECT_EQ(get("/api/v3/iofog/" + uuid, token).json().at("name").as_string(), "mine");

  // PATCH validation leaves the row as it was.
  expect_error(patch("/api/v3/iofog/" + uuid, R"({"statusFrequency":"often"})", token), 400,
               "ValidationError", "Field 'statusFrequency' is not of a type(s) integer");
  expect_error(
      patch("/api/v3/iofog/" + uuid, R"({"name":"renamed","routerMode":"interior"})", token), 400,
      "ValidationError");
  EXPECT_EQ(get("/api/v3/iofog/" + uuid, token).json().at("name").as_string(), "mine");
  expect_error(patch("/api/v3/iofog/" + uuid, "[]", token), 400, "ValidationError");
}

// Everything that creating a fog writes for its router (migration 0010's one-statement path),
// as JSON with the fog's uuid replaced by "FOG", for comparing two fogs.
std::string router_footprint(pg_cluster& db, const std::string& fog) {
  std::string q = R"(
    SELECT json_build_object(
      'upstreams', (SELECT upstream_routers FROM fogs WHERE uuid = 'F'),
      'router', (SELECT json_build_object('edge', is_edge, 'host', host, 'messaging',
          messaging_port, 'edgePort', edge_router_port, 'interPort', inter_router_port,
          'default', is_default) FROM routers WHERE iofog_uuid = 'F'),
      'application', (SELECT json_build_object('name', a.name, 'description', a.description,
          'activated', a.is_activated, 'system', a.is_system, 'user', a.user_id)
          FROM applications a WHERE a.name = 'system-F'),
      'microservices', (SELECT json_agg(json_build_object('name', m.name, 'config', m.config,
          'catalog', m.catalog_item_id, 'registry', m.registry_id, 'rootHostAccess',
          m.root_host_access, 'logSize', m.log_size, 'rebuild', m.rebuild, 'env', m.env, 'cmd',
          m.cmd, 'extraHosts', m.extra_hosts, 'user', m.user_id, 'application',
          (SELECT name FROM applications WHERE id = m.application_id),
          'status', (SELECT to_jsonb(s) - 'microservice_uuid' FROM microservice_status s
                     WHERE s.microservice_uuid = m.uuid),
          'images', (SELECT json_agg(json_build_object('type', i.fog_type_id, 'image',
                     i.container_image) ORDER BY i.fog_type_id) FROM microservice_images i
                     WHERE i.microservice_uuid = m.uuid),
          'ports', (SELECT json_agg(json_build_object('internal', p.port_internal, 'external',
                    p.port_external, 'udp', p.is_udp) ORDER BY p.port_internal)
                    FROM microservice_ports p WHERE p.microservice_uuid = m.uuid)))
          FROM microservices m WHERE m.iofog_uuid = 'F'))::text)";
  for (size_t at = q.find("F'"); at != std::string::npos; at = q.find("F'", at)) {
    q.replace(at, 1, fog);
    at += fog.size();
  }
  std::string out = db.query(q);
  for (size_t at = out.find(fog); at != std::string::npos; at = out.find(fog, at)) {
    out.replace(at, fog.size(), "FOG");
  }
  return out;
}

// A new non-system fog's router is written by one SQL function (fogmesh_new_fog_router) instead
// of router_model.cpp; the general path still creates routers when a fog turns from mode none to
// a router mode. Both must leave the same rows, down to the bytes of the router's config.
TEST_F(iofog_api, CreatedFogMatchesGeneralPath) {
  std::string token = new_user_token();
  if (db().query("SELECT count(*) FROM routers WHERE is_default") == "0") {
    ASSERT_FALSE(create_fog(token, "the-system-fog",
                            R"("isSystem":true,"routerMode":"interior",)"
                            R"("interRouterPort":56721,"edgeRouterPort":56722)")
                     .empty());
  }
  std::string hub = create_fog(
      token, "hub", R"("routerMode":"interior","interRouterPort":46721,"edgeRouterPort":46722)");
  ASSERT_FALSE(hub.empty());
  const std::vector<std::string> router_settings = {
      R"("routerMode":"edge","host":"10.1.0.1")",
      R"("routerMode":"edge","host":"edge \"quoted\" \\ host","messagingPort":5673,)"
      R"("upstreamRouters":[")" +
          hub + R"(","default-router"])",
      R"("routerMode":"interior","host":"10.1.0.2","interRouterPort":56731,"edgeRouterPort":56732)",
      // The same port twice: one host port mapping.
      R"("routerMode":"interior","host":"10.1.0.3","messagingPort":7000,"interRouterPort":7000,)"
      R"("edgeRouterPort":7001,"upstreamRouters":[")" +
          hub + R"("])",
  };
  std::string first_direct;
  for (size_t i = 0; i < router_settings.size(); ++i) {
    SCOPED_TRACE(router_settings[i]);
    std::string n = std::to_string(i);
    std::string direct = create_fog(token, "direct-" + n, router_settings[i]);
    ASSERT_FALSE(direct.empty());
    if (i == 0) first_direct = direct;
    std::string general = create_fog(token, "general-" + n, R"("routerMode":"none")");
    ASSERT_FALSE(general.empty());
    auto p = patch("/api/v3/iofog/" + general, "{" + router_settings[i] + "}", token);
    ASSERT_EQ(p.status, 204) << p.body;
    std::string a = router_footprint(db(), direct);
    EXPECT_NE(a.find("Router for Fog FOG"), std::string::npos) << a;
    EXPECT_EQ(a, router_footprint(db(), general));
    // Nobody runs the new fog yet: no change rows for it.
    EXPECT_EQ(db().query("SELECT count(*) FROM change_tracking WHERE fog_uuid = '" + direct + "'"),
              "0");
  }
  // The previous version's entry point, for a controller not yet upgraded on the same database
  // (migration 0015): the row first, then fogmesh_new_fog_router(uuid, msvc); the same rows,
  // including the link to the default router written into the row afterwards.
  std::string user = db().query("SELECT user_id FROM fogs WHERE uuid = '" + hub + "'");
  db().query("INSERT INTO fogs (uuid, user_id, name, host, messaging_port) VALUES ('old-way', " +
             user +
             ", 'old-way', '10.1.0.1', 5672); "
             "SELECT fogmesh_new_fog_router('old-way', 'old-way-router')");
  EXPECT_EQ(router_footprint(db(), "old-way"), router_footprint(db(), first_direct));
  // What the user sees of the direct fog.
  std::string edge = create_fog(token, "edge-seen", R"("routerMode":"edge","host":"10.1.0.9")");
  auto f = get("/api/v3/iofog/" + edge, token).json();
  EXPECT_EQ(f.at("routerMode").as_string(), "edge");
  EXPECT_EQ(f.at("host").as_string(), "10.1.0.9");
  EXPECT_EQ(f.at("messagingPort").as_int64(), 5672);
  EXPECT_EQ(f.at("upstreamRouters"), (json::array{"default-router"}));
  EXPECT_EQ(f.at("isSystem"), false);
  auto cfg = router_config(token, edge);
  EXPECT_EQ(cfg.at("mode").as_string(), "edge");
  EXPECT_EQ(cfg.at("id").as_string(), edge);
  EXPECT_EQ(cfg.at("listeners"), parse(R"([{"role":"normal","host":"0.0.0.0","port":5672}])"));
  ASSERT_EQ(cfg.at("connectors").as_array().size(), 1u);
  // Named after the default router's fog (or default-router when it has none).
  EXPECT_EQ(cfg.at("connectors").at(0).at("name").as_string(),
            db().query("SELECT coalesce(iofog_uuid, 'default-router') FROM routers "
                       "WHERE is_default"));
  EXPECT_EQ(cfg.at("connectors").at(0).at("role").as_string(), "edge");

  // Upstream's duplicate-name error on every path, and nothing written.
  std::string before = db().query("SELECT count(*) FROM fogs") + "/" +
                       db().query("SELECT count(*) FROM routers") + "/" +
                       db().query("SELECT count(*) FROM microservices");
  for (const char* body : {R"({"name":"edge-seen","fogType":1,"host":"h"})",
                           R"({"name":"edge-seen","fogType":1,"routerMode":"none"})",
                           R"({"name":"edge-seen","fogType":1,"host":"h","routerMode":"interior",)"
                           R"("interRouterPort":1,"edgeRouterPort":2})"}) {
    expect_error(post("/api/v3/iofog", body, token), 400, "ValidationError",
                 "Duplicate name 'edge-seen'");
  }
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs") + "/" +
                db().query("SELECT count(*) FROM routers") + "/" +
                db().query("SELECT count(*) FROM microservices"),
            before);
}

// Runs request(i) for i in [0, n) on n threads that start together, so the requests overlap in
// the server's workers.
void run_together(int n, const std::function<void(int)>& request) {
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < n) std::this_thread::yield();
      request(i);
    });
  }
  for (auto& t : threads) t.join();
}

// Concurrent creates with one name: the handlers' checks do not see each other's uncommitted row,
// the unique index (migration 0011) makes all but one fail, with the same error as the check.
// Renames (PATCH) race the same way.
TEST_F(iofog_api, ConcurrentSameNameGivesOneFog) {
  std::string token = new_user_token();
  constexpr int n = 8;
  for (const char* mode : {"edge", "none"}) {
    std::string name = std::string("twin-") + mode;
    std::string body =
        R"({"name":")" + name + R"(","fogType":1,"host":"h","routerMode":")" + mode + R"("})";
    std::vector<http_result> results(n);
    run_together(n, [&](int i) { results[i] = post("/api/v3/iofog", body, token); });
    int created = 0;
    for (const auto& r : results) {
      if (r.status == 201) {
        ++created;
      } else {
        expect_error(r, 400, "ValidationError", "Duplicate name '" + name + "'");
      }
    }
    EXPECT_EQ(created, 1) << mode;
    EXPECT_EQ(db().query("SELECT count(*) FROM fogs WHERE name = '" + name + "'"), "1");
  }
  // The failed ones wrote nothing: one router and one system application for the edge fog.
  EXPECT_EQ(db().query("SELECT count(*) FROM routers r JOIN fogs f ON f.uuid = r.iofog_uuid "
                       "WHERE f.name LIKE 'twin-%'"),
            "1");

  std::vector<std::string> fogs;
  for (int i = 0; i < n; ++i) fogs.push_back(create_fog(token, "rename-" + std::to_string(i)));
  std::vector<int> statuses(n);
  run_together(n, [&](int i) {
    auto r = patch("/api/v3/iofog/" + fogs[i], R"({"name":"renamed"})", token);
    statuses[i] = r.status;
    if (r.status != 204) expect_error(r, 400, "ValidationError", "Duplicate name 'renamed'");
  });
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 204), 1);
  EXPECT_EQ(db().query("SELECT count(*) FROM fogs WHERE name = 'renamed'"), "1");
  // Another user may use the same name.
  EXPECT_EQ(post("/api/v3/iofog", R"({"name":"renamed","fogType":1,"host":"h"})", new_user_token())
                .status,
            201);
}

// Migration 0011 on a database that already holds duplicate names: the oldest fog keeps its
// name, the others get "<name> (<uuid>)", and then the index is in place.
TEST_F(iofog_api, MigrationRenamesExistingDuplicates) {
  std::string token = new_user_token();
  std::string first = create_fog(token, "dup", R"("routerMode":"none")");
  // Back to schema 10: no unique index, and duplicates as the race could leave them.
  db().query("DROP INDEX fogs_user_name_key");
  db().query("CREATE INDEX fogs_user_name ON fogs (user_id, name)");
  std::string user = db().query("SELECT user_id FROM fogs WHERE uuid = '" + first + "'");
  for (const char* uuid : {"dup-2", "dup-3"}) {
    db().query("INSERT INTO fogs (uuid, user_id, name, created_at) VALUES ('" + std::string(uuid) +
               "', " + user + ", 'dup', now() + interval '1 minute')");
  }
  // The migration's own text, as apply_migrations runs it (later migrations are applied
  // already, so the database cannot simply be wound back to version 10).
  const auto& all = migrations();
  auto m = std::find_if(all.begin(), all.end(), [](const migration& x) { return x.version == 11; });
  ASSERT_NE(m, all.end());
  db().query(std::string(m->sql));
  EXPECT_EQ(db().query("SELECT name FROM fogs WHERE uuid = '" + first + "'"), "dup");
  EXPECT_EQ(db().query("SELECT name FROM fogs WHERE uuid = 'dup-2'"), "dup (dup-2)");
  EXPECT_EQ(db().query("SELECT name FROM fogs WHERE uuid = 'dup-3'"), "dup (dup-3)");
  EXPECT_EQ(db().query("SELECT count(*) FROM pg_indexes WHERE indexname = 'fogs_user_name_key'"),
            "1");
  EXPECT_EQ(db().query("SELECT count(*) FROM pg_indexes WHERE indexname = 'fogs_user_name'"), "0");
  expect_error(patch("/api/v3/iofog/dup-2", R"({"name":"dup"})", token), 400, "ValidationError",
               "Duplicate name 'dup'");
}

// GET /iofog-list renders each fog once per version of its row and reuses it: whatever changes
// a fog (the user, its agent, a link to an edge resource), the list shows it, and it is the same
// document the single-query path (filters) and GET /iofog/:uuid give.
TEST_F(iofog_api, ListStaysCurrentThroughItsCache) {
  std::string token = new_user_token();
  std::string a = create_fog(token, "cached-a", R"("latitude":12.5,"tags":["x"])");
  std::string b = create_fog(token, "cached-b", R"("routerMode":"none")");
  std::string c = create_fog(token, "cached-c", R"("description":"line\nbreak \"quoted\"")");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  // Every fog's uuid has a dash: this filter matches all of them, through the other path.
  const std::string all_filtered =
      "/api/v3/iofog-list?filters[0][key]=uuid&filters[0][value]=-&filters[0][condition]=has";
  auto check = [&](size_t expected) {
    auto l = get("/api/v3/iofog-list", token);
    EXPECT_EQ(l.status, 200) << l.body;
    EXPECT_EQ(l.body, get("/api/v3/iofog-list", token).body);  // from the cache
    EXPECT_EQ(l.body, get(all_filtered, token).body);
    auto fogs = l.json().at("fogs").as_array();
    EXPECT_EQ(fogs.size(), expected);
    for (const auto& f : fogs) {
      std::string uuid(f.at("uuid").as_string());
      EXPECT_EQ(f, get("/api/v3/iofog/" + uuid, token).json()) << uuid;
    }
    return fogs;
  };
  auto fogs = check(3);
  EXPECT_EQ(fogs[0].at("name").as_string(), "cached-a");
  EXPECT_EQ(fogs[2].at("description").as_string(), "line\nbreak \"quoted\"");

  ASSERT_EQ(patch("/api/v3/iofog/" + b, R"({"name":"renamed-b","cpuLimit":33})", token).status,
            204);
  fogs = check(3);
  EXPECT_EQ(fogs[1].at("name").as_string(), "renamed-b");

  std::string agent = provision_agent(token, a);
  ASSERT_EQ(
      put("/api/v3/agent/status", R"({"daemonStatus":"RUNNING","cpuUsage":4.25})", agent).status,
      204);
  fogs = check(3);
  EXPECT_EQ(fogs[0].at("daemonStatus").as_string(), "RUNNING");
  EXPECT_EQ(fogs[0].at("cpuUsage").to_number<double>(), 4.25);

  // Edge resources live in other tables: a link shows at once.
  ASSERT_EQ(post("/api/v3/edgeResource",
                 R"({"name":"cache-door","version":"1.0.0","interfaceProtocol":"http"})", token)
                .status,
            201);
  ASSERT_EQ(post("/api/v3/edgeResource/cache-door/1.0.0/link", R"({"uuid":")" + c + R"("})", token)
                .status,
            204);
  fogs = check(3);
  ASSERT_EQ(fogs[2].at("edgeResources").as_array().size(), 1u);
  EXPECT_EQ(fogs[2].at("edgeResources").at(0).at("name").as_string(), "cache-door");

  // A change made behind the controller's back (another replica, the liveness job) too.
  db().query("UPDATE fogs SET location = 'elsewhere' WHERE uuid = '" + c + "'");
  fogs = check(3);
  EXPECT_EQ(fogs[2].at("location").as_string(), "elsewhere");

  ASSERT_EQ(del("/api/v3/iofog/" + b, token).status, 202);
  fogs = check(2);
  EXPECT_EQ(fogs[1].at("uuid").as_string(), c);
  auto system = get("/api/v3/iofog-list?system=true", token);
  EXPECT_EQ(system.body, R"({"fogs":[]})");
}

TEST_F(iofog_api, ProvisioningKeysAndCommands) {
  std::string token = new_user_token();
  std::string uuid = create_fog(token, "cmd");
  auto k = get("/api/v3/iofog/" + uuid + "/provisioning-key", token);
  ASSERT_EQ(k.status, 201) << k.body;
  EXPECT_EQ(k.json().at("key").as_string().size(), 8u);
  EXPECT_TRUE(k.json().at("expirationTime").is_int64());
  // Keys are stored hashed, one per fog.
  EXPECT_EQ(db().query("SELECT count(*) FROM fog_provision_keys WHERE fog_uuid = '" + uuid + "'"),
            "1");

  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/reboot", "", token).status, 204);
  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/prune", "", token).status, 204);
  EXPECT_EQ(db().query("SELECT count(*) FROM change_tracking WHERE fog_uuid = '" + uuid +
                       "' AND (reboot OR prune)"),
            "2");
  // Fresh agents report isReadyToRollback = false.
  expect_error(post("/api/v3/iofog/" + uuid + "/version/rollback", "", token), 400,
               "ValidationError", "Can't rollback version now");
  expect_error(post("/api/v3/iofog/" + uuid + "/version/sideways", "", token), 400,
               "ValidationError");
  EXPECT_EQ(post("/api/v3/iofog/" + uuid + "/version/upgrade", "", token).status, 204);

  auto hw = get("/api/v3/iofog/" + uuid + "/hal/hw", token);
  ASSERT_EQ(hw.status, 200);
  EXPECT_TRUE(hw.json().at("info").is_null());
}

TEST_F(iofog_api, TunnelOpenCloseAndAgentView) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string f1 = create_fog(token, "tunnel-1");
  std::string f2 = create_fog(token, "tunnel-2");
  std::string f3 = create_fog(token, "tunnel-3");
  std::string agent = provision_agent(token, f1);
  expect_error(get("/api/v3/iofog/" + f1 + "/tunnel", token), 404, "NotFoundError",
               "Tunnel not found");
  expect_error(get("/api/v3/agent/tunnel", agent), 404, "NotFoundError", "Tunnel not found");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"sideways"})", token), 400,
               "ValidationError");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", "{}", token), 400, "ValidationError",
               "Required field 'action' is missing");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open"})", token), 400,
               "ValidationError", "Tunnel host is not configured");
  expect_error(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open"})", other), 404,
               "NotFoundError", "Invalid ioFog UUID");

  for (auto [k, v] :
       {std::pair{"tunnel-host", "tunnel.example.com"}, std::pair{"tunnel-username", "fog"},
        std::pair{"tunnel-port-range", "5000-5001"}}) {
    ASSERT_EQ(
        put("/api/v3/config", R"({"key":")" + std::string(k) + R"(","value":")" + v + "\"}", token)
            .status,
        200);
  }
  auto ch = get("/api/v3/agent/config/changes", agent).json();
  if (ch.as_object().contains("lastUpdated")) {
    patch("/api/v3/agent/config/changes",
          R"({"lastUpdated":")" + std::string(ch.at("lastUpdated").as_string()) + "\"}", agent);
  }
  ASSERT_EQ(
      patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"open","password":"s3cret"})", token)
          .status,
      204);
  EXPECT_EQ(get("/api/v3/agent/config/changes", agent).json().at("tunnel"), true);
  auto t = get("/api/v3/iofog/" + f1 + "/tunnel", token);
  ASSERT_EQ(t.status, 200) << t.body;
  auto tj = t.json();
  EXPECT_EQ(tj.at("username"), "fog");
  EXPECT_EQ(tj.at("host"), "tunnel.example.com");
  EXPECT_EQ(tj.at("localPort"), 22);
  EXPECT_EQ(tj.at("status"), "open");
  EXPECT_FALSE(tj.as_object().contains("password"));
  int64_t rport1 = tj.at("remotePort").as_int64();
  EXPECT_TRUE(rport1 == 5000 || rport1 == 5001) << rport1;
  auto at = get("/api/v3/agent/tunnel", agent);
  ASSERT_EQ(at.status, 200) << at.body;
  EXPECT_EQ(at.json().at("tunnel"),
            json::parse(R"({"username":"fog","password":"s3cret","host":"tunnel.example.com",
                            "rsakey":"","lport":22,"rport":)" +
                        std::to_string(rport1) + R"(,"closed":false})"));

  // Remote ports are unique among open tunnels: two fit the range, the third waits for a close.
  ASSERT_EQ(patch("/api/v3/iofog/" + f2 + "/tunnel", R"({"action":"open"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f2 + "/tunnel", token).json().at("remotePort").as_int64(),
            rport1 == 5000 ? 5001 : 5000);
  expect_error(patch("/api/v3/iofog/" + f3 + "/tunnel", R"({"action":"open"})", token), 400,
               "ValidationError", "No available tunnel port");
  ASSERT_EQ(patch("/api/v3/iofog/" + f1 + "/tunnel", R"({"action":"close"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f1 + "/tunnel", token).json().at("status"), "closed");
  EXPECT_EQ(get("/api/v3/agent/tunnel", agent).json().at("tunnel").at("closed"), true);
  EXPECT_EQ(patch("/api/v3/iofog/" + f3 + "/tunnel", R"({"action":"open"})", token).status, 204);
  EXPECT_EQ(get("/api/v3/iofog/" + f3 + "/tunnel", token).json().at("remotePort").as_int64(),
            rport1);
}

// Polls `sql` (a count) until it reads `want` or `seconds` pass; returns the last reading.
std::string wait_for_count(const pg_cluster& db, const std::string& sql, const std::string& want,
                           int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string got = db.query(sql);
  while (got != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got = db.query(sql);
  }
  return got;
}

// A client that hangs up while its request's query runs stops that query: the backend does not
// go on waiting (or working) for nobody, and the controller keeps serving.
TEST_F(iofog_api, AbandonedRequestIsCancelled) {
  std::string token = new_user_token();
  std::string uuid = create_fog(token, "cancel-me");
  // A second session holds the fog's row lock, so the controller's UPDATE blocks on it: a query
  // that runs until cancelled, deterministically.
  pqxx::connection locker(db().conninfo());
  pqxx::work hold(locker);
  hold.exec("SELECT 1 FROM fogs WHERE uuid = " + hold.quote(uuid) + " FOR UPDATE");
  const std::string blocked =
      "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND state = 'active' "
      "AND query LIKE '%FROM fogs%'";

  int fd = connect_loopback(port());
  std::string body = R"({"name":"cancelled-rename"})";
  std::string req =
      "PATCH /api/v3/iofog/" + uuid + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + token +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(wait_for_count(db(), blocked, "1", 10), "1")
      << "the request never blocked: "
      << db().query(
             "SELECT string_agg(state || '/' || coalesce(wait_event_type, '') || '/' || "
             "left(query, 80), ' | ') FROM pg_stat_activity "
             "WHERE backend_type = 'client backend'");

  ::close(fd);
  EXPECT_EQ(wait_for_count(db(), blocked, "0", 5), "0") << "the abandoned query still runs";
  hold.commit();
  // Its transaction was rolled back, and the controller still answers, the fog included.
  EXPECT_EQ(db().query("SELECT name FROM fogs WHERE uuid = '" + uuid + "'"), "cancel-me");
  EXPECT_EQ(get("/api/v3/status").status, 200);
  EXPECT_EQ(patch("/api/v3/iofog/" + uuid, R"({"name":"renamed-after"})", token).status, 204);
  EXPECT_EQ(db().query("SELECT name FROM fogs WHERE uuid = '" + uuid + "'"), "renamed-after");
}

}  // namespace
}  // namespace fogmesh::controller::test
