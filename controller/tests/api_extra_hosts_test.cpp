// Microservice extraHosts templates (ioFog v3): ${Agents.<agent>}, ${Apps.<app>.<msvc>.local},
// ${Apps.<app>.<msvc>.public.<port>} — checked on write, resolved in what the agent receives,
// shown to users as {name, address, value}, and re-resolved (with the agents told) when the
// agent they name changes its host or address, or the microservice they name moves.
#include "public_ports_fixture.hpp"

namespace fogmesh::controller::test {
namespace {

namespace json = boost::json;

class extra_hosts_api : public public_ports_fixture {
 protected:
  // The `extraHosts` the agent receives for the microservice `uuid`.
  json::value agent_hosts(const std::string& agent, const std::string& uuid) {
    auto r = get("/api/v3/agent/microservices", agent);
    EXPECT_EQ(r.status, 200) << r.body;
    auto list = r.json();
    for (const auto& m : list.at("microservices").as_array()) {
      if (m.at("uuid") == json::value(uuid)) return m.at("extraHosts");
    }
    ADD_FAILURE() << "agent does not receive " << uuid << ": " << r.body;
    return nullptr;
  }
  // A busybox microservice of `app` on `fog` with these extraHosts (a JSON array).
  http_result post_client(const std::string& token, const std::string& app, const std::string& fog,
                          const std::string& name, const std::string& hosts) {
    return post("/api/v3/microservices",
                R"({"name":")" + name + R"(","application":")" + app + R"(","iofogUuid":")" + fog +
                    R"(","images":[{"containerImage":"busybox","fogTypeId":1}],)" +
                    R"("extraHosts":)" + hosts + "}",
                token);
  }
};

std::string host(const std::string& name, const std::string& address) {
  return R"({"name":")" + name + R"(","address":")" + address + R"("})";
}

TEST_F(extra_hosts_api, EachTemplateResolvedForTheAgentAndShownToUsers) {
  std::string token = new_user_token();
  create_fog(token, "sys",
             R"("host":"10.7.0.1","isSystem":true,"routerMode":"interior",)"
             R"("interRouterPort":56791,"edgeRouterPort":56792)");
  std::string a = create_fog(token, "edge-a", R"("host":"10.7.0.2")");
  std::string b = create_fog(token, "edge-b", R"("host":"10.7.0.3")");
  std::string agent_a = provision_agent(token, a);
  activated_app(token, "web");
  msvc(token, "web", b, "srv", R"([{"internal":80,"external":8080,"public":{"protocol":"http"}}])");
  auto srv = get("/api/v3/microservices?application=web", token).json().at("microservices").at(0);
  auto pub = public_of(token, std::string(srv.at("uuid").as_string()), 80);
  std::string public_port = std::to_string(pub.at("router").at("port").as_int64());

  std::string hosts = "[" + host("agent-b", "${Agents.edge-b}") + "," +
                      host("srv-local", "${Apps.web.srv.local}") + "," +
                      host("srv-public", "${Apps.web.srv.public." + public_port + "}") + "," +
                      host("db", "10.0.0.9") + "]";
  auto c = post_client(token, "web", a, "cli", hosts);
  ASSERT_EQ(c.status, 201) << c.body;
  std::string cli(c.json().at("uuid").as_string());

  // The agent gets addresses, never templates: the public port's is its public router's host.
  EXPECT_EQ(agent_hosts(agent_a, cli),
            parse(R"(["agent-b:10.7.0.3","srv-local:10.7.0.3","srv-public:10.7.0.1",)"
                  R"("db:10.0.0.9"])"));
  // Users see the template as given and what it resolves to.
  EXPECT_EQ(get("/api/v3/microservices/" + cli, token).json().at("extraHosts"),
            parse(R"([{"name":"agent-b","address":"${Agents.edge-b}","value":"10.7.0.3"},
                      {"name":"srv-local","address":"${Apps.web.srv.local}","value":"10.7.0.3"},
                      {"name":"srv-public","address":"${Apps.web.srv.public.)" +
                  public_port + R"(}","value":"10.7.0.1"},
                      {"name":"db","address":"10.0.0.9","value":"10.0.0.9"}])"));

  // A microservice the template named is deleted: the agent is told, and stops receiving that
  // entry rather than a template or an empty address; the user sees it unresolved.
  ack(agent_a);
  ASSERT_EQ(del("/api/v3/microservices/" + std::string(srv.at("uuid").as_string()), token).status,
            204);
  EXPECT_EQ(changes(agent_a).at("microserviceConfig"), true);
  EXPECT_EQ(agent_hosts(agent_a, cli), parse(R"(["agent-b:10.7.0.3","db:10.0.0.9"])"));
  EXPECT_TRUE(get("/api/v3/microservices/" + cli, token)
                  .json()
                  .at("extraHosts")
                  .at(1)
                  .at("value")
                  .is_null());
}

TEST_F(extra_hosts_api, BadTemplatesAreRejectedAndChangeNothing) {
  std::string token = new_user_token();
  std::string other = new_user_token();
  std::string a = create_fog(token, "edge-a");
  create_fog(other, "foreign");
  activated_app(token, "web");
  msvc(token, "web", a, "srv", "[]");
  auto ok = post_client(token, "web", a, "cli", "[" + host("me", "${Agents.edge-a}") + "]");
  ASSERT_EQ(ok.status, 201) << ok.body;
  std::string cli(ok.json().at("uuid").as_string());
  auto stored = [&] {
    return db().query("SELECT extra_hosts::text FROM microservices WHERE uuid = '" + cli + "'");
  };
  std::string before = stored();
  std::string count = db().query("SELECT count(*) FROM microservices");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"${Nope.x}", "Nope.x is not a valid host template"},
      {"${Agents}", "Agents is not a valid host template"},
      {"${Agents.edge-a.more}", "Agents.edge-a.more is not a valid host template"},
      {"${Agents.ghost}", "Could not find ghost host template"},
      {"${Agents.foreign}", "Could not find foreign host template"},  // another user's agent
      {"${Apps.web.srv}", "Apps.web.srv is not a valid host template"},
      {"${Apps.web.srv.remote}", "Apps.web.srv.remote is not a valid host template"},
      {"${Apps.web.srv.local.x}", "Apps.web.srv.local.x is not a valid host template"},
      {"${Apps.nope.srv.local}", "Could not find nope host template"},
      {"${Apps.web.ghost.local}", "Could not find ghost host template"},
      {"${Apps.web.srv.public}", "Apps.web.srv.public is not a valid host template"},
      {"${Apps.web.srv.public.6000}", "Could not find 6000 host template"},  // no public port
      {"${Apps.web.srv.public.http}", "Could not find http host template"},
  };
  for (const auto& [address, message] : bad) {
    SCOPED_TRACE(address);
    std::string hosts = "[" + host("h", address) + "]";
    expect_error(post_client(token, "web", a, "cli2", hosts), 400, "ValidationError", message);
    expect_error(patch("/api/v3/microservices/" + cli, R"({"extraHosts":)" + hosts + "}", token),
                 400, "ValidationError", message);
  }
  EXPECT_EQ(db().query("SELECT count(*) FROM microservices"), count);
  EXPECT_EQ(stored(), before);
  // Only "${...}" is a template: anything else stays a literal address.
  ASSERT_EQ(patch("/api/v3/microservices/" + cli,
                  R"({"extraHosts":[)" + host("h", "$Agents.ghost") + "]}", token)
                .status,
            204);
  EXPECT_EQ(get("/api/v3/microservices/" + cli, token).json().at("extraHosts"),
            parse(R"([{"name":"h","address":"$Agents.ghost","value":"$Agents.ghost"}])"));
}

TEST_F(extra_hosts_api, DependentAgentsFollowHostAddressAndMoves) {
  std::string token = new_user_token();
  std::string a = create_fog(token, "a", R"("host":"10.8.0.1")");
  std::string b = create_fog(token, "b", R"("host":"10.8.0.2")");
  std::string c = create_fog(token, "c", R"("host":"10.8.0.3")");
  // No host (no router needs one): reached at the address its agent reports.
  auto d_post = post("/api/v3/iofog", R"({"name":"d","fogType":1,"routerMode":"none"})", token);
  ASSERT_EQ(d_post.status, 201) << d_post.body;
  std::string d(d_post.json().at("uuid").as_string());
  std::string agent_a = provision_agent(token, a);
  std::string agent_c = provision_agent(token, c);
  std::string agent_d = provision_agent(token, d);
  activated_app(token, "web");
  std::string db_msvc = msvc(token, "web", b, "db", "[]");
  auto cli =
      post_client(token, "web", a, "cli",
                  "[" + host("peer", "${Agents.c}") + "," + host("dbh", "${Apps.web.db.local}") +
                      "," + host("dh", "${Agents.d}") + "]");
  ASSERT_EQ(cli.status, 201) << cli.body;
  std::string cli_uuid(cli.json().at("uuid").as_string());
  ASSERT_EQ(put("/api/v3/agent/status", R"({"ipAddress":"192.168.5.5"})", agent_d).status, 204);
  EXPECT_EQ(agent_hosts(agent_a, cli_uuid),
            parse(R"(["peer:10.8.0.3","dbh:10.8.0.2","dh:192.168.5.5"])"));
  ack(agent_a);
  ack(agent_c);

  // The named agent's host changes: the agent running `cli` is told, and sees the new address.
  ASSERT_EQ(patch("/api/v3/iofog/" + c, R"({"host":"10.8.0.33"})", token).status, 204);
  EXPECT_EQ(changes(agent_a).at("microserviceConfig"), true);
  EXPECT_EQ(agent_hosts(agent_a, cli_uuid),
            parse(R"(["peer:10.8.0.33","dbh:10.8.0.2","dh:192.168.5.5"])"));
  ack(agent_a);
  ack(agent_c);

  // The named microservice moves to c: `.local` now names c's host.
  ASSERT_EQ(
      patch("/api/v3/microservices/" + db_msvc, R"({"iofogUuid":")" + c + "\"}", token).status,
      204);
  EXPECT_EQ(changes(agent_a).at("microserviceConfig"), true);
  EXPECT_EQ(agent_hosts(agent_a, cli_uuid),
            parse(R"(["peer:10.8.0.33","dbh:10.8.0.33","dh:192.168.5.5"])"));
  ack(agent_a);

  // A hostless agent reports a new address: the same; reporting the same one again tells nobody.
  ASSERT_EQ(put("/api/v3/agent/status", R"({"ipAddress":"192.168.5.6"})", agent_d).status, 204);
  EXPECT_EQ(changes(agent_a).at("microserviceConfig"), true);
  EXPECT_EQ(agent_hosts(agent_a, cli_uuid),
            parse(R"(["peer:10.8.0.33","dbh:10.8.0.33","dh:192.168.5.6"])"));
  ack(agent_a);
  ASSERT_EQ(put("/api/v3/agent/status", R"({"ipAddress":"192.168.5.6"})", agent_d).status, 204);
  auto quiet = changes(agent_a);
  EXPECT_FALSE(quiet.contains("microserviceConfig") && quiet.at("microserviceConfig") == true)
      << json::serialize(quiet);
  ack(agent_a);

  // The named agent is deleted: the agent running `cli` is told, and the entry is gone.
  ASSERT_EQ(del("/api/v3/iofog/" + d, token).status, 202);
  EXPECT_EQ(changes(agent_a).at("microserviceConfig"), true);
  EXPECT_EQ(agent_hosts(agent_a, cli_uuid), parse(R"(["peer:10.8.0.33","dbh:10.8.0.33"])"));
}

}  // namespace
}  // namespace fogmesh::controller::test
